// The shared-report viewer. Draws a report from what the link's GraphQL endpoint
// (`/s/v/LINK/graphql`, the viewer's API) answers: tabs, tiles (drawn by tiles.js, which
// report files share), report filters. Signing in and out are plain POSTs: they move the
// session cookie.
//
// URL state: ?report=ID&tab=ID&filters=JSON — copying the address shares exactly what is
// on screen. `#tab=NAME` shows that tab alone without the toolbar, for embedding.
// Text from the server is only ever set with textContent, never parsed as HTML.
"use strict";

(function () {
  const parts = location.pathname.split("/");
  const link = parts[3];
  const base = "/s/v/" + encodeURIComponent(link);
  const params = new URLSearchParams(location.search);
  const hash = new URLSearchParams(location.hash.slice(1));
  const embedTab = hash.get("tab");
  const state = {
    report: params.get("report"),
    tab: params.get("tab") || embedTab,
    filters: parseFilters(params.get("filters")),
    view: null,
    editing: false,
    charts: [],
  };

  function parseFilters(raw) {
    if (!raw) return {};
    try {
      const v = JSON.parse(raw);
      return v && typeof v === "object" && !Array.isArray(v) ? v : {};
    } catch (_) {
      return {};
    }
  }

  const el = VitrineTiles.el;

  function query(extra) {
    const q = new URLSearchParams();
    if (state.report) q.set("report", state.report);
    if (state.tab) q.set("tab", state.tab);
    if (Object.keys(state.filters).length) q.set("filters", JSON.stringify(state.filters));
    for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
    return q.toString();
  }

  function syncUrl() {
    const q = query();
    history.replaceState(null, "", location.pathname + (q ? "?" + q : "") + location.hash);
  }

  async function api(path, options) {
    const res = await fetch(base + path, Object.assign({ credentials: "same-origin" }, options || {}));
    let body = {};
    try {
      body = await res.json();
    } catch (_) {}
    return { status: res.status, body };
  }

  function post(path, payload) {
    return api(path, {
      method: "POST",
      headers: { "content-type": "application/json", "x-vitrine-share": "1" },
      body: JSON.stringify(payload || {}),
    });
  }

  // One operation of the viewer's API: `{data, error}`, error being the first one with
  // its stable code.
  async function gql(query, variables) {
    const r = await post("/graphql", { query, variables: variables || {} });
    const first = r.body.errors && r.body.errors[0];
    const error = first
      ? { code: first.extensions && first.extensions.code, message: first.message }
      : r.status === 200 ? null : { code: "UNAVAILABLE", message: "something went wrong" };
    return { data: r.body.data, error };
  }

  const REPORT = `query SharedReport($report: ID) {
    linkVisit { report(reportId: $report) {
      kind reportId reportName projectName definition ownCopy pinnedAt
      rights { download edit syncEdits drill schedule } reports { id name }
      tileNotes { tileId kind message } } } }`;
  const VISIT = "query LinkVisit { linkVisit { state locked recipientName passwordRule } }";
  const TILES = `query SharedTiles($report: ID, $tab: String, $filters: [FilterValueInput!]) {
    linkVisit { tiles(reportId: $report, tabId: $tab, filters: $filters) {
      tileId result { columns { name type } truncated rowsJson } error { code message } } } }`;
  const FILTER_VALUES = `query SharedFilterValues($report: ID, $filter: String!) {
    linkVisit { filterValues(reportId: $report, filterId: $filter) } }`;
  const COPY = "mutation CopyLinkView($query: String!) { copyLinkView(query: $query) }";
  const CONTENT = `query LinkContent { linkVisit { kind content { dashboard files }
    projects { id name reports { id name } files { reportId reportName url } } } }`;
  const DELIVERIES = "query LinkDeliveries { linkVisit { deliveries { id cron timeZone csv nextRunAt } } }";
  const SCHEDULE = `mutation ScheduleLinkDelivery($input: LinkDeliveryInput!) {
    scheduleLinkDelivery(input: $input) { id } }`;
  const CANCEL = "mutation CancelLinkDelivery($id: ID!) { cancelLinkDelivery(id: $id) }";
  // What a recipient picks from; any cron expression works through the API.
  const SCHEDULES = [
    ["0 7 * * *", "Every day at 07:00"],
    ["0 7 * * MON", "Every Monday at 07:00"],
    ["0 7 1 * *", "On the 1st of each month at 07:00"],
  ];
  const SAVE = `mutation SaveLinkReport($report: ID, $definition: JSON!) {
    saveLinkReport(reportId: $report, definition: $definition) { synced } }`;

  function filterInput() {
    return Object.entries(state.filters).map(([filter, values]) => ({ filter, values }));
  }

  const toolbar = document.getElementById("toolbar");
  const content = document.getElementById("content");
  const gate = document.getElementById("gate");

  function showGate(...children) {
    toolbar.hidden = true;
    content.replaceChildren();
    gate.hidden = false;
    gate.replaceChildren(...children);
  }

  function errorLine(id) {
    return el("p", { id: id || "gate-error", class: "error", role: "alert" });
  }

  // "Lost your invitation or password?": asks the link's managers for a new one. The
  // answer is the same whether the address is a recipient's or not.
  function lostInvitation() {
    const email = el("input", { id: "lost-email", type: "email", autocomplete: "email", required: true });
    const said = el("p", { id: "lost-said", role: "status" });
    return el("details", { id: "lost" },
      el("summary", {}, "Lost your invitation or your password?"),
      el("form", {
        id: "lost-form",
        onsubmit: async (ev) => {
          ev.preventDefault();
          const r = await post("/api/invitation", { email: email.value });
          said.textContent = r.status === 200
            ? "If this address is one of the link's recipients, the people who shared it were asked to send you a new invitation."
            : (r.body.error && r.body.error.message) || "something went wrong";
        },
      }, el("label", {}, "E-mail ", email), el("button", { id: "lost-submit" }, "Ask for a new invitation")),
      said);
  }

  // What to show instead of the report: `visit` is the link visit's state, null when the
  // link is gone (`message` says why).
  function gateFor(visit, message) {
    const err = errorLine();
    const fail = (b) => {
      err.textContent = (b.error && b.error.message) || "something went wrong";
    };
    switch (visit && visit.state) {
      case "SET_PASSWORD": {
        const pw = el("input", { id: "password-new", type: "password", autocomplete: "new-password", required: true });
        return showGate(
          el("h1", {}, "Welcome, " + visit.recipientName),
          el("p", {}, "Choose a password for this shared report: " + visit.passwordRule + "."),
          el("form", {
            id: "password-form",
            onsubmit: async (ev) => {
              ev.preventDefault();
              const r = await post("/api/password", { password: pw.value });
              if (r.status === 200) load();
              else fail(r.body);
            },
          }, el("label", {}, "Password ", pw), el("button", { id: "password-submit" }, "Set password")),
          err,
        );
      }
      case "SIGN_IN": {
        const email = el("input", { id: "signin-email", type: "email", autocomplete: "username", required: true });
        const pw = el("input", { id: "signin-password", type: "password", autocomplete: "current-password", required: true });
        return showGate(
          el("h1", {}, "Sign in to see this report"),
          visit.locked ? el("p", { class: "error" }, "This link is locked after too many wrong passwords; ask the person who shared it.") : null,
          el("form", {
            id: "signin-form",
            onsubmit: async (ev) => {
              ev.preventDefault();
              const r = await post("/api/sign-in", { email: email.value, password: pw.value });
              if (r.status === 200) load();
              else fail(r.body);
            },
          }, el("label", {}, "E-mail ", email), el("label", {}, "Password ", pw), el("button", { id: "signin-submit" }, "Sign in")),
          err,
          lostInvitation(),
        );
      }
      case "SIGN_IN_USER": {
        const user = el("input", { id: "user-name", autocomplete: "username", required: true });
        const pw = el("input", { id: "user-password", type: "password", autocomplete: "current-password", required: true });
        return showGate(
          el("h1", {}, "Sign in to Vitrine to open this link"),
          el("form", {
            onsubmit: async (ev) => {
              ev.preventDefault();
              const res = await fetch("/auth/login", {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({ username: user.value, password: pw.value }),
              });
              if (res.ok) load();
              else fail(await res.json().catch(() => ({})));
            },
          }, el("label", {}, "Username ", user), el("label", {}, "Password ", pw), el("button", { id: "user-submit" }, "Sign in")),
          err,
        );
      }
      case "NEEDS_TOKEN":
        return showGate(el("h1", {}, "Open the link you were given"), el("p", {}, message || ""));
      default:
        return showGate(el("h1", { id: "gone" }, "This link is no longer valid"), el("p", {}, message || ""));
    }
  }

  // Draws the gate for a refused request: the visit's state says which step is missing.
  async function refused(error) {
    if (error.code !== "UNAUTHENTICATED") return gateFor(null, error.message);
    const v = await gql(VISIT);
    return gateFor(v.data && v.data.linkVisit, (v.error && v.error.message) || error.message);
  }

  async function load() {
    // A link to whole projects: its projects, their reports and delivered files.
    const c = await gql(CONTENT);
    if (c.error) return refused(c.error);
    state.kind = c.data.linkVisit.kind;
    state.content = c.data.linkVisit.content;
    state.projects = c.data.linkVisit.projects;
    if (state.content && !state.content.dashboard) return drawFilesOnly();
    if (state.content && !state.report) {
      const first = state.projects.find((p) => p.reports.length);
      if (!first) return drawFilesOnly();
      state.report = first.reports[0].id;
    }
    const r = await gql(REPORT, { report: state.report });
    if (r.error) return refused(r.error);
    gate.hidden = true;
    state.view = r.data.linkVisit.report;
    state.report = state.view.reportId;
    const tabs = state.view.definition.tabs;
    if (embedTab) {
      const t = tabs.find((x) => x.id === embedTab || x.title === embedTab);
      state.tab = t ? t.id : null;
    }
    if (!state.tab || !tabs.some((t) => t.id === state.tab)) state.tab = tabs.length ? tabs[0].id : null;
    drawToolbar();
    await drawTab();
  }

  // The delivered files of a link to whole projects, per project.
  function filesList() {
    return el("section", { id: "files" }, el("h2", {}, "Delivered files"),
      state.projects.filter((p) => p.files.length).map((p) => el("div", { class: "files-project" },
        el("h3", {}, p.name),
        el("ul", {}, p.files.map((f) => el("li", {},
          el("a", { class: "delivered-file", "data-report": f.reportId, href: f.url, download: "" }, f.reportName)))))));
  }

  function drawFilesOnly() {
    gate.hidden = true;
    toolbar.hidden = false;
    toolbar.replaceChildren(el("div", { class: "title" }, el("h1", {}, "Shared files")),
      el("div", { class: "actions" }, state.kind === "RECIPIENTS" ? signOutButton() : null));
    content.replaceChildren(filesList());
    content.dataset.drawn = "files";
  }

  function signOutButton() {
    return el("button", {
      id: "sign-out",
      onclick: async () => {
        await post("/api/sign-out");
        load();
      },
    }, "Sign out");
  }

  function drawToolbar() {
    const v = state.view;
    if (embedTab) {
      toolbar.hidden = true;
      document.body.classList.add("embed");
      return;
    }
    toolbar.hidden = false;
    const tabs = el("nav", { class: "tabs", role: "tablist" },
      v.definition.tabs.map((t) => el("button", {
        class: "tab-button" + (t.id === state.tab ? " active" : ""),
        role: "tab",
        "aria-selected": t.id === state.tab ? "true" : "false",
        "data-tab": t.id,
        onclick: () => {
          state.tab = t.id;
          syncUrl();
          drawToolbar();
          drawTab();
        },
      }, t.title)));
    const reports = v.reports.length
      ? el("select", {
          id: "report-select",
          onchange: (ev) => {
            state.report = ev.target.value;
            state.tab = null;
            state.filters = {};
            syncUrl();
            load();
          },
        }, v.reports.map((x) => el("option", { value: x.id, selected: x.id === v.reportId }, x.name)))
      : null;
    const withReports = (state.projects || []).filter((p) => p.reports.length);
    const projects = withReports.length > 1
      ? el("select", {
          id: "project-select",
          onchange: (ev) => {
            const p = withReports.find((x) => x.id === ev.target.value);
            state.report = p.reports[0].id;
            state.tab = null;
            state.filters = {};
            syncUrl();
            load();
          },
        }, withReports.map((p) => el("option", { value: p.id, selected: p.reports.some((x) => x.id === v.reportId) }, p.name)))
      : null;
    const filters = el("div", { class: "filters" }, v.definition.filters.map(drawFilter));
    const actions = el("div", { class: "actions" },
      el("button", {
        id: "copy-link",
        // A public link's page opens only with a token, so the server mints one for this
        // view; the URL is shown too, since the clipboard needs a secure context.
        onclick: async () => {
          const button = document.getElementById("copy-link");
          const r = await gql(COPY, { query: location.search });
          if (r.error) {
            button.textContent = r.error.message || "Cannot copy the link";
            return;
          }
          const url = r.data.copyLinkView;
          const shown = el("input", { id: "copied-url", readonly: true, value: url, size: 40 });
          button.replaceWith(shown);
          shown.select();
          try {
            await navigator.clipboard.writeText(url);
          } catch (_) {}
        },
      }, "Copy link"),
      v.rights.edit ? el("button", { id: "edit-toggle", onclick: toggleEdit }, state.editing ? "Stop editing" : "Edit") : null,
      v.rights.schedule ? el("button", { id: "deliveries-toggle", onclick: toggleDeliveries }, "Deliveries") : null,
      state.content && state.content.files ? el("button", {
        id: "files-toggle",
        onclick: () => {
          const shown = document.getElementById("files");
          if (shown) shown.remove();
          else content.prepend(filesList());
        },
      }, "Files") : null,
      v.kind === "RECIPIENTS" ? signOutButton() : null);
    toolbar.replaceChildren(
      el("div", { class: "title" }, el("h1", {}, v.reportName), el("span", { class: "muted" }, v.projectName + (v.ownCopy ? " · your copy" : "") +
        (v.pinnedAt ? " · version of " + new Date(v.pinnedAt).toLocaleString() : ""))),
      projects, reports, tabs, filters, actions, el("section", { id: "deliveries", hidden: true }));
  }

  // A recipient's own scheduled deliveries of this report, to their own address.
  async function toggleDeliveries() {
    const panel = document.getElementById("deliveries");
    panel.hidden = !panel.hidden;
    if (!panel.hidden) await drawDeliveries();
  }

  async function drawDeliveries() {
    const panel = document.getElementById("deliveries");
    const r = await gql(DELIVERIES);
    if (r.error) {
      panel.replaceChildren(el("p", { class: "error" }, r.error.message));
      return;
    }
    const label = (cron) => (SCHEDULES.find(([c]) => c === cron) || [cron, cron])[1];
    const list = el("ul", { id: "delivery-list" }, r.data.linkVisit.deliveries.map((d) => el("li", { "data-delivery": d.id },
      label(d.cron) + " (" + d.timeZone + ")" + (d.csv ? ", with CSV" : "") +
        (d.nextRunAt ? " · next " + new Date(d.nextRunAt).toLocaleString() : ""),
      el("button", {
        class: "cancel-delivery",
        onclick: async () => {
          const c = await gql(CANCEL, { id: d.id });
          if (c.error) error.textContent = c.error.message;
          else await drawDeliveries();
        },
      }, "Cancel"))));
    const when = el("select", { id: "delivery-cron" }, SCHEDULES.map(([c, text]) => el("option", { value: c }, text)));
    const csv = el("input", { id: "delivery-csv", type: "checkbox" });
    const error = el("p", { class: "error", id: "delivery-error" });
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    const add = el("button", {
      id: "schedule-delivery",
      onclick: async () => {
        const input = { cron: when.value, timeZone: zone, csv: csv.checked, reportId: state.view.reportId };
        const s = await gql(SCHEDULE, { input });
        if (s.error) error.textContent = s.error.message;
        else await drawDeliveries();
      },
    }, "Schedule");
    panel.replaceChildren(
      el("h2", {}, "Deliveries to your address"),
      list, el("div", { class: "delivery-form" }, when, el("label", {}, csv, " attach CSV"), add), error);
  }

  function drawFilter(f) {
    const chosen = state.filters[f.id] !== undefined ? state.filters[f.id] : f.default;
    const select = el("select", {
      multiple: true,
      "data-filter": f.id,
      "aria-label": f.label,
      onchange: (ev) => {
        const values = Array.from(ev.target.selectedOptions).map((o) => JSON.parse(o.value));
        state.filters[f.id] = values;
        syncUrl();
        drawTab();
      },
    });
    gql(FILTER_VALUES, { report: state.report, filter: f.id }).then((r) => {
      for (const v of (r.data ? r.data.linkVisit.filterValues : [])) {
        const key = JSON.stringify(v);
        select.appendChild(el("option", { value: key, selected: chosen.some((c) => JSON.stringify(c) === key) }, v === null ? "(empty)" : String(v)));
      }
    });
    return el("label", { class: "filter" }, f.label + " ", select);
  }

  async function drawTab() {
    for (const c of state.charts) c.destroy();
    state.charts = [];
    const tab = state.view.definition.tabs.find((t) => t.id === state.tab);
    if (!tab) {
      content.replaceChildren(el("p", { class: "muted" }, "This report has no tabs yet."));
      return;
    }
    const r = await gql(TILES, { report: state.report, tab: state.tab, filters: filterInput() });
    if (r.error) {
      if (r.error.code === "UNAUTHENTICATED" || r.error.code === "LINK_NOT_VALID") return refused(r.error);
      content.replaceChildren(el("p", { class: "error", role: "alert" }, r.error.message || "the tiles could not be loaded"));
      return;
    }
    // A tile that cannot be shown says why; the others are drawn.
    const results = new Map(r.data.linkVisit.tiles.map((t) => [t.tileId, t.result ? {
      columns: t.result.columns,
      truncated: t.result.truncated,
      rows: JSON.parse(t.result.rowsJson),
    } : { error: t.error.message }]));
    content.replaceChildren(el("section", { class: "grid", "data-tab": tab.id },
      tab.tiles.map((tile) => drawTile(tile, results.get(tile.id)))));
    // Says which state is on screen, for embedding pages and tests that wait for it.
    content.dataset.drawn = query();
  }

  function drawTile(tile, result) {
    const extra = [];
    // Access notes: this tile shows some viewers less than others, and why.
    for (const n of state.view.tileNotes.filter((x) => x.tileId === tile.id)) {
      extra.push(el("span", { class: "access-note", "data-kind": n.kind, title: n.message, "aria-label": n.message, role: "note" }, "\u26A0"));
    }
    if (state.view.rights.download) {
      extra.push(el("a", { class: "download", "data-tile": tile.id, href: base + "/download?" + query({ tile: tile.id }), download: "" }, "CSV"));
    }
    if (state.editing) extra.push(editControls(tile));
    return VitrineTiles.drawTile(tile, result, state.charts, extra);
  }

  function toggleEdit() {
    state.editing = !state.editing;
    drawToolbar();
    drawTab();
  }

  function editControls(tile) {
    const kinds = ["table", "bar", "line", "area", "pie", "kpi"];
    const title = el("input", { class: "edit-title", value: tile.title, "aria-label": "Title" });
    const kind = el("select", { class: "edit-kind", "aria-label": "Chart" }, kinds.map((k) => el("option", { value: k, selected: k === tile.kind }, k)));
    const save = async (mutate) => {
      const def = JSON.parse(JSON.stringify(state.view.definition));
      for (const t of def.tabs) {
        t.tiles = t.tiles.flatMap((x) => (x.id === tile.id ? mutate(x) : [x]));
      }
      const r = await gql(SAVE, { report: state.report, definition: def });
      if (r.error) {
        alert(r.error.message || "the edit was not saved");
        return;
      }
      await load();
    };
    return el("span", { class: "edit" }, title, kind,
      el("button", { class: "edit-save", onclick: () => save((x) => [Object.assign(x, { title: title.value, kind: kind.value })]) }, "Save"),
      el("button", { class: "edit-remove", onclick: () => save(() => []) }, "Remove"));
  }

  load();
})();

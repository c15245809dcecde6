// The shared-report viewer. Draws a report from the JSON the server sends: tabs, tiles
// (drawn by tiles.js, which report files share), report filters.
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

  function post(path, payload, method) {
    return api(path, {
      method: method || "POST",
      headers: { "content-type": "application/json", "x-vitrine-share": "1" },
      body: JSON.stringify(payload || {}),
    });
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

  function gateFor(body) {
    const err = errorLine();
    const fail = (b) => {
      err.textContent = (b.error && b.error.message) || "something went wrong";
    };
    switch (body.state) {
      case "set_password": {
        const pw = el("input", { id: "password-new", type: "password", autocomplete: "new-password", required: true });
        return showGate(
          el("h1", {}, "Welcome, " + body.name),
          el("p", {}, "Choose a password for this shared report: " + body.rule + "."),
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
      case "sign_in": {
        const email = el("input", { id: "signin-email", type: "email", autocomplete: "username", required: true });
        const pw = el("input", { id: "signin-password", type: "password", autocomplete: "current-password", required: true });
        return showGate(
          el("h1", {}, "Sign in to see this report"),
          body.locked ? el("p", { class: "error" }, "This link is locked after too many wrong passwords; ask the person who shared it.") : null,
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
        );
      }
      case "sign_in_user": {
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
      case "needs_token":
        return showGate(el("h1", {}, "Open the link you were given"), el("p", {}, body.error.message));
      default:
        return showGate(el("h1", { id: "gone" }, "This link is no longer valid"), el("p", {}, (body.error && body.error.message) || ""));
    }
  }

  async function load() {
    const r = await api("/api/view?" + query());
    if (r.status !== 200) return gateFor(r.body);
    gate.hidden = true;
    state.view = r.body.view;
    state.report = state.view.report_uid;
    const tabs = state.view.definition.tabs;
    if (embedTab) {
      const t = tabs.find((x) => x.id === embedTab || x.title === embedTab);
      state.tab = t ? t.id : null;
    }
    if (!state.tab || !tabs.some((t) => t.id === state.tab)) state.tab = tabs.length ? tabs[0].id : null;
    drawToolbar();
    await drawTab();
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
        }, v.reports.map(([id, name]) => el("option", { value: id, selected: id === v.report_uid }, name)))
      : null;
    const filters = el("div", { class: "filters" }, v.definition.filters.map(drawFilter));
    const actions = el("div", { class: "actions" },
      el("button", {
        id: "copy-link",
        // A public link's page opens only with a token, so the server mints one for this
        // view; the URL is shown too, since the clipboard needs a secure context.
        onclick: async () => {
          const button = document.getElementById("copy-link");
          const r = await post("/api/copy-link", { query: location.search });
          if (r.status !== 200) {
            button.textContent = (r.body.error && r.body.error.message) || "Cannot copy the link";
            return;
          }
          const shown = el("input", { id: "copied-url", readonly: true, value: r.body.url, size: 40 });
          button.replaceWith(shown);
          shown.select();
          try {
            await navigator.clipboard.writeText(r.body.url);
          } catch (_) {}
        },
      }, "Copy link"),
      v.rights.edit ? el("button", { id: "edit-toggle", onclick: toggleEdit }, state.editing ? "Stop editing" : "Edit") : null,
      v.kind === "recipients" ? el("button", {
        id: "sign-out",
        onclick: async () => {
          await post("/api/sign-out");
          load();
        },
      }, "Sign out") : null);
    toolbar.replaceChildren(
      el("div", { class: "title" }, el("h1", {}, v.report_name), el("span", { class: "muted" }, v.project_name + (v.own_copy ? " · your copy" : "") +
        (v.pinned_at ? " · version of " + new Date(v.pinned_at).toLocaleString() : ""))),
      reports, tabs, filters, actions);
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
    api("/api/filter-values?" + query({ filter: f.id })).then((r) => {
      for (const v of (r.body.values || [])) {
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
    const r = await api("/api/tiles?" + query());
    if (r.status !== 200) {
      if (r.body.state || r.status === 410) return gateFor(r.body);
      content.replaceChildren(el("p", { class: "error", role: "alert" }, (r.body.error && r.body.error.message) || "the tiles could not be loaded"));
      return;
    }
    const results = new Map(r.body.tiles.map((t) => [t.id, t]));
    content.replaceChildren(el("section", { class: "grid", "data-tab": tab.id },
      tab.tiles.map((tile) => drawTile(tile, results.get(tile.id)))));
    // Says which state is on screen, for embedding pages and tests that wait for it.
    content.dataset.drawn = query();
  }

  function drawTile(tile, result) {
    const extra = [];
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
      const r = await post("/api/report", { report: state.report, definition: def }, "PUT");
      if (r.status !== 200) {
        alert((r.body.error && r.body.error.message) || "the edit was not saved");
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

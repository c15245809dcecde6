// Drawing a report's tiles (charts by Chart.js, tables, KPIs) from tile results. Shared
// by the shared-report viewer (served) and report files (opened with no server), so it
// needs nothing but a tile definition and its result.
// Text is only ever set with textContent, never parsed as HTML.
"use strict";

window.VitrineTiles = (function () {
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return e;
  }

  // One tile as a card. `charts` collects Chart.js instances so the caller can destroy
  // them before redrawing; `extra` goes into the tile's header (links, edit controls).
  function drawTile(tile, result, charts, extra) {
    const body = el("div", { class: "tile-body" });
    const head = el("header", {}, el("h2", {}, tile.title), extra || []);
    const card = el("article", { class: "tile tile-" + tile.kind, "data-tile": tile.id }, head, body);
    if (!result) return card;
    if (result.error) {
      body.appendChild(el("p", { class: "error" }, result.error));
      return card;
    }
    const cols = result.columns.map((c) => c.name);
    const rows = result.rows;
    if (tile.kind === "kpi") {
      const v = rows.length ? rows[0][cols.length - 1] : null;
      body.appendChild(el("p", { class: "kpi" }, v === null ? "–" : Number(v).toLocaleString()));
    } else if (tile.kind === "table" || tile.kind === "pivot" || cols.length < 2) {
      body.appendChild(el("table", {},
        el("thead", {}, el("tr", {}, cols.map((c) => el("th", {}, c)))),
        el("tbody", {}, rows.map((row) => el("tr", {}, row.map((v) => el("td", {}, v === null ? "" : String(v))))))));
    } else {
      const canvas = el("canvas", { "aria-label": tile.title, role: "img" });
      body.appendChild(canvas);
      const dims = tile.query.dimensions.length || 1;
      const labels = rows.map((row) => row.slice(0, dims).join(" · "));
      const datasets = cols.slice(dims).map((name, i) => ({
        label: name,
        data: rows.map((row) => row[dims + i]),
        fill: tile.kind === "area",
      }));
      const type = tile.kind === "area" ? "line" : tile.kind;
      charts.push(new Chart(canvas, {
        type,
        data: { labels, datasets },
        options: { animation: false, responsive: true, maintainAspectRatio: false },
      }));
    }
    if (result.truncated) body.appendChild(el("p", { class: "muted" }, "Showing the first rows only."));
    return card;
  }

  return { el, drawTile };
})();

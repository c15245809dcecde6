// A report file: one report with the data its tiles showed, opened from disk with no
// server. The data sits in the page as JSON; when the file is password-protected it is
// AES-256-GCM ciphertext under a key derived from the password with Argon2id
// (hash-wasm), decrypted here with WebCrypto. A wrong password and an altered file both
// fail the cipher's authentication, and the page says so.
"use strict";

(function () {
  const el = VitrineTiles.el;
  const content = document.getElementById("content");
  const toolbar = document.getElementById("toolbar");
  const gate = document.getElementById("gate");
  const charts = [];

  function b64(s) {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function fail(text) {
    toolbar.hidden = true;
    gate.hidden = false;
    gate.replaceChildren(el("h1", { id: "broken" }, "This report file cannot be opened"), el("p", { class: "error", role: "alert" }, text));
  }

  let sealed;
  try {
    sealed = JSON.parse(document.getElementById("vitrine-report").textContent);
  } catch (_) {
    return fail("The file is damaged: its data is not readable.");
  }

  async function open(password) {
    const kdf = sealed.kdf;
    const key = await hashwasm.argon2id({
      password,
      salt: b64(kdf.salt),
      parallelism: kdf.p,
      iterations: kdf.t,
      memorySize: kdf.m,
      hashLength: 32,
      outputType: "binary",
    });
    const aes = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["decrypt"]);
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: b64(sealed.cipher.iv), additionalData: new TextEncoder().encode(sealed.cipher.aad) },
      aes,
      b64(sealed.data),
    );
    return JSON.parse(new TextDecoder().decode(plain));
  }

  function ask() {
    const pw = el("input", { id: "file-password", type: "password", autocomplete: "off", required: true });
    const err = el("p", { id: "gate-error", class: "error", role: "alert" });
    const button = el("button", { id: "file-open" }, "Open");
    gate.hidden = false;
    toolbar.hidden = true;
    gate.replaceChildren(
      el("h1", {}, sealed.title),
      el("p", {}, "This report file is protected. Enter its password to open it."),
      el("form", {
        id: "password-form",
        onsubmit: async (ev) => {
          ev.preventDefault();
          button.disabled = true;
          err.textContent = "Opening…";
          try {
            const report = await open(pw.value);
            gate.hidden = true;
            show(report);
          } catch (_) {
            err.textContent = "Wrong password, or the file was altered after it was made.";
          } finally {
            button.disabled = false;
          }
        },
      }, el("label", {}, "Password ", pw), button),
      err,
    );
    pw.focus();
  }

  function show(report) {
    let tab = report.definition.tabs.length ? report.definition.tabs[0].id : null;
    const draw = () => {
      for (const c of charts) c.destroy();
      charts.length = 0;
      const t = report.definition.tabs.find((x) => x.id === tab);
      toolbar.hidden = false;
      toolbar.replaceChildren(
        el("div", { class: "title" }, el("h1", {}, report.report_name), el("span", { class: "muted" }, report.project_name + " · exported " + new Date(report.created_ms).toLocaleString() + " by " + report.created_by)),
        el("nav", { class: "tabs", role: "tablist" }, report.definition.tabs.map((x) => el("button", {
          class: "tab-button" + (x.id === tab ? " active" : ""),
          role: "tab",
          "data-tab": x.id,
          onclick: () => {
            tab = x.id;
            draw();
          },
        }, x.title))),
        report.filters.length ? el("p", { class: "muted filters" }, "Filters: " + report.filters.join("; ")) : null,
      );
      if (!t) {
        content.replaceChildren(el("p", { class: "muted" }, "This report has no tabs."));
        return;
      }
      content.replaceChildren(el("section", { class: "grid", "data-tab": t.id },
        t.tiles.map((tile) => VitrineTiles.drawTile(tile, report.tiles[tile.id], charts, []))));
      content.dataset.drawn = t.id;
    };
    draw();
  }

  if (sealed.kdf) ask();
  else if (sealed.report) show(sealed.report);
  else fail("The file is damaged: it holds no report.");
})();

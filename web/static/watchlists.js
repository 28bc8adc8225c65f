// The Watchlists page: list, add (picture or clip), backtest, delete, and the alert inbox, whose
// thumbnails open the player at the alert's instant.
"use strict";
(function () {
  const ui = window.vidsearchUI;
  const { el, fmt } = ui;
  const msg = ui.messages(document.getElementById("status"), document.getElementById("error"));
  const player = document.getElementById("player");
  const keyInput = document.getElementById("api-key");
  const headers = () => (keyInput && keyInput.value ? { "X-API-Key": keyInput.value } : {});

  function play(item) {
    player.hidden = false;
    player.src = item.stream_url + "#t=" + item.timestamp;
    player.addEventListener("loadedmetadata", () => { player.currentTime = item.timestamp; }, { once: true });
    player.play().catch(() => {});
    player.scrollIntoView({ block: "nearest" });
  }

  function moment(item, extra) {
    const thumb = item.thumbnail_url
      ? el("img", { src: item.thumbnail_url, alt: "", width: 160, loading: "lazy" }) : el("span", { textContent: "▶" });
    const open = el("button", { type: "button", className: "thumb", title: "Play at " + fmt(item.timestamp) }, thumb);
    open.addEventListener("click", () => play(item));
    const text = el("span", { textContent: `${item.watchlist} · ${ui.baseName(item.path || item.video_id)} at ` +
      `${fmt(item.timestamp)} (${fmt(item.start)}–${fmt(item.end)}) · score ${item.score.toFixed(3)} · ${item.confidence || ""}` });
    return el("li", { className: "alert" }, open, text, ...(extra || []));
  }

  async function call(method, url, body) {
    const opts = { method, headers: headers() };
    if (body !== undefined) {
      opts.body = JSON.stringify(body);
      opts.headers["Content-Type"] = "application/json";
    }
    const r = await fetch(url, opts);
    if (!r.ok) throw new Error(await ui.errorOf(r));
    return r.json();
  }

  function markButtons(name, payload) {
    return ["right", "wrong"].map((v) => {
      const b = el("button", { type: "button", textContent: v === "right" ? "✓ right" : "✗ wrong" });
      b.addEventListener("click", async () => {
        try {
          const w = await call("POST", `/api/v1/watchlists/${encodeURIComponent(name)}/marks`, { right: v === "right", ...payload });
          msg.setStatus(`${name}: threshold now ${w.threshold.toFixed(3)}`);
          refresh();
        } catch (e) { msg.showError(e.message); }
      });
      return b;
    });
  }

  async function backtest(name) {
    msg.setStatus(`backtesting ${name}…`, true);
    try {
      const out = await call("POST", `/api/v1/watchlists/${encodeURIComponent(name)}/backtest`, {});
      const box = document.getElementById("backtest");
      box.hidden = false;
      const days = Object.entries(out.per_day).map(([d, n]) => `${d}: ${n}`).join(", ");
      document.getElementById("backtest-summary").textContent =
        `${name}: ${out.total} match${out.total === 1 ? "" : "es"} at threshold ${out.threshold.toFixed(3)}` + (days ? ` (${days})` : "");
      document.getElementById("backtest-matches").replaceChildren(...out.matches.map((m) =>
        moment(m, markButtons(name, { moment: m }))));
      msg.setStatus("");
    } catch (e) { msg.showError(e.message); msg.setStatus(""); }
  }

  async function refresh() {
    try {
      const [lists, alerts] = await Promise.all([call("GET", "/api/v1/watchlists"), call("GET", "/api/v1/alerts?limit=100")]);
      const rows = lists.watchlists.map((w) => {
        const bt = el("button", { type: "button", textContent: "Backtest" });
        bt.addEventListener("click", () => backtest(w.name));
        const rm = el("button", { type: "button", textContent: "Delete" });
        rm.addEventListener("click", async () => {
          try { await call("DELETE", `/api/v1/watchlists/${encodeURIComponent(w.name)}`); refresh(); } catch (e) { msg.showError(e.message); }
        });
        const p = w.marks.precision;
        const hook = w.delivery ? `${w.delivery.delivered} sent, ${w.delivery.pending} pending` +
          (w.delivery.last_error ? ` (${w.delivery.last_error})` : "") : (w.webhook ? "set" : "–");
        return el("tr", {}, el("td", { textContent: w.name }), el("td", { textContent: w.kind }),
          el("td", { textContent: `${w.threshold.toFixed(3)} (${w.threshold_source})` }), el("td", { textContent: w.alerts }),
          el("td", { textContent: p === null ? "–" : p.toFixed(2) }), el("td", { textContent: hook }), el("td", {}, bt, rm));
      });
      document.querySelector("#watchlists tbody").replaceChildren(...rows);
      document.getElementById("alerts").replaceChildren(...alerts.alerts.map((a) =>
        moment(a, markButtons(a.watchlist, { alert_id: a.id }))));
    } catch (e) { msg.showError(e.message); }
  }

  document.getElementById("add-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(e.target);
    for (const k of ["image", "clip"]) if (!data.get(k) || !data.get(k).name) data.delete(k);
    for (const [k, v] of [...data.entries()]) if (v === "") data.delete(k);
    msg.showError("");
    msg.setStatus("adding…", true);
    try {
      const r = await fetch(e.target.action, { method: "POST", body: data, headers: headers() });
      if (!r.ok) throw new Error(await ui.errorOf(r));
      e.target.reset();
      msg.setStatus("added");
      refresh();
    } catch (err) { msg.showError(err.message); msg.setStatus(""); }
  });
  refresh();
  setInterval(refresh, 10000);
})();

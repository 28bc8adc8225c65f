// The search page: pick or drop a picture or a clip, POST it to the API, show the moments, play them.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("search-form"), input = $("image"), drop = $("drop"), preview = $("preview"), clipPreview = $("clip-preview");
  const dropText = $("drop-text"), submit = $("submit"), statusEl = $("status"), errorEl = $("error");
  const resultsEl = $("results"), resultsTitle = $("results-title");
  const playerSection = $("player-section"), player = $("player"), playerTitle = $("player-title");
  const timeline = $("timeline"), playhead = $("playhead");
  let file = null, kind = "image", results = [], current = null;

  function fmt(t) {
    t = Math.max(0, Math.floor(t));
    const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), s = t % 60;
    const mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
  }
  const baseName = (p) => String(p).split(/[\\/]/).pop();
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    children.forEach((c) => node.append(c));
    return node;
  }

  function setStatus(text, loading) {
    statusEl.textContent = text;
    statusEl.classList.toggle("loading", !!loading);
  }
  function showError(text) {
    errorEl.textContent = text;
    errorEl.hidden = !text;
  }

  function choose(f) {
    if (!f) return;
    const video = (f.type || "").startsWith("video/") || /\.(mp4|m4v|mov|mkv|webm|avi|ts|mts)$/i.test(f.name);
    if (f.type && !video && !f.type.startsWith("image/")) { showError(`${f.name} is neither an image nor a video.`); return; }
    file = f;
    kind = video ? "clip" : "image";
    showError("");
    [preview, clipPreview].forEach((p) => { if (p.src) URL.revokeObjectURL(p.src); p.removeAttribute("src"); p.hidden = true; });
    const shown = video ? clipPreview : preview;
    shown.src = URL.createObjectURL(f);
    if (!video) preview.alt = "Query: " + f.name;
    shown.hidden = false;
    dropText.textContent = f.name + " — press to choose another";
  }

  input.addEventListener("change", () => choose(input.files[0]));
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    const f = e.dataTransfer && e.dataTransfer.files[0];
    if (f) { choose(f); form.requestSubmit(); }
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!file) { showError("Choose or drop an image or a video clip first."); input.focus(); return; }
    const data = new FormData(form);
    data.delete("image");
    data.set(kind, file, file.name);
    showError("");
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    setStatus(kind === "clip" ? "Searching… (the clip is decoded and aligned with the archive)"
      : "Searching… (the first search loads the models)", true);
    try {
      const response = await fetch(form.action, { method: "POST", body: data });
      let body = null;
      try { body = await response.json(); } catch (_) { /* not JSON */ }
      if (!response.ok) {
        const msg = body && body.error ? body.error.message : `the server answered ${response.status}`;
        throw new Error(msg);
      }
      results = body.results;
      render();
      setStatus(results.length ? `${results.length} moment${results.length === 1 ? "" : "s"} found.` : "No matching moments.");
    } catch (err) {
      setStatus("");
      showError("Search failed: " + (err.message || err));
    } finally {
      submit.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });

  function render() {
    resultsEl.replaceChildren();
    resultsTitle.hidden = results.length === 0;
    results.forEach((r, i) => {
      const img = r.thumbnail_url
        ? el("img", { src: r.thumbnail_url, alt: "", loading: "lazy" })
        : el("span", { className: "noimg" });
      const button = el("button", { type: "button", className: "result" }, img,
        el("span", { className: "meta" },
          el("span", { className: "name", title: r.path, textContent: baseName(r.path) }),
          el("span", { className: "time", textContent: `${fmt(r.start)}–${fmt(r.end)}` }),
          el("span", { className: "why", textContent: why(r) }),
          el("span", { className: "score", textContent: `score ${r.score.toFixed(3)}` })));
      button.dataset.index = i;
      button.setAttribute("aria-label", `${baseName(r.path)}, ${fmt(r.start)} to ${fmt(r.end)}, score ${r.score.toFixed(3)}`);
      button.addEventListener("click", () => play(r));
      resultsEl.append(el("li", {}, button));
    });
  }

  function why(r) {
    return "query_start" in r ? `clip ${fmt(r.query_start)}–${fmt(r.query_end)} matches`
      : `best frame at ${fmt(r.timestamp)}`;
  }

  function seek(t) {
    if (player.readyState >= 1) player.currentTime = t;
    else player.addEventListener("loadedmetadata", () => { player.currentTime = t; }, { once: true });
  }

  function play(r) {
    current = r;
    playerSection.hidden = false;
    playerTitle.textContent = `${baseName(r.path)} — ${fmt(r.start)}–${fmt(r.end)}`;
    const src = new URL(r.stream_url, location.href).href;
    if (player.src !== src) { player.src = src; player.load(); }
    seek(r.start);
    resultsEl.querySelectorAll(".result").forEach((b) => {
      b.setAttribute("aria-current", String(results[b.dataset.index] === r));
    });
    if (player.readyState >= 1) drawTimeline();
    else player.addEventListener("loadedmetadata", drawTimeline, { once: true });
    playerSection.scrollIntoView({ behavior: "smooth", block: "start" });
    player.focus({ preventScroll: true });
  }

  function drawTimeline() {
    timeline.querySelectorAll(".mark").forEach((m) => m.remove());
    const d = player.duration;
    if (!current || !isFinite(d) || d <= 0) return;
    results.filter((r) => r.video_id === current.video_id).forEach((r) => {
      const mark = el("button", { type: "button", className: "mark" + (r === current ? " current" : "") });
      mark.style.left = (100 * r.start / d) + "%";
      mark.style.width = Math.max(0, 100 * (r.end - r.start) / d) + "%";
      mark.title = `${fmt(r.start)}–${fmt(r.end)} (score ${r.score.toFixed(3)})`;
      mark.setAttribute("aria-label", "Jump to " + fmt(r.start));
      mark.addEventListener("click", () => play(r));
      timeline.append(mark);
    });
    movePlayhead();
  }

  function movePlayhead() {
    const d = player.duration;
    playhead.style.left = isFinite(d) && d > 0 ? (100 * player.currentTime / d) + "%" : "0";
  }
  player.addEventListener("timeupdate", movePlayhead);
  player.addEventListener("error", () => showError("The video could not be played (is the file still on disk?)."));
})();

// The dedup page: drop a clip, POST it to /api/v1/dedup, show each copy side by side with its spans.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("dedup-form"), input = $("clip"), drop = $("drop"), preview = $("preview");
  const dropText = $("drop-text"), submit = $("submit"), statusEl = $("status"), errorEl = $("error");
  const matchesEl = $("matches"), matchesTitle = $("matches-title");
  const playerSection = $("player-section"), player = $("player"), playerTitle = $("player-title");
  let file = null, fileUrl = null;

  const { fmt, baseName, el } = window.vidsearchUI;
  const { setStatus, showError } = window.vidsearchUI.messages(statusEl, errorEl);

  function choose(f) {
    if (!f) return;
    if (f.type && !f.type.startsWith("video/")) { showError(`${f.name} is not a video.`); return; }
    file = f;
    showError("");
    if (fileUrl) URL.revokeObjectURL(fileUrl);
    fileUrl = URL.createObjectURL(f);
    preview.src = fileUrl;
    preview.hidden = false;
    dropText.textContent = f.name + " — press to choose another";
  }
  input.addEventListener("change", () => choose(input.files[0]));
  window.vidsearchUI.dropZone(drop, (files) => { choose(files[0]); form.requestSubmit(); });

  // A frame of the dropped clip at time t, drawn in the browser (the clip never has to be stored).
  function grab(t) {
    return new Promise((resolve) => {
      const v = el("video", { muted: true, preload: "auto", src: fileUrl });
      const done = (url) => { v.removeAttribute("src"); v.load(); resolve(url); };
      v.addEventListener("error", () => done(null), { once: true });
      v.addEventListener("loadedmetadata", () => { v.currentTime = Math.min(t, Math.max(0, v.duration - 0.05)); }, { once: true });
      v.addEventListener("seeked", () => {
        const c = el("canvas", { width: 320, height: Math.round(320 * (v.videoHeight || 9) / (v.videoWidth || 16)) });
        c.getContext("2d").drawImage(v, 0, 0, c.width, c.height);
        let url = null;
        try { url = c.toDataURL("image/jpeg", 0.8); } catch (_) { /* tainted: leave it out */ }
        done(url);
      }, { once: true });
    });
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!file) { showError("Choose or drop a video clip first."); input.focus(); return; }
    const data = new FormData();
    data.set("clip", file, file.name);
    showError("");
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    setStatus("Checking… (the clip is decoded and compared with the archive)", true);
    try {
      const body = await window.vidsearchUI.postForm(form.action, data);
      await render(body.matches);
      setStatus(body.matches.length
        ? `${body.matches.length} cop${body.matches.length === 1 ? "y" : "ies"} found.`
        : "No copies found: this footage is not in the archive.");
    } catch (err) {
      setStatus("");
      showError("Check failed: " + (err.message || err));
    } finally {
      submit.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });

  async function render(matches) {
    matchesEl.replaceChildren();
    matchesTitle.hidden = matches.length === 0;
    for (const m of matches) {
      const queryImg = el("img", { alt: `Clip at ${fmt(m.query_start)}` });
      const refImg = m.ref_thumbnail_url
        ? el("img", { src: m.ref_thumbnail_url, alt: `${baseName(m.path)} at ${fmt(m.ref_start)}` })
        : el("span", { className: "noimg" });
      const button = el("button", { type: "button", className: "match" },
        el("span", { className: "pair" },
          el("figure", {}, queryImg, el("figcaption", { textContent: `clip ${fmt(m.query_start)}–${fmt(m.query_end)}` })),
          el("figure", {}, refImg, el("figcaption", { textContent: `${baseName(m.path)} ${fmt(m.ref_start)}–${fmt(m.ref_end)}` }))),
        el("span", { className: "meta" },
          el("span", { className: "name", title: m.path, textContent: baseName(m.path) }),
          el("span", { className: "score", textContent: `score ${m.score.toFixed(3)}` })));
      button.setAttribute("aria-label",
        `Clip ${fmt(m.query_start)} to ${fmt(m.query_end)} is a copy of ${baseName(m.path)} ${fmt(m.ref_start)} to ${fmt(m.ref_end)}, score ${m.score.toFixed(3)}. Play it.`);
      button.addEventListener("click", () => play(m));
      matchesEl.append(el("li", {}, button));
      grab(m.query_start).then((url) => { if (url) queryImg.src = url; });
    }
  }

  function play(m) {
    playerSection.hidden = false;
    playerTitle.textContent = `${baseName(m.path)} — ${fmt(m.ref_start)}–${fmt(m.ref_end)}`;
    const src = new URL(m.stream_url, location.href).href;
    if (player.src !== src) { player.src = src; player.load(); }
    if (player.readyState >= 1) player.currentTime = m.ref_start;
    else player.addEventListener("loadedmetadata", () => { player.currentTime = m.ref_start; }, { once: true });
    playerSection.scrollIntoView({ behavior: "smooth", block: "start" });
    player.focus({ preventScroll: true });
  }
})();

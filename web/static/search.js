// The search page: type text, or pick or drop a picture or a clip (and draw a region on the picture),
// POST it to the API, show the moments and why they matched, play them.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("search-form"), input = $("image"), drop = $("drop"), preview = $("preview"), clipPreview = $("clip-preview");
  const dropText = $("drop-text"), submit = $("submit"), statusEl = $("status"), errorEl = $("error");
  const textInput = $("text");
  const resultsEl = $("results"), resultsTitle = $("results-title");
  const playerSection = $("player-section"), player = $("player"), playerTitle = $("player-title");
  const timeline = $("timeline"), playhead = $("playhead");
  const editor = $("region-editor"), stage = $("stage"), selection = $("selection"), regionField = $("region");
  const fields = { x: $("region-x"), y: $("region-y"), w: $("region-w"), h: $("region-h") };
  const DROP_TEXT = dropText.innerHTML;
  let file = null, kind = "image", results = [], current = null;
  let asked = null, weak = 0, nextOffset = null; // the last search's form, its weak count, where more starts
  const LEAD_S = 1.5; // a result plays from this long before its best instant
  const moreButton = $("more-results"), weakButton = $("show-weak");
  let region = null; // {x, y, w, h} in pixels of the ORIGINAL picture, or null: the whole picture

  const { fmt, baseName, el } = window.vidsearchUI;
  const { setStatus, showError } = window.vidsearchUI.messages(statusEl, errorEl);

  function resetPreviews() {
    [preview, clipPreview].forEach((p) => { if (p.src) URL.revokeObjectURL(p.src); p.removeAttribute("src"); });
    clipPreview.hidden = true;
    editor.hidden = true;
    setRegion(null);
  }

  function choose(f) {
    if (!f) return;
    const video = (f.type || "").startsWith("video/") || /\.(mp4|m4v|mov|mkv|webm|avi|ts|mts)$/i.test(f.name);
    if (f.type && !video && !f.type.startsWith("image/")) { showError(`${f.name} is neither an image nor a video.`); return; }
    file = f;
    kind = video ? "clip" : "image";
    showError("");
    resetPreviews();
    if (video) {
      clipPreview.src = URL.createObjectURL(f);
      clipPreview.hidden = false;
    } else {
      preview.src = URL.createObjectURL(f);
      preview.alt = "Query: " + f.name;
      editor.hidden = false;
    }
    dropText.textContent = f.name + " — press to choose another";
  }

  function removeFile() {
    file = null;
    input.value = "";
    resetPreviews();
    dropText.innerHTML = DROP_TEXT;
    textInput.focus();
  }

  // -- the region: drawn with a pointer (mouse, touch, pen) on the picture, or typed in x, y, w, h --
  const natural = () => ({ w: preview.naturalWidth, h: preview.naturalHeight });
  const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);

  function setRegion(r, fromFields) {
    const n = natural();
    if (r && n.w && n.h) {
      const x = clamp(Math.floor(r.x), 0, n.w - 1), y = clamp(Math.floor(r.y), 0, n.h - 1);
      const w = clamp(Math.round(r.w), 1, n.w - x), h = clamp(Math.round(r.h), 1, n.h - y);
      region = { x, y, w, h };
    } else {
      region = null;
    }
    regionField.value = region ? `${region.x},${region.y},${region.w},${region.h}` : "";
    if (!fromFields) Object.keys(fields).forEach((k) => { fields[k].value = region ? region[k] : ""; });
    drawSelection();
  }

  function drawSelection() {
    const n = natural();
    if (!region || !n.w || !preview.clientWidth) { selection.hidden = true; return; }
    const s = preview.clientWidth / n.w; // displayed pixels per original pixel
    Object.assign(selection.style, { left: region.x * s + "px", top: region.y * s + "px",
      width: region.w * s + "px", height: region.h * s + "px" });
    selection.hidden = false;
  }

  function toNatural(e) {
    const box = preview.getBoundingClientRect(), n = natural();
    return { x: clamp(e.clientX - box.left, 0, box.width) * n.w / box.width,
             y: clamp(e.clientY - box.top, 0, box.height) * n.h / box.height };
  }

  let dragFrom = null;
  stage.addEventListener("pointerdown", (e) => {
    if (!preview.naturalWidth || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    stage.setPointerCapture(e.pointerId);
    dragFrom = toNatural(e);
  });
  stage.addEventListener("pointermove", (e) => {
    if (!dragFrom) return;
    const p = toNatural(e);
    setRegion({ x: Math.min(dragFrom.x, p.x), y: Math.min(dragFrom.y, p.y),
                w: Math.abs(p.x - dragFrom.x), h: Math.abs(p.y - dragFrom.y) });
  });
  function endDrag() {
    if (!dragFrom) return;
    dragFrom = null;
    // a click, not a drag: no region (smaller than 4 displayed pixels)
    const s = preview.clientWidth / (natural().w || 1);
    if (region && (region.w * s < 4 || region.h * s < 4)) setRegion(null);
    setStatus(region ? `Region ${region.w}×${region.h} px at ${region.x},${region.y}: press Search.` : "");
  }
  stage.addEventListener("pointerup", endDrag);
  stage.addEventListener("pointercancel", endDrag);
  preview.addEventListener("load", () => {
    $("natural-size").textContent = `${preview.naturalWidth}×${preview.naturalHeight}`;
    drawSelection();
  });
  window.addEventListener("resize", drawSelection);
  // typed: every edit is read back (input while typing; change also covers a field emptied by a script)
  function fromFields(final) {
    const v = Object.fromEntries(Object.entries(fields).map(([k, el]) => [k, el.value.trim()]));
    if (Object.values(v).every((x) => x === "")) { setRegion(null, true); return; }
    const num = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, Number(x)]));
    if (Object.values(v).some((x) => x === "") || Object.values(num).some((x) => !isFinite(x) || x < 0) || num.w <= 0 || num.h <= 0) {
      regionField.value = ""; region = null; selection.hidden = true; return; // incomplete: not sent
    }
    setRegion(num, !final); // when the field is left, it shows the region as it will be sent (inside the picture)
  }
  Object.values(fields).forEach((f) => {
    f.addEventListener("input", () => fromFields(false));
    f.addEventListener("change", () => fromFields(true));
  });
  $("clear-region").addEventListener("click", () => { setRegion(null); fields.x.focus(); });
  $("clear-file").addEventListener("click", removeFile);
  textInput.addEventListener("input", () => {
    if (file && textInput.value.trim()) setStatus(`${file.name} is chosen and will be searched: remove it to search by text.`);
  });

  input.addEventListener("change", () => { choose(input.files[0]); if (file) form.requestSubmit(); }); // as a drop does
  window.vidsearchUI.dropZone(drop, (files) => { choose(files[0]); form.requestSubmit(); });

  // -- the page's state in its URL: /?q=text or /?like=VIDEO&t=SECONDS, and the filters --------------
  // URL name -> API field (the others are the same: camera, after, before, time_of_day, sort, limit)
  const API_NAMES = { q: "text", like: "like_video", t: "like_t", start: "like_start", end: "like_end", video: "video_id" };
  const FILTERS = ["video", "camera", "after", "before", "time_of_day", "sort", "limit"];
  const videoSelect = $("video"), cameraInput = $("camera"), sortSelect = $("sort"), filtersEl = $("filters");
  const dateFrom = $("date-from"), dateTo = $("date-to"), todFrom = $("tod-from"), todTo = $("tod-to");
  const limitInput = form.elements.limit, afterInput = form.elements.after, beforeInput = form.elements.before;
  const likeNote = $("like-note"), emptyEl = $("empty");
  const isDate = (v) => /^\d{4}-\d\d-\d\d/.test(v || "");
  // a datetime-local value (the browser's zone) <-> an ISO date-time with its zone, as the API reads it
  const toISO = (local) => (local ? new Date(local).toISOString().replace(/\.000Z$/, "Z") : "");
  function toLocal(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return "";
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }

  // the filters of the form as URL parameters (added to `params`)
  function filterParams(params) {
    const put = (k, v) => { if (v !== "" && v != null) params.set(k, v); };
    put("video", videoSelect.value);
    put("camera", cameraInput.value.trim());
    put("after", dateFrom.value ? toISO(dateFrom.value) : afterInput.value.trim());
    put("before", dateTo.value ? toISO(dateTo.value) : beforeInput.value.trim());
    if (todFrom.value && todTo.value) put("time_of_day", `${todFrom.value}-${todTo.value}`);
    if (sortSelect.value !== "score") put("sort", sortSelect.value);
    if (limitInput.value && limitInput.value !== "10") put("limit", limitInput.value);
    return params;
  }

  // the URL's state into the form (a reload, a pasted link, back and forward)
  function fillForm(params) {
    textInput.value = params.get("q") || "";
    const video = params.get("video") || "";
    if (video && !videoSelect.querySelector(`option[value="${CSS.escape(video)}"]`)) {
      videoSelect.append(el("option", { value: video, textContent: video })); // the list is still loading
    }
    videoSelect.value = video;
    cameraInput.value = params.get("camera") || "";
    const after = params.get("after") || "", before = params.get("before") || "";
    dateFrom.value = isDate(after) ? toLocal(after) : "";
    afterInput.value = isDate(after) ? "" : after;
    dateTo.value = isDate(before) ? toLocal(before) : "";
    beforeInput.value = isDate(before) ? "" : before;
    const [tf, tt] = (params.get("time_of_day") || "").split("-");
    todFrom.value = tt ? tf : "";
    todTo.value = tt || "";
    sortSelect.value = params.get("sort") === "time" ? "time" : "score";
    limitInput.value = params.get("limit") || "10";
    showFilterCount(params);
  }

  function showFilterCount(params) {
    const n = ["video", "camera", "after", "before", "time_of_day"].filter((k) => params.get(k)).length;
    $("filter-count").textContent = n ? `(${n} active)` : "";
    if (n) filtersEl.open = true;
  }

  function apiQuery(params) {
    const out = new URLSearchParams();
    params.forEach((v, k) => out.set(API_NAMES[k] || k, v));
    return out;
  }

  function navigate(params) {
    const url = params.toString() ? "?" + params.toString() : location.pathname;
    if (url !== location.search) history.pushState(null, "", url);
    fromURL();
  }

  // search what the URL says (nothing: an empty page)
  function fromURL() {
    const params = new URLSearchParams(location.search);
    fillForm(params);
    const like = params.get("like");
    if (!params.get("q") && !like && !params.get("image")) {
      clearPlayer();
      results = []; weak = 0; nextOffset = null; asked = null;
      render();
      likeNote.hidden = true;
      setStatus("");
      return;
    }
    showLikeNote(params);
    clearPlayer(); // a new search: the old player goes
    asked = { get: apiQuery(params) };
    run(asked, false);
  }
  window.addEventListener("popstate", fromURL);

  // "More like the frame at 0:00:03 of cam1.mp4." above the results of a find-similar search
  function showLikeNote(params) {
    const like = params.get("like");
    likeNote.hidden = !like && !params.get("image");
    if (params.get("image") && !like) {
      likeNote.textContent = file ? "" : "Searched with the picture of an earlier search"
        + (params.get("region") ? ` (region ${params.get("region")}).` : ".");
      likeNote.hidden = !!file;
      return;
    }
    if (!like) return;
    const from = params.get("t") != null ? `the frame at ${fmt(params.get("t"))}`
      : `${fmt(params.get("start"))}–${fmt(params.get("end"))}`;
    const known = videoNames.get(like);
    likeNote.textContent = `More like ${from} of ${known ? baseName(known) : "video " + like}.`;
  }

  // the videos and cameras of the filters (a search from the URL does not wait for them)
  const videoNames = new Map();
  let indexedCount = null;
  window.vidsearchUI.getJSON("/api/v1/videos").then((body) => {
    const chosen = videoSelect.value;
    videoSelect.querySelectorAll("option:not([value=''])").forEach((o) => o.remove());
    const cameras = new Set();
    body.videos.forEach((v) => {
      videoNames.set(v.id, v.path);
      if (v.camera) cameras.add(v.camera);
      if (v.status === "indexed") videoSelect.append(el("option", { value: v.id, textContent: baseName(v.path) }));
    });
    indexedCount = body.videos.filter((v) => v.status === "indexed").length;
    if (chosen && !videoSelect.querySelector(`option[value="${CSS.escape(chosen)}"]`)) {
      videoSelect.append(el("option", { value: chosen, textContent: chosen }));
    }
    videoSelect.value = chosen;
    $("cameras").replaceChildren(...[...cameras].sort().map((c) => el("option", { value: c })));
    if (indexedCount === 0 && !results.length) showEmpty();
    showLikeNote(new URLSearchParams(location.search));
  }).catch(() => {}); // the search itself reports an unreachable server

  function showEmpty() { emptyEl.hidden = false; }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = textInput.value.trim();
    const submitter = e.submitter && e.submitter.id;
    const useFile = file && (submitter === "search-file" || !text || submitter !== "submit");
    if (!useFile && !text) {
      showError("Type what you are looking for, or choose or drop an image or a video clip.");
      textInput.focus();
      return;
    }
    if (!useFile) { // a text search lives in the URL
      navigate(filterParams(new URLSearchParams({ q: text })));
      return;
    }
    const data = new FormData();
    apiQuery(filterParams(new URLSearchParams())).forEach((v, k) => data.set(k, v));
    data.set(kind, file, file.name);
    if (kind === "image" && region) data.set("region", regionField.value);
    // a picture cannot live in the URL: the address keeps only the filters
    const params = filterParams(new URLSearchParams());
    history.pushState(null, "", params.toString() ? "?" + params : location.pathname);
    likeNote.hidden = true;
    clearPlayer(); // a new search: the old player goes
    asked = { post: data };
    await run(asked, false);
  });

  // the search (``more``: the next page, appended); render and say what was left out
  async function run(request, more) {
    showError("");
    emptyEl.hidden = true;
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    const isText = request.get && request.get.get("text");
    setStatus(request.get ? (isText ? "Searching… (the first text search loads the text models)" : "Searching…")
      : kind === "clip" ? "Searching… (the clip is decoded and aligned with the archive)"
      : "Searching… (the first search loads the models)", true);
    try {
      const body = request.get
        ? await window.vidsearchUI.getJSON(form.action + "?" + request.get.toString())
        : await window.vidsearchUI.postForm(form.action, request.post);
      if (request !== asked) return; // a newer search started meanwhile
      if (request.post && body.query_image && !more) { // the server keeps the picture: a link can search it again
        const params = filterParams(new URLSearchParams({ image: body.query_image }));
        if (request.post.get("region")) params.set("region", request.post.get("region"));
        history.replaceState(null, "", "?" + params.toString());
      }
      results = more ? results.concat(body.results) : body.results;
      weak = body.weak || 0;
      nextOffset = body.next_offset == null ? null : body.next_offset;
      render();
      const found = results.length ? `${results.length} moment${results.length === 1 ? "" : "s"} found.` : "No matching moments.";
      const left = weak && field(request, "include_weak") !== "true"
        ? ` ${weak} weak result${weak === 1 ? "" : "s"} below the no-match level left out.` : "";
      setStatus(found + left);
      if (!results.length && indexedCount === 0) showEmpty();
      document.body.dataset.searched = "true";
    } catch (err) {
      if (request !== asked) return;
      setStatus("");
      showError("Search failed: " + (err.message || err));
    } finally {
      submit.disabled = false;
      form.removeAttribute("aria-busy");
      moreButton.hidden = nextOffset === null;
      weakButton.hidden = !(weak && asked && field(asked, "include_weak") !== "true");
    }
  }
  const field = (request, name) => (request.get || request.post).get(name);
  const setField = (request, name, value) => (request.get || request.post).set(name, value);

  moreButton.addEventListener("click", () => {
    if (!asked || nextOffset === null) return;
    setField(asked, "offset", String(nextOffset));
    run(asked, true);
  });
  weakButton.addEventListener("click", () => {
    if (!asked) return;
    setField(asked, "include_weak", "true");
    (asked.get || asked.post).delete("offset");
    run(asked, false);
  });

  function clearPlayer() {
    player.pause();
    player.removeAttribute("src");
    player.load();
    current = null;
    playerSection.hidden = true;
    timeline.querySelectorAll(".mark, .span").forEach((m) => m.remove());
  }

  function moreLike(r) {
    const params = filterParams(new URLSearchParams({ like: r.video_id, t: String(Math.round(r.timestamp * 1000) / 1000) }));
    params.delete("video"); // like footage anywhere, not only in the filtered video
    videoSelect.value = "";
    navigate(params);
    resultsTitle.scrollIntoView({ block: "nearest" });
  }

  function render() {
    resultsEl.replaceChildren();
    resultsTitle.hidden = results.length === 0;
    results.forEach((r, i) => {
      const img = r.thumbnail_url
        ? el("img", { src: r.thumbnail_url, alt: "", loading: i < 8 ? "eager" : "lazy" })
        : el("span", { className: "noimg" });
      const button = el("button", { type: "button", className: "result" }, img,
        el("span", { className: "meta" },
          el("span", { className: "name", title: r.path, textContent: baseName(r.path) }),
          el("span", { className: "time", textContent: `${fmt(r.start)}–${fmt(r.end)}` }),
          el("span", { className: "why", textContent: why(r), title: why(r) }),
          el("span", { className: "score conf-" + String(r.confidence || "").replace(/\W+/g, "-"),
                       textContent: `${r.confidence || "match"} · score ${r.score.toFixed(3)} of 1` })));
      button.dataset.index = i;
      button.setAttribute("aria-label", `${baseName(r.path)}, ${fmt(r.start)} to ${fmt(r.end)}, ${r.confidence || "match"}, best at ${fmt(r.timestamp)}`);
      button.addEventListener("click", () => play(r));
      const like = el("button", { type: "button", className: "like secondary small", textContent: "More like this" });
      like.setAttribute("aria-label", `More like ${baseName(r.path)} at ${fmt(r.timestamp)}`);
      like.addEventListener("click", () => moreLike(r));
      resultsEl.append(el("li", {}, button, like));
    });
  }

  // -- keys: / the search box, j/k or arrows through the results, Enter plays, Esc closes the player --
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target, typing = t.closest && t.closest("input, textarea, select, [contenteditable]");
    if (e.key === "Escape" && !playerSection.hidden) {
      const playing = current;
      clearPlayer();
      const back = resultsEl.querySelector(`.result[data-index="${results.indexOf(playing)}"]`);
      if (back) back.focus();
      e.preventDefault();
      return;
    }
    if (typing) return;
    if (e.key === "/") {
      e.preventDefault();
      textInput.focus();
      textInput.select();
      return;
    }
    const step = { j: 1, ArrowDown: 1, ArrowRight: 1, k: -1, ArrowUp: -1, ArrowLeft: -1 }[e.key];
    if (!step) return;
    const buttons = [...resultsEl.querySelectorAll(".result")];
    if (!buttons.length) return;
    const at = buttons.indexOf(t.closest ? t.closest(".result") : null);
    if (at < 0 && e.key.startsWith("Arrow") && t !== document.body) return; // arrows elsewhere: the page scrolls
    e.preventDefault();
    const next = at < 0 ? (step > 0 ? 0 : buttons.length - 1) : Math.min(buttons.length - 1, Math.max(0, at + step));
    buttons[next].focus();
    buttons[next].scrollIntoView({ block: "nearest" });
  });

  function why(r) {
    if (Array.isArray(r.why) && r.why.length) return "why: " + r.why.join("; ");
    return "query_start" in r ? `clip ${fmt(r.query_start)}–${fmt(r.query_end)} matches`
      : `best frame at ${fmt(r.timestamp)}`;
  }

  function seek(t) {
    if (player.readyState >= 1) player.currentTime = t;
    else player.addEventListener("loadedmetadata", () => { player.currentTime = t; }, { once: true });
  }

  function play(r) {
    current = r;
    window.vidsearchPlayer.show(r); // its download links and "preparing a playable copy" (player.js)
    playerSection.hidden = false;
    playerTitle.textContent = `${baseName(r.path)} — ${fmt(r.start)}–${fmt(r.end)}, best at ${fmt(r.timestamp)}`;
    player.setAttribute("aria-label", `${baseName(r.path)} from ${fmt(r.timestamp)}`);
    const src = new URL(r.stream_url, location.href).href;
    if (player.src !== src) { player.src = src; player.load(); }
    seek(Math.max(0, r.timestamp - LEAD_S)); // a little before the instant, so it is seen arriving
    player.play().catch(() => {}); // a browser may refuse to start it without a gesture: the controls remain
    resultsEl.querySelectorAll(".result").forEach((b) => {
      b.setAttribute("aria-current", String(results[b.dataset.index] === r));
    });
    if (player.readyState >= 1) drawTimeline();
    else player.addEventListener("loadedmetadata", drawTimeline, { once: true });
    playerSection.scrollIntoView({ behavior: "smooth", block: "start" });
    player.focus({ preventScroll: true });
  }

  // the current moment's span, and a mark at the instant of every result in this video (a click plays it)
  function drawTimeline() {
    timeline.querySelectorAll(".mark, .span").forEach((m) => m.remove());
    const d = player.duration;
    if (!current || !isFinite(d) || d <= 0) return;
    const span = el("span", { className: "span", title: `${fmt(current.start)}–${fmt(current.end)}` });
    span.style.left = (100 * current.start / d) + "%";
    span.style.width = Math.max(0, 100 * (current.end - current.start) / d) + "%";
    timeline.append(span);
    results.filter((r) => r.video_id === current.video_id).forEach((r) => {
      const mark = el("button", { type: "button", className: "mark" + (r === current ? " current" : "") });
      mark.style.left = (100 * r.timestamp / d) + "%";
      mark.title = `${fmt(r.timestamp)} (${r.confidence || "match"}, ${fmt(r.start)}–${fmt(r.end)})`;
      mark.setAttribute("aria-label", "Play from " + fmt(r.timestamp));
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
  // a video that fails to play: web/static/player.js asks the server why (a copy being prepared, the file gone)
  fromURL(); // a reload or a pasted link: the same results
})();

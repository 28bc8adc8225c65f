// The library page: upload videos (drop or pick), follow their indexing live, delete videos.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("upload-form"), input = $("file"), drop = $("drop"), uploadsEl = $("uploads");
  const errorEl = $("error"), table = $("videos"), tbody = table.querySelector("tbody"), summary = $("summary");
  const keyInput = $("api-key");
  const maxBytes = Number(form.dataset.maxBytes) || 0;
  const POLL_MS = 1000;
  const tracked = new Map(); // job id -> upload list item (jobs started from this page)
  let pollTimer = null;

  if (keyInput) {
    keyInput.value = sessionStorage.getItem("vidsearch.apiKey") || "";
    keyInput.addEventListener("change", () => sessionStorage.setItem("vidsearch.apiKey", keyInput.value));
  }
  function authHeaders() {
    return keyInput && keyInput.value ? { "X-API-Key": keyInput.value } : {};
  }

  const { el, baseName, errorOf } = window.vidsearchUI;
  const { showError } = window.vidsearchUI.messages(null, errorEl);
  const fmtDuration = (d) => (d ? window.vidsearchUI.fmt(d) : "–");
  const fmtAdded = (t) => (t ? new Date(t * 1000).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "–");
  function fmtSize(n) {
    return n >= 2 ** 30 ? (n / 2 ** 30).toFixed(1) + " GiB" : (n / 2 ** 20).toFixed(1) + " MiB";
  }

  // -- uploads ------------------------------------------------------------------------------
  function uploadItem(file) {
    const bar = el("progress", { max: 1, value: 0 });
    const state = el("span", { className: "state", textContent: "waiting" });
    const li = el("li", { className: "upload-item" }, el("span", { className: "name", textContent: file.name }), bar, state);
    li.bar = bar;
    li.state = state;
    uploadsEl.prepend(li);
    return li;
  }
  function setItem(li, text, value, cls) {
    li.state.textContent = text;
    if (value === null) li.bar.removeAttribute("value"); else li.bar.value = value;
    li.className = "upload-item" + (cls ? " " + cls : "");
  }

  function upload(file) {
    const li = uploadItem(file);
    if (maxBytes && file.size > maxBytes) {
      setItem(li, `too large (${fmtSize(file.size)}; the limit is ${fmtSize(maxBytes)})`, 0, "failed");
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest(); // (fetch cannot report upload progress)
      xhr.open("POST", form.action);
      Object.entries(authHeaders()).forEach(([k, v]) => xhr.setRequestHeader(k, v));
      xhr.responseType = "json";
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) setItem(li, `uploading ${Math.round(100 * e.loaded / e.total)}%`, e.loaded / e.total);
      });
      xhr.upload.addEventListener("load", () => setItem(li, "checking the file…", null));
      xhr.addEventListener("load", () => {
        const body = xhr.response;
        if (xhr.status === 202 && body && body.job_id) {
          setItem(li, "queued", 0);
          li.dataset.videoId = body.video_id || "";
          tracked.set(body.job_id, li);
          schedulePoll(0);
        } else {
          const msg = body && body.error ? body.error.message : `the server answered ${xhr.status}`;
          setItem(li, "failed: " + msg, 0, "failed");
        }
        resolve();
      });
      xhr.addEventListener("error", () => { setItem(li, "failed: the connection was lost", 0, "failed"); resolve(); });
      const data = new FormData();
      data.append("file", file, file.name);
      xhr.send(data);
    });
  }

  async function uploadAll(files) {
    showError("");
    for (const f of files) await upload(f); // one at a time: the server indexes one at a time anyway
  }

  input.addEventListener("change", () => { uploadAll(Array.from(input.files)); input.value = ""; });
  window.vidsearchUI.dropZone(drop, uploadAll);

  // -- the table ----------------------------------------------------------------------------
  function row(v) {
    let tr = tbody.querySelector(`tr[data-id="${CSS.escape(v.id)}"]`);
    if (!tr) {
      tr = el("tr");
      tr.dataset.id = v.id;
      const cell = (label, ...children) => { const td = el("td", {}, ...children); td.dataset.label = label; return td; };
      const del = el("button", { type: "button", className: "delete", textContent: "Delete" });
      del.dataset.id = v.id;
      tr.append(
        Object.assign(cell("", el("span", { className: "noimg" })), { className: "thumb" }),
        cell("File", el("a", { className: "file" }), el("div", { className: "error small", hidden: true })),
        cell("Status", el("span", { className: "badge" }), " ", el("span", { className: "job" })),
        Object.assign(cell("Duration"), { className: "duration" }),
        Object.assign(cell("Added"), { className: "added" }),
        Object.assign(cell("Frames"), { className: "frames" }),
        Object.assign(cell("Segments"), { className: "segments" }),
        cell("Id", el("code", { textContent: v.id })),
        cell("", del));
      tbody.append(tr);
    }
    return tr;
  }

  function renderVideos(videos, jobsByVideo) {
    const seen = new Set();
    videos.forEach((v) => {
      seen.add(v.id);
      const tr = row(v);
      const a = tr.querySelector("a.file");
      a.href = v.stream_url;
      a.title = v.path;
      a.textContent = baseName(v.path);
      tr.querySelector(".delete").setAttribute("aria-label", "Delete " + baseName(v.path));
      const err = tr.querySelector(".error");
      err.textContent = v.error || "";
      err.hidden = !v.error;
      const badge = tr.querySelector(".badge");
      badge.className = "badge badge-" + v.status;
      badge.textContent = v.status;
      const jobEl = tr.querySelector(".job");
      const job = jobsByVideo.get(v.id);
      jobEl.replaceChildren();
      if (job && job.status === "running") {
        const pct = Math.round(100 * job.progress);
        jobEl.append(el("progress", { max: 1, value: job.progress }), ` ${pct}%`);
        jobEl.setAttribute("aria-label", `indexing ${pct}%`);
      }
      tr.querySelector(".duration").textContent = fmtDuration(v.duration);
      tr.querySelector(".added").textContent = fmtAdded(v.added_at);
      Object.assign(tr.dataset, { name: baseName(v.path), added: String(v.added_at || 0), duration: String(v.duration || 0) });
      const thumb = tr.querySelector(".thumb");
      if (v.status === "indexed" && v.segments && !thumb.querySelector("img")) {
        const img = el("img", { src: `/api/v1/videos/${encodeURIComponent(v.id)}/segments/0/thumbnail`, alt: "",
                                loading: "lazy", width: 96, height: 54 });
        img.addEventListener("error", () => img.replaceWith(el("span", { className: "noimg" })), { once: true });
        thumb.replaceChildren(img);
      }
      tr.querySelector(".frames").textContent = v.frames;
      tr.querySelector(".segments").textContent = v.segments;
    });
    tbody.querySelectorAll("tr[data-id]").forEach((tr) => { if (!seen.has(tr.dataset.id)) tr.remove(); });
    table.hidden = videos.length === 0;
    $("library-tools").hidden = videos.length === 0;
    summary.textContent = videos.length
      ? `${videos.length} video${videos.length === 1 ? "" : "s"}.`
      : "No videos yet: upload some above, or run vidsearch ingest PATH.";
    applyView();
  }

  // -- sort and find by name (in the page: the whole list is here) -----------------------------
  const nameFilter = $("name-filter"), sortSelect = $("library-sort");
  function applyView() {
    const words = nameFilter.value.trim().toLowerCase();
    const rows = [...tbody.querySelectorAll("tr[data-id]")];
    const by = sortSelect.value;
    const key = (tr) => (by === "name" ? tr.dataset.name.toLowerCase() : -Number(tr.dataset[by] || 0));
    rows.sort((a, b) => { const x = key(a), y = key(b); return x < y ? -1 : x > y ? 1 : 0; });
    let shown = 0;
    rows.forEach((tr) => {
      tr.hidden = !!words && !tr.dataset.name.toLowerCase().includes(words);
      shown += tr.hidden ? 0 : 1;
      tbody.append(tr);
    });
    if (words) summary.textContent = `${shown} of ${rows.length} video${rows.length === 1 ? "" : "s"} match “${nameFilter.value.trim()}”.`;
    else if (rows.length) summary.textContent = `${rows.length} video${rows.length === 1 ? "" : "s"}.`;
  }
  nameFilter.addEventListener("input", applyView);
  sortSelect.addEventListener("change", applyView);
  tbody.querySelectorAll("tr[data-id]").forEach((tr) => { tr.querySelector(".added").textContent = fmtAdded(Number(tr.dataset.added)); });
  applyView();

  // -- live progress ------------------------------------------------------------------------
  function schedulePoll(delay) {
    if (pollTimer === null) pollTimer = setTimeout(poll, delay);
  }

  async function poll() {
    pollTimer = null;
    let active = false;
    try {
      const [jr, vr] = await Promise.all([fetch("/api/v1/jobs"), fetch("/api/v1/videos")]);
      if (!jr.ok) throw new Error(await errorOf(jr));
      if (!vr.ok) throw new Error(await errorOf(vr));
      const jobs = (await jr.json()).jobs, videos = (await vr.json()).videos;
      const jobsByVideo = new Map();
      jobs.filter((j) => j.video_id && (j.status === "running" || j.status === "queued"))
        .forEach((j) => jobsByVideo.set(j.video_id, j));
      renderVideos(videos, jobsByVideo);
      const byId = new Map(jobs.map((j) => [j.id, j]));
      tracked.forEach((li, id) => {
        const j = byId.get(id);
        if (!j) return;
        if (j.status === "running") setItem(li, `indexing ${Math.round(100 * j.progress)}%`, j.progress);
        else if (j.status === "queued") setItem(li, "queued", 0);
        else if (j.status === "done") {
          setItem(li, j.result && j.result.status === "skipped" ? "already indexed" : "indexed", 1, "done");
          tracked.delete(id);
        } else { setItem(li, "failed: " + (j.error || "unknown error"), 0, "failed"); tracked.delete(id); }
      });
      active = jobs.some((j) => j.status === "running" || j.status === "queued");
      showError("");
    } catch (err) {
      showError("Could not refresh the library: " + (err.message || err));
      active = true; // try again
    }
    if (active || tracked.size) schedulePoll(POLL_MS);
  }

  // -- delete -------------------------------------------------------------------------------
  tbody.addEventListener("click", async (e) => {
    const button = e.target.closest("button.delete");
    if (!button) return;
    const tr = button.closest("tr");
    const name = tr.querySelector("a.file").textContent;
    if (!confirm(`Remove ${name} from the index?`)) return;
    button.disabled = true;
    try {
      const r = await fetch("/api/v1/videos/" + encodeURIComponent(button.dataset.id),
        { method: "DELETE", headers: authHeaders() });
      if (!r.ok && r.status !== 404) throw new Error(await errorOf(r));
      const next = tr.nextElementSibling || tr.previousElementSibling;
      tr.remove();
      const focusTarget = next && next.querySelector("button.delete");
      (focusTarget || input).focus();
      showError("");
      schedulePoll(0);
    } catch (err) {
      button.disabled = false;
      showError(`Could not delete ${name}: ` + (err.message || err));
    }
  });

  schedulePoll(0); // pick up jobs that are already running (e.g. started from the CLI)
})();

// The search page's player, beyond playing: "Download clip" (the shown moment's span) and "Download
// frame" (the instant shown) links, and the videos a browser cannot play as they are (AVI, HEVC, ...):
// their stream answers 202 while the server makes a playable copy; this says "Preparing a playable
// copy… N%", asks again every second and plays when it is ready. Other failures say the server's
// reason (the file is gone, it changed, no copy could be made). search.js calls show(result).
"use strict";
window.vidsearchPlayer = (function () {
  const $ = (id) => document.getElementById(id);
  const player = $("player"), clipLink = $("download-clip"), frameLink = $("download-frame");
  const note = $("player-status"), errorEl = $("error");
  const { fmt, errorOf } = window.vidsearchUI;
  const MAX_EXPORT_S = Number(player.dataset.maxExport) || 300;
  const MIN_CLIP_S = 1; // a moment of one frame still gives a clip worth keeping
  let moment = null, timer = null;

  const apiBase = (r) => r.stream_url.replace(/\/stream(\?.*)?$/, "");
  const say = (text) => { note.textContent = text; note.hidden = !text; };
  const fail = (text) => { say(""); errorEl.textContent = text; errorEl.hidden = !text; };

  function show(r) {
    moment = r;
    clearTimeout(timer);
    say("");
    links();
  }

  function links() {
    if (!moment) return;
    const base = apiBase(moment);
    const known = isFinite(player.duration) && player.duration > 0 ? player.duration : Infinity;
    let start = Math.max(0, moment.start), end = Math.max(moment.end, start + MIN_CLIP_S);
    end = Math.min(end, start + MAX_EXPORT_S, known);
    if (end - start < MIN_CLIP_S) start = Math.max(0, end - MIN_CLIP_S);
    clipLink.href = `${base}/clip?start=${start.toFixed(3)}&end=${end.toFixed(3)}`;
    clipLink.setAttribute("aria-label", `Download the clip ${fmt(start)} to ${fmt(end)}`);
    frameLink.href = `${base}/frame?t=${instant().toFixed(3)}`;
    frameLink.setAttribute("aria-label", `Download the frame at ${fmt(instant())}`);
  }

  function instant() {
    return player.readyState >= 1 && player.currentSrc ? player.currentTime : moment.timestamp;
  }

  ["timeupdate", "seeked", "loadedmetadata"].forEach((t) => player.addEventListener(t, links));

  // why it did not play: the stream's own answer (one byte asked, so a playable file costs nothing)
  async function ask() {
    const src = player.currentSrc || player.src;
    if (!src) return;
    let res;
    try {
      res = await fetch(src, { headers: { Range: "bytes=0-0" }, cache: "no-store" });
    } catch (_) {
      fail("The video could not be played: the server cannot be reached.");
      return;
    }
    if (res.status === 202) {
      const body = await res.json();
      say(`Preparing a playable copy… ${Math.round(100 * body.progress)}% (${body.reason})`);
      timer = setTimeout(ask, 1000);
      return;
    }
    if (res.ok) {
      if (note.hidden) {
        fail("Your browser cannot play this video's format.");
        return;
      }
      say(""); // the copy is ready: load it; search.js's pending seek runs when its metadata arrives
      player.load();
      player.play().catch(() => {});
      return;
    }
    fail("The video could not be played: " + await errorOf(res));
  }

  player.addEventListener("error", () => { clearTimeout(timer); ask(); });
  return { show };
})();

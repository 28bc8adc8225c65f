// Helpers the pages share: time and name formatting, element building, status and error lines,
// drop zones, and POSTing a form to the API with its JSON error turned into an Error.
"use strict";
window.vidsearchUI = (function () {
  function fmt(t) {
    t = Math.max(0, Math.floor(t));
    const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), s = t % 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + String(s).padStart(2, "0");
  }
  const baseName = (p) => String(p).split(/[\\/]/).pop();
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    children.forEach((c) => node.append(c));
    return node;
  }
  // setStatus(text, loading) and showError(text) ("" hides it) for a page's message lines
  function messages(statusEl, errorEl) {
    return {
      setStatus(text, loading) {
        if (!statusEl) return;
        statusEl.textContent = text;
        statusEl.classList.toggle("loading", !!loading);
      },
      showError(text) {
        errorEl.textContent = text;
        errorEl.hidden = !text;
      },
    };
  }
  // onFiles(array of File) when files are dropped on `zone`, which is highlighted while dragged over
  function dropZone(zone, onFiles) {
    ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); }));
    ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, () => zone.classList.remove("over")));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      const files = e.dataTransfer ? Array.from(e.dataTransfer.files) : [];
      if (files.length) onFiles(files);
    });
  }
  // The server's message of a failed answer ({"error": {"message"}}), or its status
  async function errorOf(response) {
    try {
      const body = await response.json();
      if (body && body.error) return body.error.message;
    } catch (_) { /* not JSON */ }
    return `the server answered ${response.status}`;
  }
  // POST `data` (FormData) to `url`; the JSON body, or an Error with the server's message
  async function postForm(url, data) {
    const response = await fetch(url, { method: "POST", body: data });
    if (!response.ok) throw new Error(await errorOf(response));
    return response.json();
  }
  return { fmt, baseName, el, messages, dropZone, errorOf, postForm };
})();

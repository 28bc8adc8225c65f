// Helpers the pages share: time and name formatting, element building, status and error lines,
// drop zones, calling the API with its JSON error (or an unreachable server) turned into an Error,
// and the colour theme toggle.
"use strict";
(function () { // the theme chosen with the toggle, before anything is drawn (else: prefers-color-scheme)
  const theme = localStorage.getItem("vidsearch.theme");
  if (theme === "dark" || theme === "light") document.documentElement.dataset.theme = theme;
})();
window.vidsearchUI = (function () {
  // every time on the pages: h:mm:ss (0:01:05), whole seconds
  function fmt(t) {
    t = Math.max(0, Math.floor(Number(t) || 0));
    const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), s = t % 60;
    return h + ":" + String(m).padStart(2, "0") + ":" + String(s).padStart(2, "0");
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
  // fetch, with "the server cannot be reached" instead of the browser's "Failed to fetch"
  async function call(url, options) {
    let response;
    try {
      response = await fetch(url, options);
    } catch (_) {
      throw new Error("the server cannot be reached (is vidsearch serve running, and the network up?)");
    }
    if (!response.ok) throw new Error(await errorOf(response));
    return response.json();
  }
  // POST `data` (FormData) to `url`; the JSON body, or an Error with the server's message
  const postForm = (url, data) => call(url, { method: "POST", body: data });
  const getJSON = (url) => call(url, { headers: { Accept: "application/json" } });

  // the header's light/dark toggle: remembered in this browser; until pressed, the system's choice
  function themeToggle() {
    const button = document.getElementById("theme-toggle");
    if (!button) return;
    const dark = () => document.documentElement.dataset.theme === "dark" ||
      (!document.documentElement.dataset.theme && matchMedia("(prefers-color-scheme: dark)").matches);
    const show = () => {
      button.setAttribute("aria-pressed", String(dark()));
      button.textContent = dark() ? "Light mode" : "Dark mode";
    };
    button.addEventListener("click", () => {
      const next = dark() ? "light" : "dark";
      document.documentElement.dataset.theme = next;
      localStorage.setItem("vidsearch.theme", next);
      show();
    });
    show();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", themeToggle);
  else themeToggle();
  return { fmt, baseName, el, messages, dropZone, errorOf, postForm, getJSON };
})();

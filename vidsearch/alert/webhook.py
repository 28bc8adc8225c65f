"""Webhook delivery: a queue in SQLite and one background thread that POSTs it, at least once.

Every alert of a watchlist with a webhook is queued (``deliveries``) in the same process that wrote
it; the :class:`Deliverer` thread POSTs the alert's JSON with an ``Idempotency-Key`` header (the
same for every attempt of that alert, so a receiver keeps one copy), retries failures (connection
errors, timeouts, any status but 2xx) after ``BASE_S * 2**attempts`` seconds (capped at ``MAX_S``),
and gives up after ``ATTEMPTS`` attempts (the delivery then shows ``failed`` with its last error on
the watchlist). An ingest never waits for it: queueing is one SQLite insert. What was queued and
not yet delivered when the process stops is sent by the next process that opens the data folder.

SSRF: the server POSTs to whatever URL a watchlist names, from inside its network. Setting a
webhook needs the API key when one is configured, and ``VIDSEARCH_WEBHOOK_HOSTS`` (an allow-list
of host names) limits where it may point (:func:`check_url`; docs/watchlists.md).
"""
from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from vidsearch.alert.watchlist import WatchlistError

log = logging.getLogger(__name__)

ATTEMPTS = 8
BASE_S = 0.5
MAX_S = 300.0
TIMEOUT_S = 10.0


def check_url(url, allowed_hosts: tuple[str, ...]) -> str | None:
    """The webhook URL, checked: http(s), a host, and on the allow-list when one is set."""
    if url is None or (isinstance(url, str) and not url.strip()):
        return None
    if not isinstance(url, str):
        raise WatchlistError("webhook", "give the URL as a string")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WatchlistError("webhook", f"{url!r} is not an http(s) URL with a host")
    if allowed_hosts and "*" not in allowed_hosts and parts.hostname.lower() not in allowed_hosts:
        raise WatchlistError("webhook", f"host {parts.hostname!r} is not in VIDSEARCH_WEBHOOK_HOSTS "
                                        f"({', '.join(allowed_hosts)})")
    return url.strip()


def backoff(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt."""
    return min(MAX_S, BASE_S * 2 ** max(0, attempts - 1))


def post(url: str, body: str, key: str, timeout: float = TIMEOUT_S) -> None:
    """One attempt; raises on anything but a 2xx answer."""
    req = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "Content-Type": "application/json", "Idempotency-Key": key, "User-Agent": "vidsearch-webhook"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 -- the URL was checked (check_url)
        if not 200 <= resp.status < 300:
            raise OSError(f"HTTP {resp.status}")


class Deliverer:
    """The background thread; :meth:`wake` after queueing, :meth:`stop` before closing the store."""

    def __init__(self, store, *, base_s: float = BASE_S) -> None:
        self.store = store
        self.base_s = base_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "Deliverer":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="vidsearch-webhooks", daemon=True)
            self._thread.start()
        return self

    def wake(self) -> None:
        self.start()
        self._wake.set()

    def stop(self, grace: float = 2.0) -> None:
        """Stop; what is due now gets up to ``grace`` seconds to go out first."""
        if self._thread is None:
            return
        deadline = time.time() + grace
        while time.time() < deadline and self.store.due(time.time()):
            time.sleep(0.05)
        self._stop.set()
        self._wake.set()
        self._thread.join(TIMEOUT_S + 1)
        self._thread = None

    def step(self) -> int:
        """Attempt every delivery that is due; returns how many were attempted."""
        due = self.store.due(time.time())
        for d in due:
            if self._stop.is_set():
                break
            try:
                post(d["url"], d["body"], d["idempotency_key"])
            except (OSError, urllib.error.URLError, ValueError) as exc:
                attempts = d["attempts"] + 1
                later = time.time() + self.base_s / BASE_S * backoff(attempts) if attempts < ATTEMPTS else None
                self.store.retry(d["id"], f"{type(exc).__name__}: {exc}", later)
                log.info("webhook %s: attempt %d failed: %s", d["url"], attempts, exc)
            else:
                self.store.delivered(d["id"])
        return len(due)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
                nxt = self.store.next_due()
            except Exception:  # the store closed under us, or a bug: log, keep the process alive
                log.exception("webhook delivery failed")
                nxt = None
            wait = 5.0 if nxt is None else max(0.01, min(5.0, nxt - time.time()))
            self._wake.wait(wait)
            self._wake.clear()


def alert_body(alert, watchlist) -> dict:
    return {"event": "alert", "watchlist": watchlist.name, "alert": alert.to_dict()}


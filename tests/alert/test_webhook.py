"""Webhooks against a real local HTTP receiver (http.server in a thread)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.alert.conftest import open_library
from vidsearch.alert.watchlist import WatchlistError


class Receiver:
    """Fails the first ``fail`` requests with 503; holds every answer until ``release`` is set."""

    def __init__(self, fail: int = 2):
        self.fail, self.requests, self.accepted = fail, [], {}
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.release.wait(30)
                key = self.headers.get("Idempotency-Key")
                receiver.requests.append((time.time(), key))
                if len(receiver.requests) <= receiver.fail:
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.accepted.setdefault(key, []).append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()


def test_an_alert_reaches_a_failing_receiver_once_and_the_ingest_does_not_wait(footage, encoders):
    rx = Receiver(fail=2)
    lib = open_library(footage.tmp / "data", encoders, VIDSEARCH_WEBHOOK_HOSTS="127.0.0.1")
    try:
        w = lib.watchlists.add("fractal", "image", image=str(footage.still), webhook=rx.url)
        t0 = time.time()
        [r] = list(lib.ingest([footage.a]))
        ingest_s = time.time() - t0
        assert r.status == "indexed"
        assert not rx.requests  # the receiver holds its answers: the ingest returned without waiting for it
        assert len(lib.watchlists.alerts()) == 1
        rx.release.set()
        deadline = time.time() + 30
        while not rx.accepted and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # nothing more comes after the success
        assert len(rx.requests) == 3 and len({k for _, k in rx.requests}) == 1  # the same key every attempt
        [(key, bodies)] = rx.accepted.items()
        assert len(bodies) == 1 and bodies[0]["alert"]["video_id"] == r.video_id and bodies[0]["watchlist"] == "fractal"
        gaps = [b - a for (a, _), (b, _) in zip(rx.requests, rx.requests[1:])]
        assert gaps[1] > gaps[0] * 1.5  # backoff grows
        state = lib.watchlists.describe(w)["delivery"]
        assert state == {"delivered": 1, "pending": 0, "failed": 0, "attempts": 3, "last_error": None}
        assert ingest_s < 60
    finally:
        lib.close()
        rx.close()


def test_failures_show_on_the_watchlist_and_the_allow_list_holds(footage, encoders):
    lib = open_library(footage.tmp / "data", encoders, VIDSEARCH_WEBHOOK_HOSTS="127.0.0.1")
    try:
        with pytest.raises(WatchlistError, match="VIDSEARCH_WEBHOOK_HOSTS"):
            lib.watchlists.add("x", "image", image=str(footage.still), webhook="http://169.254.169.254/latest")
        with pytest.raises(WatchlistError, match="http"):
            lib.watchlists.add("x", "image", image=str(footage.still), webhook="file:///etc/passwd")
        w = lib.watchlists.add("dead", "image", image=str(footage.still), webhook="http://127.0.0.1:9/nothing")
        list(lib.ingest([footage.a]))
        deadline = time.time() + 10
        while lib.watchlists.describe(w)["delivery"]["attempts"] < 2 and time.time() < deadline:
            time.sleep(0.1)
        state = lib.watchlists.describe(w)["delivery"]
        assert state["pending"] == 1 and state["attempts"] >= 2 and "refused" in state["last_error"].lower()
    finally:
        lib.close()

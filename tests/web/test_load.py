"""Load (issue 7): 50 concurrent clients for 60 s against the production server while it ingests.

The load generator is ``bench/load.py`` itself, run as a user runs it: a ``vidsearch serve`` child
process (waitress, embedded store, in-process ingestion of made videos under an allowed root),
clients on loopback, bounded in time and count. The figures go to ``docs/reliability.md``; this
test holds the guarantee: no request fails, no client hangs, every video queued during the load
gets indexed, and image searches still find the right video.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLIENTS = int(os.environ.get("VIDSEARCH_TEST_LOAD_CLIENTS", "50"))
SECONDS = float(os.environ.get("VIDSEARCH_TEST_LOAD_SECONDS", "60"))


def test_fifty_clients_for_a_minute_while_ingesting(tmp_path):
    out = tmp_path / "load.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "load.py"), "--clients", str(CLIENTS), "--seconds", str(SECONDS),
         "--frames", "0", "--made-videos", "--ingest-videos", "3", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=1400)
    assert out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    load = report["load"]
    assert load["clients"] == CLIENTS and load["wall_s"] >= SECONDS - 1
    assert load["errors"] == 0, load.get("first_errors")
    assert load["hung_clients"] == 0
    assert load["answered"] >= CLIENTS  # every client got answers, not one request each at best
    kinds = set(load["by_kind"])
    assert {"image", "text", "videos", "job", "health"} <= kinds, kinds
    first, total = map(int, load["image_real_video_first"].split("/"))
    assert total > 0 and first == total  # under load the answers stay right
    after = report["ingest_after"]
    assert after["done"] == after["jobs"] == 3, after
    assert report["videos_indexed"] == 4  # the video indexed before the server started, and the three
    assert proc.returncode == 0, proc.stderr[-2000:]

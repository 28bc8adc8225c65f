"""Memory and time of the worst query pictures (issue 13, docs/reliability.md "Hostile use (issue
13): query images"): each case in a fresh ``vidsearch serve`` process over an empty data folder.

After the models are loaded and one small search has run, the server's peak RSS is reset
(``/proc/PID/clear_refs`` 5, so VmHWM restarts from the current RSS); then the case's picture is
sent once alone, or by 3 clients at once, and the rise of VmHWM over the RSS before is reported
with the wall time of the slowest answer and the status codes.

    .venv/bin/python bench/image_bounds.py            # all cases, 1 and 3 at once (a few minutes on 2 cores)
"""
from __future__ import annotations

import argparse
import datetime
import io
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import api  # noqa: E402  (bench/api.py: start_server, wait_ready, stop_server)
from tests.media.test_image import png  # noqa: E402  (a PNG written row by row)


def cases() -> dict[str, tuple[str, bytes]]:
    Image.MAX_IMAGE_PIXELS = None
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 255, (1000, 1000, 3), dtype=np.uint8)).resize((10000, 10000))
    jpeg = io.BytesIO()
    noise.save(jpeg, "JPEG", quality=90)
    return {
        "999999x100 grey PNG": ("long.png", png(999999, 100)),
        "10000x10000 grey PNG": ("g10k.png", png(10000, 10000)),
        "7200x7200 RGB PNG": ("rgb7k.png", png(7200, 7200, colour=True)),
        "4480x224 grey PNG (20:1)": ("wide.png", png(4480, 224)),
        "10000x10000 JPEG": ("big.jpg", jpeg.getvalue()),
    }


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def post(host: str, port: int, name: str, data: bytes) -> tuple[int, float]:
    import http.client

    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=600)
    conn.request("POST", "/api/v1/search", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    r = conn.getresponse()
    r.read()
    conn.close()
    return r.status, time.perf_counter() - t0


def run_case(data_dir: Path, name: str, data: bytes, clients: int, small: bytes) -> dict:
    proc, host, port = api.start_server(data_dir, threads=4, VIDSEARCH_SEMANTIC="0", VIDSEARCH_MAX_QUERY_MB="64")
    try:
        api.wait_ready(host, port)
        assert post(host, port, "warm.png", small)[0] == 200
        pid = proc.pid
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        before = status_kb(pid, "VmRSS")
        answers: list[tuple[int, float]] = []
        threads = [threading.Thread(target=lambda: answers.append(post(host, port, name, data))) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return {"clients": clients, "statuses": sorted(s for s, _ in answers),
                "wall_s": round(max(w for _, w in answers), 2),
                "rss_before_mb": round(before / 1024), "peak_rise_mb": round((status_kb(pid, "VmHWM") - before) / 1024)}
    finally:
        api.stop_server(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 3])
    args = ap.parse_args()
    small = io.BytesIO()
    Image.new("RGB", (320, 240), (10, 120, 200)).save(small, "PNG")
    report = {"date": datetime.date.today().isoformat(),
              "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
              "cases": []}
    with tempfile.TemporaryDirectory() as tmp:
        for label, (name, data) in cases().items():
            for n in args.clients:
                row = {"case": label, "bytes": len(data), **run_case(Path(tmp) / "data", name, data, n, small.getvalue())}
                print(json.dumps(row), flush=True)
                report["cases"].append(row)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

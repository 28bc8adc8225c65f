"""`vidsearch serve`: a real process that owns the library until it is stopped."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_serve_owns_the_library_until_stopped(tmp_path):
    from vidsearch.config import Settings
    from vidsearch.index.lock import StoreLocked
    from vidsearch.library import Library

    data = tmp_path / "data"
    env = {**os.environ, "VIDSEARCH_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "vidsearch.cli", "serve", "--port", "0", "--threads", "2"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, f"no URL printed: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
        with urllib.request.urlopen(match.group(0) + "healthz", timeout=30) as r:
            assert json.load(r) == {"status": "ok", "videos": 0}
        settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(data)})
        with pytest.raises(StoreLocked):
            Library(settings)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
        assert "stopped" in proc.stdout.read()
        Library(settings).close()  # the lock was released
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

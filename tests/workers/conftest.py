"""Real Redis and real worker processes for the distributed-ingestion tests.

- ``redis_url``: the Redis at 127.0.0.1:6379 (database 13) when it answers, else a private
  ``redis-server`` on a free port. Every test gets its own key prefix (``prefix``), so test runs and
  other users of that Redis never see each other's keys; the prefix's keys are deleted afterwards.
- ``PrivateRedis``: a ``redis-server`` of the test's own (append-only file, so a restart keeps the
  data; ``persist=False``: none, so a restart loses everything), which the test may stop and start again.
- ``Workers``: ``vidsearch worker`` processes (``python -m vidsearch.cli worker``), started and
  waited for until they have loaded their models, stopped (and killed if need be) afterwards.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class PrivateRedis:
    def __init__(self, folder: Path, persist: bool = True):
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        self.exe = exe
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.persist = persist
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "PrivateRedis":
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             *(["--appendonly", "yes", "--appendfsync", "always"] if self.persist else ["--appendonly", "no"]),
             "--save", "", "--protected-mode", "no"],
            stdout=open(self.folder / "redis.log", "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not _answers("127.0.0.1", self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {(self.folder / 'redis.log').read_text()[-2000:]}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: Redis flushes its append-only file and exits
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture(scope="session")
def redis_base(tmp_path_factory):
    if _answers("127.0.0.1", 6379):
        yield "redis://127.0.0.1:6379/13"
        return
    server = PrivateRedis(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def prefix():
    return f"vstest-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def redis_url(redis_base, prefix):
    yield redis_base
    _drop_prefix(redis_base, prefix)


def _drop_prefix(url: str, prefix: str) -> None:
    import redis

    try:
        r = redis.Redis.from_url(url, socket_connect_timeout=2)
        keys = list(r.scan_iter(match=f"{prefix}:*", count=1000))
        for i in range(0, len(keys), 500):
            r.delete(*keys[i : i + 500])
    except Exception:
        pass


def worker_env(data_dir: Path, redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDSEARCH_")}
    env.update({
        "PYTHONPATH": str(REPO),
        "VIDSEARCH_DATA_DIR": str(data_dir),
        "VIDSEARCH_BROKER_URL": redis_url,
        "VIDSEARCH_REDIS_PREFIX": prefix,
        "VIDSEARCH_SEMANTIC": "0",
        "VIDSEARCH_DEVICE": "cpu",  # "auto" imports torch to look for CUDA: seconds per process
    })
    env.update({f"VIDSEARCH_{k.upper()}": str(v) for k, v in extra.items()})
    return env


def vidsearch(env: dict, *args: str, timeout: float = 240, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "vidsearch.cli", *args], env=env, cwd=REPO, capture_output=True,
                       text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"vidsearch {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


class Workers:
    """``n`` worker processes with ``env``; ``wait_ready`` blocks until each announced itself."""

    def __init__(self, env: dict, n: int, logs: Path, *args: str):
        self.env = env
        self.logs = logs
        self.args = args
        self.procs: list[subprocess.Popen] = []
        logs.mkdir(parents=True, exist_ok=True)
        for _ in range(n):
            self.add()

    def add(self) -> subprocess.Popen:
        log = open(self.logs / f"worker{len(self.procs)}.log", "ab")
        p = subprocess.Popen([sys.executable, "-m", "vidsearch.cli", "worker", *self.args], env=self.env, cwd=REPO,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        return p

    def ready(self, jobs) -> int:
        return len(jobs.workers())

    def wait_ready(self, jobs, n: int | None = None, timeout: float = 90) -> None:
        n = len([p for p in self.procs if p.poll() is None]) if n is None else n
        deadline = time.monotonic() + timeout
        while self.ready(jobs) < n:
            dead = [p for p in self.procs if p.poll() is not None]
            if time.monotonic() > deadline or (dead and len(dead) == len(self.procs)):
                raise AssertionError(f"{self.ready(jobs)}/{n} workers ready after {timeout} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, chars: int = 3000) -> str:
        return "\n".join(f"--- {f.name}\n{f.read_text(errors='replace')[-chars:]}" for f in sorted(self.logs.glob("*.log")))

    def kill_group(self, proc: subprocess.Popen) -> None:
        """``kill -9`` a worker and its pool processes."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 15
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            if p.poll() is None:
                self.kill_group(p)
            else:
                try:  # a pool process left behind by a killed parent
                    os.killpg(p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


def wait_for(cond, timeout: float, what: str, every: float = 0.05):
    """``cond()``'s first true value, polled every ``every`` s; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")

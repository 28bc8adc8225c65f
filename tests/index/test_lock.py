import os
import pickle
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vidsearch.index.lock import OwnerLock, StoreLocked, read_holder_pid

REPO = Path(__file__).resolve().parents[2]

HOLDER = textwrap.dedent(
    """
    import sys
    from vidsearch.index.lock import OwnerLock
    lock = OwnerLock(sys.argv[1]).acquire()
    print("locked", flush=True)
    sys.stdin.read()  # hold until the parent closes our stdin
    lock.release()
    """
)

TRY = textwrap.dedent(
    """
    import sys
    from vidsearch.index.lock import OwnerLock, StoreLocked
    try:
        OwnerLock(sys.argv[1]).acquire()
    except StoreLocked as err:
        print(f"LOCKED {err.pid} {err}")
        sys.exit(3)
    print("ACQUIRED")
    """
)


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


def _start_holder(lock_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_acquire_writes_pid_and_release(tmp_path):
    path = tmp_path / "data" / "owner.lock"
    lock = OwnerLock(path)
    assert not lock.held
    lock.acquire()
    assert lock.held
    assert read_holder_pid(path) == os.getpid()
    lock.acquire()  # the same object again: no-op
    lock.release()
    assert not lock.held
    lock.release()  # twice: no-op
    with OwnerLock(path) as again:
        assert again.held


def test_second_owner_in_same_process_is_refused(tmp_path):
    path = tmp_path / "owner.lock"
    with OwnerLock(path):
        with pytest.raises(StoreLocked) as info:
            OwnerLock(path).acquire()
        err = info.value
        assert err.folder == str(tmp_path)
        assert err.pid == os.getpid()
        assert str(tmp_path) in str(err)
        assert "in use" in str(err) and "VIDSEARCH_DATA_DIR" in str(err)
    OwnerLock(path).acquire().release()  # free again once released


def test_other_process_holder_is_named(tmp_path):
    path = tmp_path / "owner.lock"
    proc = _start_holder(path)
    try:
        with pytest.raises(StoreLocked) as info:
            OwnerLock(path).acquire()
        assert info.value.pid == proc.pid
        assert f"in use by another process (pid {proc.pid})" in str(info.value)
        assert str(tmp_path) in str(info.value)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    with OwnerLock(path):  # released by the child
        pass


def test_killed_holder_leaves_no_stale_lock(tmp_path):
    path = tmp_path / "owner.lock"
    proc = _start_holder(path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdin.close()
    proc.stdout.close()
    with OwnerLock(path):
        assert read_holder_pid(path) == os.getpid()


def test_other_process_is_refused_while_we_hold(tmp_path):
    path = tmp_path / "owner.lock"
    with OwnerLock(path):
        res = subprocess.run(
            [sys.executable, "-c", TRY, str(path)], capture_output=True, text=True, env=_env(), timeout=30
        )
        assert res.returncode == 3, res.stderr
        assert res.stdout.startswith(f"LOCKED {os.getpid()} ")
        assert str(tmp_path) in res.stdout
    res = subprocess.run([sys.executable, "-c", TRY, str(path)], capture_output=True, text=True, env=_env(), timeout=30)
    assert res.returncode == 0 and "ACQUIRED" in res.stdout, res.stderr


def test_store_locked_pickles_and_handles_unknown_pid(tmp_path):
    err = StoreLocked(tmp_path, 123)
    back = pickle.loads(pickle.dumps(err))
    assert (back.folder, back.pid, str(back)) == (err.folder, 123, str(err))
    assert "pid 123" in str(err)
    assert "another process" in str(StoreLocked(tmp_path, None))
    assert read_holder_pid(tmp_path / "missing.lock") is None

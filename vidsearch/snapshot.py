"""Snapshots of a data folder: the vectors, the catalog and the thumbnails together, as one tar file.

``vidsearch snapshot create`` writes ``<data>/snapshots/<name>.tar``; ``list`` shows them;
``restore NAME_OR_PATH`` puts one back into ``VIDSEARCH_DATA_DIR``, which must hold no index yet
(``--force`` replaces the one it holds). The archive holds:

``manifest.json`` (first member)
    ``format``, ``format_version``, ``vidsearch_version``, ``created`` (UTC, ISO 8601),
    ``created_unix``, ``source`` (the data folder), ``store`` and ``counts``: ``videos``,
    ``by_status``, ``frames`` and ``segments`` (points in the store), ``thumbnails`` (files).
``catalog.sqlite``
    a copy made with SQLite's backup API (one file, no WAL).
``watchlists.sqlite``
    the watchlists (with their taught words), alerts, marks and webhook queue, when there are any
    (a backup copy, as the catalog's).
``qdrant/...``
    the embedded Qdrant Edge shards, copied while no process has them open.
``thumbnails/<video id>/<segment>.jpg``

Consistency: ``create`` takes the data folder's :class:`~vidsearch.index.lock.OwnerLock` (so no
server, ingest or worker relay can write meanwhile), opens the store once (which replays what a
killed owner left in the write-ahead log), flushes and closes it, and only then copies the shard
files, backs up the catalog and copies the thumbnails, all under the same lock: the three parts
are of one moment. A running ``vidsearch serve`` owns the folder, so ``create`` and ``restore``
refuse with a clear error while it runs (stop it, snapshot, start it again); ``list`` works anyway.

Qdrant Edge preallocates its files (32 MB pages that are mostly holes); each member keeps only
the bytes up to its last non-zero byte, and a PAX header ``VIDSEARCH.size`` gives the length to
restore (the tail comes back as a hole), so a small index makes a small archive.

Restore never half-overwrites: the archive is checked (manifest, member names and types),
unpacked into a hidden folder inside the data folder, opened (the store's and the catalog's
counts must equal the manifest's), and only then moved into place with renames. With ``--force``
the previous index (``catalog.sqlite``, ``qdrant/``, ``thumbnails/``) is first moved aside and
deleted once the new one is in place; other files (``uploads/``, ``snapshots/``) stay.

The source video files are not in a snapshot: the catalog names them by path.

With ``VIDSEARCH_QDRANT_URL`` (a Qdrant server) the vectors are not in the data folder, and this
module refuses: snapshot the server's ``frames`` and ``segments`` collections with Qdrant's own
snapshot API and copy the catalog and thumbnails beside them (docs/reliability.md).
"""
from __future__ import annotations

import datetime as _dt
import errno
import io
import json
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from vidsearch.config import Settings
from vidsearch.index.lock import OwnerLock, StoreLocked

FORMAT = "vidsearch-snapshot"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CATALOG = "catalog.sqlite"
QDRANT = "qdrant"
THUMBNAILS = "thumbnails"
WATCHLISTS = "watchlists.sqlite"
SNAPSHOTS = "snapshots"
SIZE_KEY = "VIDSEARCH.size"  # PAX header: the file's length when its zero tail was left out
INDEX_ENTRIES = (CATALOG, f"{CATALOG}-wal", f"{CATALOG}-shm", f"{CATALOG}-journal", QDRANT, THUMBNAILS,
                 WATCHLISTS, f"{WATCHLISTS}-wal", f"{WATCHLISTS}-shm")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_BLOCK = 1 << 20


class SnapshotError(RuntimeError):
    """A snapshot cannot be made, read or restored; the message says why and what to do."""


@dataclass
class SnapshotInfo:
    path: Path
    manifest: dict

    @property
    def name(self) -> str:
        return self.path.name[:-4] if self.path.name.endswith(".tar") else self.path.name

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def to_dict(self) -> dict:
        return {"name": self.name, "path": str(self.path), "size": self.size, **self.manifest}


def snapshots_dir(settings: Settings) -> Path:
    return settings.data_dir / SNAPSHOTS


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("vidsearch")
    except Exception:  # running from a checkout that is not installed
        return "unknown"


def _embedded_only(settings: Settings, what: str) -> None:
    if settings.qdrant_url:
        raise SnapshotError(
            f"cannot {what} a snapshot with VIDSEARCH_QDRANT_URL={settings.qdrant_url}: the vectors live in that "
            f"Qdrant, not in the data folder. Snapshot its collections 'frames' and 'segments' with Qdrant's own "
            f"snapshot API (POST /collections/<name>/snapshots; restore with PUT /collections/<name>/snapshots/recover) "
            f"and, at the same moment, copy {settings.catalog_path} (sqlite3 .backup) and {settings.thumbnails_dir}"
        )


def _locked(settings: Settings, what: str) -> OwnerLock:
    """The data folder's owner lock, or a clear error naming who holds it."""
    lock = OwnerLock(settings.lock_path)
    try:
        return lock.acquire()
    except StoreLocked as exc:
        who = f"process {exc.pid}" if exc.pid else "another process"
        try:
            from vidsearch.remote import server_info

            info = server_info(settings)
        except Exception:
            info = None
        if info is not None:
            who = f"the vidsearch server at {info['url']} (pid {info['pid']})"
        raise SnapshotError(
            f"cannot {what} a snapshot: the data folder {settings.data_dir} is in use by {who}. A snapshot copies the "
            f"vectors, the catalog and the thumbnails at one moment, which needs the folder to itself: stop it, run "
            f"`vidsearch snapshot {what}`, then start it again"
        ) from None


# -- create ------------------------------------------------------------------------------------
def _last_data_end(fd: int, size: int) -> int:
    """Where the file's last data extent ends (only holes after it); ``size`` when the file system
    cannot tell (no SEEK_DATA)."""
    last = pos = 0
    try:
        while pos < size:
            data = os.lseek(fd, pos, os.SEEK_DATA)
            last = pos = os.lseek(fd, data, os.SEEK_HOLE)
    except OSError as exc:
        if exc.errno != errno.ENXIO:  # ENXIO: no data after pos
            return size
    return min(size, last)


def _data_length(path: Path) -> int:
    """The length of ``path`` without its trailing zero bytes (holes are skipped, not read)."""
    with open(path, "rb") as f:
        end = _last_data_end(f.fileno(), os.fstat(f.fileno()).st_size)
        while end > 0:
            start = max(0, end - _BLOCK)
            f.seek(start)
            kept = f.read(end - start).rstrip(b"\0")
            if kept:
                return start + len(kept)
            end = start
    return 0


def _files(root: Path, prefix: str) -> list[tuple[str, Path]]:
    out = []
    if root.is_dir():
        for p in sorted(root.rglob("*")):
            if p.is_file() and not p.is_symlink():
                out.append((f"{prefix}/{p.relative_to(root).as_posix()}", p))
    return out


def _catalog_counts(path: Path) -> dict:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT status, COUNT(*) FROM videos GROUP BY status").fetchall()
        return {"videos": sum(n for _, n in rows), "by_status": {s: n for s, n in sorted(rows)}}
    finally:
        db.close()


def _unique_path(folder: Path, name: str | None) -> Path:
    if name is not None:
        if name.endswith(".tar"):
            name = name[:-4]
        if not _NAME.match(name):
            raise SnapshotError(f"snapshot name {name!r}: use letters, digits, '.', '_' and '-' (at most 100)")
        path = folder / f"{name}.tar"
        if path.exists():
            raise SnapshotError(f"a snapshot named {name!r} already exists: {path}")
        return path
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("snapshot-%Y%m%d-%H%M%S")
    path, n = folder / f"{stamp}.tar", 2
    while path.exists():
        path, n = folder / f"{stamp}-{n}.tar", n + 1
    return path


def create_snapshot(settings: Settings, *, name: str | None = None) -> SnapshotInfo:
    """Write ``<data>/snapshots/<name>.tar`` (default name: ``snapshot-<UTC time>``) and return it."""
    _embedded_only(settings, "create")
    if not settings.catalog_path.exists():
        raise SnapshotError(f"nothing to snapshot: {settings.data_dir} holds no catalog (nothing was ingested there)")
    folder = snapshots_dir(settings)
    lock = _locked(settings, "create")
    try:
        from vidsearch.index.store import open_store

        store = open_store(settings)  # replays what a killed owner left in the WAL
        try:
            store.flush()
            frames, segments = store.count_frames(), store.count_segments()
        finally:
            store.close()  # quiesced: nothing has the shard files open while they are copied
        folder.mkdir(parents=True, exist_ok=True)
        path = _unique_path(folder, name)
        with tempfile.TemporaryDirectory(prefix=".snapshot-", dir=folder) as tmp:
            catalog_copy = Path(tmp) / CATALOG
            src = sqlite3.connect(settings.catalog_path)
            dst = sqlite3.connect(catalog_copy)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            finally:
                dst.close()
                src.close()
            members = [(CATALOG, catalog_copy)]
            if settings.watchlists_path.exists():
                watch_copy = Path(tmp) / WATCHLISTS
                _backup(settings.watchlists_path, watch_copy)
                members.append((WATCHLISTS, watch_copy))
            members += [*_files(settings.qdrant_path, QDRANT),
                       *_files(settings.thumbnails_dir, THUMBNAILS)]
            now = time.time()
            manifest = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "vidsearch_version": _version(),
                "created": _dt.datetime.fromtimestamp(now, _dt.timezone.utc).isoformat(timespec="seconds"),
                "created_unix": now,
                "source": str(settings.data_dir),
                "store": "qdrant-edge",
                "counts": {**_catalog_counts(catalog_copy), "frames": frames, "segments": segments,
                           "thumbnails": sum(1 for m, _ in members if m.startswith(THUMBNAILS + "/"))},
                "files": len(members),
            }
            partial = path.with_name(path.name + ".partial")
            try:
                _write_tar(partial, manifest, members)
                os.replace(partial, path)
            finally:
                partial.unlink(missing_ok=True)
        _fsync_dir(folder)
    finally:
        lock.release()
    return SnapshotInfo(path, manifest)


def _backup(src_path: Path, dst_path: Path) -> None:
    """A one-file copy of a live SQLite database (its backup API; no WAL)."""
    src, dst = sqlite3.connect(src_path), sqlite3.connect(dst_path)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()


def _write_tar(path: Path, manifest: dict, members: list[tuple[str, Path]]) -> None:
    with open(path, "wb") as raw:
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            blob = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(blob), int(manifest["created_unix"]), 0o644
            tar.addfile(info, io.BytesIO(blob))
            for arcname, file in members:
                st = file.stat()
                kept = _data_length(file) if arcname.startswith(QDRANT + "/") else st.st_size
                info = tarfile.TarInfo(arcname)
                info.size, info.mtime, info.mode = kept, int(st.st_mtime), 0o644
                if kept != st.st_size:
                    info.pax_headers = {SIZE_KEY: str(st.st_size)}
                with open(file, "rb") as f:
                    tar.addfile(info, f)
        raw.flush()
        os.fsync(raw.fileno())


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- read --------------------------------------------------------------------------------------
def read_manifest(path: Path) -> dict:
    try:
        with tarfile.open(path, mode="r:") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST or not first.isfile():
                raise SnapshotError(f"{path} is not a vidsearch snapshot (no {MANIFEST} first)")
            manifest = json.loads(tar.extractfile(first).read())
    except (tarfile.TarError, OSError, ValueError) as exc:
        raise SnapshotError(f"{path} is not a readable vidsearch snapshot: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SnapshotError(f"{path} is not a vidsearch snapshot (its manifest has no format {FORMAT!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise SnapshotError(f"{path} is a snapshot of format version {manifest.get('format_version')}; "
                            f"this vidsearch ({_version()}) reads version {FORMAT_VERSION}")
    return manifest


def list_snapshots(settings: Settings) -> list[SnapshotInfo | tuple[Path, str]]:
    """The snapshots in ``<data>/snapshots``, oldest first; an unreadable one as ``(path, why)``."""
    folder = snapshots_dir(settings)
    out: list = []
    for path in sorted(folder.glob("*.tar")) if folder.is_dir() else []:
        try:
            out.append(SnapshotInfo(path, read_manifest(path)))
        except SnapshotError as exc:
            out.append((path, str(exc)))
    return out


def find_snapshot(settings: Settings, name_or_path: str | os.PathLike) -> Path:
    given = Path(name_or_path).expanduser()
    if given.is_file():
        return given.resolve()
    folder = snapshots_dir(settings)
    for candidate in (folder / str(name_or_path), folder / f"{name_or_path}.tar"):
        if candidate.is_file():
            return candidate
    known = ", ".join(p.name[:-4] for p in sorted(folder.glob("*.tar"))) if folder.is_dir() else ""
    raise SnapshotError(f"no snapshot {str(name_or_path)!r} (neither a file nor a name in {folder})"
                        + (f"; there: {known}" if known else ""))


# -- restore -----------------------------------------------------------------------------------
def _member_path(name: str) -> PurePosixPath:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or not p.parts or p.parts[0] not in (MANIFEST, CATALOG, QDRANT, THUMBNAILS, WATCHLISTS):
        raise SnapshotError(f"the snapshot has an unexpected member {name!r}: refusing it")
    return p


def _declared_length(member: tarfile.TarInfo, room: int) -> int:
    """The length to restore ``member`` to: its ``VIDSEARCH.size`` (a whole number, at least the
    bytes it holds, at most ``room``: the size of the file system it goes to), else its size."""
    raw = member.pax_headers.get(SIZE_KEY)
    if raw is None:
        return member.size
    if not (raw.isascii() and raw.isdigit()):
        raise SnapshotError(f"the snapshot member {member.name!r} is damaged: its size header "
                            f"{SIZE_KEY}={raw[:40]!r} is not a whole number of bytes")
    length = int(raw)
    if length < member.size:
        raise SnapshotError(f"the snapshot member {member.name!r} is damaged (size header)")
    if length > room:
        raise SnapshotError(f"the snapshot member {member.name!r} declares a size of {length} bytes "
                            f"({SIZE_KEY}), more than the whole file system it would be restored to holds "
                            f"({room} bytes): a damaged or crafted snapshot; refusing it")
    return length


def _extract(path: Path, into: Path) -> None:
    st = os.statvfs(into)
    room = st.f_blocks * st.f_frsize
    try:
        with tarfile.open(path, mode="r:") as tar:
            for member in tar:
                _extract_member(tar, member, into, room)
    except tarfile.TarError as exc:  # e.g. a member's declared size runs past the end of the file
        raise SnapshotError(f"{path} is damaged and cannot be restored: {exc}") from None


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, into: Path, room: int) -> None:
    rel = _member_path(member.name)
    if member.isdir():
        (into / rel).mkdir(parents=True, exist_ok=True)
        return
    if not member.isfile():
        raise SnapshotError(f"the snapshot member {member.name!r} is not a plain file: refusing it")
    if rel.parts[0] == MANIFEST:
        return
    target = into / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    length = _declared_length(member, room)
    try:
        with tar.extractfile(member) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, _BLOCK)
            dst.truncate(length)  # the zero tail comes back as a hole
            dst.flush()
            os.fsync(dst.fileno())
    except OSError as exc:  # EFBIG, ENOSPC, EIO...: say which member, and why
        raise SnapshotError(f"cannot restore the snapshot member {member.name!r} ({length} bytes): "
                            f"{exc.strerror or exc}") from None


def _verify(settings: Settings, staged: Path, manifest: dict) -> None:
    """Open what was unpacked: its counts must be the manifest's."""
    want = manifest.get("counts") or {}
    if not (staged / CATALOG).is_file():
        raise SnapshotError("the snapshot has no catalog")
    db = sqlite3.connect(staged / CATALOG)
    try:
        if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise SnapshotError("the snapshot's catalog fails SQLite's integrity check")
    finally:
        db.close()
    have = _catalog_counts(staged / CATALOG)
    from vidsearch.index.store import open_store

    store = open_store(settings.with_(data_dir=staged, qdrant_url=None))
    try:
        have.update(frames=store.count_frames(), segments=store.count_segments())
    finally:
        store.close()
    have["thumbnails"] = len(_files(staged / THUMBNAILS, THUMBNAILS))
    wrong = {k: (want.get(k), v) for k, v in have.items() if want.get(k) != v}
    if wrong:
        raise SnapshotError("the snapshot does not hold what its manifest counts: "
                            + ", ".join(f"{k} {w} in the manifest, {h} in the files" for k, (w, h) in wrong.items()))


def restore_snapshot(settings: Settings, name_or_path: str | os.PathLike, *, force: bool = False) -> SnapshotInfo:
    """Put a snapshot's index into ``settings.data_dir``. Refuses a folder that holds an index
    unless ``force`` (which replaces it); either the whole snapshot is in place afterwards, or,
    on an error, the folder is as it was."""
    _embedded_only(settings, "restore")
    path = find_snapshot(settings, name_or_path)
    manifest = read_manifest(path)
    data = settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    lock = _locked(settings, "restore")
    try:
        present = [data / e for e in INDEX_ENTRIES if (data / e).exists() or (data / e).is_symlink()]
        if present and not force:
            raise SnapshotError(
                f"{data} already holds an index ({', '.join(p.name for p in present)}): restore into an empty data "
                f"folder (VIDSEARCH_DATA_DIR), or pass --force to replace it")
        staged = Path(tempfile.mkdtemp(prefix=".restore-", dir=data))
        try:
            _extract(path, staged)
            _verify(settings, staged, manifest)
            aside = Path(tempfile.mkdtemp(prefix=".replaced-", dir=data))
            moved_out: list[Path] = []
            moved_in: list[Path] = []
            try:
                for p in present:
                    os.rename(p, aside / p.name)
                    moved_out.append(p)
                for entry in (CATALOG, QDRANT, THUMBNAILS, WATCHLISTS):
                    if (staged / entry).exists():
                        os.rename(staged / entry, data / entry)
                        moved_in.append(data / entry)
                _fsync_dir(data)
            except BaseException:  # put the old index back
                for p in moved_in:
                    os.rename(p, staged / p.name)
                for p in moved_out:
                    os.rename(aside / p.name, p)
                raise
            shutil.rmtree(aside, ignore_errors=True)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
    finally:
        lock.release()
    return SnapshotInfo(path, manifest)

"""Opening the files the server sends (a video's stream, segment thumbnails): never through a link swapped in.

A catalog path is only a name: after a video was indexed, whoever can write under an allowed root
can replace the file by a symbolic link (to ``/etc/passwd``, to ``server.json`` and its token, to
``catalog.sqlite``). Every file the server sends is therefore opened here, and sent from the open
file object, never by name again:

1. the recorded path is resolved; gone: 404;
2. its real location must still fit what was indexed: never inside the data folder (except an upload
   in the upload folder), an upload still in the upload folder, and a path under an allowed root
   still under one (a path outside every root was named by the trusted local CLI, which may index
   any file it can read: it is only held to the rest);
3. the real path is opened one component at a time, each relative to the folder before it, with
   ``O_NOFOLLOW`` (:func:`open_no_links`): a link swapped in after step 1 fails the open instead of
   being followed;
4. the open file's ``fstat`` must be a regular file of the recorded size and modification time.

2-4 failing answers 409 ``file_changed``: the file is no longer the one that was indexed (index it
again). :func:`send_opened` sends the open file with Range (206, 416) and conditional requests
answered from that same ``fstat``. See docs/reliability.md, "Hostile use (issue 13): served files".
Exports (clip, frame) and playable copies read the same opened file: ffmpeg and PyAV are given
``/dev/fd/N``, which opens the file that descriptor holds, never the path again (web/api/videos.py).
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Sequence

from flask import request, send_file

from web.errors import ApiError

MTIME_SLACK = 1e-3  # seconds: the catalog keeps st_mtime as a float (as refine does)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: a FIFO cannot hang the open


class LinkInPath(OSError):
    """A component of a path that was resolved is (now) a symbolic link, or no longer a folder."""


@dataclass
class Opened:
    """A file opened for sending: the file object, its ``fstat`` and the real path it was opened at."""

    file: BinaryIO
    stat: os.stat_result
    path: Path

    @property
    def etag(self) -> str:
        st = self.stat
        return hashlib.blake2b(f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}".encode(),
                               digest_size=10).hexdigest()

    def close(self) -> None:
        self.file.close()


def open_no_links(path: str | Path) -> Opened:
    """Open the absolute, already resolved ``path`` read-only without following any link: every
    component is opened relative to its parent's descriptor with ``O_NOFOLLOW``. Raises
    :class:`LinkInPath` when a component is a link (or not a folder), ``FileNotFoundError`` when one is
    missing, another ``OSError`` when it cannot be read."""
    path = Path(path)
    if not path.is_absolute():
        raise ValueError(f"not an absolute path: {path}")
    parts = path.parts[1:]
    if not parts:
        raise IsADirectoryError(errno.EISDIR, "a folder", str(path))
    fd = os.open(path.anchor, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name in parts[:-1]:
            try:
                parent, fd = fd, os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise _link_error(exc, path) from None
            os.close(parent)
        try:
            fileno = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
        except OSError as exc:
            raise _link_error(exc, path) from None
    finally:
        os.close(fd)
    try:
        st = os.fstat(fileno)
        f = os.fdopen(fileno, "rb")
    except BaseException:
        os.close(fileno)
        raise
    return Opened(f, st, path)


def _link_error(exc: OSError, path: Path) -> OSError:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return LinkInPath(exc.errno, "a symbolic link (or a file where a folder was) in the path", str(path))
    return exc


def _under(path: Path, folders: Sequence[Path]) -> bool:
    return any(path == f or path.is_relative_to(f) for f in folders)


def _real(folder: Path) -> Path:
    return Path(os.path.realpath(folder))


def open_indexed(record, settings, *, shown: str | None = None) -> Opened:
    """The file of the catalog ``record`` (a :class:`vidsearch.catalog.VideoRecord`), opened, and
    checked to be the file that was indexed (module notes). Raises :class:`ApiError` 404
    ``file_missing`` or 409 ``file_changed``; ``shown`` names the file in those messages."""
    name = shown or os.path.basename(record.path)
    video = f"video {record.id!r} ({name})"
    recorded = Path(os.path.normpath(os.path.abspath(record.path)))
    try:
        real = Path(os.path.realpath(recorded, strict=True))
    except FileNotFoundError:
        raise ApiError(404, "file_missing", f"the file of {video} is no longer on disk") from None
    except OSError:  # a link loop
        raise _changed(video, "its path is a loop of symbolic links") from None
    data, uploads = _real(settings.data_dir), _real(settings.uploads_dir)
    in_uploads = _under(real, [uploads])
    if _under(real, [data]) and not in_uploads:
        raise _changed(video, "it now leads into the server's data folder")
    if _under(recorded, [settings.uploads_dir, uploads]) and not in_uploads:
        raise _changed(video, "the upload now leads out of the upload folder")
    roots = settings.allowed_roots
    if roots and _under(recorded, roots) and not _under(real, roots):
        raise _changed(video, "it now leads outside the allowed roots (VIDSEARCH_ALLOWED_ROOTS)")
    try:
        opened = open_no_links(real)
    except FileNotFoundError:
        raise ApiError(404, "file_missing", f"the file of {video} is no longer on disk") from None
    except LinkInPath:
        raise _changed(video, "a symbolic link was swapped into its path") from None
    except OSError as exc:
        raise ApiError(404, "file_missing", f"the file of {video} cannot be read: {exc.strerror}") from None
    st = opened.stat
    problem = None
    if not stat.S_ISREG(st.st_mode):
        problem = "it is no longer a regular file"
    elif (record.size and st.st_size != record.size) or (record.mtime and abs(st.st_mtime - record.mtime) > MTIME_SLACK):
        problem = "its size or modification time differs from the indexed file's"
    if problem is not None:
        opened.close()
        raise _changed(video, problem)
    return opened


def _changed(video: str, why: str) -> ApiError:
    return ApiError(409, "file_changed",
                    f"the file of {video} is no longer the file that was indexed: {why}; index it again")


def open_data_file(folder: Path, *names: str) -> Opened | None:
    """``folder/names...`` (a file the server wrote into its data folder, e.g. a thumbnail), opened
    without following links; None when it is missing, a link, or not a regular file."""
    try:
        opened = open_no_links(_real(folder).joinpath(*names))
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(opened.stat.st_mode):
        opened.close()
        return None
    return opened


def send_opened(opened: Opened, *, mimetype: str, max_age: int):
    """The response that sends ``opened`` (closed once sent): its length, ``Last-Modified`` and
    ``ETag`` come from its ``fstat``, and Range (206, 416) and conditional (304) requests are answered
    as ``send_file(path, conditional=True)`` would."""
    st = opened.stat
    try:
        rv = send_file(opened.file, mimetype=mimetype, conditional=False, etag=opened.etag,
                       last_modified=st.st_mtime, max_age=max_age)
        rv.content_length = st.st_size  # unknown to send_file for a file object: Range needs it
        return rv.make_conditional(request.environ, accept_ranges=True, complete_length=st.st_size)
    except BaseException:
        opened.close()
        raise

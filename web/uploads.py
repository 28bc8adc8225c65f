"""Video uploads: streamed to disk in the upload folder, hashed on the way, stored under generated names.

The multipart parser writes an uploaded file through :class:`HashingFile` straight into a hidden
temporary file inside the upload folder (``.part-*``, deleted when closed, so an aborted or refused
upload leaves nothing behind). Once the body is complete, :func:`keep_upload` gives it its final
name ``<uploads>/<random token>/<sanitised name>`` with a hard link: the user's file name is only
ever used after :func:`safe_name` and only as the last component, inside a folder whose name the
server generated. The content hash (the catalog's video id, :func:`vidsearch.catalog.content_id`)
is computed while the bytes are written, so the answer can name the video without reading the file
again.

:func:`sweep_uploads` (run by ``serve`` at start) removes what a killed server left: ``.part-*``
files (a ``kill -9`` mid-upload skips their deletion) and generated folders that no catalog record
and no queued job refers to.

(waitress, like most WSGI servers, receives the whole request body before the application runs, and
spools large bodies to its own temporary file first; see the README's production notes.)
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterable

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.utils import secure_filename

from web.errors import ApiError

UPLOAD_DIR_KEY = "vidsearch.upload_dir"  # set in the WSGI environ by the view that accepts uploads
MAX_NAME = 120
STALE_S = 15 * 60  # an upload part or folder untouched this long is no one's (waitress drops silent clients in 120 s)
_FOLDER = re.compile(r"[0-9a-f]{16}")  # the folders keep_upload generates (secrets.token_hex(8))


class HashingFile:
    """A writable temporary file that hashes what is written (BLAKE2b-64, as ``content_id``)."""

    def __init__(self, folder: Path) -> None:
        self._file = tempfile.NamedTemporaryFile(dir=folder, prefix=".part-", suffix=".upload")
        self._hash = hashlib.blake2b(digest_size=8)
        self.size = 0

    def write(self, data) -> int:
        self._hash.update(data)
        self.size += len(data)
        return self._file.write(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    @property
    def name(self) -> str:
        return self._file.name

    def __getattr__(self, name: str):  # read, seek, tell, flush, close, fileno, ...
        return getattr(self._file, name)

    def __iter__(self):
        return iter(self._file)


class _CountingStream:
    """The request body as the form parser reads it, counting the bytes and the multipart
    delimiters (``--boundary``: one per part, and the closing one) read so far."""

    def __init__(self, stream, boundary: bytes) -> None:
        self._stream, self._delimiter = stream, b"--" + boundary
        self._tail = b""
        self.read_bytes = self.delimiters = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.read_bytes += len(data)
        if self._delimiter != b"--":
            seen = self._tail + data
            self.delimiters += seen.count(self._delimiter) - self._tail.count(self._delimiter)
            self._tail = seen[-(len(self._delimiter) - 1):]
        return data

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


class _FormParser(FormDataParser):
    """werkzeug's form parser, except that a form over ``max_form_parts`` or with a field over
    ``max_form_memory_size`` is a 413 that names that limit (werkzeug's own says nothing, and the
    app's 413 message names the body size limit, which such a form is within)."""

    def parse(self, stream, mimetype, content_length, options=None):
        if mimetype != "multipart/form-data":
            return super().parse(stream, mimetype, content_length, options)
        counted = _CountingStream(stream, (options or {}).get("boundary", "").encode("ascii", "replace"))
        try:
            _, form, files = super().parse(counted, mimetype, content_length, options)
        except RequestEntityTooLarge:
            if self.max_content_length is not None and counted.read_bytes > self.max_content_length:
                raise  # the body itself is over the limit (a body of unknown length)
            if self.max_form_parts is not None and counted.delimiters > self.max_form_parts:
                raise ApiError(413, "payload_too_large", f"the form has more than {self.max_form_parts} parts, "
                                                         f"the limit (max_form_parts)") from None
            raise ApiError(413, "payload_too_large",
                           f"a form field (not a file) or a part's headers larger than the limit of "
                           f"{self.max_form_memory_size} bytes (max_form_memory_size); send large data "
                           f"as a file part") from None
        return stream, form, files


class UploadRequest(Request):
    """Flask's request, except that file parts of a request whose view set :data:`UPLOAD_DIR_KEY`
    go to a :class:`HashingFile` in that folder (instead of a temporary file in ``/tmp``), and that
    a form over werkzeug's part count or field size limit is a 413 naming that limit."""

    form_data_parser_class = _FormParser

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        folder = self.environ.get(UPLOAD_DIR_KEY)
        if folder is None:
            return super()._get_file_stream(total_content_length, content_type, filename, content_length)
        return HashingFile(Path(folder))


def safe_name(filename: str | None, default: str = "video") -> str:
    """A file name that is safe as the last component of a path: ASCII letters, digits, ``._-``,
    no leading dot, at most :data:`MAX_NAME` characters, extension kept."""
    name = secure_filename(filename or "").lstrip("._")
    if not name:
        suffix = Path(filename or "").suffix
        suffix = secure_filename(suffix) if suffix else ""
        name = default + (suffix if suffix.startswith(".") else "")
    if len(name) > MAX_NAME:
        stem, suffix = os.path.splitext(name)
        suffix = suffix[:16]
        name = stem[: MAX_NAME - len(suffix)] + suffix
    return name


def keep_upload(part: HashingFile, uploads_dir: Path, filename: str | None) -> Path:
    """Give a completely received upload its final, generated path; the temporary file goes away
    when ``part`` is closed."""
    part.flush()
    folder = uploads_dir / secrets.token_hex(8)
    folder.mkdir(mode=0o750)
    final = folder / safe_name(filename)
    try:
        os.link(part.name, final)
    except OSError:  # a file system without hard links: copy instead
        part.seek(0)
        with open(final, "wb") as out:
            shutil.copyfileobj(part, out, 1 << 20)
    return final


def remove_upload(path: str | Path, uploads_dir: Path) -> bool:
    """Delete an uploaded file and its generated folder; refuses anything outside ``uploads_dir``."""
    root = uploads_dir.resolve()
    path = Path(path)
    if path.is_symlink() or not path.resolve().is_relative_to(root) or path.resolve() == root:
        return False
    path = path.resolve()
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    folder = path.parent
    if folder != root and folder.parent == root:
        try:
            folder.rmdir()  # only when empty
        except OSError:
            pass
    return True


def is_upload(path: str | Path, uploads_dir: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(uploads_dir.resolve())
    except OSError:
        return False


def check_video(path: str | Path, name: str) -> None:
    """Refuse (MediaError) a file that is not a video: unreadable, or a still picture (ffmpeg reads
    PNG, JPEG, WebP... as one-frame "videos")."""
    from vidsearch.media import MediaError, probe

    info = probe(path)
    if info.container.endswith("_pipe") or info.container == "image2" or info.frame_count <= 1:
        raise MediaError(name, f"a still picture ({info.codec}), not a video")


def free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def sweep_uploads(uploads_dir: Path, in_use: Iterable[str | Path], *, stale_after: float = STALE_S) -> tuple[int, int]:
    """Remove the ``.part-*.upload`` files and the generated upload folders holding none of the files
    ``in_use``, of those untouched for ``stale_after`` seconds (0: all of them; for a process that
    owns the data folder, so no other server is writing there). Returns (files, bytes) removed."""
    root = uploads_dir.resolve()
    if not root.is_dir():
        return 0, 0
    used = set()
    for p in in_use:
        try:
            used.add(Path(p).resolve())
        except OSError:
            pass
    now = time.time()
    files = size = 0

    def stale(st: os.stat_result) -> bool:
        return now - st.st_mtime >= stale_after

    for entry in os.scandir(root):
        try:
            if entry.is_file(follow_symlinks=False) and entry.name.startswith(".part-") and entry.name.endswith(".upload"):
                st = entry.stat(follow_symlinks=False)
                if stale(st):
                    os.unlink(entry.path)
                    files, size = files + 1, size + st.st_size
            elif entry.is_dir(follow_symlinks=False) and _FOLDER.fullmatch(entry.name):
                folder = Path(entry.path)
                inside = list(folder.iterdir())
                if any(p.resolve() in used for p in inside):
                    continue
                stats = [p.lstat() for p in inside] + [entry.stat(follow_symlinks=False)]
                if all(stale(st) for st in stats):
                    shutil.rmtree(folder)
                    files += sum(1 for p in inside if not p.is_dir())
                    size += sum(st.st_size for p, st in zip(inside, stats) if not p.is_dir())
        except OSError:  # gone meanwhile, or not ours to remove: leave it
            continue
    return files, size

"""Server-side path ingestion, confined to the configured roots (``VIDSEARCH_ALLOWED_ROOTS``).

A requested path must be absolute, must not contain ``..``, must lie under a root as written, and
must still lie under a root once every symlink is resolved (a link that points out is refused).
Inside a folder, files whose real location is outside the roots are skipped the same way. With no
roots configured, path ingestion is refused altogether.

The one exception is the local CLI (:mod:`vidsearch.remote`): it proves that it can read the data
folder (the token in ``server.json``), so it could open the library itself if the server were not
running, and may name any file the server can read.

:func:`public_path` is how a server path is shown to a caller who is not trusted (search results,
videos, jobs): relative to the allowed root it lies under, else only its file name.
"""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Sequence

from vidsearch.ingest.discover import discover
from web.errors import ApiError


def _under(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _forbidden(message: str) -> ApiError:
    return ApiError(403, "path_not_allowed", message)


def check_path(raw: object, roots: Sequence[Path], *, trusted: bool = False) -> Path:
    """The real path of an allowed, existing file or folder; raises :class:`ApiError` 400/403/404."""
    if not isinstance(raw, str) or not raw.strip() or "\0" in raw:
        raise ApiError(400, "bad_path", "'path' must be a non-empty string")
    if not os.path.isabs(raw):
        raise ApiError(400, "bad_path", "'path' must be an absolute path on the server")
    if ".." in PurePosixPath(raw).parts or ".." in Path(raw).parts:
        raise _forbidden("'..' is not allowed in a path")
    if not trusted and not roots:
        raise _forbidden("server-side path ingestion is disabled (set VIDSEARCH_ALLOWED_ROOTS)")
    path = Path(os.path.normpath(raw))
    if not trusted and not _under(path, roots):
        raise _forbidden("the path is not under an allowed root (VIDSEARCH_ALLOWED_ROOTS)")
    if not os.path.lexists(path):
        raise ApiError(404, "path_not_found", f"no such file or folder: {path}")
    real = path.resolve()
    if not trusted and not _under(real, roots):
        raise _forbidden("the path leads outside the allowed roots (symbolic link)")
    if not (real.is_file() or real.is_dir()):
        raise ApiError(400, "bad_path", f"not a regular file or folder: {path}")
    return path if trusted else real  # the CLI's paths stay as it names them, like a local ingest


def files_under(folder: Path, roots: Sequence[Path], *, trusted: bool = False) -> tuple[list[Path], list[str]]:
    """The video files of a folder (as ``vidsearch ingest`` finds them) that really lie under the
    roots, and the paths that were skipped because a link leads out."""
    kept, refused = [], []
    for f in discover([folder]):
        real = f.resolve()
        if trusted or _under(real, roots):
            kept.append(f if trusted else real)
        else:
            refused.append(str(f))
    return kept, refused


def public_path(path: str | Path, roots: Sequence[Path], *, data_dir: Path | None = None,
                uploads_dir: Path | None = None) -> str:
    """``path`` without the server's folders: relative to the (innermost) allowed root it lies under;
    a file the server wrote into its data folder (a thumbnail) relative to that folder; anything else
    (an upload, a file the local CLI indexed) only its file name."""
    p = Path(os.path.normpath(os.path.abspath(path)))
    if uploads_dir is not None and _under(p, [uploads_dir, uploads_dir.resolve()]):
        return p.name
    for folder in sorted(roots, key=lambda r: len(r.parts), reverse=True):
        if p != folder and p.is_relative_to(folder):
            return p.relative_to(folder).as_posix()
    if data_dir is not None:
        for folder in (data_dir, data_dir.resolve()):
            if p != folder and p.is_relative_to(folder):
                return p.relative_to(folder).as_posix()
    return p.name

"""Which files an ingest of some paths means: files as given, folders walked recursively."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .gif .mpg .mpeg .ts .mts .m2ts .wmv .flv .3gp .ogv .dav .h264".split()
)


def discover(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Yield video files: a file argument as it is (whatever its extension, so the user hears
    why it fails), a folder's files with a video extension, folder by folder in name order. Hidden
    files and folders are skipped; a path that does not exist is yielded so that it is reported."""
    for p in paths:
        p = Path(p).expanduser()
        if not p.is_dir():
            yield p.absolute()
            continue
        for root, dirs, files in os.walk(p, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for f in sorted(files):
                if not f.startswith(".") and Path(f).suffix.lower() in VIDEO_EXTENSIONS:
                    yield Path(root, f).absolute()

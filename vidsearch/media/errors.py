"""The one exception that leaves :mod:`vidsearch.media`: a file that cannot be read as video."""
from __future__ import annotations

import os


class MediaError(Exception):
    """``str(err)`` is ``"<path>: <reason>"``; the reason is written for a person to read."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

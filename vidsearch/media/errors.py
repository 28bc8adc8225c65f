"""The exception that leaves :mod:`vidsearch.media`: a file that cannot be read as video (or as a
query picture); :class:`TooLarge`, its subclass, says the file is readable but over a query limit."""
from __future__ import annotations

import os


class MediaError(Exception):
    """``str(err)`` is ``"<path>: <reason>"``; the reason is written for a person to read."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class TooLarge(MediaError):
    """A query file over a limit of the work it may cost (``code``: ``image_too_large``: pixels,
    decoded bytes or aspect ratio of a picture; ``clip_too_long``: a query clip's duration). The
    web API answers 413 with that code."""

    def __init__(self, path: str | os.PathLike, reason: str, code: str) -> None:
        super().__init__(path, reason)
        self.code = code

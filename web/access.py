"""One lock in front of the Library.

The Library (SQLite catalog, embedded vector store, lazily loaded encoders) is not known to be
safe to call from several threads at once, and waitress serves requests from a thread pool. So
every call into it goes through :class:`SerialLibrary`, which lets one request at a time use it.
Work that does not touch the library (reading an upload, decoding the query image, sending a video
or thumbnail file) happens outside the lock, so a long search only delays other library calls.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from flask import current_app

EXTENSION_KEY = "vidsearch.library"


class SerialLibrary:
    def __init__(self, library) -> None:
        self._library = library
        self._lock = threading.Lock()

    @property
    def settings(self):
        """The library's settings: immutable, safe to read without the lock."""
        return self._library.settings

    @contextmanager
    def use(self) -> Iterator[object]:
        with self._lock:
            yield self._library


def library() -> SerialLibrary:
    """The serialised library of the running app: ``with library().use() as lib: ...``."""
    return current_app.extensions[EXTENSION_KEY]

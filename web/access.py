"""One lock in front of the Library.

The Library (SQLite catalog, embedded vector store, lazily loaded encoders) is not known to be
safe to call from several threads at once, and waitress serves requests from a thread pool. So
every call into it goes through :class:`SerialLibrary`, which lets one request at a time use it.
Work that does not touch the library (reading an upload, decoding the query image, sending a video
or thumbnail file) happens outside the lock, so a long search only delays other library calls.

Background ingestion (:mod:`web.jobs`) must not hold the lock for the minutes a video takes, or
every request would wait for it. It goes through :meth:`SerialLibrary.guarded`: the catalog and
the vector store behind proxies that take the same lock for each call (a catalog update, a batch
of points written), while decoding and embedding run outside it. The encoders are shared: they
load under their own lock and ONNX Runtime sessions may run from several threads.
"""
from __future__ import annotations

import copy
import threading
from contextlib import contextmanager
from typing import Iterator

from flask import current_app

EXTENSION_KEY = "vidsearch.library"


class SerialLibrary:
    def __init__(self, library) -> None:
        from vidsearch.search.batch import ImageQueryBatcher

        self._library = library
        self._lock = threading.Lock()
        # concurrent image searches embed and search together (vidsearch/search/batch.py)
        self.image_batcher = ImageQueryBatcher(lambda images: library.encoders.copy.embed(images))

    @property
    def settings(self):
        """The library's settings: immutable, safe to read without the lock."""
        return self._library.settings

    @contextmanager
    def use(self) -> Iterator[object]:
        with self._lock:
            yield self._library

    def guarded(self, name: str) -> "_Guarded":
        """``library.<name>`` (e.g. ``catalog``, ``store``) with every method call under the lock."""
        return _Guarded(getattr(self._library, name), self._lock)

    def concurrent(self):
        """A shallow view of the library whose catalog and store are :meth:`guarded`: for long
        queries (a clip: decode, embed, align) that must not hold the lock for their whole run."""
        view = copy.copy(self._library)
        view.catalog = self.guarded("catalog")
        view.store = self.guarded("store")
        return view

    @property
    def encoders(self):
        """The shared encoders (thread-safe: see the module docstring)."""
        return self._library.encoders


class _Guarded:
    def __init__(self, target, lock) -> None:
        self._target, self._lock = target, lock

    def __getattr__(self, name: str):
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            with self._lock:
                return attr(*args, **kwargs)

        return call


def library() -> SerialLibrary:
    """The serialised library of the running app: ``with library().use() as lib: ...``."""
    return current_app.extensions[EXTENSION_KEY]

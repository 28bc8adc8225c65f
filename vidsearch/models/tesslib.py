"""Tesseract in this process: libtesseract's C API (``capi.h``) through ctypes.

What the ``tesseract`` program does for each page of a list file (page segmentation mode, language,
variables, recognition, TSV output), without its cost per run: a process start and a model load
of about 0.1 CPU-s, and a PNG file per crop. The words come out the same, crop for crop
(tests/models/test_tesslib.py; 174 of 174 crops of six shared clips). The library call releases
the GIL, so a read runs in a thread beside the encoders as the program ran beside them.

One engine per process and configuration, built on first use after a fork (a ``TessBaseAPI`` is
not shared across a fork) and used under a lock (it is not thread-safe). Its OpenMP loops run on
the reading thread alone (:func:`one_thread`; the program was given ``OMP_THREAD_LIMIT=1``),
since it reads beside the encoders on the same cores. A read is bounded by a deadline (Tesseract's progress monitor).
"""
from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import logging
import os
import threading
import time

import numpy as np

log = logging.getLogger(__name__)

_V = ctypes.c_void_p
_SIGNATURES = {  # name: (argument types, result type)
    "TessVersion": ([], ctypes.c_char_p),
    "TessBaseAPICreate": ([], _V),
    "TessBaseAPIInit3": ([_V, ctypes.c_char_p, ctypes.c_char_p], ctypes.c_int),
    "TessBaseAPISetVariable": ([_V, ctypes.c_char_p, ctypes.c_char_p], ctypes.c_int),
    "TessBaseAPISetPageSegMode": ([_V, ctypes.c_int], None),
    "TessBaseAPISetImage": ([_V, _V, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int], None),
    "TessBaseAPIRecognize": ([_V, _V], ctypes.c_int),
    "TessBaseAPIGetTsvText": ([_V, ctypes.c_int], _V),
    "TessBaseAPIClear": ([_V], None),
    "TessBaseAPIEnd": ([_V], None),
    "TessBaseAPIDelete": ([_V], None),
    "TessDeleteText": ([_V], None),
    "TessMonitorCreate": ([], _V),
    "TessMonitorSetDeadlineMSecs": ([_V, ctypes.c_int], None),
    "TessMonitorDelete": ([_V], None),
}
_lib: ctypes.CDLL | None = None
_lib_error: str | None = None
_gomp: ctypes.CDLL | None = None
_load_lock = threading.Lock()
_engines: dict[tuple, "Engine"] = {}


def _openmp() -> ctypes.CDLL | None:
    """The OpenMP runtime libtesseract runs on: the ``libgomp.so.1`` already in this process (torch
    brings its own copy, and the loader gives libtesseract that one: same name), or None."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "libgomp" in line}
    except OSError:
        paths = set()
    for path in sorted(paths, key=lambda p: not p.endswith("/libgomp.so.1")):
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def library() -> ctypes.CDLL:
    """libtesseract, loaded once (raises OSError saying why it cannot be)."""
    global _lib, _lib_error, _gomp
    with _load_lock:
        if _lib is None and _lib_error is None:
            name = ctypes.util.find_library("tesseract") or "libtesseract.so.5"
            try:
                lib = ctypes.CDLL(name)
                for fn, (args, res) in _SIGNATURES.items():
                    getattr(lib, fn).argtypes, getattr(lib, fn).restype = args, res
                _lib, _gomp = lib, _openmp()
            except (OSError, AttributeError) as exc:
                _lib_error = f"cannot load {name}: {exc}"
        if _lib is None:
            raise OSError(_lib_error)
        return _lib


def one_thread() -> None:
    """Make the OpenMP parallel loops that the CALLING thread enters run on that thread alone.
    Tesseract asks for 4 threads per LSTM step; beside the encoders on 2 cores that took 6x the
    CPU (2.0 vs 0.35 s on 40 crops). Dynamic adjustment with one thread wanted bounds even a
    loop's own ``num_threads`` clause, and both settings belong to the calling thread only (the
    process's other OpenMP users, torch, keep theirs)."""
    if _gomp is not None:
        _gomp.omp_set_dynamic(1)
        _gomp.omp_set_num_threads(1)


class Engine:
    """One ``TessBaseAPI``: :meth:`read` gives the TSV word rows of each crop."""

    def __init__(self, lang: str, psm: int, variables: dict[str, str]):
        lib = library()
        self.lib, self.lock, self.variables = lib, threading.Lock(), dict(variables)
        self.handle = lib.TessBaseAPICreate()
        if lib.TessBaseAPIInit3(self.handle, None, lang.encode()) != 0:
            lib.TessBaseAPIDelete(self.handle)
            raise OSError(f"libtesseract could not load the language {lang!r} (tesseract-ocr-{lang} installed?)")
        for name, value in {"debug_file": "/dev/null", **variables}.items():  # no "Estimating resolution" lines
            lib.TessBaseAPISetVariable(self.handle, name.encode(), value.encode())
        lib.TessBaseAPISetPageSegMode(self.handle, psm)
        self.version = lib.TessVersion().decode()

    def read(self, crops: list[np.ndarray], deadline: float, cancel: threading.Event | None = None) -> list[str] | None:
        """The TSV rows (no header) of each 8-bit grey crop, or None when ``deadline``
        (``time.monotonic()``) passed or ``cancel`` was set before every crop was read."""
        lib, out = self.lib, []
        with self.lock:
            if self.handle is None:  # closed (the process is exiting)
                return None
            one_thread()
            try:
                for crop in crops:
                    left_ms = int(min(deadline - time.monotonic(), 2e6) * 1000)  # an int for C
                    if left_ms <= 0 or (cancel is not None and cancel.is_set()):
                        return None
                    img = np.ascontiguousarray(crop, dtype=np.uint8)
                    lib.TessBaseAPISetImage(self.handle, img.ctypes.data, img.shape[1], img.shape[0], 1, img.strides[0])
                    monitor = lib.TessMonitorCreate()
                    try:
                        lib.TessMonitorSetDeadlineMSecs(monitor, left_ms)
                        if lib.TessBaseAPIRecognize(self.handle, monitor) != 0:
                            if time.monotonic() >= deadline:
                                return None
                            out.append("")  # the crop could not be read: no words
                            continue
                    finally:
                        lib.TessMonitorDelete(monitor)
                    text = lib.TessBaseAPIGetTsvText(self.handle, 0)
                    try:
                        out.append(ctypes.string_at(text).decode("utf-8", "replace") if text else "")
                    finally:
                        if text:
                            lib.TessDeleteText(text)
            finally:
                lib.TessBaseAPIClear(self.handle)
        return out

    def close(self) -> None:
        if self.handle and self.lock.acquire(timeout=1.0):  # a read in progress: leave it to the exit
            try:
                self.lib.TessBaseAPIEnd(self.handle)
                self.lib.TessBaseAPIDelete(self.handle)
                self.handle = None
            finally:
                self.lock.release()


def engine(lang: str = "eng", psm: int = 6, **variables: str) -> Engine:
    """This process's engine for that configuration (built on first use; raises OSError)."""
    key = (os.getpid(), lang, psm, tuple(sorted(variables.items())))
    with _load_lock:
        found = _engines.get(key)
    if found is None:
        made = Engine(lang, psm, variables)
        with _load_lock:
            found = _engines.setdefault(key, made)
        if found is not made:  # another thread built one meanwhile: keep one engine per configuration
            made.close()
    return found


@atexit.register
def _close_all() -> None:
    """End this process's engines (else the library reports its cached models as leaks at exit)."""
    for key, found in list(_engines.items()):
        if key[0] == os.getpid():
            found.close()

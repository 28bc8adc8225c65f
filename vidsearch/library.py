"""An opened video library: the catalog, the vector store and the encoders behind one object.

The CLI and the web server both work through a :class:`Library`. With the embedded store (no
``VIDSEARCH_QDRANT_URL``) exactly one process may own the data folder: opening takes an exclusive
lock on it and a second opener gets :class:`~vidsearch.index.lock.StoreLocked` with a clear message.

After a crash (docs/reliability.md): opening a library finishes the deletes that were under way
(:meth:`~vidsearch.catalog.Catalog.begin_delete`), and :meth:`Library.resume` indexes again the
videos a killed process left ``indexing`` (or ``queued``); ``vidsearch ingest`` calls it first.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

import numpy as np

from vidsearch.catalog import Catalog, VideoRecord
from vidsearch.config import Settings
from vidsearch.diskspace import LowDiskSpace, check_free_space, release_reserve_if_full, reserve_file
from vidsearch.index.lock import OwnerLock
from vidsearch.index.store import open_store
from vidsearch.ingest.discover import discover
from vidsearch.media.errors import MediaError
from vidsearch.ingest.runner import IngestResult, IngestRunner, Progress
from vidsearch.models.encoders import Encoders
from vidsearch.records import Match, Moment
from vidsearch.search.image import search_image


def check_export_span(start: float, end: float, max_s: float) -> None:
    """ValueError naming the option when ``start``/``end`` cannot be exported."""
    if start < 0:
        raise ValueError(f"--start must not be negative, not {start:g}")
    if end <= start:
        raise ValueError(f"--end ({end:g} s) must be after --start ({start:g} s)")
    if end - start > max_s:
        raise ValueError(f"the span is {end - start:g} s long; at most {max_s:g} s are exported (VIDSEARCH_MAX_EXPORT_S)")


class JobRecords(Protocol):
    """The distributed ingestion's job records (``workers.owner.RedisJobs`` with a broker)."""

    def sync(self, catalog: Catalog) -> list[str]:
        """Take the finished jobs into the catalog; the videos they finished indexing."""

    def forget(self, video_id: str) -> None:
        """A deleted video: the workers must index it again when asked."""


class Library:
    def __init__(self, settings: Settings, *, encoders: Encoders | None = None, jobs: JobRecords | None = None):
        """``jobs``: with distributed ingestion (``VIDSEARCH_BROKER_URL``), its job records: opening
        takes in what the workers finished, a delete tells them (``workers.owner.library_jobs``)."""
        self.settings = settings
        self.jobs = jobs
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # a full disk: give back the reserve file, for the few KiB opening writes (lock, SQLite, store)
        release_reserve_if_full(reserve_file(settings.data_dir))
        self._lock = None
        if settings.qdrant_url is None:
            self._lock = OwnerLock(settings.lock_path)
            self._lock.acquire()
        try:
            self.catalog = Catalog(settings.catalog_path)
            self.store = open_store(settings)
        except BaseException:
            self._release()
            raise
        self.encoders = encoders or Encoders(settings)
        from vidsearch.alert.service import Watchlists

        self.watchlists = Watchlists(self)
        self.runner = IngestRunner(settings, self.catalog, self.store, self.encoders,
                                   on_indexed=self.watchlists.on_indexed)
        if jobs is not None:  # distributed ingestion: take in what the workers finished
            self.check_synced(jobs.sync(self.catalog))
        for video_id in self.catalog.pending_deletes():  # a process died while deleting it
            self._purge(video_id)

    def disk_warning(self) -> str | None:
        """A message while the data folder's disk is too low to write (the library is read-only:
        searches work, ingests and deletes are refused with LowDiskSpace); None otherwise."""
        if not getattr(self.store, "read_only", False):
            return None
        try:
            check_free_space(self.settings.data_dir, max(self.settings.min_free_mb, 1.0))
            reason = f"the vector store cannot write in {self.settings.qdrant_path}"
        except LowDiskSpace as exc:
            reason = str(exc)
        return f"read-only until disk space is freed (searches work; ingests are refused): {reason}"

    @property
    def owns_folder(self) -> bool:
        """True with the embedded store: this process holds the data folder's owner lock, so a video
        marked ``indexing`` is not being indexed by anyone else (it was interrupted)."""
        return self._lock is not None

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def check_synced(self, synced) -> None:
        """Videos the workers finished (``jobs.sync``'s answer, when it names them): check them
        against the watchlists, as the in-process ingest does."""
        for video_id in synced if isinstance(synced, (list, tuple, set)) else ():
            self.watchlists.on_indexed(video_id)

    def close(self) -> None:
        self.watchlists.close()
        self.store.close()
        self.catalog.close()
        self._release()

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- ingest --------------------------------------------------------------------------
    def ingest(self, paths: Iterable[str | Path], *, force: bool = False,
               progress: Callable[[Path], Progress | None] | None = None) -> Iterator[IngestResult]:
        """Index every video file under ``paths``; one result per file, failures included."""
        for path in discover(paths):
            yield self.runner.ingest_file(path, force=force, progress=progress(path) if progress else None)

    def interrupted(self) -> list[VideoRecord]:
        """Videos whose indexing was asked for and did not finish: ``indexing`` (the process died
        while indexing it) or ``queued`` (the web server stopped before it started)."""
        return [r for r in self.catalog.list() if r.status in ("queued", "indexing")]

    def resume(self, *, progress: Callable[[Path], Progress | None] | None = None) -> Iterator[IngestResult]:
        """Index again every :meth:`interrupted` video; one result each. Points have deterministic
        ids and the runner removes a video's leftovers first, so nothing is lost or doubled. A file
        that is gone, or whose content changed, leaves its record ``failed`` (and its leftovers removed).
        With a Qdrant server (:attr:`owns_folder` False) another process may be indexing a video right
        now: call it only when none is (``vidsearch ingest --resume``)."""
        for rec in self.interrupted():
            if not os.path.isfile(rec.path):
                yield self.runner.fail(rec.path, rec.id, f"{rec.path}: the file is gone (its indexing was interrupted)")
                continue
            result = self.runner.ingest_file(rec.path, progress=progress(Path(rec.path)) if progress else None,
                                             camera=rec.camera, wall_start=rec.wall_start)
            if result.video_id != rec.id:  # the file was replaced since: its old record cannot be finished
                self.runner.fail(rec.path, rec.id, f"{rec.path}: the file changed while it was being indexed")
            yield result

    # -- query ---------------------------------------------------------------------------
    def where(self, *, camera: str | None = None, wall_after: float | None = None, wall_before: float | None = None,
              time_of_day: tuple[float, float] | None = None) -> dict:
        """The store's payload filters for a search (``where=`` of every search method): one camera,
        wall-clock bounds (epoch seconds), and a time-of-day window (seconds since local midnight,
        from and to; wrapping midnight when to < from) on every day, in VIDSEARCH_TIMEZONE, as the
        spans of wall-clock time it covers on the days recordings were made
        (:func:`vidsearch.search.daytime.wall_ranges`)."""
        where: dict = {k: v for k, v in (("camera", camera), ("wall_after", wall_after),
                                         ("wall_before", wall_before)) if v is not None}
        if time_of_day is not None:
            from vidsearch.search.daytime import wall_ranges, zone_of

            spans = [(r.wall_start, r.wall_start + (r.duration or 0.0)) for r in self.catalog.list()
                     if r.wall_start is not None and r.status == "indexed" and (camera is None or r.camera == camera)]
            where["wall_ranges"] = wall_ranges(time_of_day, spans, zone_of(self.settings.timezone),
                                               after=wall_after, before=wall_before)
        return where

    def search_like(self, video_id: str, *, t: float | None = None, start: float | None = None,
                    end: float | None = None, limit: int = 10, **kw) -> list[Moment]:
        """Find similar: moments like the stored frame of ``video_id`` at ``t`` (an image query of
        its stored descriptor), or like its stored span ``start..end`` (a clip query of its stored
        frames); nothing is decoded. ``kw``: video_id filter as ``in_video``, after, before, where,
        offset, include_weak, sort. An unknown video or nothing stored there: ValueError."""
        from vidsearch.search.like import search_like_frame, search_like_span

        if self.catalog.get(video_id) is None:
            raise ValueError(f"no video with id {video_id!r}")
        kw["video_id"] = kw.pop("in_video", None)
        common = dict(encoders=self.encoders, store=self.store, catalog=self.catalog, settings=self.settings,
                      limit=limit)
        if t is not None:
            if start is not None or end is not None:
                raise ValueError("find similar takes a frame (t) or a span (start, end), not both")
            return search_like_frame(video_id, t, **common, **kw)
        if start is None or end is None:
            raise ValueError("find similar needs t (a frame) or start and end (a span)")
        return search_like_span(video_id, start, end, **common, **kw)

    def search_image(self, image: np.ndarray, **kw) -> list[Moment]:
        return search_image(image, encoders=self.encoders, store=self.store, catalog=self.catalog,
                            settings=self.settings, **kw)

    def search_text(self, text: str, *, limit: int = 10, **kw) -> list[Moment]:
        """Moments matching a free-text query (concepts, text on screen, a joint model when
        configured); each carries ``why``. ``kw``: video_id, after, before (video seconds),
        wall_after, wall_before (seconds since the epoch, recordings with a known start)."""
        from vidsearch.search.text import search_text

        kw.setdefault("taught", self.watchlists.taught(store=self.store, catalog=self.catalog))
        return search_text(text, encoders=self.encoders, store=self.store, catalog=self.catalog,
                           settings=self.settings, limit=limit, **kw)

    def search_image_semantic(self, image: np.ndarray, **kw) -> list[Moment]:
        """Pictures of the same kind of thing (the joint model when configured, else EfficientNet)."""
        from vidsearch.search.semantic import search_image_semantic

        return search_image_semantic(image, encoders=self.encoders, store=self.store, catalog=self.catalog,
                                     settings=self.settings, **kw)

    def search_clip(self, path: str | Path, *, limit: int = 10, **kw) -> list[Moment]:
        """Moments of indexed videos that share footage with the clip; each also carries
        ``query_start``/``query_end``. Bad media raises MediaError."""
        from vidsearch.search.clip import search_clip

        return search_clip(path, encoders=self.encoders, store=self.store, catalog=self.catalog,
                           settings=self.settings, limit=limit, **kw)

    def dedup_clip(self, path: str | Path) -> list[Match]:
        """Confident copies of the clip's footage in the index (calibrated threshold); [] when none."""
        from vidsearch.search.dedup import dedup_clip

        return dedup_clip(path, encoders=self.encoders, store=self.store, catalog=self.catalog,
                          settings=self.settings)

    def dedup_all(self, **kw) -> list[Match]:
        """Every pair of spans sharing footage, across and within indexed videos, each pair once."""
        from vidsearch.search.dedup import dedup_all

        return dedup_all(encoders=self.encoders, store=self.store, catalog=self.catalog,
                         settings=self.settings, **kw)

    # -- videos --------------------------------------------------------------------------
    def videos(self) -> list[VideoRecord]:
        return self.catalog.list()

    def video(self, video_id: str) -> VideoRecord | None:
        return self.catalog.get(video_id)

    # -- export --------------------------------------------------------------------------
    def _exportable(self, video_id: str) -> tuple[VideoRecord, int]:
        """The video's record and its file opened read-only (the caller closes it); ValueError when
        the id is unknown, the video not indexed, or the file changed since it was indexed."""
        rec = self.catalog.get(video_id)
        if rec is None:
            raise ValueError(f"no video with id {video_id!r}")
        if rec.status != "indexed" or not rec.duration:
            raise ValueError(f"video {video_id!r} is {rec.status}: export it once it is indexed")
        try:
            fd = os.open(rec.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise ValueError(f"{rec.path}: cannot be read ({exc.strerror})") from None
        st = os.fstat(fd)
        if (rec.size and st.st_size != rec.size) or (rec.mtime and abs(st.st_mtime - rec.mtime) > 1e-3):
            os.close(fd)
            raise ValueError(f"{rec.path}: no longer the file that was indexed (size or time differ); index it again")
        return rec, fd

    def export_clip(self, video_id: str, start: float, end: float, out: str | Path):
        """Write ``[start, end)`` of the video to ``out`` as an MP4 (vidsearch/media/export.py: copied
        or transcoded); the :class:`~vidsearch.media.export.ClipResult`. ValueError for a bad span,
        MediaError when ffmpeg fails."""
        from vidsearch.media.export import export_clip

        check_export_span(start, end, self.settings.max_export_s)
        rec, fd = self._exportable(video_id)
        try:
            if start >= rec.duration:
                raise ValueError(f"--start {start:g} s is past the end of the video ({rec.duration:.3f} s)")
            return export_clip(fd, start, min(end, rec.duration), out)
        except MediaError as exc:  # it names /dev/fd/N: name the video's file
            raise MediaError(rec.path, exc.reason) from None
        finally:
            os.close(fd)

    def export_frame(self, video_id: str, t: float) -> tuple[bytes, float]:
        """The frame at ``t`` as a JPEG and its own timestamp."""
        from vidsearch.media.export import frame_jpeg

        rec, fd = self._exportable(video_id)
        try:
            if not 0 <= t <= rec.duration + 1e-3:
                raise ValueError(f"--at {t:g} s is outside the video (0 to {rec.duration:.3f} s)")
            return frame_jpeg(fd, t)
        except MediaError as exc:
            raise MediaError(rec.path, exc.reason) from None
        finally:
            os.close(fd)

    def delete(self, video_id: str) -> bool:
        """Remove a video's record, vectors, thumbnails and playable copy. False when the id is unknown.

        The record goes first, with a note that survives a crash (the next opener finishes the job)."""
        if not self.catalog.begin_delete(video_id):
            return False
        self._purge(video_id)
        return True

    def _purge(self, video_id: str) -> None:
        self.store.delete_video(video_id)
        self.store.flush()
        shutil.rmtree(self.settings.thumbnails_dir / video_id, ignore_errors=True)
        (self.settings.playable_dir / f"{video_id}.mp4").unlink(missing_ok=True)  # its browser-playable copy
        if self.jobs is not None:  # so that the workers index it again when asked
            self.jobs.forget(video_id)
        self.catalog.end_delete(video_id)

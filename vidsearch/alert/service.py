"""The watchlists of one opened library: create (the query described once), check new videos,
deliver webhooks, backtest, learn from marks, and the taught words of text search.

:class:`Watchlists` is what :class:`vidsearch.library.Library` holds as ``library.watchlists``;
the ingest runner calls :meth:`Watchlists.on_indexed` once a video is indexed (a small call: a
few milliseconds without watchlists, one read of the video's points with them).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from vidsearch.alert import teach
from vidsearch.alert.backtest import backtest
from vidsearch.alert.evaluate import check_video
from vidsearch.alert.watchlist import KINDS, Alert, Watchlist, WatchlistError, WatchlistStore, check_name
from vidsearch.alert.webhook import Deliverer, alert_body, check_url
from vidsearch.alert.words import taught_searchers
from vidsearch.search.confidence import levels

log = logging.getLogger(__name__)


class Watchlists:
    def __init__(self, lib) -> None:
        self.lib = lib
        self.store = WatchlistStore(lib.settings.watchlists_path)
        self.deliverer = Deliverer(self.store)
        if self.store.next_due() is not None:  # queued by an earlier process: deliver them now
            self.deliverer.start()

    def close(self) -> None:
        self.deliverer.stop()
        self.store.close()

    # -- create / list / remove --------------------------------------------------------------
    def add(self, name: str, kind: str, *, image=None, region=None, clip=None, text: str | None = None,
            examples: list[dict] | None = None, negatives: list[dict] | None = None,
            threshold: float | None = None, camera: str | None = None, hours: str | None = None,
            webhook: str | None = None, method: str = "probe") -> Watchlist:
        """``image``: a path or binary file of a picture (``region``: x, y, w, h of it); ``clip``: a
        video file's path; ``text``; ``examples``/``negatives``: moments ``{video_id, start, end}``."""
        lib = self.lib
        name = check_name(name)
        if self.store.get(name) is not None:
            raise WatchlistError("name", f"a watchlist named {name!r} already exists")
        if kind not in KINDS:
            raise WatchlistError("kind", f"{kind!r}: one of {', '.join(KINDS)}")
        if kind == "image" and region is not None:
            kind = "region"
        webhook = check_url(webhook, lib.settings.webhook_hosts)
        if threshold is not None and (not isinstance(threshold, (int, float)) or not np.isfinite(threshold)):
            raise WatchlistError("threshold", f"{threshold!r} is not a number")
        w = Watchlist(name=name, kind=kind, threshold=0.0, camera=camera or None, hours=hours, webhook=webhook)
        if kind in ("image", "region"):
            if image is None:
                raise WatchlistError("image", "an image watchlist needs a picture")
            from vidsearch.media.image import load_image, resize_short_side

            picture = load_image(image, name=getattr(image, "filename", None) or str(image)[:200], region=region)
            from vidsearch.search.refine import query_features

            vec = lib.encoders.copy.embed([resize_short_side(picture, lib.settings.frame_size)])[0]
            w.vectors = {"copy": vec.astype(np.float32)}
            # for the local-feature check of its alerts; not for a region: a part of a frame has too
            # few keypoints for the count that a whole picture gets (unmeasured, so left as it was)
            orb = query_features(picture, lib.settings) if region is None else ()
            if orb:
                w.vectors.update(orb_points=orb[0], orb_desc=orb[1])
            w.query = {"region": list(region) if region is not None else None}
        elif kind == "clip":
            if clip is None:
                raise WatchlistError("clip", "a clip watchlist needs a video clip")
            from vidsearch.search.clip import describe_clip

            q = describe_clip(clip, encoders=lib.encoders, settings=lib.settings)
            if not q.informative.any():
                raise WatchlistError("clip", f"{Path(str(clip)).name}: no frame of the clip shows anything to match")
            w.vectors = {"copy": q.vectors.astype(np.float32), "times": q.track.times,
                         "informative": q.informative, "period": np.array([q.track.period]),
                         "duration": np.array([q.duration])}
            w.query = {"clip": Path(str(clip)).name, "duration": round(q.duration, 3)}
        elif kind == "text":
            if not isinstance(text, str) or not text.strip():
                raise WatchlistError("text", "a text watchlist needs a text")
            w.query = {"text": text.strip()}
        else:
            pos = _moments_field("examples", examples, need=True)
            neg = _moments_field("negatives", negatives, need=False)
            w.query = {"examples": pos, "negatives": neg, "method": method}
            default = self._fit(w)
            threshold = default if threshold is None else threshold
        w.threshold = float(default_threshold(kind) if threshold is None else threshold)
        w.threshold_source = "default" if threshold is None or kind == "examples" and threshold == default else "set"
        return self.store.add(w)

    def _fit(self, w: Watchlist, extra_pos: list[dict] = (), extra_neg: list[dict] = ()) -> float:
        """(Re-)fit an example watchlist's model; returns its default threshold."""
        lib = self.lib
        pos, neg, bg = teach.gather(lib.store, lib.catalog, [*w.query["examples"], *extra_pos],
                                    [*w.query.get("negatives", []), *extra_neg])
        w.model = teach.fit(pos, neg, w.query.get("method", "probe"))
        return teach.default_threshold(w.model, pos, bg)

    def list(self) -> list[Watchlist]:
        return self.store.list()

    def get(self, name: str) -> Watchlist | None:
        return self.store.get(name)

    def remove(self, name: str) -> bool:
        return self.store.remove(name)

    def describe(self, w: Watchlist) -> dict:
        """The watchlist as the API and the CLI show it: with its alert count, marks' precision and
        the webhook's state."""
        d = w.to_dict()
        marks = self.store.marks(w)
        d["marks"] = {"right": sum(1 for m in marks if m["right"]), "wrong": sum(1 for m in marks if not m["right"]),
                      "precision": teach.precision(marks, w.threshold)}
        d["alerts"] = len(self.store.alerts(watchlist=w.name, limit=100000))
        if w.webhook:
            d["delivery"] = self.store.delivery_state(w)
        return d

    # -- new footage ------------------------------------------------------------------------
    def on_indexed(self, video_id: str) -> list[Alert]:
        """Check a just-indexed video against every watchlist; write its alerts (each moment once)
        and queue their webhooks. Never raises: a watchlist problem must not fail an ingest."""
        try:
            watchlists = self.store.list()
            if not watchlists:
                return []
            written = []
            found = check_video(self.lib, watchlists, video_id)
            with self.store.batch():  # a video's alerts and deliveries: one disk sync
                for w, a in found:
                    saved = self.store.add_alert(w, a)
                    if saved is None:
                        continue
                    written.append(saved)
                    if w.webhook:
                        self.store.enqueue(w, saved, alert_body(saved, w))
            if any(self.store.get(a.watchlist).webhook for a in written):
                self.deliverer.wake()
            return written
        except Exception:
            log.exception("checking video %s against the watchlists failed", video_id)
            return []

    def alerts(self, **kw) -> list[Alert]:
        return self.store.alerts(**kw)

    def backtest(self, name: str, *, after: float | None = None, before: float | None = None) -> dict:
        return backtest(self.lib, self._named(name), after=after, before=before)

    def _named(self, name: str) -> Watchlist:
        w = self.store.get(name)
        if w is None:
            raise KeyError(name)
        return w

    # -- marks -------------------------------------------------------------------------------
    def mark(self, name: str, *, right: bool, alert_id: int | None = None, moment: dict | None = None) -> dict:
        """Mark an alert (``alert_id``) or a backtest match (``moment``: video_id, start, end,
        timestamp, score) right or wrong, then re-fit the threshold (and an example model) from
        every mark of the watchlist. Returns the watchlist as :meth:`describe` shows it."""
        w = self._named(name)
        if alert_id is not None:
            a = self.store.alert(alert_id)
            if a is None or a.watchlist != name:
                raise WatchlistError("alert_id", f"no alert {alert_id} of watchlist {name!r}")
            moment = {"video_id": a.video_id, "start": a.start, "end": a.end, "timestamp": a.timestamp,
                      "score": a.score}
        m = _moments_field("moment", [moment] if moment else None, need=True)[0]
        try:
            score = float(moment["score"])
        except (KeyError, TypeError, ValueError):
            raise WatchlistError("moment", "give the moment's score (as the alert or backtest match shows it)") from None
        self.store.mark(w, video_id=m["video_id"], start=m["start"], end=m["end"],
                        timestamp=float(moment.get("timestamp", m["start"])), score=score, right=bool(right))
        self.refit(w)
        return self.describe(self._named(name))

    def refit(self, w: Watchlist) -> None:
        marks = self.store.marks(w)
        if w.kind == "examples":
            rights = [m for m in marks if m["right"]]
            wrongs = [m for m in marks if not m["right"]]
            self._fit(w, rights, wrongs)
            # the marks' scores came from the old model: score them again under the new one
            marks = [{**m, "score": self._score_moment(w, m)} for m in marks]
        if marks:
            w.threshold = teach.fit_threshold(marks, w.threshold)
            w.threshold_source = "marks"
        self.store.update(w)

    def _score_moment(self, w: Watchlist, m: dict) -> float:
        hits, vecs = self.lib.store.video_vectors(m["video_id"], [n for n in teach.FEATURES if n in self.lib.store.dims])
        inside = teach.in_spans(hits, [(m["start"], m["end"])])
        if not inside.any():
            return float(m["score"])
        return float(teach.score_frames(w.model, {n: v[inside] for n, v in vecs.items()}).max())

    # -- taught words -------------------------------------------------------------------------
    def taught(self, *, store=None, catalog=None) -> dict:
        """The taught words for text search (``store``/``catalog``: the caller's view of them)."""
        lib = self.lib
        return taught_searchers(self.store.list(), store=store or lib.store, catalog=catalog or lib.catalog,
                                settings=lib.settings)


def default_threshold(kind: str) -> float:
    """An alert is a claim that the footage appeared: the kind's calibrated *same footage* level
    where it has one (image, region 0.40; clip 0.63), else its floor (text). On the shared clips, at
    the same recall, the clip floor (0.30) gave 9 false alerts and 0.63 none (docs/watchlists.md)."""
    lv = levels(kind)
    return lv.same if lv.same is not None else lv.floor


def _moments_field(name: str, value, *, need: bool) -> list[dict]:
    if value is None or value == []:
        if need:
            raise WatchlistError(name, "give at least one moment {video_id, start, end}")
        return []
    if not isinstance(value, list):
        raise WatchlistError(name, "give a list of moments {video_id, start, end}")
    out = []
    for i, m in enumerate(value):
        try:
            vid, start, end = str(m["video_id"]), float(m["start"]), float(m["end"])
        except (KeyError, TypeError, ValueError):
            raise WatchlistError(f"{name}[{i}]", "a moment is {video_id, start, end} (seconds)") from None
        if not (np.isfinite(start) and np.isfinite(end)) or end <= start or start < 0:
            raise WatchlistError(f"{name}[{i}]", f"start {start:g} must be >= 0 and before end {end:g}")
        out.append({"video_id": vid, "start": start, "end": end})
    return out


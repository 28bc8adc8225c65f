"""Query by still image: find the moments whose frames are copies of the picture.

The image is brought to the same scale as indexed frames and described with the copy-detection
descriptor (SSCD), which is robust to re-encoding, crops, captions, colour changes and borders.
With ``settings.image_refine`` (VIDSEARCH_IMAGE_REFINE) the first moment's timestamp is re-checked
against a few decoded seconds of its video (:mod:`vidsearch.search.refine`).
"""
from __future__ import annotations

import numpy as np

from vidsearch.media.image import resize_short_side
from vidsearch.search.confidence import labeller, levels
from vidsearch.search.moment import Moments, build_moments, frames_to_ask, vector_profile
from vidsearch.search.refine import refine_moment


def search_image(image: np.ndarray, *, encoders, store, catalog, settings, limit: int = 10,
                 video_id: str | None = None, after: float | None = None, before: float | None = None,
                 region: tuple[int, int, int, int] | None = None, batcher=None,
                 refine: bool | None = None, offset: int = 0, include_weak: bool = False,
                 sort: str = "score", part: bool = False, where: dict | None = None) -> Moments:
    """``batcher``: a :class:`vidsearch.search.batch.ImageQueryBatcher` shared by concurrent callers (a
    server), which embeds and searches their pictures together; the answer is the same. ``refine``:
    re-check the first moment's timestamp against the decoded video (:mod:`vidsearch.search.refine`);
    ``None``: as ``settings.image_refine`` (VIDSEARCH_IMAGE_REFINE) says. ``offset``, ``include_weak``,
    ``sort``: the page of results (:func:`vidsearch.search.moment.build_moments`). ``part``: the picture
    was already cut from a larger one (a region): judged by the region levels, as with ``region``.
    ``where``: payload filters of the store (camera, wall_after, wall_before, wall_ranges)."""
    where = where or {}
    if region is not None:
        x, y, w, h = region
        image = image[max(0, y): y + h, max(0, x): x + w]
        if image.size == 0:
            raise ValueError(f"region {region} lies outside the {image.shape[1]}x{image.shape[0]} image")
    query = resize_short_side(image, settings.frame_size)
    ask = frames_to_ask(offset + limit)
    if batcher is not None:
        hits, vector = batcher.search(query, store, limit=ask, video_id=video_id, start=after, end=before, **where)
    else:
        vector = encoders.copy.embed([query])[0]
        hits = store.search_frames("copy", vector, ask, video_id=video_id, start=after, end=before, **where)
    kind = "region" if region is not None or part else "image"
    profile = vector_profile(store, "copy", vector, 1.0 / settings.sample_fps, after=after, before=before, where=where)
    moments = build_moments(hits, profile, catalog, settings, floor=levels(kind).floor, limit=limit, offset=offset,
                            include_weak=include_weak, sort=sort, label=labeller(kind))
    if (settings.image_refine if refine is None else refine) and moments and offset == 0 and sort == "score":
        moments[0] = refine_moment(image, moments[0], hits, catalog=catalog, settings=settings)
    return moments

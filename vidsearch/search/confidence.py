"""How sure a result is, in words: per query kind a *floor* (below it a result means "no match")
and a *same-footage* level (at or above it the result is a copy of the query's picture, even edited).

``confidence`` is ``"same footage"``, ``"similar"`` or ``"weak"``. The levels were calibrated on the
shared clips with some clips held out of the index as negatives: stills, crops and clips cut from
held-out footage (never indexed) against edited stills and clips of indexed footage
(``bench/moments.py``; the table is in docs/moments.md). Results below the floor are left out of
an answer unless asked for (``include_weak``) and counted (``weak``).
"""
from __future__ import annotations

from dataclasses import dataclass

from vidsearch.records import Moment

SAME, SIMILAR, WEAK = "same footage", "similar", "weak"


@dataclass(frozen=True)
class Levels:
    floor: float  # below: weak (no match)
    same: float | None  # at or above: same footage; None: this kind of query never says so


# copy-descriptor cosine for image and region queries, the alignment's copy score for clips, the
# text score for text (docs/moments.md "Calibration")
LEVELS = {
    "image": Levels(floor=0.30, same=0.40),
    "region": Levels(floor=0.265, same=0.40),
    "clip": Levels(floor=0.30, same=0.63),
    "text": Levels(floor=0.30, same=None),
    "semantic": Levels(floor=0.0, same=None),
}
EXACT = 0.9  # copy score at or above which a picture is the same picture, unedited


def levels(kind: str) -> Levels:
    return LEVELS[kind]


def confidence(kind: str, score: float) -> str:
    lv = LEVELS[kind]
    if score < lv.floor:
        return WEAK
    return SAME if lv.same is not None and score >= lv.same else SIMILAR


def labeller(kind: str, why=None):
    """``label(moment)`` for :func:`vidsearch.search.moment.build_moments`: sets ``confidence`` and,
    for copy queries, a plain ``why``; ``why(moment)`` gives other kinds' reasons."""
    def label(m: Moment) -> None:
        c = confidence(kind, m.score)
        m.extra["confidence"] = c
        if why is not None:
            m.extra["why"] = why(m)
        elif kind in ("image", "region"):
            m.extra["why"] = [copy_reason(m.score, c)]

    return label


def copy_reason(score: float, conf: str) -> str:
    if conf == SAME:
        return "same picture" if score >= EXACT else "same picture (edited)"
    if conf == SIMILAR:
        return "looks like the picture (not a sure copy)"
    return "only a faint resemblance"

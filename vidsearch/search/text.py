"""Query by free text: "a dog on a skateboard", "EXIT sign", "red car".

Signals (each a score in [0, 1] per stored keyframe):

``concept``
    the query embedded by MiniLM, searched against the keyframes' concept vectors (ConSE over
    EfficientNet-Lite0's ImageNet classes, :mod:`vidsearch.models.concepts`; the ``person`` and
    ``face`` detectors join that mix when they run). The cosine ``c`` is put on the query's own
    scale: ``(c - mean) / (max - mean)`` over the query's similarities to every concept, so 0 is
    "no closer than an average concept" and 1 is "entirely the concept that best matches the
    words", clipped to [0, 1].
``text``
    words read on screen (Tesseract, payload ``text`` with a full-text index): the share of the
    query's content words (weighted by length) found in the frame's text; 1 when they appear in
    order. OCR misreads letters ("searc", "insurancer", "bunky"), so a query word of at least
    ``FUZZY_MIN`` letters also matches a word read one edit away (a letter dropped, added, changed,
    or two swapped), counting ``FUZZY_WEIGHT`` of an exact match; the store finds such frames by
    the query word's one-edit variants (:func:`near_words`), so nothing about the index changes.
    A ``"quoted phrase"`` must appear on screen exactly: only frames whose text has it are returned.
``joint``
    when a CLIP-family model is configured (:mod:`vidsearch.models.joint`): its text-image cosine,
    mapped linearly from 0.15 (unrelated) to 0.35 (a good match) onto [0, 1].
``colour``
    when ingestion ran the ``colour`` detector and the query names a colour ("red", "navy"...):
    the concept score is scaled by how much of the frame's salient area has that colour: by
    ``1 - COLOUR_WEIGHT`` when none of it does, up to 1 when ``COLOUR_FULL`` of it does.

Fusion is a noisy-OR, ``1 - (1 - 0.8 concept)(1 - 0.9 joint)(1 - 0.9 text)``: a full on-screen
match outranks a visual guess, two signals that agree beat either alone. Frames become moments
(:func:`vidsearch.search.moment.merge_hits`) from the hits of each video that score at least
``KEEP`` of that video's best, so a multi-scene file answers with the matching scene; a moment's
score mixes its best frame with the mean of its top three. Its edges (first frame or shot start,
and the sample after its last frame) are moved half a sample period earlier (:func:`centred`): a
cut lies somewhere between two samples, not at the later one. Moments rank by score, except that a
video's moments beyond its ``PER_VIDEO`` best come after every other video's: one long video
(many separate hits) does not fill the first results, and a multi-scene file can show two scenes. Each moment carries ``why``: the
signals that matched at its best frame, e.g. ``["concept: sulphur-crested cockatoo 0.71",
"text on screen: 'exit'"]``.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from vidsearch.records import FrameHit, Moment
from vidsearch.search.confidence import labeller, levels
from vidsearch.search.moment import MAX_SORTED, Moments, merge_hits, page

W_CONCEPT, W_JOINT, W_TEXT = 0.8, 0.9, 0.9
KEEP = 0.8  # frames scoring below this share of their video's best do not extend its moments
PER_VIDEO = 2  # a video's moments after its best PER_VIDEO come after every other video's best ones
SNAP_MAX = 15.0  # a moment inside shots no longer than this (s) spans those whole shots
JOINT_LO, JOINT_HI = 0.15, 0.35
COLOUR_WEIGHT, COLOUR_FULL = 0.5, 0.1  # see ``colour`` above
FUZZY_MIN, FUZZY_WEIGHT = 5, 0.7  # see ``text`` above
_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
STOPWORDS = frozenset("""a an the of on in at to and or with without from by for into onto over under near
    is are was were be being been this that these those it its his her their some any one two three
    who what where when which while very most more""".split())
# Words that say where text is, not what it says ("EXIT sign" -> read "exit").
TEXT_CONTAINERS = frozenset("""sign signs text caption captions subtitle subtitles title titles logo logos
    written writing word words saying says reads reading label labels banner board plate screen""".split())
_TOKEN = re.compile(r"[0-9a-z]+")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


@dataclass
class ParsedQuery:
    text: str  # what the encoders embed (quotes removed)
    words: list[str]  # content words
    ocr_words: list[str]  # words to look for on screen
    phrases: list[list[str]] = field(default_factory=list)  # quoted: must be on screen, in order


def parse_query(query: str) -> ParsedQuery:
    query = (query or "").strip()
    phrases = [tokens(p) for p in re.findall(r'"([^"]+)"', query)]
    phrases = [p for p in phrases if p]
    plain = query.replace('"', " ").strip()
    if not tokens(plain):
        raise ValueError("the text query has no words")
    words = [w for w in tokens(plain) if w not in STOPWORDS]
    ocr = [w for w in words if w not in TEXT_CONTAINERS] or words
    return ParsedQuery(text=" ".join(plain.split()), words=words, ocr_words=list(dict.fromkeys(ocr)), phrases=phrases)


def _contains(seq: list[str], sub: list[str]) -> bool:
    n = len(sub)
    return any(seq[i:i + n] == sub for i in range(len(seq) - n + 1)) if n else False


def near_words(word: str) -> set[str]:
    """Every string one edit away from ``word`` (a letter or digit dropped, added or changed, or two
    neighbours swapped); empty for words shorter than ``FUZZY_MIN``."""
    if len(word) < FUZZY_MIN:
        return set()
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    out |= {a + c + b for a, b in splits for c in _LETTERS}
    out.discard(word)
    return out


def one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by exactly one edit (as :func:`near_words`)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                   and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1:]


def text_score(frame_text: str, q: ParsedQuery) -> tuple[float, list[str]]:
    """(score, the words read on screen that matched) of a frame's on-screen text for the query."""
    seq = tokens(frame_text or "")
    have = set(seq)
    exact = [w for w in q.ocr_words if w in have]
    near: dict[str, str] = {}  # query word -> the word read one edit away
    for w in q.ocr_words:
        if w not in have and len(w) >= FUZZY_MIN:
            read = next((t for t in seq if one_edit(w, t)), None)
            if read is not None:
                near[w] = read
    if not exact and not near:
        return 0.0, []
    matched = [w if w in have else near[w] for w in q.ocr_words if w in have or w in near]
    if len(q.ocr_words) > 1 and _contains(seq, q.ocr_words):
        return 1.0, matched
    weight = {w: min(len(w), 8) for w in q.ocr_words}
    share = (sum(weight[w] for w in exact) + FUZZY_WEIGHT * sum(weight[w] for w in near)) / sum(weight.values())
    return (0.9 * share if len(q.ocr_words) > 1 else share), matched  # in order scores 1 (above)


@dataclass
class _Frame:
    hit: FrameHit
    concept: float = 0.0
    joint: float = 0.0
    text: float = 0.0
    text_words: list[str] = field(default_factory=list)
    colour: tuple[str, float] | None = None
    score: float = 0.0


def _key(hit: FrameHit) -> tuple[str, float]:
    return hit.video_id, round(hit.timestamp, 3)


def search_text(query: str, *, encoders, store, catalog, settings, limit: int = 10, video_id: str | None = None,
                after: float | None = None, before: float | None = None, wall_after: float | None = None,
                wall_before: float | None = None, candidates: int | None = None, offset: int = 0,
                include_weak: bool = False, sort: str = "score", where: dict | None = None,
                taught=None) -> Moments:
    """Moments that match a free-text query, best first; each with ``extra["why"]`` and
    ``extra["confidence"]``; a page of ``limit`` from ``offset`` (see :func:`vidsearch.search.moment.page`).
    ``where``: more payload filters of the store (camera, wall_ranges). ``taught``: words taught by example (``{name: search(limit=, video_id=, after=, before=, where=)}``,
    :mod:`vidsearch.alert.words`): a query that says one of them answers with its moments first, under
    the same filters (``where`` with ``wall_after``/``wall_before``)."""
    walls = {n: v for n, v in (("wall_after", wall_after), ("wall_before", wall_before)) if v is not None}
    walls.update({k: v for k, v in (where or {}).items() if v is not None})
    if taught:
        said = taught_in(query, list(taught))
        if said:
            return _with_taught(query, [taught[n] for n in said], limit=limit, offset=offset, video_id=video_id,
                                after=after, before=before, where=walls, include_weak=include_weak,
                                search=lambda **kw: search_text(query, encoders=encoders, store=store, catalog=catalog,
                                                                settings=settings, video_id=video_id, after=after,
                                                                before=before, wall_after=wall_after,
                                                                wall_before=wall_before, candidates=candidates, where=where, **kw))
    from vidsearch.index.store import CONCEPT, JOINT
    from vidsearch.models.detectors import query_colours

    if limit < 1:
        return Moments()
    q = parse_query(query)
    k = candidates or max(200, 20 * (offset + limit))
    filters = dict(video_id=video_id, start=after, end=before)
    frames: dict[tuple[str, float], _Frame] = {}

    def slot(hit: FrameHit) -> _Frame:
        f = frames.get(_key(hit))
        if f is None:
            f = frames[_key(hit)] = _Frame(hit)
        elif not f.hit.extra and hit.extra:
            f.hit = hit
        return f

    concepts = encoders.concepts
    sims = None
    used = []
    segments_of = None
    if concepts is not None and CONCEPT in store.dims:
        used.append("concept")
        qv = concepts.embed_query(q.text)
        sims = concepts.similarities(qv)
        lo, hi = float(sims.mean()), float(sims.max())

        def norm(c: float) -> float:
            return float(np.clip((c - lo) / max(hi - lo, 1e-6), 0.0, 1.0))

        for h in store.search_frames(CONCEPT, qv, k, **filters, **walls):
            slot(h).concept = norm(h.score)

        def segments_of(vid: str):  # noqa: F811 -- the shots of a video
            return [seg for seg, _ in store.search_segments(CONCEPT, qv, 10_000, video_id=vid)]
    joint = encoders.joint
    if joint is not None and JOINT in store.dims:
        used.append("joint")
        jv = joint.encode_texts([q.text])[0]
        for h in store.search_frames(JOINT, jv, k, **filters, **walls):
            slot(h).joint = float(np.clip((h.score - JOINT_LO) / (JOINT_HI - JOINT_LO), 0.0, 1.0))
    asked = list(dict.fromkeys(q.ocr_words + [w for p in q.phrases for w in p]))
    try:
        text_hits = store.search_text(asked, 5 * k, **filters, **walls)
        used.append("text")
    except NotImplementedError:
        text_hits = []
    else:  # frames with a word read one edit away; asked apart, so that they never crowd out exact ones
        variants = sorted(set().union(*(near_words(w) for w in q.ocr_words)) - set(asked))
        if variants:
            text_hits += store.search_text(variants, 5 * k, **filters, **walls)
    for h in text_hits:
        s, words = text_score(h.extra.get("text", ""), q)
        if s > 0:
            f = slot(h)
            f.text, f.text_words = s, words
    if not used:
        raise ValueError("text search needs the concept vectors (VIDSEARCH_CONCEPTS=1 and VIDSEARCH_SEMANTIC=1 "
                         "at ingest), on-screen text (VIDSEARCH_OCR=1) or a joint model (VIDSEARCH_JOINT_MODEL)")

    colours = query_colours(tokens(q.text))
    for f in frames.values():
        if q.phrases and not all(_contains(tokens(f.hit.extra.get("text", "")), p) for p in q.phrases):
            f.score = 0.0
            continue
        shares = f.hit.extra.get("colours")
        c = f.concept
        if colours and isinstance(shares, dict):
            share = float(np.mean([float(shares.get(name, 0.0)) for name in colours]))
            f.colour = (colours[0], share)
            c *= 1 - COLOUR_WEIGHT + COLOUR_WEIGHT * min(1.0, share / COLOUR_FULL)
        f.score = 1 - (1 - W_CONCEPT * c) * (1 - W_JOINT * f.joint) * (1 - W_TEXT * f.text)
    want = offset + limit + 1 if sort == "score" else MAX_SORTED
    found, records = _moments([f for f in frames.values() if f.score > 0], q, sims, encoders, catalog, settings, want,
                              segments_of, after=after)
    floor = levels("text").floor
    strong = [m for m in found if m.score >= floor]
    weak = [m for m in found if m.score < floor]
    return page(strong, weak if include_weak else [], weak_count=len(weak), limit=limit, offset=offset, sort=sort,
                records=records, label=labeller("text", why=lambda m: m.extra["why"]))


def taught_in(query: str, names: list[str]) -> list[str]:
    """The taught words that the query says: all their words, in order, next to each other."""
    q = tokens(query)
    return [n for n in names if (w := tokens(n)) and any(q[i: i + len(w)] == w for i in range(len(q) - len(w) + 1))]


def _with_taught(query, searchers, *, limit, offset, video_id, after, before, where, include_weak, search) -> Moments:
    """The taught words' moments (best first), then the plain text search's that do not overlap them."""
    want = offset + limit + 1
    first = sorted((m for s in searchers
                    for m in s(limit=want, video_id=video_id, after=after, before=before, where=where)),
                   key=lambda m: -m.score)
    try:
        rest = search(limit=want, include_weak=include_weak)
    except ValueError:  # no text signal indexed: the taught words alone answer
        rest = Moments()
    rest_kept = [m for m in rest if not any(m.video_id == t.video_id and m.start < t.end and t.start < m.end
                                            for t in first)]
    ordered = first + rest_kept
    more = len(ordered) > offset + limit
    return Moments(ordered[offset: offset + limit], weak=getattr(rest, "weak", 0),
                   next_offset=offset + limit if more else None)


def _snap(spans, segments_of, videos: set[str]) -> None:
    """Widen each span of ``videos`` to the shots it lies in, when they are short; merge what then
    overlaps (the dropped span gets ``hits = 0``)."""
    for vid in videos:
        segs = segments_of(vid)
        if not segs:
            continue
        mine = sorted((sp for sp in spans if sp.video_id == vid), key=lambda sp: sp.start)
        for sp in mine:
            inside = [seg for seg in segs if seg.end > sp.start and seg.start < sp.end]
            if inside and all(seg.end - seg.start <= SNAP_MAX for seg in inside):
                sp.start, sp.end = min(seg.start for seg in inside), max(seg.end for seg in inside)
        for a, b in zip(mine, mine[1:]):  # snapped spans that now overlap: keep the better one's extent
            if b.start < a.end and b.hits and a.hits:
                keep, drop = (a, b) if a.score >= b.score else (b, a)
                keep.start, keep.end = min(a.start, b.start), max(a.end, b.end)
                keep.hits += drop.hits
                drop.hits = 0  # dropped below


def centred(start: float, end: float, period: float, duration: float | None = None,
            after: float | None = None) -> tuple[float, float]:
    """A span's edges moved back by half a sample period. Frames are sampled every ``period``
    seconds and a span runs from its first frame (or the start of its first shot, which is a
    sampled frame too) to the next sample after its last frame, so a change (a cut) that it starts
    or ends at lies somewhere in the period before that sample: half a period earlier is the
    unbiased estimate of both edges (on average they came out half a period late). The start stays
    >= 0 and >= ``after`` (the query's lower time bound); an end at the video's end (``duration``)
    stays there. The span's frames all stay inside it."""
    half = period / 2
    start = max(0.0, start - half, after if after is not None else 0.0)
    if duration:
        end = min(end, duration)
    if not duration or end < duration:
        end -= half
    return start, end


def _moments(frames: list[_Frame], q: ParsedQuery, sims, encoders, catalog, settings, limit: int,
             segments_of=None, after: float | None = None) -> tuple[list[Moment], dict]:
    period = 1.0 / settings.sample_fps
    by_video: dict[str, list[_Frame]] = defaultdict(list)
    for f in frames:
        by_video[f.hit.video_id].append(f)
    kept: list[FrameHit] = []
    lookup: dict[tuple[str, float], _Frame] = {}
    for vid, vframes in by_video.items():
        best = max(f.score for f in vframes)
        for f in vframes:
            if f.score >= KEEP * best:
                hit = FrameHit(f.hit.video_id, f.hit.timestamp, f.hit.segment_index, f.score, f.hit.until)
                kept.append(hit)
                lookup[_key(hit)] = f
    spans = merge_hits(kept, gap=max(settings.moment_gap, 1.5 * period), sample_period=period)
    if segments_of is not None:
        videos: list[str] = []
        for sp in spans:  # spans come best first: snap the videos that can reach the answer
            if sp.video_id not in videos:
                videos.append(sp.video_id)
        _snap(spans, segments_of, set(videos[: 3 * limit]))
        spans = [sp for sp in spans if sp.hits > 0]
    scored = []
    for span in spans:
        members = sorted((f.score for f in by_video[span.video_id]
                          if span.start <= f.hit.timestamp < span.end and f.score >= KEEP * span.score), reverse=True)
        top = float(np.mean(members[:3] or [span.score]))
        score = 0.8 * span.score + 0.2 * top
        scored.append((score, span))
    scored.sort(key=lambda x: (-x[0], x[1].video_id, x[1].start))
    seen: dict[str, int] = defaultdict(int)
    first, rest = [], []
    for item in scored:  # a video's moments after its PER_VIDEO best wait until every other video's have come
        seen[item[1].video_id] += 1
        (first if seen[item[1].video_id] <= PER_VIDEO else rest).append(item)
    scored = first + rest
    moments: list[Moment] = []
    records: dict = {}
    for score, span in scored:
        if span.video_id not in records:
            records[span.video_id] = catalog.get(span.video_id)
        rec = records[span.video_id]
        if rec is None or rec.status != "indexed":
            continue  # points of a video being (re)indexed or deleted
        f = lookup[(span.video_id, round(span.keyframe, 3))]
        thumb = settings.thumbnails_dir / span.video_id / f"{span.segment_index:05d}.jpg"
        start, end = centred(span.start, span.end, period, rec.duration, after)
        moments.append(Moment(
            video_id=span.video_id, path=rec.path, start=start, end=end, timestamp=span.timestamp, score=score,
            thumbnail=str(thumb) if thumb.exists() else None, extra={"why": why(f, q, sims, encoders)},
        ))
        if len(moments) == limit:
            break
    return moments, records


def why(f: _Frame, q: ParsedQuery, sims, encoders) -> list[str]:
    out = []
    if f.text > 0:
        out.append(f"text on screen: '{' '.join(f.text_words)}'")
    if f.concept >= 0.15 and sims is not None and encoders.concepts is not None:
        top = f.hit.extra.get("concepts") or []
        named = encoders.concepts.explain(sims, top, limit=2)
        # a class name is shown only when it says what was asked ("sports car" for "red car"); a
        # neighbour that only sounds near ("unicycle" for "bicycle") would mislead
        words = {w for w in tokens(q.text) if len(w) >= 3}
        said = [name for name, _ in named if words & set(tokens(name))]
        out.extend(f"shows: {name}" for name in said)
        if not said:
            out.append(f"the picture resembles '{q.text}' (picture classifier)")
    if f.colour is not None and f.colour[1] >= 0.01:  # a named colour that is there (0.00 explains nothing)
        out.append(f"colour: {f.colour[0]} ({f.colour[1]:.0%} of the picture)")
    if f.joint > 0:
        out.append(f"image-text model: {f.joint:.2f} of 1")
    return out

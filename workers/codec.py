"""A :class:`~vidsearch.ingest.indexer.Batch` (plus its segments' thumbnails) as bytes and back.

This is what a worker pushes to Redis when the store's owner is another process (the embedded
store: :class:`workers.writer.RedisRelayWriter`). Layout: a 4-byte big-endian header length, a
JSON header (keyframe times, segments, array shapes, thumbnail sizes), then the raw float32 arrays
and the JPEG bytes, in header order. No pickle: the owner never runs code that a message carries.

Size: 4 bytes per vector value, so a keyframe costs 2 kB (copy, 512-d) or 7.2 kB with the semantic
vector (1280-d), a segment the same again plus its thumbnail (5-15 kB). An hour of busy footage at
1 frame/s is 3600 keyframes, about 26 MB with semantic vectors, 7.4 MB without.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from vidsearch.ingest.indexer import Batch
from vidsearch.records import Keyframe, Segment

_LEN = struct.Struct(">I")


def encode(batch: Batch, thumbnails: dict[str, bytes] | None = None) -> bytes:
    """``thumbnails``: file name -> JPEG bytes of the batch's segments (may be empty)."""
    parts: list[bytes] = []
    kf_vectors: dict[str, list[int]] = {}
    for name in ("copy", "semantic"):
        rows = [getattr(k, name) for k in batch.keyframes]
        have = [r is not None for r in rows]
        if not any(have):
            continue
        if not all(have):
            raise ValueError(f"some keyframes of the batch have a {name} vector and some do not")
        arr = np.ascontiguousarray(np.stack(rows), dtype=np.float32)
        kf_vectors[name] = list(arr.shape)
        parts.append(arr.tobytes())
    seg_vectors: dict[str, list[int]] = {}
    for name, arr in sorted(batch.segment_vectors.items()):
        a = np.ascontiguousarray(np.asarray(arr, dtype=np.float32))
        if a.ndim == 1:
            a = a[None, :]
        seg_vectors[name] = list(a.shape)
        parts.append(a.tobytes())
    thumbs = []
    for fname, data in (thumbnails or {}).items():
        thumbs.append([fname, len(data)])
        parts.append(data)
    header = {
        "keyframes": [[k.timestamp, k.segment_index, k.until] for k in batch.keyframes],
        "kf_vectors": kf_vectors,
        "segments": [[s.video_id, s.index, s.start, s.end, s.keyframes, s.thumbnail] for s in batch.segments],
        "seg_vectors": seg_vectors,
        "thumbnails": thumbs,
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    return _LEN.pack(len(head)) + head + b"".join(parts)


def decode(data: bytes) -> tuple[Batch, dict[str, bytes]]:
    (n,) = _LEN.unpack_from(data, 0)
    header = json.loads(data[4 : 4 + n])
    pos = 4 + n

    def take(shape: list[int]) -> np.ndarray:
        nonlocal pos
        count = int(np.prod(shape))
        arr = np.frombuffer(data, dtype=np.float32, count=count, offset=pos).reshape(shape)
        pos += count * 4
        return arr

    kf_arrays = {name: take(shape) for name, shape in header["kf_vectors"].items()}
    keyframes = []
    for i, (t, seg, until) in enumerate(header["keyframes"]):
        keyframes.append(Keyframe(timestamp=t, segment_index=seg, until=until,
                                  copy=kf_arrays["copy"][i] if "copy" in kf_arrays else None,
                                  semantic=kf_arrays["semantic"][i] if "semantic" in kf_arrays else None))
    seg_vectors = {name: take(shape) for name, shape in header["seg_vectors"].items()}
    segments = [Segment(video_id=v, index=i, start=s, end=e, keyframes=list(k), thumbnail=th)
                for v, i, s, e, k, th in header["segments"]]
    thumbs: dict[str, bytes] = {}
    for fname, size in header["thumbnails"]:
        thumbs[Path(fname).name] = bytes(data[pos : pos + size])  # a bare name: never a path elsewhere
        pos += size
    if pos != len(data):
        raise ValueError(f"batch message has {len(data) - pos} unexpected trailing bytes")
    return Batch(keyframes=keyframes, segments=segments, segment_vectors=seg_vectors), thumbs

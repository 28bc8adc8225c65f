"""All configuration, read from the environment in one place.

Every other module receives a :class:`Settings` (or the few values it needs) as an argument;
nothing else in the code base reads ``os.environ`` for vidsearch settings.

| variable | default | meaning |
|---|---|---|
| VIDSEARCH_DATA_DIR | ``~/.local/share/vidsearch`` | catalog, embedded Qdrant store, thumbnails |
| VIDSEARCH_QDRANT_URL | (unset) | a Qdrant server; unset means the embedded store in the data folder |
| VIDSEARCH_QDRANT_API_KEY | (unset) | API key for that server |
| VIDSEARCH_DEVICE | ``auto`` | ``auto`` (CUDA when present), ``cpu`` or ``cuda`` |
| VIDSEARCH_SAMPLE_FPS | ``1.0`` | frames sampled per second of video |
| VIDSEARCH_FRAME_SIZE | ``224`` | short side, in pixels, that frames are decoded to |
| VIDSEARCH_DECODER | ``pyav`` | ``pyav``: PyAV, skipping non-reference frames (measured 1.8x less CPU than decord for the same ingest, docs/benchmarks.md); ``auto``: decord where it can be trusted, else PyAV |
| VIDSEARCH_KEYFRAME_SAMPLING | ``0`` | ``1``: where a file's keyframes come at least every 2 sample periods (IP cameras: every 1-2 s), decode only them and take them as the samples, with their true times (verified; a file whose keyframes do not decode alone falls back to the full decode; vidsearch/media/decode.py). Camera-style busy 720p: ingest 0.77x the decode floor instead of 1.3x; but image-search timestamps on camera-style copies of the real clips fell from 95.1% to 94.0% right (docs/benchmarks.md, "Ingest at camera speed"), so it is not the default |
| VIDSEARCH_SKIP_LOOP_FILTER | ``0`` | ``1``: skip the decoder's deblocking filter, keyframes decoded alone included (about 10% less decode time, 7% on keyframes alone; the picture drifts slightly along a GOP; image search 95.6% -> 94.9% with the other shortcuts, so not the default) |
| VIDSEARCH_SKIP_BFRAMES | ``0`` | ``1``: elsewhere, decode no B-frame where the file's I- and P-frames decode the same without them (checked on its first 2 s, byte for byte, against a decode that keeps the reference B-frames; x264's faster presets, with one reference frame, qualify: 0.6x the decode time of the busy 720p bench video; most files that refer to B-frames from P-frames do not, and are decoded as before; a file whose P-frames start referring to B-frames after its first 2 s would be decoded wrong, which is why this is not the default). The samples are then I- and P-frames, at most 0.25 s after the sample time |
| VIDSEARCH_DECODE_CHUNK | ``32`` | frames decoded per chunk (bounds memory) |
| VIDSEARCH_DECODE_TIMEOUT | ``120`` | seconds without progress before decord is abandoned for PyAV |
| VIDSEARCH_MAX_SEGMENT | ``30`` | longest segment, in seconds, before a shot is split |
| VIDSEARCH_SHOT_THRESHOLD | ``0.35`` | colour-histogram distance (0..1) between consecutive samples above which a shot cut is declared |
| VIDSEARCH_STATIC_CHANGE | ``0.002`` | a sample whose fraction of changed pixels (vs the last embedded frame of its segment) is at most this is not embedded again |
| VIDSEARCH_BATCH_SIZE | ``auto`` | frames per encoder batch; ``auto``: 4 on the CPU (on 2 cores, 1.4-2.8x faster embedding than 32 and less memory, docs/benchmarks.md "Ingest at camera speed"), 32 on CUDA |
| VIDSEARCH_COPY_MODEL | ``distilled`` | SSCD variant: ``distilled`` (fast) or ``full`` |
| VIDSEARCH_SEMANTIC | ``1`` | compute the EfficientNet semantic embedding (``0`` to skip) |
| VIDSEARCH_SEMANTIC_INT8 | ``0`` | run EfficientNet quantised to int8 (CPU; made from the installed weights on first use and cached beside the ONNX export; vidsearch/models/quantise.py): 1.7x its speed, features at cosine 0.985 to the float ones, on CPUs with VNNI (x86 without it: float, with a warning). Set it the same for ingest and search (a change re-embeds nothing: re-ingest with ``--force``) |
| VIDSEARCH_MOMENT_GAP | ``2.0`` | frame hits closer than this (s) in one video merge into one moment |
| VIDSEARCH_IMAGE_REFINE | ``1`` | image search: re-check the first moment's timestamp against a few decoded seconds of its video (local-feature matching of the query with frames around the best stored frames, never leaving the moment; vidsearch/search/refine.py): the default of the CLI, the API (``refine`` per request) and the search page. Measured on the real clips (docs/benchmarks.md "Image search", docs/moments.md). ``0``: the stored answer (one frame a sample period), for very high query rates; it also stands when the video file is not where the search runs |
| VIDSEARCH_CONCEPTS | ``1`` | text search: store each keyframe's concept vector (ConSE over EfficientNet's ImageNet classes; needs VIDSEARCH_SEMANTIC=1) |
| VIDSEARCH_CONCEPT_TOP_K | ``20`` | classes mixed into a concept vector |
| VIDSEARCH_OCR | ``1`` | text search: read text on screen with Tesseract (keyframes whose picture or text regions changed) |
| VIDSEARCH_OCR_ENGINE | ``tesseract`` | text search: what reads the text boxes: ``tesseract`` (Debian ``tesseract-ocr``), or ``ppocr``, PaddleOCR's PP-OCRv6 text-line recogniser (``pip install rapidocr==3.10.0`` carries its weights; vidsearch runs it with ONNX Runtime), which reads signs and captions on busy backgrounds better, for about 3.4x Tesseract's CPU time (+60-70% ingest CPU on the real clips; docs/benchmarks.md) |
| VIDSEARCH_OCR_RETRY_INVERTED | ``1`` | text search: let Tesseract read a word again inverted when it is unsure (its own default); ``0`` skips that retry (the crops are already dark on light): 35% less OCR CPU, measured in docs/benchmarks.md ("Ingest at camera speed") |
| VIDSEARCH_OCR_IN_PROCESS | ``1`` | text search: read with libtesseract in the ingest's own process (vidsearch/models/tesslib.py; the same words as the program, without a process start and model load per batch); ``0``: run the ``tesseract`` program, which a crash inside Tesseract cannot take the ingest down with |
| VIDSEARCH_OCR_INTERVAL | ``2`` | text search: the minimum time, in seconds, between two OCR reads of one video, even when the picture changed (a change of the text alone is read at most every 2 s in any case). On busy video every sample's picture changes, and ``0`` (the behaviour before) has Tesseract read every sample (1 a second); at ``2`` the busy 3-min 720p video's OCR stage took 1.9-2.0 s instead of 5.2-5.4 s (ingest wall -7 to -13%) and no rank of the 58 text-search queries moved (docs/benchmarks.md, "Ingest at camera speed"). A caption that appears is still read at the first sample after the interval (the gate compares with the last frame READ), but one shown for less than the interval can be missed: ``0`` reads every changed sample |
| VIDSEARCH_OCR_BACKOFF | ``0`` (off) | text search: the longest interval, in seconds, between two OCR reads of one video while its reads find nothing: after a read without a word of 3 or more characters the interval (VIDSEARCH_OCR_INTERVAL) doubles, up to this; a read that finds one resets it. On busy footage without text (where Tesseract reads noise of two letters) most reads are skipped; a caption that appears meanwhile is read within this many seconds. ``0`` or a value up to VIDSEARCH_OCR_INTERVAL: no back-off |
| VIDSEARCH_OCR_SIZE | ``0`` (off) | text search: short side, in pixels, of a larger copy of each sampled frame that OCR reads its text boxes from (capped at the source's own; the boxes are still found, and the change gate run, on the VIDSEARCH_FRAME_SIZE frames; the encoders' input is unchanged). PyAV only (frames that decord decodes have no copy: a second decord pass cost +46% ingest CPU). ``0``: read the boxes from the VIDSEARCH_FRAME_SIZE frames. Off by default: on the 58 text-search queries no rank moved at 448 or 720, and on the busy 10-min 720p ingest 448 cost 47.3 s instead of 37.8 s (Tesseract on larger crops) and 1457 MiB peak RSS instead of 916 (docs/benchmarks.md); it reads small captions that the 224-px frames blur |
| VIDSEARCH_DETECTORS | (empty) | comma-separated extra detectors at ingest: ``person`` (HOG), ``face`` (Haar), ``colour``; none by default (measured on the real clips, docs/benchmarks.md: the three together cost +55% ingest CPU for no gain; ``colour`` alone, 1.3 ms a frame, helps on vivid footage and loses one multi-scene span on desaturated footage) |
| VIDSEARCH_JOINT_MODEL | (unset) | a CLIP-family model for text and semantic image search: a local folder (open_clip or transformers) or a model id on a machine that can download |
| VIDSEARCH_JOINT_BACKEND | ``auto`` | ``auto``, ``open_clip`` or ``transformers`` |
| VIDSEARCH_CLIP_FPS | ``4.0`` | frames sampled per second of a short query clip (search --clip, dedup) |
| VIDSEARCH_CLIP_MAX_FRAMES | ``24`` | a longer query clip is sampled more sparsely, down to VIDSEARCH_SAMPLE_FPS (10 s: 2.4 frames/s) |
| VIDSEARCH_CLIP_CANDIDATES | ``20`` | candidate videos a clip query aligns against |
| VIDSEARCH_CLIP_MIN_SIM | ``0.3`` | copy-descriptor similarity below which two frames are not aligned |
| VIDSEARCH_DEDUP_THRESHOLD | ``0.63`` | copy score (mean copy-descriptor similarity along the alignment) at or above which dedup reports a copy; calibrated in docs/dedup.md |
| VIDSEARCH_TIMEZONE | (unset: the server's local zone) | the zone (an IANA name such as ``Europe/Paris``) in which a time-of-day filter (``--time-of-day 22:00-06:00``, API ``time_of_day``) reads recordings' wall-clock times |
| VIDSEARCH_API_KEY | (unset) | web server: when set, write endpoints need ``Authorization: Bearer KEY`` or ``X-API-Key: KEY`` |
| VIDSEARCH_ALLOWED_HOSTS | (unset) | web server: host names (comma-separated) the server answers to besides ``localhost``, IP addresses and the ``--host`` it binds: the public name behind a reverse proxy (``.example.org`` also allows its subdomains); ``*``: any. Another ``Host`` gets 421 ``bad_host`` (DNS rebinding: docs/reliability.md) |
| VIDSEARCH_WATCHLIST_CONFIRM | ``1`` | image watchlists (not regions of a picture): an alert below the clip's same-footage score (0.63) must also share local features with the picture (at least 30 ORB inliers in the frames around its instant, decoded once per candidate alert; vidsearch/search/refine.py ``confirm``): on the shared clips this removes every alert on a look-alike (the same room and fixed camera, other people) and keeps recall (docs/watchlists.md). ``0``: the copy score alone |
| VIDSEARCH_WEBHOOK_HOSTS | (unset: any) | watchlist webhooks: host names (comma-separated) a webhook URL may point to; unset, any host (the server POSTs from inside your network: see docs/watchlists.md "SSRF") |
| VIDSEARCH_ALLOWED_ROOTS | (unset: none) | web server: folders (``os.pathsep``-separated) under which ``POST /api/v1/videos {"path"}`` may ingest server-side files |
| VIDSEARCH_MAX_UPLOAD_MB | ``2048`` | web server: largest video upload (``POST /api/v1/videos``) |
| VIDSEARCH_MAX_QUERY_MB | ``100`` | web server: largest query upload (image or clip for search and dedup) |
| VIDSEARCH_IMAGE_DECODES | ``2`` | web server: query pictures decoded at once (each may take up to ~200 MiB, vidsearch/media/image.py); a search that waits 10 s for a slot gets 503 with Retry-After |
| VIDSEARCH_MAX_QUERY_CLIP_S | ``300`` | longest query clip, in seconds (search --clip, dedup, their API calls): a longer one is refused from its probed duration before it is decoded (API: 413 ``clip_too_long``), and the sampler stops after this many seconds of decoded video whatever the file says |
| VIDSEARCH_MAX_EXPORT_S | ``300`` | longest span, in seconds, that ``GET /api/v1/videos/{id}/clip`` and ``vidsearch export`` cut out of a video (API: 413 ``span_too_long`` above it) |
| VIDSEARCH_PLAYABLE_BUDGET_MB | ``4096`` | disk (MiB) that the browser-playable copies of videos a browser cannot play (MS-MPEG4 AVI, HEVC, ...; vidsearch/media/playable.py) may take in the data folder's ``playable/``: the least recently played copies are removed first; a copy larger than this is not made. ``0``: no copies (such videos do not play in the page) |
| VIDSEARCH_UPLOAD_DIR | data folder ``/uploads`` | web server: where uploaded videos are stored (under generated names) |
| VIDSEARCH_MIN_FREE_MB | ``1024`` | free disk (MiB) kept in reserve: an upload that would leave less in the upload folder is refused (507), and so is an ingest (CLI, web job, ``POST /api/v1/videos {"path"}``: 507) while the data folder has less, before anything is written (``vidsearch/diskspace.py``); the embedded store checks it (at least 64 MiB) before every write and is read-only below it |
| VIDSEARCH_SEGMENT_ENCODER | ``mean`` | segment vector for clip candidates: ``mean`` (mean of the keyframes' copy descriptors, vector ``copy``) or ``temporal`` (also the two-stream CNN-LSTM encoder, vector ``temporal``; docs/temporal.md) |
| VIDSEARCH_TEMPORAL_WEIGHTS | (unset) | weights file of the temporal encoder; unset: the ones shipped in the package |
| VIDSEARCH_BROKER_URL | (unset) | ``redis://host:port/db``: Celery mode (``vidsearch ingest`` enqueues, ``vidsearch worker`` indexes); unset: ingestion in-process (docs/scaling.md) |
| VIDSEARCH_REDIS_PREFIX | ``vidsearch`` | prefix of every Redis key (job state, result relay, Celery queues): one per catalog |
| VIDSEARCH_QUEUE | ``cpu`` | the Celery queue ``vidsearch ingest`` sends jobs to (``cpu`` or ``gpu``: the workers started with ``--queues``) |
| VIDSEARCH_CHUNK_SECONDS | ``180`` | seconds of video per worker task (a video is split into chunks embedded in parallel) |
| VIDSEARCH_TASK_TIME_LIMIT | ``1200`` | seconds after which a worker task is killed (and retried); must be below the visibility timeout |
| VIDSEARCH_VISIBILITY_TIMEOUT | ``3600`` | seconds after which Redis hands an unacknowledged task (its worker died) to another worker |
| VIDSEARCH_RELAY_MAX_MB | ``512`` | embedded store: results waiting in Redis for the store's owner above which workers pause |
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping


OCR_ENGINES = ("tesseract", "ppocr")


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


def parse_bool(raw: str) -> bool:
    """A yes/no value as the environment and form fields give it: 1/0, true/false, yes/no, on/off."""
    low = raw.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected 1/0, true/false, yes/no or on/off")


def _roots(raw: str) -> tuple[Path, ...]:
    """``VIDSEARCH_ALLOWED_ROOTS``: folders separated by ``os.pathsep``, resolved (symlinks too)."""
    return tuple(Path(part).expanduser().resolve() for part in raw.split(os.pathsep) if part.strip())


_HOST_NAME = re.compile(r"^\.?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$")


def _hosts(raw: str) -> tuple[str, ...]:
    """``VIDSEARCH_ALLOWED_HOSTS``: comma-separated host names (no scheme, no port), or ``*``."""
    names = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    for name in names:
        if name != "*" and not _HOST_NAME.match(name):
            raise ValueError(f"{name!r} is not a host name (give names such as vid.example.org or "
                             f".example.org, without scheme or port; or *)")
    return names


def _default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vidsearch"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    device: str = "auto"
    sample_fps: float = 1.0
    frame_size: int = 224
    decoder: str = "pyav"
    keyframe_sampling: bool = False
    skip_loop_filter: bool = False
    skip_bframes: bool = False
    decode_chunk: int = 32
    decode_timeout: float = 120.0
    max_segment: float = 30.0
    shot_threshold: float = 0.35
    static_change: float = 0.002
    batch_size: int | None = None  # None: auto (vidsearch.models.device.batch_for)
    copy_model: str = "distilled"
    semantic: bool = True
    semantic_int8: bool = False
    moment_gap: float = 2.0
    image_refine: bool = True
    concepts: bool = True
    concept_top_k: int = 20
    ocr: bool = True
    ocr_size: int = 0
    ocr_retry_inverted: bool = True
    ocr_in_process: bool = True
    ocr_engine: str = "tesseract"
    ocr_interval: float = 2.0
    ocr_backoff: float = 0.0
    detectors: tuple[str, ...] = ()
    joint_model: str | None = None
    joint_backend: str = "auto"
    clip_fps: float = 4.0
    clip_max_frames: int = 24
    clip_candidates: int = 20
    clip_min_sim: float = 0.3
    dedup_threshold: float = 0.63
    timezone: str | None = None  # IANA zone name; None: the server's local zone
    api_key: str | None = field(default=None, repr=False)
    allowed_roots: tuple[Path, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    webhook_hosts: tuple[str, ...] = ()
    watchlist_confirm: bool = True
    max_upload_mb: float = 2048.0
    max_query_mb: float = 100.0
    image_decodes: int = 2
    max_query_clip_s: float = 300.0
    max_export_s: float = 300.0
    playable_budget_mb: float = 4096.0
    upload_dir: Path | None = None  # None: data_dir / "uploads" (see uploads_dir)
    min_free_mb: float = 1024.0
    segment_encoder: str = "mean"
    temporal_weights: str | None = None
    broker_url: str | None = None
    redis_prefix: str = "vidsearch"
    queue: str = "cpu"
    chunk_seconds: float = 180.0
    task_time_limit: float = 1200.0
    visibility_timeout: float = 3600.0
    relay_max_mb: float = 512.0
    extra: dict = field(default_factory=dict, compare=False)

    # Derived locations inside the data folder -------------------------------------------
    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.sqlite"

    @property
    def watchlists_path(self) -> Path:
        """Watchlists, alerts, marks and the webhook queue (vidsearch/alert/watchlist.py)."""
        return self.data_dir / "watchlists.sqlite"

    @property
    def qdrant_path(self) -> Path:
        return self.data_dir / "qdrant"

    @property
    def thumbnails_dir(self) -> Path:
        return self.data_dir / "thumbnails"

    @property
    def query_images_dir(self) -> Path:
        """Query pictures kept a while under their content hash, so that ``/?image=HASH`` links work."""
        return self.data_dir / "queries"

    @property
    def playable_dir(self) -> Path:
        """Browser-playable copies of videos that browsers cannot play (``<video id>.mp4``)."""
        return self.data_dir / "playable"

    @property
    def exports_dir(self) -> Path:
        """Where exported clips are written before they are sent (each removed once sent)."""
        return self.data_dir / "exports"

    @property
    def lock_path(self) -> Path:
        return self.data_dir / "owner.lock"

    @property
    def uploads_dir(self) -> Path:
        return self.upload_dir if self.upload_dir is not None else self.data_dir / "uploads"

    @property
    def server_info_path(self) -> Path:
        """Where a running ``vidsearch serve`` advertises its URL (the CLI talks to it)."""
        return self.data_dir / "server.json"

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env

        def get(name: str, default, conv):
            raw = env.get(f"VIDSEARCH_{name}")
            if raw is None or raw == "":
                return default
            try:
                return conv(raw)
            except ValueError as exc:
                raise ConfigError(f"VIDSEARCH_{name}={raw!r}: {exc}") from None

        s = cls(
            data_dir=Path(get("DATA_DIR", str(_default_data_dir(env)), str)).expanduser().resolve(),
            qdrant_url=get("QDRANT_URL", None, str),
            qdrant_api_key=get("QDRANT_API_KEY", None, str),
            device=get("DEVICE", "auto", str).lower(),
            sample_fps=get("SAMPLE_FPS", 1.0, float),
            frame_size=get("FRAME_SIZE", 224, int),
            decoder=get("DECODER", "pyav", str).lower(),
            keyframe_sampling=get("KEYFRAME_SAMPLING", False, parse_bool),
            skip_loop_filter=get("SKIP_LOOP_FILTER", False, parse_bool),
            skip_bframes=get("SKIP_BFRAMES", False, parse_bool),
            decode_chunk=get("DECODE_CHUNK", 32, int),
            decode_timeout=get("DECODE_TIMEOUT", 120.0, float),
            max_segment=get("MAX_SEGMENT", 30.0, float),
            shot_threshold=get("SHOT_THRESHOLD", 0.35, float),
            static_change=get("STATIC_CHANGE", 0.002, float),
            batch_size=get("BATCH_SIZE", None, lambda raw: None if raw.strip().lower() == "auto" else int(raw)),
            copy_model=get("COPY_MODEL", "distilled", str).lower(),
            semantic=get("SEMANTIC", True, parse_bool),
            semantic_int8=get("SEMANTIC_INT8", False, parse_bool),
            moment_gap=get("MOMENT_GAP", 2.0, float),
            image_refine=get("IMAGE_REFINE", True, parse_bool),
            concepts=get("CONCEPTS", True, parse_bool),
            concept_top_k=get("CONCEPT_TOP_K", 20, int),
            ocr=get("OCR", True, parse_bool),
            ocr_size=get("OCR_SIZE", 0, int),
            ocr_retry_inverted=get("OCR_RETRY_INVERTED", True, parse_bool),
            ocr_in_process=get("OCR_IN_PROCESS", True, parse_bool),
            ocr_engine=get("OCR_ENGINE", "tesseract", str).lower(),
            ocr_interval=get("OCR_INTERVAL", 2.0, float),
            ocr_backoff=get("OCR_BACKOFF", 0.0, float),
            detectors=get("DETECTORS", (), lambda raw: tuple(d.strip().lower() for d in raw.split(",") if d.strip())),
            joint_model=get("JOINT_MODEL", None, str),
            joint_backend=get("JOINT_BACKEND", "auto", str).strip().lower(),
            clip_fps=get("CLIP_FPS", 4.0, float),
            clip_max_frames=get("CLIP_MAX_FRAMES", 24, int),
            clip_candidates=get("CLIP_CANDIDATES", 20, int),
            clip_min_sim=get("CLIP_MIN_SIM", 0.3, float),
            dedup_threshold=get("DEDUP_THRESHOLD", 0.63, float),
            timezone=get("TIMEZONE", None, str),
            api_key=get("API_KEY", None, str),
            allowed_roots=get("ALLOWED_ROOTS", (), _roots),
            allowed_hosts=get("ALLOWED_HOSTS", (), _hosts),
            webhook_hosts=get("WEBHOOK_HOSTS", (), _hosts),
            watchlist_confirm=get("WATCHLIST_CONFIRM", True, parse_bool),
            max_upload_mb=get("MAX_UPLOAD_MB", 2048.0, float),
            max_query_mb=get("MAX_QUERY_MB", 100.0, float),
            image_decodes=get("IMAGE_DECODES", 2, int),
            max_query_clip_s=get("MAX_QUERY_CLIP_S", 300.0, float),
            max_export_s=get("MAX_EXPORT_S", 300.0, float),
            playable_budget_mb=get("PLAYABLE_BUDGET_MB", 4096.0, float),
            upload_dir=get("UPLOAD_DIR", None, lambda raw: Path(raw).expanduser().resolve()),
            min_free_mb=get("MIN_FREE_MB", 1024.0, float),
            segment_encoder=get("SEGMENT_ENCODER", "mean", str).strip().lower(),
            temporal_weights=get("TEMPORAL_WEIGHTS", None, str),
            broker_url=get("BROKER_URL", None, str),
            redis_prefix=get("REDIS_PREFIX", "vidsearch", str),
            queue=get("QUEUE", "cpu", str).strip().lower(),
            chunk_seconds=get("CHUNK_SECONDS", 180.0, float),
            task_time_limit=get("TASK_TIME_LIMIT", 1200.0, float),
            visibility_timeout=get("VISIBILITY_TIMEOUT", 3600.0, float),
            relay_max_mb=get("RELAY_MAX_MB", 512.0, float),
        )
        s.validate()
        return s

    def validate(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"VIDSEARCH_DEVICE must be auto, cpu or cuda, not {self.device!r}")
        if self.decoder not in ("auto", "pyav"):
            raise ConfigError(f"VIDSEARCH_DECODER must be auto or pyav, not {self.decoder!r}")
        if self.copy_model not in ("distilled", "full"):
            raise ConfigError(f"VIDSEARCH_COPY_MODEL must be distilled or full, not {self.copy_model!r}")
        if self.segment_encoder not in ("mean", "temporal"):
            raise ConfigError(f"VIDSEARCH_SEGMENT_ENCODER must be mean or temporal, not {self.segment_encoder!r}")
        if not (0 < self.sample_fps <= 60):
            raise ConfigError(f"VIDSEARCH_SAMPLE_FPS must be in (0, 60], not {self.sample_fps}")
        if not (32 <= self.frame_size <= 1024):
            raise ConfigError(f"VIDSEARCH_FRAME_SIZE must be in [32, 1024], not {self.frame_size}")
        if self.ocr_engine not in OCR_ENGINES:
            raise ConfigError(f"VIDSEARCH_OCR_ENGINE must be {' or '.join(OCR_ENGINES)}, not {self.ocr_engine!r}")
        if not (0 <= self.ocr_interval <= 3600):
            raise ConfigError(f"VIDSEARCH_OCR_INTERVAL must be in [0, 3600] seconds, not {self.ocr_interval}")
        if not (0 <= self.ocr_backoff <= 3600):
            raise ConfigError(f"VIDSEARCH_OCR_BACKOFF must be in [0, 3600] seconds, not {self.ocr_backoff}")
        if not (self.ocr_size == 0 or 32 <= self.ocr_size <= 4320):
            raise ConfigError(f"VIDSEARCH_OCR_SIZE must be 0 (off) or in [32, 4320], not {self.ocr_size}")
        for name in ("decode_chunk", "batch_size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"VIDSEARCH_{name.upper()} must be at least 1")
        if not (self.max_upload_mb > 0 and self.max_query_mb > 0):
            raise ConfigError("VIDSEARCH_MAX_UPLOAD_MB and VIDSEARCH_MAX_QUERY_MB must be positive")
        if self.image_decodes < 1:
            raise ConfigError(f"VIDSEARCH_IMAGE_DECODES must be at least 1, not {self.image_decodes}")
        if not self.max_query_clip_s > 0:
            raise ConfigError(f"VIDSEARCH_MAX_QUERY_CLIP_S must be positive, not {self.max_query_clip_s}")
        if not self.max_export_s > 0:
            raise ConfigError(f"VIDSEARCH_MAX_EXPORT_S must be positive, not {self.max_export_s}")
        if self.playable_budget_mb < 0:
            raise ConfigError(f"VIDSEARCH_PLAYABLE_BUDGET_MB must not be negative, not {self.playable_budget_mb}")
        if self.min_free_mb < 0:
            raise ConfigError(f"VIDSEARCH_MIN_FREE_MB must not be negative, not {self.min_free_mb}")
        if not (0 < self.clip_fps <= 60):
            raise ConfigError(f"VIDSEARCH_CLIP_FPS must be in (0, 60], not {self.clip_fps}")
        if self.clip_max_frames < 2 or self.clip_candidates < 1:
            raise ConfigError("VIDSEARCH_CLIP_MAX_FRAMES must be at least 2 and VIDSEARCH_CLIP_CANDIDATES at least 1")
        if not (-1 <= self.clip_min_sim < 1) or not (0 <= self.dedup_threshold <= 1):
            raise ConfigError("VIDSEARCH_CLIP_MIN_SIM must be in [-1, 1) and VIDSEARCH_DEDUP_THRESHOLD in [0, 1]")
        if self.broker_url is not None and not self.broker_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"VIDSEARCH_BROKER_URL must be a Redis URL (redis://host:port/db), not {self.broker_url!r}")
        if not self.redis_prefix or any(c.isspace() for c in self.redis_prefix):
            raise ConfigError(f"VIDSEARCH_REDIS_PREFIX must be a non-empty word, not {self.redis_prefix!r}")
        if not self.queue.isidentifier():
            raise ConfigError(f"VIDSEARCH_QUEUE must be a queue name such as cpu or gpu, not {self.queue!r}")
        if self.chunk_seconds * self.sample_fps < 1:
            raise ConfigError(f"VIDSEARCH_CHUNK_SECONDS must hold at least one sample, not {self.chunk_seconds}")
        if not (0 < self.task_time_limit < self.visibility_timeout):
            raise ConfigError(f"VIDSEARCH_TASK_TIME_LIMIT ({self.task_time_limit:g}) must be positive and below "
                              f"VIDSEARCH_VISIBILITY_TIMEOUT ({self.visibility_timeout:g}), or Redis starts a "
                              f"task again while it still runs")
        if self.relay_max_mb <= 0:
            raise ConfigError(f"VIDSEARCH_RELAY_MAX_MB must be positive, not {self.relay_max_mb}")
        unknown = [d for d in self.detectors if d not in ("person", "face", "colour")]
        if unknown:
            raise ConfigError(f"VIDSEARCH_DETECTORS: unknown detector(s) {', '.join(unknown)}; expected person, face, colour")
        if self.joint_backend not in ("auto", "open_clip", "transformers"):
            raise ConfigError(f"VIDSEARCH_JOINT_BACKEND must be auto, open_clip or transformers, not {self.joint_backend!r}")
        if not (1 <= self.concept_top_k <= 1000):
            raise ConfigError(f"VIDSEARCH_CONCEPT_TOP_K must be in [1, 1000], not {self.concept_top_k}")
        if self.timezone is not None:
            from zoneinfo import ZoneInfo

            try:
                ZoneInfo(self.timezone)
            except (ValueError, KeyError, OSError):
                raise ConfigError(f"VIDSEARCH_TIMEZONE must be a time zone name such as Europe/Paris or UTC, "
                                  f"not {self.timezone!r}") from None
        if self.max_segment <= 0 or self.decode_timeout <= 0:
            raise ConfigError("VIDSEARCH_MAX_SEGMENT and VIDSEARCH_DECODE_TIMEOUT must be positive")

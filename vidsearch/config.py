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
| VIDSEARCH_DECODER | ``auto`` | ``auto``: decord where it can be trusted, else PyAV; ``pyav``: always PyAV |
| VIDSEARCH_DECODE_CHUNK | ``32`` | frames decoded per chunk (bounds memory) |
| VIDSEARCH_DECODE_TIMEOUT | ``120`` | seconds without progress before decord is abandoned for PyAV |
| VIDSEARCH_MAX_SEGMENT | ``30`` | longest segment, in seconds, before a shot is split |
| VIDSEARCH_SHOT_THRESHOLD | ``0.35`` | colour-histogram distance (0..1) between consecutive samples above which a shot cut is declared |
| VIDSEARCH_STATIC_CHANGE | ``0.002`` | a sample whose fraction of changed pixels (vs the last embedded frame of its segment) is at most this is not embedded again |
| VIDSEARCH_BATCH_SIZE | ``32`` | encoder batch size |
| VIDSEARCH_COPY_MODEL | ``distilled`` | SSCD variant: ``distilled`` (fast) or ``full`` |
| VIDSEARCH_SEMANTIC | ``1`` | compute the EfficientNet semantic embedding (``0`` to skip) |
| VIDSEARCH_MOMENT_GAP | ``2.0`` | frame hits closer than this (s) in one video merge into one moment |
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


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
    decoder: str = "auto"
    decode_chunk: int = 32
    decode_timeout: float = 120.0
    max_segment: float = 30.0
    shot_threshold: float = 0.35
    static_change: float = 0.002
    batch_size: int = 32
    copy_model: str = "distilled"
    semantic: bool = True
    moment_gap: float = 2.0
    extra: dict = field(default_factory=dict, compare=False)

    # Derived locations inside the data folder -------------------------------------------
    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.sqlite"

    @property
    def qdrant_path(self) -> Path:
        return self.data_dir / "qdrant"

    @property
    def thumbnails_dir(self) -> Path:
        return self.data_dir / "thumbnails"

    @property
    def lock_path(self) -> Path:
        return self.data_dir / "owner.lock"

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

        def boolean(raw: str) -> bool:
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected 1/0, true/false, yes/no or on/off")

        s = cls(
            data_dir=Path(get("DATA_DIR", str(_default_data_dir(env)), str)).expanduser().resolve(),
            qdrant_url=get("QDRANT_URL", None, str),
            qdrant_api_key=get("QDRANT_API_KEY", None, str),
            device=get("DEVICE", "auto", str).lower(),
            sample_fps=get("SAMPLE_FPS", 1.0, float),
            frame_size=get("FRAME_SIZE", 224, int),
            decoder=get("DECODER", "auto", str).lower(),
            decode_chunk=get("DECODE_CHUNK", 32, int),
            decode_timeout=get("DECODE_TIMEOUT", 120.0, float),
            max_segment=get("MAX_SEGMENT", 30.0, float),
            shot_threshold=get("SHOT_THRESHOLD", 0.35, float),
            static_change=get("STATIC_CHANGE", 0.002, float),
            batch_size=get("BATCH_SIZE", 32, int),
            copy_model=get("COPY_MODEL", "distilled", str).lower(),
            semantic=get("SEMANTIC", True, boolean),
            moment_gap=get("MOMENT_GAP", 2.0, float),
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
        if not (0 < self.sample_fps <= 60):
            raise ConfigError(f"VIDSEARCH_SAMPLE_FPS must be in (0, 60], not {self.sample_fps}")
        if not (32 <= self.frame_size <= 1024):
            raise ConfigError(f"VIDSEARCH_FRAME_SIZE must be in [32, 1024], not {self.frame_size}")
        for name in ("decode_chunk", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"VIDSEARCH_{name.upper()} must be at least 1")
        if self.max_segment <= 0 or self.decode_timeout <= 0:
            raise ConfigError("VIDSEARCH_MAX_SEGMENT and VIDSEARCH_DECODE_TIMEOUT must be positive")

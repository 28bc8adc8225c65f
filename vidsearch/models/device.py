"""Where models run. The one place that decides CPU or CUDA, thread counts, and which ONNX
Runtime execution providers a session gets; the encoders only call these functions.

- :func:`pick_device` turns the ``VIDSEARCH_DEVICE`` setting (``auto``/``cpu``/``cuda``) into
  ``"cpu"`` or ``"cuda"`` (asks torch whether CUDA works).
- :func:`ort_providers` / :func:`ort_session` run ONNX models on that device (CUDA execution
  provider first when the installed onnxruntime has it, CPU always as the fallback).
- :func:`configure_torch_threads` keeps torch from starting more threads than this process
  may use (containers often report more cores than their CPU affinity allows).
"""
from __future__ import annotations

import functools
import logging
import os
import threading

log = logging.getLogger(__name__)

DEVICE_SETTINGS = ("auto", "cpu", "cuda")


def cpu_threads() -> int:
    """CPU cores this process may run on (its affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def cuda_available() -> bool:
    """Whether torch can use a CUDA device (False when torch is missing or a CPU build)."""
    try:
        import torch
    except ImportError:
        return False
    try:
        return bool(torch.cuda.is_available())
    except Exception:  # a broken driver raises instead of answering
        return False


def pick_device(setting: str = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` when torch sees a usable GPU, else ``"cpu"``; ``"cpu"`` -> ``"cpu"``;
    ``"cuda"`` -> ``"cuda"``, or :class:`RuntimeError` saying why there is none."""
    value = (setting or "auto").strip().lower()
    if value not in DEVICE_SETTINGS:
        raise ValueError(f"device must be one of {', '.join(DEVICE_SETTINGS)}, not {setting!r}")
    if value == "cpu":
        return "cpu"
    if cuda_available():
        return "cuda"
    if value == "auto":
        return "cpu"
    raise RuntimeError(
        "device 'cuda' was asked for (VIDSEARCH_DEVICE=cuda) but no CUDA device is usable: "
        f"{_why_no_cuda()}. Set VIDSEARCH_DEVICE=auto or cpu, or install a CUDA build of torch "
        "and an NVIDIA driver (see README)."
    )


CPU_BATCH = 4  # on 2 CPU cores batches of 4 embed 1.4-2.8x faster than 32 (docs/benchmarks.md)
CUDA_BATCH = 32  # = the decode chunk; an H200 embeds 3400 frames/s at 32 (docs/benchmarks.md)


def batch_for(settings, device: str) -> int:
    """Frames per encoder batch on ``device``: VIDSEARCH_BATCH_SIZE, or by the device when ``auto``."""
    return settings.batch_size or (CUDA_BATCH if device == "cuda" else CPU_BATCH)


def _why_no_cuda() -> str:
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if getattr(torch.version, "cuda", None) is None:
        return f"torch {torch.__version__} is a CPU-only build"
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no GPU or driver"


def ort_providers(device: str) -> list[str]:
    """ONNX Runtime execution providers for ``device``: CUDA first when ``device == "cuda"``
    and the installed onnxruntime has the CUDA provider (onnxruntime-gpu), then CPU."""
    import onnxruntime as ort

    providers: list[str] = []
    if device == "cuda":
        if "CUDAExecutionProvider" in ort.get_available_providers():
            providers.append("CUDAExecutionProvider")
        else:
            _warn_once(
                "ort-no-cuda",
                "device is cuda but this onnxruntime has no CUDAExecutionProvider "
                "(install onnxruntime-gpu); ONNX models run on the CPU",
            )
    providers.append("CPUExecutionProvider")
    return providers


def ort_session(path: str, device: str, threads: int | None = None):
    """An ``onnxruntime.InferenceSession`` for the model file at ``path`` on ``device``, with
    ``threads`` CPU threads (default: every core this process may use); one per (path, device,
    threads) per process (sessions are thread-safe for ``run``)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        from . import ModelUnavailable

        raise ModelUnavailable("onnxruntime", "pip install onnxruntime", "running ONNX models", str(exc)) from None
    return _ort_session(str(path), device, threads or cpu_threads())


@functools.lru_cache(maxsize=None)
def _ort_session(path: str, device: str, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only
    # Idle ONNX Runtime threads busy-wait by default, taking the CPU from the decoder that runs
    # between batches; measured on 2 cores: ~60 vs ~90 images per CPU-second with spinning off.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    # Batches change shape (keyframes per chunk, frame aspect): the CPU arena would keep a block per
    # shape and grow with the video's length. Without it memory is returned after every run.
    opts.enable_cpu_mem_arena = False
    opts.enable_mem_pattern = False
    return ort.InferenceSession(path, sess_options=opts, providers=ort_providers(device))


def configure_torch_threads() -> None:
    """Cap torch's intra-op threads at :func:`cpu_threads` (torch counts the host's cores)."""
    import torch

    want = cpu_threads()
    if torch.get_num_threads() > want:
        torch.set_num_threads(want)


def torch_device(device: str):
    import torch

    return torch.device("cuda" if device == "cuda" else "cpu")


_warned: set[str] = set()
_warn_lock = threading.Lock()


def _warn_once(key: str, message: str) -> None:
    with _warn_lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning(message)

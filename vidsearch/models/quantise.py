"""An ONNX model quantised to int8 (ONNX Runtime static quantisation), made from the installed
float model on first use and cached beside it.

Static QDQ quantisation, int8 weights per output channel, uint8 activations whose ranges come from
the 99.999th percentile of what the model sees on :func:`calibration_images`: pictures rendered
by FFmpeg's lavfi sources through PyAV (fractals, cellular automata, test patterns), so
the result is the same on every machine and nothing is downloaded. Measured on 67 frames of the
real clips (docs/benchmarks.md, "Ingest at camera speed"): EfficientNet-Lite0 features keep a mean
cosine of 0.985 to the float ones for 1.7x the speed on 2 cores; the distilled SSCD only 0.92,
too little for a copy descriptor, so it stays float. Only on CPUs with int8 dot products
(:func:`int8_fits`): on an x86 CPU without VNNI, ONNX Runtime's uint8 x int8 kernels saturate
(cosine 0.89, min 0.74, on an AVX2-only EPYC), and uint8 weights, which do not, ran 7.5x slower
than float there (bench/int8_semantic.py). Calibration folds the activations into its
histograms every :data:`CALIB_STRIDE` images: peak RSS 0.9 GiB instead of 3.4 GiB for all 48 at once.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

CALIB_STRIDE = 8  # calibration images run between two folds into the histograms
QUANT_VERSION = 2  # bump when the recipe or the calibration images change, to invalidate cached files
SOURCES = (
    "testsrc2", "mandelbrot", "life=ratio=0.4:mold=8:seed=1", "cellauto=rule=110:random_fill_ratio=0.5:seed=2",
    "sierpinski=seed=4", "smptehdbars", "rgbtestsrc", "mandelbrot=start_scale=0.05:start_x=-0.7436:start_y=0.1318",
)


def calibration_images(height: int, width: int, count: int = 48) -> list[np.ndarray]:
    """``count`` RGB uint8 pictures of ``height`` x ``width``, rendered by lavfi sources (each
    source in turn, later frames of it on later rounds)."""
    import av

    out = []
    for k in range(count):
        src = SOURCES[k % len(SOURCES)]
        with av.open(f"{src}{':' if '=' in src else '='}size={width}x{height}:rate=5", format="lavfi") as c:
            for j, frame in enumerate(c.decode(video=0)):
                if j == (k // len(SOURCES)) * 7 + 3:
                    out.append(frame.to_ndarray(format="rgb24"))
                    break
    return out


def quantised_path(src: Path, cache_dir: Path) -> Path:
    return Path(cache_dir) / f"{Path(src).stem}-int8-q{QUANT_VERSION}.onnx"


def quantise(src: Path, dst: Path, images: list[np.ndarray]) -> None:
    """Write ``src`` quantised to int8 to ``dst`` (atomically), calibrated on ``images`` (each run
    alone as a batch of one, NHWC uint8: the input of the models here)."""
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    import onnxruntime as ort

    name = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        """The images in strides of CALIB_STRIDE: each stride's activations are folded into the
        histograms before the next runs (all 48 at once held 3.4 GiB)."""

        def __init__(self):
            self.set_range(0, len(images))

        def __len__(self):
            return len(images)

        def set_range(self, start_index: int, end_index: int):
            self.feeds = iter([{name: img[None]} for img in images[start_index:end_index]])

        def get_next(self):
            return next(self.feeds, None)

    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vidsearch-quant-", dir=dst.parent) as tmp:
        pre, out = Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.Percentile,
                        extra_options={"CalibStridedMinMax": math.gcd(CALIB_STRIDE, len(images))})
        os.chmod(out, 0o644)
        os.replace(out, dst)  # concurrent makers each write their own temporary file


def int8_fits(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether int8 inference is both close to float and faster here: not on an x86 CPU without
    VNNI (read from ``cpuinfo``; True where it cannot be read or the CPU is not x86)."""
    try:
        with open(cpuinfo) as fh:
            flags = next((line.split(":", 1)[1].split() for line in fh if line.startswith("flags")), None)
    except OSError:
        return True
    if flags is None or "sse2" not in flags:
        return True  # not an x86 CPU (ARM has its own dot-product instructions)
    return any("vnni" in f for f in flags)


def quantised(src: Path, cache_dir: Path, height: int, width: int) -> Path:
    """The int8 version of ``src`` in ``cache_dir``, made on first use (calibrated at ``height`` x
    ``width``); a cached file that does not load is made again."""
    import onnxruntime as ort

    dst = quantised_path(src, cache_dir)
    if dst.is_file():
        try:
            ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
            return dst
        except Exception as exc:  # truncated, or from an incompatible build
            log.warning("cached int8 model %s does not load (%s); quantising again", dst, exc)
            with contextlib.suppress(OSError):
                dst.unlink()
    quantise(Path(src), dst, calibration_images(height, width))
    log.info("quantised %s to %s", src, dst)
    return dst

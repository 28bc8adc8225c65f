"""The request and response shapes of API v1, declared once as pydantic models.

Requests are validated by spectree (``@spec.validate(query=..., json=..., form=...)``, chosen in
docs/benchmarks.md "API schemas"): the JSON model applies to a JSON body, the form model to a form,
and a failed rule becomes our error body ``{"error": {"code", "message"}}`` with status 400: the
code is the rule's own (``bad_like``, ``no_query``), else the field's (``bad_<field>`` when that is
one of :data:`ERROR_CODES`, else ``bad_request``), and the message names the field. The response
models are documentation: :mod:`web.api.openapi` puts every model under ``components/schemas``,
and schemathesis checks the answers against them (tests/web/test_openapi.py).

Form and query-string values are text: they are stripped and a blank one counts as absent, as the
CLI's arguments do; times, regions and clocks are parsed by :mod:`vidsearch.query`.
"""
from __future__ import annotations

import argparse
import math
from typing import Annotated, Any, ClassVar, Literal

from flask import request
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr,
                      ValidationError, WithJsonSchema, model_validator)
from pydantic_core import PydanticCustomError
from spectree import SpecTree
from spectree.plugins.base import Context
from spectree.plugins.flask_plugin import FlaskPlugin
from spectree.utils import get_multidict_items
from werkzeug.datastructures import FileStorage

from vidsearch.config import parse_bool
from vidsearch.query import WallTime, parse_region, parse_time, parse_time_of_day, parse_when
from web.errors import ApiError

ERROR_CODES = (
    "bad_request", "bad_limit", "bad_offset", "bad_sort", "bad_include_weak", "bad_time", "bad_time_of_day",
    "bad_region", "bad_refine", "bad_text", "bad_like", "no_query", "no_image", "no_clip", "no_file", "bad_path",
    "no_videos", "not_supported", "unauthorized", "path_not_allowed", "not_found", "video_not_found",
    "job_not_found", "thumbnail_not_found", "query_image_not_found", "file_missing", "file_changed",
    "method_not_allowed", "video_busy", "payload_too_large", "image_too_large", "clip_too_long",
    "unsupported_media_type", "busy", "range_not_satisfiable", "insufficient_storage", "internal_error",
    "model_unavailable", "cross_origin", "bad_host", "bad_start", "bad_end", "bad_t", "span_too_long",
    "not_indexed", "export_failed", "not_playable", "bad_name", "bad_kind", "bad_threshold", "bad_hours",
    "bad_webhook", "bad_image", "bad_clip", "bad_examples", "bad_negatives", "bad_moment", "bad_right",
    "bad_alert_id", "bad_after", "bad_before", "bad_since", "watchlist_not_found",
)
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_OFFSET = 1000
MAX_TEXT = 1000  # characters of a text query


def _tidy(schema: dict, model=None) -> None:
    """No ``title`` noise and no ``default: null`` in the document."""
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
        if "default" in prop and prop["default"] is None:
            del prop["default"]


class Shape(BaseModel):
    """A shape of the API. ``codes``: error code by field (dotted for nested fields); a missing
    top-level field is ``bad_request`` unless ``codes`` names it."""

    model_config = ConfigDict(json_schema_extra=_tidy)
    codes: ClassVar[dict[str, str]] = {}


class Form(Shape):
    """Text fields (a form, a query string): stripped, blank is absent (``keep_blank`` excepted),
    files without a name are no files."""

    keep_blank: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def clean(cls, data):
        if not isinstance(data, dict):
            return data
        out = {}
        for k, v in data.items():
            if isinstance(v, FileStorage):
                if v.filename:
                    out[k] = v
            elif isinstance(v, str) and (v.strip() or k in cls.keep_blank):
                out[k] = v.strip()
            elif not isinstance(v, str):
                out[k] = v
        return out

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data):
        return cls.clean(data)


def api_error(model: type[Shape], exc: ValidationError) -> ApiError:
    """The first failed rule of ``model`` as our 400 (module notes)."""
    err = exc.errors(include_url=False)[0]
    loc = [str(p) for p in err["loc"]]
    field, kind = ".".join(loc), err["type"]
    message = err["msg"].removeprefix("Value error, ")
    if kind.startswith(("bad_", "no_")):
        code = kind
    elif field in model.codes or (loc and loc[0] in model.codes):
        code = model.codes.get(field) or model.codes[loc[0]]
    elif kind == "missing" and len(loc) == 1:  # inside a field (examples.0.start): the field is bad
        code = "bad_request"
    else:
        code = f"bad_{loc[0]}" if loc and f"bad_{loc[0]}" in ERROR_CODES else "bad_request"
    return ApiError(400, code, f"{field}: {message}" if field else message)


def rule(code: str, message: str) -> PydanticCustomError:
    """A failed rule with its own error code."""
    return PydanticCustomError(code, "{reason}", {"reason": message})


class _Plugin(FlaskPlugin):
    """spectree's Flask plugin, except: the JSON model applies to a JSON body only (else nothing is
    validated and the handler says what it wants), a JSON body must be an object, a form model with
    ``read_in_handler`` documents an upload that its handler reads itself (after its limits and disk
    checks), a failed rule is our :class:`ApiError`, and answers pass untouched (files stream; the
    response models are documentation)."""

    def validate_response(self, resp, resp_model, skip_validation, force_resp_serialize):
        return resp, None

    def request_validation(self, request, query, json, form, headers, cookies):
        values = {}
        if query is not None:
            values["query"] = (query, get_multidict_items(request.args, query))
        if json is not None and request.is_json:
            body = request.get_json(silent=True) if request.get_data() else {}
            if not isinstance(body, dict):
                raise ApiError(400, "bad_request", "send a JSON object (UTF-8)")
            values["json"] = (json, body)
        if (form is not None and request.mimetype in self.FORM_MIMETYPE
                and not getattr(form, "read_in_handler", False)):
            values["form"] = (form, self.fill_form(request))
        parsed = {}
        for name, (model, data) in values.items():
            try:
                parsed[name] = model.model_validate(data)
            except ValidationError as exc:
                raise api_error(model, exc) from None
        request.context = Context(parsed.get("query"), parsed.get("json"), parsed.get("form"), None, None)


class ErrorDetail(Shape):
    code: str = Field(description="machine-readable: " + ", ".join(ERROR_CODES))
    message: str = Field(description="for a person to read")


class Error(Shape):
    error: ErrorDetail


spec = SpecTree("flask", backend=_Plugin, mode="strict", annotations=False, title="vidsearch API", version="1",
                naming_strategy=lambda model: model.__name__, nested_naming_strategy=lambda parent, child: child,
                validation_error_status=400, validation_error_model=Error)


def given() -> Context:
    """This request's validated shapes (``.query``, ``.json``, ``.form``; None where not sent)."""
    return getattr(request, "context", None) or Context(None, None, None, None, None)


# -- field types ------------------------------------------------------------------------------------
def _text_parser(parse, code: str | None = None, finite: bool = True):
    """A text field parsed by ``parse`` (a :mod:`vidsearch.query` function); a bad value fails the
    field's rule (or ``code``)."""
    def fail(reason: str) -> Exception:
        return rule(code, reason) if code else ValueError(reason)

    def check(raw):
        if not isinstance(raw, str):
            raise fail(f"{raw!r} is not text")
        try:
            value = parse(raw.strip())
        except (argparse.ArgumentTypeError, ValueError, OverflowError) as exc:
            raise fail(str(exc)) from None
        if finite and isinstance(value, float) and not math.isfinite(value):
            raise fail(f"{raw.strip()!r} is not a finite time")
        return value
    return check


def _json_time(code: str = "bad_time", walls: bool = True):
    """A JSON time: a number of seconds (not negative), or a string as the CLI takes it."""
    text = _text_parser(parse_when if walls else parse_time, code if walls else "bad_like")

    def check(raw):
        if raw is None:
            return None
        if isinstance(raw, str):
            return text(raw)
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw) or raw < 0:
            raise rule(code, f"give seconds (a number, not negative), HH:MM:SS or a date-time, not {raw!r}")
        return float(raw)
    return check


_TIME = ("seconds or [HH:]MM:SS of video time, or a wall-clock date-time "
         "(YYYY-MM-DDTHH:MM[:SS][+zone], no zone: the server's local time) for recordings whose start is known")
_TOD = ("HH:MM-HH:MM: only moments recorded at this time of day, on any day (22:00-06:00 wraps midnight), in "
        "VIDSEARCH_TIMEZONE; recordings whose start is known")


def _text(parse, description: str, pattern: str | None = None):
    schema = {"type": "string", "description": description, **({"pattern": pattern} if pattern else {})}
    return Annotated[Any, BeforeValidator(_text_parser(parse)), WithJsonSchema(schema)]


def _flag(description: str):
    return Annotated[bool, BeforeValidator(lambda v: parse_bool(v) if isinstance(v, str) else v),
                     WithJsonSchema({"type": "boolean", "description": description})]


When = _text(parse_when, _TIME)
VideoTime = _text(parse_time, "seconds or [H:]MM:SS of video time")
TimeOfDay = _text(parse_time_of_day, _TOD)
Weak = _flag("also the results below the no-match floor, marked confidence weak")
Refine = _flag("images only: re-check the first moment's timestamp against the decoded video (more exact); "
               "default: the server's VIDSEARCH_IMAGE_REFINE")
Region = _text(parse_region, "x,y,w,h in pixels of the image: search only that part (images only)")
File = Annotated[Any, WithJsonSchema({"type": "string", "format": "binary"})]
JsonWhen = Annotated[Any, BeforeValidator(_json_time()),
                     WithJsonSchema({"type": ["number", "string", "null"], "minimum": 0,
                                     "description": "a number: seconds of video time; a string: " + _TIME})]
LikeTime = Annotated[Any, BeforeValidator(_json_time(walls=False)),
                     WithJsonSchema({"type": ["number", "string"], "minimum": 0,
                                     "description": "seconds (or H:MM:SS) of that video"})]
ShortText = Annotated[str, Field(max_length=200)]
_QUERY_TEXT = 'free text: "EXIT sign", "a dog on a skateboard", "red car"'


def _query_text(raw: str) -> str:
    text = raw.strip()
    if not text:
        raise rule("bad_text", "the text query is empty")
    if len(text) > MAX_TEXT:
        raise rule("bad_text", f"the text query is longer than {MAX_TEXT} characters")
    return text


QueryText = Annotated[StrictStr, BeforeValidator(lambda v: _query_text(v) if isinstance(v, str) else v),
                      WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_TEXT,
                                      "description": _QUERY_TEXT})]


# -- search -------------------------------------------------------------------------------------------
def check_order(after, before) -> None:
    """``after`` later than ``before`` (both video time, or both wall-clock) is a malformed query."""
    if after is None or before is None or isinstance(after, WallTime) != isinstance(before, WallTime):
        return
    if after > before:
        what = "date-time" if isinstance(after, WallTime) else "s"
        raise rule("bad_time", f"after ({after:g} {what}) is later than before ({before:g} {what})")


def check_like(vid, t, start, end, names=("video_id", "t", "start", "end")) -> None:
    """A find-similar query: a stored frame (``t``) or span (``start``, ``end``) of an indexed video."""
    if vid is None:
        raise rule("bad_like", f"find similar needs {names[0]}: the video whose stored frames are the query")
    if t is None and (start is None or end is None):
        raise rule("bad_like", f"find similar needs {names[1]} (a frame) or {names[2]} and {names[3]} (a span)")
    if t is not None and (start is not None or end is not None):
        raise rule("bad_like", f"find similar takes {names[1]} (a frame) or {names[2]} and {names[3]} (a span), "
                               "not both")
    if t is None and not end > start:
        raise rule("bad_like", f"{names[3]} ({end:g} s) must be after {names[2]} ({start:g} s)")


class Page(Form):
    """The fields every query kind shares, as text: the answers' scope and page."""

    codes: ClassVar[dict[str, str]] = {"after": "bad_time", "before": "bad_time", "like_video": "bad_like",
                                       "like_t": "bad_like", "like_start": "bad_like", "like_end": "bad_like"}
    keep_blank: ClassVar[tuple[str, ...]] = ("text",)

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="most moments to return")
    video_id: ShortText = Field(None, description="search only this video")
    camera: ShortText = Field(None, description="only recordings of this camera (`vidsearch watch --camera`)")
    after: When = None
    before: Annotated[When, Field(description="only moments before this time")] = None
    time_of_day: TimeOfDay = None
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="skip this many results (a next page: the answer's "
                                                            "next_offset)")
    sort: Literal["score", "time"] = Field("score", description="score: best first; time: wall-clock time where "
                                                                "known, else video then time")
    include_weak: Weak = False
    like_video: str = Field(None, description="find similar: the video whose stored frames are the query (with "
                                              "like_t, or like_start and like_end); nothing is decoded")
    like_t: Annotated[VideoTime, Field(description="find similar: the stored frame at this time")] = None
    like_start: Annotated[VideoTime, Field(description="find similar: the stored span from this time")] = None
    like_end: Annotated[VideoTime, Field(description="find similar: the stored span to this time")] = None
    region: Region = None
    refine: Refine = None

    @property
    def like_query(self) -> dict | None:
        """The find-similar query of the ``like_*`` fields, or None."""
        if self.like_video is None and self.like_t is None and self.like_start is None and self.like_end is None:
            return None
        return {"video_id": self.like_video, "t": self.like_t, "start": self.like_start, "end": self.like_end}

    def scope(self) -> dict:
        """The scope and page of the answers."""
        return {"limit": self.limit, "video_id": self.video_id, "camera": self.camera,
                "time_of_day": self.time_of_day, "after": self.after, "before": self.before,
                "page": {"offset": self.offset, "sort": self.sort, "include_weak": self.include_weak}}

    queries: ClassVar[tuple[str, ...]] = ()  # the fields that are a query, besides like_*
    several: ClassVar[str] = ""
    none: ClassVar[tuple[str, str]] = ("", "")

    @model_validator(mode="before")
    @classmethod
    def _one_query(cls, data):
        if isinstance(data, dict):
            data = cls.clean(data)
            likes = any(n in data for n in ("like_video", "like_t", "like_start", "like_end"))
            kinds = likes + sum(n in data for n in cls.queries)
            if kinds > 1:
                raise rule("bad_request", cls.several)
            if kinds == 0:
                raise rule(*cls.none)
        return data

    @model_validator(mode="after")
    def _rules(self):
        self._check_scope(image=getattr(self, "image", None) is not None)
        return self

    def _check_scope(self, image: bool) -> None:
        check_order(self.after, self.before)
        if self.like_query is not None:
            check_like(*self.like_query.values(), names=("like_video", "like_t", "like_start", "like_end"))
        if not image:
            for name in ("region", "refine"):
                if getattr(self, name) is not None:
                    raise rule(f"bad_{name}", f"{name} applies to image queries only")


class SearchArgs(Page):
    """``GET /api/v1/search``: a text or find-similar query (or a kept picture) in the query string."""

    text: str = Field(None, min_length=1, max_length=MAX_TEXT, description=_QUERY_TEXT)
    image: str = Field(None, json_schema_extra={"pattern": "^[0-9a-f]{16}$"},  # any other name: 404
                       description="the picture of an earlier image search (its answer's query_image)")

    queries: ClassVar[tuple[str, ...]] = ("text", "image")
    several: ClassVar[str] = "send one query: 'text', 'like_video' or 'image', not several"
    none: ClassVar[tuple[str, str]] = ("no_query", "no query: give text=..., like_video=...&like_t=... or image=HASH "
                                                   "(a picture searched before; new pictures and clips are uploads: "
                                                   "POST them)")


class SearchForm(Page):
    """``POST /api/v1/search`` as multipart/form-data: exactly one of text, image, clip or like_video."""

    model_config = ConfigDict(json_schema_extra=lambda s, m: (_tidy(s), s.update(oneOf=[
        {"required": ["text"]}, {"required": ["image"]}, {"required": ["clip"]},
        # a blank like_video is no query (the page's form sends the field empty)
        {"required": ["like_video"], "properties": {"like_video": {"pattern": "\\S"}}}])))

    text: str = Field(None, min_length=1, max_length=MAX_TEXT, description=_QUERY_TEXT)
    image: Annotated[File, Field(description="the query picture (JPEG, PNG, WebP, ...)")] = None
    clip: Annotated[File, Field(description="a video clip: where does its footage appear?")] = None

    queries: ClassVar[tuple[str, ...]] = ("text", "image", "clip")
    several: ClassVar[str] = "send one query: 'text', 'image', 'clip' or 'like_video', not several"
    none: ClassVar[tuple[str, str]] = ("no_image", "no query: send text in the field 'text' (or JSON {\"text\": "
                                                   "...}), a picture in the multipart field 'image' or a video in 'clip'")


class Like(Shape):
    """Find similar: a stored frame (t) of an indexed video, searched with its stored descriptor as an
    image is, or a stored span (start, end), searched as a clip; nothing is decoded or uploaded."""

    video_id: StrictStr = Field(max_length=200)
    t: LikeTime = None
    start: LikeTime = None
    end: LikeTime = None

    @model_validator(mode="before")
    @classmethod
    def _needs_video(cls, data):
        if isinstance(data, dict) and (data.get("video_id") is None or str(data["video_id"]).strip() == ""):
            raise rule("bad_like", "find similar needs video_id: the video whose stored frames are the query")
        return data

    @model_validator(mode="after")
    def _frame_or_span(self):
        check_like(self.video_id.strip(), self.t, self.start, self.end)
        return self


class SearchJson(Shape):
    """``POST /api/v1/search`` as JSON: ``text`` or ``like``, with the same fields as the form."""

    model_config = ConfigDict(json_schema_extra=lambda s, m: (_tidy(s), s.update(
        oneOf=[{"required": ["text"]}, {"required": ["like"]}])))
    codes: ClassVar[dict[str, str]] = {"like": "bad_like"}

    text: QueryText = None
    like: Like | None = None
    limit: StrictInt | None = Field(None, ge=1, le=MAX_LIMIT, description="most moments to return (default 10)")
    video_id: Annotated[StrictStr, Field(max_length=200)] | None = Field(None, description="search only this video")
    camera: Annotated[StrictStr, Field(max_length=200)] | None = Field(None, description="only recordings of this "
                                                                                          "camera")
    time_of_day: Annotated[Any, BeforeValidator(lambda v: v if v is None else
                                                _text_parser(parse_time_of_day, "bad_time_of_day")(v)),
                           WithJsonSchema({"type": ["string", "null"], "description": _TOD})] = None
    after: JsonWhen = None
    before: JsonWhen = None
    offset: StrictInt | None = Field(None, ge=0, le=MAX_OFFSET, description="skip this many results (default 0)")
    sort: Literal["score", "time"] | None = Field(None, description="score (default): best first; time: "
                                                                    "wall-clock time where known")
    include_weak: StrictBool | None = Field(None, description="also the results below the no-match floor")

    @model_validator(mode="before")
    @classmethod
    def _one_query(cls, data):
        if isinstance(data, dict):
            if "text" not in data and "like" not in data:
                raise rule("bad_request", 'send JSON {"text": "what to find"} or {"like": {"video_id": ..., '
                                          '"t": ...}}, or multipart/form-data with the query in the field '
                                          "'text', 'image' or 'clip'")
            if "text" in data and "like" in data:
                raise rule("bad_request", "send one query: 'text' or 'like', not both")
            if data.get("region") is not None:
                raise rule("bad_region", "region applies to image queries only")
            if "like" in data and not isinstance(data["like"], dict):
                raise rule("bad_like", 'like must be an object {"video_id": ..., "t": seconds} or '
                                       '{"video_id": ..., "start": seconds, "end": seconds}')
        return data

    @model_validator(mode="after")
    def _rules(self):
        check_order(self.after, self.before)
        return self

    def scope(self) -> dict:
        return {"limit": self.limit or DEFAULT_LIMIT, "video_id": self.video_id, "camera": self.camera,
                "time_of_day": self.time_of_day, "after": self.after, "before": self.before,
                "page": {"offset": self.offset or 0, "sort": self.sort or "score",
                         "include_weak": bool(self.include_weak)}}

    @property
    def like_query(self) -> dict | None:
        if self.like is None:
            return None
        return {"video_id": self.like.video_id.strip(), "t": self.like.t, "start": self.like.start,
                "end": self.like.end}


class Dedup(Form):
    """``POST /api/v1/dedup``: the clip whose copies are wanted."""

    read_in_handler: ClassVar[bool] = True
    clip: File


# -- videos -------------------------------------------------------------------------------------------
class VideoUpload(Form):
    """``POST /api/v1/videos`` as multipart/form-data: the video in ``file`` (read by the handler after
    the upload limit and the disk space are checked)."""

    read_in_handler: ClassVar[bool] = True
    file: File


class VideoPath(Shape):
    """``POST /api/v1/videos`` as JSON: a file or folder on the server (checked by :func:`web.paths.check_path`)."""

    path: StrictStr = Field(min_length=1, json_schema_extra={"pattern": "^/[^\u0000]*$"},
                            description="absolute path on the server")
    force: StrictBool = Field(False, description="index again even when already indexed")


class _Export(Form):
    required: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _present(cls, data):
        data = cls.clean(data)
        if isinstance(data, dict):
            for name in cls.required:
                if name not in data:
                    raise rule(f"bad_{name}", f"{name}: missing (seconds or [H:]MM:SS of video time)")
        return data


class ClipSpan(_Export):
    """``GET /api/v1/videos/<id>/clip``: the span to export."""

    start: VideoTime
    end: Annotated[VideoTime, Field(description="seconds or [H:]MM:SS, after start, at most the video's duration")]

    required: ClassVar[tuple[str, ...]] = ("start", "end")

    @model_validator(mode="after")
    def _order(self):
        if self.end <= self.start:
            raise rule("bad_end", f"end: {self.end:g} s is not after start ({self.start:g} s)")
        return self


class FrameAt(_Export):
    """``GET /api/v1/videos/<id>/frame``: the instant to export."""

    t: Annotated[VideoTime, Field(description="seconds or [H:]MM:SS of video time, at most the video's duration")]
    required: ClassVar[tuple[str, ...]] = ("t",)


# -- watchlists and alerts ----------------------------------------------------------------------------
class MomentRef(Shape):
    model_config = ConfigDict(extra="allow", json_schema_extra=_tidy)
    video_id: StrictStr
    start: float = Field(ge=0)
    end: float = Field(ge=0)


class WatchlistForm(Form):
    """``POST /api/v1/watchlists`` as multipart/form-data: an image, region or clip watchlist."""

    model_config = ConfigDict(json_schema_extra=lambda s, m: (_tidy(s), s.update(required=["name"])))

    name: str = None
    kind: Literal["image", "region", "clip"] = None
    image: File = None
    clip: File = None
    region: Region = None
    threshold: float = Field(None, allow_inf_nan=False, json_schema_extra={"type": "string"})
    camera: str = None
    hours: str = Field(None, description="HH:MM-HH:MM of the moment's wall-clock time (VIDSEARCH_TIMEZONE)")
    webhook: str = None
    text: str = None


class WatchlistJson(Shape):
    """``POST /api/v1/watchlists`` as JSON: a text or examples watchlist."""

    model_config = ConfigDict(json_schema_extra=lambda s, m: (_tidy(s), s.update(required=["name", "kind"])))

    name: StrictStr | None = None
    kind: Annotated[StrictStr, WithJsonSchema({"enum": ["text", "examples"]})] | None = None
    text: StrictStr | None = None
    examples: list[MomentRef] | None = None
    negatives: list[MomentRef] | None = None
    method: Literal["probe", "prototype"] | None = None
    threshold: float | None = Field(None, allow_inf_nan=False)
    camera: StrictStr | None = None
    hours: StrictStr | None = None
    webhook: StrictStr | None = None


def _epoch(raw):
    """Seconds since the epoch, or a date-time as the CLI takes it."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    if raw is None or isinstance(raw, str) and not raw.strip():
        return None
    return float(_text_parser(parse_when)(raw))


Epoch = Annotated[Any, BeforeValidator(_epoch),
                  WithJsonSchema({"type": ["number", "string"], "description": "seconds since the epoch or a "
                                                                               "date-time"})]


class BacktestSpan(Shape):
    """``POST /api/v1/watchlists/<name>/backtest``: the span of indexed time to replay (default: all)."""

    after: Epoch = None
    before: Epoch = None


class MarkedMoment(Shape):
    """A backtest match (or an alert's moment) being marked."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_tidy)
    video_id: str = None
    start: float = None
    end: float = None
    timestamp: float = None
    score: float = None


class Mark(Shape):
    """``POST /api/v1/watchlists/<name>/marks``: an alert (``alert_id``) or a moment, right or wrong."""

    codes: ClassVar[dict[str, str]] = {"right": "bad_right"}
    right: StrictBool = Field(description="true: a right match; false: a wrong one")
    alert_id: StrictInt | None = None
    moment: MarkedMoment | None = None

    @model_validator(mode="after")
    def _what(self):
        if self.alert_id is None and self.moment is None:
            raise rule("bad_request", "give alert_id, or moment {video_id, start, end, score}")
        return self


class AlertFilter(Form):
    """``GET /api/v1/alerts``: which alerts, newest first."""

    keep_blank: ClassVar[tuple[str, ...]] = ("limit",)  # ?limit= is a bad limit, not the default

    watchlist: str = None
    since: Annotated[Epoch, WithJsonSchema({"type": "string", "description": "seconds since the epoch or a "
                                            "date-time: alerts written since then"})] = None
    limit: int = Field(100, ge=1, le=1000)


# -- responses ----------------------------------------------------------------------------------------
Url = Annotated[str, Field(json_schema_extra={"format": "uri-reference"})]


class Moment(Shape):
    """A span of one video that answers a query: exactly `vidsearch search --json`'s result
    (vidsearch.records.Moment.to_dict) plus two URLs."""

    video_id: str
    path: str = Field(description="the video file on the server: absolute for the local CLI's token or the API "
                                  "key, else relative to its allowed root or only its name")
    start: float = Field(ge=0, description="seconds")
    end: float = Field(ge=0, description="seconds")
    timestamp: float = Field(ge=0, description="the best-matching frame, seconds")
    score: float = Field(description="images: cosine similarity of copy descriptors (1 = same picture); clips: "
                                     "alignment score; text: fused score in [0, 1]")
    thumbnail: str | None = Field(description="the segment's JPEG on the server")
    thumbnail_url: Url | None
    stream_url: Url
    query_start: float = Field(None, ge=0, description="clip queries: where in the clip (s)")
    query_end: float = Field(None, ge=0, description="clip queries")
    why: list[str] = Field(None, description="why it matched, in plain words: \"same picture (edited)\", \"shows: "
                                             "sulphur-crested cockatoo\", \"text on screen: 'exit'\"")
    confidence: Literal["same footage", "similar", "weak"] = Field(
        None, description="same footage: a copy of the query's picture or footage, even edited; similar: above the "
                          "no-match floor; weak: below it (only with include_weak). Calibrated on footage never "
                          "indexed (docs/moments.md)")


class Match(Shape):
    """A span of the query clip that is a copy of a span of an indexed video: exactly `vidsearch dedup
    --json`'s match (vidsearch.records.Match.to_dict) plus two URLs."""

    video_id: str
    path: str
    ref_start: float = Field(ge=0, description="seconds in the indexed video")
    ref_end: float = Field(ge=0)
    query_start: float = Field(ge=0, description="seconds in the clip")
    query_end: float = Field(ge=0)
    score: float = Field(description="calibrated copy score (a copy at or above the threshold)")
    ref_thumbnail_url: Url | None
    stream_url: Url


class Video(Shape):
    """One catalog record (`vidsearch videos --json`) plus its stream URL."""

    id: str = Field(description="content hash of the file")
    path: str
    status: Literal["queued", "indexing", "indexed", "failed"]
    size: int = Field(ge=0)
    mtime: float
    duration: float | None = Field(ge=0)
    fps: float | None = Field(ge=0)
    width: int | None = Field(ge=0)
    height: int | None = Field(ge=0)
    error: str | None
    frames: int = Field(ge=0, description="keyframes stored")
    segments: int = Field(ge=0)
    added_at: float = Field(description="Unix time")
    indexed_at: float | None = Field(description="Unix time")
    camera: str | None = Field(None, description="the camera that recorded it, when known")
    wall_start: float | None = Field(None, description="wall-clock start of the recording (Unix time), when known")
    stream_url: Url


class IngestResult(Shape):
    """One file's ingest result, as `vidsearch ingest --json` prints it."""

    path: str
    status: Literal["indexed", "skipped", "failed"]
    video_id: str | None
    error: str | None
    duration: float = Field(ge=0)
    samples: int = Field(ge=0)
    keyframes: int = Field(ge=0)
    segments: int = Field(ge=0)
    times: dict[str, float] = Field(description="seconds per stage")


class Job(Shape):
    """A background ingest job of this server."""

    id: str
    video_id: str | None = Field(description="known at once for uploads; else once the job starts")
    path: str
    status: Literal["queued", "running", "done", "failed"]
    progress: float = Field(ge=0, le=1)
    error: str | None
    created_at: float = Field(description="Unix time")
    finished_at: float | None = Field(description="Unix time")
    result: IngestResult | None


class Accepted(Shape):
    video_id: str | None = Field(description="null for a server file not seen before: see the job")
    job_id: str


class QueuedFile(Shape):
    video_id: str | None
    job_id: str
    path: str


class AcceptedFolder(Shape):
    jobs: list[QueuedFile]
    refused: list[str] = Field(description="files skipped because a symbolic link leads outside the allowed roots")


class SearchResults(Shape):
    results: list[Moment]
    weak: int = Field(ge=0, description="results below the no-match floor (left out unless include_weak)")
    next_offset: int | None = Field(description="the offset of the next page; null: no more")
    query_image: str = Field(None, pattern="^[0-9a-f]{16}$",
                             description="an image query's picture, kept a while under this hash: "
                                         "GET /api/v1/search?image=HASH searches it again")


class VideoList(Shape):
    videos: list[Video]


class JobList(Shape):
    jobs: list[Job]


class DedupResults(Shape):
    matches: list[Match]


class Deleted(Shape):
    deleted: str


class Preparing(Shape):
    """The stream of a video that browsers cannot play while its playable copy (H.264 MP4) is made."""

    status: Literal["preparing"]
    progress: float = Field(ge=0, le=1)
    reason: str = Field(description="why browsers cannot play the file (container, codecs)")
    message: str = Field(description="for a person: preparing a playable copy… N%")


class Health(Shape):
    status: Literal["ok"]
    videos: int = Field(ge=0)
    models: Literal["loading", "ready", "failed", "on demand"] = Field(
        description="`vidsearch serve` loads the models in the background when it starts: `loading` until they "
                    "are, then `ready` (or `failed`, with the reason in the log); `on demand`: loaded by first use")


class Marks(Shape):
    right: int = None
    wrong: int = None
    precision: float | None = None


class Watchlist(Shape):
    """A standing query (docs/watchlists.md)."""

    id: int = None
    name: str
    kind: Literal["image", "region", "clip", "text", "examples"]
    threshold: float
    threshold_source: Literal["default", "set", "marks"]
    query: dict
    camera: str | None = None
    hours: str | None = None
    webhook: str | None = None
    created: float = None
    alerts: int
    marks: Marks
    delivery: dict = Field(None, description="the webhook's deliveries: counts, attempts, last error")


class WatchlistList(Shape):
    watchlists: list[Watchlist]


class Alert(Shape):
    """One moment of one video that a watchlist matched (vidsearch.alert.watchlist.Alert)."""

    id: int | None = None
    watchlist: str
    video_id: str
    path: str | None = None
    start: float
    end: float
    timestamp: float
    score: float
    confidence: str | None
    thumbnail: str | None = None
    thumbnail_url: str | None
    stream_url: str
    wall_time: float | None = None
    created: float = None
    day: str = None


class AlertList(Shape):
    alerts: list[Alert]


class Backtest(Shape):
    watchlist: str = None
    threshold: float = None
    total: int = None
    matches: list[Alert]
    per_day: dict[str, int]


RESPONSES = (Error, Moment, Match, Video, IngestResult, Job, Accepted, AcceptedFolder, SearchResults, VideoList,
             JobList, DedupResults, Deleted, Preparing, Health, Watchlist, WatchlistList, Alert, AlertList, Backtest)

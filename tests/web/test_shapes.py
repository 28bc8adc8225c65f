"""The rules of web/api/shapes.py refuse what they should, with our codes and the field named."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from web.api import shapes


def _refused(model, data):
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return shapes.api_error(model, info.value)


@pytest.mark.parametrize("model, data, code, field", [
    (shapes.SearchArgs, {"text": "x", "limit": "0"}, "bad_limit", "limit"),
    (shapes.SearchArgs, {"text": "x", "sort": "random"}, "bad_sort", "sort"),
    (shapes.SearchArgs, {"text": "x", "after": "soon"}, "bad_time", "after"),
    (shapes.SearchJson, {"text": "x", "limit": True}, "bad_limit", "limit"),
    (shapes.SearchJson, {"text": "x", "video_id": 5}, "bad_request", "video_id"),
    (shapes.ClipSpan, {"start": "x", "end": "2"}, "bad_start", "start"),
    (shapes.WatchlistJson, {"name": "x", "examples": [{"video_id": "v"}]}, "bad_examples", "examples"),
])
def test_a_bad_field_is_our_400_naming_the_field(model, data, code, field):
    err = _refused(model, data)
    assert (err.status, err.code) == (400, code) and err.message.startswith(field), err.message


def test_rules_across_fields_refuse():
    assert _refused(shapes.SearchArgs, {}).code == "no_query"
    assert _refused(shapes.SearchArgs, {"text": "x", "like_video": "v", "like_t": "1"}).code == "bad_request"
    assert _refused(shapes.SearchArgs, {"text": "x", "after": "5", "before": "2"}).code == "bad_time"
    assert _refused(shapes.SearchJson, {"like": {"video_id": "v", "start": 4, "end": 2}}).code == "bad_like"
    assert _refused(shapes.ClipSpan, {"start": "2", "end": "2"}).code == "bad_end"
    assert _refused(shapes.Mark, {"right": True}).code == "bad_request"


def test_blank_text_fields_are_absent_and_good_ones_parse():
    q = shapes.SearchArgs.model_validate({"text": " red car ", "limit": "", "after": "1:30", "include_weak": "yes"})
    assert (q.text, q.limit, q.after, q.include_weak) == ("red car", shapes.DEFAULT_LIMIT, 90.0, True)
    assert _refused(shapes.SearchArgs, {"text": "  "}).code == "bad_text"  # blank text is a query, and empty

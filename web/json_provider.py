"""Request JSON that is valid Unicode, or a 400: the app's JSON provider.

Python's ``json`` turns an unpaired ``\\ud800``-``\\udfff`` escape into a lone surrogate, a ``str``
that cannot be encoded, tokenised or stored, so a handler that passes it on fails far from the
request (a 500). :class:`StrictJSONProvider` is ``app.json``: every request body read with
``request.get_json`` goes through its :meth:`~StrictJSONProvider.loads`, which refuses such a
string anywhere in the document (keys too) with 400 ``bad_request`` naming where it is. Form
fields need no check: werkzeug decodes them as UTF-8 (or ASCII / Latin-1) with replacement, which
never yields a surrogate.
"""
from __future__ import annotations

import re

from flask.json.provider import DefaultJSONProvider

from web.errors import ApiError

_SURROGATE = re.compile("[\ud800-\udfff]")


def _where(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the document"


def check_unicode(document) -> None:
    """Raise 400 ``bad_request`` when a string of ``document`` (a parsed JSON value) holds a lone
    surrogate. Iterative: as deep as ``json`` itself parses."""
    todo: list = [(document, ())]
    while todo:
        value, path = todo.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if _SURROGATE.search(key):
                    _refuse(key, f"a key of {_where(path)}")
                todo.append((item, (*path, key)))
        elif isinstance(value, list):
            todo.extend((item, (*path, i)) for i, item in enumerate(value))
        elif isinstance(value, str) and _SURROGATE.search(value):
            _refuse(value, _where(path))


def _refuse(text: str, where: str):
    char = _SURROGATE.search(text).group()
    raise ApiError(400, "bad_request", f"the JSON body is not valid Unicode: {where} holds the lone surrogate "
                                       f"\\u{ord(char):04x} (a \\ud800-\\udfff escape must be half of a pair)")


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON, except that :meth:`loads` refuses strings that are not valid Unicode."""

    def loads(self, s, **kwargs):
        document = super().loads(s, **kwargs)
        check_unicode(document)
        return document

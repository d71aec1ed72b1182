"""JSON from outside, read with bounds: nesting depth and size are checked before `json.loads` sees it.

Python's `json` module recurses once per nesting level, so a hostile 10,000-level document raises
`RecursionError` (a crash, not a parse error) in every reader: the receiver, the landing readers and the
Silver parsers. Real webhook payloads nest about ten levels deep (GitHub's deepest is under 15), so a
bound of 128 refuses only what no provider sends. The depth is measured without recursion: strings are
blanked out first (a bracket inside a string does not nest), then brackets are counted in C-speed passes.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_JSON_DEPTH = 128
# A string literal, escapes included; what is inside never counts as nesting.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class JsonTooDeepError(ValueError):
    """A JSON document nests deeper than the bound; the message says how deep and what the bound is."""


def json_depth(text: str, limit: int | None = None) -> int:
    """Nesting depth of a JSON text (0 for a scalar). Malformed text gives a best-effort figure.

    With `limit`, a text with at most `limit` opening brackets returns that count at once (an upper
    bound of its depth, so it is within the limit) instead of measuring.
    """
    openings = text.count("[") + text.count("{")
    if limit is not None and openings <= limit:
        return openings
    brackets = _BRACKET.findall(_STRING.sub('""', text))
    return max(accumulate(1 if b in "[{" else -1 for b in brackets), default=0)


def check_depth(text: str, limit: int = MAX_JSON_DEPTH, what: str = "JSON") -> None:
    """Raise JsonTooDeepError when `text` nests deeper than `limit`."""
    depth = json_depth(text, limit)
    if depth > limit:
        raise JsonTooDeepError(f"{what} nests {depth} levels deep; the limit is {limit}")


def loads(text: str | bytes, limit: int = MAX_JSON_DEPTH, what: str = "JSON") -> Any:
    """`json.loads` that refuses documents nested deeper than `limit` (JsonTooDeepError, a ValueError)
    instead of crashing with RecursionError. Other errors are json.JSONDecodeError as usual."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8")
    check_depth(text, limit, what)
    return json.loads(text)

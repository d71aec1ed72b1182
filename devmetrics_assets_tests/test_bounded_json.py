"""JSON from outside is depth-checked before json.loads could recurse into a RecursionError."""

from __future__ import annotations

import json

import pytest

from devmetrics_assets.bounded_json import MAX_JSON_DEPTH, JsonTooDeepError, json_depth, loads


@pytest.mark.parametrize(("text", "depth"), [
    ("1", 0), ('"[[["', 0), ("[]", 1), ('{"a": [1, {"b": "}}]]"}]}', 3), ('["\\"[", [[]]]', 3),
])
def test_depth_ignores_brackets_inside_strings(text: str, depth: int) -> None:
    assert json_depth(text) == depth


def test_ten_thousand_levels_are_refused_with_a_reason_not_a_recursion_error() -> None:
    deep = "[" * 10_000 + "]" * 10_000
    with pytest.raises(JsonTooDeepError, match="10000 levels deep; the limit is 128"):
        loads(deep)
    with pytest.raises(RecursionError):  # what the bound protects every reader from
        json.loads(deep)


def test_documents_at_the_limit_parse_and_bytes_are_accepted() -> None:
    at_limit = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert json_depth(at_limit) == MAX_JSON_DEPTH
    assert loads(at_limit.encode()) is not None
    with pytest.raises(JsonTooDeepError):
        loads("[" + at_limit + "]")

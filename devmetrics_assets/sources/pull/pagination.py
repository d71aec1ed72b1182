"""Pagination: `Link: <...>; rel="next"` (GitHub, GitLab) and offset/limit/`more` (PagerDuty).

A listing that cannot be followed to its end fails (`PaginationError`) rather than returning a partial
list: a silently truncated pull would advance the cursor past records never read.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

from devmetrics_assets.sources.pull.http import HttpClient, Response, _origin

_LINK_PART = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")
_REL = re.compile(r"""rel\s*=\s*"?([^";]+)"?""", re.IGNORECASE)


class PaginationError(RuntimeError):
    """A listing that could not be read to its end."""


def next_link(header: str | None, base_url: str = "") -> str | None:
    """The `rel="next"` target of an RFC 8288 Link header (resolved against `base_url`), or None."""
    if not header:
        return None
    for target, params in _LINK_PART.findall(header):
        for rel in _REL.findall(params):
            if "next" in rel.lower().split():
                return urllib.parse.urljoin(base_url, target.strip())
    return None


def iter_link_pages(
    client: HttpClient,
    url: str,
    params: Mapping[str, Any] | None = None,
    *,
    max_pages: int = 1000,
    use_cache: bool = False,
) -> Iterator[Response]:
    """Yield each page of a Link-paginated listing. The caller may stop early (newest-first lists).

    A `next` link to another origin is refused: following it would send the API token elsewhere.
    """
    origin = _origin(url)
    page_url, page_params = url, params
    for _ in range(max_pages):
        response = client.get(page_url, page_params, use_cache=use_cache)
        yield response
        target = next_link(response.header("link"), response.url)
        if target is None:
            return
        if _origin(target) != origin:
            raise PaginationError(f"{url}: next page {target} is on another origin; refusing to follow it")
        page_url, page_params = target, None
    raise PaginationError(
        f"{url}: more than max_pages={max_pages} pages; raise max_pages or pull a shorter range"
    )


def iter_offset_pages(
    client: HttpClient,
    url: str,
    params: Mapping[str, Any] | None,
    *,
    key: str,
    limit: int = 100,
    max_pages: int = 1000,
) -> Iterator[list[Any]]:
    """Yield the `key` list of each page of an offset/limit listing until `more` is false."""
    offset = 0
    for _ in range(max_pages):
        response = client.get(url, {**dict(params or {}), "limit": limit, "offset": offset})
        data = response.data
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise PaginationError(f"{response.url}: response has no '{key}' list")
        items = data[key]
        yield items
        if not data.get("more"):
            return
        if not items:
            raise PaginationError(f"{response.url}: 'more' is true but the page is empty")
        offset += len(items)
    raise PaginationError(
        f"{url}: more than max_pages={max_pages} pages; raise max_pages or pull a shorter range"
    )


def page_items(response: Response, what: str) -> list[Any]:
    """The JSON list a listing page must be; anything else is a clear error, not an empty page."""
    if not isinstance(response.data, list):
        raise PaginationError(
            f"{response.url}: expected a JSON list of {what}, got {type(response.data).__name__}"
        )
    return response.data

"""Link-header and offset pagination, followed to the end or failing clearly."""

from __future__ import annotations

import pytest

from devmetrics_assets.sources.pull.pagination import (
    PaginationError,
    iter_link_pages,
    iter_offset_pages,
    next_link,
    page_items,
)
from devmetrics_assets_tests.sources.pull.fake_api import (
    FakeApi,
    FakeTime,
    Reply,
    json_reply,
    make_client,
    status,
)


def test_next_link_parses_github_and_gitlab_headers() -> None:
    github = (
        '<https://api.github.com/repositories/1/deployments?page=2>; rel="next", '
        '<https://api.github.com/repositories/1/deployments?page=5>; rel="last"'
    )
    gitlab = (
        '<https://gitlab.example.com/api/v4/projects/8/issues?page=1&per_page=3>; rel="prev", '
        '<https://gitlab.example.com/api/v4/projects/8/issues?page=3&per_page=3>; rel="next", '
        '<https://gitlab.example.com/api/v4/projects/8/issues?page=1&per_page=3>; rel="first"'
    )
    assert next_link(github) == "https://api.github.com/repositories/1/deployments?page=2"
    assert next_link(gitlab) == "https://gitlab.example.com/api/v4/projects/8/issues?page=3&per_page=3"
    assert next_link('<https://x/a?page=9>; rel="last"') is None
    assert next_link(None) is None and next_link("") is None
    assert (
        next_link("</items?page=2>; rel=next", "https://h.example/items?page=1")
        == "https://h.example/items?page=2"
    )


def test_link_pages_are_followed_to_the_end(api: FakeApi, fake_time: FakeTime) -> None:
    items = [{"id": i} for i in range(7)]
    api.link_pages("/things", lambda req: items, page_size=3)
    client = make_client(fake_time)
    pages = list(iter_link_pages(client, api.base_url + "/things", {"per_page": 3, "state": "all"}))
    assert [item["id"] for page in pages for item in page_items(page, "things")] == list(range(7))
    assert [r.arg("page", "1") for r, _ in api.requests_to("/things")] == ["1", "2", "3"]
    assert all(r.arg("state") == "all" for r, _ in api.requests_to("/things"))  # kept in next links


def test_a_failing_page_fails_the_listing_not_truncates_it(api: FakeApi, fake_time: FakeTime) -> None:
    items = [{"id": i} for i in range(6)]
    api.link_pages("/things", lambda req: items, page_size=2)
    client = make_client(fake_time, max_attempts=2)
    pages = iter_link_pages(client, api.base_url + "/things", {"per_page": 2})
    next(pages)
    api.fault("/things", status(500), status(500))
    with pytest.raises(Exception, match=r"page=2.*after 2 attempt"):
        next(pages)


def test_next_link_to_another_origin_is_refused(api: FakeApi, fake_time: FakeTime) -> None:
    api.route(
        "/things",
        lambda req: json_reply([1], headers={"Link": '<https://evil.example/x?page=2>; rel="next"'}),
    )
    with pytest.raises(PaginationError, match="another origin"):
        list(iter_link_pages(make_client(fake_time), api.base_url + "/things"))


def test_max_pages_exceeded_fails(api: FakeApi, fake_time: FakeTime) -> None:
    api.link_pages("/things", lambda req: list(range(10)), page_size=2)
    with pytest.raises(PaginationError, match="more than max_pages=3"):
        list(iter_link_pages(make_client(fake_time), api.base_url + "/things", {"per_page": 2}, max_pages=3))


def test_offset_pages_follow_more(api: FakeApi, fake_time: FakeTime) -> None:
    incidents = [{"id": f"P{i}"} for i in range(5)]
    api.offset_pages("/incidents", "incidents", lambda req: incidents)
    pages = list(
        iter_offset_pages(
            make_client(fake_time), api.base_url + "/incidents", {"since": "x"}, key="incidents", limit=2
        )
    )
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [r.arg("offset") for r, _ in api.requests_to("/incidents")] == ["0", "2", "4"]


def test_offset_pages_reject_a_wrong_shape(api: FakeApi, fake_time: FakeTime) -> None:
    api.route("/incidents", lambda req: json_reply({"incidents": [], "more": True}))
    with pytest.raises(PaginationError, match="'more' is true but the page is empty"):
        list(iter_offset_pages(make_client(fake_time), api.base_url + "/incidents", {}, key="incidents"))
    api.route("/incidents", lambda req: Reply(200, {}, b'{"error": "x"}'))
    with pytest.raises(PaginationError, match="no 'incidents' list"):
        list(iter_offset_pages(make_client(fake_time), api.base_url + "/incidents", {}, key="incidents"))

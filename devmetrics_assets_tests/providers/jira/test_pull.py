"""The Jira REST pull against a real local HTTP server (fake_api): enhanced JQL search with nextPageToken
pages, basic auth, webhook-shaped deliveries, the incremental cursor with overlap, retries, and a failing
unit that keeps its cursor. Response shapes: fixtures.py (the documented search/jql result)."""

from __future__ import annotations

import base64
import json
import random
import re
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from devmetrics_assets.sources.pull.cursors import PullState
from devmetrics_assets.sources.pull.reader import PullError, build_client, pull_source, read_api_source
from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets_tests.providers.jira.fixtures import history, issue, with_changelog
from devmetrics_assets_tests.sources.pull.fake_api import FakeApi, FakeTime, Request, json_reply, status

D = datetime(2025, 3, 10, tzinfo=UTC)
DAY = timedelta(days=1)
SEARCH = "/rest/api/3/search/jql"
BOUND = re.compile(r'updated (>=|<) "([^"]+)"')


def at(hours: float) -> str:
    return (D + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Jira:
    """The issues of two projects; the search answers the JQL's project and updated bounds (read as UTC,
    as the API user's zone would be), ordered by updated, `maxResults` per page and a `nextPageToken`."""

    def __init__(self) -> None:
        self.issues: dict[str, list[dict]] = {"OPS": [], "WEB": []}

    def add(self, project: str, the_issue: dict) -> None:
        self.issues[project] = [i for i in self.issues[project] if i["id"] != the_issue["id"]] + [the_issue]

    def search(self, request: Request):
        jql = request.arg("jql") or ""
        project = re.search(r'project = "([^"]+)"', jql).group(1)
        bounds = {op: pd.Timestamp(value, tz="UTC") for op, value in BOUND.findall(jql)}
        found = sorted((i for i in self.issues.get(project, [])
                        if bounds[">="] <= pd.Timestamp(i["fields"]["updated"]) < bounds["<"]),
                       key=lambda i: pd.Timestamp(i["fields"]["updated"]))
        offset = int((request.arg("nextPageToken") or "tok-0").split("-")[1])
        size = int(request.arg("maxResults") or "50")
        page = found[offset:offset + size]
        body: dict = {"issues": page, "isLast": offset + size >= len(found)}
        if not body["isLast"]:
            body["nextPageToken"] = f"tok-{offset + size}"  # absent on the last page (JRACLOUD-92184)
        return json_reply(body)


@pytest.fixture
def jira(api: FakeApi, monkeypatch) -> Jira:
    monkeypatch.setenv("JIRA_API_TOKEN", "atl-token")
    monkeypatch.setenv("JIRA_EMAIL", "oncall@acme.example")
    fake = Jira()
    for n, hours in enumerate((1, 2, 3, 4, 5)):
        fake.add("OPS", issue(10001 + n, at(hours - 0.5), updated=at(hours), components=["Checkout"]))
    fake.add("OPS", with_changelog(
        issue(10009, at(6), "Done", updated=at(7), resolved=at(7)),
        [history(1, at(7), "To Do", "Done")]))
    fake.add("OPS", issue(10099, at(-30), updated=at(-25)))  # updated before the window: not pulled
    fake.add("OPS", {"id": "OPS-BAD", "fields": {"updated": at(8)}})
    fake.add("WEB", issue(20001, at(1), updated=at(1.5), key="WEB"))
    api.route(SEARCH, fake.search)
    return fake


def make_spec(tmp_path, api: FakeApi, projects: list[str] | None = None, **extra) -> SourceSpec:
    options = {"base_url": api.base_url, "page_size": 2, "retry": {"max_attempts": 2, "base_delay": 0.01},
               **extra}
    return SourceSpec(name="jira", type="jira_api", provider="jira",
                      landing_dir=tmp_path / "landing" / "jira", secret_env=None,
                      description="Jira REST pull", options=options,
                      scope={"projects": projects or ["OPS"]})


def client_for(spec: SourceSpec, fake_time: FakeTime):
    return build_client(spec, sleep=fake_time.sleep, clock=fake_time.clock, rng=random.Random(1))


def test_issues_become_webhook_shaped_deliveries_page_by_page(tmp_path, api, jira, fake_time) -> None:
    spec = make_spec(tmp_path, api)
    rows, rejects = read_api_source(spec, start=D, end=D + DAY, secret=None, load_batch_id="b",
                                    client=client_for(spec, fake_time), now=D + 2 * DAY)
    assert sorted(rows["delivery_id"]) == sorted(
        [f"api:jira:issue:{10001 + n}:{at(h)}" for n, h in enumerate((1, 2, 3, 4, 5))]
        + [f"api:jira:issue:10009:{at(7)}"])
    assert set(rows["event_type"]) == {"jira:issue_updated"} and set(rows["provider"]) == {"jira"}
    body = json.loads(rows.set_index("delivery_id").loc[f"api:jira:issue:10009:{at(7)}", "body"])
    assert body["webhookEvent"] == "jira:issue_updated"
    assert body["timestamp"] == int((D.timestamp() + 7 * 3600) * 1000)
    assert body["issue"]["changelog"]["histories"][0]["items"][0]["toString"] == "Done"
    # Bronze anchors Jira rows on the issue's creation day
    assert (rows["event_day"] == pd.Timestamp("2025-03-10")).all()
    assert list(rejects["reason"]) == ["issue without a numeric id, fields.created or fields.updated"]
    requests = [r for r, _ in api.requests_to(SEARCH)]
    # 7 OPS issues in the widened JQL range (10099 is older), 2 per page: 4 pages, each naming the token
    assert [r.arg("nextPageToken") for r in requests] == [None, "tok-2", "tok-4", "tok-6"]
    first = requests[0]
    assert first.arg("jql") == ('project = "OPS" AND updated >= "2025-03-09 00:00" '
                                'AND updated < "2025-03-12 00:00" ORDER BY updated ASC')
    assert (first.arg("fields"), first.arg("expand"), first.arg("maxResults")) == ("*all", "changelog", "2")
    basic = base64.b64encode(b"oncall@acme.example:atl-token").decode()
    assert all(r.headers["authorization"] == f"Basic {basic}" for r in requests)


def test_second_pull_fetches_only_what_changed_since_the_cursor(tmp_path, api, jira, fake_time) -> None:
    spec = make_spec(tmp_path, api, overlap_minutes=10)
    client = client_for(spec, fake_time)
    first = pull_source(spec, start=D, end=D + DAY, client=client, now=D + timedelta(hours=12))
    assert first.units["issues@OPS"]["pulled"] == 6
    assert first.units["issues@OPS"]["cursor"] == D + timedelta(hours=7)
    jira.add("OPS", issue(10002, at(1.5), "Done", updated=at(13), resolved=at(13), components=["Checkout"]))
    jira.add("OPS", issue(10020, at(13.5), updated=at(13.5)))
    second = pull_source(spec, start=D, end=D + DAY, client=client, now=D + timedelta(hours=14))
    unit = second.units["issues@OPS"]
    assert unit["lower"] == D + timedelta(hours=6, minutes=50), "the cursor minus the overlap"
    # 10009 (updated at the cursor) is inside the overlap: pulled again, the same delivery id, not landed
    assert sorted(unit["delivery_ids"]) == sorted([f"api:jira:issue:10002:{at(13)}",
                                                   f"api:jira:issue:10020:{at(13.5)}",
                                                   f"api:jira:issue:10009:{at(7)}"])
    assert unit["landed"] == 2 and unit["cursor"] == D + timedelta(hours=13.5)
    jql = api.requests_to(SEARCH)[-1][0].arg("jql")
    assert 'updated >= "2025-03-09 06:50"' in jql


def test_a_failing_project_keeps_its_cursor_and_a_retried_error_recovers(tmp_path, api, jira,
                                                                          fake_time) -> None:
    spec = make_spec(tmp_path, api, projects=["OPS", "WEB"])
    live = D + timedelta(hours=12)
    api.fault(SEARCH, status(500), status(500))
    with pytest.raises(PullError, match=r"issues@OPS .*after 2 attempt\(s\): HTTP 500"):
        pull_source(spec, start=D, end=D + DAY, client=client_for(spec, fake_time), now=live)
    state = PullState(spec.landing_dir / "_pull_state.sqlite3")
    assert state.watermark("jira", "issues@OPS") is None, "the failed unit landed nothing and kept its cursor"
    assert state.watermark("jira", "issues@WEB") == D + timedelta(hours=1.5)
    landed = "".join(p.read_text() for p in spec.landing_dir.glob("*.jsonl"))
    assert "api:jira:issue:20001" in landed and "api:jira:issue:1000" not in landed
    api.fault(SEARCH, status(503))
    again = pull_source(spec, start=D, end=D + DAY, client=client_for(spec, fake_time), now=live)
    assert [s for _, s in api.requests_to(SEARCH)][3:5] == [503, 200], "the 503 was retried"
    assert again.units["issues@OPS"]["pulled"] == 6
    assert state.watermark("jira", "issues@OPS") == D + timedelta(hours=7)


def test_missing_email_and_placeholder_site_fail_clearly(tmp_path, api, monkeypatch) -> None:
    monkeypatch.setenv("JIRA_API_TOKEN", "atl-token")
    monkeypatch.delenv("JIRA_EMAIL", raising=False)
    spec = make_spec(tmp_path, api)
    with pytest.raises(ValueError, match="set JIRA_EMAIL") as caught:
        build_client(spec)
    assert "atl-token" not in str(caught.value)
    monkeypatch.setenv("JIRA_API_TOKEN", "me@acme.example:atl-token")  # the combined form needs no email
    assert build_client(spec).headers["Authorization"] == "Basic " + base64.b64encode(
        b"me@acme.example:atl-token").decode()
    placeholder = make_spec(tmp_path, api, base_url="https://your-site.atlassian.net")
    with pytest.raises(ValueError, match="set options.base_url"):
        pull_source(placeholder, start=D, end=D + DAY, client=build_client(placeholder), now=D + 2 * DAY)
    bad_key = make_spec(tmp_path, api, projects=['OPS" OR project = "X'])
    with pytest.raises(ValueError, match="project keys"):
        pull_source(bad_key, start=D, end=D + DAY, client=build_client(bad_key), now=D + 2 * DAY)

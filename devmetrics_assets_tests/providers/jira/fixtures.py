"""Jira payloads in their documented shapes (hand-written, not from our generator).

- Webhook bodies: https://developer.atlassian.com/cloud/jira/platform/webhooks/ ("Example callback for an
  issue-related event": timestamp in epoch ms, webhookEvent, issue_event_type_name, user, issue {id, self,
  key, fields}, changelog {id, items}, and comment for comment events). Webhook fields render
  descriptions and comment bodies as plain text.
- Pulled issues: https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/
  (`GET /rest/api/3/search/jql` → `{issues: [...], nextPageToken?, isLast}`), issue beans with
  `fields` (descriptions in Atlassian Document Format) and `changelog: {histories: [{id, author, created,
  items: [{field, fieldtype, from, fromString, to, toString}]}]}` from `expand=changelog`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

SITE = "https://acme.atlassian.net"
STATUS = {  # name → (id, statusCategory key, category name) as Jira Cloud ships them
    "To Do": ("10000", "new", "To Do"),
    "In Progress": ("3", "indeterminate", "In Progress"),
    "Done": ("10001", "done", "Done"),
    "Reopened": ("4", "indeterminate", "In Progress"),
}


def jira_time(iso: str) -> str:
    """`2025-03-03T09:00:00Z` → Jira's `2025-03-03T09:00:00.000+0000`."""
    return pd.Timestamp(iso).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def epoch_ms(iso: str) -> int:
    return int(pd.Timestamp(iso).timestamp() * 1000)


def status(name: str) -> dict[str, Any]:
    sid, key, cat = STATUS[name]
    return {"self": f"{SITE}/rest/api/2/status/{sid}", "id": sid, "name": name,
            "statusCategory": {"self": f"{SITE}/rest/api/2/statuscategory/{key}", "id": 2, "key": key,
                               "colorName": "blue-gray", "name": cat}}


def adf(text: str) -> dict[str, Any]:
    """An Atlassian Document Format document with one paragraph per line."""
    return {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": line}]} for line in text.split("\n")]}


def issue(issue_id: int, created: str, state: str = "To Do", *, issue_type: str = "Incident",
          labels: list[str] | None = None, priority: str = "High", components: list[str] | None = None,
          description: Any = None, resolved: str | None = None, updated: str | None = None,
          comments: list[dict] | None = None, extra: dict | None = None, key: str = "OPS") -> dict[str, Any]:
    fields: dict[str, Any] = {
        "summary": f"Incident {issue_id}",
        "issuetype": {"self": f"{SITE}/rest/api/2/issuetype/10004", "id": "10004", "name": issue_type,
                      "subtask": False},
        "project": {"self": f"{SITE}/rest/api/2/project/10000", "id": "10000", "key": key, "name": "Ops"},
        "labels": labels or [],
        "priority": {"self": f"{SITE}/rest/api/2/priority/2", "id": "2", "name": priority},
        "components": [{"self": f"{SITE}/rest/api/2/component/1", "id": "1", "name": c}
                       for c in (components or [])],
        "status": status(state),
        "resolution": {"id": "10000", "name": "Done"} if resolved else None,
        "resolutiondate": jira_time(resolved) if resolved else None,
        "created": jira_time(created),
        "updated": jira_time(updated or created),
        "description": description,
        "comment": {"comments": comments or [], "maxResults": 50, "total": len(comments or []), "startAt": 0},
        **(extra or {}),
    }
    return {"id": str(issue_id), "self": f"{SITE}/rest/api/2/issue/{issue_id}",
            "key": f"{key}-{issue_id % 1000}", "fields": fields}


def comment(comment_id: int, body: Any, created: str) -> dict[str, Any]:
    return {"self": f"{SITE}/rest/api/2/issue/1/comment/{comment_id}", "id": str(comment_id),
            "author": {"accountId": "5b10a2844c20165700ede21g", "displayName": "On Call"},
            "body": body, "created": jira_time(created), "updated": jira_time(created)}


def webhook(event: str, at: str, the_issue: dict, *, changelog: list[dict] | None = None,
            top_comment: dict | None = None) -> dict[str, Any]:
    """A `jira:issue_*` webhook body at time `at`."""
    body: dict[str, Any] = {
        "timestamp": epoch_ms(at),
        "webhookEvent": event,
        "issue_event_type_name": {"jira:issue_created": "issue_created",
                                  "jira:issue_deleted": "issue_deleted"}.get(event, "issue_generic"),
        "user": {"self": f"{SITE}/rest/api/2/user?accountId=5b10a2844c20165700ede21g",
                 "accountId": "5b10a2844c20165700ede21g", "displayName": "On Call", "active": True},
        "issue": the_issue,
    }
    if changelog is not None:
        body["changelog"] = {"id": "10100", "items": changelog}
    if top_comment is not None:
        body["comment"] = top_comment
        body["issue_event_type_name"] = "issue_commented"
    return body


def status_item(old: str, new: str) -> dict[str, Any]:
    return {"field": "status", "fieldtype": "jira", "fieldId": "status", "from": STATUS[old][0],
            "fromString": old, "to": STATUS[new][0], "toString": new}


def history(history_id: int, at: str, old: str, new: str) -> dict[str, Any]:
    return {"id": str(history_id), "author": {"accountId": "5b10a2844c20165700ede21g"},
            "created": jira_time(at), "items": [status_item(old, new)]}


def with_changelog(the_issue: dict, histories: list[dict]) -> dict[str, Any]:
    return {**the_issue, "changelog": {"startAt": 0, "maxResults": len(histories), "total": len(histories),
                                       "histories": histories}}

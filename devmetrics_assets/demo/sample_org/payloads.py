"""Turn model events into GitHub webhook bodies, envelopes and HMAC signatures (contracts §1, §2).

Bodies use the real GitHub field names but only the fields a consumer plausibly reads, so a delivery
stays around 0.5–1.5 KB. Key order is fixed by construction: the signed bytes are
`json.dumps(body, separators=(",", ":"), ensure_ascii=False)` and the envelope embeds exactly that text.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from .catalog import ORG, ORG_ID, Person

SAMPLE_WEBHOOK_SECRET = "sample-org-webhook-secret"
HOOKSHOT_AGENT = "GitHub-Hookshot/7f3c2a1"
HOOK_ID = "480213377"

_ORG_BLOCK = {"login": ORG, "id": ORG_ID}
_OWNER_BLOCK = {"login": ORG, "id": ORG_ID, "type": "Organization"}


def iso(ts: int) -> str:
    """GitHub API time format: whole seconds, Z suffix."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def iso_offset(ts: int, offset_min: int) -> str:
    """Commit timestamp in the author's local offset, as push payloads carry it."""
    local = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts + offset_min * 60))
    sign = "+" if offset_min >= 0 else "-"
    hours, minutes = divmod(abs(offset_min), 60)
    return f"{local}{sign}{hours:02d}:{minutes:02d}"


def iso_micro(ts_us: int) -> str:
    """Envelope received_at: microsecond precision, Z suffix."""
    seconds, micros = divmod(ts_us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


def user(person: Person) -> dict[str, Any]:
    kind = "Bot" if person.login.endswith("[bot]") else "User"
    return {"login": person.login, "id": person.user_id, "type": kind}


def repository_block(repo_id: int, name: str) -> dict[str, Any]:
    """The repository object shared by all events of a repo (push adds pushed_at)."""
    return {
        "id": repo_id,
        "name": name,
        "full_name": f"{ORG}/{name}",
        "private": True,
        "owner": _OWNER_BLOCK,
        "html_url": f"https://github.com/{ORG}/{name}",
        "default_branch": "main",
    }


def commit_block(
    sha: str, message: str, ts: int, offset_min: int, author: Person, distinct: bool
) -> dict[str, Any]:
    return {
        "id": sha,
        "distinct": distinct,
        "message": message,
        "timestamp": iso_offset(ts, offset_min),
        "author": {"name": author.name, "email": author.email, "username": author.login},
    }


def push_body(
    repo: dict[str, Any],
    *,
    ref: str,
    before: str,
    after: str,
    created: bool,
    deleted: bool,
    commits: list[dict[str, Any]],
    pusher: Person,
    pushed_at: int,
) -> dict[str, Any]:
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "repository": {**repo, "pushed_at": pushed_at},
        "pusher": {"name": pusher.login, "email": pusher.email},
        "organization": _ORG_BLOCK,
        "sender": user(pusher),
        "created": created,
        "deleted": deleted,
        "forced": False,
        "base_ref": None,
        "compare": f"{repo['html_url']}/compare/{before[:12]}...{after[:12]}",
        "commits": commits,
        "head_commit": commits[-1] if commits else None,
    }


def pull_request_body(
    repo: dict[str, Any],
    *,
    action: str,
    pr: Any,
    state: str,
    updated_at: int,
    closed_at: int | None,
    merged_at: int | None,
    merge_commit_sha: str | None,
    base_sha: str,
    sender: Person,
) -> dict[str, Any]:
    head_owner = pr.fork_owner or ORG
    return {
        "action": action,
        "number": pr.number,
        "pull_request": {
            "id": pr.pr_id,
            "number": pr.number,
            "html_url": f"{repo['html_url']}/pull/{pr.number}",
            "state": state,
            "title": pr.title,
            "user": user(pr.author),
            "body": pr.body,
            "created_at": iso(pr.created_at),
            "updated_at": iso(updated_at),
            "closed_at": iso(closed_at) if closed_at is not None else None,
            "merged_at": iso(merged_at) if merged_at is not None else None,
            "merge_commit_sha": merge_commit_sha,
            "head": {"label": f"{head_owner}:{pr.branch}", "ref": pr.branch, "sha": pr.head_sha},
            "base": {"label": f"{ORG}:main", "ref": "main", "sha": base_sha},
            "merged": merged_at is not None,
            "commits": len(pr.commits),
        },
        "repository": repo,
        "organization": _ORG_BLOCK,
        "sender": user(sender),
    }


def pull_request_review_body(
    repo: dict[str, Any],
    *,
    pr: Any,
    review_id: int,
    reviewer: Person,
    state: str,
    submitted_at: int,
    base_sha: str,
) -> dict[str, Any]:
    """A `pull_request_review` delivery (action `submitted`): GitHub's webhook shape, the review's state in
    lower case (`approved`, `changes_requested`, `commented`) and the pull request as it was then."""
    pull = pull_request_body(
        repo,
        action="submitted",
        pr=pr,
        state="open",
        updated_at=submitted_at,
        closed_at=None,
        merged_at=None,
        merge_commit_sha=None,
        base_sha=base_sha,
        sender=reviewer,
    )["pull_request"]
    bodies = {"approved": "Looks good to me.", "changes_requested": "A few things to fix first."}
    return {
        "action": "submitted",
        "review": {
            "id": review_id,
            "user": user(reviewer),
            "body": bodies.get(state, "Left some comments."),
            "commit_id": pr.head_sha,
            "submitted_at": iso(submitted_at),
            "state": state,
            "html_url": f"{repo['html_url']}/pull/{pr.number}#pullrequestreview-{review_id}",
            "pull_request_url": f"https://api.github.com/repos/{repo['full_name']}/pulls/{pr.number}",
            "author_association": "MEMBER",
        },
        "pull_request": pull,
        "repository": repo,
        "organization": _ORG_BLOCK,
        "sender": user(reviewer),
    }


def deployment_block(repo: dict[str, Any], dep: Any, updated_at: int) -> dict[str, Any]:
    return {
        "url": f"https://api.github.com/repos/{repo['full_name']}/deployments/{dep.gh_id}",
        "id": dep.gh_id,
        "sha": dep.sha,
        "ref": dep.ref,
        "task": "deploy",
        "environment": dep.environment,
        "description": dep.description,
        "creator": user(dep.creator),
        "created_at": iso(dep.created_at),
        "updated_at": iso(updated_at),
    }


def deployment_body(repo: dict[str, Any], dep: Any) -> dict[str, Any]:
    return {
        "action": "created",
        "deployment": deployment_block(repo, dep, dep.created_at),
        "repository": repo,
        "organization": _ORG_BLOCK,
        "sender": user(dep.creator),
    }


def deployment_status_body(
    repo: dict[str, Any], dep: Any, *, status_id: int, state: str, ts: int
) -> dict[str, Any]:
    return {
        "action": "created",
        "deployment_status": {
            "id": status_id,
            "state": state,
            "description": f"Deployment {state}",
            "environment": dep.environment,
            "creator": user(dep.creator),
            "created_at": iso(ts),
            "updated_at": iso(ts),
        },
        "deployment": deployment_block(repo, dep, ts),
        "repository": repo,
        "organization": _ORG_BLOCK,
        "sender": user(dep.creator),
    }


def issue_block(
    repo: dict[str, Any],
    *,
    issue_id: int,
    number: int,
    title: str,
    body: str,
    author: Person,
    labels: list[str],
    state: str,
    comments: int,
    created_at: int,
    updated_at: int,
    closed_at: int | None,
) -> dict[str, Any]:
    return {
        "id": issue_id,
        "number": number,
        "html_url": f"{repo['html_url']}/issues/{number}",
        "title": title,
        "user": user(author),
        "labels": [{"name": name, "color": "d73a4a"} for name in labels],
        "state": state,
        "comments": comments,
        "created_at": iso(created_at),
        "updated_at": iso(updated_at),
        "closed_at": iso(closed_at) if closed_at is not None else None,
        "body": body,
    }


def issues_body(
    repo: dict[str, Any], action: str, issue: dict[str, Any], sender: Person, label: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"action": action, "issue": issue}
    if label is not None:
        body["label"] = {"name": label, "color": "d73a4a"}
    body.update({"repository": repo, "organization": _ORG_BLOCK, "sender": user(sender)})
    return body


def issue_comment_body(
    repo: dict[str, Any], issue: dict[str, Any], *, comment_id: int, text: str, author: Person, ts: int
) -> dict[str, Any]:
    return {
        "action": "created",
        "issue": issue,
        "comment": {
            "id": comment_id,
            "user": user(author),
            "body": text,
            "created_at": iso(ts),
            "updated_at": iso(ts),
        },
        "repository": repo,
        "organization": _ORG_BLOCK,
        "sender": user(author),
    }


def body_text(body: dict[str, Any]) -> str:
    """The exact text that is signed and embedded (contracts §1)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def sign(text: str, secret: str = SAMPLE_WEBHOOK_SECRET) -> str:
    """`X-Hub-Signature-256` value for body text."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def envelope_line(received_us: int, delivery_id: str, event_type: str, signature: str, text: str) -> str:
    """One JSONL line; the body is embedded verbatim so its bytes are the signed bytes."""
    headers = {
        "X-GitHub-Event": event_type,
        "X-GitHub-Delivery": delivery_id,
        "X-GitHub-Hook-ID": HOOK_ID,
        "X-Hub-Signature-256": signature,
        "Content-Type": "application/json",
        "User-Agent": HOOKSHOT_AGENT,
    }
    head = json.dumps(
        {"received_at": iso_micro(received_us), "delivery_id": delivery_id, "headers": headers},
        separators=(",", ":"),
    )
    return head[:-1] + ',"body":' + text + "}"

"""Closing keywords and revert references: which issues a change closes, which changes it reverts.

GitHub (docs "Linking a pull request to an issue"): the keywords close, closes, closed, fix, fixes, fixed,
resolve, resolves, resolved, in any case, optionally followed by a colon, then ONE reference: `#N`,
`OWNER/REPO#N` or the issue URL `https://<host>/OWNER/REPO/issues/N` (each issue needs its own keyword:
`Fixes #1, #2` closes #1 only). They are read in a PR's title and body and in the messages of commits that
reach the default branch (so a merge or rebase merge keeps its commits' keywords, and a squash merge its
squash message and body).

GitLab (default issue closing pattern): Close/Closes/Closed/Closing, Fix/Fixes/Fixed/Fixing,
Resolve/Resolves/Resolved/Resolving, Implement/Implements/Implemented/Implementing (first letter in either
case), an optional colon, spaces, optionally `issue`/`issues`, then a list of references joined by `,` or
`and`: `#N`, `group/project#N` or the issue URL (`.../group/project/-/issues/N`). Read in an MR's title and
description and in the messages of commits that reach the default branch.

Only references to the change's own repository count (a long form or URL naming another repo closes an
issue there, not here). Repository names compare case-insensitively.

Reverts: `This reverts commit <sha>` (git revert's message), GitHub's revert PR body `Reverts OWNER/REPO#N`
(or `Reverts #N`) and GitLab's `This reverts merge request !N`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_GH_KEYWORD = r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)"
_REPO = r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+"
_GH_REF = (
    rf"(?:#(?P<n>\d+)"
    rf"|(?P<repo>{_REPO})#(?P<rn>\d+)"
    rf"|https?://[^\s/]+/(?P<urepo>{_REPO})/issues/(?P<un>\d+))\b"
)
GITHUB_CLOSING = re.compile(rf"{_GH_KEYWORD}(?:\s*:\s*|\s+|(?=#)){_GH_REF}", re.IGNORECASE)

_GL_KEYWORD = (
    r"\b(?:[Cc]los(?:e[sd]?|ing)|[Ff]ix(?:e[sd]|ing)?|[Rr]esolv(?:e[sd]?|ing)|[Ii]mplement(?:s|ed|ing)?)"
)
# A GitLab path segment never starts with `-`, so `/-/issues/N` is not part of the project path.
_GL_PROJECT = r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)+"
_GL_ONE = rf"(?:#\d+|{_GL_PROJECT}#\d+|https?://[^\s/]+/{_GL_PROJECT}/(?:-/)?issues/\d+)"
_GL_JOIN = r"(?: *, *(?:and +)?| +and +)(?:issues? +)?"
GITLAB_CLOSING = re.compile(rf"{_GL_KEYWORD}:? +(?:issues? +)?(?P<refs>{_GL_ONE}(?:{_GL_JOIN}{_GL_ONE})*)")
_GL_REF = re.compile(
    rf"(?<![\w/#])#(?P<n>\d+)"
    rf"|(?P<repo>{_GL_PROJECT})#(?P<rn>\d+)"
    rf"|https?://[^\s/]+/(?P<urepo>{_GL_PROJECT})/(?:-/)?issues/(?P<un>\d+)"
)

REVERTS_COMMIT = re.compile(r"This reverts commit ([0-9a-f]{7,40})\b", re.IGNORECASE)
REVERTS_PR = re.compile(rf"^\s*Reverts (?:(?P<repo>{_REPO}))?#(?P<n>\d+)\b", re.IGNORECASE | re.MULTILINE)
REVERTS_MR = re.compile(r"This reverts merge request !(\d+)\b", re.IGNORECASE)


def _same(repo: str | None, named: str | None) -> bool:
    """A reference names this repo: a short reference, or a long one spelling this repo (any case)."""
    return named is None or (repo is not None and named.lower() == repo.lower())


def _number(match: re.Match[str], repo: str | None) -> int | None:
    if match.group("n") is not None:
        return int(match.group("n"))
    if match.group("rn") is not None:
        return int(match.group("rn")) if _same(repo, match.group("repo")) else None
    return int(match.group("un")) if _same(repo, match.group("urepo")) else None


def _texts(texts: Iterable[Any]) -> Iterable[str]:
    return (t for t in texts if isinstance(t, str) and t)


def github_closed_issues(*texts: Any, repo: str | None = None) -> list[int]:
    """Issue numbers of `repo` a GitHub closing keyword references in any of the texts, sorted, unique."""
    found = {_number(m, repo) for text in _texts(texts) for m in GITHUB_CLOSING.finditer(text)}
    return sorted(n for n in found if n is not None)


def gitlab_closed_issues(*texts: Any, repo: str | None = None) -> list[int]:
    """Issue numbers of `repo` GitLab's default closing pattern references in any text, sorted, unique."""
    found: set[int | None] = set()
    for text in _texts(texts):
        for clause in GITLAB_CLOSING.finditer(text):
            found.update(_number(m, repo) for m in _GL_REF.finditer(clause.group("refs")))
    return sorted(n for n in found if n is not None)


def reverted_refs(*texts: Any, repo: str | None = None) -> tuple[list[str], list[int]]:
    """(commit shas named by `This reverts commit`, PR/MR numbers of `repo` named by a revert), unique."""
    shas: dict[str, None] = {}
    numbers: set[int] = set()
    for text in _texts(texts):
        shas.update(dict.fromkeys(m.lower() for m in REVERTS_COMMIT.findall(text)))
        numbers.update(int(m.group("n")) for m in REVERTS_PR.finditer(text) if _same(repo, m.group("repo")))
        numbers.update(int(n) for n in REVERTS_MR.findall(text))
    return list(shas), sorted(numbers)


__all__ = ["github_closed_issues", "gitlab_closed_issues", "reverted_refs"]

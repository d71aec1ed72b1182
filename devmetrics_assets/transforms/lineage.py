"""Lineage: which Bronze deliveries a Silver row (deployment, change, incident) came from (pure).

Silver rows carry no delivery ids, so the link is recomputed from the payloads: each provider's key
extractor reads a Bronze body and names the Silver keys it is about, and a Silver id is parsed into the
same keys. A key is (kind, repo, native id):
- ("deployment", repo, N) for deployment_id `<repo>:<N>` (every status delivery of the deployment);
- ("change", repo, N) for change_id `<repo>#<N>` (pull / merge request deliveries of that number) and
  ("commit", repo, sha) for each commit a change brought (`<repo>@<sha>`, and its `commit_shas`): the
  pushes that carried them;
- ("incident", repo, N) for incident_id `<repo>#<N>` (issue and comment deliveries), `<repo>#pagerduty-N`
  and `<repo>#generic-N` for the other incident providers.
A key whose repo is None matches that native id in any repo: PagerDuty names no repo in its payload
(Silver maps its service through the rules), and PagerDuty numbers are account-wide. PagerDuty notes
name only the incident's PagerDuty id: a ("ref:pagerduty", None, id) key is resolved through the
deliveries of the same read that carry both the id and the number.

Each provider's key extractor (`Provider.lineage_keys`, providers/<name>/lineage.py) is a small function
of one body; the event types each entity reads come from the provider's Silver mapping.
"""

from __future__ import annotations

import json

import pandas as pd

from devmetrics_assets.providers import PROVIDERS
from devmetrics_assets.providers.interface import LineageKey as Key
from devmetrics_assets.providers.interface import Provider
from devmetrics_assets.providers.lineage_keys import REF

ENTITIES = ("deployments", "changes", "incidents")


def _events(entity: str, provider: Provider) -> tuple[str, ...]:
    """The Bronze event types of a provider that feed a Silver entity: changes come from the main line."""
    return provider.silver.events_of("mainline" if entity == "changes" else entity)


def bronze_kinds(entity: str) -> list[tuple[str, str]]:
    """(provider, event_type) pairs whose deliveries can feed the entity (what to ask read_bronze for)."""
    return [(name, t) for name, provider in PROVIDERS.items() for t in _events(entity, provider)]


def silver_keys(entity: str, silver_id: str, commit_shas: str = "") -> list[Key]:
    """The keys a Silver row is known by (see the module docstring)."""
    if entity == "deployments":
        repo, _, native = silver_id.rpartition(":")
        return [("deployment", repo, native)] if repo else []
    if entity == "changes":
        if "@" in silver_id:
            repo, _, sha = silver_id.rpartition("@")
            keys: list[Key] = [("commit", repo, sha.lower())]
        else:
            repo, _, number = silver_id.rpartition("#")
            keys = [("change", repo, number)]
        shas = [s.strip().lower() for s in str(commit_shas or "").split(",") if s.strip()]
        return keys + [("commit", repo, s) for s in shas if ("commit", repo, s) not in keys]
    if entity == "incidents":
        repo, _, native = silver_id.rpartition("#")
        return [("incident", repo, native)] if repo else []
    raise ValueError(f"unknown entity {entity!r}; valid: {', '.join(ENTITIES)}")


def delivery_keys(bronze: pd.DataFrame) -> pd.DataFrame:
    """(delivery_id, kind, repo, native) per key each Bronze row names, PagerDuty references resolved."""
    rows: list[tuple[str, str, str | None, str]] = []
    providers = bronze["provider"].fillna("github") if "provider" in bronze else ["github"] * len(bronze)
    for provider, event_type, delivery, body in zip(providers, bronze["event_type"], bronze["delivery_id"],
                                                    bronze["body"], strict=True):
        spec = PROVIDERS.get(str(provider))
        if spec is None:
            continue
        try:
            parsed = json.loads(body) if isinstance(body, str) else body
        except ValueError:
            continue
        for kind, repo, native in spec.lineage_keys(str(event_type), parsed):
            rows.append((str(delivery), kind, repo, native))
    keys = pd.DataFrame(rows, columns=["delivery_id", "kind", "repo", "native"])
    return _resolve_refs(keys)


def _resolve_refs(keys: pd.DataFrame) -> pd.DataFrame:
    refs = keys[keys["kind"].str.startswith(REF)]
    if refs.empty:
        return keys
    plain = keys[~keys["kind"].str.startswith(REF)]
    both = refs.merge(plain, on="delivery_id", suffixes=("_ref", ""))
    alias = both[["kind_ref", "native_ref", "kind", "repo", "native"]].drop_duplicates()
    resolved = refs.merge(alias, left_on=["kind", "native"], right_on=["kind_ref", "native_ref"],
                          suffixes=("_x", ""))[["delivery_id", "kind", "repo", "native"]]
    return pd.concat([plain, resolved], ignore_index=True).drop_duplicates(ignore_index=True)


def lineage(
    entity: str, silver: pd.DataFrame, bronze: pd.DataFrame, id_column: str | None = None
) -> pd.Series:
    """Per Silver row (index kept): the comma list of Bronze delivery ids it came from ("" when none).

    `silver` needs the entity's id column (deployment_id / change_id / incident_id; `id_column` to name
    another) and, for changes, optionally `commit_shas`. `bronze`: rows with provider, event_type,
    delivery_id, body (and load_seq: the list is in load order).
    """
    column = id_column or {"deployments": "deployment_id", "changes": "change_id",
                           "incidents": "incident_id"}[entity]
    if bronze.empty or silver.empty:
        return pd.Series("", index=silver.index, dtype="str")
    ordered = bronze.sort_values("load_seq", kind="stable") if "load_seq" in bronze else bronze
    keys = delivery_keys(ordered)
    order = {d: i for i, d in enumerate(ordered["delivery_id"].astype(str))}
    exact: dict[Key, list[str]] = {}
    anywhere: dict[tuple[str, str], list[str]] = {}
    for delivery, kind, repo, native in keys.itertuples(index=False):
        if repo is None or pd.isna(repo):
            anywhere.setdefault((kind, native), []).append(delivery)
        else:
            exact.setdefault((kind, repo, native), []).append(delivery)
    shas = silver["commit_shas"] if "commit_shas" in silver else pd.Series("", index=silver.index)
    out = []
    for silver_id, commit_shas in zip(silver[column].astype(str), shas.fillna(""), strict=True):
        found: set[str] = set()
        for kind, repo, native in silver_keys(entity, silver_id, commit_shas):
            found.update(exact.get((kind, repo, native), ()))
            found.update(anywhere.get((kind, native), ()))
        out.append(",".join(sorted(found, key=lambda d: order.get(d, 0))))
    return pd.Series(out, index=silver.index, dtype="str")


def bronze_window(entity: str, silver: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The Bronze event days [start, end) that hold the deliveries of these Silver / fact rows.

    Deployments: their day and the next (a GitLab status anchors on its own time, a deployment can cross
    midnight). Changes: from the earliest first commit (pull request and branch deliveries anchor before
    the landing) to the row's day. Incidents: from the opening day to the resolution day (PagerDuty notes
    anchor on their received day). None when there is no row.
    """
    if silver.empty:
        return None
    day = pd.to_datetime(silver["event_day"]).dt.normalize()
    start, end = day.min(), day.max() + pd.Timedelta(days=1)
    if entity == "deployments":
        end += pd.Timedelta(days=1)
    if entity == "changes" and "first_commit_at" in silver:
        first = pd.to_datetime(silver["first_commit_at"], utc=True).dt.tz_localize(None).dt.normalize().min()
        start = min(start, first) if pd.notna(first) else start
    if entity == "incidents" and "resolved_at" in silver:
        last = pd.to_datetime(silver["resolved_at"], utc=True).dt.tz_localize(None).dt.normalize().max()
        end = max(end, last + pd.Timedelta(days=1)) if pd.notna(last) else end
    return start, end

"""OpenLineage run events for asset materialisations: configuration, event building, sending (no Dagster).

One Dagster run materialises several assets (a daily range run writes Bronze, Silver and daily Gold).
Lineage is reported per ASSET, not per Dagster run: each asset the run planned is one OpenLineage run of
the job named after the asset (job `silver_changes`, inputs its upstream assets, output itself), with a
`parent` run facet naming the Dagster job and run. A consumer (Marquez) then draws the asset graph
edge by edge — bronze_github → silver_changes → gold_dora_daily — instead of one job that reads and
writes everything. The OpenLineage run id of an asset is derived from the Dagster run id and the asset
name (uuid5), so sending the same run twice names the same OpenLineage run.

Events: START at the Dagster run's start; COMPLETE at the asset's last materialisation, with an
`outputStatistics` facet (rowCount: the sum of the partitions' row counts); FAIL at the run's end for a
planned asset the run did not materialise (a step failed, or an upstream step did), with an
`errorMessage` facet when the run recorded one.

Configuration (environment; unset URL = disabled, nothing is built or sent):
  DEVMETRICS_OPENLINEAGE_URL        base URL of the consumer (events go to `<url>/api/v1/lineage`)
  DEVMETRICS_OPENLINEAGE_API_KEY    optional bearer token; read from the environment, never logged
  DEVMETRICS_OPENLINEAGE_NAMESPACE  namespace of jobs and datasets (default `devmetrics://<home>`)
  DEVMETRICS_OPENLINEAGE_ENDPOINT   path of the endpoint (default `api/v1/lineage`)
  DEVMETRICS_OPENLINEAGE_TIMEOUT    seconds per request (default 5)

Sending never raises: a refused connection, a timeout or an error status logs one warning and the rest
of that batch is dropped (an endpoint that is down would otherwise cost a timeout per event).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the client library is imported only when lineage is on (about 0.35 s of import)
    from openlineage.client.event_v2 import RunEvent
    from openlineage.client.facet_v2 import parent_run

log = logging.getLogger(__name__)

URL_ENV = "DEVMETRICS_OPENLINEAGE_URL"
API_KEY_ENV = "DEVMETRICS_OPENLINEAGE_API_KEY"
NAMESPACE_ENV = "DEVMETRICS_OPENLINEAGE_NAMESPACE"
ENDPOINT_ENV = "DEVMETRICS_OPENLINEAGE_ENDPOINT"
TIMEOUT_ENV = "DEVMETRICS_OPENLINEAGE_TIMEOUT"
DEFAULT_ENDPOINT = "api/v1/lineage"
DEFAULT_TIMEOUT_S = 5.0
PRODUCER = "urn:devmetrics-assets"
# Per-partition row counts, best first: the layers' own count (partition_metadata.py) wins over the IO
# manager's `row_count`, which carries the whole window's count on every partition of a range run.
ROW_COUNT_KEYS = ("dagster/row_count", "rows", "row_count")


@dataclass(frozen=True)
class LineageConfig:
    url: str
    namespace: str
    api_key: str | None = field(default=None, repr=False)  # never in a repr, so never in a log line
    endpoint: str = DEFAULT_ENDPOINT
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_env(cls, home: Path | str | None = None,
                 environ: Mapping[str, str] | None = None) -> LineageConfig | None:
        """The configuration, or None when DEVMETRICS_OPENLINEAGE_URL is unset (lineage disabled)."""
        env = os.environ if environ is None else environ
        url = (env.get(URL_ENV) or "").strip()
        if not url:
            return None
        namespace = (env.get(NAMESPACE_ENV) or "").strip() or default_namespace(home)
        try:
            timeout = float(env.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_S)
        except ValueError:
            log.warning("%s is not a number; using %s s", TIMEOUT_ENV, DEFAULT_TIMEOUT_S)
            timeout = DEFAULT_TIMEOUT_S
        return cls(url=url, namespace=namespace, api_key=(env.get(API_KEY_ENV) or None),
                   endpoint=(env.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT).strip(), timeout_s=timeout)


def default_namespace(home: Path | str | None) -> str:
    return f"devmetrics://{Path(home).expanduser().resolve().as_posix() if home else 'default'}"


@dataclass(frozen=True)
class AssetOutcome:
    """What one Dagster run did to one planned asset."""

    name: str
    upstream: Sequence[str]
    materialised: bool
    row_count: int | None = None
    finished_at: float | None = None  # the last materialisation's timestamp (epoch seconds)


@dataclass(frozen=True)
class RunSummary:
    """A finished Dagster run as lineage needs it (built from the event log by defs/openlineage.py)."""

    run_id: str
    job_name: str
    started_at: float
    ended_at: float
    succeeded: bool
    assets: Sequence[AssetOutcome]
    error: str | None = None


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat()


def asset_run_id(dagster_run_id: str, asset: str) -> str:
    """A stable OpenLineage run id (UUID) for one asset of one Dagster run."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"devmetrics:{dagster_run_id}:{asset}"))


def row_count(metadata_per_partition: Iterable[Mapping[str, Any]]) -> int | None:
    """Sum over partitions of each partition's row count (plain values); None when none recorded one."""
    total, seen = 0, False
    for metadata in metadata_per_partition:
        for key in ROW_COUNT_KEYS:
            value = metadata.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                total += int(value)
                seen = True
                break
    return total if seen else None


def _parent(summary: RunSummary, namespace: str) -> parent_run.ParentRunFacet:
    from openlineage.client.facet_v2 import parent_run

    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=_as_uuid(summary.run_id)),
        job=parent_run.Job(namespace=namespace, name=summary.job_name),
    )


def _as_uuid(run_id: str) -> str:
    # Dagster run ids are UUIDs; anything else (a test's custom id) is mapped to one deterministically.
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"devmetrics:{run_id}"))


def build_events(summary: RunSummary, namespace: str) -> list[RunEvent]:
    """START then COMPLETE or FAIL for every planned asset of the run, in that order per asset."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import error_message_run
    from openlineage.client.generated.output_statistics_output_dataset import (
        OutputStatisticsOutputDatasetFacet,
    )

    events: list[RunEvent] = []
    parent = {"parent": _parent(summary, namespace)}
    for asset in summary.assets:
        inputs = [InputDataset(namespace=namespace, name=name) for name in asset.upstream]

        def event(state: RunState, at: float, run_facets: dict[str, Any], output_facets: dict[str, Any],
                  asset: AssetOutcome = asset, inputs: list[InputDataset] = inputs) -> RunEvent:
            return RunEvent(eventType=state, eventTime=iso(at), producer=PRODUCER,
                            run=Run(runId=asset_run_id(summary.run_id, asset.name), facets=run_facets),
                            job=Job(namespace=namespace, name=asset.name), inputs=inputs,
                            outputs=[OutputDataset(namespace=namespace, name=asset.name,
                                                   outputFacets=output_facets)])

        events.append(event(RunState.START, summary.started_at, parent, {}))
        if asset.materialised:
            stats = {} if asset.row_count is None else {
                "outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=asset.row_count)}
            events.append(event(RunState.COMPLETE, asset.finished_at or summary.ended_at, parent, stats))
        else:
            error = {} if not summary.error else {"errorMessage": error_message_run.ErrorMessageRunFacet(
                message=summary.error, programmingLanguage="python")}
            events.append(event(RunState.FAIL, summary.ended_at, {**parent, **error}, {}))
    return events


def http_client(config: LineageConfig) -> Any:
    """An openlineage-python client posting to the configured endpoint, without retries (bounded)."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.http import (
        ApiKeyTokenProvider,
        HttpConfig,
        HttpTransport,
        TokenProvider,
    )

    auth = ApiKeyTokenProvider({"apiKey": config.api_key}) if config.api_key else TokenProvider({})
    # The library retries 5 times with backoff by default; lineage must not hold a run up, so no retries.
    transport = HttpTransport(HttpConfig(url=config.url, endpoint=config.endpoint, timeout=config.timeout_s,
                                         auth=auth, retry={"total": 0, "connect": 0, "read": 0, "status": 0}))
    return OpenLineageClient(transport=transport)


def send(events: Sequence[RunEvent], config: LineageConfig,
         client_factory: Callable[[LineageConfig], Any] = http_client) -> int:
    """Post the events in order; returns how many were accepted. Never raises.

    The first failure logs one warning (the URL, never the key) and drops the rest of the batch.
    """
    if not events:
        return 0
    sent = 0
    try:
        client = client_factory(config)
        try:
            for event in events:
                client.emit(event)
                sent += 1
        finally:
            client.close(0)
    except Exception as error:  # noqa: BLE001 - lineage is best effort: nothing may fail the run
        log.warning("OpenLineage: %d of %d events not sent to %s (%s: %s)", len(events) - sent, len(events),
                    config.url, type(error).__name__, _without_key(str(error), config.api_key))
    return sent


def _without_key(text: str, api_key: str | None) -> str:
    return text.replace(api_key, "***") if api_key else text

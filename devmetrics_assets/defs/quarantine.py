"""The `quarantine` asset: what every layer set aside, browseable in the Dagster UI.

Bronze and Silver write the `quarantine` table as part of their own runs (a rejected line or
payload is stored with its reason in the same run that read it). This asset does not write it again:
it is a materialised VIEW over the table. Materialising it reads the table and records counts by
layer / asset / reason, a Markdown sample of the latest rows, first/last seen and how to replay, as
the materialisation's metadata.

Why a materialised asset and not an observable source asset: it depends on the Bronze and Silver
assets, so the lineage graph shows where quarantine comes from, and its automation condition
refreshes it after any of them updates. Each materialisation is a snapshot, so the UI plots the
numeric counts over time (the "Plots" tab) and a DataVersion tells an unchanged table from a new one.
"""


import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg
import pandas as pd

from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.storage.selection import DUCKDB
from devmetrics_assets.storage.tables import QUARANTINE_TABLE

ASSET_NAME = "quarantine"
SAMPLE_ROWS = 10
TOP_GROUPS = 50
TEXT_CELL = 120


@dataclass(frozen=True)
class QuarantineSummary:
    total: int
    by_layer: dict[str, int]
    by_asset_reason: pd.DataFrame  # layer, asset, reason, rows, days, first_seen_at, last_seen_at
    sample: pd.DataFrame  # latest rows: layer, asset, record_ref, partition_day, reason, record, last_seen_at
    first_seen_at: pd.Timestamp | None
    last_seen_at: pd.Timestamp | None

    def version(self) -> str:
        """Changes when any row is added, removed or seen again."""
        text = f"{self.total}|{self.last_seen_at}|{self.by_asset_reason.to_csv(index=False)}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def summarise_quarantine(warehouse: Storage, sample_rows: int = SAMPLE_ROWS) -> QuarantineSummary:
    """Aggregates computed by the storage backend (the table can be large); no table yet gives an empty
    summary."""
    groups = warehouse.quarantine_groups()
    if groups.empty:
        return QuarantineSummary(0, {}, groups, pd.DataFrame(), None, None)
    by_layer = {str(k): int(v) for k, v in groups.groupby("layer")["rows"].sum().items()}
    return QuarantineSummary(
        total=int(groups["rows"].sum()), by_layer=by_layer, by_asset_reason=groups,
        sample=warehouse.latest_quarantine(sample_rows),
        first_seen_at=groups["first_seen_at"].min(), last_seen_at=groups["last_seen_at"].max(),
    )


def _cell(value: object, limit: int = TEXT_CELL) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        value = value.isoformat(timespec="seconds") if value.tzinfo else value.date().isoformat()
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def markdown_table(df: pd.DataFrame, limit: int = TEXT_CELL) -> str:
    """A GitHub-flavoured Markdown table with escaped pipes and long cells cut."""
    if df.empty:
        return "_none_"
    header = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns)
    rows = ["| " + " | ".join(_cell(v, limit) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, *rows])


def summary_metadata(summary: QuarantineSummary) -> dict[str, dg.MetadataValue | int | str]:
    replay = ("After fixing the cause, `devmetrics replay --asset <asset>` (or `--layer`, `--reason`) "
              "re-runs the partitions that produced these rows: Silver recomputes its days, Bronze re-reads "
              "the landing files of the received days.")
    metadata: dict[str, dg.MetadataValue | int | str] = {
        "dagster/row_count": summary.total,
        "rows": summary.total,
        **{f"rows_{layer}": n for layer, n in sorted(summary.by_layer.items())},
        "by_layer": dg.MetadataValue.json(summary.by_layer),
        "by_asset_and_reason": dg.MetadataValue.md(markdown_table(summary.by_asset_reason.head(TOP_GROUPS))),
        "latest_rows": dg.MetadataValue.md(markdown_table(summary.sample)),
        "replay": dg.MetadataValue.md(replay),
    }
    if summary.first_seen_at is not None:
        metadata["first_seen_at"] = dg.MetadataValue.timestamp(summary.first_seen_at.timestamp())
        metadata["last_seen_at"] = dg.MetadataValue.timestamp(summary.last_seen_at.timestamp())
    return metadata


# Bronze materialisation metadata (defs/partition_metadata.bronze_partitions) that says a load changed
# what quarantine summarises: new deliveries (Silver follows and may set records aside) or set-aside lines.
ADDED_KEYS = ("inserted", "quarantined", "conflicts", "run_rejects")


def bronze_added_rows(metadata: dict) -> bool:
    """True when a Bronze materialisation's metadata says the load added deliveries or rejects; any other
    (Silver) materialisation counts as a change (it rewrites its quarantine rows)."""
    if "inserted" not in metadata:
        return True
    return any(int(getattr(metadata.get(k), "value", metadata.get(k)) or 0) > 0 for k in ADDED_KEYS)


class UpstreamAddedRows(dg.AutomationCondition):
    """True when a parent was materialised since the previous tick by a load that added something.

    `any_deps_updated()` would be true after every Bronze run, also one that read nothing new (a quiet
    source's freshness run, a redelivery), and re-run this asset for nothing. Reads only the
    materialisations after the previous tick's storage id, so its cost does not grow with history.
    """

    @property
    def name(self) -> str:
        return "upstream_added_rows"

    @property
    def description(self) -> str:
        return "A Bronze load since the previous tick added deliveries or rejects, or Silver was rewritten"

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        from devmetrics_assets.defs.automation import _materialisations

        # The storage id this node last looked up to, in its own cursor: `previous_max_storage_id` is not
        # kept for a node whose candidates were empty (e.g. while `newly_missing` already held).
        previous = int(context.cursor) if context.cursor else context.previous_max_storage_id
        current = context.max_storage_id
        cursor = str(current if current is not None else previous or 0)  # no event yet: from the start
        empty = context.get_empty_subset()
        if previous is None or context.candidate_subset.is_empty:
            return dg.AutomationResult(context=context, true_subset=empty, cursor=cursor)
        instance = context.asset_graph_view.instance
        for parent in sorted(context.asset_graph.get(context.key).parent_keys):
            for record in _materialisations(instance, parent, previous, current):
                materialization = record.asset_materialization
                if materialization is not None and bronze_added_rows(dict(materialization.metadata)):
                    return dg.AutomationResult(context=context, true_subset=context.candidate_subset,
                                               cursor=cursor)
        return dg.AutomationResult(context=context, true_subset=empty, cursor=cursor)


def quarantine_automation_condition() -> dg.AutomationCondition:
    """Refresh after an upstream load that added something (`UpstreamAddedRows`). `eager()` would never
    fire here: its `~any_deps_missing` sees the never-materialised daily partitions of Bronze/Silver as
    missing."""
    AC = dg.AutomationCondition
    return (
        (AC.newly_missing() | UpstreamAddedRows()).since_last_handled()
        & ~AC.any_deps_in_progress()
        & ~AC.in_progress()
    ).with_label("after_upstream_added_rows")


def build_quarantine_asset(
    upstream: Sequence[dg.AssetKey | str] = (), storage_kind: str = DUCKDB
) -> dg.AssetsDefinition:
    """The unpartitioned `quarantine` asset in group "quarantine", downstream of `upstream` (the
    Bronze and Silver assets that write quarantine rows); `storage_kind` (storage/selection.py) is
    the backend shown as the asset's kind."""

    @dg.asset(
        name=ASSET_NAME,
        group_name="quarantine",
        description=("Records set aside by Bronze and Silver with their reason and raw text (table "
                     "`quarantine`). A view: materialising it records counts by layer, asset and reason, "
                     "a sample and first/last seen. Load rows with `load_quarantine()`."),
        deps=[dg.AssetKey.from_coercible(k) for k in upstream],
        kinds={storage_kind},
        owners=["team:data-platform"],
        metadata={"table": QUARANTINE_TABLE},
        required_resource_keys={"warehouse"},
        automation_condition=quarantine_automation_condition(),
    )
    def _quarantine(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        summary = summarise_quarantine(context.resources.warehouse.warehouse())
        context.log.info(f"quarantine: {summary.total} rows {summary.by_layer}")
        return dg.MaterializeResult(metadata=summary_metadata(summary),
                                    data_version=dg.DataVersion(summary.version()))

    return _quarantine

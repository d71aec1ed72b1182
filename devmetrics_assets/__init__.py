"""devmetrics-assets: DORA metrics as a Dagster asset graph (Bronze → Silver → Gold).

Notebook use needs no Dagster import:

    from devmetrics_assets import load_facts, load_gold, load_silver, load_quarantine
    load_gold("week", "2025-01-01", "2025-03-31", scope_type="team")
    load_facts("deployments", "2025-03-01", "2025-03-31", scope_type="team", scope="payments")

`devmetrics_assets.explain.explain(metric, scope, period)` gives a Gold number with the rows behind it.

The Dagster Definitions live in `devmetrics_assets.definitions` (loaded by workspace.yaml).
"""

from devmetrics_assets.storage.loaders import (
    UnknownScopeError,
    load_facts,
    load_gold,
    load_quarantine,
    load_silver,
)

__all__ = ["UnknownScopeError", "load_facts", "load_gold", "load_quarantine", "load_silver", "plot_dora"]


def __getattr__(name: str) -> object:
    """`plot_dora` imports plotly on first use only, so `import devmetrics_assets` stays light."""
    if name == "plot_dora":
        from devmetrics_assets.report.charts import plot_dora

        return plot_dora
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

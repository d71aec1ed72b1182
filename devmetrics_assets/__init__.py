"""devmetrics-assets: DORA metrics as a Dagster asset graph (Bronze → Silver → Gold).

Notebook use needs no Dagster import:

    from devmetrics_assets import load_gold, load_silver, load_quarantine
    load_gold("week", "2025-01-01", "2025-03-31", scope_type="team")

The Dagster Definitions live in `devmetrics_assets.definitions` (loaded by workspace.yaml).
"""

from devmetrics_assets.storage.loaders import load_gold, load_quarantine, load_silver

__all__ = ["load_gold", "load_quarantine", "load_silver"]

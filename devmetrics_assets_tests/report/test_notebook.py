"""examples/dora_walkthrough.ipynb runs headless, cell by cell, against a freshly materialised sample org."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from devmetrics_assets_tests.conftest import Materialised

pytestmark = pytest.mark.notebook

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "dora_walkthrough.ipynb"
ENV_CLEARED = ("MONGODB_URI", "DEVMETRICS_WAREHOUSE", "DEVMETRICS_LANDING", "DEVMETRICS_RULES",
               "DEVMETRICS_SOURCES", "DEVMETRICS_PARTITION_START", "DEVMETRICS_NOW")


def test_committed_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_walkthrough_executes_without_errors(materialised: Materialised, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVMETRICS_HOME", str(materialised.settings.home))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    for name in ENV_CLEARED:
        monkeypatch.delenv(name, raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first cell that fails
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) == 2  # the org's metrics and the team comparison
    assert any("change_failure_rate of team:" in o.get("text", "") for o in outputs)

"""The three tuning notebooks run top to bottom on a python3 kernel (CI: EMPI_REQUIRE_NOTEBOOKS=1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, require

NOTEBOOKS = sorted((REPO / "notebooks").glob("0*.ipynb"))


def _kernel_available() -> bool:
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError:
        return False
    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        return False
    return True


def test_the_three_tuning_notebooks_are_present() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01-explore-scores.ipynb", "02-tune-weights.ipynb", "03-choose-thresholds.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_are_stripped_when_committed(path: Path) -> None:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: outputs not stripped"


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_when_executed(path: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    if not _kernel_available():
        require("EMPI_REQUIRE_NOTEBOOKS", "no python3 Jupyter kernel (python -m ipykernel install --sys-prefix)")
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("EMPI_NOTEBOOK_OUTPUT", str(tmp_path))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError, naming the cell, when any cell fails
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    if path.stem != "01-explore-scores":  # 02 and 03 save a new, loadable card version
        from scoring import load_scorecard

        saved = list(tmp_path.glob("*.json"))
        assert saved and all(load_scorecard(p).version != "1" for p in saved)

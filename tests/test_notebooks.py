"""Every teaching notebook executes from top to bottom, renders its figures, ends with its answer,
and is stored without outputs (so it cannot rot, and git holds only the source)."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOK_PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))

BENCH_RESULTS = [
    NOTEBOOKS.parent / "benchmarks" / "results" / sub / "results.json" for sub in ("", "quick")
]

#: Figures each notebook must render (06 draws only if benchmark results exist).
MIN_FIGURES = {
    "01_gate_packing": 2,
    "02_stacked_shapes": 0,
    "03_damped_sine": 5,
    "04_bptt_by_hand": 1,
    "05_crosscheck_keras": 1,
    "06_benchmarks": 2 if any(p.is_file() for p in BENCH_RESULTS) else 0,
    "07_gru_gate_packing": 3,
    "08_padding_and_masks": 2,
}


def test_every_notebook_is_listed():
    assert [p.stem for p in NOTEBOOK_PATHS] == sorted(MIN_FIGURES)


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name}: outputs must be stripped before committing"
            )
    # the closing cell answers the notebook's question
    assert nb.cells[-1].cell_type == "markdown" and nb.cells[-1].source.startswith("## Answer")


def _execute(path: Path, monkeypatch) -> tuple[list, float]:
    """Run the notebook in a fresh kernel; returns its outputs and the wall time."""
    # the kernel inherits this environment: a headless matplotlib, and Keras on JAX for 05
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    elapsed = time.perf_counter() - start
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs], elapsed


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda p: p.stem)
def test_notebook_executes(path, monkeypatch):
    monkeypatch.delenv("NPYLSTM_BENCH_RESULTS", raising=False)  # the repository's results
    outputs, elapsed = _execute(path, monkeypatch)
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= MIN_FIGURES[path.stem], (
        f"{path.name}: rendered {len(figures)} figures, expected at least "
        f"{MIN_FIGURES[path.stem]} ({elapsed:.1f} s)"
    )
    # a rendered figure is a real PNG, not an empty canvas
    for figure in figures:
        assert len(figure["data"]["image/png"]) > 5_000


def test_benchmarks_notebook_without_results(tmp_path, monkeypatch):
    # an empty results directory: the notebook says so and draws nothing
    monkeypatch.setenv("NPYLSTM_BENCH_RESULTS", str(tmp_path))
    outputs, _ = _execute(NOTEBOOKS / "06_benchmarks.ipynb", monkeypatch)
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "No benchmark results found" in text and "nothing to plot" in text
    assert not [o for o in outputs if "image/png" in o.get("data", {})]

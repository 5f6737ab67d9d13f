"""The notebooks run (smoke mode) and their committed executed copies match their sources."""

import importlib.util
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
_spec = importlib.util.spec_from_file_location("notebook_build", NOTEBOOKS / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)
SOURCES = build.sources()


def test_there_are_notebooks():
    assert {p.stem for p in SOURCES} >= {
        "compare_vb_variants",
        "uncertainty_with_arviz",
        "custom_models",
    }


def _code_cells(notebook) -> list[str]:
    return [c.source.strip() for c in notebook.cells if c.cell_type == "code"]


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_executes_in_smoke_mode(source, tmp_path, monkeypatch):
    import nbformat

    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    output = tmp_path / f"{source.stem}.ipynb"
    build.execute(source, output, smoke=True, timeout=300)
    notebook = nbformat.read(output, as_version=4)
    errors = [
        o
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]
    assert not errors
    assert any(c.get("outputs") for c in notebook.cells if c.cell_type == "code")


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_committed_copy_is_executed_and_matches_its_source(source):
    """``python notebooks/build.py`` was run after the last edit of the source."""
    import jupytext
    import nbformat

    copy = source.with_suffix(".ipynb")
    assert copy.exists(), f"run: python notebooks/build.py {source.stem}"
    executed = nbformat.read(copy, as_version=4)
    assert _code_cells(executed) == _code_cells(jupytext.read(source)), (
        f"{copy.name} is stale; run: python notebooks/build.py {source.stem}"
    )
    cells = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in cells), "not every cell was executed"
    assert any(o.output_type == "display_data" for c in cells for o in c.get("outputs", []))

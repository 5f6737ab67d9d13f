"""Execute the notebooks and write their executed copies.

The notebooks are kept as plain-text sources in the jupytext *percent* format
(``notebooks/<name>.py``, readable and diff-able); the executed ``notebooks/<name>.ipynb``
copies, with their outputs, are generated from them by this script::

    python notebooks/build.py                 # every notebook, full size (the committed copies)
    python notebooks/build.py compare_vb_variants
    python notebooks/build.py --smoke --output-dir /tmp/nb   # the suite's quick run

``--smoke`` sets ``BAYESDECONV_SMOKE=1`` for the kernel, which each notebook reads to shrink
its images and iteration counts. Needs ``jupytext``, ``nbclient`` and ``ipykernel`` (the
``test`` extra).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SMOKE_VARIABLE = "BAYESDECONV_SMOKE"


def sources(names: list[str] | None = None) -> list[Path]:
    """The notebook sources (``notebooks/*.py`` other than this script), by name."""
    found = {p.stem: p for p in sorted(HERE.glob("*.py")) if not p.stem.startswith(("_", "build"))}
    if not names:
        return list(found.values())
    unknown = sorted(set(names) - set(found))
    if unknown:
        raise SystemExit(f"unknown notebook(s) {unknown}; have {sorted(found)}")
    return [found[name] for name in names]


def execute(source: Path, output: Path, *, smoke: bool, timeout: int = 1800) -> float:
    """Execute ``source`` in a fresh kernel (working directory ``notebooks/``) and write the
    executed notebook to ``output``; returns the wall time in seconds. Raises on a failing
    cell (``nbclient.exceptions.CellExecutionError``)."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    previous = os.environ.get(SMOKE_VARIABLE)
    os.environ[SMOKE_VARIABLE] = "1" if smoke else "0"
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    start = time.perf_counter()
    try:
        client = NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(HERE)}},
        )
        client.execute()
    finally:
        if previous is None:
            os.environ.pop(SMOKE_VARIABLE, None)
        else:
            os.environ[SMOKE_VARIABLE] = previous
    elapsed = time.perf_counter() - start
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".ipynb.part")
    nbformat.write(notebook, partial)
    partial.replace(output)  # never leave a half-written copy
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebooks to run (default: all)")
    parser.add_argument("--smoke", action="store_true", help="small sizes (BAYESDECONV_SMOKE=1)")
    parser.add_argument("--output-dir", type=Path, default=HERE, help="where the .ipynb go")
    args = parser.parse_args(argv)
    for source in sources(args.names):
        output = args.output_dir / f"{source.stem}.ipynb"
        elapsed = execute(source, output, smoke=args.smoke)
        print(f"{source.name} -> {output} ({elapsed:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The README's Python examples run as written, in order, in one namespace."""

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks() -> list[str]:
    return BLOCK.findall(README.read_text(encoding="utf-8"))


def test_readme_has_python_examples():
    assert len(python_blocks()) >= 2


def test_readme_python_blocks_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything the examples write lands here
    namespace: dict = {"__name__": "readme"}
    for number, block in enumerate(python_blocks(), start=1):
        code = compile(block, f"README.md, python block {number}", "exec")
        exec(code, namespace)
    # the quick start's objects exist and have the shapes the comments promise
    case, result = namespace["case"], namespace["result"]
    assert result.mean.shape == result.std.shape == case.observed.shape
    assert namespace["draws"].shape == (100, *case.observed.shape)
    assert np.all(namespace["lo"] <= namespace["hi"])
    blind = namespace["blind"]
    assert blind.psf.shape == (9, 9)
    assert np.isclose(blind.psf.sum(), 1.0) and blind.psf.min() >= 0

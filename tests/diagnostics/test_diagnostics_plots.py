"""Tests for :mod:`bayesdeconv.diagnostics.plots`."""

from __future__ import annotations

import dataclasses

import matplotlib
import numpy as np
import pytest
from diag_helpers import gaussian_result
from matplotlib.figure import Figure
from PIL import Image

from bayesdeconv.diagnostics import plot_elbo, save_report
from bayesdeconv.diagnostics.plots import describe_result, orthogonal_projections


def _report_args(result):
    return {"observed": result.observed, "mean": result.mean, "std": result.std, "psf": result.psf}


def _check_png(path, dpi=110):
    assert path.stat().st_size > 0
    with Image.open(path) as im:
        assert im.format == "PNG"
        width, height = im.size
    # one row of four panels: much wider than high, about 16 x 4.4 inches
    assert width > 3 * height
    assert width == pytest.approx(16 * dpi, rel=0.1)
    return width, height


def test_save_report_2d(tmp_path, ivb_result):
    path = tmp_path / "report.png"
    assert save_report(path, **_report_args(ivb_result), title="test") == path
    _check_png(path)
    assert [p.name for p in tmp_path.iterdir()] == ["report.png"]


def test_save_report_3d_and_dpi(tmp_path):
    result = gaussian_result((5, 12, 10), psf_shape=(3, 5, 5))
    path = tmp_path / "report3d.png"
    save_report(path, **_report_args(result), dpi=60)
    _check_png(path, dpi=60)


def test_save_report_does_not_touch_pyplot(tmp_path, ivb_result):
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    figures = plt.get_fignums()
    save_report(tmp_path / "r.png", **_report_args(ivb_result))
    assert matplotlib.get_backend() == backend
    assert plt.get_fignums() == figures


def test_failed_save_leaves_no_file(tmp_path, ivb_result, monkeypatch):
    def broken(self, fname, **kwargs):
        with open(fname, "wb") as fh:
            fh.write(b"\x89PNG partial")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        save_report(tmp_path / "report.png", **_report_args(ivb_result))
    assert list(tmp_path.iterdir()) == []
    # an existing report survives a failed overwrite
    old = tmp_path / "old.png"
    old.write_bytes(b"old")
    with pytest.raises(OSError, match="disk full"):
        save_report(old, **_report_args(ivb_result))
    assert old.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["old.png"]


def test_invalid_inputs(tmp_path, ivb_result):
    args = _report_args(ivb_result)
    with pytest.raises(ValueError, match="std"):
        save_report(tmp_path / "a.png", **{**args, "std": args["std"][:3]})
    with pytest.raises(ValueError, match="axes"):
        save_report(tmp_path / "a.png", **{**args, "observed": args["observed"][None]})
    with pytest.raises(ValueError, match="2-D or 3-D"):
        save_report(tmp_path / "a.png", **{**args, "psf": np.ones(3)})
    with pytest.raises(ValueError, match="2-D or 3-D"):
        save_report(
            tmp_path / "a.png",
            **{**args, "mean": np.ones(4), "std": np.ones(4), "observed": np.ones(4)},
        )
    with pytest.raises(FileNotFoundError):
        save_report(tmp_path / "missing" / "a.png", **args)
    assert list(tmp_path.iterdir()) == []


def test_plot_elbo_on_given_axes(ivb_result):
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_elbo(ivb_result, ax=ax) is ax
    x, y = ax.lines[0].get_data()
    np.testing.assert_array_equal(y, ivb_result.elbo)
    np.testing.assert_array_equal(x, np.arange(1, ivb_result.elbo.size + 1))
    assert ax.get_xlabel() == "iteration"


def test_plot_elbo_svi_running_median():
    elbo = -1.0 / np.arange(1, 201) + 0.01 * np.random.default_rng(0).standard_normal(200)
    result = dataclasses.replace(gaussian_result((4, 4)), method="svi", elbo=elbo)
    fig = Figure()
    ax = plot_elbo(result, ax=fig.add_subplot())
    assert len(ax.lines) == 2
    smooth = ax.lines[1].get_ydata()
    assert np.std(np.diff(smooth[50:])) < np.std(np.diff(result.elbo[50:]))


def test_plot_elbo_creates_axes():
    import matplotlib.pyplot as plt

    ax = plot_elbo(gaussian_result((4, 4)))
    try:
        assert ax.lines and ax.figure is not None
    finally:
        plt.close(ax.figure)


def test_orthogonal_projections_lay_out_the_three_maximum_projections():
    volume = np.zeros((3, 4, 5))
    volume[1, 2, 3] = 7.0
    view = orthogonal_projections(volume)
    assert view.shape == (4 + 1 + 3, 5 + 1 + 3)
    assert view[2, 3] == 7.0  # (y, x)
    assert view[2, 5 + 1 + 1] == 7.0  # (y, z), to the right
    assert view[4 + 1 + 1, 3] == 7.0  # (z, x), below
    assert np.isnan(view[4, 0]) and np.isnan(view[-1, -1])


def test_describe_result_names_the_std_and_flags_a_capped_fit(ivb_result):
    labels = {
        "sampled": "marginal std (16 draws)",
        "exact": "marginal std (exact)",
        "fourier family": "std of the stationary q(x): one value",
        "diagonal family": "mean-field std (too narrow)",
    }
    for kind, label in labels.items():
        info = {**ivb_result.info, "std": kind, "std_samples": 16}
        described = describe_result(dataclasses.replace(ivb_result, info=info))
        assert described["std_label"] == label
    capped = dataclasses.replace(ivb_result, converged=False, n_iter=7)
    assert describe_result(capped)["note"] == "not converged: stopped at 7 iterations"
    assert describe_result(dataclasses.replace(ivb_result, converged=True))["note"] is None

"""Tests for :mod:`bayesdeconv.diagnostics.arviz_export`."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from diag_helpers import gaussian_result

import bayesdeconv
from bayesdeconv.diagnostics import arviz_export, central_window, save_arviz, to_arviz

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az

GROUPS = {"posterior", "observed_data", "constant_data", "sample_stats"}
Z90 = 1.6448536269514722


def _export_quietly(result, *args, **kwargs):
    """to_arviz, asserting that it emits no warning at all."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        idata = to_arviz(result, *args, **kwargs)
    assert not caught, [str(w.message) for w in caught]
    return idata


@pytest.fixture(scope="module")
def idata(ivb_result):
    return _export_quietly(ivb_result, 50, pixels=True, seed=3)  # 4 chains of 50 draws


def test_groups_dims_coords_and_shapes(idata, ivb_result):
    assert set(idata.groups()) == GROUPS
    post = idata.posterior
    assert post["image"].dims == ("chain", "draw", "y", "x")
    assert post["image"].shape == (4, 50, 24, 20)
    np.testing.assert_array_equal(post["chain"], np.arange(4))
    np.testing.assert_array_equal(post["draw"], np.arange(50))
    np.testing.assert_array_equal(post["y"], np.arange(24))
    np.testing.assert_array_equal(post["x"], np.arange(20))
    for name in ivb_result.hyperparameters:  # both learned
        assert post[name].dims == ("chain", "draw")
        assert post[name].shape == (4, 50)
    # hyper-parameters first, the image last (the order of az.summary's rows)
    assert list(post.data_vars) == [*ivb_result.hyperparameters, "image"]
    obs = idata.observed_data["obs"]
    assert obs.dims == ("obs_y", "obs_x")
    np.testing.assert_array_equal(obs.values, ivb_result.observed)
    np.testing.assert_array_equal(idata.constant_data["psf"].values, ivb_result.psf)
    elbo = idata.sample_stats["elbo"]
    assert elbo.dims == ("iteration",)
    np.testing.assert_array_equal(elbo.values, ivb_result.elbo)


def test_attrs(idata, ivb_result):
    for attrs in (idata.attrs, idata.posterior.attrs):
        assert attrs["method"] == "ivb"
        assert attrs["n_iter"] == ivb_result.n_iter
        assert attrs["converged"] == int(ivb_result.converged)
        assert attrs["runtime"] == pytest.approx(ivb_result.runtime)
        assert attrs["inference_library_version"] == bayesdeconv.__version__
        assert attrs["image_window"] == "[0:24, 0:20]"
        assert attrs["image_shape"] == "(24, 20)"
        assert attrs["chains_are"] == "independent draws"


def _pixel(label: str) -> tuple[int, ...]:
    return tuple(int(v) for v in re.fullmatch(r"image\[(.*)\]", label).group(1).split(","))


def test_summary_on_pixel_subset_matches_posterior(idata, ivb_result):
    ys, xs = [0, 5, 23], [2, 19]
    summary = az.summary(
        idata, var_names=["image"], coords={"y": ys, "x": xs}, kind="stats", round_to="none"
    )
    pixels = [_pixel(label) for label in summary.index]
    assert sorted(pixels) == sorted((y, x) for y in ys for x in xs)
    for (y, x), mean, sd in zip(pixels, summary["mean"], summary["sd"], strict=True):
        tol = 4 * ivb_result.std[y, x] / math.sqrt(200)
        assert abs(mean - ivb_result.mean[y, x]) < tol
        assert sd == pytest.approx(ivb_result.std[y, x], rel=0.25)


def test_posterior_means_match_result_everywhere(idata, ivb_result):
    means = idata.posterior["image"].mean(("chain", "draw")).values
    z = (means - ivb_result.mean) / (ivb_result.std / math.sqrt(200))
    assert np.all(np.abs(z) < 4.5)
    assert abs(z.mean()) < 4 / math.sqrt(z.size)  # no systematic offset


def test_hdi_widths_match_gaussian_intervals(idata, ivb_result):
    hdi = az.hdi(idata, var_names=["image"], hdi_prob=0.9)["image"]
    assert hdi.dims == ("y", "x", "hdi")
    width = (hdi.sel(hdi="higher") - hdi.sel(hdi="lower")).values
    ratio = width / (2 * Z90 * ivb_result.std)
    assert abs(np.median(ratio) - 1) < 0.05
    assert np.mean(np.abs(ratio - 1) < 0.2) > 0.95


def test_hyperparameter_draws(idata, ivb_result):
    for name, q in ivb_result.hyperparameters.items():
        values = idata.posterior[name].values.ravel()
        assert values.mean() == pytest.approx(q.mean, abs=4 * q.std / math.sqrt(200) + 1e-12)
    summary = az.summary(idata, var_names=list(ivb_result.hyperparameters), kind="stats")
    assert list(summary.index) == list(ivb_result.hyperparameters)


def test_seed_reproducible_and_delegation(ivb_result):
    a = _export_quietly(ivb_result, 5, pixels=True, seed=11)
    b = ivb_result.to_arviz(5, pixels=True, seed=11)
    c = _export_quietly(ivb_result, 5, pixels=True, seed=12)
    np.testing.assert_array_equal(a.posterior["image"], b.posterior["image"])
    assert not np.array_equal(a.posterior["image"], c.posterior["image"])


@pytest.mark.parametrize("bad", [0, -3, 1.5, True, "10", None])
def test_validation(ivb_result, bad):
    if bad is not None:  # None is num_samples' default
        with pytest.raises(ValueError, match="num_samples"):
            to_arviz(ivb_result, bad)
    with pytest.raises(ValueError, match="max_pixels"):
        to_arviz(ivb_result, 2, pixels=True, max_pixels=bad)
    with pytest.raises(ValueError, match="chains"):
        to_arviz(ivb_result, 2, chains=bad)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("all", "tuple of 2 slices"),
        ((slice(0, 4),), "tuple of 2 slices"),
        ([slice(0, 4), slice(0, 4)], "tuple of 2 slices"),
        ((slice(0, 4), 3), r"pixels\[1\] must be a slice"),
        ((slice(0, 4, 2), slice(0, 4)), "step 1"),
        ((slice(5, 5), slice(0, 4)), "selects no pixel"),
        ((slice(30, 40), slice(0, 4)), "selects no pixel"),
    ],
)
def test_bad_pixels_argument(ivb_result, bad, match):
    with pytest.raises(ValueError, match=match):
        to_arviz(ivb_result, 2, pixels=bad)


def test_single_draw(ivb_result):
    idata = _export_quietly(ivb_result, 1, chains=1, pixels=True)
    assert idata.posterior["image"].shape == (1, 1, 24, 20)


def test_windowed_export_of_a_large_image(big_result):
    with pytest.warns(UserWarning, match="max_pixels") as record:
        idata = big_result.to_arviz(25, pixels=True, max_pixels=1024, seed=0)
    # the warning points at the caller, not at bayesdeconv internals
    assert record[0].filename == __file__
    image = idata.posterior["image"]
    ny, nx = image.sizes["y"], image.sizes["x"]
    assert ny * nx <= 1024
    assert ny * nx >= 900 and abs(ny - nx) <= 1  # square image -> (nearly) square window
    ys, xs = image["y"].values, image["x"].values
    np.testing.assert_array_equal(ys, np.arange(ys[0], ys[0] + ny))
    np.testing.assert_array_equal(xs, np.arange(xs[0], xs[0] + nx))
    assert abs((ys[0] + ys[-1]) / 2 - 99.5) <= 1 and abs((xs[0] + xs[-1]) / 2 - 99.5) <= 1
    assert idata.posterior.attrs["image_window"] == f"[{ys[0]}:{ys[-1] + 1}, {xs[0]}:{xs[-1] + 1}]"
    assert idata.posterior.attrs["image_shape"] == "(200, 200)"
    # the whole observed image is kept
    assert idata.observed_data["obs"].shape == (200, 200)
    # means agree with result.mean at the true indices (and not at shifted ones)
    window = np.ix_(ys, xs)
    se = big_result.std[window] / math.sqrt(100)
    means = image.mean(("chain", "draw")).values
    assert np.all(np.abs(means - big_result.mean[window]) < 4.5 * se)
    shifted = np.ix_(ys + 3, xs)
    assert np.mean(np.abs(means - big_result.mean[shifted]) < 4.5 * se) < 0.5
    # label-based selection addresses the same pixel as result.mean[y, x]
    px = image.sel(y=100, x=90).mean().item()
    assert abs(px - big_result.mean[100, 90]) < 4.5 * big_result.std[100, 90] / 10


def test_no_window_when_within_budget(ivb_result):
    idata = _export_quietly(ivb_result, 3, pixels=True, max_pixels=24 * 20)
    assert idata.posterior["image"].shape[2:] == (24, 20)


def test_3d_export_and_window():
    result = gaussian_result((6, 10, 12))
    idata = _export_quietly(result, 25, chains=2, pixels=True, seed=1)
    assert idata.posterior["image"].dims == ("chain", "draw", "z", "y", "x")
    assert idata.posterior["image"].shape == (2, 25, 6, 10, 12)
    assert idata.observed_data["obs"].dims == ("obs_z", "obs_y", "obs_x")
    assert idata.constant_data["psf"].dims == ("psf_z", "psf_y", "psf_x")
    with pytest.warns(UserWarning, match="central window"):
        small = to_arviz(result, 100, pixels=True, max_pixels=100, seed=1)
    image = small.posterior["image"]
    assert math.prod(image.shape[2:]) <= 100
    index = np.ix_(image["z"].values, image["y"].values, image["x"].values)
    means = image.mean(("chain", "draw")).values
    np.testing.assert_array_less(np.abs(means - result.mean[index]), 4.5 * result.std[index] / 20)
    # the PointValue hyper-parameter is data, not a posterior variable
    assert "image_precision" not in small.posterior
    assert small.constant_data["image_precision"].item() == 4.0
    noise = small.posterior["noise_precision"].values
    q = result.hyperparameters["noise_precision"]
    assert noise.mean() == pytest.approx(q.mean, abs=4 * q.std / 20)


@pytest.mark.parametrize(
    ("shape", "budget"),
    [
        ((200, 200), 1024),
        ((1000, 2), 10),
        ((5, 7, 9), 20),
        ((3, 3), 9),
        ((4, 4), 1),
        ((64, 16), 256),
        ((9, 300, 200), 5000),
        ((2, 50), 7),
    ],
)
def test_central_window(shape, budget):
    window = central_window(shape, budget)
    widths = [s.stop - s.start for s in window]
    assert len(window) == len(shape)
    assert math.prod(widths) <= budget
    for s, sl, w in zip(shape, window, widths, strict=True):
        assert 0 <= sl.start and sl.stop <= s and w >= 1
        assert sl.start == (s - w) // 2  # centred
    if math.prod(shape) <= budget:
        assert widths == list(shape)
    else:
        assert math.prod(widths) > budget / 2  # uses most of the budget


def test_central_window_keeps_aspect():
    window = central_window((64, 16), 256)
    assert [s.stop - s.start for s in window] == [32, 8]


def test_save_arviz_round_trip(tmp_path, idata):
    path = tmp_path / "posterior.nc"
    assert save_arviz(idata, path) == path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["posterior.nc"]
    back = az.from_netcdf(path)
    assert set(back.groups()) == GROUPS
    np.testing.assert_array_equal(back.posterior["image"], idata.posterior["image"])
    np.testing.assert_array_equal(back.posterior["y"], idata.posterior["y"])
    np.testing.assert_array_equal(back.sample_stats["elbo"], idata.sample_stats["elbo"])
    np.testing.assert_array_equal(back.observed_data["obs"], idata.observed_data["obs"])
    assert back.posterior.attrs["image_window"] == idata.posterior.attrs["image_window"]
    assert back.attrs["method"] == "ivb"
    az.summary(back, var_names=["image"], coords={"y": [1], "x": [1]}, kind="stats")
    # overwrite in place
    save_arviz(idata, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["posterior.nc"]


def test_save_arviz_failure_leaves_nothing(tmp_path, idata, monkeypatch):
    path = tmp_path / "posterior.nc"
    path.write_bytes(b"old")

    def broken(self, filename, **kwargs):
        with open(filename, "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(type(idata), "to_netcdf", broken)
    with pytest.raises(OSError, match="disk full"):
        save_arviz(idata, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["posterior.nc"]
    assert path.read_bytes() == b"old"
    with pytest.raises(OSError, match="disk full"):
        save_arviz(idata, tmp_path / "new.nc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["posterior.nc"]


def test_save_arviz_missing_directory(tmp_path, idata):
    with pytest.raises(FileNotFoundError):
        save_arviz(idata, tmp_path / "missing" / "x.nc")


def test_modules_import_heavy_libraries_lazily():
    """arviz, xarray and matplotlib must only be imported inside functions."""
    import ast
    from pathlib import Path

    heavy = {"arviz", "xarray", "matplotlib"}
    package = Path(arviz_export.__file__).parent
    for source in package.glob("*.py"):
        tree = ast.parse(source.read_text())
        for node in tree.body:  # module level only (TYPE_CHECKING blocks are not run)
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not {n.split(".")[0] for n in names} & heavy, (source.name, names)

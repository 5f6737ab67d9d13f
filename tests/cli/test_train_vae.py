"""``bayesdeconv train-vae`` and ``deconvolve --prior-file MODEL.npz``: tiny VAE models, resume
after an interruption, one-line errors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile

from bayesdeconv.cli import main
from bayesdeconv.diagnostics.filament_sets import filament_set
from bayesdeconv.physics.psf import gaussian_psf
from bayesdeconv.priors import VAEImagePrior

PREFIX = "bayesdeconv: error: "
SIDE = 32
TINY = ["--patch", "32", "--epochs", "2", "--width", "2", "--latent-channels", "2", "-q"]


@dataclass
class VAEFiles:
    """A stack of 12 noisy blurred 32x32 filament images, one of them alone, and their PSF."""

    folder: Path
    stack: Path
    image: Path
    psf: Path


def _write(folder: Path, n: int = 12) -> VAEFiles:
    data = filament_set("low-noise", n, (SIDE, SIDE))
    files = VAEFiles(folder, folder / "stack.npy", folder / "image.npy", folder / "psf.npy")
    np.save(files.stack, data.observed.astype(np.float32))
    np.save(files.image, data.observed[0])
    np.save(files.psf, data.psf)
    return files


@pytest.fixture
def files(tmp_path: Path) -> VAEFiles:
    return _write(tmp_path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> VAEFiles:
    """The files with a model ``model.npz`` trained on them (once for the module)."""
    files = _write(tmp_path_factory.mktemp("trained"))
    assert main(_train(files)) == 0
    return files


def _train(
    files: VAEFiles, *extra: object, output: Path | None = None, quiet: bool = True
) -> list[str]:
    out = files.folder / "model.npz" if output is None else output
    tiny = TINY if quiet else TINY[:-1]
    args = ["train-vae", files.stack, "--psf", files.psf, "-o", out, *tiny, *extra]
    return [str(a) for a in args]


def _listing(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included) with its content."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _one_error_line(code: int, captured, words: str) -> None:
    assert code != 0, captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(PREFIX), captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""
    assert words.lower() in lines[0].lower(), lines[0]


# --------------------------------------------------------------------------------------------
# train-vae: success paths
# --------------------------------------------------------------------------------------------


def test_training_writes_a_loadable_model(files, capsys):
    out = files.folder / "model.npz"
    assert main(_train(files, quiet=False)) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("bayesdeconv: DivBlurring VAE on 12 2-D images (32x32) from 1 file")
    assert "12 32x32 patches: held-out loss" in line and " -> " in line
    assert ", 2 epochs, " in line and line.endswith(f" s; wrote {out}")
    prior = VAEImagePrior.load(out)
    assert prior.network.as_dict() == {"width": 2, "depth": 2, "latent_channels": 2}
    np.testing.assert_allclose(prior.psf, np.load(files.psf))
    assert len(prior.training["history"]) == 2
    assert "DivBlurring VAE trained by 'bayesdeconv train-vae'" in prior.description
    assert sorted(p.name for p in files.folder.iterdir()) == [
        "image.npy",
        "model.npz",
        "psf.npy",
        "stack.npy",
    ]  # fmt: skip  (no checkpoint, no temporary file left)


def test_divnoising_camera_noise_and_options(tmp_path, capsys):
    """No --psf: a denoising VAE; --noise poisson-gaussian calibrated on the patches."""
    data = filament_set("poisson-gaussian", 8, (SIDE, SIDE))
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(data.observed):
        tifffile.imwrite(folder / f"raw{i}.tif", image.astype(np.float32))
    out = tmp_path / "denoise.npz"
    args = ["train-vae", folder, "-o", out, *TINY, "--noise", "poisson-gaussian",
            "--positivity", "constraint", "--l1", "0.01", "--description", "my camera"]  # fmt: skip
    assert main([str(a) for a in args]) == 0
    prior = VAEImagePrior.load(out)
    assert prior.psf is None and prior.positivity == "constraint" and prior.l1 == 0.01
    assert prior.description == "my camera"
    assert prior.training["noise"].startswith("PoissonGaussianNoise(")
    args = [*args[:-2], "--gain", "2", "--offset", "100", "--read-noise", "3", "--force"]
    assert main([str(a) for a in args]) == 0
    assert "(gain=2, offset=100, read_noise=3)" in VAEImagePrior.load(out).training["noise"]


def test_force_replaces_an_existing_model(files, capsys):
    out = files.folder / "model.npz"
    out.write_bytes(b"old model")
    before = _listing(files.folder)
    _one_error_line(main(_train(files)), capsys.readouterr(), "exists; pass --force")
    assert _listing(files.folder) == before
    assert main(_train(files, "--force", "--description", "replaced")) == 0
    assert VAEImagePrior.load(out).description == "replaced"


def _interrupt_in_epoch(monkeypatch, epoch: int) -> None:
    """Make the held-out loss of ``epoch`` raise KeyboardInterrupt (as Ctrl-C would)."""
    import bayesdeconv.training.vae as training

    real, calls = training.vae_loss, []

    def loss(*args):
        calls.append(1)
        if len(calls) == epoch:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(training, "vae_loss", loss)


def test_interrupted_run_resumes_from_its_checkpoint(files, capsys, monkeypatch):
    out = files.folder / "model.npz"
    checkpoint = files.folder / "model.checkpoint.npz"
    _interrupt_in_epoch(monkeypatch, 2)
    assert main(_train(files)) == 130
    err = capsys.readouterr().err
    assert f"1 of 2 epochs are kept in {checkpoint}: --resume continues" in err
    assert not out.exists()
    assert len(VAEImagePrior.load(checkpoint).training["history"]) == 1
    monkeypatch.undo()

    kept = _listing(files.folder)
    _one_error_line(main(_train(files)), capsys.readouterr(), "pass --resume to continue it")
    _one_error_line(
        main(_train(files, "--resume", "--seed", "1")), capsys.readouterr(), "with --seed 0"
    )
    assert _listing(files.folder) == kept

    assert main(_train(files, "--resume", quiet=False)) == 0
    assert "2 epochs, resumed after epoch 1" in capsys.readouterr().out
    assert not checkpoint.exists()
    epochs = [entry["epoch"] for entry in VAEImagePrior.load(out).training["history"]]
    assert epochs == [1, 2]


# --------------------------------------------------------------------------------------------
# train-vae: bad input
# --------------------------------------------------------------------------------------------


def _bad_case(case: str, files: VAEFiles) -> tuple[list[str], str]:
    """The arguments of a bad run and words its error line must hold."""
    folder = files.folder

    def with_stack(path: Path, *extra: object) -> list[str]:
        args = _train(files, *extra)
        args[1] = str(path)
        return args

    if case == "missing-stack":
        return with_stack(folder / "absent.npy"), "not found"
    if case == "1d-image":
        np.save(folder / "line.npy", np.arange(50.0))
        return with_stack(folder / "line.npy"), "2-D or 3-D"
    if case == "empty-image":
        np.save(folder / "empty.npy", np.zeros((0, SIDE)))
        return with_stack(folder / "empty.npy"), "no pixels"
    if case == "nan-pixel":
        bad = np.load(files.stack)
        bad[3, 4, 5] = np.nan
        np.save(folder / "nan.npy", bad)
        return with_stack(folder / "nan.npy"), "nan.npy contains 1 NaN"
    if case == "patch-larger-than-images":
        return _train(files, "--patch", "64"), "smaller than --patch 64"
    if case == "patch-not-multiple":
        return _train(files, "--patch", "30"), "--patch must be a multiple of 4"
    if case == "psf-larger-than-patch":
        np.save(folder / "big.npy", gaussian_psf(37, 3.0))
        return _train(files, "--psf", folder / "big.npy"), "larger than --patch 32"
    if case == "psf-3d":
        np.save(folder / "psf3.npy", np.full((3, 3, 3), 1 / 27))
        return _train(files, "--psf", folder / "psf3.npy"), "is 3-D"
    if case == "unnormalised-psf":
        np.save(folder / "twice.npy", 2 * np.load(files.psf))
        return _train(files, "--psf", folder / "twice.npy"), "pass --normalise-psf"
    if case == "output-is-stack":
        return _train(files, output=files.stack), "refusing to overwrite an input"
    if case == "output-not-npz":
        return _train(files, output=folder / "model.tif"), "must end in .npz"
    if case == "resume-without-checkpoint":
        return _train(files, "--resume"), "no checkpoint"
    if case == "poisson-negative":
        return _train(files, "--noise", "poisson"), "use --noise gaussian"
    if case == "gain-without-camera":
        return _train(files, "--gain", "2"), "need --noise poisson-gaussian"
    if case == "bad-positivity":
        return _train(files, "--positivity", "yes"), "--positivity"
    if case == "negative-l2":
        return _train(files, "--l2", "-1"), "--l2 must be a non-negative"
    if case == "zero-epochs":
        return _train(files, "--epochs", "0"), "--epochs must be a positive integer"
    raise AssertionError(case)


BAD_CASES = [
    "missing-stack",
    "1d-image",
    "empty-image",
    "nan-pixel",
    "patch-larger-than-images",
    "patch-not-multiple",
    "psf-larger-than-patch",
    "psf-3d",
    "unnormalised-psf",
    "output-is-stack",
    "output-not-npz",
    "resume-without-checkpoint",
    "poisson-negative",
    "gain-without-camera",
    "bad-positivity",
    "negative-l2",
    "zero-epochs",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_training_input(case, files, capsys):
    args, words = _bad_case(case, files)
    before = _listing(files.folder)
    code = main(args)
    _one_error_line(code, capsys.readouterr(), words)
    assert _listing(files.folder) == before  # nothing written or changed, no temporary file


def test_diverged_training_writes_nothing(files, capsys, monkeypatch):
    import bayesdeconv.training as training

    def diverging(*args, **kwargs):
        raise FloatingPointError("VAE training diverged in epoch 0; lower lr")

    monkeypatch.setattr(training, "fit_vae", diverging)
    before = _listing(files.folder)
    _one_error_line(main(_train(files)), capsys.readouterr(), "diverged in epoch 0; lower --lea")
    assert _listing(files.folder) == before


# --------------------------------------------------------------------------------------------
# deconvolve --prior-file MODEL.npz
# --------------------------------------------------------------------------------------------


def _deconvolve(files: VAEFiles, *extra: object, out: str = "mean.tif") -> list[str]:
    args = ["deconvolve", files.image, "--psf", files.psf, "-o", files.folder / out, "-q",
            "--prior-file", files.folder / "model.npz", "--steps", "5", *extra]  # fmt: skip
    return [str(a) for a in args]


def test_prior_file_deconvolves_with_the_training_psf(trained, capsys):
    out = trained.folder / "mean.tif"
    assert main(_deconvolve(trained, "--std-output", trained.folder / "std.tif")) == 0
    assert capsys.readouterr().err == ""
    mean = tifffile.imread(out)
    assert mean.shape == (SIDE, SIDE) and np.isfinite(mean).all()
    assert np.isfinite(tifffile.imread(trained.folder / "std.tif")).all()


def test_any_psf_accepts_another_psf(trained, capsys):
    np.save(trained.folder / "box.npy", np.full((5, 5), 1 / 25))
    args = _deconvolve(trained, "--any-psf", out="any.tif")
    args[args.index(str(trained.psf))] = str(trained.folder / "box.npy")
    assert main(args) == 0
    assert np.isfinite(tifffile.imread(trained.folder / "any.tif")).all()


def _bad_prior_file(case: str, files: VAEFiles) -> tuple[list[str], str]:
    folder = files.folder
    if case == "other-psf":
        np.save(folder / "small.npy", gaussian_psf(5, 1.0))
        args = _deconvolve(files, out="bad.tif")
        args[args.index(str(files.psf))] = str(folder / "small.npy")
        return args, "bayesdeconv train-vae), or pass --any-psf"
    if case == "3d-image":
        np.save(folder / "psf3.npy", np.full((3, 3, 3), 1 / 27))
        args = _deconvolve(files, out="bad.tif")
        args[1], args[args.index(str(files.psf))] = str(files.stack), str(folder / "psf3.npy")
        return args, "is a VAE model of 2-D images but"
    if case == "other-prior":
        return _deconvolve(files, "--prior", "smooth", out="bad.tif"), "drop --prior smooth"
    if case == "wiener-prior":
        args = _deconvolve(files, "--prior", "learned-wiener", out="bad.tif")
        return args, "is a VAE model; drop --prior learned-wiener"
    if case == "not-a-model":
        np.savez(folder / "other.npz", x=np.zeros(3))
        args = _deconvolve(files, "--prior", "vae", out="bad.tif")
        args[args.index(str(folder / "model.npz"))] = str(folder / "other.npz")
        return args, "not a bayesdeconv VAE model"
    if case == "any-psf-without-vae":
        args = ["deconvolve", files.image, "--psf", files.psf, "-o", folder / "bad.tif"]
        return [str(a) for a in [*args, "--any-psf"]], "--any-psf is used only with"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    ["other-psf", "3d-image", "other-prior", "wiener-prior", "not-a-model", "any-psf-without-vae"],
)
def test_bad_prior_file(case, trained, capsys):
    args, words = _bad_prior_file(case, trained)
    before = _listing(trained.folder)
    code = main(args)
    _one_error_line(code, capsys.readouterr(), words)
    assert _listing(trained.folder) == before  # no output, no temporary file


def test_help_lists_the_command(capsys):
    assert main(["--help"]) == 0
    assert "train-vae" in capsys.readouterr().out
    assert main(["train-vae", "--help"]) == 0
    assert "--resume" in capsys.readouterr().out


def test_prior_vae_uses_the_shipped_model(files, capsys):
    """``--prior vae`` with the shipped model's PSF works; another PSF fails in one line."""
    from bayesdeconv.diagnostics.filament_sets import FILAMENT_SETTINGS

    np.save(files.folder / "shipped_psf.npy", FILAMENT_SETTINGS["low-noise"].psf)
    args = ["deconvolve", files.image, "--psf", files.folder / "shipped_psf.npy", "--prior", "vae",
            "--steps", "5", "-q", "-o", files.folder / "shipped.tif"]  # fmt: skip
    assert main([str(a) for a in args]) == 0
    assert np.isfinite(tifffile.imread(files.folder / "shipped.tif")).all()
    np.save(files.folder / "other_psf.npy", gaussian_psf(7, 1.0))
    args[3] = files.folder / "other_psf.npy"
    args[-1] = files.folder / "other.tif"
    _one_error_line(main([str(a) for a in args]), capsys.readouterr(), "train-vae")
    assert not (files.folder / "other.tif").exists()

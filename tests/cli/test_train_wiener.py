"""``bayesdeconv train-wiener`` and ``deconvolve --prior-file``: trained banks, one-line errors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile

from bayesdeconv.cli import main
from bayesdeconv.datasets import load_demo
from bayesdeconv.physics.psf import gaussian_psf
from bayesdeconv.priors import LearnedWienerPrior

PREFIX = "bayesdeconv: error: "
SIDE = 32


@dataclass
class TrainingFiles:
    """Three blurred 32x32 crops of the demo photograph, their sharp crops and a 5x5 PSF."""

    folder: Path
    blurred: list[Path]
    sharp: list[Path]
    psf: Path


def _blur(image: np.ndarray, psf: np.ndarray) -> np.ndarray:
    """Circular convolution with a PSF centred at ``size // 2``."""
    pad = np.zeros(image.shape)
    pad[: psf.shape[0], : psf.shape[1]] = psf
    pad = np.roll(pad, (-(psf.shape[0] // 2), -(psf.shape[1] // 2)), axis=(0, 1))
    return np.fft.ifft2(np.fft.fft2(image) * np.fft.fft2(pad)).real


@pytest.fixture
def files(tmp_path: Path) -> TrainingFiles:
    truth = load_demo("natural").truth_frame
    psf = gaussian_psf(5, 1.0)
    rng = np.random.default_rng(0)
    blurred, sharp = [], []
    for i in range(3):
        crop = np.ascontiguousarray(truth[i * SIDE : (i + 1) * SIDE, :SIDE])
        noisy = _blur(crop, psf) + 0.01 * rng.standard_normal(crop.shape)
        blurred.append(tmp_path / f"blurred{i}.npy")
        sharp.append(tmp_path / f"sharp{i}.npy")
        np.save(blurred[-1], noisy)
        np.save(sharp[-1], crop)
    np.save(tmp_path / "psf.npy", psf)
    return TrainingFiles(tmp_path, blurred, sharp, tmp_path / "psf.npy")


def _train(
    files: TrainingFiles, *extra: object, output: Path | None = None, also: object = None
) -> list[str]:
    """``train-wiener`` on the three blurred images (and ``also``) for five steps."""
    out = files.folder / "bank.npz" if output is None else output
    images = [*files.blurred, *([] if also is None else [also])]
    args = ["train-wiener", *images, "--psf", files.psf, "-o", out, "--steps", 5, *extra]
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
# train-wiener: success paths
# --------------------------------------------------------------------------------------------


def test_evidence_training_writes_a_loadable_bank(files, capsys):
    out = files.folder / "bank.npz"
    assert main(_train(files, "--quiet")) == 0
    assert capsys.readouterr().out == ""
    prior = LearnedWienerPrior.load(out)
    assert tuple(prior.filters.shape) == (24, 5, 5)  # the whole 5x5 DCT basis
    assert prior.regularisation is None
    assert "evidence-trained on 3 2-D images (32x32)" in prior.description
    assert not [p.name for p in files.folder.iterdir() if p.name.startswith(".")]


def test_summary_line(files, capsys):
    assert main(_train(files, "--count", "8", "--filters", "gabor")) == 0
    captured = capsys.readouterr()
    (line,) = captured.out.splitlines()
    assert line.startswith("bayesdeconv: evidence training of 8 5x5 filters on 3 2-D images")
    assert "log evidence per pixel" in line and " -> " in line and " s; wrote " in line
    assert line.endswith(str(files.folder / "bank.npz"))
    assert "training Wiener filters" in captured.err  # the progress bar (no --quiet)


def test_supervised_training_with_sharp(files, capsys):
    out = files.folder / "bank.npz"
    args = _train(files, "--sharp", *map(str, files.sharp), "--no-periodic", "--support", "3")
    assert main(args) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert "supervised training of 8 3x3 filters" in line
    match = re.search(r"PSNR ([\d.]+) dB -> ([\d.]+) dB", line)
    assert match is not None, line
    assert float(match[2]) > float(match[1])  # five Adam steps already help
    prior = LearnedWienerPrior.load(out)
    assert prior.regularisation is not None and prior.regularisation > 0


def test_force_replaces_an_existing_bank(files, capsys):
    out = files.folder / "bank.npz"
    out.write_bytes(b"old bank")
    assert main(_train(files, "-q", "--force", "--description", "my stacks")) == 0
    assert LearnedWienerPrior.load(out).description == "my stacks"


def test_folder_and_3d_stacks_default_support(tmp_path, capsys):
    rng = np.random.default_rng(1)
    folder = tmp_path / "stacks"
    folder.mkdir()
    for i in range(2):
        tifffile.imwrite(folder / f"stack{i}.tif", rng.random((6, 12, 12)).astype(np.float32))
    np.save(tmp_path / "psf3.npy", np.full((3, 3, 3), 1 / 27))
    out = tmp_path / "bank3.npz"
    args = ["train-wiener", folder, "--psf", tmp_path / "psf3.npy", "-o", out, "--steps", "2"]
    assert main([str(a) for a in args]) == 0
    assert "on 2 3-D images (6x12x12)" in capsys.readouterr().out
    assert tuple(LearnedWienerPrior.load(out).filters.shape) == (26, 3, 3, 3)


# --------------------------------------------------------------------------------------------
# train-wiener: bad input
# --------------------------------------------------------------------------------------------


def _bad_case(case: str, files: TrainingFiles) -> tuple[list[str], str]:
    """The arguments of a bad run and words its error line must hold."""
    folder, first = files.folder, files.blurred[0]
    if case == "missing-image":
        return _train(files, also=folder / "absent.npy"), "not found"
    if case == "empty-image":
        (folder / "empty.tif").write_bytes(b"")
        return _train(files, also=folder / "empty.tif"), "empty"
    if case == "corrupt-image":
        (folder / "bad.tif").write_bytes(b"II*\x00not a tiff" * 4)
        return _train(files, also=folder / "bad.tif"), "cannot read"
    if case == "nan-pixel":
        bad = np.load(first)
        bad[3, 4] = np.nan
        np.save(folder / "nan.npy", bad)
        return _train(files, also=folder / "nan.npy"), "nan.npy contains 1 NaN"
    if case == "nan-sharp":
        bad = np.load(files.sharp[0])
        bad[0, 0] = np.inf
        np.save(folder / "inf.npy", bad)
        sharp = [str(folder / "inf.npy"), *map(str, files.sharp[1:])]
        return _train(files, "--sharp", *sharp), "inf.npy contains 1 NaN or Inf"
    if case == "psf-3d-for-2d":
        np.save(folder / "psf3.npy", np.full((3, 3, 3), 1 / 27))
        return _train(files) + ["--psf", str(folder / "psf3.npy")], "is 3-D"
    if case == "psf-larger-than-image":
        np.save(folder / "big.npy", gaussian_psf(37, 3.0))
        return _train(files) + ["--psf", str(folder / "big.npy")], "larger than the image"
    if case == "unnormalised-psf":
        np.save(folder / "twice.npy", 2 * gaussian_psf(5, 1.0))
        return _train(files) + ["--psf", str(folder / "twice.npy")], "pass --normalise-psf"
    if case == "negative-psf":
        k = gaussian_psf(5, 1.0)
        k[0, 0] -= 0.01
        k[2, 2] += 0.01
        np.save(folder / "neg.npy", k)
        return _train(files) + ["--psf", str(folder / "neg.npy")], "negative"
    if case == "missing-psf":
        return _train(files) + ["--psf", str(folder / "absent.npy")], "not found"
    if case == "mixed-2d-3d":
        np.save(folder / "stack.npy", np.random.default_rng(0).random((4, SIDE, SIDE)))
        return _train(files, also=folder / "stack.npy"), "mix 2-D and 3-D"
    if case == "sharp-count":
        return _train(files, "--sharp", *map(str, files.sharp[:2])), "2 --sharp images for 3"
    if case == "sharp-shape":
        np.save(folder / "small.npy", np.zeros((SIDE - 2, SIDE)))
        sharp = [*map(str, files.sharp[:2]), str(folder / "small.npy")]
        return _train(files, "--sharp", *sharp), "has shape (30, 32)"
    if case == "output-is-image":
        return _train(files, output=first), "refusing to overwrite an input"
    if case == "output-is-psf":
        return _train(files, output=files.psf), "refusing to overwrite an input"
    if case == "output-is-sharp":
        sharp = list(map(str, files.sharp))
        return _train(files, "--sharp", *sharp, output=files.sharp[1]), "is the --sharp 2 file"
    if case == "output-not-npz":
        return _train(files, output=folder / "bank.tif"), "must end in .npz"
    if case == "output-exists":
        (folder / "bank.npz").write_bytes(b"a previous bank")
        return _train(files), "exists; pass --force"
    if case == "missing-output-dir":
        return _train(files, output=folder / "no" / "bank.npz"), "does not exist"
    if case == "empty-folder":
        (folder / "nothing").mkdir()
        return _train(files, also=folder / "nothing"), "holds no image file"
    if case == "support-1":
        return _train(files, "--support", "1"), "--support must be at least 2"
    if case == "zero-steps":
        return _train(files, "--steps", "0"), "--steps must be a positive integer"
    if case == "zero-count":
        return _train(files, "--count", "0"), "--count must be a positive integer"
    if case == "learning-rate":
        return _train(files, "--learning-rate", "-1"), "--learning-rate must be a positive"
    if case == "unknown-bank":
        return _train(files, "--filters", "wavelets"), "invalid choice"
    if case == "no-psf":
        return ["train-wiener", str(first), "-o", str(folder / "bank.npz")], "--psf"
    raise AssertionError(case)


BAD_CASES = [
    "missing-image",
    "empty-image",
    "corrupt-image",
    "nan-pixel",
    "nan-sharp",
    "psf-3d-for-2d",
    "psf-larger-than-image",
    "unnormalised-psf",
    "negative-psf",
    "missing-psf",
    "mixed-2d-3d",
    "sharp-count",
    "sharp-shape",
    "output-is-image",
    "output-is-psf",
    "output-is-sharp",
    "output-not-npz",
    "output-exists",
    "missing-output-dir",
    "empty-folder",
    "support-1",
    "zero-steps",
    "zero-count",
    "learning-rate",
    "unknown-bank",
    "no-psf",
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

    real = training.train_wiener

    def diverging(*args, **kwargs):
        result = real(*args, **kwargs)
        result.history[-1] = float("nan")
        return result

    monkeypatch.setattr(training, "train_wiener", diverging)
    before = _listing(files.folder)
    code = main(_train(files, "-q"))
    _one_error_line(code, capsys.readouterr(), "diverged")
    assert _listing(files.folder) == before


# --------------------------------------------------------------------------------------------
# deconvolve --prior-file
# --------------------------------------------------------------------------------------------


def _deconvolve(files: TrainingFiles, *extra: object, out: str = "mean.tif") -> list[str]:
    args = ["deconvolve", files.blurred[0], "--psf", files.psf, "-o", files.folder / out, *extra]
    return [str(a) for a in args]


def test_prior_file_deconvolves_a_2d_image(files, capsys):
    assert main(_train(files, "-q")) == 0
    bank = files.folder / "bank.npz"
    assert main(_deconvolve(files, "--prior-file", bank, "-q")) == 0
    mean = tifffile.imread(files.folder / "mean.tif")
    assert mean.shape == (SIDE, SIDE) and np.isfinite(mean).all()
    assert capsys.readouterr().err == ""


def test_shipped_bank_round_trip(files, capsys):
    """``--prior learned-wiener`` (shipped bank) = ``--prior-file`` of the shipped bank saved."""
    shipped = files.folder / "shipped.npz"
    LearnedWienerPrior.shipped(2).save(shipped)
    assert main(_deconvolve(files, "--prior", "learned-wiener", "-q", out="a.tif")) == 0
    args = _deconvolve(files, "--prior-file", shipped, "--prior", "learned-wiener", "-q")
    assert main(args) == 0
    capsys.readouterr()
    a, b = (tifffile.imread(files.folder / n) for n in ("a.tif", "mean.tif"))
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def _bad_prior_file(case: str, files: TrainingFiles) -> tuple[list[str], str]:
    folder = files.folder
    if case == "other-prior":
        LearnedWienerPrior.shipped(2).save(folder / "b.npz")
        return _deconvolve(files, "--prior-file", folder / "b.npz", "--prior", "smooth"), (
            "drop --prior smooth"
        )
    if case == "3d-bank-on-2d-image":
        LearnedWienerPrior.shipped(3).save(folder / "b3.npz")
        return _deconvolve(files, "--prior-file", folder / "b3.npz"), "holds 3-D filters"
    if case == "not-a-bank":
        return _deconvolve(files, "--prior-file", files.psf), "not a learned Wiener filter file"
    if case == "npz-not-a-bank":
        np.savez(folder / "other.npz", x=np.zeros(3))
        return _deconvolve(files, "--prior-file", folder / "other.npz"), "not a learned Wiener"
    if case == "empty-bank":
        (folder / "empty.npz").write_bytes(b"")
        return _deconvolve(files, "--prior-file", folder / "empty.npz"), "not a learned Wiener"
    if case == "missing-bank":
        return _deconvolve(files, "--prior-file", folder / "absent.npz"), "not found"
    if case == "output-is-bank":
        LearnedWienerPrior.shipped(2).save(folder / "b.npz")
        args = _deconvolve(files, "--prior-file", folder / "b.npz", out="b.npz")
        return args, "must end in .tif"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "other-prior",
        "3d-bank-on-2d-image",
        "not-a-bank",
        "npz-not-a-bank",
        "empty-bank",
        "missing-bank",
        "output-is-bank",
    ],
)
def test_bad_prior_file(case, files, capsys):
    args, words = _bad_prior_file(case, files)
    before = _listing(files.folder)
    code = main(args)
    _one_error_line(code, capsys.readouterr(), words)
    assert _listing(files.folder) == before


def test_help_lists_the_command(capsys):
    assert main(["--help"]) == 0
    assert "train-wiener" in capsys.readouterr().out
    assert main(["train-wiener", "--help"]) == 0
    assert "--force" in capsys.readouterr().out

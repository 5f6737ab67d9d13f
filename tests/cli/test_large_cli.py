"""``bayesdeconv deconvolve`` on batches and into OME-Zarr: every image written, reruns skip
finished ones, failures reported in one line, options it cannot honour refused."""

import numpy as np
import pytest

from bayesdeconv.cli import main
from bayesdeconv.io import read_ome_zarr
from bayesdeconv.physics.psf import gaussian_psf


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    (tmp_path / "in").mkdir()
    for i in range(3):
        np.save(tmp_path / "in" / f"a{i}.npy", rng.random((40, 48)) + 0.5)
    np.save(tmp_path / "psf.npy", gaussian_psf(5, 1.0))
    np.save(tmp_path / "big.npy", rng.random((100, 90)) + 0.5)
    return tmp_path


def test_batch_folder_then_rerun(folder, capsys):
    args = ["deconvolve", "in", "-o", "out", "--psf", "psf.npy", "--workers", "1"]
    assert main(args) == 0
    assert sorted(p.name for p in (folder / "out").iterdir()) == [
        "a0.ome.zarr", "a1.ome.zarr", "a2.ome.zarr"]  # fmt: skip
    assert main(args) == 0
    assert "0 written, 3 already complete" in capsys.readouterr().out


def test_batch_with_a_corrupt_image_fails_in_one_line(folder, capsys):
    (folder / "in" / "bad.npy").write_bytes(b"junk")
    code = main(["deconvolve", "in", "-o", "out", "--psf", "psf.npy", "--quiet",
                 "--retries", "0"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "bad" in err[0] and "3 written" in err[0]
    assert (folder / "out" / "a2.ome.zarr").is_dir()


def test_tiled_single_image_into_ome_zarr(folder):
    assert main(["deconvolve", "big.npy", "-o", "big.ome.zarr", "--psf", "psf.npy",
                 "--tile", "48", "--quiet", "--voxel-size", "0.2,0.1"]) == 0  # fmt: skip
    stored = read_ome_zarr(folder / "big.ome.zarr")
    assert stored.shape == (100, 90) and stored.voxel_size == (0.2, 0.1)
    assert np.isfinite(np.asarray(read_ome_zarr(folder / "big.ome.zarr" / "std").array)).all()
    assert main(["deconvolve", "big.ome.zarr", "-o", "again.ome.zarr", "--psf", "psf.npy",
                 "--quiet"]) == 0  # fmt: skip


def test_a_finished_single_image_is_not_recomputed(folder, capsys):
    args = ["deconvolve", "big.npy", "-o", "one.ome.zarr", "--psf", "psf.npy"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert main([*args, "--voxel-size", "0.2,0.1"]) == 0  # other settings: replaced
    assert "nothing to do" not in capsys.readouterr().out
    assert read_ome_zarr(folder / "one.ome.zarr").voxel_size == (0.2, 0.1)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-o", "x.tif", "--tile", "48"], "must end in .zarr"),
        (["-o", "x.ome.zarr", "--tile", "0"], "positive integer"),
        (["-o", "x.ome.zarr", "--overlap", "9"], "only with --tile"),
        (["-o", "x.ome.zarr", "--tile", "48", "--overlap", "2"], "smaller than the PSF"),
        (["-o", "x.ome.zarr", "--std-output", "s.tif"], "not available"),
        (["-o", "big.npy", "--tile", "48"], "must end in .zarr"),
    ],
)
def test_bad_options_exit_2_and_write_nothing(folder, capsys, extra, message):
    before = sorted(p.name for p in folder.iterdir())
    assert main(["deconvolve", "big.npy", "--psf", "psf.npy", "--quiet", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert sorted(p.name for p in folder.iterdir()) == before


def test_batch_needs_a_psf_file(folder, capsys):
    assert main(["deconvolve", "in", "-o", "out", "--blind", "--psf-size", "5"]) == 2
    assert "PSF file" in capsys.readouterr().err


def test_without_the_dask_extra_the_command_still_works(folder):
    """The core command needs no Dask; a batch without it is one line, exit status 2."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "for name in ('dask', 'distributed', 'zarr'):\n"
        "    sys.modules[name] = None\n"
        "from bayesdeconv.cli import main\n"
        "one = main(['deconvolve', 'in/a0.npy', '-o', 'a0.tif', '--psf', 'psf.npy', '--quiet'])\n"
        "many = main(['deconvolve', 'in', '-o', 'out', '--psf', 'psf.npy', '--quiet'])\n"
        "print(one, many)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=folder, timeout=120)  # fmt: skip
    assert proc.stdout.split() == ["0", "2"], proc.stderr
    assert 'pip install "bayesdeconv[dask]"' in proc.stderr
    assert (folder / "a0.tif").exists() and not (folder / "out").exists()

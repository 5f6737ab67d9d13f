"""Synthetic filament-and-bead scenes (bayesdeconv.diagnostics.phantoms)."""

import numpy as np
import pytest

from bayesdeconv.diagnostics.phantoms import filament_scene


@pytest.mark.parametrize("shape", [(48, 64), (12, 40, 40)])
def test_scene_has_the_photon_level_asked_for_and_is_reproducible(shape):
    scene = filament_scene(shape, peak=250.0, background=2.0, seed=3)
    assert scene.shape == shape
    assert scene.min() >= 2.0 and scene.max() == pytest.approx(252.0)
    assert 0.002 < np.mean(scene > 2.0 + 25.0) < 0.5  # thin structures, not a flat field
    np.testing.assert_array_equal(scene, filament_scene(shape, peak=250.0, background=2.0, seed=3))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="2-D or 3-D"):
        filament_scene((5,))
    with pytest.raises(ValueError, match="peak"):
        filament_scene((16, 16), peak=0.0)

"""The choice lists the ``bayesdeconv`` options offer, all read from one place.

The parser never types a list of names itself: it asks :func:`option_choices`, which reads
them from the modules that define them today. Moving to a central registry changes this
function only.
"""

from __future__ import annotations

__all__ = ["DEVICES", "option_choices"]

#: Compute devices offered by ``--device`` (the library takes any ``torch.device``; it has no
#: list of its own).
DEVICES: tuple[str, ...] = ("cpu", "cuda")


def option_choices() -> dict[str, tuple[str, ...]]:
    """The allowed values of every option with a fixed set of names.

    Returns
    -------
    dict of str to tuple of str
        Names by argparse ``dest``: ``prior``, ``noise``, ``method``, ``guide``, ``boundary``,
        ``psf_covariance``, ``psf_update``, ``psf_init`` and ``device``.

    Examples
    --------
    >>> option_choices()["noise"]
    ('gaussian', 'poisson')
    """
    from bayesdeconv.api import METHODS, NOISES, PRIORS
    from bayesdeconv.guides import GUIDES
    from bayesdeconv.infer.blind import PSF_COVARIANCES, PSF_INITS, PSF_UPDATES
    from bayesdeconv.physics.convolution import BOUNDARIES

    return {
        "prior": tuple(PRIORS),
        "noise": tuple(NOISES),
        "method": tuple(METHODS),
        "guide": tuple(GUIDES),
        "boundary": tuple(BOUNDARIES),
        "psf_covariance": tuple(PSF_COVARIANCES),
        "psf_update": tuple(PSF_UPDATES),
        "psf_init": tuple(PSF_INITS),
        "device": DEVICES,
    }

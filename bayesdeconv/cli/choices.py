"""The choice lists the ``bayesdeconv`` options offer, all read from one place.

The parser never types a list of names itself: it asks :func:`option_choices`, which reads
the component and engine names from :mod:`bayesdeconv.registry` (the same registry
:func:`~bayesdeconv.deconvolve` resolves names with) and the fixed option values from the
modules that define them.
"""

from __future__ import annotations

__all__ = [
    "DEVICES",
    "filter_bank_names",
    "option_choices",
    "option_summaries",
    "parametric_psf_families",
]

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
    from bayesdeconv.infer.blind import PSF_COVARIANCES, PSF_INITS, PSF_UPDATES
    from bayesdeconv.physics.convolution import BOUNDARIES
    from bayesdeconv.registry import ENGINES, GUIDES, IMAGE_PRIORS, LIKELIHOODS

    return {
        "prior": IMAGE_PRIORS.names,
        "noise": LIKELIHOODS.names,
        "method": ENGINES.names,
        "guide": GUIDES.names,
        "boundary": tuple(BOUNDARIES),
        "psf_covariance": tuple(PSF_COVARIANCES),
        "psf_update": tuple(PSF_UPDATES),
        "psf_init": tuple(PSF_INITS),
        "device": DEVICES,
    }


def option_summaries(dest: str) -> str:
    """``"name: summary; ..."`` for a registry-backed option (``prior``, ``noise``,
    ``method``, ``guide``), for its help text."""
    from bayesdeconv import registry

    table = {
        "prior": registry.IMAGE_PRIORS,
        "noise": registry.LIKELIHOODS,
        "method": registry.ENGINES,
        "guide": registry.GUIDES,
    }[dest]
    return "; ".join(f"{name}: {table.summary(name)}" for name in table.names)


def parametric_psf_families() -> tuple[str, ...]:
    """The PSF priors of :data:`bayesdeconv.registry.PSF_PRIORS` that declare themselves
    parametric (``--psf gaussian`` and the like)."""
    from bayesdeconv.registry import PSF_PRIORS

    return tuple(n for n in PSF_PRIORS.names if PSF_PRIORS.build(n, size=(3, 3)).parametric)


def filter_bank_names() -> tuple[str, ...]:
    """The starting banks ``train-wiener --filters`` offers
    (:data:`bayesdeconv.priors.filter_banks.BANKS`)."""
    from bayesdeconv.priors.filter_banks import BANKS

    return tuple(BANKS)

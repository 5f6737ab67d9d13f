"""Diagnostics: quality metrics, ArviZ export and report figures.

:mod:`~bayesdeconv.diagnostics.metrics` (PSNR, ISNR, RMSE, interval coverage),
:mod:`~bayesdeconv.diagnostics.arviz_export` (:func:`to_arviz`, :func:`save_arviz`) and
:mod:`~bayesdeconv.diagnostics.plots` (:func:`save_report`, :func:`plot_elbo`). ArviZ and
matplotlib are imported only when these functions are called.

:mod:`~bayesdeconv.diagnostics.levin` scores the Levin et al. (2009) blind-deblurring
benchmark (alignment, PSNR / SSIM, error ratio, success rate). It is not imported here; use
``from bayesdeconv.diagnostics import levin`` (SSIM needs scikit-image, a test extra).
"""

from bayesdeconv.diagnostics.arviz_export import central_window, save_arviz, to_arviz
from bayesdeconv.diagnostics.metrics import coverage, isnr, psnr, rmse
from bayesdeconv.diagnostics.plots import plot_elbo, save_report

__all__ = [
    "central_window",
    "coverage",
    "isnr",
    "plot_elbo",
    "psnr",
    "rmse",
    "save_arviz",
    "save_report",
    "to_arviz",
]

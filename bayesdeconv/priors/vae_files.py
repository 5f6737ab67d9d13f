"""Reading and writing :class:`~bayesdeconv.priors.vae.VAEImagePrior` models (``.npz``).

A model file holds the encoder's and decoder's weights as plain arrays (no pickle) and one
JSON record of the settings: network shape, intensity scale, penalties, the training PSF and
what the model was trained on.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from bayesdeconv.io.atomic import atomic_write
from bayesdeconv.priors.vae_networks import ConvDecoder, ConvEncoder, NetworkShape

__all__ = ["FILE_FORMAT", "SHIPPED", "load_prior", "load_shipped", "save_prior"]

FILE_FORMAT = "bayesdeconv-vae-1"
SHIPPED = "vae_filaments.npz"
"""The model in ``bayesdeconv/data`` behind ``prior="vae"``."""


def save_prior(prior, path) -> Path:
    """Write ``prior`` (a ``VAEImagePrior`` with an encoder) to ``path`` atomically."""
    if prior.encoder is None or not isinstance(prior.decoder, ConvDecoder):
        raise ValueError("only a VAE prior with the package's encoder and decoder can be saved")
    arrays = {}
    for part, net in (("encoder", prior.encoder), ("decoder", prior.decoder)):
        for key, value in net.state_dict().items():
            arrays[f"{part}/{key}"] = value.detach().cpu().float().numpy()
    if prior.psf is not None:
        arrays["psf"] = prior.psf
    settings = prior.settings()
    meta = {
        "format": FILE_FORMAT,
        "network": prior.network.as_dict(),
        "scale": prior.scale,
        "positivity": prior.positivity,
        "l1": prior.l1,
        "l2": prior.l2,
        "any_psf": prior.any_psf,
        "description": prior.description,
        "training": settings["training"],
    }

    def write(name: str) -> None:
        with open(name, "wb") as handle:
            np.savez(handle, meta=json.dumps(meta), **arrays)

    return atomic_write(path, write)


def load_prior(cls, path, **kwargs):
    """A ``cls`` (``VAEImagePrior``) from a file written by :func:`save_prior`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    try:  # any unreadable or malformed file gives one message naming it
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            if not isinstance(meta, dict) or meta.get("format") != FILE_FORMAT:
                raise ValueError(
                    f"format {meta.get('format') if isinstance(meta, dict) else meta!r}"
                )
            network = NetworkShape(**meta["network"])
            nets = {"encoder": ConvEncoder(network), "decoder": ConvDecoder(network)}
            for part, net in nets.items():
                state = {
                    key[len(part) + 1 :]: torch.from_numpy(archive[key])
                    for key in archive.files
                    if key.startswith(part + "/")
                }
                net.load_state_dict(state, strict=True)
            psf = archive["psf"] if "psf" in archive.files else None
        options = {
            "network": network,
            "scale": float(meta["scale"]),
            "positivity": meta.get("positivity"),
            "l1": float(meta.get("l1", 0.0)),
            "l2": float(meta.get("l2", 0.0)),
            "psf": psf,
            "any_psf": bool(meta.get("any_psf", False)),
            "description": str(meta.get("description", "")),
            "training": meta.get("training") or {},
        }
    except Exception as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"{path} is not a bayesdeconv VAE model ({message})") from None
    return cls(nets["decoder"], encoder=nets["encoder"], **{**options, **kwargs})


def load_shipped(cls, **kwargs):
    """The model shipped in ``bayesdeconv/data`` (made by ``scripts/make_vae_prior.py``)."""
    path = resources.files("bayesdeconv") / "data" / SHIPPED
    with resources.as_file(path) as file:
        if not Path(file).exists():
            raise FileNotFoundError(
                f"the shipped VAE model {SHIPPED} is missing from this installation; "
                "make it with scripts/make_vae_prior.py"
            )
        return load_prior(cls, file, **kwargs)

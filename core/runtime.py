"""How a denoiser is run, whatever it is: where its tensors live and in which mode it runs.

Generic helpers shared by the decoding loop, the scorers and training; nothing here knows about diffusion.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn


@contextlib.contextmanager
def eval_mode(denoiser):
    """Run a module in eval mode (no dropout) and restore its training flag afterwards."""
    was_training = isinstance(denoiser, nn.Module) and denoiser.training
    if was_training:
        denoiser.eval()
    try:
        yield denoiser
    finally:
        if was_training:
            denoiser.train()


def device_of(denoiser) -> torch.device:
    """Where a denoiser's parameters live (CPU for plain callables)."""
    if isinstance(denoiser, nn.Module):
        for tensor in denoiser.parameters():
            return tensor.device
        for tensor in denoiser.buffers():
            return tensor.device
    return torch.device("cpu")


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when available, else CPU), ``cpu`` or ``cuda``; ValueError when CUDA is missing."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available")
    return torch.device(name)


def resolve_mask_id(denoiser, mask_id: int | None) -> int:
    """``mask_id`` if given, else the denoiser's ``mask_id`` (or its ``vocab_size``: the mask id is ``V``)."""
    if mask_id is not None:
        return int(mask_id)
    if hasattr(denoiser, "mask_id"):
        return int(denoiser.mask_id)
    if hasattr(denoiser, "vocab_size"):
        return int(denoiser.vocab_size)
    raise ValueError("mask_id must be given when the denoiser has no mask_id / vocab_size attribute")

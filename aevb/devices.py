"""Devices: the names a user may give (``device`` in every setting), checked against what torch sees here."""
from __future__ import annotations

import torch


def resolve_device(name: str | torch.device) -> torch.device:
    """'cpu', 'cuda', 'cuda:1', ... -> torch.device; a clear error where the device is absent."""
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"device={name!r} is not a device name; allowed: 'cpu', 'cuda', 'cuda:N'") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r}: no CUDA GPU is visible to PyTorch here; use device='cpu'")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device={name!r}: allowed are 'cpu' and 'cuda'")
    return dev

"""Small shared helpers: devices, scoped seeding, RNG state capture.

Randomness in torch.distributions comes from torch's global generator, so every random path in
the package runs inside ``seeded(seed, device)``: it forks the global RNG state, seeds it, and
restores the caller's state on exit. Nothing outside the block sees a changed RNG.
"""
from __future__ import annotations

import contextlib

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


def forked_rng(device: torch.device | str = "cpu"):
    """Context: torch's global RNG (CPU and, for a CUDA device, that device) is restored on exit."""
    dev = torch.device(device)
    return torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else [], device_type="cuda")


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | str = "cpu"):
    """Run the block with torch's global RNG (CPU and, where used, CUDA) seeded to ``seed``."""
    with forked_rng(device):
        torch.manual_seed(seed)
        yield


def get_rng_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)

"""Random-number state: scoped seeding and RNG state capture (every random path takes a seed).

Randomness in torch.distributions comes from torch's global generator, so every random path in
the package runs inside ``seeded(seed, device)``: it forks the global RNG state, seeds it, and
restores the caller's state on exit. Nothing outside the block sees a changed RNG.
"""
from __future__ import annotations

import contextlib

import torch


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

"""Burda et al.'s (2015) protocol in Algorithm 1's trainer (``TrainConfig.protocol="burda"``, ``aevb.protocols``):
the rules that join its settings (``check_burda``), their start (``init_burda_``) and their optimiser
(``burda_adam``). ``aevb.learners.aevb.Trainer`` uses all three; its ``sync_lr`` sets the schedule's step size."""
from __future__ import annotations

import torch

from aevb.config import TrainConfig
from aevb.models import init_glorot_
from aevb.protocols import BURDA_ADAM
from aevb.validation import ParameterError


def check_burda(config: TrainConfig) -> None:
    """The rules of ``protocol="burda"``: Algorithm 1 only, a step size given (the schedule decays it), §5's
    optimiser start."""
    for param, given, allowed, why in (
            ("algorithm", config.algorithm, "aevb", "the preset is Algorithm 1's (Burda et al.'s VAE and IWAE)"),
            ("lr", config.lr, 1e-3, "the schedule decays the step size it is given (Burda et al.: 0.001); "
                                    "§5's search is Adagrad's"),
            ("start", config.start, "paper", "its warm-up accumulates Adagrad's squared gradients")):
        if given is None or (param != "lr" and given != allowed):
            raise ParameterError(f"parameter {param!r} = {given!r} is not allowed with protocol='burda': "
                                 f"{why}; give {param}={allowed!r}")


@torch.no_grad()
def init_burda_(model: torch.nn.Module, x_train: torch.Tensor, seed: int) -> torch.nn.Module:
    """Burda et al.'s start in place of §5's (their code: ``iwae.random_iwae``, ``nnet.Linear.random``): Glorot
    uniform weights and zero biases (``aevb.models.init_glorot_``, seeded by ``seed``), and the Bernoulli decoder's
    output bias at the log-odds of the training images' mean pixel x_train: (N, D), clipped to [0.001, 0.999]."""
    init_glorot_(model, torch.Generator().manual_seed(seed))
    p = x_train.mean(0).clamp(1e-3, 1 - 1e-3)  # (D,)
    model.decoder.out.bias.copy_(torch.log(p) - torch.log1p(-p))
    return model


def burda_adam(groups: list[dict], lr: float) -> torch.optim.Adam:
    """Adam with their β and ε (``aevb.protocols.BURDA_ADAM``), multi-tensor on every device."""
    return torch.optim.Adam(groups, lr=lr, **BURDA_ADAM, foreach=True)

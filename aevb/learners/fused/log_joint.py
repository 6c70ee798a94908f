"""log p(x, z) of the generative model with its gradients written out, for one model at a time outside autograd:
Monte Carlo EM's step on the fused path (App. E, ``aevb.learners.mcem`` with ``TrainConfig.fused``). HMC's target
log p(x, z) with its gradient w.r.t. z (``log_joint_and_grad_z``) and the M-step's −(1/B) Σ log p(x_i, z_i) with its
gradient w.r.t. the decoder's weights (``neg_log_joint_and_grads``), through an App. C MLP's forward and backward
pass written out (``trunk_forward``, ``head_forward``, ``mlp_backward``). The reference is
``aevb.estimators.log_joint`` through autograd (tests/test_mcem.py compares them in float64).
"""
from __future__ import annotations

import torch

from aevb.learners.fused.likelihoods import LIKELIHOODS
from aevb.models import LOG_2PI, MLP, LatentVariableModel


def trunk_forward(mlp: MLP, x: torch.Tensor) -> list[torch.Tensor]:
    """The MLP's tanh trunk, its activations kept for ``mlp_backward``: x: (B, D_in) -> [x, h_1, ..., h_n],
    h_i: (B, width_i)."""
    acts = [x]
    for lin in mlp.hidden_layers:
        acts.append(torch.addmm(lin.bias, acts[-1], lin.weight.T).tanh_())  # (B, width_i)
    return acts


def head_forward(mlp: MLP, h: torch.Tensor) -> torch.Tensor:
    """The MLP's head output from its last activation: h: (B, H) -> (B, head width)."""
    outs = [torch.addmm(lin.bias, h, lin.weight.T) for lin in mlp.head_layers]  # each (B, D_out)
    return outs[0] if len(outs) == 1 else torch.cat(outs, -1)


def mlp_backward(mlp: MLP, acts: list[torch.Tensor], d_head: torch.Tensor, weights: bool,
                 input_grad: bool = True) -> tuple[torch.Tensor | None, dict]:
    """Back through the MLP's head and trunk: from ∂J/∂(head output) d_head: (B, head width) and
    ``trunk_forward``'s acts -> (∂J/∂x: (B, D_in), or None unless ``input_grad``; {parameter: ∂J/∂parameter},
    empty unless ``weights``)."""
    grads, start, dh = {}, 0, None
    for lin in mlp.head_layers:  # the head output is the concatenation of their outputs
        d = d_head[:, start: start + lin.out_features]  # (B, D_out)
        start += lin.out_features
        dh = d @ lin.weight if dh is None else dh.addmm_(d, lin.weight)  # (B, H)
        if weights:
            grads[lin.weight], grads[lin.bias] = d.T @ acts[-1], d.sum(0)  # (D_out, H), (D_out,)
    layers = mlp.hidden_layers
    for i in reversed(range(len(layers))):
        d_pre = torch.ops.aten.tanh_backward(dh, acts[i + 1])  # ∂J/∂(pre-activation) = dh ⊙ (1 − h²)
        if weights:
            grads[layers[i].weight], grads[layers[i].bias] = d_pre.T @ acts[i], d_pre.sum(0)  # (out, in), (out,)
        dh = d_pre @ layers[i].weight if i > 0 or input_grad else None  # (B, in)
    return dh, grads


@torch.no_grad()
def log_joint_and_grad_z(model: LatentVariableModel, x: torch.Tensor, z: torch.Tensor,
                         value: bool = True) -> tuple[torch.Tensor | None, torch.Tensor]:
    """log p(x, z) = log p(z) + log p(x|z), p(z) = N(0, I), and its gradient w.r.t. z (App. E's HMC target):
    x: (B, D), z: (B, Z) -> (log p(x, z): (B,), or None where not ``value``; ∇z log p(x, z): (B, Z)),
    ∇z = −z − ∂J/∂z with J = −Σ_i log p(x_i|z_i)."""
    acts = trunk_forward(model.decoder, z)  # [z, h_1, ..., h_n]
    likelihood = LIKELIHOODS[model.likelihood]
    log_lik, d_head = likelihood.rows_value_and_grad(x, head_forward(model.decoder, acts[-1]), value)
    dz, _ = mlp_backward(model.decoder, acts, d_head, weights=False)  # ∂J/∂z (B, Z)
    log_prior = -0.5 * (z * z).sum(-1) - 0.5 * LOG_2PI * model.n_z if value else None  # (B,) log N(z; 0, I)
    return log_prior + log_lik if value else None, dz.add_(z).neg_()


@torch.no_grad()
def neg_log_joint_and_grads(model: LatentVariableModel, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """J = −(1/B) Σ_i log p(x_i, z_i) and its gradient w.r.t. every parameter (App. E's M-step): x: (B, D),
    z: (B, Z) -> (J: (), {parameter: ∂J/∂parameter})."""
    B = len(z)
    acts = trunk_forward(model.decoder, z)  # [z, h_1, ..., h_n]
    likelihood = LIKELIHOODS[model.likelihood]
    log_lik, d_head = likelihood.rows_value_and_grad(x, head_forward(model.decoder, acts[-1]))  # (B,), (B, ·)
    _, grads = mlp_backward(model.decoder, acts, d_head.mul_(1.0 / B), weights=True, input_grad=False)
    mean_log_prior = -0.5 * (z * z).sum() / B - 0.5 * LOG_2PI * model.n_z  # (1/B) Σ_i log N(z_i; 0, I)
    return -(mean_log_prior + log_lik.mean()), grads

"""The App. C MLPs of K models of one shape with their weights stacked, each layer's backward pass written next to
its forward pass, every product written into a buffer allocated once: the building blocks of the fused steps
(``aevb.learners.fused.steps``), built from the structure ``aevb.models`` exposes (each MLP's ``hidden_layers`` and
``head_layers``) and the decoders' likelihoods of ``aevb.learners.fused.likelihoods``.

- ``FusedLinear``: one linear layer of K models, W: (K, out, in), forward and backward;
- ``FusedMLP``: an App. C MLP of K models (tanh trunk and head), forward and backward, its buffers in an
  ``MLPWorkspace``;
- ``FusedVAE``: the encoders and decoders of K ``VAE`` modules, the map from every module parameter to its
  gradient, and the typed workspaces of the fused steps.

The stacked tensors are shared with K ordinary ``VAE`` modules: each module parameter becomes a view of its slice
``W[k]``, so evaluation, checkpoints, the optimizer and the plots keep working on the usual modules. The μ and
log σ² heads of a Gaussian MLP (App. C) become one product with 2·Z (or 2·D) outputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

import torch
from torch import nn

from aevb.learners.fused.likelihoods import LIKELIHOODS


class FusedLinear:
    """One linear layer of K models: W: (K, out, in), b: (K, out) and their gradients ``gw``, ``gb``.

    ``parts[k]`` lists model k's ``nn.Linear`` modules whose outputs the layer concatenates; their weights and
    biases become views of W[k] and b[k]. ``grads`` maps each of those parameters to its slice of the gradient.
    """

    def __init__(self, parts: list[list[nn.Linear]]):
        self.w = torch.stack([torch.cat([lin.weight.detach() for lin in ls]) for ls in parts])  # (K, out, in)
        self.b = torch.stack([torch.cat([lin.bias.detach() for lin in ls]) for ls in parts])  # (K, out)
        self.gw, self.gb = torch.zeros_like(self.w), torch.zeros_like(self.b)
        self.grads: dict[nn.Parameter, torch.Tensor] = {}
        for k, ls in enumerate(parts):
            start = 0
            for lin in ls:
                rows = slice(start, start + lin.out_features)
                lin.weight.data, lin.bias.data = self.w[k, rows], self.b[k, rows]
                self.grads[lin.weight], self.grads[lin.bias] = self.gw[k, rows], self.gb[k, rows]
                start = rows.stop
        self.width = self.w.shape[1]
        self._wt, self._b = self.w.transpose(1, 2), self.b.unsqueeze(1)  # views, made once (steps are short)

    def forward(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """x: (K, R, in) -> out: (K, R, out) = x Wᵀ + b."""
        return torch.baddbmm(self._b, x, self._wt, out=out)

    def backward(self, dy: torch.Tensor, x: torch.Tensor, dx: torch.Tensor | None) -> torch.Tensor | None:
        """dy = ∂J/∂out: (K, R, out), x: the input (K, R, in): write ∂J/∂W and ∂J/∂b; return ∂J/∂x into ``dx``
        (K, R, in), or nothing where ``dx`` is None (the data needs no gradient)."""
        torch.bmm(dy.transpose(1, 2), x, out=self.gw)  # (K, out, in)
        torch.sum(dy, 1, out=self.gb)  # (K, out)
        return None if dx is None else torch.bmm(dy, self.w, out=dx)


def _empty(like: torch.Tensor, *shape: int) -> torch.Tensor:
    return torch.empty(shape, dtype=like.dtype, device=like.device)


@dataclass
class MLPWorkspace:
    """The buffers of one ``FusedMLP`` for inputs of R rows, allocated once and reused at every step."""

    acts: list[torch.Tensor]  # h_1 ... h_n: the tanh outputs (K, R, width_i)
    out: torch.Tensor  # the head output (K, R, head width)
    d_out: torch.Tensor  # ∂J/∂(head output) (K, R, head width), written by the caller (e.g. the likelihood)
    d_pre: list[torch.Tensor]  # ∂J/∂a_i, a_i the pre-activation of layer i (K, R, width_i)
    d_acts: list[torch.Tensor]  # ∂J/∂h_i (K, R, width_i), i = 1 ... n
    scratch: list[torch.Tensor]  # (K, R, D) work tensors of a likelihood's value_and_grad
    d_input: torch.Tensor | None = None  # ∂J/∂(MLP input) (K, R, in), allocated where asked for


class FusedMLP:
    """An App. C MLP of K models: tanh layers ``trunk`` and one ``head`` layer (the concatenated head layers),
    from K modules exposing ``hidden_layers`` and ``head_layers`` (``aevb.models.MLP``)."""

    def __init__(self, mlps: list[nn.Module], scratch: tuple[int, int] = (0, 0)):
        n = len(mlps[0].hidden_layers)
        self.trunk = [FusedLinear([[m.hidden_layers[i]] for m in mlps]) for i in range(n)]
        self.head = FusedLinear([m.head_layers for m in mlps])
        self.scratch = scratch  # (how many, width): the work tensors of a likelihood's value_and_grad
        self._workspaces: dict[int, MLPWorkspace] = {}

    @property
    def layers(self) -> list[FusedLinear]:
        return [*self.trunk, self.head]

    def workspace(self, rows: int) -> MLPWorkspace:
        """The buffers for inputs (K, rows, in), made on first use."""
        ws = self._workspaces.get(rows)
        if ws is None:
            w, K = self.head.w, self.head.w.shape[0]
            widths = [layer.width for layer in self.trunk]
            ws = self._workspaces[rows] = MLPWorkspace(
                acts=[_empty(w, K, rows, h) for h in widths], out=_empty(w, K, rows, self.head.width),
                d_out=_empty(w, K, rows, self.head.width), d_pre=[_empty(w, K, rows, h) for h in widths],
                d_acts=[_empty(w, K, rows, h) for h in widths],
                scratch=[_empty(w, K, rows, self.scratch[1]) for _ in range(self.scratch[0])])
        return ws

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (K, R, in) -> the head output (K, R, head width), the activations kept in the workspace."""
        ws, h = self.workspace(x.shape[1]), x
        for layer, act in zip(self.trunk, ws.acts):
            h = layer.forward(h, act).tanh_()
        return self.head.forward(h, ws.out)

    def backward(self, x: torch.Tensor, input_grad: bool = False) -> torch.Tensor | None:
        """Back from ∂J/∂(head output) in the workspace's ``d_out`` (after ``forward(x)``): write every layer's
        gradient; return ∂J/∂x (K, R, in) where ``input_grad``."""
        ws = self.workspace(x.shape[1])
        ins = [x, *ws.acts]  # the input of each layer: x, h_1, ..., h_n
        if input_grad and ws.d_input is None:
            ws.d_input = _empty(x, *x.shape)
        need = bool(self.trunk) or input_grad
        dh = self.head.backward(ws.d_out, ins[-1], (ws.d_acts[-1] if self.trunk else ws.d_input) if need else None)
        for i in reversed(range(len(self.trunk))):
            torch.ops.aten.tanh_backward.grad_input(dh, ins[i + 1], grad_input=ws.d_pre[i])  # ⊙ (1 − h_i²)
            dx = ws.d_acts[i - 1] if i > 0 else ws.d_input if input_grad else None
            dh = self.trunk[i].backward(ws.d_pre[i], ins[i], dx)
        return dh


W = TypeVar("W")


@dataclass
class FusedVAE:
    """K ``VAE`` models of one shape (App. C MLPs) with stacked parameters: ``encoder`` and ``decoder`` are
    ``FusedMLP``; ``grads`` maps every module parameter to its gradient (a view of a stacked tensor);
    ``likelihood`` is the decoders' likelihood (``aevb.learners.fused.likelihoods``)."""

    models: list[nn.Module]
    encoder: FusedMLP = field(init=False)
    decoder: FusedMLP = field(init=False)

    def __post_init__(self):
        shapes = {(m.d_x, m.n_z, m.hidden, m.likelihood, hasattr(m, "encoder")) for m in self.models}
        if len(shapes) != 1 or not hasattr(self.models[0], "encoder"):
            raise ValueError(f"FusedVAE fuses VAEs of one shape; got (d_x, n_z, hidden, likelihood, encoder) = "
                             f"{sorted(shapes)}")
        m0 = self.models[0]
        self.k, self.d_x, self.n_z = len(self.models), m0.d_x, m0.n_z
        self.likelihood = LIKELIHOODS[m0.likelihood]
        self.encoder = FusedMLP([m.encoder for m in self.models])
        self.decoder = FusedMLP([m.decoder for m in self.models], scratch=(self.likelihood.SCRATCH, self.d_x))
        self.grads: dict[nn.Parameter, torch.Tensor] = {}
        for layer in [*self.encoder.layers, *self.decoder.layers]:
            self.grads.update(layer.grads)
        self._workspaces: dict[type, tuple[tuple, object]] = {}

    def empty(self, *shape: int) -> torch.Tensor:
        """A new tensor of the weights' dtype and device."""
        return _empty(self.encoder.head.w, *shape)

    def workspace(self, kind: type[W], *shape: int) -> W:
        """The buffers of one algorithm's step, an instance of the dataclass ``kind`` made by
        ``kind.allocate(self, *shape)`` on first use (and again when ``shape`` changes)."""
        held = self._workspaces.get(kind)
        if held is None or held[0] != shape:
            held = self._workspaces[kind] = (shape, kind.allocate(self, *shape))
        return held[1]

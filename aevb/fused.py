"""Algorithm 1's step with its gradient written out: estimator B (eq. 10) and the wake-sleep updates (§4) for the
App. C MLPs, for K models of one shape in one pass.

autograd, ``torch.distributions`` and a fresh tensor for every intermediate cost as much time as the matrix
products of the paper's small models (``benchmarks/train_speed.py``). Here each layer's backward pass sits next
to its forward pass, every product writes into a buffer allocated once, and the weights of K models are stacked,
W: (K, out, in), so that one batched matmul serves all K: a grid of seeds, or the §5 step-size candidates of one
run, trains in one pass (``aevb.lockstep``).

The stacked tensors are shared with K ordinary ``VAE`` modules: each module parameter becomes a view of its slice
``W[k]``, so evaluation, checkpoints, the optimizer and the plots keep working on the usual modules. The μ and
log σ² heads of a Gaussian MLP (App. C) become one product with 2·Z (or 2·D) outputs.

The gradients are autograd's through ``aevb.estimators.sgvb_b`` and ``WakeSleepTrainer.losses`` up to float
rounding, and the random draws are the same, in the same order, from per-model generators
(tests/test_fused.py).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from aevb.estimators import neg_kl_std_normal

LOG_2PI = math.log(2 * math.pi)


class StackedLinear:
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


class FusedVAE:
    """K ``VAE`` models of one shape (App. C MLPs) with stacked parameters and fused training steps.

    ``aevb(x, gens)`` and ``wake_sleep(x, gens)`` take minibatches x: (K, M, D), one ``torch.Generator`` per model
    for that model's random draws, write the gradient of each model's loss into ``grads`` and return each model's
    minibatch bound (K,). ``grads`` maps every model parameter to its gradient (a view of a stacked tensor).
    """

    def __init__(self, models: list[nn.Module]):
        shapes = {(m.d_x, m.n_z, m.hidden, m.likelihood, hasattr(m, "encoder")) for m in models}
        if len(shapes) != 1 or not hasattr(models[0], "encoder"):
            raise ValueError(f"FusedVAE stacks VAEs of one shape; got (d_x, n_z, hidden, likelihood, encoder) = "
                             f"{sorted(shapes)}")
        m0 = models[0]
        self.k, self.d_x, self.n_z, self.gaussian = len(models), m0.d_x, m0.n_z, m0.likelihood == "gaussian"

        def trunk(mlps):  # the tanh layers of one App. C MLP per model
            return [StackedLinear([[mlp.trunk[2 * i]] for mlp in mlps]) for i in range(len(m0.hidden))]

        def heads(mlps):  # the μ and log σ² heads as one layer
            return StackedLinear([[mlp.mu, mlp.log_var] for mlp in mlps])

        encoders, decoders = [m.encoder for m in models], [m.decoder for m in models]
        self.enc, self.enc_head = trunk(encoders), heads(encoders)
        self.dec = trunk(decoders)
        self.dec_head = heads(decoders) if self.gaussian else StackedLinear([[d.out] for d in decoders])
        self.grads: dict[nn.Parameter, torch.Tensor] = {}
        for layer in [*self.enc, self.enc_head, *self.dec, self.dec_head]:
            self.grads.update(layer.grads)
        self._bufs: dict[str, torch.Tensor] = {}

    def buffer(self, name: str, *shape: int) -> torch.Tensor:
        """A tensor of ``shape`` kept between steps under ``name`` (so no step allocates the large ones). The names:
        an MLP's buffers start with its tag, "e" (encoder) or "d" (decoder): activations ``e0``, head output
        ``eout``, and in the backward pass ``eda0`` (pre-activation), ``ed0`` (input), ``edh`` (trunk output)."""
        b = self._bufs.get(name)
        if b is None or b.shape != shape:
            b = self._bufs[name] = torch.empty(shape, dtype=self.enc_head.w.dtype, device=self.enc_head.w.device)
        return b

    # -- the pieces: tanh trunks, the two likelihoods ------------------------------------------------------------
    def _trunk(self, layers: list[StackedLinear], x: torch.Tensor, tag: str) -> list[torch.Tensor]:
        """tanh layers: x: (K, R, in) -> [x, h_1, ..., h_n], h_i: (K, R, width_i)."""
        hs = [x]
        for i, layer in enumerate(layers):
            hs.append(layer.forward(hs[-1], self.buffer(f"{tag}{i}", *x.shape[:2], layer.width)).tanh_())
        return hs

    def _trunk_backward(self, layers: list[StackedLinear], hs: list[torch.Tensor], dh: torch.Tensor, tag: str,
                        input_grad: bool) -> torch.Tensor | None:
        """Back through the tanh layers from dh = ∂J/∂h_n; returns ∂J/∂x where ``input_grad``."""
        for i in reversed(range(len(layers))):
            da = self.buffer(f"{tag}da{i}", *dh.shape)
            torch.ops.aten.tanh_backward.grad_input(dh, hs[i + 1], grad_input=da)  # ∂J/∂a_i = ∂J/∂h_i ⊙ (1 − h_i²)
            dx = self.buffer(f"{tag}d{i}", *hs[i].shape) if i > 0 or input_grad else None
            dh = layers[i].backward(da, hs[i], dx)
        return dh

    def _mlp(self, layers, head, x: torch.Tensor, tag: str) -> tuple[list[torch.Tensor], torch.Tensor]:
        """App. C MLP forward: x: (K, R, in) -> (trunk activations, head output (K, R, head width))."""
        hs = self._trunk(layers, x, tag)
        return hs, head.forward(hs[-1], self.buffer(f"{tag}out", *x.shape[:2], head.width))

    def _mlp_backward(self, layers, head, hs, dout: torch.Tensor, tag: str, input_grad: bool):
        """Back through an App. C MLP from dout = ∂J/∂(head output); returns ∂J/∂x where ``input_grad``."""
        need = bool(layers) or input_grad
        dh = head.backward(dout, hs[-1], self.buffer(f"{tag}dh", *hs[-1].shape) if need else None)
        return self._trunk_backward(layers, hs, dh, tag, input_grad) if layers else dh

    def _log_likelihood(self, x: torch.Tensor, out: torch.Tensor, scale: float):
        """scale · Σ_rows log p(x|z) per model (K,) and ∂J/∂out for J = −that; x: (K, R, D), out: the decoder's
        output (K, R, D) logits (Bernoulli) or (K, R, 2D) μ | log σ² (Gaussian, mean sigmoid(μ))."""
        d, tmp = self.buffer("dlik", *out.shape), self.buffer("tmp", *x.shape)
        K, R, D = x.shape
        if not self.gaussian:  # Σ_i x_i log y_i + (1 − x_i) log(1 − y_i) = Σ_i x_i l_i − softplus(l_i)
            x_dot_l = torch.bmm(x.reshape(K, 1, R * D), out.reshape(K, R * D, 1)).view(K)  # Σ x·l, a batched dot
            log_lik = (x_dot_l - torch.ops.aten.softplus.out(out, 1, 20, out=tmp).sum((1, 2))) * scale  # (K,)
            return log_lik, torch.sigmoid(out, out=d).sub_(x).mul_(scale)  # ∂J/∂l = (y − x) · scale
        mu, log_var = out[..., :D], out[..., D:]
        m, r = torch.sigmoid(mu, out=self.buffer("m", K, R, D)), self.buffer("r", K, R, D)
        torch.sub(x, m, out=r)
        r_over_var = torch.exp(torch.neg(log_var, out=tmp), out=tmp).mul_(r)  # (x − m)/σ²
        r2e = r.mul_(r_over_var)  # (x − m)²/σ² (r is not needed any more)
        log_lik = -0.5 * (LOG_2PI * R * D + log_var.sum((1, 2)) + r2e.sum((1, 2))) * scale  # (K,)
        # ∂J/∂μ = −(x − m)/σ² · m(1 − m), ∂J/∂log σ² = ½(1 − (x − m)²/σ²), each times scale
        torch.mul(r_over_var.mul_(m), m.sub_(1), out=d[..., :D]).mul_(scale)
        torch.mul(r2e, -0.5 * scale, out=d[..., D:]).add_(0.5 * scale)
        return log_lik, d

    # -- the two algorithms --------------------------------------------------------------------------------------
    def aevb(self, x: torch.Tensor, gens: list[torch.Generator], n_samples: int = 1) -> torch.Tensor:
        """Estimator B (eq. 10) with L = ``n_samples`` and its gradient for the K models.

        x: (K, M, D) -> the minibatch mean of L̃^B per model (K,); writes ∂J/∂(θ, φ) of J = −(that mean) into
        ``grads``. ε ~ N(0, I) is drawn from ``gens[k]`` as ``q.rsample((L,))`` draws it."""
        K, M, D = x.shape
        L, Z = n_samples, self.n_z
        eps = self.buffer("eps", K, L, M, Z)
        for k, g in enumerate(gens):
            torch.randn(L, M, Z, generator=g, out=eps[k])
        hs, q = self._mlp(self.enc, self.enc_head, x, "e")  # q: (K, M, 2Z) = μ | log σ²
        mu, log_var = q[..., :Z], q[..., Z:]
        std = log_var.mul(0.5).exp_()  # (K, M, Z)
        z = torch.addcmul(mu.unsqueeze(1), std.unsqueeze(1), eps).view(K, L * M, Z)  # z = g(ε, x), §2.4
        xl = x if L == 1 else x.repeat(1, L, 1)  # (K, L·M, D), rows in the order of z's
        gs, out = self._mlp(self.dec, self.dec_head, z, "d")
        log_lik, dout = self._log_likelihood(xl, out, 1.0 / (M * L))
        bound = neg_kl_std_normal(mu, log_var).mean(1).add_(log_lik)  # (K,): App. B + reconstruction
        dz = self._mlp_backward(self.dec, self.dec_head, gs, dout, "d", input_grad=True).view(K, L, M, Z)
        # through z = μ + σ ε, plus ∂KL/∂μ = μ and ∂KL/∂log σ² = (σ² − 1)/2 (App. B), each over M
        dq = self.buffer("dq", K, M, 2 * Z)
        d_mu, d_log_var = dq[..., :Z], dq[..., Z:]
        torch.add(dz.sum(1) if L > 1 else dz[:, 0], mu, alpha=1.0 / M, out=d_mu)  # (K, M, Z)
        torch.mul(dz, eps, out=dz)  # ∂J/∂z ⊙ ε (dz is a buffer of ours)
        torch.mul(dz.sum(1) if L > 1 else dz[:, 0], std, out=d_log_var).add_(std * std, alpha=1.0 / M)
        d_log_var.sub_(1.0 / M).mul_(0.5)
        self._mlp_backward(self.enc, self.enc_head, hs, dq, "e", input_grad=False)
        return bound

    def wake_sleep(self, x: torch.Tensor, gens: list[torch.Generator]) -> torch.Tensor:
        """One wake and one sleep gradient (``WakeSleepTrainer``) for the K models; x: (K, M, D) -> the minibatch
        mean of estimator B per model (K,), its wake sample z ~ q(z|x) drawn without reparameterization.

        Wake: ∂/∂θ of −(1/M) Σ log p_θ(x|z), z ~ q_φ(z|x). Sleep: M dreams (z, x) ~ p(z) p_θ(x|z), ∂/∂φ of
        −(1/M) Σ log q_φ(z|x). Draws, per model: ε for the wake sample, the dreams' z, then their x."""
        K, M, D = x.shape
        Z = self.n_z
        eps, z_dream = self.buffer("eps", K, M, Z), self.buffer("z_dream", K, M, Z)
        for k, g in enumerate(gens):
            torch.randn(M, Z, generator=g, out=eps[k])
            torch.randn(M, Z, generator=g, out=z_dream[k])
        # wake
        _, q = self._mlp(self.enc, self.enc_head, x, "e")
        mu, log_var = q[..., :Z], q[..., Z:]
        z = torch.addcmul(mu, torch.exp(0.5 * log_var), eps)  # (K, M, Z)
        neg_kl = neg_kl_std_normal(mu, log_var).mean(1)  # (K,), before the buffers are reused
        gs, out = self._mlp(self.dec, self.dec_head, z, "d")
        log_lik, dout = self._log_likelihood(x, out, 1.0 / M)
        self._mlp_backward(self.dec, self.dec_head, gs, dout, "d", input_grad=False)
        # sleep: dreams from the model, then the recognition model learns to invert them
        _, out = self._mlp(self.dec, self.dec_head, z_dream, "d")
        x_dream = self.buffer("x_dream", K, M, D)
        y = torch.sigmoid(out[..., :D], out=self.buffer("m", K, M, D))  # the mean of p(x|z)
        if self.gaussian:
            noise = self.buffer("r", K, M, D)
            for k, g in enumerate(gens):
                torch.randn(M, D, generator=g, out=noise[k])
            torch.addcmul(y, torch.exp(out[..., D:].mul_(0.5)), noise, out=x_dream)  # σ = exp(½ log σ²)
        else:
            y.nan_to_num_(0.0)  # a model gone NaN (it stops at its bound) must not stop the others' draws
            for k, g in enumerate(gens):
                torch.bernoulli(y[k], generator=g, out=x_dream[k])
        hs, q = self._mlp(self.enc, self.enc_head, x_dream, "e")
        mu_d, log_var_d = q[..., :Z], q[..., Z:]
        # −log q(z|x) = ½ Σ (log 2π + log σ² + (z − μ)² / σ²): ∂/∂μ = −(z − μ)/σ², ∂/∂log σ² = ½(1 − (z − μ)²/σ²)
        r = z_dream - mu_d
        r_over_var = r * torch.exp(-log_var_d)  # (K, M, Z)
        d_log_var = 1 - r_over_var * r
        dq = torch.cat([r_over_var.mul_(-1.0 / M), d_log_var.mul_(0.5 / M)], -1, out=self.buffer("dq", K, M, 2 * Z))
        self._mlp_backward(self.enc, self.enc_head, hs, dq, "e", input_grad=False)
        return neg_kl + log_lik

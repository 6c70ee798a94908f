"""Training speed of the paper's models on this machine (the speed issue; not part of the tests).

    python benchmarks/train_speed.py [--repeats 30] [--steps 50] [--models mnist-z20,frey-z20,fig3] [--device cpu]

For each model it times, interleaved in short chunks so that the machine's drift hits all alike (the order is
reversed every round),
(a) ``plain``: an idiomatic PyTorch loop written below (nn.Sequential MLPs, estimator B of eq. 10, Adagrad with
    weight decay 1/N, M = 100 random minibatches from one tensor),
(b) ``aevb``: the project's training path, an ``aevb.learners.fused.group.FusedGroup`` of one ``Trainer`` (what
    ``python -m aevb train`` runs: the fused step, ``aevb.learners.fused.steps.aevb_step``),
(c) ``autograd``: the same with ``fused=False`` (the readable reference path through autograd),
and prints medians over the rounds of training samples per second, the median over rounds of the ratio to the
plain loop (each round's two chunks taken seconds apart), and the achieved GFLOP/s against the measured float32
matmul rate of this machine (a large square matmul, and one of the model's own shapes). FLOPs count the
multiply-adds of every matmul of a step (forward, and backward for weights and activations, except the gradient
w.r.t. the data), 2 FLOPs each; elementwise work is not counted. On CUDA every timing ends with a synchronize.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn
import torch.nn.functional as F

from aevb.config import TrainConfig
from aevb.data import load
from aevb.experiments.runs import environment
from aevb.learners.aevb import Trainer
from aevb.learners.fused.group import FusedGroup

MODELS = {  # name -> (dataset, d_x, n_z, hidden, N_train): the §5 MNIST model, the Frey Face one, Fig. 3's
    "mnist-z20": ("mnist", 784, 20, 500, 50_000),
    "frey-z20": ("frey", 560, 20, 200, 1785),
    "fig3": ("mnist", 784, 3, 100, 50_000),
}
M = 100  # minibatch size


def flops_per_sample(d_x: int, n_z: int, h: int) -> float:
    """2 × multiply-adds per datapoint of one training step (forward + backward, no gradient w.r.t. x)."""
    enc = d_x * h + h * 2 * n_z  # trunk, then the μ and log σ² heads
    dec_out = 2 if d_x == 560 else 1  # Gaussian decoder (Frey Face) has μ and log σ² heads
    dec = n_z * h + h * d_x * dec_out
    forward = enc + dec
    backward_weights = forward
    backward_inputs = forward - d_x * h  # no gradient for the data
    return 2.0 * (forward + backward_weights + backward_inputs)


class PlainVAE(nn.Module):
    """The same model written the obvious way."""

    def __init__(self, d_x, n_z, h, gaussian):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d_x, h), nn.Tanh(), nn.Linear(h, 2 * n_z))
        self.dec = nn.Sequential(nn.Linear(n_z, h), nn.Tanh(), nn.Linear(h, d_x * (2 if gaussian else 1)))
        self.gaussian = gaussian
        for p in self.parameters():
            nn.init.normal_(p, std=0.01)

    def loss(self, x):
        mu, log_var = self.enc(x).chunk(2, -1)
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
        out = self.dec(z)
        if self.gaussian:
            m, lv = out.chunk(2, -1)
            rec = -0.5 * (lv + (x - torch.sigmoid(m)) ** 2 * torch.exp(-lv)).sum(-1)
        else:
            rec = -F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(-1)
        kl = -0.5 * (1 + log_var - mu**2 - log_var.exp()).sum(-1)
        return -(rec - kl).mean()


def plain_runner(x, d_x, n_z, h, n_train):
    model = PlainVAE(d_x, n_z, h, d_x == 560).to(x.device)
    opt = torch.optim.Adagrad(model.parameters(), lr=0.01, weight_decay=1.0 / n_train)

    def run(steps):
        for _ in range(steps):
            idx = torch.randint(n_train, (M,), device=x.device)
            loss = model.loss(x[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return run


def aevb_runner(x, dataset, n_z, h, n_train, device, fused=True):
    cfg = TrainConfig(dataset=dataset, n_z=n_z, hidden=(h,), lr=0.01, device=device, progress=False, fused=fused)
    group = FusedGroup([Trainer(cfg, x[:n_train], 0.01)])
    return lambda steps: group.advance(group.trainers[0].samples + steps * M)


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def matmul_gflops(n=2048, shape=None, repeats=20, device="cpu") -> float:
    """float32 matmul rate: square n×n, or ``shape`` = (m, k, n)."""
    m, k, nn_ = shape or (n, n, n)
    a, b = torch.randn(m, k, device=device), torch.randn(k, nn_, device=device)
    for _ in range(3):
        a @ b
    _sync(device)
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * m * k * nn_ * repeats / (time.perf_counter() - t) / 1e9


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=30, help="rounds; each times every variant once")
    p.add_argument("--steps", type=int, default=50, help="minibatch steps per timing")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)

    torch.manual_seed(0)
    big = 8192 if torch.device(args.device).type == "cuda" else 2048
    peak = statistics.median(matmul_gflops(big, device=args.device) for _ in range(3))
    print(f"{environment()}\ndevice {args.device}; float32 matmul, {big}²: {peak:.0f} GFLOP/s; "
          f"threads: {torch.get_num_threads()}; medians of {args.repeats} rounds of {args.steps} steps")
    results = []
    for name in args.models.split(","):
        dataset, d_x, n_z, h, n_train = MODELS[name]
        x = torch.from_numpy(load(dataset, "train")).to(args.device).contiguous()
        n_train = min(n_train, len(x))
        shape_rate = matmul_gflops(shape=(M, d_x, h), repeats=2000, device=args.device)
        runners = {"plain": plain_runner(x, d_x, n_z, h, n_train),
                   "aevb": aevb_runner(x, dataset, n_z, h, n_train, args.device),
                   "autograd": aevb_runner(x, dataset, n_z, h, n_train, args.device, fused=False)}
        rates = {k: [] for k in runners}
        for r in runners.values():
            r(20)  # warm-up
        for i in range(args.repeats):
            for k in list(runners) if i % 2 == 0 else list(runners)[::-1]:
                _sync(args.device)
                t = time.perf_counter()
                runners[k](args.steps)
                _sync(args.device)
                rates[k].append(args.steps * M / (time.perf_counter() - t))
        med = {k: statistics.median(v) for k, v in rates.items()}
        ratio = {k: statistics.median(a / b for a, b in zip(rates[k], rates["plain"])) for k in ("aevb", "autograd")}
        f = flops_per_sample(d_x, n_z, h)
        row = {"model": name, "device": args.device, **{k: med[k] for k in runners}, "ratio": ratio["aevb"],
               "ratio_autograd": ratio["autograd"], "gflops_aevb": med["aevb"] * f / 1e9,
               "gflops_plain": med["plain"] * f / 1e9, "matmul_peak": peak, "matmul_model_shape": shape_rate}
        results.append(row)
        print(f"{name:10s} plain {med['plain']:9,.0f} samples/s  aevb {med['aevb']:9,.0f}  autograd "
              f"{med['autograd']:9,.0f}  |  ratio aevb/plain {ratio['aevb']:.2f} (autograd/plain "
              f"{ratio['autograd']:.2f})  |  GFLOP/s plain {row['gflops_plain']:.0f}, aevb {row['gflops_aevb']:.0f} "
              f"= {row['gflops_aevb'] / peak:.0%} of the {big}² matmul, {row['gflops_aevb'] / shape_rate:.0%} of a "
              f"{M}×{d_x}×{h} matmul ({shape_rate:.0f})", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()

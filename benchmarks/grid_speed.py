"""Training a grid of models at once on this machine (the speed issue; not part of the tests).

    python benchmarks/grid_speed.py [--models mnist-z20,frey-z20,fig3] [--k 4] [--steps 200] [--repeats 3]

For K independent models of one of the paper's shapes it measures the total training samples per second of
(a) ``sequential``: the project's training path (``aevb.train.Trainer``), one model after another, each with
    all of torch's threads (what K separate ``python -m aevb train`` commands do);
(b) ``stacked``: the K models' weights stacked along a leading axis and trained in one pass with batched
    matmuls (``torch.baddbmm``) and a foreach Adagrad, all threads (the "batched weights" design);
(c) ``vmap``: the same stacking without re-writing the model: ``torch.func.vmap`` over ``functional_call`` of the
    project's own VAE (estimator B with the noise passed in);
(d) ``pool``: the experiment runner's default executor, processes of one thread each, each training its
    share of the K models with ``Trainer`` (``python -m aevb figure``: ``--workers N --threads 1``).
Medians over the repeats; every variant does the same number of minibatch steps of the same models.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time

import torch
import torch.nn.functional as F

MODELS = {"mnist-z20": ("mnist", 784, 20, 500), "frey-z20": ("frey", 560, 20, 200), "fig3": ("mnist", 784, 3, 100)}
M = 100  # minibatch size


def _trainers(dataset, n_z, h, k, threads):
    from aevb.train import TrainConfig, Trainer, load_split

    torch.set_num_threads(threads)
    cfgs = [TrainConfig(dataset=dataset, n_z=n_z, hidden=(h,), lr=0.01, seed=s, progress=False) for s in range(k)]
    x = load_split(cfgs[0], "train", torch.device("cpu"))
    return [Trainer(c, x, 0.01) for c in cfgs]


def _train_sequentially(trainers, steps) -> float:
    t = time.perf_counter()
    for tr in trainers:
        tr.advance(tr.samples + steps * M)
    return time.perf_counter() - t


def _pool_worker(args) -> list[float]:
    dataset, n_z, h, k, steps, repeats = args
    trainers = _trainers(dataset, n_z, h, k, threads=1)
    _train_sequentially(trainers, 10)  # warm-up
    return [_train_sequentially(trainers, steps) for _ in range(repeats)]


@torch.no_grad()
def _adagrad_step(st, loss) -> None:
    """Backpropagate ``loss`` to the stacked weights ``st.p``; Adagrad with weight decay (foreach ops)."""
    for p in st.p:
        p.grad = None
    with torch.enable_grad():
        loss.backward()
    g = [p.grad for p in st.p]
    torch._foreach_add_(g, st.p, alpha=st.wd)
    torch._foreach_addcmul_(st.acc, g, g)
    std = torch._foreach_sqrt(st.acc)
    torch._foreach_add_(std, 1e-10)
    torch._foreach_addcdiv_(st.p, g, std, value=-st.lr)


class Stacked:
    """K VAEs of one shape written out with batched matmuls: weights (K, ...), estimator B, Adagrad; each model
    draws its own minibatches and noise. Bernoulli decoder for every data set: for the Frey Face this leaves out
    the Gaussian decoder's second head, so its rate there is flattered."""

    def __init__(self, k, d_x, n_z, h, lr=0.01, wd=2e-5):
        shapes = [(d_x, h), (1, h), (h, 2 * n_z), (1, 2 * n_z), (n_z, h), (1, h), (h, d_x), (1, d_x)]
        self.p = [(torch.randn(k, *s) * 0.01).requires_grad_() for s in shapes]
        self.acc = [torch.zeros_like(p) for p in self.p]
        self.n_z, self.lr, self.wd = n_z, lr, wd

    def step(self, x):  # x: (K, M, D)
        w1, b1, wq, bq, w2, b2, w3, b3 = self.p
        q = torch.baddbmm(bq, torch.tanh(torch.baddbmm(b1, x, w1)), wq)  # (K, M, 2Z)
        mu, log_var = q[..., : self.n_z], q[..., self.n_z:]
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)  # (K, M, Z)
        logits = torch.baddbmm(b3, torch.tanh(torch.baddbmm(b2, z, w2)), w3)  # (K, M, D)
        rec = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)  # (K, M)
        kl = -0.5 * (1 + log_var - mu**2 - log_var.exp()).sum(-1)  # (K, M)
        loss = -(rec - kl).mean(-1).sum()
        _adagrad_step(self, loss)


class _BoundWithNoise(torch.nn.Module):
    """Estimator B (eq. 10) of the project's VAE with given noise ε: (M, Z), for ``torch.func.vmap``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, eps):
        from aevb.estimators import analytic_kl

        q = self.model.encoder(x)
        z = q.base_dist.loc + eps * q.base_dist.scale  # what q.rsample() computes from its own ε
        return -analytic_kl(q, self.model.prior) + self.model.log_likelihood(x, z)


class VmapStacked:
    """K of the project's VAEs stacked by ``torch.func.stack_module_state``, run by ``vmap``, foreach Adagrad."""

    def __init__(self, k, dataset, n_z, h, lr=0.01, wd=2e-5):
        from torch.func import functional_call, stack_module_state, vmap

        from aevb.models import build_vae

        params, buffers = stack_module_state([_BoundWithNoise(build_vae(dataset, n_z, (h,), s)) for s in range(k)])
        base = _BoundWithNoise(build_vae(dataset, n_z, (h,), 0)).to("meta")
        self.f = vmap(lambda p, b, x, e: functional_call(base, (p, b), (x, e)))
        self.params, self.buffers, self.p = params, buffers, list(params.values())
        self.acc = [torch.zeros_like(p) for p in self.p]
        self.n_z, self.lr, self.wd = n_z, lr, wd

    def step(self, x):  # x: (K, M, D)
        loss = -self.f(self.params, self.buffers, x, torch.randn(*x.shape[:2], self.n_z)).mean(-1).sum()
        _adagrad_step(self, loss)


def _time_stacked(st, x, k, steps, repeats) -> float:
    times = []
    for r in range(repeats + 1):
        t = time.perf_counter()
        for _ in range(steps if r else 10):
            st.step(x[torch.randint(len(x), (k, M))])  # (K, M, D)
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--k", type=int, default=4, help="models in the grid")
    p.add_argument("--steps", type=int, default=200, help="minibatch steps per model per timing")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--processes", type=int, default=os.cpu_count(), help="pool: processes of one thread each")
    args = p.parse_args(argv)
    from aevb.data import load

    threads = torch.get_num_threads()
    print(f"{os.cpu_count()} CPUs; torch {torch.__version__}, {threads} threads; K = {args.k} models, "
          f"{args.steps} steps of M = {M} each per timing, medians of {args.repeats}")
    for name in args.models.split(","):
        dataset, d_x, n_z, h = MODELS[name]
        total = args.k * args.steps * M
        seq = _trainers(dataset, n_z, h, args.k, threads)
        _train_sequentially(seq, 10)
        t_seq = statistics.median(_train_sequentially(seq, args.steps) for _ in range(args.repeats))
        x = torch.from_numpy(load(dataset, "train")).contiguous()
        t_st = _time_stacked(Stacked(args.k, d_x, n_z, h), x, args.k, args.steps, args.repeats)
        t_vm = _time_stacked(VmapStacked(args.k, dataset, n_z, h), x, args.k, args.steps, args.repeats)
        per = [args.k // args.processes + (i < args.k % args.processes) for i in range(args.processes)]
        with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
            times = pool.map(_pool_worker, [(dataset, n_z, h, n, args.steps, args.repeats) for n in per if n])
        t_pool = statistics.median(max(ts) for ts in zip(*times))  # the processes run side by side
        print(f"{name:10s} sequential {total / t_seq:9,.0f} samples/s | stacked (bmm) {total / t_st:9,.0f} "
              f"({t_seq / t_st:.2f}x) | vmap {total / t_vm:9,.0f} ({t_seq / t_vm:.2f}x) | pool {args.processes} x 1 thread {total / t_pool:9,.0f} "
              f"({t_seq / t_pool:.2f}x)", flush=True)


if __name__ == "__main__":
    main()

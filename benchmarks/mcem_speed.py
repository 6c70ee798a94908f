"""Training speed of Monte Carlo EM (App. E, ``aevb.learners.mcem``): its gradients written out vs through autograd.

    python benchmarks/mcem_speed.py [--rounds 30] [--steps 100] [--threads 1]

Fig. 3's MCEM model (MNIST, N_z = 3, 100 hidden units, M = 100) trained by an ``aevb.learners.fused.group.FusedGroup``
of one ``MCEMTrainer`` with ``fused=True`` (HMC's ∇z and the M-step's ∇θ written out:
``aevb.learners.fused.log_joint``'s ``log_joint_and_grad_z`` and ``neg_log_joint_and_grads``) and with
``fused=False`` (autograd on ``aevb.estimators.log_joint``, the reference), timed interleaved in chunks of
``--steps`` minibatch steps (the order reversed every round, so that the machine's drift hits both alike).
Prints the medians over rounds of seconds per million training samples, by wall clock and by this process's CPU
time (steadier where other work shares the cores), and their ratio. Not part of the tests.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

from aevb.config import TrainConfig
from aevb.data import load_split
from aevb.experiments.runs import environment
from aevb.learners.fused.group import FusedGroup
from aevb.learners.mcem import MCEMTrainer

M = 100  # minibatch size


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=30, help="rounds; each times both paths once")
    p.add_argument("--steps", type=int, default=100, help="minibatch steps per timing")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    base = TrainConfig(dataset="mnist", algorithm="mcem", n_z=3, hidden=(100,), marginal="hmc", seed=0,
                       progress=False)
    x = load_split(base, "train", torch.device("cpu"))
    paths = {"written out": True, "autograd": False}
    runs = {k: FusedGroup([MCEMTrainer(dataclasses.replace(base, fused=f), x, 0.1)]) for k, f in paths.items()}
    done = dict.fromkeys(paths, 20 * M)
    for k, r in runs.items():
        r.advance(done[k])  # warm-up
    wall, cpu = {k: [] for k in paths}, {k: [] for k in paths}
    for i in range(args.rounds):
        for k in list(paths) if i % 2 == 0 else list(paths)[::-1]:
            t, c = time.perf_counter(), time.process_time()
            done[k] += args.steps * M
            runs[k].advance(done[k])
            wall[k].append((time.perf_counter() - t) / (args.steps * M) * 1e6)
            cpu[k].append((time.process_time() - c) / (args.steps * M) * 1e6)
    med = statistics.median
    print(f"{environment()}\nthreads {torch.get_num_threads()}; medians of {args.rounds} rounds of {args.steps} steps")
    for k in paths:
        print(f"{k:12s} s per 10^6 training samples: wall {med(wall[k]):6.1f}, CPU {med(cpu[k]):6.1f}")
    print(f"autograd / written out: wall {med(wall['autograd']) / med(wall['written out']):.2f}, "
          f"CPU {med(cpu['autograd']) / med(cpu['written out']):.2f}")


if __name__ == "__main__":
    main()

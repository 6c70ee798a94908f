"""Chapter 13's inpainting measurement (``python -m aevb measure inpainting``): §2.1's "image denoising,
inpainting and super-resolution" with Fig. 5's MNIST model (N_z = 20) as the prior over x.

On the first ``N_IMAGES`` test images (the fixed binarization of ``aevb.data``: the truth), each task of ``TASKS``
hides pixels (``observe``): the bottom half, 80% of the pixels at random, all but one pixel in four (super-
resolution read, by us, as inpainting where only the pixels of every second row and column are seen), or flips
every pixel with probability ρ (denoising: then every pixel is hidden, seen through noise). Each hidden pixel is
predicted by a probability, scored against the truth on the hidden pixels of each image:

- ``loglik``: the mean Bernoulli log-likelihood per hidden pixel (nats; probabilities clipped to [``FLOOR``,
  1 − ``FLOOR``], so that a confident wrong guess costs log ``FLOOR``, not −∞);
- ``error``: the share of hidden pixels where the rounded probability is wrong;

each as its mean over the images and the standard error of that mean (``_se`` columns). The methods:

- the chains of ``aevb.imputation`` (``CHAINS`` an image, ``STEPS`` sweeps each, ``BURN_IN`` discarded, the
  first ``WARM`` of them pseudo-Gibbs's; the predictive mean, averaged over the chains): Metropolis-within-Gibbs
  (exact target; ``PROPOSALS`` z-steps a sweep) and pseudo-Gibbs (uncorrected), with the model's encoder as
  proposal;
- the simple baselines (``baselines``), on the model's 50,000 training images (fixed binarization): the mean
  training image; the nearest training image on the seen pixels (Hamming distance; for denoising, to the noisy
  image); the mean of the ``K`` nearest (k-NN fill); for denoising also the noisy image itself (P(x = 1 | y) with
  a uniform prior: 1 − ρ where y = 1, ρ where y = 0).

``summary(rows)`` gives the numbers the scorecard's verdict and the page need; ``check(results_dir)`` recomputes
the baselines that need no checkpoint (the mean image on every task, nearest and k-NN on ``CHECK_TASK``) and
compares them with the store. The figure's examples (truth, what is seen, chain samples, predictive mean of the
first ``EXAMPLES`` test images, every task) are kept beside the CSV in ``inpainting-examples.npz``.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aevb.data import load_mnist
from aevb.experiments.runs import load_checkpointed
from aevb.experiments.store import RESULTS_DIR, run_path
from aevb.files import StoreError, atomic_write, read_csv, read_npz
from aevb.imputation import (
    METHODS,
    MISSING,
    Observation,
    hidden_error,
    hidden_log_lik,
    impute,
)

RUN = "mnist-aevb-z20-h500-nall-s0"  # Fig. 5's N_z = 20 model (784-500-20, Bernoulli decoder)
N_IMAGES = 300  # the first test images (the budget: about 15 minutes of one CPU thread)
N_TRAIN = 50_000  # the baselines' training images: the model's training split
STEPS, BURN_IN = 2000, 400  # sweeps of each chain, and those discarded
WARM = 100  # the first sweeps of the burn-in are pseudo-Gibbs's, Metropolis-within-Gibbs's too (a start nearer the
# target: from the seen image with its unseen pixels at 0, the exact chain sticks; any start is valid)
PROPOSALS = 8  # Metropolis-within-Gibbs: independent MH z-steps per sweep, from the same q(z | x)
CHAINS = 1  # independent chains per image, their predictive means averaged (a chain that sticks, as an exact one
# with an independent proposal in 20 dimensions does, explores little alone)
KEEP = 3  # chain samples kept per image for the figure
K = 10  # the k-NN fill's neighbours
FLOOR = 1e-3  # probabilities are clipped to [FLOOR, 1 - FLOOR] for the log-likelihood
EXAMPLES = 3  # test images shown per task
SEED = 0  # the tasks' random masks and noise, and the chains
BASELINES = ("mean image", "nearest image", f"{K}-NN fill", "noisy image")
CHECK_TASK = "bottom half"
CHECK_ATOL = 1e-6  # the check's tolerance: the baselines are exact counts and means; float32 rounding stays far
# below it, while a changed mask, neighbour or metric moves a mean over the images by more
COLUMNS = ["run", "samples", "task", "method", "n_images", "hidden", "loglik", "loglik_se", "error", "error_se",
           "acceptance", "seconds"]
TEXT_COLUMNS: tuple[str, ...] = ("run", "task", "method")
REMEDY = "measure it again: python -m aevb measure inpainting"


@dataclass(frozen=True)
class Task:
    """How pixels are hidden: ``kind`` "rows" (the rows from ``amount`` x 28 on missing: 0.5 the bottom half),
    "random" (a share ``amount`` missing at random), "grid" (only every ``amount``-th row and column seen) or
    "noise" (every pixel flipped with probability ``amount``)."""
    kind: str
    amount: float


TASKS = {"bottom half": Task("rows", 0.5), "random 80%": Task("random", 0.8),
         "super-resolution ×2": Task("grid", 2), "noise ρ = 0.1": Task("noise", 0.1),
         "noise ρ = 0.2": Task("noise", 0.2)}


def observe(task: Task, x: torch.Tensor, seed: int = SEED) -> Observation:
    """What ``task`` lets be seen of binary images x: (N, 784), the random masks and noise drawn with ``seed``."""
    n, d = x.shape
    g = torch.Generator().manual_seed(seed)
    if task.kind == "noise":
        flips = torch.rand(n, d, generator=g) < task.amount  # (N, D)
        return Observation.noisy(torch.where(flips, 1 - x, x), task.amount)
    row, col = (torch.arange(d) // 28).expand(n, -1), (torch.arange(d) % 28).expand(n, -1)  # (N, D)
    if task.kind == "rows":
        observed = row < round(task.amount * 28)
    elif task.kind == "random":
        observed = torch.rand(n, d, generator=g) >= task.amount
    elif task.kind == "grid":
        observed = (row % task.amount == 0) & (col % task.amount == 0)
    else:
        raise ValueError(f"observe: task kind {task.kind!r} is not one of rows, random, grid, noise")
    return Observation.missing(x, observed)


def nearest(train: torch.Tensor, obs: Observation, k: int, chunk: int = 10_000) -> torch.Tensor:
    """The indices of the ``k`` training images nearest each image of ``obs`` in Hamming distance on its seen
    pixels (flip < 1/2): train (T, D) binary -> (N, k), nearest first, ties broken by the lower index. In chunks of
    ``chunk`` training images (T x N distances never held at once); exact: the distances are sums of 0/1 products,
    whole numbers in float32."""
    seen = (obs.flip < MISSING).float()  # (N, D)
    y = obs.y.float() * seen  # (N, D)
    best = torch.empty(len(y), 0, dtype=torch.float64)
    for start in range(0, len(train), chunk):
        t = train[start:start + chunk].float()  # (C, D)
        dist = y.sum(1, keepdim=True) + seen @ t.T - 2 * y @ t.T  # (N, C): Σ_seen |y − t|
        key = dist.double() * len(train) + torch.arange(start, start + len(t), dtype=torch.float64)  # unique
        best = torch.cat([best, key], 1)
        best = best.topk(min(k, best.shape[1]), dim=1, largest=False).values  # ascending
    return (best % len(train)).round().long()  # (N, k)


def baselines(train: torch.Tensor, obs: Observation, task: Task, k: int = K) -> dict[str, torch.Tensor]:
    """Each simple baseline's probability of x_i = 1 for every pixel: (N, D) by name (``BASELINES``; "noisy image"
    for denoising only)."""
    idx = nearest(train, obs, k)  # (N, k)
    out = {"mean image": train.float().mean(0).expand(len(obs.y), -1), "nearest image": train[idx[:, 0]].float(),
           f"{k}-NN fill": train[idx].float().mean(1)}
    if task.kind == "noise":
        out["noisy image"] = obs.y * (1 - task.amount) + (1 - obs.y) * task.amount
    return out


def _row(task: str, method: str, prob: torch.Tensor, truth: torch.Tensor, obs: Observation, **extra) -> dict:
    hidden = obs.hidden
    ll, err = hidden_log_lik(prob, truth, hidden, FLOOR), hidden_error(prob, truth, hidden)  # (N,) each
    n = len(truth)
    return {"task": task, "method": method, "n_images": n, "hidden": hidden.sum(1).double().mean().item(),
            "loglik": ll.mean().item(), "loglik_se": (ll.std() / math.sqrt(n)).item(), "error": err.mean().item(),
            "error_se": (err.std() / math.sqrt(n)).item(), "acceptance": math.nan, "seconds": math.nan, **extra}


def _data(n_images: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(the first ``n_images`` binarized test images, the ``N_TRAIN`` binarized training images)."""
    test = torch.from_numpy(load_mnist("test", binarized=True)[0][:n_images])  # (N, D)
    train = torch.from_numpy(load_mnist("train", binarized=True)[0][:N_TRAIN])  # (T, D)
    return test, train


def baseline_rows(test: torch.Tensor, train: torch.Tensor, tasks: dict[str, Task]) -> list[dict]:
    """The baselines' rows (without run and samples) of ``tasks`` on the images ``test``."""
    rows = []
    for name, task in tasks.items():
        obs = observe(task, test)
        rows += [_row(name, method, prob, test, obs) for method, prob in baselines(train, obs, task).items()]
    return rows


def measure(results_dir=RESULTS_DIR, log=print, n_images: int = N_IMAGES, steps: int = STEPS,
            burn_in: int = BURN_IN) -> list[dict]:
    """Every (task, method) row (``COLUMNS``) of ``RUN``'s model from its checkpoint; writes the figure's examples
    to ``examples_path(results_dir)``."""
    model, ckpt, _ = load_checkpointed(run_path(results_dir, RUN))
    model.requires_grad_(False)
    samples = ckpt["trainer"]["samples"]
    test, train = _data(n_images)
    rows, examples = [], {}
    for name, task in TASKS.items():
        obs = observe(task, test)
        for method in METHODS:
            start = time.process_time()
            chains = Observation(obs.y.repeat(CHAINS, 1), obs.flip.repeat(CHAINS, 1))  # (CHAINS * N, D)
            out = impute(model, model.encoder, chains, steps, burn_in, method, keep=KEEP, seed=SEED,
                         proposals=PROPOSALS, warm=min(WARM, burn_in))
            mean = out.mean.reshape(CHAINS, len(test), -1).mean(0)  # (N, D): the chains of an image averaged
            rows.append(_row(name, method, mean, test, obs, acceptance=out.acceptance.mean().item(),
                             seconds=round(time.process_time() - start, 1)))
            log(f"  {name}, {method}: log-likelihood {rows[-1]['loglik']:.4f} per hidden pixel, error "
                f"{rows[-1]['error']:.4f}, acceptance {rows[-1]['acceptance']:.2f} ({rows[-1]['seconds']} s)")
            if method == METHODS[0]:
                seen = torch.where(obs.flip == MISSING, math.nan, obs.y)  # (N, D): NaN where missing
                examples[name] = torch.cat([test[:EXAMPLES, None], seen[:EXAMPLES, None],
                                            out.samples[:, :EXAMPLES].flip(0).transpose(0, 1),
                                            mean[:EXAMPLES, None]], 1)  # (EXAMPLES, 3 + KEEP, D)
        rows += baseline_rows(test, train, {name: task})
    write_examples(examples, results_dir)
    return [{"run": RUN, "samples": samples, **r} for r in rows]


EXAMPLE_COLUMNS = ("truth", "seen", *(f"sample {i + 1}" for i in range(KEEP)), "predictive mean")


def examples_path(results_dir=RESULTS_DIR) -> Path:
    return Path(results_dir) / "studies" / "inpainting-examples.npz"


def write_examples(examples: dict[str, torch.Tensor], results_dir=RESULTS_DIR) -> Path:
    """The figure's images, (tasks, EXAMPLES, columns, D) as float16 with the task names, atomically."""
    def write(f):
        np.savez_compressed(f, images=np.stack([e.numpy() for e in examples.values()]).astype(np.float16),
                            tasks=np.array(list(examples)))

    return atomic_write(examples_path(results_dir), write)


def read_examples(results_dir=RESULTS_DIR) -> dict[str, np.ndarray]:
    """The figure's images by task: (EXAMPLES, columns, D) each (``EXAMPLE_COLUMNS``; NaN where unseen)."""
    z = read_npz(examples_path(results_dir), REMEDY, " of the figure's images")
    return {str(t): img.astype(np.float32) for t, img in zip(z["tasks"], z["images"])}


def comparisons(rows: list[dict]) -> list[dict]:
    """Metropolis-within-Gibbs against each baseline, per task and metric: dicts of task, baseline, metric, margin
    (its advantage: higher log-likelihood, lower error) and noise (the two standard errors combined)."""
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        by = {r["method"]: r for r in rows if r["task"] == task}
        vae = by[METHODS[0]]
        for base in (m for m in by if m not in METHODS):
            for metric, sign in (("loglik", 1), ("error", -1)):
                out.append({"task": task, "baseline": base, "metric": metric,
                            "margin": sign * (vae[metric] - by[base][metric]),
                            "noise": math.hypot(vae[f"{metric}_se"], by[base][f"{metric}_se"])})
    return out


def summary(rows: list[dict]) -> dict:
    """The numbers the scorecard and the page need: ``run``, ``samples``, ``n_images``, ``tasks`` (in order),
    ``comparisons`` (``comparisons``), and ``best`` by task: the best baseline by log-likelihood, its row and the
    two chains' rows."""
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    best = {}
    for task in tasks:
        by = {r["method"]: r for r in rows if r["task"] == task}
        base = max((m for m in by if m not in METHODS), key=lambda m: by[m]["loglik"])
        best[task] = {"baseline": base, "baseline_row": by[base], **{m: by[m] for m in METHODS}}
    return {"run": rows[0]["run"], "samples": rows[0]["samples"], "n_images": int(rows[0]["n_images"]),
            "tasks": tasks, "comparisons": comparisons(rows), "best": best}


def check(results_dir=RESULTS_DIR, log=print) -> dict:
    """Recompute the mean-image rows of every task and the nearest and k-NN rows of ``CHECK_TASK`` (no checkpoint
    needed) on the stored number of images and compare them with the store within ``CHECK_ATOL``; a
    ``StoreError`` naming the file where one differs. Returns {(task, method): largest difference}."""
    path = Path(results_dir) / "studies" / "inpainting.csv"
    rows = read_csv(path, COLUMNS, REMEDY, TEXT_COLUMNS)
    if not rows:
        raise StoreError(path, "holds no rows", REMEDY)
    by = {(r["task"], r["method"]): r for r in rows}
    n = int(float(rows[0]["n_images"]))
    test, train = _data(n)
    out = {}
    for name, task in TASKS.items():
        obs = observe(task, test)
        probs = {"mean image": train.float().mean(0).expand(n, -1)} if name != CHECK_TASK else \
            {m: p for m, p in baselines(train, obs, task).items()}
        for method, prob in probs.items():
            new = _row(name, method, prob, test, obs)
            old = by.get((name, method))
            if old is None:
                raise StoreError(path, f"has no row for task {name!r}, method {method!r}",
                                 REMEDY)
            diff = max(abs(new[c] - float(old[c])) for c in ("hidden", "loglik", "loglik_se", "error", "error_se"))
            if not diff <= CHECK_ATOL:
                raise StoreError(path, f"task {name!r}, method {method!r}: recomputed on {n} images it differs "
                                 f"from the stored row by {diff:.3g} (> {CHECK_ATOL})",
                                 REMEDY)
            out[(name, method)] = diff
    log(f"inpainting: {len(out)} baseline rows recomputed on {n} images, within {CHECK_ATOL}")
    return out

"""A small MNIST classifier to measure Fig. 4's class coverage (App. A): which digit classes own a region of a
decoded 2-D latent manifold (the n × n grid of ``aevb.experiments.images.manifold``, (n·n, 784) in [0, 1]).

- ``fit_classifier``: a 784-256-10 ReLU MLP trained by Adam on MNIST's training images, seeded (one
  ``torch.Generator`` draws the initial weights, the minibatch order and the augmentation; the global RNG is
  never read or advanced). The grid's cells are decoder means, averages of many digits: blurred, with grey
  strokes. A classifier that has only seen sharp digits labels such blur as it pleases, so every training image
  is blurred by a Gaussian of a random width σ ~ U(0, ``max_blur``) pixels (σ near 0: the sharp digit), and a
  fraction ``outlier_fraction`` of each minibatch is uniform noise of random brightness with the uniform
  distribution over the ten classes as its target (outlier exposure: Hendrycks, Mazeika & Dietterich, 2019), so
  that an image that is no digit gets no confident class.
- ``predict``: class probabilities (N, 10); ``accuracy``; checked class by class on images of known labels
  (``per_class``, ``confusion``): chapter 10 runs them on the decoder means of encoded test digits, the kind of
  image the grid's cells are, before trusting the count.
- ``class_coverage``: the cells whose largest probability is at least ``min_confidence`` (``MIN_CONFIDENCE`` =
  0.8) count for their predicted class; **a class is covered when at least ``min_cells`` (``MIN_CELLS`` = 2)
  cells count for it**. Why 0.8: on MNIST's test set about 97% of the images reach it, and those are right
  about 99% of the time (chapter 10 measures both), while uniform noise and blank images stay below 0.3. Why
  2 cells: a single confident cell can be a blend between two regions that the classifier happens to call;
  a region of the plane is more than one point of the grid. Blends are where the count is least sure: the
  classifier can name a blend of two digits (a 7 fading into a 9) confidently, so read its labels beside the
  grid (chapter 10 shows both).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

N_CLASSES = 10
SIDE = 28  # MNIST images are 28 × 28, row-major
MIN_CONFIDENCE = 0.8  # a cell counts for its predicted class at this probability or above
MIN_CELLS = 2  # a class is covered when this many cells count for it
BLUR_RADIUS = 3  # pixels each side of the Gaussian blur's kernel (covers 2σ at the largest σ)


@dataclass(frozen=True)
class ClassifierSettings:
    """How ``fit_classifier`` trains: the network's width, the optimiser and the augmentation."""
    hidden: int = 256  # units of the one hidden ReLU layer
    epochs: int = 8  # passes over the training images
    batch_size: int = 128  # training images per step (outliers come on top)
    lr: float = 2e-3  # Adam's step size, decayed linearly to 0 over the training
    max_blur: float = 1.5  # pixels: each training image is blurred with σ ~ U(0, max_blur)
    outlier_fraction: float = 0.05  # uniform-noise images per training image, with a uniform target


def build_classifier(hidden: int, generator: torch.Generator) -> nn.Sequential:
    """784-hidden-10 ReLU MLP, weights and biases ~ U(±1/√fan_in) (torch's default) drawn with ``generator``.
    Built on the meta device first, so that building it draws nothing from the global RNG."""
    model = nn.Sequential(nn.Linear(SIDE * SIDE, hidden, device="meta"), nn.ReLU(),
                          nn.Linear(hidden, N_CLASSES, device="meta")).to_empty(device="cpu")
    with torch.no_grad():
        for layer in (model[0], model[2]):
            bound = layer.in_features ** -0.5
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)
    return model


def blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Each image of x: (B, 784) blurred by a Gaussian of its own width sigma: (B,) pixels (0: unchanged),
    separably, with zero padding -> (B, 784)."""
    offsets = torch.arange(-BLUR_RADIUS, BLUR_RADIUS + 1, dtype=x.dtype)  # (K,)
    kernel = torch.exp(-0.5 * (offsets / sigma.clamp(min=1e-3)[:, None]) ** 2)  # (B, K)
    kernel = kernel / kernel.sum(1, keepdim=True)  # (B, K)
    images = x.reshape(1, len(x), SIDE, SIDE)  # (1, B, 28, 28): one channel per image
    r = BLUR_RADIUS
    images = F.conv2d(F.pad(images, (r, r, 0, 0)), kernel[:, None, None, :], groups=len(x))  # along rows
    images = F.conv2d(F.pad(images, (0, 0, r, r)), kernel[:, None, :, None], groups=len(x))  # along columns
    return images.reshape(len(x), SIDE * SIDE)


def augment(x: torch.Tensor, y: torch.Tensor, settings: ClassifierSettings,
            generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A minibatch x: (B, 784), y: (B,) -> blurred images and uniform-noise outliers (B + M, 784) with their
    target distributions (B + M, 10): one-hot for the digits, uniform for the M outliers."""
    sigma = torch.rand(len(x), generator=generator) * settings.max_blur  # (B,)
    m = round(settings.outlier_fraction * len(x))
    noise = torch.rand(m, x.shape[1], generator=generator) * torch.rand(m, 1, generator=generator)  # (M, 784)
    targets = torch.cat([F.one_hot(y, N_CLASSES).to(x.dtype), torch.full((m, N_CLASSES), 1 / N_CLASSES)])
    return torch.cat([blur(x, sigma), noise]), targets  # (B + M, 784), (B + M, 10)


def fit_classifier(x, y, seed: int = 0, settings: ClassifierSettings = ClassifierSettings()) -> nn.Sequential:
    """Train the classifier on images x: (N, 784) in [0, 1] with labels y: (N,) (numpy or torch), every random
    draw from one generator seeded with ``seed``: the same seed, data and threads give the same weights."""
    x, y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)
    generator = torch.Generator().manual_seed(seed)
    model = build_classifier(settings.hidden, generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    per_epoch = len(x) // settings.batch_size
    total = settings.epochs * per_epoch
    for epoch in range(settings.epochs):
        order = torch.randperm(len(x), generator=generator)  # (N,)
        for i in range(per_epoch):
            rows = order[i * settings.batch_size:(i + 1) * settings.batch_size]  # (B,)
            xb, targets = augment(x[rows], y[rows], settings, generator)  # (B + M, 784), (B + M, 10)
            loss = -(targets * model(xb).log_softmax(1)).sum(1).mean()  # cross-entropy to the targets
            for group in optimizer.param_groups:
                group["lr"] = settings.lr * (1 - (epoch * per_epoch + i) / total)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


@torch.no_grad()
def predict(model: nn.Module, images, batch_size: int = 10_000) -> torch.Tensor:
    """Class probabilities of images: (N, 784) in [0, 1] (numpy or torch) -> (N, 10)."""
    x = torch.as_tensor(images, dtype=torch.float32)
    return torch.cat([model(xb).softmax(1) for xb in x.split(batch_size)])  # (N, 10)


def accuracy(model: nn.Module, images, labels) -> float:
    """Fraction of images: (N, 784) whose most probable class is their label: (N,)."""
    return (predict(model, images).argmax(1) == torch.as_tensor(labels)).double().mean().item()


def confident_accuracy(model: nn.Module, images, labels, min_confidence: float = MIN_CONFIDENCE) -> dict:
    """On images: (N, 784) with labels: (N,): ``share``, the fraction whose largest probability reaches
    ``min_confidence``, and ``accuracy``, the fraction of those whose most probable class is their label."""
    confidence, predicted = predict(model, images).max(1)  # (N,), (N,)
    confident = confidence >= min_confidence  # (N,)
    right = predicted[confident] == torch.as_tensor(labels)[confident]
    return {"share": confident.double().mean().item(), "accuracy": right.double().mean().item()}


def per_class(model: nn.Module, images, labels, min_confidence: float = MIN_CONFIDENCE) -> list[dict]:
    """The instrument checked on images: (N, 784) of known labels: (N,), class by class, then all together (class
    "all"): ``images``, ``accuracy`` (fraction whose most probable class is the label), ``share`` (fraction whose
    largest probability reaches ``min_confidence``: those ``class_coverage`` counts), ``confident accuracy``
    (fraction of those that are right; nan where none is confident) and ``read as`` (the class most often
    predicted for this class's wrongly classified images, -1 where none is wrong)."""
    confidence, predicted = predict(model, images).max(1)  # (N,), (N,)
    labels = torch.as_tensor(labels, dtype=torch.int64)  # (N,)
    rows = []
    for c in [*range(N_CLASSES), "all"]:
        mine = labels == c if c != "all" else torch.ones_like(labels, dtype=torch.bool)  # (N,)
        right, sure = predicted[mine] == labels[mine], confidence[mine] >= min_confidence
        wrong = predicted[mine][~right]
        rows.append({"class": c, "images": int(mine.sum()), "accuracy": right.double().mean().item(),
                     "share": sure.double().mean().item(),
                     "confident accuracy": right[sure].double().mean().item() if sure.any() else float("nan"),
                     "read as": int(torch.bincount(wrong, minlength=N_CLASSES).argmax()) if len(wrong) else -1})
    return rows


def confusion(model: nn.Module, images, labels) -> np.ndarray:
    """Counts (10, 10): row = true class of images: (N, 784) with labels: (N,), column = the predicted class."""
    predicted = predict(model, images).argmax(1).numpy()  # (N,)
    return np.bincount(np.asarray(labels) * N_CLASSES + predicted, minlength=N_CLASSES ** 2).reshape(N_CLASSES,
                                                                                                    N_CLASSES)


def class_coverage(probs: torch.Tensor, min_confidence: float = MIN_CONFIDENCE,
                   min_cells: int = MIN_CELLS) -> dict:
    """Which classes a grid's cells show, from their probabilities probs: (N, 10). A cell counts for its most
    probable class where that probability is at least ``min_confidence``; a class is covered where at least
    ``min_cells`` cells count for it. Returns ``labels`` (N,) int array: each cell's class, -1 where it does
    not count; ``counts`` (10,) int array: cells per class; ``covered`` and ``missing``: lists of classes;
    ``n_covered``: how many classes are covered."""
    confidence, predicted = torch.as_tensor(probs).max(1)  # (N,), (N,)
    labels = torch.where(confidence >= min_confidence, predicted, -1).numpy()  # (N,)
    counts = np.bincount(labels[labels >= 0], minlength=N_CLASSES)  # (10,)
    covered = [c for c in range(N_CLASSES) if counts[c] >= min_cells]
    return {"labels": labels, "counts": counts, "covered": covered, "n_covered": len(covered),
            "missing": [c for c in range(N_CLASSES) if c not in covered]}


def coverage_row(coverage: dict) -> dict:
    """One table row of a ``class_coverage`` result: classes covered, the missing ones, cells per class."""
    missing = ", ".join(map(str, coverage["missing"])) or "none"
    return {"classes covered": coverage["n_covered"], "missing": missing,
            **{f"cells {c}": int(n) for c, n in enumerate(coverage["counts"])}}


def summarize(coverages: dict, samples: dict) -> list[dict]:
    """Several grids' ``class_coverage`` results {seed: coverage}, grouped by the training samples of their runs
    {seed: samples}, most first: per group ``samples``, ``seeds`` (list), ``fewest`` and ``most`` classes covered
    by one grid, ``span`` (text: "5 to 6", or "9" where they agree), and ``every``, the classes missing from every
    grid of the group (list)."""
    out = []
    for n in sorted({samples[s] for s in coverages}, reverse=True):
        group = [c for s, c in coverages.items() if samples[s] == n]
        lo, hi = min(c["n_covered"] for c in group), max(c["n_covered"] for c in group)
        out.append({"samples": n, "seeds": [s for s in coverages if samples[s] == n], "fewest": lo, "most": hi,
                    "span": str(lo) if lo == hi else f"{lo} to {hi}",
                    "every": sorted(set.intersection(*(set(c["missing"]) for c in group)))})
    return out

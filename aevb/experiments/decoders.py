"""The trained decoder of a Fig. 4 run (App. A: a two-dimensional latent space), stored small enough to commit, so
that the book can decode any point z of the plane without a checkpoint: in the page's own script (chapter 10's
latent-space explorer) and in Python (``decode_stored``).

``decoder.npz`` of a Fig. 4 run holds

- the mean network of p_θ(x|z) (App. C): ``weight0, bias0, ..., weightL, biasL``, the tanh layers then the output
  layer, each weight (out, in) as in ``torch.nn.Linear``; mean = sigmoid(output) for both decoders (the
  Bernoulli means for MNIST; for the Frey Face the Gaussian mean, whose log σ² head is not stored). Float16 where
  the means it decodes stay within ``STORED_ERROR`` = 1/255 (one grey level) of the float32 decoder's at every
  pixel of every probe point (``PROBES``: the Fig. 4 grid, the test encodings and draws from the prior); float32
  otherwise. ``max_error`` is that largest difference, measured when the file was written.
- ``encodings``: the encoder means μ_φ(x) of the run's test images (N, 2), float32, in the order of
  ``aevb.data.load_split(config, "test")``; for MNIST ``labels`` (N,) uint8, their digit classes.
- ``sha256``: the checksum of all the other arrays (their names, dtypes, shapes and bytes), checked on read.
"""
from __future__ import annotations

import hashlib
import io
import itertools
from pathlib import Path

import numpy as np
import torch

from aevb.config import TrainConfig
from aevb.data import load_mnist, load_split
from aevb.datasets import DATASETS
from aevb.experiments.grids import figures_of, grid_points
from aevb.files import StoreError, atomic_write, read_npz

DECODER_FILE = "decoder.npz"
STORED_ERROR = 1 / 255  # the largest per-pixel error of the decoded means that float16 weights may cause
PRIOR_PROBES = 10_000  # draws z ~ N(0, I) among the probe points of the precision check
PROBE_SEED = 0  # their seed


def stores_decoder(config: TrainConfig) -> bool:
    """Whether a run of ``config`` stores its decoder: the runs of Fig. 4 (two-dimensional latent space)."""
    return 4 in figures_of(config) and config.n_z == 2


def _layers(model) -> list[torch.nn.Linear]:
    """The linear layers of the decoder's mean network, input first: the tanh layers, then the output layer."""
    return [*model.decoder.hidden_layers, model.decoder.head_layers[0]]


def decode_stored(arrays: dict[str, np.ndarray], z) -> np.ndarray:
    """Decoder means from stored weights, in float64: z: (N, Z) -> (N, D) in [0, 1]. The reference that the
    page's script is tested against."""
    h = np.asarray(z, dtype=np.float64)  # (N, Z)
    n_layers = sum(k.startswith("weight") for k in arrays)
    for i in range(n_layers):
        h = h @ arrays[f"weight{i}"].astype(np.float64).T + arrays[f"bias{i}"].astype(np.float64)  # (N, width)
        if i < n_layers - 1:
            h = np.tanh(h)
    return 1 / (1 + np.exp(-h))  # (N, D)


def probe_points(encodings: np.ndarray) -> np.ndarray:
    """The points z at which the stored precision is checked: the Fig. 4 grid (``grid_points``, n² × 2), the test
    encodings (N, 2) and ``PRIOR_PROBES`` seeded draws from the prior -> (n² + N + PRIOR_PROBES, 2)."""
    prior = np.random.default_rng(PROBE_SEED).standard_normal((PRIOR_PROBES, 2))
    return np.concatenate([grid_points().numpy(), encodings, prior]).astype(np.float32)


@torch.no_grad()
def decoder_arrays(config: TrainConfig, model) -> dict[str, np.ndarray]:
    """The arrays of ``decoder.npz`` for a trained run of ``config`` (see the module doc), computed on the CPU,
    without the checksum."""
    model = model.cpu()
    x = load_split(config, "test", "cpu")  # (N, D)
    encodings = model.encoder(x).mu.numpy().astype(np.float32)  # (N, 2): μ_φ(x)
    out: dict[str, np.ndarray] = {"encodings": encodings}
    if config.dataset == "mnist":
        out["labels"] = load_mnist("test")[1].astype(np.uint8)  # (N,)
    probes = probe_points(encodings)  # (P, 2)
    exact = model.decode(torch.from_numpy(probes)).numpy().astype(np.float64)  # (P, D): the float32 decoder
    for dtype in (np.float16, np.float32):
        weights = {}
        for i, layer in enumerate(_layers(model)):
            weights[f"weight{i}"] = layer.weight.numpy().astype(dtype)
            weights[f"bias{i}"] = layer.bias.numpy().astype(dtype)
        error = float(np.abs(decode_stored(weights, probes) - exact).max())
        if error < STORED_ERROR or dtype == np.float32:
            return {**weights, **out, "max_error": np.float64(error)}
    raise AssertionError("unreachable")


def checksum(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """SHA-256 of ``arrays`` (all but ``sha256``): names, dtypes, shapes and bytes, in name order -> (32,) uint8."""
    h = hashlib.sha256()
    for name in sorted(k for k in arrays if k != "sha256"):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name} {a.dtype.str} {a.shape}\n".encode())
        h.update(a.tobytes())
    return np.frombuffer(h.digest(), dtype=np.uint8).copy()


def write_decoder(run_dir: str | Path, arrays: dict[str, np.ndarray]) -> bytes:
    """Write ``arrays`` (``decoder_arrays``) with their checksum as ``run_dir/decoder.npz`` (atomically); returns
    the file's bytes."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays, sha256=checksum(arrays))
    data = buf.getvalue()
    atomic_write(Path(run_dir) / DECODER_FILE, lambda f: f.write(data))
    return data


def expected_arrays(config: TrainConfig) -> dict[str, tuple]:
    """The arrays ``decoder.npz`` holds for a run of ``config``, by name: their shapes (None: any length)."""
    widths = [config.n_z, *config.hidden, DATASETS[config.dataset].d_x]
    out: dict[str, tuple] = {}
    for i, (d_in, d_out) in enumerate(itertools.pairwise(widths)):
        out[f"weight{i}"], out[f"bias{i}"] = (d_out, d_in), (d_out,)
    out["encodings"] = (None, config.n_z)
    if config.dataset == "mnist":
        out["labels"] = (None,)
    return {**out, "max_error": (), "sha256": (32,)}


def _check_arrays(path: Path, arrays: dict[str, np.ndarray], config: TrainConfig, remedy: str) -> None:
    want = expected_arrays(config)
    if set(arrays) != set(want):
        raise StoreError(path, f"holds the arrays {', '.join(sorted(arrays)) or 'none'}; expected "
                               f"{', '.join(sorted(want))}", remedy)
    for name, shape in want.items():
        a = arrays[name]
        if a.ndim != len(shape) or any(w is not None and g != w for g, w in zip(a.shape, shape)):
            shown = tuple("N" if w is None else w for w in shape)
            raise StoreError(path, f"{name} has shape {a.shape}; expected {shown}", remedy)
    weights = [k for k in want if k.startswith(("weight", "bias"))]
    dtypes = {arrays[k].dtype for k in weights}
    if len(dtypes) != 1 or dtypes.pop() not in (np.float16, np.float32):
        raise StoreError(path, f"holds weights of {sorted({str(arrays[k].dtype) for k in weights})}; expected all "
                               f"float16 or all float32", remedy)
    kinds = {"encodings": np.float32, "labels": np.uint8, "max_error": np.float64, "sha256": np.uint8}
    for name, dtype in kinds.items():
        if name in arrays and arrays[name].dtype != dtype:
            raise StoreError(path, f"{name} is {arrays[name].dtype}; expected {np.dtype(dtype)}", remedy)
    if not np.array_equal(arrays["sha256"], checksum(arrays)):
        raise StoreError(path, "does not match its checksum (sha256): its arrays were changed after it was "
                               "written", remedy)
    if not all(np.isfinite(arrays[k]).all() for k in [*weights, "encodings"]):
        raise StoreError(path, "holds weights or encodings that are not finite", remedy)
    if "labels" in arrays and (arrays["labels"] >= 10).any():
        raise StoreError(path, "labels holds values outside the digit classes 0-9", remedy)
    if len(arrays["encodings"]) != len(arrays.get("labels", arrays["encodings"])):
        raise StoreError(path, f"has {len(arrays['encodings'])} encodings and {len(arrays['labels'])} labels",
                         remedy)
    if arrays["weight0"].dtype == np.float16 and not float(arrays["max_error"]) < STORED_ERROR:
        raise StoreError(path, f"holds float16 weights whose decoded means were {float(arrays['max_error']):.2g} "
                               f"from the float32 decoder's: not below {STORED_ERROR:.4f}", remedy)


def load_decoder(run_dir: str | Path, config: TrainConfig, remedy: str = "") -> dict[str, np.ndarray]:
    """The stored decoder of a Fig. 4 run (``run_dir/decoder.npz``): the one reader of the file.

    Checks on read: the file is an npz archive numpy can read in full (not torn, empty or another file's bytes),
    holds exactly the arrays of ``expected_arrays(config)`` with their shapes and dtypes, and they match their
    checksum. ``StoreError`` (naming the file, the problem, then ``remedy``) otherwise."""
    path = Path(run_dir) / DECODER_FILE
    arrays = read_npz(path, remedy)
    _check_arrays(path, arrays, config, remedy)
    return arrays


def grey_level_difference(arrays: dict[str, np.ndarray], manifold: np.ndarray) -> int:
    """The largest difference, in grey levels (of 255), between the committed Fig. 4 images ``manifold``
    (n², D) in [0, 1] (``load_images``) and the stored weights' means at the grid's points (``grid_points``),
    rounded to grey levels as ``render_images`` rounds them."""
    grid = grid_points(round(len(manifold) ** 0.5)).numpy()  # (n², 2)
    stored = np.round(np.clip(decode_stored(arrays, grid), 0, 1) * 255)  # (n², D)
    return int(np.abs(stored - np.round(manifold * 255)).max())

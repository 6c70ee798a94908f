"""Chapter 10's latent-space explorer (App. A, Fig. 4): the stored decoder of a two-dimensional run
(``aevb.experiments.decoders``) put into the page, where the book's own script (``_static/aevb-explorer.js``,
hand-written, served with the book like its CSS) decodes the point under the reader's pointer.

``explorer_html`` gives one explorer's markup: a root element ``<div data-aevb-explorer="NAME">`` holding its
data as JSON (``explorer_payload``: the weights as base64 little-endian bytes in their stored precision, the test
encodings, their labels, the Fig. 4 grid's coordinates); the script builds the latent plane, the decoded image,
the interpolation strip and the controls from it, and exposes ``window.aevbExplorer.decode(name, [z1, z2])``.
Nothing is loaded from anywhere: the page works opened as a file and from any static host.
"""
from __future__ import annotations

import base64
import html
import json

import numpy as np

from aevb.config import TrainConfig
from aevb.datasets import DATASETS
from aevb.experiments.grids import GRID_N, grid_points

EXPLORER_ATTRIBUTE = "data-aevb-explorer"  # the root element's attribute: the explorer's name
MIN_EXTENT = 3.0  # the plane shows z in [-extent, extent]², at least this wide


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()).decode("ascii")


def plane_extent(encodings: np.ndarray) -> float:
    """Half the side of the square of the plane shown: the 99.5th percentile of |z| over the test encodings,
    rounded up to a half, and at least ``MIN_EXTENT`` (the Fig. 4 grid reaches ±1.96)."""
    return max(MIN_EXTENT, float(np.ceil(2 * np.percentile(np.abs(encodings), 99.5)) / 2))


def explorer_payload(name: str, title: str, arrays: dict[str, np.ndarray], config: TrainConfig) -> dict:
    """The data one explorer needs, JSON-ready: ``name``, ``title``, ``shape`` (image height, width), ``dtype``
    of the weights, ``layers`` (per linear layer: ``rows``, ``cols``, base64 ``weight`` (rows × cols, row-major)
    and ``bias``), ``encodings`` (base64 float32, N × 2), ``labels`` (base64 uint8, or None), ``grid`` (the
    n coordinates of the Fig. 4 grid along each axis, ascending), ``extent`` and ``max_error``."""
    n_layers = sum(k.startswith("weight") for k in arrays)
    layers = [{"rows": int(arrays[f"weight{i}"].shape[0]), "cols": int(arrays[f"weight{i}"].shape[1]),
               "weight": _b64(arrays[f"weight{i}"]), "bias": _b64(arrays[f"bias{i}"])} for i in range(n_layers)]
    grid = np.sort(np.unique(grid_points(GRID_N).numpy()[:, 0])).astype(float)
    return {"name": name, "title": title, "shape": list(DATASETS[config.dataset].image_shape),
            "dtype": str(arrays["weight0"].dtype), "layers": layers,
            "encodings": _b64(arrays["encodings"].astype(np.float32)),
            "labels": _b64(arrays["labels"]) if "labels" in arrays else None,
            "grid": grid.tolist(), "extent": plane_extent(arrays["encodings"]),
            "max_error": float(arrays["max_error"])}


def explorer_html(name: str, title: str, arrays: dict[str, np.ndarray], config: TrainConfig) -> str:
    """One explorer's markup: ``<div class="aevb-explorer" data-aevb-explorer="NAME">`` with its data (JSON, in a
    ``<script type="application/json">``, ``<`` escaped so no text in it can end the script) and a line shown
    where the book's script does not run."""
    data = json.dumps(explorer_payload(name, title, arrays, config), separators=(",", ":")).replace("<", "\\u003c")
    return (f'<div class="aevb-explorer" {EXPLORER_ATTRIBUTE}="{html.escape(name)}">'
            f'<script type="application/json" class="aevb-explorer-data">{data}</script>'
            f'<p class="aevb-explorer-fallback">The interactive explorer of {html.escape(title)} needs JavaScript '
            f'(the book\'s own script, aevb-explorer.js; nothing is loaded from elsewhere).</p></div>')

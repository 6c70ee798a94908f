"""Chapter 8's study of the Frey Face split (§5, Fig. 2): the paper says "more latent variables does not result
in more overfitting"; on our Frey Face runs the train-test gap grows with N_z. How much of that is our split?

The ``frey-split`` study (``aevb.experiments.grids``) trains Fig. 2's Frey Face AEVB runs (200 hidden,
N_z ∈ {2, 5, 10, 20}) under four data settings (``TrainConfig.frey_split``, ``frey_scale``; ``aevb.data``): our
block split at /255 (Fig. 2's own runs), a random single-frame split, no split (the authors' loader: the test
frames are trained on), and our blocks at /256 (the authors' scale). Here:

- ``split_runs``: the stored runs of that study (``aevb.experiments.store.figure_runs``);
- ``zfree_baselines``: under each setting, the model with no latent variable at all
  (``aevb.latent_use.independent_gaussian``), fitted to that setting's training frames;
- ``split_table``: train bound, test bound and their gap at one evaluation point, per N_z and setting, with the
  z-free baseline as a last row (a ``pandas.DataFrame``; NaN where a run is missing or has no such point);
- ``split_numbers``: the table's values, and a few differences of them, under flat names for the
  chapter's prose (MyST-NB glue);
- ``split_shown``: the table as the chapter shows it, narrow enough for the text column.

A setting's *key* (``blocks``, ``frames``, ``none``, ``div256``) is its run-name mark (``run_name``; ``blocks``
for none); its *label* (``"blocks /255"``) is what the table shows.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import torch

from aevb.config import TrainConfig
from aevb.data import load_split
from aevb.datasets import DATASETS
from aevb.experiments.grids import FIG2_NZ, FREY_SPLIT_VARIANTS
from aevb.experiments.store import RESULTS_DIR, StoredRun, figure_runs
from aevb.latent_use import independent_gaussian
from aevb.plots import Table, table

STUDY = "frey-split"
ZFREE_ROW = "no z (per-pixel Gaussian)"  # the table's last row: the z-free baseline
SCALE_SHIFT = DATASETS["frey"].d_x * math.log(256 / 255)  # nats: log-density gained per frame by x/256 vs x/255


def setting_key(config: TrainConfig) -> str:
    """``"blocks"``, ``"frames"``, ``"none"`` or ``"div256"`` (the study's four settings)."""
    if config.frey_scale != 255:
        return f"div{config.frey_scale}"
    return config.frey_split


def setting_label(config: TrainConfig) -> str:
    """``"blocks /255"``, ``"frames /255"``, ``"none /255"``, ``"blocks /256"``."""
    return f"{config.frey_split} /{config.frey_scale}"


def settings() -> list[TrainConfig]:
    """One Frey Face config per setting of the study, in its order (N_z = 2; only the data settings matter)."""
    return [TrainConfig(dataset="frey", hidden=DATASETS["frey"].hidden, n_z=2, **v) for v in FREY_SPLIT_VARIANTS]


def split_runs(results_dir: str | Path | None = None) -> list[StoredRun]:
    """The stored runs of the ``frey-split`` study (``figure_runs``; ``results_dir`` None: the committed store)."""
    return figure_runs(STUDY, RESULTS_DIR if results_dir is None else Path(results_dir))


def row_at(curve: list[dict], samples: int) -> dict | None:
    """The curve's evaluation at exactly ``samples`` training samples, or None."""
    return next((r for r in curve if int(r["samples"]) == samples), None)


def missing_runs(runs: list[StoredRun], samples: int) -> list[str]:
    """Names of the runs with no stored evaluation at ``samples`` (not trained, or not that far yet)."""
    return [r.name for r in runs if row_at(r.curve, samples) is None]


def zfree_baselines(device: str = "cpu") -> dict[str, dict[str, float]]:
    """Per setting label: {"train", "test"} mean log-likelihood per frame (nats) of the per-pixel Gaussian fitted
    by maximum likelihood to that setting's training frames (``independent_gaussian``)."""
    out = {}
    for c in settings():
        x_train, x_test = (load_split(c, s, torch.device(device)) for s in ("train", "test"))  # (N, 560), (180, 560)
        out[setting_label(c)] = independent_gaussian(x_train, x_test)
    return out


def split_table(runs: list[StoredRun], samples: int, baselines: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Rows ``"N_z = 2"`` … ``"N_z = 20"`` and ``ZFREE_ROW``; columns (setting label, train / test / gap) in the
    study's order; nats per frame at ``samples`` training samples; gap = train - test; NaN where missing."""
    labels = [setting_label(c) for c in settings()]
    rows = [f"N_z = {z}" for z in FIG2_NZ["frey"]] + [ZFREE_ROW]
    columns = pd.MultiIndex.from_product([labels, ["train", "test", "gap"]], names=["setting", "bound"])
    table = pd.DataFrame(math.nan, index=pd.Index(rows, name=f"at {samples:,} samples"), columns=columns)
    for r in runs:
        at = row_at(r.curve, samples)
        if at is not None:
            row, label = f"N_z = {r.config.n_z}", setting_label(r.config)
            table.loc[row, (label, "train")] = at["train_bound"]
            table.loc[row, (label, "test")] = at["test_bound"]
    for label, b in baselines.items():
        table.loc[ZFREE_ROW, (label, "train")] = b["train"]
        table.loc[ZFREE_ROW, (label, "test")] = b["test"]
    for label in labels:
        table[(label, "gap")] = table[(label, "train")] - table[(label, "test")]
    return table


def split_shown(split: pd.DataFrame) -> Table:
    """``split_table``'s table as the chapter shows it: one row per setting and bound (train, test, gap; the
    setting named on its first row only), one column per N_z and one for the z-free model, in nats to one
    decimal (an empty cell where the table has NaN): five columns of numbers instead of twelve."""
    columns = list(split.index)  # "N_z = 2", ..., ZFREE_ROW
    rows = []
    for (setting, bound), values in split.T.iterrows():
        rows.append({"setting": setting if bound == "train" else "", "bound": bound,
                     **{c: None if math.isnan(v) else v for c, v in values.items()}})
    return table(rows, {"setting": "", "bound": "", **dict.fromkeys(columns, ".1f")})


def split_numbers(table: pd.DataFrame) -> dict[str, float]:
    """The table under flat names for the prose (nats; NaN where the table has NaN):

    - ``{train,test,gap}_{key}_z{N_z}`` (e.g. ``gap_frames_z20``) and ``{train,test,gap}_{key}_zfree`` (the
      z-free baseline);
    - ``excess_{key}_z{N_z}``: the gap less the z-free baseline's gap under the same setting (what the latent
      model adds to the difference the two sets of frames already have);
    - ``growth_{key}``: the gap at the largest N_z less the gap at the smallest;
    - ``seen_z{N_z}``: the test bound with no split less ours (the same 180 frames, trained on or held out);
    - ``noise_bound``, ``noise_gap``: the largest difference, over N_z, between the runs at /256 and at /255 (our
      split both) in the training bound less ``SCALE_SHIFT``, and in the gap: how far two runs apart by nothing
      but a 0.4% rescaling of the pixels land, the scale against which the other differences are read;
    - ``scale_shift``: ``SCALE_SHIFT``.
    """
    zs = FIG2_NZ["frey"]
    out = {"scale_shift": SCALE_SHIFT}
    for c in settings():
        key, label = setting_key(c), setting_label(c)
        for row, suffix in [(f"N_z = {z}", f"z{z}") for z in zs] + [(ZFREE_ROW, "zfree")]:
            for col in ("train", "test", "gap"):
                out[f"{col}_{key}_{suffix}"] = float(table.loc[row, (label, col)])
        for z in zs:
            out[f"excess_{key}_z{z}"] = out[f"gap_{key}_z{z}"] - out[f"gap_{key}_zfree"]
        out[f"growth_{key}"] = out[f"gap_{key}_z{zs[-1]}"] - out[f"gap_{key}_z{zs[0]}"]
    for z in zs:
        out[f"seen_z{z}"] = out[f"test_none_z{z}"] - out[f"test_blocks_z{z}"]
    largest = lambda values: float(pd.Series(list(values)).abs().max(skipna=False))  # noqa: E731 (NaN if any is)
    out["noise_bound"] = largest(out[f"train_div256_z{z}"] - SCALE_SHIFT - out[f"train_blocks_z{z}"] for z in zs)
    out["noise_gap"] = largest(out[f"gap_div256_z{z}"] - out[f"gap_blocks_z{z}"] for z in zs)
    return out

"""aevb.experiments.inpainting: the tasks hide what they say, the nearest-neighbour search is exact (against a brute
force, chunked or not), the rows and their summary, and the store check: it passes on what measure wrote and fails
on a perturbed store. On small synthetic images and a tiny random VAE (no checkpoint, no MNIST needed)."""
import csv
import math

import numpy as np
import pytest
import torch

from aevb.book import inpainting as page
from aevb.experiments import inpainting as inp
from aevb.files import StoreError, atomic_write_csv
from aevb.imputation import METHODS, MISSING
from aevb.models import VAE, init_paper_


def images(n: int, seed: int) -> torch.Tensor:
    """n binary 'digits' (784 pixels): random strokes on a dark background."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 784, generator=g) < torch.rand(n, 1, generator=g) * 0.4).float()


def test_the_tasks_hide_what_they_say():
    x = images(40, 0)
    bottom = inp.observe(inp.TASKS["bottom half"], x)
    assert torch.equal(bottom.hidden, (torch.arange(784) >= 392).expand(40, -1))
    assert torch.equal(bottom.y[:, :392], x[:, :392]) and not bottom.y[:, 392:].any()
    share = inp.observe(inp.TASKS["random 80%"], x).hidden.float().mean().item()
    assert share == pytest.approx(0.8, abs=0.01)
    grid = inp.observe(inp.TASKS["super-resolution ×2"], x)
    seen = ~grid.hidden[0]
    assert seen.sum() == 196 and seen.reshape(28, 28)[::2, ::2].all()  # every second row and column
    noisy = inp.observe(inp.TASKS["noise ρ = 0.2"], x)
    assert noisy.hidden.all() and (noisy.flip == 0.2).all()
    assert (noisy.y != x).float().mean().item() == pytest.approx(0.2, abs=0.01)
    assert torch.equal(noisy.y, inp.observe(inp.TASKS["noise ρ = 0.2"], x).y)  # seeded
    assert not torch.equal(noisy.y, inp.observe(inp.TASKS["noise ρ = 0.2"], x, seed=1).y)
    with pytest.raises(ValueError, match="task kind"):
        inp.observe(inp.Task("blur", 1), x)


@pytest.mark.parametrize("chunk", [7, 1000])
def test_nearest_is_the_brute_force_hamming_search(chunk):
    train, test = images(50, 1), images(6, 2)
    train[10] = train[3]  # a tie: the lower index first
    test[0] = train[3]
    for task in ("bottom half", "noise ρ = 0.1"):
        obs = inp.observe(inp.TASKS[task], test)
        got = inp.nearest(train, obs, k=12, chunk=chunk)  # (N, k)
        seen = obs.flip < MISSING
        dist = ((obs.y[:, None, :] != train[None]) & seen[:, None, :]).sum(-1)  # (N, T)
        expected = torch.tensor([sorted(range(50), key=lambda j: (dist[i, j].item(), j))[:12] for i in range(6)])
        assert torch.equal(got, expected)
    assert inp.nearest(train, inp.observe(inp.TASKS["bottom half"], test), k=2, chunk=chunk)[0].tolist() == [3, 10]


def test_the_baselines():
    train, test = images(30, 3), images(5, 4)
    obs = inp.observe(inp.TASKS["noise ρ = 0.1"], test)
    out = inp.baselines(train, obs, inp.TASKS["noise ρ = 0.1"], k=4)
    idx = inp.nearest(train, obs, 4)
    assert torch.allclose(out["mean image"][2], train.mean(0))
    assert torch.equal(out["nearest image"], train[idx[:, 0]])
    assert torch.allclose(out["4-NN fill"], train[idx].mean(1))
    assert torch.allclose(out["noisy image"], torch.where(obs.y == 1, 0.9, 0.1))
    assert "noisy image" not in inp.baselines(train, inp.observe(inp.TASKS["bottom half"], test),
                                              inp.TASKS["bottom half"])


def tiny_vae() -> VAE:
    model = VAE(784, 2, (8,)).requires_grad_(False)
    return init_paper_(model, std=0.3, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A store measured with a tiny random VAE on synthetic images (12 test, 60 training), few sweeps, two chains
    an image."""
    fake = {"test": images(12, 5).numpy(), "train": images(60, 6).numpy()}
    monkeypatch.setattr(inp, "load_mnist", lambda split, binarized: (fake[split], np.zeros(len(fake[split]))))
    monkeypatch.setattr(inp, "load_checkpointed", lambda run_dir: (tiny_vae(), {"trainer": {"samples": 1000}}, None))
    monkeypatch.setattr(inp, "CHAINS", 2)  # two chains an image, averaged
    rows = inp.measure(tmp_path, log=lambda *a: None, n_images=12, steps=6, burn_in=3)
    atomic_write_csv(tmp_path / "studies" / "inpainting.csv", rows, inp.COLUMNS)
    return tmp_path, rows


def test_measure_rows_summary_and_examples(store):
    results, rows = store
    assert all(list(r) == inp.COLUMNS for r in rows)
    methods = {t: [r["method"] for r in rows if r["task"] == t] for t in inp.TASKS}
    assert methods["bottom half"] == [*METHODS, "mean image", "nearest image", f"{inp.K}-NN fill"]
    assert methods["noise ρ = 0.1"][-1] == "noisy image"
    assert all(r["run"] == inp.RUN and r["samples"] == 1000 and r["n_images"] == 12 for r in rows)
    assert all(r["loglik"] <= 0 and 0 <= r["error"] <= 1 and r["loglik_se"] > 0 for r in rows)
    assert [r["hidden"] for r in rows if r["method"] == "mean image"] == [392, pytest.approx(627.25, abs=20),
                                                                          588, 784, 784]
    s = inp.summary(rows)
    assert s["tasks"] == list(inp.TASKS) and s["n_images"] == 12
    assert len(s["comparisons"]) == 2 * (3 * 3 + 2 * 4)  # per task its baselines, two metrics each
    c = next(c for c in s["comparisons"] if c["task"] == "bottom half" and c["baseline"] == "mean image"
             and c["metric"] == "error")
    by = {r["method"]: r for r in rows if r["task"] == "bottom half"}
    assert c["margin"] == pytest.approx(by["mean image"]["error"] - by[METHODS[0]]["error"])
    assert c["noise"] == pytest.approx(math.hypot(by["mean image"]["error_se"], by[METHODS[0]]["error_se"]))
    ex = inp.read_examples(results)
    assert list(ex) == list(inp.TASKS) and ex["bottom half"].shape == (inp.EXAMPLES, len(inp.EXAMPLE_COLUMNS), 784)
    assert np.isnan(ex["bottom half"][:, 1, 392:]).all() and not np.isnan(ex["noise ρ = 0.1"]).any()


def test_the_check_passes_on_the_store_and_fails_on_a_perturbed_one(store):
    results, rows = store
    compared = inp.check(results, log=lambda *a: None)
    assert ("bottom half", f"{inp.K}-NN fill") in compared and ("noise ρ = 0.2", "mean image") in compared
    assert max(compared.values()) <= inp.CHECK_ATOL
    path = results / "studies" / "inpainting.csv"
    for method, column in (("10-NN fill", "loglik"), ("mean image", "error")):
        bad = [dict(r) for r in rows]
        row = next(r for r in bad if r["method"] == method and r["task"] == inp.CHECK_TASK)
        row[column] += 1e-4
        atomic_write_csv(path, bad, inp.COLUMNS)
        with pytest.raises(StoreError, match=f"method '{method}'.*differs"):
            inp.check(results, log=lambda *a: None)
    with open(path, "w", newline="") as f:
        csv.writer(f).writerow(["run", "task"])
    with pytest.raises(StoreError, match="columns"):
        inp.check(results)


def test_the_pages_table_figure_and_facts(store):
    results, rows = store
    facts = page.fill_facts(rows)
    assert set(page.KEYS) == set(inp.TASKS)  # one facts key per task
    for key in page.KEYS.values():
        assert {f"fill_{key}_{m}_{x}" for m in ("mwg", "pseudo", "base") for x in ("ll", "err")} <= set(facts)
    assert facts["fill_images"] == "12" and facts["fill_verdict"] in ("holds", "holds with a caveat", "does not hold")
    by = {r["method"]: r for r in rows if r["task"] == "bottom half"}
    assert facts["fill_bottom_mwg_ll"] == f"{by[METHODS[0]]['loglik']:.3f}"
    assert all(isinstance(v, str) for v in facts.values())
    assert facts["fill_note"].startswith(f"ahead of every baseline on {facts['fill_won']} tasks")
    shown = page.fill_table(rows).frame
    assert len(shown) == len(rows) and shown.iloc[0, 2] == f"{rows[0]['loglik']:.3f} ± {rows[0]['loglik_se']:.3f}"
    fig = page.fill_figure(results)
    assert len(fig.axes) == len(inp.TASKS) and fig.get_size_inches()[0] <= page.DRAW_WIDTH
    assert page.fill_check(results) == inp.check(results, log=lambda *a: None)

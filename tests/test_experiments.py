"""The experiment machinery (aevb.experiments: grids, runs, images, executors, runner) and the results store
(aevb.experiments.store): the grids are the paper's, runs are stored, resumed, indexed and reproduced, and the Ray
executor runs the same grid."""
import csv
import dataclasses
import json
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from aevb.cli import main
from aevb.experiments.executors import local
from aevb.experiments.grids import (FIGURES, GRID_N, STUDIES, figure_configs, figures_of, grid, run_name, select,
                                   study_configs)
from aevb.experiments.images import load_images, manifold
from aevb.experiments.runner import pending, run_figure, run_grid, tasks, train_task
from aevb.experiments.runs import load_config, run
from aevb.experiments.store import INDEX_COLUMNS, RESULTS_DIR, check_prefix, figure_runs, index_rows, store_files
from aevb.files import read_csv
from aevb.validation import ParameterError

RUN = "mnist-aevb-z2-h500-nall-s0"
FREY = "frey-aevb-z2-h200-nall-s0"


def test_the_grids_are_the_papers():
    fig2 = figure_configs(2, 10**7)
    assert len(fig2) == 18
    assert {(c.dataset, c.n_z, c.hidden) for c in fig2} == (
        {("mnist", z, (500,)) for z in (3, 5, 10, 20, 200)} | {("frey", z, (200,)) for z in (2, 5, 10, 20)})
    assert {c.algorithm for c in fig2} == {"aevb", "wake-sleep"}
    fig3 = figure_configs(3, 10**7)
    assert {(c.algorithm, c.n_train) for c in fig3} == {(a, n) for a in ("aevb", "wake-sleep", "mcem")
                                                          for n in (1000, 50_000)}
    assert all(c.n_z == 3 and c.hidden == (100,) and c.marginal == "hmc" and c.marginal_points == 1000 for c in fig3)
    for c in fig2 + fig3 + figure_configs(4, 1) + figure_configs(5, 1):  # §5 protocol throughout
        assert (c.batch_size, c.n_samples, c.estimator, c.lr, c.weight_decay) == (100, 1, "B", None, True)
    names = [run_name(c) for f in FIGURES for c in figure_configs(f, 1)]
    assert len(grid(list(FIGURES), 1)) == len(set(names)) == 25  # shared runs are trained once
    assert figures_of(figure_configs(4, 5)[1]) == [2, 4]  # Frey Face N_z = 2 AEVB: Fig. 2 and 4
    assert figures_of(figure_configs(5, 5)[0]) == [4, 5]  # MNIST N_z = 2: Fig. 4 and 5


def test_the_one_sample_study_sets_fig2s_mnist_model_at_l_1_beside_l_10():
    """§2.3's L = 1 sentence: the study is Fig. 2's MNIST N_z = 20 run (shared, the same name) and the same run with
    L = 10, named apart by its L; nothing else differs."""
    one, ten = study_configs("one-sample", 3_000_000)
    assert (one.n_samples, ten.n_samples) == (1, 10) and dataclasses.replace(ten, n_samples=1) == one
    assert run_name(one) == "mnist-aevb-z20-h500-nall-s0" and figures_of(one) == [2, 5]
    assert run_name(ten) == "mnist-aevb-z20-h500-nall-L10-s0" and figures_of(ten) == []
    assert run_name(dataclasses.replace(one, seed=2)).endswith("-s2")


def test_select_and_bad_names():
    chosen = select(figure_configs(2, 1), "frey-*-z2-*,mnist-aevb-z200-*")
    assert [run_name(c) for c in chosen] == ["mnist-aevb-z200-h500-nall-s0", "frey-aevb-z2-h200-nall-s0",
                                                "frey-wake-sleep-z2-h200-nall-s0"]
    with pytest.raises(ParameterError, match="matches none of the runs: mnist-aevb-z3"):
        select(figure_configs(2, 1), "cifar-*")
    with pytest.raises(ParameterError, match="not one of the paper's experiments"):
        figure_configs(6, 1)
    with pytest.raises(ParameterError, match="executor 'dask' is not one of"):
        run_figure(4, 100, executor="dask")


class _Identity(torch.nn.Module):
    """A 'decoder' that shows its input, to read the grid Fig. 4 decodes."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def decode(self, z):
        return z


def test_manifold_grid_is_the_inverse_gaussian_cdf_of_the_unit_square():
    z = manifold(_Identity(), n=4).reshape(4, 4, 2)  # (row, column, z)
    q = torch.distributions.Normal(0, 1).icdf(torch.tensor([0.125, 0.375, 0.625, 0.875]))
    assert torch.allclose(z[0, :, 0], q) and torch.allclose(z[:, 0, 1], q.flip(0))  # z_1 across, z_2 down
    assert torch.allclose(z[2, :, 1], q.flip(0)[2].expand(4))


def test_a_grid_is_stored_indexed_resumed_and_reproduced(fig4_grid, tmp_path):
    """Fig. 4's two runs through the local pool (trained to 1,000 samples by the fixture): a larger budget extends
    them (from their checkpoints); files, index, images; a second call trains nothing; the prefix check reproduces
    the stored curve (across the resume) and catches a tampered one."""
    store, done = fig4_grid
    assert sorted(d["name"] for d in done) == [FREY, RUN] and [d["samples"] for d in done] == [1000, 1000]
    assert sorted(done[0]["files"]) == ["config.json", "curve.csv", "decoder.npz", "images.npz"]
    shutil.copytree(store, tmp_path, dirs_exist_ok=True)
    done = run_figure(4, 2000, results_dir=tmp_path, workers=2, log=lambda s: None)  # both extended, in the pool
    assert sorted(d["name"] for d in done) == [FREY, RUN]
    rows = index_rows(tmp_path)
    with open(tmp_path / "index.csv") as f:
        assert list(csv.DictReader(f)) == [{k: str(v) for k, v in r.items()} for r in rows]
    assert list(rows[0]) == INDEX_COLUMNS and [r["samples"] for r in rows] == [2000, 2000]
    assert {r["figures"] for r in rows} == {"2;4;frey-split", "4;5"}  # figures and the studies sharing the run
    images = load_images(tmp_path / "runs" / RUN)
    assert images["manifold"].shape == (GRID_N**2, 784) and images["samples"].shape == (100, 784)
    assert 0 <= images["manifold"].min() and images["manifold"].max() <= 1 and images["manifold"].std() > 0

    assert run_figure(4, 2000, results_dir=tmp_path, log=lambda s: None) == []  # nothing left to do
    curve = read_csv(tmp_path / "runs" / RUN / "curve.csv")
    assert [r["samples"] for r in curve] == [1000, 1800, 2000]  # the fixture's row, then the extension's
    runs = {r.name: r for r in figure_runs(4, tmp_path)}
    assert runs[RUN].curve == curve and runs[RUN].lr in (0.01, 0.02, 0.1)

    rows = check_prefix(RUN, 2000, atol=1e-3, results_dir=tmp_path)
    assert {r["samples"] for r in rows} == {1000, 1800, 2000} and max(abs(r["difference"]) for r in rows) < 1e-3
    path = tmp_path / "runs" / RUN / "curve.csv"
    path.write_text(path.read_text().replace(f"{curve[1]['test_bound']}", f"{curve[1]['test_bound'] + 0.5}"))
    with pytest.raises(AssertionError, match="test_bound at 1800 samples"):
        check_prefix(RUN, 2000, atol=0.1, results_dir=tmp_path)


def test_local_executor_reports_a_failed_task_and_finishes_the_others():
    """Tasks of a standard-library function (``json.loads(s=...)``), so that the spawned workers import only it,
    not this module and torch."""
    out = {t["s"]: r for t, r in local(json.loads, [{"s": s} for s in ("1", "[2]", "{three", "16")], workers=2)}
    assert out["1"] == 1 and out["[2]"] == [2] and out["16"] == 16
    assert isinstance(out["{three"], ValueError) and "Expecting property name" in str(out["{three"])


def test_cli_figure_lists_and_trains(fig4_store, tmp_path, capsys):
    shutil.copytree(fig4_store, tmp_path, dirs_exist_ok=True)  # Fig. 4's Frey Face run at 1,000 samples
    assert main(["figure", "4", "--budget", "2000", "--only", "frey-*", "--results", str(tmp_path),
                 "--workers", "1"]) == 0
    assert read_csv(tmp_path / "runs" / FREY / "curve.csv")[-1]["samples"] == 2000
    assert main(["figure", "4", "5", "--list", "--budget", "1000", "--results", str(tmp_path)]) == 0
    listed = capsys.readouterr().out
    assert re.search(rf"^{FREY} +2,000 samples$", listed, re.MULTILINE), listed
    assert "mnist-aevb-z20-h500-nall-s0" in listed and listed.count("mnist") == 4  # Fig. 4 and 5, no repeats
    assert main(["figure", "3", "--only", "nothing", "--results", str(tmp_path)]) == 2


def test_two_run_grid_through_a_local_ray_instance(fig4_grid, tmp_path):
    """The ray executor (Ray is an optional extra, installed by `make test`): the same two runs as the local
    pool (the fixture's, each with the step size its §5 search chose there: a step size given instead of searched
    takes the same trajectory), the same numbers."""
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.fail("Ray is not installed: pip install -r requirements-ray.txt (make test does)")
    local = fig4_grid[0]
    searched = {c: json.loads((local / "runs" / run_name(c) / "config.json").read_text())["lr_used"]
                for c in figure_configs(4, 1000)}
    run_grid([dataclasses.replace(c, lr=lr) for c, lr in searched.items()], tmp_path / "ray", executor="ray",
             workers=2, log=lambda s: None)
    for name in (RUN, FREY):
        a, b = (read_csv(d / "runs" / name / "curve.csv") for d in (tmp_path / "ray", local))
        assert [{k: v for k, v in r.items() if k != "seconds"} for r in a] == \
               [{k: v for k, v in r.items() if k != "seconds"} for r in b]
        assert json.loads((tmp_path / "ray" / "runs" / name / "config.json").read_text())["lr_used"] > 0
        for f in ("images.npz", "decoder.npz"):
            assert (tmp_path / "ray" / "runs" / name / f).read_bytes() == (local / "runs" / name / f).read_bytes(), f


def test_committed_store_is_consistent():
    """results/index.csv is what the run directories say (rebuilt, never hand-edited), and every committed run
    belongs to one of the figures' or studies' grids."""
    if not (RESULTS_DIR / "index.csv").exists():
        pytest.fail("results/index.csv is missing: run `python -m aevb figure 2 3 4 5`")
    with open(RESULTS_DIR / "index.csv") as f:
        stored = list(csv.DictReader(f))
    assert stored == [{k: str(v) for k, v in r.items()} for r in index_rows(RESULTS_DIR)]
    seeds = sorted({int(r["seed"]) for r in stored})
    names = {run_name(c) for c in grid(list(FIGURES) + list(STUDIES), 1, seeds)}  # the figures' and studies' runs
    assert {r["path"].split("/")[-1] for r in stored} <= names
    assert all(r["figures"] for r in stored)


def test_tasks_return_their_files(tmp_path):
    config = dataclasses.replace(figure_configs(4, 1000)[0], lr=0.02)
    (out,) = train_task([dataclasses.asdict(config)], [str(tmp_path / "a" / "runs" / "x")], threads=1)
    assert set(out["files"]) == {"config.json", "curve.csv", "images.npz", "decoder.npz"} and out["samples"] == 1000
    out["name"] = "y"
    run_dir = store_files(out["name"], out["files"], tmp_path / "b")  # what the caller does with a Ray worker's result
    assert run_dir == tmp_path / "b" / "runs" / "y"
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(out["files"])
    assert (run_dir / "curve.csv").read_bytes() == (tmp_path / "a" / "runs" / "x" / "curve.csv").read_bytes()


def _ctrl_c_enabled():
    """In the child, before it runs: SIGINT back to its default. A process started in the background by a shell
    without job control (``make test &``) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_a_run_in_progress_records_its_step_size(tmp_path):
    """config.json says which step size a run uses from its first checkpoint on (the prefix check and the
    index read it from runs still training), and again after a resume: a run of ``python -m aevb train`` that
    searches its step size is interrupted (Ctrl-C, SIGINT) as soon as config.json names one, while it trains on,
    then resumed."""
    out = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "aevb", "train", "--n-z", "2", "--hidden", "20", "--budget", "1e7",
                          "--n-train", "500", "--lr", "auto", "--checkpoint-every", "1000", "--no-progress",
                          "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         preexec_fn=_ctrl_c_enabled)
    try:
        meta, deadline = {}, time.time() + 120
        # config.json names the step size before the first checkpoint is written: wait for it, the checkpoint
        # and the curve (written one after the other at the first evaluation)
        while not ("lr_used" in meta and (out / "checkpoint.pt").exists() and (out / "curve.csv").exists()) \
                and p.poll() is None \
                and time.time() < deadline:
            time.sleep(0.02)
            if (out / "config.json").exists():  # written atomically: always whole
                meta = json.loads((out / "config.json").read_text())
        assert p.poll() is None, f"the run stopped before it named its step size: {p.communicate()[1]}"
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()  # a no-op once it has exited
    assert p.returncode != 0 and "KeyboardInterrupt" in err  # it was interrupted, not finished
    config = load_config(out)
    assert (config.budget, config.lr) == (10**7, None)
    assert meta["lr_used"] in config.lr_candidates and set(meta["lr_search"]) == {str(c) for c in config.lr_candidates}
    assert json.loads((out / "config.json").read_text()) == meta  # what the interrupted run left
    reached = torch.load(out / "checkpoint.pt", weights_only=True)["trainer"]["samples"]
    assert 1000 <= reached < 10**7 and read_csv(out / "curve.csv")[0]["samples"] == 1000
    resumed = run(dataclasses.replace(config, budget=reached + 2000), out)  # a shorter budget, to finish here
    assert resumed.lr == meta["lr_used"] and resumed.curve[-1]["samples"] == reached + 2000
    assert json.loads((out / "config.json").read_text())["lr_used"] == meta["lr_used"]


def test_a_finished_run_without_its_images_is_drawn_again(fig4_grid, tmp_path):
    """A Fig. 4/5 run whose images were lost (e.g. the runner was killed after the run finished) is pending until
    they are drawn; drawing it does not train it further."""
    shutil.copytree(fig4_grid[0], tmp_path, dirs_exist_ok=True)  # Fig. 4's runs at 1,000 samples
    run_dir = tmp_path / "runs" / FREY
    before = (run_dir / "images.npz").read_bytes()
    assert pending(figure_configs(4, 1000), tmp_path) == []
    (run_dir / "images.npz").unlink()
    assert [run_name(c) for c in pending(figure_configs(4, 1000), tmp_path)] == [run_dir.name]
    run_figure(4, 1000, only="frey-*", results_dir=tmp_path, workers=1, log=lambda s: None)
    assert (run_dir / "images.npz").read_bytes() == before and samples_of(run_dir) == 1000


def samples_of(run_dir):
    return int(read_csv(run_dir / "curve.csv")[-1]["samples"])


def test_the_seeds_of_a_run_are_one_stacked_task(tmp_path, capsys):
    """With several seeds, the runs that differ only in their seed form one task (stacked where the algorithm is
    fused; MCEM's runs stay alone), each seed stored in its own directory with its own curve; the CLI's
    --seed 0-1 does the same for one run."""
    groups = tasks(grid([2, 3], 1000, [0, 1]))
    assert sorted(map(len, groups)) == [1] * 4 + [2] * 22  # 18 Fig. 2 + 4 Fig. 3 runs stacked, 2 MCEM x 2 alone
    assert all(len({dataclasses.replace(c, seed=0) for c in g}) == 1 for g in groups)
    assert sorted(map(len, tasks(grid([2], 1000, [0, 1]), stack=False))) == [1] * 36
    # Fig. 4's Frey Face run for seeds 0 and 1, its step size given (the stacked §5 search: tests/test_fused.py)
    frey = [dataclasses.replace(c, lr=0.02) for c in select(grid([4], 1000, [0, 1]), "frey-*")]
    assert len(tasks(frey)) == 1
    done = run_grid(frey, tmp_path / "store", workers=1, log=lambda s: None)
    assert sorted(d["name"] for d in done) == [FREY, "frey-aevb-z2-h200-nall-s1"]
    curves = [read_csv(tmp_path / "store" / "runs" / d["name"] / "curve.csv") for d in done]
    assert curves[0] != curves[1] and [r["samples"] for r in curves[0]] == [r["samples"] for r in curves[1]]
    assert main(["train", "--dataset", "frey", "--n-z", "2", "--hidden", "20", "--budget", "1000", "--lr", "0.02",
                 "--seed", "0-1", "--no-progress", "--out", str(tmp_path / "cli")]) == 0
    assert [read_csv(tmp_path / "cli" / s / "curve.csv")[-1]["samples"] for s in ("s0", "s1")] == [1000, 1000]
    with pytest.raises(SystemExit):  # argparse: "'3-1': a range of seeds goes up, like 0-3"
        main(["train", "--seed", "3-1"])
    assert "a range of seeds goes up" in capsys.readouterr().err

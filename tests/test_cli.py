"""``python -m aevb train``: a real subprocess writes config.json, curve.csv and a checkpoint that
loads back into the same model; bad flags get a clear message; ``evaluate`` and every algorithm's ``train``, run in
this process (the ``cli`` fixture: ``aevb.cli.main``, what ``python -m aevb`` calls)."""
import json
import subprocess
import sys

import torch

from aevb.files import read_csv
from aevb.experiments.runs import load_model


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "aevb", *args], capture_output=True, text=True, timeout=300)


def test_train_writes_a_run_directory(tmp_path):
    out = tmp_path / "run"
    p = _cli("train", "--dataset", "mnist", "--n-z", "3", "--hidden", "40", "--budget", "3e3",
             "--n-train", "500", "--lr", "0.1", "--seed", "1", "--no-progress", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert "3000 samples" in p.stdout and "test bound" in p.stdout
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["config"]["n_z"] == 3 and cfg["config"]["hidden"] == [40] and cfg["lr_used"] == 0.1
    assert cfg["environment"]["torch"].startswith("2.13.0")
    rows = read_csv(out / "curve.csv")
    assert list(rows[0]) == ["samples", "seconds", "train_bound", "test_bound"]
    assert rows[-1]["samples"] == 3000
    model = load_model(out)
    assert model.n_z == 3 and model.hidden == (40,)
    x = torch.rand(2, 784)
    assert model.log_likelihood(x, model.encoder(x).mean).shape == (2,)


def test_bad_arguments_are_named(tmp_path, cli):
    p = cli("train", "--dataset", "cifar", "--out", str(tmp_path))
    assert p.returncode == 2 and "--dataset" in p.stderr and "cifar" in p.stderr
    p = cli("train", "--budget", "-5", "--out", str(tmp_path))
    assert p.returncode == 2 and "--budget" in p.stderr and "positive" in p.stderr
    p = cli("train", "--hidden", "5x", "--out", str(tmp_path))
    assert p.returncode == 2 and "--hidden" in p.stderr
    p = cli("train", "--lr", "fast", "--out", str(tmp_path))
    assert p.returncode == 2 and "'auto'" in p.stderr


def test_evaluate_each_method_on_a_trained_run_and_record_marginals(tmp_path, cli):
    out = tmp_path / "run"
    p = cli("train", "--n-z", "2", "--hidden", "20", "--budget", "2000", "--n-train", "300", "--lr", "0.1",
             "--marginal", "hmc", "--marginal-points", "20", "--no-progress", "--out", str(out))
    assert p.returncode == 0, p.stderr
    rows = read_csv(out / "curve.csv")
    assert list(rows[0])[-2:] == ["train_marginal", "test_marginal"]
    # log p(x) >= the lower bound, up to the noise of 20 points
    assert rows[-1]["test_marginal"] > rows[-1]["test_bound"] - 2
    for method, extra in (("hmc", []), ("iwae", ["--k", "50"]), ("ais", ["--n-chains", "2", "--n-steps", "20"])):
        p = cli("evaluate", str(out), "--method", method, "--split", "test", "--n-points", "15", *extra)
        assert p.returncode == 0, p.stderr
        assert f"{method} log p(x), test, first 15 points" in p.stdout
        est = read_csv(out / f"marginal-{method}-test.csv")
        assert len(est) == 15 and all(r["log_px"] < 0 for r in est)


def test_evaluate_a_missing_run_is_a_clear_error(tmp_path, cli):
    p = cli("evaluate", str(tmp_path / "nope"))
    assert p.returncode == 2 and "config.json" in p.stderr


def test_every_algorithm_trains_from_the_cli(tmp_path, cli):
    common = ["--n-z", "2", "--hidden", "20", "--budget", "2000", "--n-train", "300", "--lr", "0.05",
              "--marginal-points", "10", "--no-progress"]
    expect = {"wake-sleep": ["train_bound", "test_bound"], "full-vb": ["train_bound", "test_bound", "kl_theta"],
              "mcem": ["train_marginal", "test_marginal"]}  # (aevb: test_train_writes_a_run_directory)
    for algorithm, columns in expect.items():
        out = tmp_path / algorithm
        p = cli("train", "--algorithm", algorithm, *common, "--out", str(out))
        assert p.returncode == 0, p.stderr
        assert list(read_csv(out / "curve.csv")[-1]) == ["samples", "seconds", *columns]
    assert "--marginal hmc" in p.stdout  # mcem without --marginal: App. D, said out loud
    p = cli("evaluate", str(tmp_path / "mcem"), "--method", "iwae", "--n-points", "5")
    assert p.returncode == 2 and "no recognition model" in p.stderr
    p = cli("evaluate", str(tmp_path / "full-vb"), "--method", "hmc", "--n-points", "5")
    assert p.returncode == 2 and "full-vb" in p.stderr
    p = cli("evaluate", str(tmp_path / "mcem"), "--method", "hmc", "--n-points", "5")
    assert p.returncode == 0 and "hmc log p(x), test, first 5 points" in p.stdout

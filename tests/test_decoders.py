"""Issue 27: a Fig. 4 run stores its decoder (aevb.experiments.decoders, ``decoder.npz``): written by the runner
beside ``images.npz``, float16 only where the decoded means stay within 1/255 of the float32 decoder's, the test
encodings with their labels, checksummed and checked on read; the committed runs' files decode to their
committed Fig. 4 images."""
import shutil

import numpy as np
import pytest
import torch

from aevb.data import load_mnist, load_split
from aevb.experiments.decoders import (DECODER_FILE, STORED_ERROR, checksum, decode_stored, decoder_arrays,
                                       grey_level_difference, load_decoder, stores_decoder)
from aevb.experiments.grids import figure_configs, figures_of, grid_points, run_name
from aevb.experiments.images import load_images
from aevb.experiments.runs import checkpoint_file, load_model
from aevb.experiments.store import RESULTS_DIR, run_config, run_decoder
from aevb.files import StoreError
from aevb.models import build_vae

FREY = "frey-aevb-z2-h200-nall-s0"
MNIST = "mnist-aevb-z2-h500-nall-s0"


def test_only_fig4_runs_store_their_decoder():
    assert [run_name(c) for c in figure_configs(4, 1) if stores_decoder(c)] == [MNIST, FREY]
    assert not any(stores_decoder(c) for f in (2, 3, 5) for c in figure_configs(f, 1) if 4 not in figures_of(c))


def test_the_runner_writes_a_decoder_that_decodes_as_the_trained_one(fig4_store):
    run_dir = fig4_store / "runs" / FREY
    config = run_config(run_dir)[0]
    arrays = load_decoder(run_dir, config)
    model = load_model(run_dir)  # the float32 decoder of the run's last evaluation
    assert arrays["weight0"].dtype == np.float16 and float(arrays["max_error"]) < STORED_ERROR
    z = np.random.default_rng(1).normal(0, 2, (3000, 2)).astype(np.float32)  # wider than the prior
    with torch.no_grad():
        exact = model.decode(torch.from_numpy(z)).numpy()
    error = np.abs(decode_stored(arrays, z) - exact)
    assert error.max() < STORED_ERROR and error.max() > 0  # float16 does round
    with torch.no_grad():
        mu = model.encoder(load_split(config, "test", "cpu")).mu.numpy()
    assert np.array_equal(arrays["encodings"], mu) and "labels" not in arrays  # the Frey Face has no labels
    assert grey_level_difference(arrays, load_images(run_dir)["manifold"]) <= 1
    data = (run_dir / DECODER_FILE).read_bytes()
    assert len(data) < 300_000  # 2-200-560: float16 weights, compressed


def test_decode_stored_is_the_decoders_mean_in_float64():
    """Against the model's own decode, in float64, on random weights of both decoders (not the paper's tiny
    initialisation: weights ~ N(0, 1), so tanh and sigmoid are used over their whole range)."""
    for dataset, hidden in (("mnist", (30,)), ("frey", (20, 10))):
        vae = build_vae(dataset, 2, hidden, seed=3).double()
        with torch.no_grad():
            for p in vae.parameters():
                p.normal_(0, 1, generator=torch.Generator().manual_seed(p.numel()))
        layers = [*vae.decoder.hidden_layers, vae.decoder.head_layers[0]]
        arrays = {k: v for i, lin in enumerate(layers)
                  for k, v in ((f"weight{i}", lin.weight.detach().numpy()), (f"bias{i}", lin.bias.detach().numpy()))}
        z = np.random.default_rng(0).normal(0, 2, (500, 2))
        with torch.no_grad():
            want = vae.decode(torch.from_numpy(z)).numpy()
        assert np.abs(decode_stored(arrays, z) - want).max() < 1e-12


def test_float32_where_float16_would_err_by_more_than_a_grey_level(fig4_store):
    """Weights scaled up until float16's rounding moves some decoded pixel by more than 1/255: stored in float32."""
    run_dir = fig4_store / "runs" / FREY
    config, model = run_config(run_dir)[0], load_model(run_dir)
    with torch.no_grad():
        model.decoder.head_layers[0].weight.normal_(0, 3, generator=torch.Generator().manual_seed(0))
        model.decoder.hidden_layers[0].weight.normal_(0, 3, generator=torch.Generator().manual_seed(1))
    arrays = decoder_arrays(config, model)
    assert arrays["weight0"].dtype == np.float32 and float(arrays["max_error"]) < 1e-5
    half = {k: arrays[k].astype(np.float16) for k in arrays if k.startswith(("weight", "bias"))}
    z = grid_points().numpy()
    full = decode_stored(arrays, z)
    assert np.abs(decode_stored(half, z) - full).max() > STORED_ERROR  # what float16 would have stored


def test_mnist_decoder_holds_encodings_with_their_labels(fig4_grid):
    run_dir = fig4_grid[0] / "runs" / MNIST  # written by the runner
    config = run_config(run_dir)[0]
    arrays = load_decoder(run_dir, config)
    assert arrays["encodings"].shape == (10_000, 2) and np.array_equal(arrays["labels"], load_mnist("test")[1])
    assert [arrays[f"weight{i}"].shape for i in (0, 1)] == [(500, 2), (784, 500)]
    with torch.no_grad():
        mu = load_model(run_dir).encoder(load_split(config, "test", "cpu")).mu.numpy()
    np.testing.assert_allclose(arrays["encodings"], mu, rtol=0, atol=1e-5)  # the encoder's means of the test images


# ---- checked on read -------------------------------------------------------------------------------------------

def _rewrite(path, change):
    """Load, change(arrays) in place, save again (with ``sha256`` as it was unless change set it)."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    change(arrays)
    np.savez(path, **arrays)


def _resummed(change):
    def both(a):
        change(a)
        a["sha256"] = checksum(a)
    return both


def _one_array(path):
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))


def _torn(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


FAULTS = {
    "deleted": (lambda p: p.unlink(), "not found"),
    "empty": (lambda p: p.write_bytes(b""), "is empty"),
    "torn": (_torn, "cannot be read as an npz archive (BadZipFile"),
    "foreign": (lambda p: p.write_bytes((p.parent / "curve.csv").read_bytes()), "cannot be read as an npz archive"),
    "one array": (lambda p: _one_array(p), "holds one array, not an npz archive"),
    "an array missing": (lambda p: _rewrite(p, lambda a: a.pop("bias1")),
                         "holds the arrays bias0, encodings, max_error, sha256, weight0, weight1; expected"),
    "a weight changed": (lambda p: _rewrite(p, lambda a: a["weight1"].__setitem__((3, 4), 1.0)),
                         "does not match its checksum (sha256)"),
    "an encoding changed": (lambda p: _rewrite(p, lambda a: a["encodings"].__setitem__((0, 0), 9.0)),
                            "does not match its checksum (sha256)"),
    "no checksum": (lambda p: _rewrite(p, lambda a: a.pop("sha256")), "expected bias0, bias1, encodings"),
    "a wrong shape": (lambda p: _rewrite(p, _resummed(lambda a: a.__setitem__("weight1", a["weight1"][:, :5]))),
                      "weight1 has shape (560, 5); expected (560, 200)"),
    "mixed precision": (lambda p: _rewrite(p, _resummed(lambda a: a.__setitem__("bias0", a["bias0"].astype(
                        np.float32)))), "holds weights of ['float16', 'float32']; expected all float16 or all"),
    "not finite": (lambda p: _rewrite(p, _resummed(lambda a: a["bias1"].__setitem__(0, np.inf))),
                   "holds weights or encodings that are not finite"),
    "float16 too coarse": (lambda p: _rewrite(p, _resummed(lambda a: a.__setitem__("max_error", np.float64(0.01)))),
                           "holds float16 weights whose decoded means were 0.01 from the float32 decoder's"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_bad_decoder_file_is_named_with_the_command_that_regenerates_it(fig4_store, tmp_path, fault):
    run_dir = shutil.copytree(fig4_store / "runs" / FREY, tmp_path / "runs" / FREY)
    checkpoint_file(run_dir).unlink(missing_ok=True)  # as in the committed store: no checkpoint to write it again from
    path = run_dir / DECODER_FILE
    damage, problem = FAULTS[fault]
    damage(path)
    with pytest.raises(StoreError) as e:
        run_decoder(run_dir)
    msg = str(e.value)
    assert msg.startswith(f"{path}: ") and problem in msg, msg
    assert msg.endswith(f"move it away and run `python -m aevb figure 2 --only {FREY} --budget 1000 "
                        f"--results {tmp_path}`"), msg


@pytest.mark.parametrize("fault", ["deleted", "torn", "a weight changed"])
def test_a_bad_decoder_file_is_written_again_from_the_checkpoint(fig4_store, tmp_path, fault):
    run_dir = shutil.copytree(fig4_store / "runs" / FREY, tmp_path / "runs" / FREY)
    path = run_dir / DECODER_FILE
    original = path.read_bytes()
    damage, problem = FAULTS[fault]
    damage(path)
    with pytest.warns(UserWarning, match=f"{problem.split('(')[0]}.*written again from .*checkpoint.pt"):
        run_decoder(run_dir)
    assert path.read_bytes() == original


# ---- the committed store ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [MNIST, FREY])
def test_the_committed_decoders_decode_to_the_committed_fig4_images(name):
    run_dir = RESULTS_DIR / "runs" / name
    arrays = run_decoder(run_dir)
    assert arrays["weight0"].dtype == np.float16 and float(arrays["max_error"]) < STORED_ERROR
    assert grey_level_difference(arrays, load_images(run_dir)["manifold"]) <= 1
    assert (run_dir / DECODER_FILE).stat().st_size < 1_000_000

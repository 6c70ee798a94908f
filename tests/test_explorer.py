"""Chapter 10's steps for the latent-space explorer and the instrument check (issue 27, issue 25 item 6):
``aevb.book.explorer`` puts a stored decoder into the page intact; ``aevb.book.figures.check_decoders`` catches a
decoder that does not give the committed Fig. 4 images; ``instrument_rows`` reads decoder means of labelled
encodings class by class."""
import base64
import json
import re
import shutil

import numpy as np
import pytest
import torch

from aevb.book.explorer import EXPLORER_ATTRIBUTE, MIN_EXTENT, explorer_html, explorer_payload
from aevb.book.figures import check_decoders, figure_runs, instrument_facts, instrument_rows, stored_decoder
from aevb.classifier import N_CLASSES, per_class
from aevb.config import TrainConfig
from aevb.experiments.decoders import checksum, decode_stored
from aevb.experiments.grids import GRID_N, grid_points
from aevb.experiments.runs import checkpoint_file

FREY = "frey-aevb-z2-h200-nall-s0"


def _arrays(rng, widths=(2, 7, 784), n=300, labels=True, dtype=np.float16):
    """A decoder.npz's arrays of random weights (not a trained model), with encodings and labels."""
    out = {}
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        out[f"weight{i}"] = rng.normal(0, 1, (b, a)).astype(dtype)
        out[f"bias{i}"] = rng.normal(0, 1, b).astype(dtype)
    out["encodings"] = rng.normal(0, 1.5, (n, 2)).astype(np.float32)
    if labels:
        out["labels"] = rng.integers(0, N_CLASSES, n).astype(np.uint8)
    out["max_error"] = np.float64(0.001)
    return {**out, "sha256": checksum(out)}


def _decoded(b64, dtype):
    return np.frombuffer(base64.b64decode(b64), dtype=np.dtype(dtype).newbyteorder("<"))


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_the_payload_carries_the_stored_arrays_bit_for_bit(dtype):
    arrays = _arrays(np.random.default_rng(0), dtype=dtype)
    p = explorer_payload("mnist", "MNIST", arrays, TrainConfig(dataset="mnist", n_z=2, hidden=(7,)))
    assert p["dtype"] == np.dtype(dtype).name and p["shape"] == [28, 28] and len(p["layers"]) == 2
    for i, layer in enumerate(p["layers"]):
        w, b = arrays[f"weight{i}"], arrays[f"bias{i}"]
        assert (layer["rows"], layer["cols"]) == w.shape
        assert np.array_equal(_decoded(layer["weight"], dtype).reshape(w.shape), w)
        assert np.array_equal(_decoded(layer["bias"], dtype), b)
    assert np.array_equal(_decoded(p["encodings"], np.float32).reshape(-1, 2), arrays["encodings"])
    assert np.array_equal(_decoded(p["labels"], np.uint8), arrays["labels"])
    grid = grid_points().numpy()
    assert len(p["grid"]) == GRID_N and np.allclose(sorted(set(grid[:, 0])), p["grid"])
    assert p["extent"] >= MIN_EXTENT and np.mean(np.abs(arrays["encodings"]) <= p["extent"]) >= 0.995


def test_the_plane_is_wide_enough_for_far_encodings():
    arrays = _arrays(np.random.default_rng(1))
    arrays["encodings"] = arrays["encodings"] * 4  # |z| up to about 20
    p = explorer_payload("mnist", "MNIST", arrays, TrainConfig(dataset="mnist", n_z=2, hidden=(7,)))
    assert p["extent"] > MIN_EXTENT and np.mean(np.abs(arrays["encodings"]) <= p["extent"]) >= 0.995


def test_the_markup_names_the_explorer_and_no_text_can_end_its_script():
    arrays = _arrays(np.random.default_rng(2), widths=(2, 5, 560), labels=False)
    title = 'Frey </script><script>alert("x")</script>'
    markup = explorer_html("frey", title, arrays, TrainConfig(dataset="frey", n_z=2, hidden=(5,)))
    assert markup.startswith(f'<div class="aevb-explorer" {EXPLORER_ATTRIBUTE}="frey">')
    assert markup.count("</script>") == 1  # only the data script's own end
    data = re.search(r'<script type="application/json" class="aevb-explorer-data">(.*?)</script>', markup).group(1)
    payload = json.loads(data)
    assert payload["title"] == title and payload["labels"] is None and payload["shape"] == [28, 20]


def test_instrument_rows_read_the_decoder_means_of_the_encodings():
    """Against ``per_class`` run here on the raw images and on ``decode_stored``'s means, with a stand-in classifier
    whose answer depends on every pixel (a fixed random linear map)."""
    rng = np.random.default_rng(3)
    arrays = _arrays(rng, n=400)
    classifier = torch.nn.Linear(784, N_CLASSES)
    with torch.no_grad():
        classifier.weight.normal_(0, 0.3, generator=torch.Generator().manual_seed(0))
    images = rng.uniform(0, 1, (400, 784)).astype(np.float32)
    rows = instrument_rows(classifier, images, arrays["labels"].astype(np.int64), arrays, 0.5)
    raw = per_class(classifier, images, arrays["labels"], 0.5)
    dec = per_class(classifier, decode_stored(arrays, arrays["encodings"]), arrays["labels"], 0.5)
    assert [r["class"] for r in rows] == [*range(N_CLASSES), "all"]
    for r, a, b in zip(rows, raw, dec):
        assert r["accuracy"] == a["accuracy"] and r["decoded accuracy"] == b["accuracy"]
        assert r["decoded confident"] == b["share"] and r["digits"] == a["images"]
        assert r["read as"] == ("" if b["read as"] < 0 or r["class"] == "all" else str(b["read as"]))
    assert rows[-1]["decoded accuracy"] != rows[-1]["accuracy"]  # the two readings are of different images
    with pytest.raises(ValueError, match="not of these test images"):
        instrument_rows(classifier, images, np.roll(arrays["labels"], 1), arrays, 0.5)


def test_instrument_facts_name_the_worst_and_best_classes():
    rows = [{"class": c, "decoded accuracy": a, "read as": r, "decoded confident": 0.5,
             "decoded confident accuracy": 0.9}
            for c, a, r in [(0, 0.9, "6"), (1, 0.99, "7"), (2, 0.2, "8"), (3, 0.5, "5"), (4, 0.3, "9")]]
    rows.append({"class": "all", "decoded accuracy": 0.578, "read as": "", "decoded confident": 0.25,
                 "decoded confident accuracy": None})
    facts = instrument_facts(rows, shown=2)
    assert facts["inst_worst"] == "2 (20%, most often misread as 8); 4 (30%, most often misread as 9)"
    assert facts["inst_best"] == "1 (99%), 0 (90%)"
    assert facts["inst_accuracy"] == pytest.approx(57.8) and facts["inst_share"] == 25
    assert np.isnan(facts["inst_confident"])


def test_check_decoders_passes_a_stored_decoder_and_catches_images_it_does_not_give(fig4_store, tmp_path):
    runs = figure_runs(4, fig4_store)
    table = check_decoders(runs)
    assert list(table.frame["run"]) == [FREY] and int(table.frame["grey"][0]) <= 1
    assert stored_decoder(next(r for r in runs if r.name == FREY)) is not None
    assert stored_decoder(next(r for r in runs if r.name != FREY)) is None  # MNIST's run is not in this store

    store = shutil.copytree(fig4_store, tmp_path / "store")
    path = store / "runs" / FREY / "images.npz"
    with np.load(path) as f:
        images = {k: f[k].copy() for k in f.files}
    images["manifold"][17, 100] = (int(images["manifold"][17, 100]) + 128) % 256  # one pixel, far off
    np.savez_compressed(path, **images)
    with pytest.raises(AssertionError, match="decodes the Fig. 4 grid 12[78] grey levels away"):
        check_decoders(figure_runs(4, store))
    (store / "runs" / FREY / "decoder.npz").unlink()
    checkpoint_file(store / "runs" / FREY).unlink(missing_ok=True)
    with pytest.raises(AssertionError, match="decoder.npz: not found"):
        check_decoders(figure_runs(4, store))

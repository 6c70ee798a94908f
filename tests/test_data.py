"""Data loaders (§5): the real files, their splits and scaling, checksums, and the errors a user sees.

Reference numbers come from ../shared/data/README.md (computed independently of this code).
"""
import dataclasses
import hashlib
import json
import shutil

import numpy as np
import pytest
import torch

from aevb import data
from aevb.config import TrainConfig
from aevb.data import SOURCES, DataError, load_frey_face, load_mnist, load_split
from aevb.experiments.grids import run_name, study_configs
from aevb.validation import ParameterError

REAL_FREY = data.data_dir() / SOURCES["frey"].relpath  # before any test redirects AEVB_DATA_DIR


def test_mnist_splits_shapes_and_scaling():
    sizes = {"train": 50_000, "valid": 10_000, "test": 10_000}
    for split, n in sizes.items():
        x, y = load_mnist(split)
        assert x.shape == (n, 784) and x.dtype == np.float32 and y.dtype == np.int64
        assert x.min() == 0.0 and x.max() == 1.0
    x, y = load_mnist("train")
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(y).tolist() == [4932, 5678, 4968, 5101, 4859, 4506, 4951, 5175, 4842, 4988]
    assert abs(x.mean() - 0.130961) < 1e-5
    assert load_mnist("test")[1][:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(load_mnist("valid")[1]).tolist() == [991, 1064, 990, 1030, 983, 915, 967, 1090, 1009, 961]


def test_frey_face_and_its_fixed_split():
    x = load_frey_face()
    assert x.shape == (1965, 560) and x.dtype == np.float32
    assert abs(x.min() - 8 / 255) < 1e-7 and abs(x.max() - 238 / 255) < 1e-7
    assert abs(x.mean() - 0.605729) < 1e-5
    train, test = load_frey_face("train"), load_frey_face("test")
    assert train.shape == (1785, 560) and test.shape == (180, 560)
    mask = data.frey_test_mask()
    np.testing.assert_array_equal(test, x[mask])
    np.testing.assert_array_equal(train, x[~mask])
    assert np.flatnonzero(mask)[:3].tolist() == [180, 181, 182]  # block 9 of 20 frames


FRAMES_TEST_SHA = "5c4eed9fb938c694cc9c16c7d7c7b2caec52c891985e9b662d043798b8a4e993"  # sha256 of the sorted
# int64 test indices of frey_split="frames" (FREY_FRAMES_SEED = 0): a change of seed or of numpy's stream fails here


def frey(**kw) -> TrainConfig:
    return TrainConfig(dataset="frey", hidden=(200,), n_z=2, **kw)


def test_frey_frame_split_is_fixed_disjoint_and_not_the_block_split():
    mask = data.frey_test_mask(1965, "frames")
    np.testing.assert_array_equal(mask, data.frey_test_mask(1965, "frames"))  # deterministic
    test = np.flatnonzero(mask)
    assert mask.sum() == data.frey_test_mask().sum() == 180
    assert hashlib.sha256(test.astype(np.int64).tobytes()).hexdigest() == FRAMES_TEST_SHA  # the same draw always
    blocks = np.flatnonzero(data.frey_test_mask())
    assert len(np.intersect1d(test, blocks)) < 40  # about 180 * 180 / 1965 = 16 shared by chance, not the blocks
    x = load_frey_face()
    train, test_x = load_frey_face("train", "frames"), load_frey_face("test", "frames")
    assert train.shape == (1785, 560) and test_x.shape == (180, 560)
    np.testing.assert_array_equal(test_x, x[mask])
    np.testing.assert_array_equal(train, x[~mask])  # together all 1965 frames, each once
    cfg = frey(frey_split="frames")
    np.testing.assert_array_equal(load_split(cfg, "test", torch.device("cpu")).numpy(), x[mask])


def test_frey_no_split_trains_on_every_frame_and_tests_on_the_block_frames():
    x = load_frey_face()
    cfg = frey(frey_split="none")
    train, test = (load_split(cfg, s, torch.device("cpu")).numpy() for s in ("train", "test"))
    np.testing.assert_array_equal(train, x)
    np.testing.assert_array_equal(test, load_frey_face("test"))
    np.testing.assert_array_equal(load_split(frey(), "train", torch.device("cpu")).numpy(), load_frey_face("train"))


def test_frey_scale_256_is_exactly_the_same_integers():
    x255 = load_split(frey(), "train", torch.device("cpu")).numpy().astype(np.float64)
    x256 = load_split(frey(frey_scale=256), "train", torch.device("cpu")).numpy().astype(np.float64)
    k = np.rint(x255 * 255)
    assert np.abs(x255 * 255 - k).max() < 1e-4 and x256.max() == 238 / 256  # 1/256 steps are exact in float32
    np.testing.assert_array_equal(x256 * 256, k)


def test_frey_settings_are_checked_and_need_the_frey_face():
    for name, value in (("frey_split", "frames"), ("frey_split", "none"), ("frey_scale", 256)):
        with pytest.raises(ParameterError, match=f"parameter '{name}' = {value!r} is not allowed with dataset "
                                                 "'mnist'.*Frey Face only"):
            TrainConfig(dataset="mnist", **{name: value})
    with pytest.raises(ParameterError, match=r"'frey_split' = 'random' is not allowed.*'blocks', 'frames', 'none'"):
        frey(frey_split="random")
    for bad in (128, 256.0, "256", True):
        with pytest.raises(ParameterError, match=f"'frey_scale' = {bad!r} is not allowed.*255, 256"):
            frey(frey_scale=bad)
    with pytest.raises(ParameterError, match="'frey_split' = 'random'"):
        data.frey_test_mask(1965, "random")
    with pytest.raises(ParameterError, match="'frey_scale' = 100"):
        load_frey_face("train", scale=100)
    TrainConfig(dataset="mnist", frey_split="blocks", frey_scale=255)  # the defaults are fine anywhere


def test_old_stored_configs_load_with_the_data_defaults_and_keep_their_names():
    stored = json.loads(json.dumps(dataclasses.asdict(frey())))
    del stored["frey_split"], stored["frey_scale"]  # a config.json written before these settings
    old = TrainConfig.from_dict(stored)
    assert (old.frey_split, old.frey_scale) == ("blocks", 255)
    assert run_name(old) == "frey-aevb-z2-h200-nall-s0"  # the committed store's name, unchanged


def test_frey_split_study_runs_are_named_apart():
    names = [run_name(c) for c in study_configs("frey-split", 1_000_000)]
    assert len(set(names)) == len(names) == 16
    assert {"frey-aevb-z20-h200-nall-s0", "frey-aevb-z20-h200-nall-frames-s0",  # Fig. 2's run is shared
            "frey-aevb-z20-h200-nall-none-s0", "frey-aevb-z20-h200-nall-div256-s0"} <= set(names)


def test_bad_split_names_are_clear_errors():
    with pytest.raises(ValueError, match="split='validation'.*'train', 'valid', 'test'"):
        load_mnist("validation")
    with pytest.raises(ValueError, match="split='valid'"):
        load_frey_face("valid")


@pytest.fixture
def empty_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("AEVB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AEVB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_missing_file_without_network_names_file_path_and_variable(empty_dirs, no_network):
    with pytest.raises(DataError) as e:
        load_frey_face()
    msg = str(e.value)
    assert "frey_rawface.mat" in msg and str(empty_dirs / "data") in msg and "AEVB_DATA_DIR" in msg
    assert "network disabled" in msg  # the download was tried


def test_corrupt_file_is_moved_aside_and_never_used(empty_dirs, no_network):
    bad = empty_dirs / "data" / "frey_rawface.mat"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not the file")
    with pytest.raises(DataError, match="moved to"):
        load_frey_face()
    assert not bad.exists()
    aside = list(bad.parent.glob("frey_rawface.mat.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == b"not the file"  # kept, not deleted


def test_download_is_verified_and_then_cached(empty_dirs, monkeypatch):
    """A missing file is fetched from its source, verified, stored in AEVB_DATA_DIR, and the decoded array cached
    in AEVB_CACHE_DIR, where the next load reads it. The sources are public internet addresses, which a test
    cannot reach (and must not depend on): the source's mirror list is pointed at a first mirror that fails and
    a file:// copy of the real file, fetched through the same urllib path."""
    mirror = empty_dirs / "mirror.mat"
    shutil.copy(REAL_FREY, mirror)
    monkeypatch.setitem(SOURCES, "frey", data.Source("frey_rawface.mat", SOURCES["frey"].sha256,
                                                     ("file:///nonexistent/first-mirror-fails", mirror.as_uri())))
    x = load_frey_face()
    assert (empty_dirs / "data" / "frey_rawface.mat").read_bytes() == REAL_FREY.read_bytes() and x.shape == (1965, 560)
    (cached,) = data.cache_dir().glob("*.npy")  # the decoded uint8 frames
    frames = np.load(cached)
    assert frames.dtype == np.uint8 and frames.shape == (1965, 560)
    np.testing.assert_array_equal(frames.astype(np.float32) / 255, x)
    np.save(cached, 255 - frames)  # a cache that differs from the file: what the next load returns says which it read
    np.testing.assert_array_equal(load_frey_face(), (255 - frames).astype(np.float32) / 255)


def test_download_with_wrong_checksum_is_rejected(empty_dirs, monkeypatch):
    """The source's mirror list points at a tampered file:// copy (see the test above)."""
    fake = empty_dirs / "fake.mat"
    fake.write_bytes(b"tampered")
    monkeypatch.setitem(SOURCES, "frey", data.Source("frey_rawface.mat", SOURCES["frey"].sha256, (fake.as_uri(),)))
    with pytest.raises(DataError, match="checksum"):
        load_frey_face()
    assert not (empty_dirs / "data" / "frey_rawface.mat").exists()

"""Shared test set-up: the data directory, and float64 where exact comparisons need it."""
import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

if "AEVB_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["AEVB_DATA_DIR"] = str(SHARED_DATA)


@pytest.fixture
def no_network(monkeypatch):
    """Make every download attempt fail as it would offline."""
    import urllib.error
    import urllib.request

    def refuse(*a, **k):
        raise urllib.error.URLError("network disabled in this test")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture(params=[True, False], ids=["fused", "autograd"])
def fused(request) -> bool:
    """Run the test through both ways a training step is computed, as ``TrainConfig.fused``: the fused step
    (``aevb.fused``, the default for AEVB and wake-sleep) and autograd's (``Trainer.train_step``, the reference)."""
    return request.param

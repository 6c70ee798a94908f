"""Wake-sleep (aevb/baselines/wake_sleep.py): it improves its bound on a small real subset, its sleep
phase trains the recognition model on dreamed data (checked, not assumed), and it runs from the CLI."""
import torch

from aevb.baselines.wake_sleep import WakeSleepTrainer
from aevb.runs import run
from aevb.train import TrainConfig, load_split

SMALL = TrainConfig(algorithm="wake-sleep", n_z=5, hidden=(50,), budget=20_000, n_train=1000, lr=0.05,
                    eval_train_points=500, progress=False)


def test_improves_its_bound_on_real_data():
    curve = run(SMALL).curve
    assert curve[-1]["train_bound"] > curve[0]["train_bound"] + 20
    assert curve[-1]["test_bound"] > curve[0]["test_bound"] + 20


def test_sleep_phase_trains_the_encoder_on_dreams_only():
    x = load_split(SMALL, "train", torch.device("cpu"))
    t = WakeSleepTrainer(SMALL, x, 0.05)
    seen = []  # inputs of every encoder call made with gradients enabled
    t.model.encoder.register_forward_hook(lambda m, inp, out: seen.append(inp[0]) if torch.is_grad_enabled() else None)
    dreams = []
    real_dream = t.dream
    t.dream = lambda n: dreams.append(real_dream(n)) or dreams[-1]
    batch = x[:100]
    t.train_step(batch)
    assert len(seen) == 1 and len(dreams) == 1
    assert torch.equal(seen[0], dreams[0][1])  # the encoder learned from the dreamed x ...
    assert set(seen[0].unique().tolist()) <= {0.0, 1.0}  # ... binary samples of the Bernoulli decoder,
    assert not any(torch.equal(seen[0][i], batch[i]) for i in range(len(batch)))  # not the data


def test_wake_updates_only_the_decoder_and_sleep_only_the_encoder():
    x = load_split(SMALL, "train", torch.device("cpu"))[:100]
    t = WakeSleepTrainer(SMALL, x, 0.05)
    wake, sleep, _ = t.losses(x)
    enc, dec = list(t.model.encoder.parameters()), list(t.model.decoder.parameters())
    g_wake = torch.autograd.grad(wake, enc + dec, allow_unused=True, retain_graph=True)
    g_sleep = torch.autograd.grad(sleep, enc + dec, allow_unused=True)
    assert all(g is None for g in g_wake[: len(enc)]) and all(g is not None for g in g_wake[len(enc):])
    assert all(g is not None for g in g_sleep[: len(enc)]) and all(g is None for g in g_sleep[len(enc):])

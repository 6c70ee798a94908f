"""What two choices Burda et al.'s code makes where their paper is silent are worth early in training
(``aevb.protocols``): their initialisation (Glorot uniform weights, the decoder's output bias at the mean
pixel's log-odds) instead of §5's N(0, 0.01²), and the gradient of the minibatch's sum instead of its mean (Adam
is invariant to the gradient's scale except through its ε = 1e-4). The VAE of ``burda_config`` is trained for
``--passes`` passes under each start and its test bound printed (estimator B, the first 2,000 test images).

    AEVB_DATA_DIR=/path/to/data python benchmarks/burda_start.py --passes 2

Measured here (2 passes, one thread, seed 0): §5's start with the mean −147.4 nats; with the sum −141.6; their
start and the sum (the preset) −113.3.
"""
import argparse

import torch

from aevb.data import load_split
from aevb.evaluation import average_bound
from aevb.learners.aevb import Trainer
from aevb.protocols import BURDA_N_TRAIN, burda_config
from aevb.rng import seeded


class PaperStart(Trainer):
    """The preset with §5's initialisation (what ``build_model`` draws, drawn again here)."""

    def __init__(self, config, x_train, lr):
        super().__init__(config, x_train, lr)
        self.model.load_state_dict(self.build_model(config).state_dict())


class PaperStartMean(PaperStart):
    """... and the gradient of the minibatch's mean."""

    def _descend(self, loss):
        return super()._descend(loss / self.config.batch_size) * self.config.batch_size


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passes", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    config = burda_config(budget=args.passes * BURDA_N_TRAIN, progress=False)
    x = load_split(config, "train", torch.device("cpu"))
    x_test = load_split(config, "test", torch.device("cpu"))[:2000]
    for name, cls in (("§5 start, minibatch mean", PaperStartMean), ("§5 start, minibatch sum", PaperStart),
                      ("their start, minibatch sum (the preset)", Trainer)):
        t = cls(config, x, config.lr)
        t.advance(config.budget)
        with seeded(0):
            print(f"{name:42s} test bound after {args.passes} passes: {average_bound(t.model, x_test):8.2f} nats",
                  flush=True)


if __name__ == "__main__":
    main()

"""The learners: Algorithm 1 (AEVB) and the paper's baselines, each a trainer of one model.

- ``aevb``: ``Trainer``, Algorithm 1 (its autograd step and its fused step side by side);
- ``wake_sleep`` (§4), ``mcem`` (App. E), ``full_vb`` (App. F): subclasses that override what differs;
- ``lockstep``: ``Lockstep``, K trainers advanced together (stacked where their step is fused);
- ``protocol``: the §5 protocol around them (step-size search, evaluation schedule, checkpoints): ``fit``.

``ALGORITHMS`` maps the names ``TrainConfig.algorithm`` takes to the trainers.
"""
from aevb.learners.aevb import Trainer
from aevb.learners.full_vb import FullVBTrainer
from aevb.learners.mcem import MCEMTrainer
from aevb.learners.wake_sleep import WakeSleepTrainer
from aevb.validation import ALGORITHM_NAMES

# name -> the trainer doing one step (Alg. 1, the §4/App. E baselines, App. F)
ALGORITHMS = {"aevb": Trainer, "wake-sleep": WakeSleepTrainer, "mcem": MCEMTrainer, "full-vb": FullVBTrainer}
assert tuple(ALGORITHMS) == ALGORITHM_NAMES, "aevb.validation.ALGORITHM_NAMES lists the learners of ALGORITHMS"

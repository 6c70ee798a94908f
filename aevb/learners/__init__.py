"""The learners: Algorithm 1 (AEVB) and the paper's baselines, each a trainer of one model.

- ``aevb``: ``Trainer``, Algorithm 1 through autograd (the reference), asking the run's protocol
  (``aevb.protocols``) and posterior family (``families``);
- ``wake_sleep`` (§4), ``mcem`` (App. E), ``full_vb`` (App. F): subclasses that override what differs;
- ``fused``: the fused training path (``TrainConfig.fused``): the gradients written out, K models' weights stacked,
  and ``FusedGroup``, K trainers advanced together;
- ``fitting``: the §5 fit loop around them (step-size search, evaluation schedule, checkpoints): ``fit``;
- ``online``: Algorithm 1 on a stream (§2's online, non-stationary setting): ``OnlineTrainer``, optional replay.

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

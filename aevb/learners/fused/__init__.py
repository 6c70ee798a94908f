"""The fused training path (``TrainConfig.fused``, ``--fused``): the same steps as the autograd references, with
every gradient written out by hand next to its forward pass and every intermediate in a buffer allocated once.

autograd, ``torch.distributions`` and a fresh tensor for every intermediate cost as much time as the matrix products
of the paper's small models (``benchmarks/train_speed.py``). Here the weights of K models of one shape are stacked,
W: (K, out, in), so that one batched matmul serves all K: a grid of seeds, or the §5 step-size candidates of one
run, trains in one pass. Each module sits beside the reference it is tested against (tests/test_fused.py,
tests/test_mcem.py, in float64 to 1e-10):

- ``likelihoods``: App. C's decoder likelihoods as functions of the head output, with their gradients, and the draw
  x ~ p(x|z) into a buffer (references: ``aevb.models``' decoders);
- ``blocks``: ``FusedLinear``, ``FusedMLP`` and ``FusedVAE``, the App. C MLPs of K models with their weights
  stacked, forward and backward;
- ``steps``: the fused steps of Algorithm 1 (estimator B, eq. 10) and of wake-sleep (§4), ``FUSED_STEPS``
  (references: ``aevb.learners.aevb.Trainer.train_step``, ``aevb.learners.wake_sleep.WakeSleepTrainer.losses``);
- ``log_joint``: log p(x, z) with its gradients w.r.t. z (HMC's) and w.r.t. the weights (the M-step's), for
  Monte Carlo EM's step one model at a time (reference: ``aevb.estimators.log_joint`` through autograd);
- ``group``: ``FusedGroup``, K trainers advanced together, those of one ``fused_key`` sharing one ``FusedVAE``.
"""

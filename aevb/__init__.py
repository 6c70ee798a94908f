"""aevb: a small, tested implementation of Kingma & Welling, Auto-Encoding Variational Bayes (2013).

The package map, in layers that only import downwards (``pyproject.toml``'s import-linter contracts):

- interfaces: ``cli`` (``python -m aevb``) and ``book`` (the scorecard, the chapters' knobs, the figure chapters'
  steps, chapter 8's Frey Face studies (``frey_split``, ``frey_latent_use``), chapter 12's Burda et al. benchmark
  (``burda``), the Sphinx extension);
- ``experiments``: the paper's figures and the studies (grids of runs beyond the figures) (``grids``), one run on
  disk (``runs``), their images, the results store (``store``), Fig. 3's x-axis accountings (``accounting``),
  measurements on stored models (``measurements``), the executors and the runner (``runner``);
- ``learners``: Algorithm 1 through autograd (``aevb``: ``Trainer``; ``families``: the posterior families of
  ``TrainConfig.posterior``, with the IWAE objective of ``k``), wake-sleep (§4), Monte Carlo EM (App. E), full VB
  (App. F), the fused training path (``fused``: the gradients written out, K models' weights stacked, ``FusedGroup``
  of K trainers) and the §5 fit loop (``fitting``: ``fit``);
- the mathematics, flat: ``models`` (§3, App. C), ``distributions``, ``estimators`` (§2.2-2.3, App. B),
  ``reparam`` (§2.4), ``hmc``, ``evaluation`` (the lower bound, App. D, IWAE, AIS), ``densities`` (App. D's
  fitted densities), ``latent_use`` (active units, the z-free model), ``posteriors`` (full-covariance and
  inverse-autoregressive-flow q(z|x)), ``objectives`` (the ELBO and the importance-weighted bound for any of
  them), ``inference_gap`` (Cremer et al.'s approximation and amortization gaps), ``estimator_comparison``
  (chapter 5's estimators side by side), ``classifier`` (Fig. 4's class count), ``linear_gaussian`` (a model
  with exact answers) and ``plots``;
- ``protocols``: the training protocols, each an object (§5's, App. E's annealed reading, Burda et al.'s (2015),
  with its preset ``burda_config``);
- data: ``data`` (the §5 data sets, checked and cached);
- settings: ``config`` (``TrainConfig``), ``validation`` (every knob's rule), ``datasets`` (the data sets'
  facts), ``devices``, ``rng`` (random-number state), ``files`` (atomic writes).
"""
__version__ = "0.1.0"

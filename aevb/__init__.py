"""aevb: a small, tested implementation of Kingma & Welling, Auto-Encoding Variational Bayes (2013).

Modules, in the order of the paper: ``data`` (§5 data sets), ``models`` (§3, App. C),
``estimators`` (§2.2-2.3, App. B), ``reparam`` (§2.4), ``train`` (Alg. 1, §5), ``evaluation``,
``linear_gaussian`` (a model with exact answers), ``runs`` and ``cli`` (the command line).
"""
__version__ = "0.1.0"

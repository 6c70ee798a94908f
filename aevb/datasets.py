"""The facts of the paper's two data sets (§5) in one table: image size and shape, the decoder's likelihood
(App. C: Bernoulli for MNIST's grey levels used as means, Gaussian for Frey Face) and §5's hidden units.

Plain data, read by the models, the figure grids, the plots and the command line; the loaders are
``aevb.data``.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetInfo:
    d_x: int  # pixels per image (the data dimension D)
    image_shape: tuple[int, int]  # (height, width) of one image, row-major
    likelihood: str  # the decoder p(x|z) of App. C: "bernoulli" or "gaussian"
    hidden: tuple[int, ...]  # §5: the hidden units of encoder and decoder (Fig. 2, 4, 5)


DATASETS = {
    "mnist": DatasetInfo(d_x=784, image_shape=(28, 28), likelihood="bernoulli", hidden=(500,)),
    "frey": DatasetInfo(d_x=560, image_shape=(28, 20), likelihood="gaussian", hidden=(200,)),
}

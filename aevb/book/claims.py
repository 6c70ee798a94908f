"""What the scorecard judges: the paper's empirical sentences, quoted exactly, with their place; what its figures
show where no sentence says it (our readings, labelled so); and the book's own demonstrations, kept apart.

The paper is arXiv:1312.6114v11. ``PAPER_EXCERPTS`` (``docs/paper-v11-excerpts.txt``) holds the paragraphs of its
text that contain the quoted sentences, under the place each stands; ``quoted_in`` holds a quote to them
(``tests/test_claims.py`` checks every quote). A quote may leave out mathematics the plain text cannot show,
marked "[…]".

- ``SENTENCES``: one ``Claim`` per empirical sentence of §1–§5, the figure captions and the appendices. These
  are the claims the scorecard's tally counts.
- ``READINGS``: what Fig. 3 shows with no sentence claiming it (the text says only that the three algorithms'
  convergence speed was compared); the scorecard shows them beside the sentences, labelled "the figure shows
  (our reading)", and counts them apart.
- ``DEMONSTRATIONS``: the book's own checks where the paper claims nothing (Fig. 4's and Fig. 5's captions only
  say how the pictures were made; App. F's experiments are "left to future work", §2): outside the tally.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PAPER = "arXiv:1312.6114v11"
PAPER_EXCERPTS = Path(__file__).resolve().parents[2] / "docs" / "paper-v11-excerpts.txt"
OMITTED = "[…]"  # in a quote: words (mathematics) left out


@dataclass(frozen=True)
class Claim:
    key: str  # the scorecard's name for it
    place: str  # where it stands in the paper: "§5", "Fig. 2 caption", "App. D"
    quote: str  # the paper's words, exactly (OMITTED where mathematics is left out)
    subject: str  # what is judged, in a few words, for the table
    evidence: str  # the book's page with the evidence (and anchor)


S = Claim  # the rows below read as a list
SENTENCES = (
    S("unbiased", "§1", "We show how a reparameterization of the variational lower bound yields a simple "
      "differentiable unbiased estimator of the lower bound; this SGVB (Stochastic Gradient Variational Bayes) "
      "estimator can be used for efficient approximate posterior inference in almost any model with continuous "
      "latent variables and/or parameters, and is straightforward to optimize using standard stochastic gradient "
      "ascent techniques.", "the SGVB estimator of the bound is unbiased", "03_sgvb_estimators.html"),
    S("tasks", "§1", "The learned approximate posterior inference model can also be used for a host of tasks "
      "such as recognition, denoising, representation and visualization purposes.",
      "the encoder serves recognition, denoising, representation, visualization", "13_uses.html#uses-representation"),
    S("streaming", "§2", "Note that our method can be applied to online, non-stationary settings, e.g. streaming "
      "data, but here we assume a fixed dataset for simplicity.", "AEVB works on non-stationary streams",
      "13_uses.html#uses-streaming"),
    S("sampling-slow", "§2.1", "Sampling-based solutions, e.g. Monte Carlo EM, would in general be too slow, since "
      "it involves a typically expensive sampling loop per datapoint.", "Monte Carlo EM is too slow",
      "09_fig3_marginal_likelihood.html"),
    S("vision", "§2.1", "Common applications in computer vision include image denoising, inpainting and "
      "super-resolution.", "the model serves denoising, inpainting, super-resolution", "13_uses.html#uses-vision"),
    S("score-variance", "§2.2", "This gradient estimator exhibits exhibits very high variance (see e.g. [BJP12]) "
      "and is impractical for our purposes.", "the naive gradient's variance is very high",
      "03_sgvb_estimators.html"),
    S("b-variance", "§2.3", "This yields a second version of the SGVB estimator […], corresponding to eq. (3), "
      "which typically has less variance than the generic estimator", "estimator B has less variance than A",
      "03_sgvb_estimators.html"),
    S("one-sample", "§2.3", "In our experiments we found that the number of samples L per datapoint can be set to "
      "1 as long as the minibatch size M was large enough, e.g. M = 100.", "L = 1 suffices with M = 100",
      "04_aevb_vae_mnist.html"),
    S("ws-complexity", "§4", "Wake-Sleep has the same computational complexity as AEVB per datapoint.",
      "wake-sleep costs what AEVB costs per datapoint", "08_fig2_lower_bound.html"),
    S("hidden-units", "§5", "The chosen number of hidden units is based on prior literature on auto-encoders, and "
      "the relative performance of different algorithms was not very sensitive to these choices.",
      "the algorithms' order does not depend on the hidden units", "09_fig3_marginal_likelihood.html"),
    S("fig2-ordering", "Fig. 2 caption", "Our method converged considerably faster and reached a better solution "
      "in all experiments.", "AEVB faster and better than wake-sleep, every panel", "08_fig2_lower_bound.html"),
    S("fig2-overfitting", "Fig. 2 caption", "Interestingly enough, more latent variables does not result in more "
      "overfitting, which is explained by the regularizing effect of the lower bound.",
      "more latent variables, no more overfitting", "08_fig2_lower_bound.html"),
    S("fig2-variance", "Fig. 2 caption", "The estimator variance was small (< 1) and omitted.",
      "the plotted bound's estimator variance is below 1", "08_fig2_lower_bound.html"),
    S("fig2-time", "Fig. 2 caption", "Computation took around 20-40 minutes per million training samples with a "
      "Intel Xeon CPU running at an effective 40 GFLOPS.", "20–40 minutes per million samples",
      "08_fig2_lower_bound.html"),
    S("superfluous", "§5", "Interestingly, superfluous latent variables did not result in overfitting, which is "
      "explained by the regularizing nature of the variational bound.",
      "superfluous latent variables do not overfit", "08_fig2_lower_bound.html"),
    S("appd-unreliable", "§5", "For the encoder and decoder we again used neural networks, this time with 100 "
      "hidden units, and 3 latent variables; for higher dimensional latent space the estimates became "
      "unreliable.", "App. D unreliable above 3 latent dimensions", "05_marginal_likelihood.html"),
    S("mcem-full-set", "Fig. 3 caption", "Monte Carlo EM is not an on-line algorithm, and (unlike AEVB and the "
      "wake-sleep method) can’t be applied efficiently for the full MNIST dataset.",
      "Monte Carlo EM not efficient on the full data set", "09_fig3_marginal_likelihood.html"),
    S("appd-good", "App. D", "We derived the following marginal likelihood estimator that produces good estimates "
      "of the marginal likelihood as long as the dimensionality of the sampled space is low (less then 5 "
      "dimensions), and sufficient samples are taken.", "App. D good below 5 latent dimensions",
      "05_marginal_likelihood.html"),
)

FIG3_CONTEXT = ("We compared the convergence speed for the three algorithms, for a small and large training set "
                "size. Results are in figure 3.")
READINGS = (
    Claim("fig3-wake-sleep", "§5", FIG3_CONTEXT,
          "Fig. 3 shows (our reading): AEVB ahead of wake-sleep, both panels",
          "09_fig3_marginal_likelihood.html"),
    Claim("fig3-mcem-1000", "§5", FIG3_CONTEXT,
          "Fig. 3 shows (our reading): AEVB ahead of Monte Carlo EM, N_train = 1,000",
          "09_fig3_marginal_likelihood.html#fig3-accounting"),
    Claim("fig3-mcem-50000", "§5", FIG3_CONTEXT,
          "Fig. 3 shows (our reading): AEVB ahead of Monte Carlo EM, N_train = 50,000",
          "09_fig3_marginal_likelihood.html#fig3-accounting"),
)

DEMONSTRATIONS = (
    Claim("fig4-digits", "Fig. 4 caption", "Since the prior of the latent space is Gaussian, linearly spaced "
          "coordinates on the unit square were transformed through the inverse CDF of the Gaussian to produce "
          "values of the latent variables z.", "our demonstration: the MNIST manifold shows all ten digits",
          "10_fig4_manifolds.html"),
    Claim("fig5-nz", "Fig. 5 caption", "Random samples from learned generative models of MNIST for different "
          "dimensionalities of latent space.", "our demonstration: the sampled models' test bound by N_z",
          "11_fig5_samples.html"),
    Claim("full-vb", "§2", "It is, for example, straightforward to extend this scenario to the case where we also "
          "perform variational inference on the global parameters; that algorithm is put in the appendix, but "
          "experiments with that case are left to future work.",
          "our demonstration: full VB (App. F) trains", "07_full_vb.html"),
)

CLAIMS = {c.key: c for c in SENTENCES + READINGS + DEMONSTRATIONS}


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def excerpts(path: Path = PAPER_EXCERPTS) -> dict[str, list[str]]:
    """The paper's paragraphs by place: {"§5": [paragraph, ...], ...} (whitespace normalised)."""
    out: dict[str, list[str]] = {}
    place = None
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        lines = [line for line in block.splitlines() if not line.startswith("# ")]
        if lines and lines[0].startswith("## "):
            place, lines = lines[0][3:].strip(), lines[1:]
        if place and lines:
            out.setdefault(place, []).append(_normal(" ".join(lines)))
    return out


def quoted_in(quote: str, paragraphs: list[str]) -> bool:
    """Whether ``quote`` stands, word for word, in one of ``paragraphs`` (its parts in order where it leaves out
    words with ``OMITTED``)."""
    parts = [_normal(p) for p in quote.split(OMITTED)]
    for para in paragraphs:
        at = 0
        for part in parts:
            at = para.find(part, at)
            if at < 0:
                break
            at += len(part)
        else:
            return True
    return False

"""Chapter 2 (the variational bound, §2.2, eq. 1): the figure of SGVB fitting q(z|x) to the exact posterior of a
linear-Gaussian model, drawn here so that the chapter's cell only fits and shows it."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

LOG_PX = r"$\log p(x)$ (exact)"
ELBO = r"$\mathcal{L}$ (exact, current $q$)"


def fit_figure(history: list[dict]):
    """``aevb.linear_gaussian.fit_encoder``'s ``history`` as a figure: above, log p(x) and the bound L (exact,
    per datapoint) over the SGVB steps, L rising to log p(x); below, the gap KL(q ‖ p(z|x)) on a log scale."""
    curves = pd.DataFrame(history).rename(columns={"log_px": LOG_PX, "elbo": ELBO})
    bound = curves.melt(id_vars="step", value_vars=[LOG_PX, ELBO], var_name="quantity",
                        value_name="nats per datapoint")  # long form: one row per (step, quantity)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(7.2, 5.0), sharex=True)
    sns.lineplot(data=bound, x="step", y="nats per datapoint", hue="quantity", palette=["black", "C0"], ax=a1)
    a1.set_ylim(history[-1]["log_px"] - 5, history[-1]["log_px"] + 1)
    a1.legend(title=None)
    sns.lineplot(data=curves, x="step", y="kl", color="C3", ax=a2)
    a2.set_yscale("log")
    a2.set_xlabel("SGVB step")
    a2.set_ylabel(r"$D_{KL}(q \,\|\, p(z|x))$")
    plt.tight_layout()
    return fig

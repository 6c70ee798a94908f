"""Chapter 5 (estimating the marginal likelihood, App. D, against IWAE and AIS): its models, tables, the long
forms its figures plot and the numbers its prose states, computed here so that the chapter's cells only call,
plot and glue. The comparisons themselves are ``aevb.estimator_comparison``'s.

- ``frozen_vae``: an MNIST VAE trained with the chapter's settings, on the CPU, its parameters frozen;
- ``error_table``, ``errors_vs_evals``, ``best_errors`` and ``error_facts``: each estimator's error against an
  exact answer as its compute grows;
- ``dimension_table`` and ``dimension_differences``: App. D and IWAE against AIS as N_z grows;
- ``COLUMNS``, ``kde_figure`` and ``kde_facts``: App. D's density of the posterior samples, Gaussian or KDE.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from aevb.config import TrainConfig
from aevb.densities import BANDWIDTH_MULTIPLES, scott_factor
from aevb.estimator_comparison import density_summary
from aevb.experiments.runs import run
from aevb.plots import DRAW_WIDTH, Table, table

COLUMNS = {  # the App. D study's tables: column -> header
    "mean": "mean error", "mean_abs": "mean |error|", "worst": "worst point",
    "worst_problem_mean": "worst model's mean", "bandwidth": "KDE factor / Scott's",
    "lag1": "lag-1 autocorr. (median)", "ess_sq_median": "ESS sq. (median)", "ess_sq_min": "ESS sq. (worst)"}
METHODS = {"App. D": "appd", "IWAE": "iwae", "AIS": "ais"}  # the estimators compared: name -> short name
SAMPLER_TAGS = {"fixed step": "fixed", "jittered step": "jit"}  # App. D's two samplers -> short name


def frozen_vae(n_z: int, hidden: int, budget: int, lr: float | None, seed: int, device: str):
    """An MNIST VAE with ``n_z`` latents and one hidden layer of ``hidden`` units, trained for ``budget`` samples
    (``aevb.experiments.runs.run``), on the CPU with its parameters frozen: the model the estimators estimate."""
    config = TrainConfig(n_z=n_z, hidden=(hidden,), budget=budget, lr=lr, seed=seed, device=device, progress=False)
    return run(config).model.cpu().requires_grad_(False)


def error_table(rows: list[dict], caption: str) -> Table:
    """``aevb.estimator_comparison.error_vs_compute``'s ``rows`` as the page's table."""
    return table(rows, {"method": "", "setting": "", "evals": ",d", "error": "+.3f"}, caption=caption,
                 headers={"evals": "evaluations of log p(x, z)"})


def best_errors(rows: list[dict]) -> dict[str, float]:
    """Each method's smallest absolute error in ``rows`` (nats)."""
    return {name: min(abs(r["error"]) for r in rows if r["method"] == name) for name in METHODS}


def errors_vs_evals(rows_lg: list[dict], rows_vae: list[dict]) -> pd.DataFrame:
    """The errors of both models in long form: one row per (model, method, budget), with ``abs_error``."""
    frame = pd.concat([pd.DataFrame(rows_lg).assign(model="linear-Gaussian (exact)"),
                       pd.DataFrame(rows_vae).assign(model="2-D VAE, MNIST (quadrature)")])
    frame["abs_error"] = frame["error"].abs()
    return frame


def error_facts(rows_lg: list[dict], rows_vae: list[dict]) -> dict:
    """The numbers the prose states: ``largest_{appd,iwae,ais}`` (each method's error at its largest budget, the
    last of its rows, the larger of the two models, absolute), ``largest_all``, ``iwae_vae_largest`` (signed) and
    ``appd_L50`` (App. D's largest absolute error with L = 50)."""
    last = {(m, METHODS[r["method"]]): r["error"] for m, rows in (("lg", rows_lg), ("vae", rows_vae)) for r in rows}
    facts = {f"largest_{k}": max(abs(last[m, k]) for m in ("lg", "vae")) for k in METHODS.values()}
    return facts | {"largest_all": max(abs(e) for e in last.values()), "iwae_vae_largest": last["vae", "iwae"],
                    "appd_L50": max(abs(r["error"]) for r in rows_lg + rows_vae if r["setting"] == "L=50")}


def dimension_table(study: list[dict]) -> Table:
    """``aevb.estimator_comparison.by_dimension``'s rows as the page's table."""
    return table(study, {"n_z": "d", "appd": ".2f", "iwae": ".2f", "ais": ".2f", "appd_minus_ais": "+.2f"},
                 headers={"n_z": "N_z", "appd": "App. D", "iwae": "IWAE", "ais": "AIS",
                          "appd_minus_ais": "App. D − AIS"})


def dimension_differences(study: list[dict]) -> pd.DataFrame:
    """App. D − AIS and IWAE − AIS against N_z, in long form: one row per (N_z, difference)."""
    differences = pd.DataFrame(study).assign(iwae_minus_ais=lambda d: d["iwae"] - d["ais"])
    long = differences.melt(id_vars="n_z", value_vars=["appd_minus_ais", "iwae_minus_ais"], var_name="difference",
                            value_name="nats")
    return long.replace({"appd_minus_ais": "App. D − AIS", "iwae_minus_ais": "IWAE − AIS"})


def kde_figure(rows_d: list[dict], rows_dv: list[dict]):
    """Each point's error with the KDE against with the Gaussian q, on the linear-Gaussian models (``rows_d``) and
    the 2-D VAE (``rows_dv``), a panel each (``aevb.estimator_comparison.by_density``'s rows)."""
    per_point = (pd.DataFrame(rows_d + rows_dv)
                 .pivot_table(index=["problem", "sampler", "point"], columns="density", values="error").reset_index())
    per_point["model"] = per_point["problem"].where(per_point["problem"] == "2-D VAE, MNIST", "linear-Gaussian")
    fig, axes = plt.subplots(1, 2, figsize=(DRAW_WIDTH - 0.4, 3.6))
    for ax, (model_name, title) in zip(axes, (("linear-Gaussian", "linear-Gaussian (exact)"),
                                              ("2-D VAE, MNIST", "2-D VAE, MNIST (quadrature)"))):
        sns.scatterplot(data=per_point[per_point["model"] == model_name], x="gaussian", y="kde", hue="sampler",
                        style="sampler", markers=["o", "X"], s=20, alpha=0.7, legend=ax is axes[0], ax=ax)
        ax.axline((0, 0), slope=1, color="gray", lw=0.8)
        ax.axhline(0, color="gray", lw=0.5, ls=":")
        ax.axvline(0, color="gray", lw=0.5, ls=":")
        ax.set_title(title)
        ax.set_xlabel("error with the Gaussian q (nats)")
        ax.set_ylabel("")
    axes[0].set_ylabel("error with the KDE (nats)")
    axes[0].legend(title=None)
    plt.tight_layout()
    return fig


def kde_facts(rows_d: list[dict], rows_dv: list[dict], errors: pd.DataFrame, kept: int, n_z: int) -> dict:
    """The numbers the prose states about the KDE: on the 2-D VAE ``vae_{sampler}_{density}_{mean,mean_abs,worst}``
    and ``vae_points``; ``scott`` (Scott's factor for ``kept`` // 2 fitting samples in ``n_z`` dimensions),
    ``kde_f`` and ``kde_c`` (the jittered sampler's KDE factor, and 1 + its square), ``kde_unsafe`` (the share of
    its fits with a factor of 1 or more), ``lg_kde_vs``/``vae_kde_vs`` (is the KDE's ``mean |error|`` "smaller" or
    "larger" than the Gaussian's) and ``f_safe_max``/``f_unsafe_min`` (the candidate factors either side of 1);
    ``errors`` is ``density_summary(rows_d)`` indexed by (sampler, density)."""
    vae_err = pd.DataFrame(density_summary(rows_dv)).set_index(["sampler", "density"])
    facts = {f"vae_{SAMPLER_TAGS[sampler]}_{density}_{col}": float(r[col])
             for (sampler, density), r in vae_err.iterrows() for col in ("mean", "mean_abs", "worst")}
    facts["vae_points"] = int(vae_err["points"].iloc[0])
    scott = scott_factor(kept // 2, n_z)  # N = L fitting samples
    kde_f = errors.loc[("jittered step", "kde"), "bandwidth"] * scott
    kde_rows = [r for r in rows_d if (r["sampler"], r["density"]) == ("jittered step", "kde")]
    better = {True: "smaller", False: "larger"}
    jit, vj = errors.xs("jittered step"), vae_err.xs("jittered step")
    safe = [m * scott for m in BANDWIDTH_MULTIPLES]  # the KDE's candidate factors here
    return facts | {
        "scott": scott, "kde_f": float(kde_f), "kde_c": float(1 + kde_f**2),
        "kde_unsafe": sum(r["bandwidth"] * scott >= 1 for r in kde_rows) / len(kde_rows),
        "lg_kde_vs": better[bool(jit.loc["kde", "mean_abs"] < jit.loc["gaussian", "mean_abs"])],
        "vae_kde_vs": better[bool(vj.loc["kde", "mean_abs"] < vj.loc["gaussian", "mean_abs"])],
        "f_safe_max": max(f for f in safe if f < 1), "f_unsafe_min": min(f for f in safe if f >= 1)}

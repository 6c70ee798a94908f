"""The fused path (``aevb.learners.fused``) against autograd: the decoders' likelihoods with their gradients, the
fused steps (``aevb_step``, ``wake_sleep_step``) with the same gradients and the same random draws, and K models
with their weights stacked in a ``FusedGroup`` that each follow the trajectory they would follow alone."""
import dataclasses
import json

import pytest
import torch

from aevb.learners.wake_sleep import WakeSleepTrainer
from aevb.estimators import sgvb_b
from aevb.evaluation import average_bound
from aevb.learners.fused.blocks import FusedVAE
from aevb.learners.fused.likelihoods import LIKELIHOODS
from aevb.learners.fused.steps import FUSED_STEPS
from aevb.models import VAE, build_vae
from aevb.experiments.runs import run_seeds
from aevb.learners.fitting import fit, fit_seeds
from aevb.learners.fused.group import FusedGroup
from aevb.config import TrainConfig
from aevb.data import load_split
from aevb.learners.aevb import Trainer
from aevb.rng import seeded

SMALL = TrainConfig(dataset="mnist", n_z=3, hidden=(30,), budget=3000, n_train=600, lr=0.05,
                    eval_train_points=300, checkpoint_every=1000, progress=False)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])  # the GPU where there is one


def _autograd_grads(model, x, seed, algorithm, n_samples):
    """∂J/∂(θ, φ) by autograd through the reference code, J = −(minibatch mean bound) (AEVB) or the wake and
    sleep losses (wake-sleep), with torch's global RNG seeded to ``seed``; returns (bound, grads)."""
    torch.manual_seed(seed)
    if algorithm == "aevb":
        bound = sgvb_b(model, model.encoder, x, n_samples)
        loss = -bound.mean()
    else:
        t = WakeSleepTrainer.__new__(WakeSleepTrainer)
        t.model = model
        wake, sleep, bound = t.losses(x)
        loss = wake + sleep
    grads = torch.autograd.grad(loss, list(model.parameters()))
    return bound.mean(), grads


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dataset", ["mnist", "frey"])
@pytest.mark.parametrize("hidden,algorithm,n_samples", [
    ((7,), "aevb", 1), ((6, 4), "aevb", 1), ((), "aevb", 1), ((7,), "aevb", 3),
    ((7,), "wake_sleep", 1), ((6, 4), "wake_sleep", 1)])
def test_gradients_and_bounds_are_autograds(dataset, hidden, algorithm, n_samples, device):
    """In float64, for K = 2 stacked models (different weights, data and draws), every parameter's gradient and
    the bound equal autograd's through sgvb_b / WakeSleepTrainer.losses with the same draws, to 1e-10."""
    torch.set_default_dtype(torch.float64)
    try:
        models = [build_vae(dataset, 4, hidden, seed=s).double().to(device) for s in (0, 1)]
        refs = [build_vae(dataset, 4, hidden, seed=s).double().to(device) for s in (0, 1)]
        for m, r in zip(models, refs):  # weights away from the N(0, 0.01) start, so every term matters
            with torch.no_grad():
                for p, q in zip(m.parameters(), r.parameters()):
                    q.add_(torch.randn_like(q) * 0.3)
                    p.copy_(q)
        x = torch.rand(2, 9, models[0].d_x, generator=torch.Generator().manual_seed(3)).to(device)
        vae = FusedVAE(models)
        gens = [torch.Generator(device).manual_seed(10 + k) for k in range(2)]
        with torch.no_grad():
            step = FUSED_STEPS[Trainer if algorithm == "aevb" else WakeSleepTrainer]
            bound = step(vae, x, gens, dataclasses.replace(SMALL, n_samples=n_samples))
        for k in range(2):
            ref_bound, ref_grads = _autograd_grads(refs[k], x[k], 10 + k, algorithm, n_samples)
            assert abs(bound[k].item() - ref_bound.item()) < 1e-10 * abs(ref_bound.item())
            for (name, p), g in zip(models[k].named_parameters(), ref_grads):
                err = ((vae.grads[p] - g).norm() / g.norm()).item()
                assert err < 1e-10, f"{name}: relative error {err:.1e}"
    finally:
        torch.set_default_dtype(torch.float32)


def test_module_parameters_are_views_of_the_fused_weights():
    models = [build_vae("frey", 2, (5,), seed=s) for s in (0, 1, 2)]
    before = [torch.cat([p.detach().flatten().clone() for p in m.parameters()]) for m in models]
    vae = FusedVAE(models)
    for m, b in zip(models, before):  # stacking keeps every value
        assert torch.equal(torch.cat([p.detach().flatten() for p in m.parameters()]), b)
    with torch.no_grad():
        vae.encoder.head.w[1, 2, 0] = 7.0  # row 2 of the fused heads is log σ²'s first row (N_z = 2)
        vae.decoder.head.b[2, -1] = 5.0  # the Gaussian decoder's last log σ² bias
    assert models[1].encoder.log_var.weight[0, 0] == 7.0 and models[2].decoder.log_var.bias[-1] == 5.0
    assert len(vae.grads) == sum(len(list(m.parameters())) for m in models)
    with pytest.raises(ValueError, match="one shape"):
        FusedVAE([build_vae("mnist", 2, (5,)), build_vae("mnist", 3, (5,))])


@pytest.mark.parametrize("lik,d_x", [("bernoulli", 12), ("gaussian", 10)])
def test_the_likelihoods_from_the_head_output_are_the_decoders(lik, d_x):
    """Every MLP's ``hidden_layers`` and ``head_layers`` (the structure the fused path builds on), and each
    decoder's likelihood from its head output (``LIKELIHOODS``' ``value_and_grad``, its gradient written out) against
    ``log_likelihood`` and autograd, in float64."""
    torch.manual_seed(0)
    model = VAE(d_x, 3, (8, 6), lik).double()
    for mlp, heads in ((model.encoder, [3, 3]), (model.decoder, [d_x] if lik == "bernoulli" else [d_x, d_x])):
        assert [layer.out_features for layer in mlp.hidden_layers] == [8, 6]
        assert [layer.out_features for layer in mlp.head_layers] == heads
    x, z = torch.rand(5, d_x, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    outs = []
    hooks = [layer.register_forward_hook(lambda m, i, o: outs.append(o)) for layer in model.decoder.head_layers]
    ref = model.log_likelihood(x, z).sum()  # (M,) summed
    for h in hooks:
        h.remove()
    ref_grad = torch.cat(torch.autograd.grad(-0.25 * ref, outs), -1)  # ∂J/∂(head output), J = −¼ Σ log p(x|z)
    head = torch.cat(outs, -1).detach()
    grad = torch.empty(1, *head.shape, dtype=torch.float64)
    likelihood = LIKELIHOODS[lik]
    scratch = [torch.empty(1, 5, d_x, dtype=torch.float64) for _ in range(likelihood.SCRATCH)]
    got = likelihood.value_and_grad(x[None], head[None], 0.25, grad, scratch)  # K = 1
    torch.testing.assert_close(got, (0.25 * ref).detach().reshape(1), rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(grad[0], ref_grad, rtol=1e-10, atol=1e-12)


def _bound_gap(m1, m2, x) -> float:
    """|difference| of two models' average bounds on x (same noise), in nats. Weights are compared by what they
    compute, not one by one: Adagrad divides by the root of the summed squared gradients, so a gradient component
    near 0 (a pixel that is almost always 0) takes steps of lr·g/(|g| + 1e-10) that rounding moves."""
    bounds = []
    for m in (m1, m2):
        with seeded(5):
            bounds.append(average_bound(m, x))
    return abs(bounds[0] - bounds[1])


def _curve(result):
    return [(r["samples"], r["train_bound"], r["test_bound"]) for r in result.curve]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("algorithm", ["aevb", "wake-sleep"])
def test_fused_training_draws_what_autograd_draws(algorithm, device):
    """A run trained by the fused step and the same run through autograd use the same minibatches and noise, so
    their curves agree to float32 rounding. Rounding can flip a dream pixel of wake-sleep (a uniform draw within
    rounding of its probability, so its trajectories part faster: 0.016 nats after 1000 samples on an H100), so its
    bounds are compared to 0.1 nats, AEVB's to 0.001 (other minibatches and noise move them by 0.7 to 37 nats)."""
    tol = {"aevb": 1e-3, "wake-sleep": 0.1}[algorithm]
    config = dataclasses.replace(SMALL, algorithm=algorithm, device=device)
    trainer_cls = {"aevb": Trainer, "wake-sleep": WakeSleepTrainer}[algorithm]
    x = load_split(config, "train", torch.device(device))
    a, b = trainer_cls(dataclasses.replace(config, fused=False), x, 0.05), trainer_cls(config, x, 0.05)
    group = FusedGroup([a, b])
    assert group.alone == [0] and [m for _, m in group.fused] == [[1]]
    for to in (500, 1000, 3000):
        ma, mb = group.advance(to)
        assert abs(ma - mb) < tol and torch.equal(a.batch_index, b.batch_index)
    assert _bound_gap(a.model, b.model, x[:300]) < tol


@pytest.mark.parametrize("device", DEVICES)
def test_a_group_trains_each_model_as_alone_and_one_failure_stops_only_itself(device):
    """Three trainers (other seeds, other step sizes) stacked and advanced together end where each ends alone;
    one whose bound goes NaN stops with its error, the others go on."""
    x = load_split(SMALL, "train", torch.device(device))
    cfgs = [dataclasses.replace(SMALL, seed=s, device=device) for s in (0, 1, 2)]
    lrs = (0.05, 0.02, 0.05)
    alone = [Trainer(c, x, lr) for c, lr in zip(cfgs, lrs)]
    means_alone = [FusedGroup([t]).advance(2000)[0] for t in alone]
    together = [Trainer(c, x, lr) for c, lr in zip(cfgs, lrs)]
    group = FusedGroup(together)
    assert len(group.fused) == 1 and group.fused[0][0].k == 3 and not group.alone
    means = group.advance(2000)
    for t, u, m, mu in zip(alone, together, means_alone, means):
        assert u.samples == 2000 and u.step == t.step and abs(m - mu) < 1e-3
        assert _bound_gap(t.model, u.model, x[:300]) < 1e-3
    with torch.no_grad():
        together[1].model.decoder.out.bias.fill_(float("nan"))
    means = group.advance(3000)
    assert group.errors[1] is not None and "decoder.out.bias" in str(group.errors[1])
    assert means[1] == float("-inf") and together[1].samples == 2000
    assert [together[k].samples for k in (0, 2)] == [3000, 3000] and all(abs(means[k]) < 1e4 for k in (0, 2))
    assert group.errors[0] is None and group.errors[2] is None


def test_a_member_that_stops_early_does_not_draw_for_the_others():
    """Members of one FusedVAE that reach the target at different steps (one starts 500 samples ahead) end where
    each ends alone: the finished member's generator is not drawn from by the steps it sits out."""
    x = load_split(SMALL, "train", torch.device("cpu"))
    cfgs = [dataclasses.replace(SMALL, seed=s) for s in (0, 1)]
    alone = [Trainer(c, x, 0.05) for c in cfgs]
    FusedGroup([alone[0]]).advance(500)
    for t in alone:
        FusedGroup([t]).advance(1500)
        FusedGroup([t]).advance(2000)
    together = [Trainer(c, x, 0.05) for c in cfgs]
    FusedGroup([together[0]]).advance(500)
    group = FusedGroup(together)
    group.advance(1500)  # member 0 needs 10 steps, member 1 needs 15
    group.advance(2000)
    for t, u in zip(alone, together):
        assert u.samples == t.samples == 2000 and torch.equal(u.batch_index, t.batch_index)
        assert _bound_gap(t.model, u.model, x[:300]) < 1e-3


def test_seeds_trained_in_one_pass_give_the_curves_of_separate_runs(tmp_path):
    """fit_seeds over three seeds (§5 step-size search included: 9 candidates in group) gives each seed the
    step size and curve of its own run; run_seeds writes and resumes one directory per seed."""
    cfgs = [dataclasses.replace(SMALL, lr=None, lr_search_samples=1000, budget=2000, seed=s) for s in (0, 1, 2)]
    group = fit_seeds(cfgs)
    for c, g in zip(cfgs, group):
        solo = fit(c)
        assert g.lr == solo.lr and g.lr_search.keys() == solo.lr_search.keys()
        for (s1, a1, b1), (s2, a2, b2) in zip(_curve(g), _curve(solo)):
            # rounding differs (batched matmuls of 3 models or of 1), and training amplifies it: over longer runs at
            # lr 0.1 on 600 points, one seed's curve parted by 0.6 nats after 2,500 samples, from 1e-3 before
            assert s1 == s2 and abs(a1 - a2) < 0.02 and abs(b1 - b2) < 0.02
    dirs = [tmp_path / f"s{c.seed}" for c in cfgs]
    short = run_seeds([dataclasses.replace(c, budget=1000) for c in cfgs], dirs)
    longer = run_seeds(cfgs, dirs)  # resumes each from its checkpoint: the same curve as in one go
    for s, lo, g in zip(short, longer, group):
        assert _curve(lo)[: len(s.curve)] == _curve(s) and _curve(lo) == _curve(g)
    with pytest.raises(ValueError, match="differ only in seed"):
        fit_seeds([SMALL, dataclasses.replace(SMALL, n_z=4)])


def test_a_group_with_a_run_resumed_through_autograd_trains_it_apart(tmp_path):
    """A seed whose checkpoint was trained through autograd keeps that path when resumed (its curve stays one
    computation), so it cannot share the other seeds' FusedVAE: the FusedGroup trains it beside them through
    autograd, and every run ends where it would alone."""
    cfgs = [dataclasses.replace(SMALL, budget=2000, seed=s) for s in (0, 1)]
    dirs = [tmp_path / "s0", tmp_path / "s1"]
    run_seeds([dataclasses.replace(cfgs[0], budget=1000, fused=False)], dirs[:1])
    a, b = run_seeds(cfgs, dirs)
    assert json.loads((dirs[0] / "config.json").read_text())["config"]["fused"] is False
    assert json.loads((dirs[1] / "config.json").read_text())["config"]["fused"] is True
    assert _curve(a) == _curve(fit(dataclasses.replace(cfgs[0], fused=False))) and _curve(b) == _curve(fit(cfgs[1]))

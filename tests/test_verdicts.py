"""Every verdict rule of the scorecard (aevb/book/verdicts.py) on data where its claim clearly holds, clearly
fails and is mixed: a rule that cannot return "does not hold" on failing data is a defect. And the page states
each rule with the thresholds its code uses."""
import math
import re

import pytest

from aevb.book import verdicts as v
from aevb.book.verdicts import CAVEAT, FAILS, HOLDS, UNTESTED


def curve(values, column="test_bound", start=1e5, step=10.0):
    """A curve evaluated at start, start·step, ...: one row per value."""
    return [{"samples": int(start * step**i), "seconds": float(i), column: x} for i, x in enumerate(values)]


def seeds(values, spread=0.0, column="test_bound"):
    """Three seeds of one curve, the last evaluation spread by ±spread."""
    return [curve([*values[:-1], values[-1] + d], column) for d in (-spread, 0.0, spread)]


AXIS = (1e5, 1e8)


def test_ordering_holds_fails_and_is_mixed():
    base = seeds([-150, -140, -130, -125])
    ahead = seeds([-140, -130, -120, -115])  # above everywhere, by 10
    verdict, margin, spread, _ = v.ordering(ahead, base, "test_bound", *AXIS)
    assert verdict == HOLDS and margin == pytest.approx(10) and spread == 0
    assert v.ordering(base, ahead, "test_bound", *AXIS)[0] == FAILS  # clearly behind
    late = seeds([-160, -150, -135, -124])  # behind until the end, ahead by 1 there: not faster
    assert v.ordering(late, base, "test_bound", *AXIS)[0] == FAILS  # ahead at 1 of 4 < BEHIND_SHARE
    mostly = seeds([-149, -139, -131, -124])  # ahead at 3 of 4 (75% < AHEAD_SHARE) and at the end
    assert v.ordering(mostly, base, "test_bound", *AXIS)[0] == CAVEAT
    assert v.ordering(ahead, [], "test_bound", *AXIS)[0] == UNTESTED


def test_ordering_sets_the_margin_against_the_seeds_spread():
    base = seeds([-150, -140, -130, -125], spread=3.0)
    close = seeds([-149, -139, -129, -124])  # ahead throughout by 1, but the seeds spread by 3 at the end
    assert v.ordering(close, base, "test_bound", *AXIS)[0] == CAVEAT
    behind = seeds([-149, -139, -129, -126])  # behind by 1 at the end, within the spread
    assert v.ordering(behind, base, "test_bound", *AXIS)[0] == CAVEAT
    tight = seeds([-150, -140, -130, -125])
    assert v.ordering(seeds([-149, -139, -129, -124]), tight, "test_bound", *AXIS)[0] == HOLDS  # no spread


def test_ordering_judges_only_the_papers_axis():
    """Evaluations before the paper's axis begins (10^5 in Fig. 2) do not count."""
    early = curve([-300, -290, -150, -140, -130], start=1e3)  # 10^3, 10^4: behind; from 10^5: ahead
    base = curve([-200, -200, -155, -145, -135], start=1e3)
    assert v.ordering([early], [base], "test_bound", *AXIS)[0] == HOLDS
    assert v.ordering([early], [base], "test_bound", 0, 1e8)[0] == CAVEAT  # 3 of 5 if the whole run counted


def test_ordering_within_the_estimators_error_is_decided_by_ais():
    base = seeds([-150, -140, -130, -125])
    close = seeds([-149, -139, -129, -124])  # ahead by 1, App. D's error 4
    assert v.ordering(close, base, "test_bound", *AXIS, estimator_error=4.0)[0] == CAVEAT  # undecided
    assert v.ordering(close, base, "test_bound", *AXIS, estimator_error=4.0, decider=2.0)[0] == HOLDS
    assert v.ordering(close, base, "test_bound", *AXIS, estimator_error=4.0, decider=-2.0)[0] == FAILS
    assert v.ordering(seeds([-140, -130, -120, -115]), base, "test_bound", *AXIS, estimator_error=4.0)[0] == HOLDS


def test_a_claim_about_all_panels():
    p = {x: v.Panel("p", x, "") for x in (HOLDS, CAVEAT, FAILS, UNTESTED)}
    assert v.all_panels([p[HOLDS], p[HOLDS]]) == HOLDS
    assert v.all_panels([p[HOLDS], p[CAVEAT]]) == CAVEAT
    assert v.all_panels([p[HOLDS], p[FAILS], p[CAVEAT]]) == FAILS  # "in all experiments": one failing panel
    assert v.all_panels([p[HOLDS], p[UNTESTED]]) == CAVEAT  # a panel not judged: not all of them hold
    assert v.all_panels([p[UNTESTED]]) == v.all_panels([]) == UNTESTED
    assert v.worst([HOLDS, CAVEAT]) == CAVEAT and v.worst([CAVEAT, FAILS]) == FAILS and v.worst([]) == UNTESTED


def test_gap_growth():
    tol = v.GAP_TOLERANCE
    assert v.gap_growth({3: [2.0], 200: [2.0 + tol]})[0] == HOLDS
    assert v.gap_growth({3: [2.0], 200: [2.0 + tol + 0.1]})[0] == FAILS
    assert v.gap_growth({3: [2.0, 2.0, 2.0], 200: [1.0, 5.0, 3.0]})[0] == HOLDS  # +1 within the seeds' spread (2)
    assert v.gap_growth({2: [60.0], 20: [200.0]})[0] == FAILS  # Frey Face-like
    assert v.gap_growth({3: [2.0]})[0] == UNTESTED


def test_peak_fall():
    assert v.peak_fall(seeds([-130, -120, -110, -109]))[0] == HOLDS  # still rising
    assert v.peak_fall(seeds([-130, -110, -115, -120]))[0] == FAILS  # peaked, then fell 10 nats
    assert v.peak_fall(seeds([-130, -110, -111, -111.5], spread=1.0))[0] == HOLDS  # fell 1.5, within the spread
    assert v.peak_fall([curve([-130, -110, -111, -111.5])])[0] == FAILS  # beyond 1 nat with one seed
    assert v.peak_fall([])[0] == UNTESTED


def test_the_estimator_rules():
    assert v.unbiased(2.0) == HOLDS and v.unbiased(v.Z_UNBIASED + 0.1) == FAILS
    assert v.much_larger([50.0, 200.0]) == HOLDS
    assert v.much_larger([50.0, 3.0]) == CAVEAT
    assert v.much_larger([50.0, 0.8]) == FAILS and v.much_larger([]) == UNTESTED
    assert v.typically_less(0.9) == HOLDS and v.typically_less(0.6) == CAVEAT and v.typically_less(0.3) == FAILS
    assert v.both_readings([HOLDS, HOLDS]) == HOLDS and v.both_readings([FAILS, FAILS]) == FAILS
    assert v.both_readings([FAILS, HOLDS]) == CAVEAT and v.both_readings([UNTESTED, HOLDS]) == UNTESTED


def test_the_cost_rules():
    assert v.same_cost([1.2, 0.8, 1.9]) == HOLDS
    assert v.same_cost([1.2, 3.0]) == CAVEAT
    assert v.same_cost([1.2, 0.2]) == FAILS and v.same_cost([]) == UNTESTED
    assert v.costlier([6.0, 9.0]) == HOLDS and v.costlier([6.0, 1.5]) == CAVEAT and v.costlier([0.9]) == FAILS
    assert v.not_efficient(HOLDS, 20.0) == HOLDS
    assert v.not_efficient(HOLDS, -20.0) == CAVEAT  # slower, but ahead at equal time
    assert v.not_efficient(FAILS, -20.0) == FAILS and v.not_efficient(HOLDS, math.nan) == UNTESTED
    # seeds: MCEM behind by less than SPREAD_FACTOR standard deviations is not clearly behind
    assert v.not_efficient(HOLDS, 1.5, spread=1.0) == CAVEAT and v.not_efficient(HOLDS, 2.5, spread=1.0) == HOLDS
    assert v.not_efficient(FAILS, 1.5, spread=1.0) == FAILS and v.not_efficient(FAILS, 2.5, spread=1.0) == CAVEAT


def test_same_sign():
    assert v.same_sign([(5.0, 1.0), (13.0, 2.0)]) == HOLDS
    assert v.same_sign([(-5.0, 1.0), (-13.0, 2.0)]) == HOLDS  # insensitive, whichever way
    assert v.same_sign([(5.0, 1.0), (-13.0, 2.0)]) == FAILS
    assert v.same_sign([(5.0, 1.0), (0.5, 2.0)]) == CAVEAT and v.same_sign([(5.0, 1.0)]) == UNTESTED


def test_the_app_d_rules():
    ok, far = v.APPD_AGREEMENT / 2, v.APPD_AGREEMENT * 3
    assert v.good_below({2: ok, 3: -ok, 5: far}) == HOLDS  # 5 is not below 5
    assert v.good_below({2: ok, 3: far}) == FAILS and v.good_below({10: far}) == UNTESTED
    assert v.unreliable_above({3: ok, 5: far, 10: far}) == HOLDS
    assert v.unreliable_above({3: ok, 5: ok, 10: ok, 20: far}) == CAVEAT
    assert v.unreliable_above({3: ok, 5: ok, 10: -ok}) == FAILS and v.unreliable_above({2: far}) == UNTESTED


def test_the_page_states_each_rule_with_the_codes_thresholds(monkeypatch):
    text = v.ORDERING.describe()
    assert "90%" in text and "2 standard deviations" in text and "{" not in text
    monkeypatch.setattr(v, "AHEAD_SHARE", 0.75)
    assert "75%" in v.ORDERING.describe()  # one source: a changed threshold changes the page
    assert all(not re.search(r"\{[A-Z_]+\}", r.describe()) and r.judge.__module__ == v.__name__ for r in v.RULES)
    assert "N_train = 50,000" in v.NOT_EFFICIENT.describe() and "$" not in "".join(r.describe() for r in v.RULES)


def test_represents_holds_fails_and_is_mixed():
    """Chapter 13's rule on synthetic probe accuracies: (label, encoder, PCA, spread) per setting and (label, best
    encoder, its N_z, pixels, spread) per label count."""
    def settings(encoder, pca, spread=0.0):
        return [(f"N_z = {z}, {n} labels", e, p, spread)
                for (z, n), e, p in zip([(z, n) for n in (100, 1000) for z in (2, 20)], encoder, pca)]

    pixels_behind = [("100 labels", 0.80, 20, 0.70, 0.01), ("1,000 labels", 0.90, 20, 0.87, 0.005)]
    clear = settings([0.70, 0.80, 0.75, 0.90], [0.40, 0.60, 0.45, 0.85])
    assert v.represents(clear, pixels_behind)[0] == HOLDS
    verdict, note = v.represents(clear, [("1,000 labels", 0.90, 20, 0.93, 0.0)])  # raw pixels ahead, all labels
    assert verdict == CAVEAT and "behind raw pixels at 1,000 labels (best N_z = 20)" in note
    one_behind = settings([0.70, 0.80, 0.75, 0.84], [0.40, 0.60, 0.45, 0.85])  # behind PCA at one setting
    verdict, note = v.represents(one_behind, pixels_behind)
    assert verdict == CAVEAT and "behind PCA at N_z = 20, 1000 labels" in note and "3 of 4" in note
    weak = settings([0.45, 0.80, 0.75, 0.90], [0.30, 0.60, 0.45, 0.85])  # ahead, but below 50% at one
    assert v.represents(weak, pixels_behind)[0] == CAVEAT
    assert v.represents(settings([0.40, 0.60, 0.45, 0.86], [0.40, 0.60, 0.45, 0.85]), pixels_behind)[0] == FAILS
    assert v.represents(settings([0.30, 0.45, 0.35, 0.45], [0.10, 0.20, 0.15, 0.25]), [])[0] == FAILS  # useless
    assert v.represents([], pixels_behind)[0] == UNTESTED


def test_represents_sets_margins_against_the_subsets_spread_and_the_test_set():
    """A margin counts beyond SPREAD_FACTOR standard deviations over subset seeds and PROBE_MARGIN test images."""
    step = v.PROBE_MARGIN / 10_000
    just = [("a", 0.80 + 1.5 * step, 0.80, 0.0), ("b", 0.90 + 1.5 * step, 0.90, 0.0)]
    assert v.represents(just, [])[0] == HOLDS
    within = [("a", 0.80 + 0.5 * step, 0.80, 0.0), ("b", 0.90 + 0.5 * step, 0.90, 0.0)]
    assert v.represents(within, [])[0] == FAILS  # 25 images ahead: not a margin
    spread = [("a", 0.85, 0.80, 0.03), ("b", 0.95, 0.90, 0.03)]  # 5 points ahead, subsets spread by 3
    assert v.represents(spread, [])[0] == FAILS
    assert v.represents(spread, [], n_test=10_000)[1].startswith("ahead of PCA at 0 of 2")
    assert "50 test images" in v.REPRESENTS.describe() and "50%" in v.REPRESENTS.describe()


def stream_summary(current_gap=5.0, forgetting=0.0, final_gap=0.0, sd=0.2, replay_forgetting=None,
                   replay_final=None, passes=(1, 10)):
    """A summary of aevb.experiments.streaming (5 phases; (mean, sd) over seeds) where the stream's current-phase
    gaps, forgetting and final gap are the given ones, the replay's where given (else the stream's)."""
    def setting(gap, drop, final):
        return {"current": [(-150.0, sd)] * 5, "current_gap": [(gap, sd)] * 5, "forgetting": [(drop, sd)] * 4,
                "final": (-150.0 + final, sd), "final_gap": (final, sd)}

    replay = setting(current_gap, forgetting if replay_forgetting is None else replay_forgetting,
                     final_gap if replay_final is None else replay_final)
    return {"phases": ["0-1", "2-3", "4-5", "6-7", "8-9"],
            "streams": {p: {"shuffled": setting(0.0, -1.0, 0.0), "stream": setting(current_gap, forgetting, final_gap),
                            "replay": replay, "large-step": setting(current_gap, forgetting, final_gap)}
                        for p in passes}}


def test_online_holds_fails_and_is_mixed():
    """Chapter 13's streaming rule on synthetic summaries: a difference counts beyond GAP_TOLERANCE + SPREAD_FACTOR
    standard deviations over seeds."""
    tol = v.GAP_TOLERANCE + v.SPREAD_FACTOR * 0.2
    assert v.online(stream_summary())[0] == HOLDS  # learns each phase, forgets nothing, final as good
    assert v.online(stream_summary(current_gap=-0.9 * tol, forgetting=0.9 * tol, final_gap=-0.9 * tol))[0] == HOLDS
    verdict, drop, note = v.online(stream_summary(forgetting=20.0, final_gap=-12.0, replay_forgetting=-1.0,
                                                  replay_final=-0.5))
    assert verdict == CAVEAT and drop == 20.0
    assert "stream: phases 0-1, 2-3, 4-5, 6-7 forgotten (largest fall 20.0 nats)" in note
    assert "replay: no phase forgotten" in note and "-12.0 nats from the shuffled model's (behind)" in note
    assert v.online(stream_summary(final_gap=-3 * tol))[0] == CAVEAT  # behind at the end, nothing forgotten
    verdict, _, note = v.online(stream_summary(current_gap=-1.5 * tol))
    assert verdict == FAILS and "phases 0-1, 2-3, 4-5, 6-7, 8-9 not learned while current" in note
    assert v.online({"phases": [], "streams": {}})[0] == UNTESTED


def test_online_takes_the_worse_stream_length_and_the_seeds_spread():
    one, ten = stream_summary(passes=(1,)), stream_summary(forgetting=10.0, passes=(10,))
    both = {"phases": one["phases"], "streams": {**one["streams"], **ten["streams"]}}
    verdict, drop, note = v.online(both)
    assert verdict == CAVEAT and drop == 0.0  # the strict stream forgets nothing; the longer one does
    assert note.startswith("1 pass per phase: ") and "10 passes per phase: " in note
    noisy = stream_summary(forgetting=10.0, sd=5.0)  # a 10-nat fall within 1 + 2 x 5 nats over seeds
    assert v.online(noisy)[0] == HOLDS
    assert "1 nat plus 2 standard deviations" in v.ONLINE.describe()


def fill_comparisons(margins: dict[tuple[str, str, str], float], noise: float = 0.01) -> list[dict]:
    """Comparisons of Metropolis-within-Gibbs with baselines: every (task, baseline, metric) of three tasks, two
    baselines and two metrics ahead by 10 noise units, unless ``margins`` says otherwise."""
    return [{"task": t, "baseline": b, "metric": m, "margin": margins.get((t, b, m), 10 * noise), "noise": noise}
            for t in ("bottom half", "random 80%", "noise ρ = 0.1") for b in ("mean image", "10-NN fill")
            for m in ("loglik", "error")]


def test_fills_better_holds_fails_and_is_mixed():
    """Chapter 13's inpainting rule on synthetic comparisons: clear means beyond FILL_SE combined standard errors."""
    assert v.fills_better(fill_comparisons({})) == (HOLDS, "ahead of every baseline on 3 of 3 tasks")
    edge = v.FILL_SE * 0.01
    assert v.fills_better(fill_comparisons({("random 80%", "10-NN fill", "error"): 1.01 * edge}))[0] == HOLDS
    verdict, note = v.fills_better(fill_comparisons({("random 80%", "10-NN fill", "error"): 0.99 * edge}))
    assert verdict == CAVEAT and note == ("ahead of every baseline on 2 of 3 tasks; not clearly ahead of: 10-NN "
                                          "fill on random 80% (error)")  # behind on one metric only: mixed
    one_lost = {("bottom half", "10-NN fill", m): -0.05 for m in ("loglik", "error")}
    assert v.fills_better(fill_comparisons(one_lost))[0] == CAVEAT  # lost 1 of 3 tasks: not most
    most_lost = {(t, "10-NN fill", m): -0.05 for t in ("bottom half", "random 80%") for m in ("loglik", "error")}
    verdict, note = v.fills_better(fill_comparisons(most_lost))
    assert verdict == FAILS and "10-NN fill on bottom half (loglik)" in note
    as_good = {(t, "10-NN fill", m): 0.0 for t in ("bottom half", "random 80%") for m in ("loglik", "error")}
    assert v.fills_better(fill_comparisons(as_good))[0] == FAILS  # as good as k-NN on most tasks
    split = {("bottom half", "10-NN fill", "loglik"): -0.05, ("bottom half", "mean image", "error"): -0.05,
             ("random 80%", "10-NN fill", "loglik"): -0.05, ("random 80%", "mean image", "error"): -0.05}
    assert v.fills_better(fill_comparisons(split))[0] == CAVEAT  # no one baseline as good on both metrics
    assert v.fills_better([])[0] == UNTESTED
    assert "2 standard errors" in v.FILLS_BETTER.describe() and "50% of the tasks" in v.FILLS_BETTER.describe()


def test_host_of_tasks_takes_the_worse_of_its_tasks():
    """§1's list: every task judged must hold for the claim to hold; one failing task fails it."""
    assert v.host_of_tasks({"recognition": HOLDS, "denoising": HOLDS}) == HOLDS
    assert v.host_of_tasks({"recognition": HOLDS, "denoising": CAVEAT}) == CAVEAT
    assert v.host_of_tasks({"recognition": CAVEAT, "denoising": FAILS}) == FAILS
    assert v.host_of_tasks({"recognition": UNTESTED}) == UNTESTED and v.host_of_tasks({}) == UNTESTED
    assert "worse of the" in v.HOST_OF_TASKS.describe() and v.HOST_OF_TASKS in v.RULES


def test_small_variance_holds_fails_and_is_mixed():
    """Fig. 2's caption, reading (a): the plotted bound's variance over repeated evaluations, one per model and
    split; every run of Fig. 2 measured or not."""
    small, large = v.CAPTION_VARIANCE / 100, v.CAPTION_VARIANCE * 2
    assert v.small_variance([small, small / 2, small], unmeasured=0) == HOLDS
    assert v.small_variance([small, large], unmeasured=0) == FAILS  # one model's plotted value varies by more
    assert v.small_variance([small, v.CAPTION_VARIANCE], unmeasured=0) == FAILS  # "< 1": 1 is not below
    assert v.small_variance([small, large], unmeasured=5) == FAILS
    assert v.small_variance([small, small], unmeasured=15) == CAVEAT  # below, but not every run measured
    assert v.small_variance([], unmeasured=18) == UNTESTED
    text = v.SMALL_VARIANCE.describe()
    assert "below 1 nat²" in text and "reading (a) decides" in text and v.SMALL_VARIANCE in v.RULES


def test_one_sample_holds_fails_and_is_mixed():
    """§2.3's L = 1: three seeds of each run, the margin L = 1 − L = 10 at the last shared evaluation against the
    tolerance (1 nat plus 2 sd over seeds): L = 1 behind by 0.5 nat holds, by 5 nats fails, behind on train only is
    mixed; only the evaluations both runs have count (L = 10's longer curve is cut at L = 1's end)."""
    def seeds(train, test, n=3, spread=0.1):
        return [[{"samples": s, "train_bound": a + spread * k, "test_bound": b + spread * k}
                 for s, a, b in zip((1000, 10_000, 100_000), train, test)] for k in range(n)]

    ten = seeds([-150.0, -120.0, -100.0], [-152.0, -122.0, -102.0])
    verdict, margins, note = v.one_sample(seeds([-151.0, -121.0, -100.5], [-153.0, -123.0, -102.5]), ten)
    assert verdict == HOLDS and margins["test"][0] == pytest.approx(-0.5) and margins["test"][2] == 100_000
    assert margins["test"][1] == pytest.approx(0.1) and note == "3 seeds"
    assert v.one_sample(seeds([-160.0, -130.0, -105.0], [-162.0, -132.0, -107.0]), ten)[0] == FAILS
    assert v.one_sample(seeds([-160.0, -130.0, -105.0], [-153.0, -123.0, -102.5]), ten)[0] == CAVEAT
    assert v.one_sample(seeds([-90.0, -90.0, -90.0], [-90.0, -90.0, -90.0]), ten)[0] == HOLDS  # above: fine
    wide = seeds([-151.0, -121.0, -103.0], [-153.0, -123.0, -105.0], spread=1.0)  # 3 nats behind, sd 1: within
    assert v.one_sample(wide, ten)[0] == HOLDS
    short = [c[:2] for c in seeds([-151.0, -121.0, -130.0], [-153.0, -123.0, -130.0])]
    assert v.one_sample(short, ten)[1]["test"][2] == 10_000
    assert v.one_sample([[{"samples": 7, "train_bound": 0.0, "test_bound": 0.0}]], ten)[0] == UNTESTED
    assert "1 nat plus 2 standard deviations" in v.ONE_SAMPLE.describe() and v.ONE_SAMPLE in v.RULES

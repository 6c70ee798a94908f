"""The MNIST classifier that measures Fig. 4's class coverage (aevb.classifier): accurate on MNIST's test set,
seeded, confident on digits and not on noise, and ``class_coverage`` counting what the images show."""
import numpy as np
import pytest
import torch

from aevb.classifier import (MIN_CONFIDENCE, N_CLASSES, SIDE, ClassifierSettings, accuracy, blur, class_coverage,
                             confident_accuracy, confusion, coverage_row, fit_classifier, per_class, predict,
                             summarize)
from aevb.data import load_mnist


@pytest.fixture(scope="module")
def mnist():
    x, y = load_mnist("train")
    xt, yt = load_mnist("test")
    return {"x": x, "y": y, "xt": xt, "yt": yt}


@pytest.fixture(scope="module")
def classifier(mnist):
    """The classifier chapter 10 trains: default settings, seed 0 (trained once for the module)."""
    return fit_classifier(mnist["x"], mnist["y"], seed=0)


def _of_class(mnist, counts: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The first counts[c] test images of each class c, and their labels."""
    rows = np.concatenate([np.flatnonzero(mnist["yt"] == c)[:n] for c, n in counts.items()])
    return mnist["xt"][rows], mnist["yt"][rows]


def test_accuracy_on_the_mnist_test_set(classifier, mnist):
    assert accuracy(classifier, mnist["xt"], mnist["yt"]) >= 0.96


def test_confident_predictions_are_most_and_nearly_always_right(classifier, mnist):
    """The module's reason for MIN_CONFIDENCE: most test digits reach it, and those that do are right."""
    confidence, predicted = predict(classifier, mnist["xt"]).max(1)
    confident = confidence >= MIN_CONFIDENCE
    share = confident.double().mean().item()
    right = (predicted[confident] == torch.as_tensor(mnist["yt"])[confident]).double().mean().item()
    assert share >= 0.9 and right >= 0.985
    assert confident_accuracy(classifier, mnist["xt"], mnist["yt"]) == pytest.approx(
        {"share": share, "accuracy": right}, abs=1e-12)


def test_same_seed_same_predictions_and_no_global_rng(mnist):
    small = ClassifierSettings(epochs=1)
    x, y, xt = mnist["x"][:5000], mnist["y"][:5000], mnist["xt"][:1000]
    state = torch.get_rng_state()
    a = predict(fit_classifier(x, y, seed=0, settings=small), xt)
    b = predict(fit_classifier(x, y, seed=0, settings=small), xt)
    c = predict(fit_classifier(x, y, seed=1, settings=small), xt)
    assert torch.equal(state, torch.get_rng_state()), "training read or advanced the global RNG"
    assert a.shape == (1000, N_CLASSES) and torch.allclose(a.sum(1), torch.ones(1000), atol=1e-5)
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-3, "another seed trained the same weights"


def test_twenty_of_every_class_cover_all_ten(classifier, mnist):
    x, y = _of_class(mnist, {c: 20 for c in range(N_CLASSES)})
    cov = class_coverage(predict(classifier, x))
    assert cov["n_covered"] == 10 and cov["covered"] == list(range(10)) and cov["missing"] == []
    confidence, predicted = predict(classifier, x).max(1)
    errors = int(((predicted != torch.as_tensor(y)) | (confidence < MIN_CONFIDENCE)).sum())
    assert errors <= 10  # at most 5% of the images wrong or unconfident
    assert np.abs(cov["counts"] - 20).sum() <= 2 * errors  # each error moves one image out of a class, and in
    assert cov["counts"].sum() <= 200 and cov["labels"].shape == (200,)


def test_counts_follow_the_labels_class_by_class(classifier, mnist):
    """Unequal numbers per class (2, 6, ..., 38), so a class index mixed up anywhere shows."""
    want = {c: 2 + 4 * c for c in range(N_CLASSES)}
    x, _ = _of_class(mnist, want)
    counts, n = class_coverage(predict(classifier, x))["counts"], np.array(list(want.values()))
    assert (counts <= n + 2).all() and (counts >= 0.85 * n - 1).all(), counts  # some unconfident or wrong


def test_images_of_zeros_and_ones_cover_exactly_those_two(classifier, mnist):
    x, _ = _of_class(mnist, {0: 50, 1: 50})
    cov = class_coverage(predict(classifier, x))
    assert cov["covered"] == [0, 1] and cov["n_covered"] == 2
    assert cov["counts"][0] >= 45 and cov["counts"][1] >= 45 and cov["counts"][2:].sum() <= 2


def test_noise_and_blank_images_are_not_counted(classifier):
    g = torch.Generator().manual_seed(123)
    noise = torch.rand(500, SIDE * SIDE, generator=g)  # uniform noise
    dim = noise[:100] * 0.3  # dark noise
    blank = torch.linspace(0, 1, 11)[:, None].expand(11, SIDE * SIDE)  # constant images, black to white
    probs = predict(classifier, torch.cat([noise, dim, blank]))
    assert probs.max() < MIN_CONFIDENCE
    cov = class_coverage(probs)
    assert cov["n_covered"] == 0 and cov["counts"].sum() == 0 and (cov["labels"] == -1).all()


def test_the_coverage_rule():
    """A cell counts at or above min_confidence; a class is covered from min_cells counting cells."""
    rows = [(3, 0.95), (5, 0.8), (5, 0.99), (7, 0.79), (7, 0.7), (7, 0.6)]
    probs = torch.zeros(len(rows), N_CLASSES)
    for i, (c, p) in enumerate(rows):
        probs[i] = (1 - p) / (N_CLASSES - 1)
        probs[i, c] = p
    cov = class_coverage(probs, min_confidence=0.8, min_cells=2)
    assert cov["labels"].tolist() == [3, 5, 5, -1, -1, -1]
    assert cov["counts"].tolist() == [0, 0, 0, 1, 0, 2, 0, 0, 0, 0]
    assert cov["covered"] == [5] and cov["missing"] == [0, 1, 2, 3, 4, 6, 7, 8, 9]
    assert class_coverage(probs, min_confidence=0.8, min_cells=1)["covered"] == [3, 5]
    assert class_coverage(probs, min_confidence=0.65, min_cells=2)["covered"] == [5, 7]
    grids = {0: cov, 1: class_coverage(probs, 0.65, 2), 2: class_coverage(probs, 0.8, 1), 3: cov}
    assert summarize(grids, {0: 100, 1: 100, 2: 100, 3: 1000}) == [
        {"samples": 1000, "seeds": [3], "fewest": 1, "most": 1, "span": "1", "every": [0, 1, 2, 3, 4, 6, 7, 8, 9]},
        {"samples": 100, "seeds": [0, 1, 2], "fewest": 1, "most": 2, "span": "1 to 2",
         "every": [0, 1, 2, 4, 6, 8, 9]}]
    row = coverage_row(cov)
    assert row["classes covered"] == 1 and row["missing"] == "0, 1, 2, 3, 4, 6, 7, 8, 9"
    assert [row[f"cells {c}"] for c in range(N_CLASSES)] == cov["counts"].tolist()


def test_blur_is_a_normalised_gaussian(mnist):
    images = torch.as_tensor(mnist["xt"][:200]).reshape(-1, SIDE, SIDE)
    inner = images[:, 3:-3, 3:-3].sum((1, 2)) == images.sum((1, 2))  # no ink within the kernel's reach of the edge
    x = images[inner].reshape(-1, SIDE * SIDE)
    assert len(x) >= 50
    assert torch.equal(blur(x, torch.zeros(len(x))), x)  # sigma 0: unchanged
    torch.testing.assert_close(blur(x, torch.full((len(x),), 1.5)).sum(1), x.sum(1), rtol=1e-5, atol=1e-4)  # ink kept
    point = torch.zeros(1, SIDE * SIDE)
    point[0, 14 * SIDE + 10] = 1.0  # one pixel at row 14, column 10
    k = np.exp(-0.5 * (np.arange(-3, 4) / 1.2) ** 2)
    k /= k.sum()
    want = np.zeros((SIDE, SIDE))
    want[11:18, 7:14] = np.outer(k, k)
    got = blur(point, torch.tensor([1.2])).reshape(SIDE, SIDE).numpy()
    np.testing.assert_allclose(got, want, atol=1e-6)


class _Reads(torch.nn.Module):
    """A stand-in classifier whose class probabilities are an image's first ten pixels (logits log p)."""

    def forward(self, x):
        return x[:, :N_CLASSES].log()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_class_and_confusion_count_what_a_known_classifier_says(seed):
    """Random probabilities and labels: every row of ``per_class`` and every cell of ``confusion`` against counts
    made here image by image."""
    rng = np.random.default_rng(seed)
    n = 500
    probs = rng.dirichlet(np.full(N_CLASSES, 0.3), n)  # (N, 10): peaked, many above and below MIN_CONFIDENCE
    images = np.concatenate([probs, np.zeros((n, SIDE * SIDE - N_CLASSES))], 1)  # (N, 784)
    labels = rng.integers(0, N_CLASSES - 1, n)  # class 9 has no image
    labels[:200] = probs[:200].argmax(1)  # many right
    rows, matrix = per_class(_Reads(), images, labels), confusion(_Reads(), images, labels)
    predicted, conf = probs.argmax(1), probs.max(1)
    for c in [*range(N_CLASSES), "all"]:
        mine = labels == c if c != "all" else np.ones(n, bool)
        row = rows[c if c != "all" else N_CLASSES]
        assert row["class"] == c and row["images"] == mine.sum()
        if not mine.any():
            assert np.isnan(row["accuracy"]) and row["read as"] == -1
            continue
        sure = mine & (conf >= MIN_CONFIDENCE)
        assert row["accuracy"] == pytest.approx((predicted[mine] == labels[mine]).mean(), abs=1e-12)
        assert row["share"] == pytest.approx(sure.sum() / mine.sum(), abs=1e-12)
        if sure.any():
            assert row["confident accuracy"] == pytest.approx((predicted[sure] == labels[sure]).mean(), abs=1e-12)
        else:
            assert np.isnan(row["confident accuracy"])
        wrong = predicted[mine & (predicted != labels)]
        if c != "all":
            assert row["read as"] == (np.bincount(wrong, minlength=N_CLASSES).argmax() if len(wrong) else -1)
    for t in range(N_CLASSES):
        for p in range(N_CLASSES):
            assert matrix[t, p] == ((labels == t) & (predicted == p)).sum()
    assert rows[N_CLASSES]["accuracy"] == pytest.approx(np.trace(matrix) / n, abs=1e-12)


def test_per_class_on_test_digits_matches_the_overall_accuracy(classifier, mnist):
    rows = per_class(classifier, mnist["xt"], mnist["yt"])
    assert rows[-1]["accuracy"] == pytest.approx(accuracy(classifier, mnist["xt"], mnist["yt"]), abs=1e-12)
    want = confident_accuracy(classifier, mnist["xt"], mnist["yt"])
    assert (rows[-1]["share"], rows[-1]["confident accuracy"]) == pytest.approx((want["share"], want["accuracy"]),
                                                                                abs=1e-12)
    sizes = np.bincount(mnist["yt"], minlength=N_CLASSES)
    assert [r["images"] for r in rows[:-1]] == sizes.tolist()
    assert all(r["accuracy"] >= 0.9 for r in rows[:-1])  # on clear test digits every class is read well

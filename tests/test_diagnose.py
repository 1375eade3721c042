"""diagnose: each classic mistake, applied to a random true gradient, is named; from the full
truth and from a few projections alike."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from symnet.checking.diagnose import Truth, diagnose, shape_diagnosis

B, N_OUT, LAM = 8, 5, 0.1


def truths(t, rng, full):
    """t itself, or three random Gaussian projections of it (what finite differences give)."""
    tol = 1e-9 * (np.abs(t) + np.abs(t).mean())
    if full:
        return Truth(t, tol)
    vs = [rng.standard_normal(t.shape) for _ in range(3)]
    return Truth(probes=[(v, float(np.vdot(t, v)), 1e-9 * np.abs(t).sum()) for v in vs])


MISTAKES = [  # (name, g from t and W, words the diagnosis must contain)
    ("transposed", lambda t, W: t.T, "transposed"),
    ("sign", lambda t, W: -t, "wrong sign"),
    ("zero", lambda t, W: 0 * t, "all zeros"),
    ("no 1/B", lambda t, W: B * t, "times too large"),
    ("1/B twice", lambda t, W: t / B, "times too small"),
    ("B-1", lambda t, W: t * B / (B - 1), "B − 1"),
    ("factor 2 missing", lambda t, W: t / 2, "factor 2 is missing"),
    ("factor 2 extra", lambda t, W: 2 * t, "twice"),
    ("1/n_out", lambda t, W: t / N_OUT, "n_out"),
    ("L2 missing", lambda t, W: t - LAM * W, "L2 term is missing"),
    ("L2 doubled", lambda t, W: t + LAM * W, "counted twice"),
    ("odd constant", lambda t, W: 1.37 * t, "1.37"),
]
KIND = {"transposed": "transposed", "sign": "sign", "zero": "zero", "L2 missing": "l2_missing",
        "L2 doubled": "l2_wrong"}
KIND = {name: KIND.get(name, "scaled") for name, _, _ in MISTAKES}


def test_a_fitted_factor_needs_every_entry_or_sharp_projections():
    t = np.array([1.0, 2.0, 3.0])
    g = np.array([0.14, 0.7, 0.6])  # entry ratios 0.14, 0.35, 0.2: no constant factor
    assert diagnose(g, Truth(t, 1e-9)).kind != "scaled"
    loose = Truth(probes=[(v, float(np.vdot(t, v)), 5.0) for v in np.eye(3)])
    assert "constant" not in diagnose(g, loose).text


@pytest.mark.parametrize("full", [True, False], ids=["full", "projections"])
@pytest.mark.parametrize("mistake, make_g, words", MISTAKES, ids=[m[0] for m in MISTAKES])
@given(seed=st.integers(0, 10**6), n=st.integers(3, 12))
def test_mistakes_are_named(mistake, make_g, words, full, seed, n):
    rng = np.random.default_rng(seed)
    t, W = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    g = make_g(t, W)
    found = diagnose(g, truths(t, rng, full), name="W2", theta=W, weight_decay=LAM, B=B,
                     n_out=N_OUT)
    assert words in found.text
    assert found.kind == KIND[mistake]


@given(seed=st.integers(0, 10**6), col=st.integers(0, 5))
def test_one_wrong_column_is_located(seed, col):
    rng = np.random.default_rng(seed)
    t = rng.standard_normal((7, 6))
    g = t.copy()
    g[:, col] += 1.0 + rng.random(7)
    assert f"column(s) {col} " in diagnose(g, truths(t, rng, True), name="W1", B=B).text


def test_rows_and_entries_are_located():
    rng = np.random.default_rng(0)
    t = rng.standard_normal((6, 7))
    g = t.copy()
    g[2] *= 3
    assert "row(s) 2 " in diagnose(g, truths(t, rng, True), B=B).text
    b = rng.standard_normal(10)
    gb = b.copy()
    gb[[1, 4]] = 0
    assert "entries 1, 4" in diagnose(gb, truths(b, rng, True), B=B).text


def test_every_entry_wrong_is_not_called_a_few_entries():
    rng = np.random.default_rng(3)
    t = rng.standard_normal((2, 4))
    g = t + rng.standard_normal(t.shape)  # all 8 entries off, no global pattern
    assert "a few entries" not in diagnose(g, truths(t, rng, True), B=B).text
    g = t.copy()
    g[0, 0], g[1, 2], g[1, 3] = 5.0, -5.0, 5.0  # three of them: a few, located
    assert "a few entries (rows 0, 1, columns 0, 2, 3)" in diagnose(
        g, truths(t, rng, True), B=B).text


def test_localization_results_are_used_when_the_truth_is_projections():
    rng = np.random.default_rng(1)
    t = rng.standard_normal((50, 40))
    g = t + rng.standard_normal(t.shape)  # genuinely no global pattern
    text = diagnose(g, truths(t, rng, False), rows=None, cols={3, 9}, B=B).text
    assert "column(s) 3, 9" in text


def test_no_simple_pattern_names_the_largest_error():
    rng = np.random.default_rng(2)
    t = rng.standard_normal((4, 4))
    g = t + rng.standard_normal((4, 4))
    text = diagnose(g, truths(t, rng, True), B=B).text
    i = np.unravel_index(np.argmax(np.abs(g - t)), t.shape)
    assert text.startswith("no simple pattern") and str(tuple(map(int, i))) in text


def test_shape_diagnosis():
    assert "transpose" in shape_diagnosis((3, 5), (5, 3))
    assert "summed over the batch" in shape_diagnosis((8, 5), (5,), B=8)
    assert "= B" in shape_diagnosis((8, 5), (5,), B=8)
    assert "layout" in shape_diagnosis((15,), (5, 3))

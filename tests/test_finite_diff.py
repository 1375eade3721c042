"""Finite differences: estimates lie within their own error bounds; kinks and unusable complex
steps are recognized."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from symnet.checking.finite_diff import Loss, eps_of, step_size
from symnet.errors import DataError


def smooth_loss(p, X, Y):  # L = Σ sin(W)·X + ½ Σ W², exact gradient below
    return np.sum(np.sin(p["W"]) * X) + 0.5 * np.sum(p["W"] ** 2)


def smooth_grad(W, X):
    return np.cos(W) * X + W


def random_problem(seed, n, dtype):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal(n).astype(dtype)
    X = rng.standard_normal(n).astype(dtype)
    v = rng.choice([-1.0, 1.0], n)
    return {"W": W}, X, v


@given(st.integers(0, 10**6), st.integers(1, 200), st.sampled_from([np.float32, np.float64]),
       st.floats(0.01, 100.0))
def test_richardson_estimate_lies_within_its_bound(seed, n, dtype, scale):
    params, X, v = random_problem(seed, n, dtype)
    params["W"] = (params["W"] * scale).astype(dtype)
    f = Loss(smooth_loss, params, X, None)
    h = step_size(params["W"], f.eps) / np.linalg.norm(v)
    est = f.richardson(params, "W", v, h)
    exact = np.vdot(smooth_grad(params["W"].astype(float), X.astype(float)), v)
    assert abs(est.value - exact) <= est.bound
    # and the bound is informative
    assert est.bound <= 1e-6 * (1 + abs(exact)) * max(1.0, scale) ** 2
    assert not est.kink


@given(st.integers(0, 10**6), st.integers(1, 50))
def test_complex_step_is_exact_for_complex_safe_losses(seed, n):
    params, X, v = random_problem(seed, n, np.float64)
    f = Loss(smooth_loss, params, X, None)
    est = f.complex_step(params, "W", v, 1.0)
    exact = np.vdot(smooth_grad(params["W"], X), v)
    assert est is not None and abs(est.value - exact) <= 1e-12 * (1 + abs(exact))
    assert abs(est.value - exact) <= est.bound + 4 * eps_of(np.float64) * np.sum(np.abs(v))


@pytest.mark.parametrize("loss", [
    lambda p, X, Y: np.sum(np.abs(p["W"])),  # |z| of complex z is real: silent garbage
    lambda p, X, Y: float(np.sum(p["W"] ** 2)),  # float() of complex raises
    lambda p, X, Y: np.sum(p["W"].astype(np.float64) ** 2),  # cast warns (ComplexWarning)
])
def test_complex_step_falls_back_cleanly(loss):
    params = {"W": np.array([1.0, -2.0])}
    f = Loss(loss, params, None, None)
    assert f.complex_step(params, "W", np.ones(2), 1.0) is None
    assert f.complex_ok is False and "complex step not usable" in f.notes[0]
    assert f.complex_step(params, "W", np.ones(2), 1.0) is None  # never tried again


def test_kinks_are_recognized_from_one_sided_slopes():
    def l1(p, X, Y):
        return np.sum(np.abs(p["W"])) + np.sum(p["W"] ** 2)

    at_kink = {"W": np.array([0.0, 0.5])}
    f = Loss(l1, at_kink, None, None)
    est = f.richardson(at_kink, "W", np.array([1.0, 0.0]), 1e-5)
    assert est.kink and est.left == pytest.approx(-1, abs=1e-4)
    assert est.right == pytest.approx(1, abs=1e-4)
    away = {"W": np.array([0.3, 0.5])}
    f.set_point(away)
    assert not f.richardson(away, "W", np.array([1.0, 0.0]), 1e-5).kink


def test_step_size_follows_dtype_and_magnitude():
    small, big = np.zeros(3), np.full(3, 100.0)
    assert step_size(small, eps_of(np.float64)) == pytest.approx(eps_of(np.float64) ** (1 / 3))
    assert step_size(big, eps_of(np.float64)) == pytest.approx(100 * step_size(small, 2**-52))
    assert step_size(small, eps_of(np.float32)) > 100 * step_size(small, eps_of(np.float64))


def test_float32_params_are_evaluated_in_float64_when_the_loss_allows():
    params = {"W": np.ones(3, dtype=np.float32)}
    f = Loss(smooth_loss, params, np.ones(3, dtype=np.float32), None)
    assert f.upcast and f.eps == eps_of(np.float64) and "float64" in f.notes[0]

    def strict(p, X, Y):
        assert p["W"].dtype == np.float32
        return smooth_loss(p, X, Y)

    f = Loss(strict, params, np.ones(3, dtype=np.float32), None)
    assert not f.upcast and f.eps == eps_of(np.float32)
    # the refused float64 try, the float32 one, its repeat (deterministic?), and the five
    # evaluations that measure its noise floor
    assert f.n_evals == 8


def test_loss_must_be_a_finite_scalar():
    params = {"W": np.ones(3)}
    with pytest.raises(DataError, match="scalar"):
        Loss(lambda p, X, Y: p["W"], params, None, None)
    with pytest.raises(DataError, match="returned inf"):
        Loss(lambda p, X, Y: np.inf * p["W"].sum(), params, None, None)

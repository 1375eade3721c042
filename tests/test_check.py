"""sn.check: exact, generated and finite-difference gradients agree, for random architectures.

This is where symnet's code generator is tested by symnet's own checker: every network the
Hypothesis strategy draws is compiled, evaluated exactly, and differentiated numerically.
"""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symnet.checking.check import COMPARISONS, CheckReport, _off_kinks, check
from symnet.checking.kinks import Kinks
from symnet.checking.mutants import mutants
from symnet.derivation.chain import derive
from symnet.errors import DataError, SpecError
from symnet.nn.spec import parse
from symnet.testing.strategies import networks

FEW = settings(max_examples=6, deadline=None)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@FEW
@given(net=networks(max_depth=3, max_width=4), seed=st.integers(0, 2**16))
def test_three_way_check_passes_for_random_architectures(dtype, net, seed):
    report = check(net, seed=seed, batch=3, dtype=dtype)
    assert report.ok, str(report)
    assert list(report.comparisons) == list(COMPARISONS)
    assert report.dtype == np.dtype(dtype).name


@pytest.mark.parametrize("spec", [
    "3-5-4-2 relu softmax_ce weight_decay=0.1",
    "3-4-3 tanh softmax ce reduction=sum",
    "2-4-1 leaky_relu(0.1) sigmoid bce",
    "3-4-2 elu(0.5) bce_logits",
    "3-4-2 layernorm,gelu mse",
])
def test_three_way_check_of_named_architectures(spec):
    report = check(spec, seed=1)
    assert report.ok, str(report)
    assert report["L"].ok and report["W1"].n_checks > 0


def test_report_text_and_json():
    report = check("3-4-2 tanh mse", seed=3)
    text = str(report)
    assert text.startswith("symnet check of `3-4-2 tanh mse` (float64, batch 4, seed 3)")
    assert "exact, generated and finite-difference gradients agree" in text
    for header in ("generated vs exact", "exact vs FD", "generated vs FD"):
        assert header in text
    d = json.loads(report.to_json())
    assert d["ok"] is True and d["network"] == "3-4-2 tanh mse" and d["dtype"] == "float64"
    assert set(d["comparisons"]) == set(COMPARISONS)
    assert d["comparisons"]["generated vs exact"]["results"][0]["name"] == "L"
    assert isinstance(report, CheckReport) and bool(report)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_gradient_that_is_zero_by_cancellation_passes(dtype):
    # A bias right before BatchNorm has gradient exactly 0 (the mean removes it); the code
    # computes it as rounding noise of the terms that cancel, which the check must accept
    # (in float32 that noise is ~1e-8 while finite differences in float64 give ~1e-12) and
    # show as zero, not as a relative error of 1.
    report = check("3-4-2 batchnorm,relu mse", dtype=dtype)
    assert report.ok, str(report)
    row = next(line for line in str(report).splitlines() if line.startswith("b1 "))
    assert row.split()[2:] == ["ok", "(≈0)"] * 3


def test_a_wrong_derivation_is_caught_by_finite_differences():
    # Generated code and exact evaluation of a mutant derivation agree with each other; only
    # the finite differences of the (unchanged) loss expose it: why the check is three-way.
    d = derive(parse("3-4-2 sigmoid mse"))
    wrong = next(m for m in mutants(d) if m.key == "activation_derivative_missing")
    report = check(wrong.derivation, seed=0)
    assert not report.ok
    parts = report.comparisons
    assert parts["generated vs exact"].ok
    assert not parts["exact vs finite differences"].ok
    assert not parts["generated vs finite differences"].ok
    assert {r.name for r in report.failures} == {"W1", "b1"}


def test_large_networks_skip_the_exact_evaluation():
    report = check("60-40-10 tanh softmax_ce", batch=32, seed=0)
    assert report.ok, str(report)
    assert list(report.comparisons) == ["generated vs finite differences"]
    assert any("exact evaluation skipped" in n for n in report.notes)
    assert report.n_loss_evals < report.n_params  # directional checks: cost per tensor


def test_draws_off_kinks_with_a_note():
    d = derive(parse("3-4-2 relu mse"))
    params = {"W1": np.ones((3, 4)), "b1": np.zeros(4), "W2": np.ones((4, 2)), "b2": np.zeros(2)}
    X = np.zeros((2, 3))  # every Z1 entry exactly 0: on ReLU's kink
    notes = []
    moved = _off_kinks(d, params, X, np.float64, 0, notes)
    assert "8 entries of Z1 on relu's kink at 0" in notes[0]
    assert "relu′(0) = 0, between the one-sided slopes 0 and 1" in notes[0]
    assert "re-drawn nearby" in notes[0]
    assert not Kinks(d).find(moved, X, 1e-6)
    assert all(np.allclose(moved[k], params[k], atol=0.1) for k in params)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"batch": 0}, DataError, "batch must be a positive integer"),
    ({"dtype": np.int32}, DataError, "dtype must be float32 or float64"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        check("2-3-1 sigmoid mse", **kwargs)


def test_bad_spec_and_object():
    with pytest.raises(SpecError, match="expected a loss"):
        check("2-3-1 sigmoid msx")
    with pytest.raises(SpecError, match="expected a Network"):
        check(42)


@pytest.mark.parametrize("text, convention", [
    ("2-3-1 relu mse", "relu′(0) = 0, between the one-sided slopes 0 and 1"),
    ("2-3-1 leaky_relu(0.1) mse", "lrelu′(0) = 0.1, between the one-sided slopes 0.1 and 1"),
    ("2-3-1 elu(0.5) mse", "elu′(0) = 0.5, between the one-sided slopes 0.5 and 1"),
    ("2-3-1 act(abs(x)) mse", "act′(0) = 0, between the one-sided slopes -1 and 1"),
])
def test_kinks_are_read_from_the_declarations(text, convention):
    sites = Kinks(derive(parse(text))).sites
    assert [(s.Z, s.at, s.convention) for s in sites] == [("Z1", 0.0, convention)]


def test_smooth_networks_have_no_kinks():
    assert not Kinks(derive(parse("2-3-1 tanh sigmoid bce")))

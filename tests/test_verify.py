"""verify over the corpus of hand-written backprop: correct ones pass, each bug is named."""

import json

import numpy as np
import pytest
from corpus import BUGGY, CORRECT, make_data, make_mlp

from symnet.checking.finite_diff import UserCodeError
from symnet.checking.verify import verify
from symnet.errors import DataError
from symnet.testing import assert_gradients_match


def run(case, reference=False, **kw):
    grads, loss, params, X, Y = case.build()
    ref = case.reference() if reference else None
    return verify(grads, loss=loss, params=params, X=X, Y=Y, reference=ref,
                  weight_decay=case.mlp.get("wd"), **kw)


def verdicts(report):
    return {r.name: r.verdict for r in report.results if r.verdict != "ok"}


@pytest.mark.parametrize("case", CORRECT, ids=lambda c: c.id)
def test_correct_gradients_pass(case):
    report = run(case)
    assert report.ok, str(report)
    assert verdicts(report) == {k: "kink" for k in case.kinks}
    assert report.n_loss_evals < 2 * report.n_params or report.n_params < 64


@pytest.mark.parametrize("case", BUGGY, ids=lambda c: c.id)
def test_bugs_fail_on_the_right_parameters_with_the_right_diagnosis(case):
    report = run(case)
    assert not report.ok
    assert verdicts(report) == case.wrong, str(report)
    for r in report.failures:
        assert case.says in r.diagnosis, str(report)


@pytest.mark.parametrize("case", CORRECT + BUGGY, ids=lambda c: c.id)
def test_reference_mode_agrees(case):
    report = run(case, reference=True)
    expected = dict(case.wrong)
    if case.mlp.get("act") == "relu_ge":  # the reference uses relu'(0) = 0: a kink, not a bug
        expected.update({k: "kink" for k in case.kinks})
    assert verdicts(report) == expected, str(report)
    for r in report.failures:
        assert case.says in r.diagnosis, str(report)


def test_float32_needs_no_hand_tuning():
    case = next(c for c in CORRECT if c.id == "tanh-mse-f32")
    grads, loss, params, X, Y = case.build()
    assert params["W1"].dtype == np.float32
    for seed in range(5):
        assert verify(grads, loss=loss, params=params, X=X, Y=Y, seed=seed).ok


def wide_net(n_h, act="tanh"):
    loss, grads = make_mlp(act=act)
    params, X, Y = make_data(n_in=50, n_h=n_h, n_out=10, B=16)
    return grads, loss, params, X, Y


def test_loss_evaluations_do_not_grow_with_parameter_count():
    counts = {}
    for n_h in (20, 160):  # ~1.3k and ~10k parameters
        grads, loss, params, X, Y = wide_net(n_h)
        report = verify(grads, loss=loss, params=params, X=X, Y=Y)
        assert report.ok, str(report)
        counts[report.n_params] = report.n_loss_evals
    (small, n_small), (big, n_big) = sorted(counts.items())
    assert big > 9000
    assert n_big == n_small  # cost depends on the number of tensors, not of entries
    assert n_big <= 1 + 4 * 3 * 5 < big / 100  # ≤ 5 evaluations per direction, 3 per tensor


def test_loss_evaluations_bounded_without_complex_step():
    grads, loss, params, X, Y = wide_net(160)

    def real_only_loss(p, X, Y):  # float() refuses complex input: central differences only
        return float(loss(p, X, Y))

    report = verify(grads, loss=real_only_loss, params=params, X=X, Y=Y)
    assert report.ok, str(report)
    assert report.n_loss_evals <= 1 + 4 * 3 * 5
    assert any("complex step not usable" in n for n in report.notes)


def good_case():
    return CORRECT[0].build()


def test_report_text_and_json():
    case = next(c for c in BUGGY if c.id == "wrong-column")
    report = run(case)
    text = str(report)
    assert "parameter" in text and "max rel err" in text and "tolerance" in text
    assert "W2: wrong only in column(s) 1" in text
    assert f"{report.n_loss_evals} loss evaluations" in text
    d = json.loads(report.to_json())
    assert d["ok"] is False and d["n_loss_evals"] == report.n_loss_evals
    w2 = next(r for r in d["results"] if r["name"] == "W2")
    assert w2["verdict"] == "wrong" and isinstance(w2["max_abs_err"], float)
    assert all(e[1] == 1 for e in w2["bad_entries"])
    assert report["b1"].ok and not report["W2"].ok


def test_assert_gradients_match():
    grads, loss, params, X, Y = good_case()
    assert_gradients_match(grads, loss=loss, params=params, X=X, Y=Y)
    bad = next(c for c in BUGGY if c.id == "sign")
    grads, loss, params, X, Y = bad.build()
    with pytest.raises(AssertionError, match="wrong sign"):
        assert_gradients_match(grads, loss=loss, params=params, X=X, Y=Y)


# -- bad input: a report entry, never a crash --------------------------------------------------

def with_grads(edit):
    grads, loss, params, X, Y = good_case()
    return verify(lambda p, X, Y: edit(grads(p, X, Y)), loss=loss, params=params, X=X, Y=Y)


def test_grads_that_raise():
    grads, loss, params, X, Y = good_case()

    def broken(p, X, Y):
        raise ValueError("matmul: shapes (8,5) and (6,3) not aligned\nsecond line")

    with pytest.raises(UserCodeError, match=r"grads\(params, X, Y\) raised ValueError: matmul: "
                       r"shapes \(8,5\) and \(6,3\) not aligned \(at .*test_verify.py, line "
                       r"\d+\)") as raised:
        verify(broken, loss=loss, params=params, X=X, Y=Y)
    assert isinstance(raised.value.__cause__, ValueError)  # the user's traceback is kept


@pytest.mark.parametrize("edit, name, verdict", [
    (lambda g: {k: v for k, v in g.items() if k != "b1"}, "b1", "missing"),
    (lambda g: g | {"W3": np.zeros(2)}, "W3", "extra"),
    (lambda g: g | {"W1": g["W1"][:, :2]}, "W1", "shape"),
    (lambda g: g | {"b2": np.where(np.arange(3) == 1, np.nan, g["b2"])}, "b2", "nan"),
    (lambda g: g | {"W2": g["W2"].astype(np.float32)}, "W2", "dtype"),
])
def test_bad_gradient_entries(edit, name, verdict):
    report = with_grads(edit)
    assert not report.ok
    assert verdicts(report) == {name: verdict}, str(report)
    assert report[name].diagnosis


def test_grads_not_a_dict():
    with pytest.raises(DataError, match="returned list; it must return a dict"):
        with_grads(lambda g: list(g.values()))


@pytest.mark.parametrize("where", ["W1", "X", "Y"])
def test_nan_in_data_is_refused(where):
    grads, loss, params, X, Y = good_case()
    if where == "W1":
        params["W1"][0, 1] = np.nan
    else:
        {"X": X, "Y": Y}[where][2, 0] = np.inf
    with pytest.raises(DataError, match=where):
        verify(grads, loss=loss, params=params, X=X, Y=Y)


def test_needs_loss_or_reference():
    grads, _, params, X, Y = good_case()
    with pytest.raises(TypeError, match="loss= .* or reference="):
        verify(grads, params=params, X=X, Y=Y)


def test_reference_mode_without_loss():
    case = next(c for c in BUGGY if c.id == "B-minus-1")
    grads, _, params, X, Y = case.build()
    report = verify(grads, reference=case.reference(), params=params, X=X, Y=Y)
    assert report.n_loss_evals == 0 and report.mode == "reference"
    assert verdicts(report) == case.wrong
    assert all("B − 1" in r.diagnosis for r in report.failures)

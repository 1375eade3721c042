"""Translation validation of the NumPy printer (issue 13): every emitted formula is read back
into SymPy by a whitelist translator and proved equal to the derivation's formula, and the
generated code agrees with exact evaluation at branch-exercising points."""

import ast

import numpy as np
import pytest
import sympy as sp

import symnet as sn
from symnet.codegen.printer import Block, Printed
from symnet.codegen.validate import (
    Translator,
    UntranslatableCode,
    numeric_check,
    translated,
    validate,
)
from symnet.nn.layers import ACTIVATIONS
from symnet.nn.losses import LOSSES

BUILTIN_SPECS = sorted({f"1-1 {a} mse" for a in ACTIVATIONS} | {
    "1-1 elu(0.5) mse", "1-1 leaky_relu(0.1) mse", "2-2 softmax ce", "2-2 softmax_ce",
    "1-1 sigmoid bce", "1-1 bce_logits", "1-1 mse reduction=sum", "2-3-1 tanh relu mse",
    *(f"1-2 {'softmax ' if n == 'ce' else 'sigmoid ' if n == 'bce' else ''}{n}"
      for n in LOSSES)})


@pytest.mark.parametrize("spec", BUILTIN_SPECS)
def test_generated_code_of_builtins_is_proved_equal_to_the_formulas(spec):
    checks = validate(sn.parse(spec))  # (softmax_ce has no element-wise formula)
    assert all(c.status == "proved" for c in checks), [(c.fn, c.status, c.detail, c.code)
                                                        for c in checks]


@pytest.mark.parametrize("formula", ["2^(x/2)", "-((x*3^x)^2)", "x*x*max(x, 2)",
                                     "min(max(x,-1),1)", "-max(x, -10)", "log(abs(x))",
                                     "abs(x)^(beta+1)"])
def test_generated_code_of_issue_formulas_is_proved(formula):
    params = ", beta=1" if "beta" in formula else ""
    checks = validate(sn.parse(f"1-1 act({formula}{params}) mse"))
    assert all(c.status == "proved" for c in checks), [(c.fn, c.status, c.detail)
                                                        for c in checks]


def _printed(code, body, lets=()):
    x = sp.Dummy("op0", real=True)
    block = Block()
    for name, c in lets:
        block.assign(name, c)
    return Printed("f", body(x), code, {x: "Z1"}, block), x


@pytest.mark.parametrize("code, body", [
    ("2**0.5*Z1", lambda x: 2 ** (x / 2)),                      # the lost parentheses of A1
    ("(-Z1 > -10)", lambda x: -sp.Piecewise((1, x > -10), (0, True))),  # −max(x, −10)′
    ("Z1*Z1 > 2 > t1", lambda x: x),  # a comparison chain
    ("np.where(Z1 == 0, 0, 1/np.maximum(Z1, 0))",
     lambda x: sp.Piecewise((0, sp.Eq(x, 0)), (1 / x, True))),  # Eq clipped like >
])
def test_the_validator_catches_the_printing_bugs_of_issue_13(code, body):
    p, _ = _printed(code, body, lets=[("t1", "np.maximum(Z1, 2)")])
    [check] = [c for c in _validate_one(p)]
    assert check != "proved"


def _validate_one(p):
    from symnet.codegen.validate import _decide, pieces

    try:
        verdicts = [_decide(a, b)[0] for _, a, b in pieces(translated(p), p.body)]
    except (UntranslatableCode, TypeError):
        return ["failed"]
    return ["proved" if all(v is True for v in verdicts) else "failed"]


@pytest.mark.parametrize("code", ["__import__('os').system('x')", "Z1.__class__", "[Z1]",
                                  "open('f')", "np.load('f')", "lambda: 1", "Z1 if Z1 else 1",
                                  "float('inf')", "1e999", "Z1 @ Z1", "Z1 < 1 < 2"])
def test_the_translator_reads_a_whitelist_and_runs_nothing(code):
    x = sp.Dummy("op0", real=True)
    with pytest.raises(UntranslatableCode):
        Translator({ast.dump(ast.parse("Z1", mode="eval").body): x}, {}).code(code)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("spec", ["1-1 relu mse", "1-1 elu(0.5) mse", "1-1 leaky_relu(0.1) mse",
                                  "1-1 sigmoid bce_logits", "1-1 tanh bce_logits", "1-1 gelu mse",
                                  "1-1 gelu bce_logits", "1-1 silu bce_logits",
                                  "1-1 softplus mse", "1-1 act(x*x*max(x, 2)) mse",
                                  "1-1 act(min(max(x,-1),1)) mse", "1-1 act(log(abs(x))) mse"])
def test_generated_code_agrees_with_exact_evaluation_at_branch_points(spec, dtype):
    points = [p for p in (-1e3, -3.0, -1.0 - 1e-3, -1.0, -1.0 + 1e-3, -0.5, -1e-30, 1e-30, 0.5,
                          1.0, 2.0 - 1e-3, 2.0, 2.0 + 1e-3, 3.0, 25.0, 1e3)
              if not ("log" in spec and p == 0)]
    assert numeric_check(sn.parse(spec), dtype, points) == []


# ── accurate code forms (issue 13 A4, A5): proved equal, clips proved harmless ──────────────


def test_code_computed_from_z_is_proved_against_the_form_in_the_output():
    """σ′ is printed y·(1 − y) with y = σ(x) and computed as _sigmoid_prime(Z): the validator
    substitutes y = σ(x) and proves the two equal."""
    from symnet.codegen.validate import printed_formulas

    (p,) = {q.code: q for q in printed_formulas(sn.parse("1-1 sigmoid mse"))
            if q.fn == "d_sigmoid"}.values()
    assert p.code == "_sigmoid_prime(Z1)" and p.given
    assert [c.status for c in validate(sn.parse("1-1 sigmoid mse"))
            if c.fn == "d_sigmoid"] == ["proved"]


def test_gelu_clip_is_proved_to_change_nothing_up_to_the_largest_float():
    from symnet.codegen.validate import check_printed, obligations, printed_formulas

    formulas = [p for p in printed_formulas(sn.parse("1-1 gelu mse")) if "gelu" in p.fn]
    assert {p.fn for p in formulas} == {"gelu", "d_gelu"}
    for p in formulas:
        _identities, saturations = obligations(p)
        assert {(sign, int(T)) for *_, sign, T in saturations} == {(1, 32), (-1, 32)}
        assert check_printed(p).status == "proved", check_printed(p)


def test_a_clip_too_close_is_not_accepted():
    """Clipping GELU′ at ±2 changes it by far more than 2⁻⁶⁰ beyond: not shown, so refused.
    (Intervals are taken of the form without cancellation, σ(2u) + …·σ′(2u), as the validator
    does with the unclipped code.)"""
    from symnet.algebra.functions import x
    from symnet.algebra.identities import cancellation_free
    from symnet.codegen.stable import tails
    from symnet.nn.layers import GELU

    exact = cancellation_free(sp.diff(GELU().formula(), x))
    assert "SigmoidPrime" in str(exact) and "tanh" not in str(exact)
    clipped = exact.xreplace({x: sp.Min(sp.Max(x, -2), 2)})
    assert not tails(clipped, exact, x, 2)
    clipped = exact.xreplace({x: sp.Min(sp.Max(x, -32), 32)})
    assert tails(clipped, exact, x, 32)


@pytest.mark.parametrize("dtype, points", [
    (np.float32, [-3e38, -1e20, -40.0, -12.0, 12.0, 40.0, 1e20, 3e38]),
    (np.float64, [-1.7e308, -1e300, -1e155, -30.0, -22.0, 22.0, 30.0, 1e155, 1e300, 1.7e308]),
])
@pytest.mark.parametrize("spec", ["1-1 gelu bce_logits", "1-1 sigmoid bce_logits",
                                  "1-1 tanh bce_logits"])
def test_generated_code_agrees_with_exact_evaluation_at_huge_points(spec, dtype, points):
    assert numeric_check(sn.parse(spec), dtype, points) == []


# ── sn.compile validates the generated code of custom activations (issue 13) ────────────────


@pytest.fixture
def fresh_verdicts(monkeypatch):
    """Each test starts with no formula validated or confirmed yet in this process."""
    from symnet.codegen import validate as v

    monkeypatch.setattr(v, "_VERDICTS", {})
    monkeypatch.setattr(v, "_CONFIRMED", set())
    return v


def _lose_exponent_parentheses(monkeypatch):
    """Put back issue 13's printing bug: a compound exponent printed bare (2**0.5*Z1)."""
    from symnet.codegen.printer import NumPyCodePrinter

    def buggy(self, e, rational=False):
        return f"{self.parenthesize(e.base, 60)}**{self._print(e.exp)}"

    monkeypatch.setattr(NumPyCodePrinter, "_print_Pow", buggy)


def test_compile_refuses_generated_code_that_does_not_equal_its_formula(monkeypatch,
                                                                         fresh_verdicts):
    _lose_exponent_parentheses(monkeypatch)
    with pytest.raises(sn.SpecError, match=r"generated code for act.*does not equal"):
        sn.compile("1-1 act(2^(x/2)) mse")


def test_compile_accepts_a_correct_custom_activation_and_checks_it_once(monkeypatch,
                                                                        fresh_verdicts):
    calls = []
    real = fresh_verdicts.check_printed
    monkeypatch.setattr(fresh_verdicts, "check_printed", lambda p: calls.append(p.fn) or real(p))
    sn.compile("2-3-3-1 act(x*sigmoid(beta*x), beta=1) mse")
    assert set(calls) == {"act", "d_act", "d_act_beta"}
    n = len(calls)
    sn.compile("2-3-3-1 act(x*sigmoid(beta*x), beta=1) mse", dtype="float32")
    sn.compile("4-5-1 act(x*sigmoid(beta*x), beta=1) bce_logits")
    assert len(calls) == n  # each formula validated once per process
    sn.compile("1-1 relu mse")  # symnet's own formulas: validated by the test suite above
    assert len(calls) == n


def test_compile_confirms_at_branch_points_what_sympy_cannot_decide(monkeypatch,
                                                                     fresh_verdicts):
    """A formula SymPy can neither prove nor refute is checked against exact evaluation at its
    branch points: compiled if they agree, a SpecError if they do not."""
    def undecided(p):
        return fresh_verdicts.Check(p.fn, "open", "forced", p.code, p.body)

    monkeypatch.setattr(fresh_verdicts, "check_printed", undecided)
    sn.compile("1-1 act(2^(x/2)) mse")
    _lose_exponent_parentheses(monkeypatch)
    with pytest.raises(sn.SpecError, match=r"differs from its formula at x = "):
        sn.compile("1-1 act(2^(x/2)) mse")

"""symnet's own formula parser: what it reads, and what it refuses without running anything."""

import builtins
import os
import string

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import symnet as sn
from symnet.algebra.formula import MAX_DEPTH, MAX_LENGTH, parse_formula
from symnet.algebra.functions import sigmoid, softplus, x

beta = sp.Symbol("beta", real=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x*sigmoid(beta*x)", x * sigmoid(beta * x)),
        ("x * tanh(softplus(x))", x * sp.tanh(softplus(x))),
        ("-x^2", -(x**2)),  # power binds tighter than unary minus, as in Python
        ("2**-1*x", x / 2),
        ("x^2^3", x**8),  # right-associative: x^(2^3)
        ("x/2/3", x / 6),  # left-associative
        ("1 - x - 1", -x),
        (".5e1*x + 1.25", 5 * x + sp.Rational(5, 4)),
        ("max(x, 0)", sp.Piecewise((x, x > 0), (0, True))),
        ("min(x, 1)", sp.Piecewise((x, x < 1), (1, True))),
        ("abs(x) + exp(-x) + log(1 + x^2) + sqrt(x^2 + 1) + erf(x)",
         sp.Abs(x) + sp.exp(-x) + sp.log(1 + x**2) + sp.sqrt(x**2 + 1) + sp.erf(x)),
        ("x/2*(1 + erf(x/sqrt(2)))", x / 2 * (1 + sp.erf(x / sp.sqrt(2)))),
        ("pi*x", sp.pi * x),
        ("x^16", x**16),
        ("(((x)))", x),
    ],
)
def test_formulas_parse_to_sympy(text, expected):
    params = ["beta"] if "beta" in text else []
    assert parse_formula(text, params).expr == expected


HOSTILE = [
    ("__import__('os').system('echo hi')", "unexpected character \"'\" at position 12"),
    ("__import__", "unknown name '__import__' at position 1"),
    ("x.__class__", "unexpected character '.' at position 2"),
    ("lambda: 0", "unexpected character ':' at position 7"),
    ("x**99999999", "exponent 99999999 is beyond ±16 at position 2"),
    ("x**17", "beyond ±16"),
    ("x**-17", "beyond ±16"),
    ("2^16^16*x", "beyond ±16"),
    ("((2^16)^16)^16*x", "not finite at position 12"),
    ("(" * 10_000 + "x" + ")" * 10_000, f"the limit is {MAX_LENGTH}"),
    ("(" * (MAX_DEPTH + 5) + "x" + ")" * (MAX_DEPTH + 5), f"deeper than {MAX_DEPTH} levels"),
    ("-" * 80 + "x", f"deeper than {MAX_DEPTH} levels"),
    ("exp(" * 60 + "x" + ")" * 60, f"deeper than {MAX_DEPTH} levels"),
    ("x+" * 300 + "x", f"the limit is {MAX_LENGTH}"),
    ("cosh(x)", "unknown name 'cosh' at position 1"),
    ("eval(x)", "unknown name 'eval'"),
    ("exp(x)(x)", "unexpected '(': a call needs a function name at position 7"),
    ("x(2)", "a call needs a function name at position 2"),
    ("exp", "expected '(' after the function exp"),
    ("exp(x, x)", "exp takes 1 argument(s), got 2"),
    ("max(x)", "max takes 2 argument(s), got 1"),
    ("x[0]", "unexpected character '['"),
    ("x; 1", "unexpected character ';'"),
    ("x = 1", "unexpected character '='"),
    ("2x", "expected an operator at position 2"),
    ("x +", "found the end of the formula at position 4"),
    ("(x", "expected ')' to close the '(' at position 1"),
    ("", "found the end of the formula at position 1"),
    ("1/0*x", "not finite (a division by zero?) at position 2"),
    ("log(0)*x", "not finite"),
    ("log(-1)*x", "not a real number at position 1"),
    ("(-8)^(1/3)*x", "not a real number"),
    ("1e999*x", "too long or too large at position 1"),
    ("1e300*1e300*x", "too large to be a finite float at position 6"),
    ("exp(1000)*x", "too large to be a finite float"),
    ("x^exp(3)", "beyond ±16"),
    ("3", "does not use x"),
    ("beta*x", "unknown name 'beta'"),
]


@pytest.mark.parametrize(("text", "words"), HOSTILE, ids=[t[:30] for t, _ in HOSTILE])
def test_hostile_formulas_are_refused_without_running_anything(text, words, monkeypatch, capfd):
    ran = []

    def trap(*args, **kwargs):
        ran.append(args)
        raise AssertionError("the formula parser ran code")

    with monkeypatch.context() as m:
        for name in ("eval", "exec"):
            m.setattr(builtins, name, trap)
        m.setattr(os, "system", trap)
        m.setattr(sp, "sympify", trap)
        with pytest.raises(sn.SpecError) as err:
            parse_formula(text)
    assert words in str(err.value)
    assert not ran and capfd.readouterr().out == ""


@pytest.mark.parametrize(
    ("params", "words"),
    [(["x"], "cannot name a parameter"), (["exp"], "cannot name a parameter"),
     (["beta1"], "1 to 16 letters"), (["__class__"], "1 to 16 letters"), ([""], "1 to 16"),
     (["delta"], "start with 'd'"), (["beta", "gamma"], "does not use its parameter(s) ['gamma']")],
)
def test_bad_parameter_declarations(params, words):
    with pytest.raises(sn.SpecError, match=words.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        parse_formula("x*sigmoid(beta*x)" if "beta" in params else "x", params)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.ascii_letters[:12] + "0123456789.+-*/^(),_ eE'\"[]:;", max_size=60))
def test_any_text_parses_or_gets_a_spec_error(text):
    try:
        parsed = parse_formula(text, ["beta"])
    except sn.SpecError as e:
        assert "formula" in str(e) or "does not use" in str(e)
    else:
        assert parsed.expr.has(x)


def _leaves():
    return st.sampled_from([("x", x), ("beta", beta), ("2", sp.Integer(2)),
                            ("0.5", sp.Rational(1, 2))])


def _expressions():
    """(text, SymPy expression) pairs built side by side."""
    def extend(children):
        binary = st.tuples(children, st.sampled_from(["+", "-", "*"]), children).map(
            lambda t: (f"({t[0][0]}) {t[1]} ({t[2][0]})",
                       {"+": t[0][1] + t[2][1], "-": t[0][1] - t[2][1],
                        "*": t[0][1] * t[2][1]}[t[1]]))
        call = st.tuples(st.sampled_from(["tanh", "sigmoid", "exp", "softplus"]), children).map(
            lambda t: (f"{t[0]}({t[1][0]})",
                       {"tanh": sp.tanh, "sigmoid": sigmoid, "exp": sp.exp,
                        "softplus": softplus}[t[0]](t[1][1])))
        power = children.map(lambda c: (f"({c[0]})^2", c[1] ** 2))
        return binary | call | power

    return st.recursive(_leaves(), extend, max_leaves=8)


@settings(max_examples=40, deadline=None)
@given(_expressions())
def test_parsed_formula_equals_the_expression_it_spells(pair):
    text, expr = pair
    if not expr.has(x) or not expr.has(beta) or len(text) > MAX_LENGTH:
        return
    assert parse_formula(text, ["beta"]).expr == expr


def test_error_in_a_spec_names_the_token_and_the_position_in_the_formula():
    with pytest.raises(sn.SpecError) as err:
        sn.parse("2-3-1 act(x*cosh(x)) mse")
    message = str(err.value)
    assert "token 2" in message and "unknown name 'cosh' at position 3" in message


# ── issue 13: formulas must be real on all of ℝ; parameter names ────────────────────────────

@pytest.mark.parametrize("formula", ["sqrt(x)", "log(x)", "x^(1/3)", "x^1.5", "log(x-1)",
                                     "(-1)^x"])
def test_formula_not_real_on_all_of_R_is_rejected(formula):
    with pytest.raises(sn.SpecError, match="not real for every real x"):
        sn.parse(f"1-1 act({formula}) mse")


@pytest.mark.parametrize("formula", ["abs(x)^1.5", "sqrt(x*x+1)", "log(1+exp(x))",
                                     "log(abs(x))", "abs(x)^(beta+1)"])
def test_formula_real_on_all_of_R_is_accepted(formula):
    sn.parse(f"1-1 act({formula}{', beta=1' if 'beta' in formula else ''}) mse")


def test_parameter_named_y_is_a_clear_error():
    with pytest.raises(sn.SpecError, match="'y' cannot name a parameter"):
        sn.parse("2-1 act(x*sigmoid(y*x), y=1) mse")

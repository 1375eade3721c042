"""The matrix-level chain rule against `sympy.diff` of the fully expanded scalar loss."""

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import symnet as sn
from symnet.derivation.evaluate import interpret
from symnet.nn.losses import LOSSES
from symnet.testing.strategies import cases, networks

# SymPy's diff walks expression trees, not DAGs: the expanded loss of a deep, wide network is a
# tree whose size multiplies across layers (GELU of a sum of GELUs of …). Examples whose
# expanded loss exceeds this many nodes are skipped; the node count is what costs time, and
# every layer type, loss and size range still occurs below it.
MAX_TREE = 3_000

# Cross-entropy after a Softmax layer (`ce`) is left out here: log of a ratio of exponential
# sums makes each 60-digit comparison cost seconds, and one depth-3 example ran past ten
# minutes. The Softmax layer and `ce` are proved in general (proofs/softmax.py, losses.py) and
# compared with sympy.diff in tests/test_normalization.py's mixed networks.
EXPANDABLE_LOSSES = [name for name in LOSSES if name != "ce"]


def _symbols(prefix, rows, cols):
    return sp.ImmutableMatrix(rows, cols, lambda i, j: sp.Symbol(f"{prefix}_{i}_{j}", real=True))


def _exact(v):
    return sp.Rational(v.numerator, v.denominator) if hasattr(v, "numerator") else sp.Integer(v)


class Kink(Exception):
    """The point lies on a kink (ReLU at 0): the derivative there is a convention."""


def _active_piece(expr, values):
    """Replace each Piecewise by the piece active at `values`: differentiating that piece is
    differentiating the function on the open region around the point. (Nesting unresolved
    Piecewise makes SymPy fold conditions with simplify_logic, which takes minutes.)"""
    chosen = {}
    for pw in expr.atoms(sp.Piecewise):
        for piece, cond in pw.args:
            for rel in cond.atoms(sp.core.relational.Relational):
                if (rel.lhs - rel.rhs).xreplace(values) == 0:
                    raise Kink
            if cond.xreplace(values) == sp.true:
                chosen[pw] = piece
                break
    return expr.xreplace(chosen)


def expanded_loss(d, params, X, Y):
    """L as one scalar expression in per-entry symbols of X, Y and every parameter, and the
    symbols' values."""
    batch = X.shape[0]
    env = {d.X: _symbols("x", batch, int(d.X.shape[1])),
           d.Y: _symbols("y", batch, int(d.Y.shape[1]))}
    for name, M in d.params.items():
        env[M] = _symbols(name, *(int(n) for n in M.shape))
    values = {}
    for M, arr in [(d.X, X), (d.Y, Y)] + [(d.params[n], a) for n, a in params.items()]:
        values.update({s: _exact(v) for s, v in zip(env[M], np.asarray(arr).ravel())})
    for eq in d.forward:
        env[eq.lhs] = interpret(eq.rhs, env, batch).applyfunc(lambda e: _active_piece(e, values))
    return interpret(d.loss.rhs, env, batch), env, values


def equal(a, b) -> bool:
    """a == b: exactly where both are rational (networks of ReLU-like layers and MSE) or a
    cheap normal form of algebraic numbers decides it, else to 60 significant digits.
    Deciding equality of nested exponentials in general is open (Richardson's theorem), and
    `expand`/`cancel` on a gap with exp, log or tanh in it can take minutes (`simplify` on a
    deep GELU network too), so those are compared numerically."""
    gap = sp.sympify(a) - sp.sympify(b)
    if gap == 0:
        return True
    small = (sum(1 for _ in sp.preorder_traversal(gap)) <= 400  # expand() explodes on big trees
             and not gap.atoms(sp.Function))  # exp, log, tanh, erf: see above
    if small and (sp.expand(gap) == 0 or sp.cancel(sp.together(sp.expand(gap))) == 0):
        return True
    # Evaluate each side, not the gap: evalf of an expression that is exactly 0 keeps raising
    # its precision in search of a relative error it can never reach.
    a80, b80 = _value(a), _value(b)
    return abs(a80 - b80) <= mpmath.mpf("1e-50") * max(abs(b80), 1)


def _value(e):
    """`e` (a number built from rationals by +, ×, powers and functions) at 80 significant
    digits, by mpmath at that fixed precision, each shared subtree once: SymPy's own adaptive
    evalf (and lambdify's printer, which sorts terms by evaluating them) can spend many minutes
    on a deep tree of exponentials (SymPy 1.13, the floor)."""
    with mpmath.workdps(80):
        return _mp(sp.sympify(e), {})


_MPMATH = {"exp": mpmath.exp, "log": mpmath.log, "tanh": mpmath.tanh, "erf": mpmath.erf,
           "Abs": abs, "sqrt": mpmath.sqrt, "sin": mpmath.sin, "cos": mpmath.cos,
           "atan": mpmath.atan, "sinh": mpmath.sinh, "cosh": mpmath.cosh}


def _mp(e, seen):
    if e in seen:
        return seen[e]
    if e.is_Rational:
        v = mpmath.mpf(e.p) / e.q
    elif e.is_Float or e.is_NumberSymbol:
        v = mpmath.mpf(sp.N(e, 90))
    elif isinstance(e, sp.Add):
        v = mpmath.fsum(_mp(a, seen) for a in e.args)
    elif isinstance(e, sp.Mul):
        v = mpmath.fprod(_mp(a, seen) for a in e.args)
    elif isinstance(e, sp.Pow):
        base, exp = e.args
        v = _mp(base, seen) ** (int(exp) if exp.is_Integer else _mp(exp, seen))
    elif hasattr(e, "definition"):  # symnet's σ, softplus, …: by their definitions
        v = _mp(e.definition(*e.args), seen)
    elif type(e).__name__ in _MPMATH:
        v = _MPMATH[type(e).__name__](*(_mp(a, seen) for a in e.args))
    else:  # anything else: SymPy decides, at the same precision
        v = mpmath.mpf(sp.N(e, 90))
    seen[e] = v
    return v


@settings(suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(networks(max_depth=4, max_width=4, losses=EXPANDABLE_LOSSES), st.data())
def test_derivation_equals_sympy_diff_of_expanded_loss(net, data):
    params, X, Y = data.draw(cases(net, max_batch=3, exact=True))
    d = sn.derive(net)
    try:
        L, env, values = expanded_loss(d, params, X, Y)
    except Kink:
        assume(False)
    assume(sum(1 for _ in sp.preorder_traversal(L)) <= MAX_TREE)

    loss, grads = d.evaluate(params, X, Y)
    assert loss.is_number and equal(loss, L.xreplace(values))
    for name, arr in grads.items():
        assert arr.shape == net.parameters[name]
        for symbol, got in zip(env[d.params[name]], arr.ravel()):
            want = sp.diff(L, symbol).xreplace(values)
            assert equal(got, want), (sn.describe(net), name, symbol, got, want)


def test_relu_mse_derivation_is_rational():
    net = sn.parse("2-3-1 relu mse")
    params = {"W1": np.array([[1, -2, 3], [2, 1, -1]], dtype=object),
              "b1": np.array([0, 1, -1], dtype=object),
              "W2": np.array([[1], [2], [-3]], dtype=object), "b2": np.array([1], dtype=object)}
    X = np.array([[1, 2], [-1, 3]], dtype=object)
    Y = np.array([[0], [1]], dtype=object)
    loss, grads = sn.derive(net).evaluate(params, X, Y)
    assert isinstance(loss, sp.Rational)
    assert all(isinstance(v, sp.Rational) for g in grads.values() for v in g.ravel())
    assert loss == sp.Rational(353, 2)  # Z2 = (8, 18): L = ((8 - 0)² + (18 - 1)²)/2


def _count(depth):
    layers = []
    for _ in range(depth):
        layers += [sn.Dense(3, 3), sn.Sigmoid()]
    return sn.derive(sn.Network(layers, loss=sn.MSE())).count_nodes()


def test_derivation_size_is_linear_in_depth():
    counts = {depth: _count(depth) for depth in (25, 50, 100)}
    per_layer = (counts[100] - counts[50]) / 50
    assert per_layer == (counts[50] - counts[25]) / 25  # exactly linear
    assert per_layer < 100


def test_derivation_size_does_not_depend_on_width():
    def count(width):
        return sn.derive(sn.parse(f"{width}-{width}-{width} tanh mse")).count_nodes()

    assert count(2) == count(64) == count(1000)


def test_hundred_layer_derivation_builds_quickly():
    layers = [sn.Dense(4, 4), sn.ReLU()] * 100
    d = sn.derive(sn.Network(layers, loss=sn.MSE()))
    assert len(d.backward) == 100 * 3
    assert d.equations[-1].name == "db1"


def test_equation_order_and_names():
    d = sn.derive(sn.parse("2-3-1 sigmoid sigmoid mse"))
    assert [e.name for e in d.backward] == ["dZ2", "dW2", "db2", "dZ1", "dW1", "db1"]
    assert [e.kind for e in d.backward] == ["delta", "gradient", "gradient"] * 2
    assert str(d.gradient("W1")) == "X.T*dZ1"
    expanded = d.gradient("W1", expand=True)
    assert {s.name for s in expanded.free_symbols if isinstance(s, sp.MatrixSymbol)} == {
        "X", "Y", "W1", "b1", "W2", "b2"
    }


def test_gradient_of_unknown_parameter():
    with pytest.raises(KeyError, match="not a parameter"):
        sn.derive(sn.parse("2-1 mse")).gradient("W9")


def test_weight_decay_adds_lambda_w():
    d = sn.derive(sn.parse("2-1 mse weight_decay=0.5"))
    assert sp.Rational(1, 2) * d.params["W1"] in d.gradient("W1").args


def test_derive_and_explicit_take_a_spec_string_as_compile_does():
    d = sn.derive("2-3-1 sigmoid sigmoid mse")
    assert d.network.n_in == 2 and "A2 = σ(Z2)" in str(d)
    assert "w¹₁₁" in str(sn.explicit("2-3-1 sigmoid sigmoid mse"))

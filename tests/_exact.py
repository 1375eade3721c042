"""Helpers shared by the tests of layers beyond the MLP: the fully expanded scalar loss that
`sympy.diff` differentiates, and exact comparison of its derivatives with a derivation's."""

from fractions import Fraction

import numpy as np
import sympy as sp

from symnet.derivation.evaluate import interpret


def exact(v):
    if isinstance(v, Fraction):
        return sp.Rational(v.numerator, v.denominator)
    return sp.Rational(v) if isinstance(v, sp.Rational) else sp.Integer(int(v))


def equal(a, b) -> bool:
    """a == b: proved where SymPy's structural equality or `expand` (on small expressions)
    decides it, else to 60 significant digits: equality of nested exponentials and radicals
    is undecidable in general (Richardson), and `expand` of a 600-operation closed form with
    radicals takes seconds."""
    a, b = sp.sympify(a), sp.sympify(b)
    gap = a - b
    if gap == 0 or (sp.count_ops(gap) < 100 and sp.expand(gap) == 0):
        return True
    # Each side evaluated alone: N(a − b) would chase the cancellation to ever higher precision.
    na, nb = sp.N(a, 60), sp.N(b, 60)
    return abs(na - nb) <= sp.Float("1e-55", 60) * max(abs(nb), 1)


theta = sp.Symbol("theta", real=True)


def _matrix(arr, rows, cols):
    return sp.ImmutableMatrix(rows, cols, [exact(v) for v in np.asarray(arr).ravel()])


def loss_in(d, params, X, Y, name, index):
    """L written out as a scalar expression of one parameter entry θ = params[name].flat[index],
    every other number fixed at its exact value. SymPy folds the fixed numbers as it builds,
    so the expression stays small enough for `sympy.diff` even through normalizations."""
    env = {d.X: _matrix(X, *X.shape), d.Y: _matrix(Y, *Y.shape)}
    for n, M in d.params.items():
        env[M] = _matrix(params[n], int(M.shape[0]), int(M.shape[1]))
    M = d.params[name]
    env[M] = sp.ImmutableMatrix(int(M.shape[0]), int(M.shape[1]),
                                lambda i, j: theta if i * M.shape[1] + j == index else env[M][i, j])
    for eq in d.forward:
        env[eq.lhs] = interpret(eq.rhs, env, X.shape[0])
    return interpret(d.loss.rhs, env, X.shape[0])


def check_against_sympy_diff(net, d, params, X, Y, *, max_entries=None, rng=None):
    """Assert that `d.evaluate` (exact) equals, entry by entry, `sympy.diff` of the loss
    written out as a scalar expression of that entry. With `max_entries`, a random sample of
    that many entries is checked."""
    loss, grads = d.evaluate(params, X, Y)
    assert all(g.shape == net.parameters[n] for n, g in grads.items())
    entries = [(n, i) for n, a in params.items() for i in range(np.size(a))]
    if max_entries is not None and len(entries) > max_entries:
        entries = [entries[i] for i in sorted(rng.choice(len(entries), max_entries, replace=False))]
    for name, i in entries:
        L = loss_in(d, params, X, Y, name, i)
        at = {theta: exact(np.asarray(params[name]).ravel()[i])}
        assert equal(loss, L.xreplace(at)), (name, i)
        got, want = np.asarray(grads[name]).ravel()[i], sp.diff(L, theta).xreplace(at)
        assert equal(got, want), (net, name, i, got, want)
    return len(entries)


def rationals(rng, shape, denominator=4, low=-2, high=2):
    values = rng.integers(low * denominator, high * denominator + 1, size=int(np.prod(shape)))
    return np.array([Fraction(int(v), denominator) for v in values], dtype=object).reshape(shape)


def directional_check(d, params, X, Y, rng, directions=2, h=Fraction(1, 10**5)):
    """⟨∇L, v⟩ from `d.evaluate` (float mode) against the central difference
    (L(θ + hv) − L(θ − hv)) / 2h of the loss `d.evaluate` computes, along random v. The
    perturbed points are exact; the error is h²·L‴/6 ≈ 1e-10 plus float64 rounding of L
    divided by 2h ≈ 1e-11."""
    _, grads = d.evaluate(params, X, Y, exact=False)
    for _ in range(directions):
        v = {k: rationals(rng, np.shape(p), denominator=8) for k, p in params.items()}
        plus = {k: np.asarray(params[k], dtype=object) + h * v[k] for k in params}
        minus = {k: np.asarray(params[k], dtype=object) - h * v[k] for k in params}
        Lp, _ = d.evaluate(plus, X, Y, exact=False)
        Lm, _ = d.evaluate(minus, X, Y, exact=False)
        slope = (Lp - Lm) / (2 * float(h))
        predicted = sum(float(np.sum(grads[k] * v[k].astype(float))) for k in params)
        assert abs(slope - predicted) <= 1e-7 * max(1.0, abs(predicted)), (slope, predicted)

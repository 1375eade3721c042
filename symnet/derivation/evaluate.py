"""Evaluate a derivation through SymPy: the ground truth every faster path is checked against.

With exact inputs (ints, `fractions.Fraction`, SymPy Rationals) the result is exact: Rationals
where everything is rational (ReLU, MSE), closed forms such as 1/(1 + e^(−1/3)) otherwise. With
floating-point inputs each float is taken at its exact binary value and the arithmetic is done
with `digits` significant digits, far beyond float64.

`interpret` is a small evaluator for symnet's matrix expressions on explicit SymPy matrices,
used here and by the explicit (per-weight) printer.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul, MatrixSymbol, OneMatrix, Transpose, ZeroMatrix

from ..algebra.identities import cancellation_free
from ..algebra.matexpr import B, Elementwise, LogSumExp, Op, Softmax, SumEntries
from ..errors import DataError
from ..nn.data import check_batch, check_params


def interpret(expr, env: dict, batch: int, definitions=None):
    """The value of `expr` with each MatrixSymbol (and L) looked up in `env` and B = batch.

    Matrices are explicit `sp.ImmutableMatrix`; results are memoized per node, so shared
    sub-expressions are computed once. With `definitions` ({A1: Elementwise(σ, Z1), …}, for
    evaluation at a working precision) element-wise formulas are evaluated in a form equal to
    theirs without cancellation (`accurate_fn`): σ′ = y·(1 − y) is 1 − 1 = 0 at 50 digits
    for x ≳ 115, where e^(−x) is not."""
    memo: dict = {}

    def ev(e):
        if e in env:
            return env[e]
        if e in memo:
            return memo[e]
        memo[e] = value = _node(e)
        return value

    def _node(e):
        if isinstance(e, MatrixSymbol):
            raise KeyError(f"no value for {e.name}")
        if isinstance(e, OneMatrix | ZeroMatrix):
            rows, cols = (int(sp.sympify(d).xreplace({B: batch})) for d in e.shape)
            return sp.ImmutableMatrix.ones(rows, cols) * (1 if isinstance(e, OneMatrix) else 0)
        if isinstance(e, MatAdd):
            args = [ev(a) for a in e.args]
            total = args[0]
            for a in args[1:]:
                total = total + a
            return total
        if isinstance(e, MatMul):
            scalar, product = sp.S.One, None
            for a in e.args:
                v = ev(a)
                if isinstance(v, sp.MatrixBase):
                    product = v if product is None else product * v
                else:
                    scalar = scalar * v
            return product.applyfunc(lambda t: scalar * t) if scalar != 1 else product
        if isinstance(e, HadamardProduct):
            args = [ev(a) for a in e.args]
            out = args[0]
            for a in args[1:]:
                out = out.multiply_elementwise(a)
            return out
        if isinstance(e, Transpose):
            return ev(e.arg).T
        if isinstance(e, Elementwise):
            fn = e.fn.lam if definitions is None else accurate_fn(e, definitions)
            ops = [ev(op) for op in e.operands]
            return sp.ImmutableMatrix(
                ops[0].rows, ops[0].cols, lambda i, j: fn(*(op[i, j] for op in ops))
            )
        if isinstance(e, Softmax | LogSumExp):
            Z = ev(e.arg)
            rows = []
            for i in range(Z.rows):
                exps = [sp.exp(Z[i, k]) for k in range(Z.cols)]
                total = sum(exps)
                rows.append([t / total for t in exps] if isinstance(e, Softmax)
                            else [sp.log(total)])
            return sp.ImmutableMatrix(rows)
        if isinstance(e, SumEntries):
            return sum(ev(e.arg))
        if isinstance(e, Op):  # a layer family's own operation computes its exact value
            return e._exact_value(ev, batch)
        if isinstance(e, sp.MatrixBase):
            return e
        if e.is_Atom:
            return e.xreplace({B: batch})
        return e.func(*(ev(a) for a in e.args))  # scalar arithmetic around SumEntries

    return ev(expr)


def accurate_fn(e, definitions) -> sp.Lambda:
    """The formula of Elementwise `e` as a Lambda of its operands, with each operand that is a
    layer's output y = f(x) of the other operands replaced by f(x), and the identities of
    `algebra.identities` applied: the same function, free of their cancellations."""
    key = (e, tuple(sorted(((k, v) for k, v in definitions.items() if k in e.operands),
                           key=str)))
    if key not in _ACCURATE:
        args = [sp.Dummy(f"a{i}", real=True) for i in range(len(e.operands))]
        body = e.fn.lam(*args)
        for op, a in zip(e.operands, args):
            d = definitions.get(op)
            if isinstance(d, Elementwise) and set(d.operands) <= set(e.operands) and d is not e:
                body = body.xreplace({a: d.fn.lam(*[args[e.operands.index(o)]
                                                    for o in d.operands])})
        _ACCURATE[key] = sp.Lambda(tuple(args), cancellation_free(body))
    return _ACCURATE[key]


_ACCURATE: dict = {}


def evaluate(derivation, params, X, Y, *, exact: bool | None = None, digits: int = 50,
             masks=None):
    """(loss, {name: gradient}) for `params`, `X`, `Y`, computed by SymPy from the equations.
    `masks`: {name: 0/1 array} for each dropout layer's mask (M1, …), which is data as X is.
    With an input gradient in the derivation, the gradients include "X".

    `exact=None` decides from the inputs: exact when every number is an int, Fraction or SymPy
    Rational, else floating point with `digits` digits. Exact results are NumPy arrays of
    dtype object holding SymPy numbers; floating results are float64 arrays. Gradients have
    the parameters' shapes (biases 1-D)."""
    net = derivation.network
    params = check_params(net, params, allow_exact=True)
    X, Y = check_batch(net, X, Y, allow_exact=True)
    values = [*params.values(), X, Y]
    if exact is None:
        exact = all(_is_exact(v) for arr in values for v in np.asarray(arr).ravel())
    to_sympy = _exact_number if exact else (lambda v: sp.Float(_exact_number(v), digits))

    def matrix(arr, rows, cols):
        return sp.ImmutableMatrix(rows, cols, [to_sympy(v) for v in np.asarray(arr).ravel()])

    env = {derivation.X: matrix(X, *X.shape), derivation.Y: matrix(Y, *Y.shape)}
    for name, symbol in derivation.params.items():
        env[symbol] = matrix(params[name], *(int(d) for d in symbol.shape))
    batch = X.shape[0]
    env.update(_masks(derivation, masks, batch, matrix))
    definitions = None if exact else {eq.lhs: eq.rhs for eq in derivation.equations
                                      if isinstance(eq.rhs, Elementwise)}
    for eq in derivation.equations:
        value = interpret(eq.rhs, env, batch, definitions)
        # Floating mode: fold constants such as GELU's √(2/π) into numbers after each equation,
        # or the expressions grow with depth instead of staying numbers.
        env[eq.lhs] = value if exact else value.evalf(digits)

    def out(value):
        return value if exact else float(value)

    loss = out(env[derivation.loss.lhs])
    grads = {}
    for name, symbol in derivation.params.items():
        g = env[sp.MatrixSymbol(f"d{name}", *symbol.shape)]
        arr = np.array([[out(v) for v in g.row(i)] for i in range(g.rows)], dtype=object)
        grads[name] = arr.reshape(np.shape(params[name])).astype(object if exact else np.float64)
    dX = sp.MatrixSymbol("dX", *derivation.X.shape)
    if dX in env:
        g = env[dX]
        grads["X"] = np.array([[out(v) for v in g.row(i)] for i in range(g.rows)],
                              dtype=object if exact else np.float64)
    return loss, grads


def _masks(derivation, masks, batch, matrix) -> dict:
    """The dropout masks' values, each checked: a (B, n) array of 0s and 1s."""
    symbols = derivation.tape.masks
    if not symbols:
        if masks:
            raise DataError("masks= given, but the network has no dropout")
        return {}
    names = {str(M.name): M for M in symbols}
    if not isinstance(masks, dict) or set(masks) != set(names):
        raise DataError(f"the network has dropout: pass masks= a dict with keys "
                        f"{sorted(names)}, each a (B, n) array of 0s and 1s")
    env = {}
    for name, M in names.items():
        a = np.asarray(masks[name])
        n = int(M.shape[1])
        if a.shape != (batch, n) or not np.isin(a, (0, 1)).all():
            raise DataError(f"mask {name} must be a ({batch}, {n}) array of 0s and 1s, got "
                            f"shape {a.shape}")
        env[M] = matrix(a.astype(int), batch, n)
    return env


def _is_exact(v) -> bool:
    return isinstance(v, int | np.integer | Fraction | sp.Rational) and not isinstance(v, bool)


def _exact_number(v) -> sp.Rational:
    if isinstance(v, Fraction):
        return sp.Rational(v.numerator, v.denominator)
    if isinstance(v, sp.Rational):
        return v
    if isinstance(v, int | np.integer):
        return sp.Integer(int(v))
    return sp.Rational(float(v))  # a float's exact binary value

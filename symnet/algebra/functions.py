"""Scalar functions declared by their formula, and the search for a derivative's cheapest form.

Every derivative symnet uses is computed here by `sympy.diff` from a formula; nothing is typed
in. `cheapest_form` then looks for an equal but cheaper way to compute it, for example
σ'(x) = e^(−x)/(1 + e^(−x))² as y·(1 − y) with y = σ(x), the layer's output that the forward
pass already holds. Every candidate is checked numerically against the plain derivative before
it may win, and the cost of a candidate is its operation count, transcendental calls weighted.

`sigmoid` and `softplus` are SymPy functions of their own (defined by their elementary formulas)
so that printouts say σ(x) and generated code can use overflow-free implementations.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

x, y = sp.symbols("x y", real=True)

# A transcendental call (exp, log, tanh, σ, …) costs about as much as several arithmetic
# operations in NumPy; everything count_ops reports that is not arithmetic is such a call.
_ARITHMETIC = {"ADD": 1, "SUB": 1, "MUL": 1, "NEG": 1, "DIV": 2, "POW": 2, "GT": 1, "LT": 1}
_CALL = 8
_SIMPLIFY_LIMIT = 20  # simplify() on larger derivatives (GELU's) takes seconds and finds nothing

# Rational sample points: exact, so candidates are compared at full working precision.
_POINTS = (sp.Rational(-17, 10), sp.Rational(-3, 10), sp.Rational(9, 20), sp.Rational(11, 5))


class _Defined(sp.Function):
    """A function known by an elementary definition; its derivative is derived from it."""

    nargs = 1

    @staticmethod
    def definition(arg):  # pragma: no cover - overridden
        raise NotImplementedError

    @classmethod
    def eval(cls, arg):
        if arg.is_Float:  # numeric evaluation at a given precision
            return cls.definition(arg)
        return None

    def _eval_rewrite_as_exp(self, arg, **kwargs):
        return self.definition(arg)

    def _eval_evalf(self, prec):
        return self.definition(self.args[0])._eval_evalf(prec)

    def _eval_is_real(self):
        return self.args[0].is_real

    def fdiff(self, argindex=1):
        return _derivative_of(type(self)).subs(x, self.args[0])


class sigmoid(_Defined):  # noqa: N801 - SymPy function names are lowercase
    """σ(x) = 1 / (1 + e^(−x))"""

    @staticmethod
    def definition(arg):
        return 1 / (1 + sp.exp(-arg))


class softplus(_Defined):  # noqa: N801
    """softplus(x) = log(1 + e^x)"""

    @staticmethod
    def definition(arg):
        return sp.log(1 + sp.exp(arg))


NAMED = (sigmoid, softplus)


@cache
def _derivative_of(cls) -> sp.Expr:
    """d/dx of a named function, in terms of named functions where that is cheaper."""
    f = cls.definition(x)
    form = cheapest_form(sp.diff(f, x), formula=f)
    return form.subs(y, cls(x))


def cost(expr: sp.Expr) -> int:
    """Operations to compute `expr`, shared sub-expressions counted once."""
    replacements, reduced = sp.cse(expr)
    parts = [rhs for _, rhs in replacements] + list(reduced)
    visual = sum(sp.count_ops(p, visual=True) for p in parts)
    if visual == 0:
        return 0
    return int(visual.subs({s: _ARITHMETIC.get(s.name, _CALL) for s in visual.free_symbols}))


def _single_use(expr, var) -> bool:
    return sum(1 for node in sp.preorder_traversal(expr) if node == var) == 1


def _candidates(D: sp.Expr, formula: sp.Expr | None, points):
    yield D
    if cost(D) <= _SIMPLIFY_LIMIT:
        yield sp.simplify(D)
    yield sp.factor(D)
    if formula is None:
        return
    yield D.subs(formula, y)  # the output already computed by the forward pass
    if _single_use(formula, x) and not formula.has(sp.Piecewise):
        # Invert y = f(x) and write D in y alone (σ' = y(1 − y), tanh' = 1 − y²).
        for inverse in sp.solve(sp.Eq(y, formula), x):
            yield sp.simplify(D.subs(x, inverse))
    for named in NAMED:  # D might be a named function itself (softplus' = σ)
        if named.definition(x) != formula:
            yield named(x)  # kept only if it agrees with D at every sample point


def _agrees(candidate, D, formula, points) -> bool:
    # Symbols other than x and y (an activation's learned scalars) are sampled too.
    others = sorted((D.free_symbols | candidate.free_symbols) - {x, y}, key=str)
    for p in points:
        at = {s: sp.Rational(7 + 3 * i, 10) - p / 3 for i, s in enumerate(others)}
        # y is the output f(x) for activations; for losses ℓ(x, y) it is the target, sampled.
        at |= {x: p, y: sp.Rational(3, 10) if formula is None else formula.subs(at | {x: p})}
        try:
            want = sp.N(D.subs(at), 30)
            gap = abs(sp.N(candidate.subs(at), 30) - want)
            if not gap.is_number or gap > sp.Float(1e-20) * max(1, abs(want)):
                return False
        except (TypeError, ValueError):
            return False
    return True


def cheapest_form(D: sp.Expr, *, formula: sp.Expr | None = None, points=_POINTS) -> sp.Expr:
    """The cheapest expression equal to `D` (a function of x, or of x and y = formula(x)).

    Ties keep the earlier candidate, which is written in x alone: a form in the output y can
    lose precision (softplus' as 1 − e^(−y) cancels for large negative x)."""
    best, best_cost = D, cost(D)
    for candidate in _candidates(D, formula, points):
        if candidate.has(sp.nan, sp.zoo) or not _agrees(candidate, D, formula, points):
            continue
        c = cost(candidate)
        if c < best_cost:
            best, best_cost = candidate, c
    return best

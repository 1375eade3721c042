"""Scalar functions declared by their formula, and the search for a derivative's cheapest form.

Every derivative symnet uses is computed here by `sympy.diff` from a formula; nothing is typed
in. `cheapest_form` then looks for an equal but cheaper way to compute it, for example
σ'(x) = e^(−x)/(1 + e^(−x))² as y·(1 − y) with y = σ(x), the layer's output that the forward
pass already holds. Every candidate is checked numerically against the plain derivative before
it may win, and the cost of a candidate is its operation count, transcendental calls weighted. The
search is bounded: structural inversion instead of `solve`, `simplify` only on small
expressions, any SymPy failure skips the candidate, and a time budget keeps the best so far.

`sigmoid` and `softplus` are SymPy functions of their own (defined by their elementary formulas)
so that printouts say σ(x) and generated code can use overflow-free implementations.
"""

from __future__ import annotations

import time
from functools import cache

import sympy as sp

x, y = sp.symbols("x y", real=True)

# A transcendental call (exp, log, tanh, σ, …) costs about as much as several arithmetic
# operations in NumPy; everything count_ops reports that is not arithmetic is such a call.
_ARITHMETIC = {"ADD": 1, "SUB": 1, "MUL": 1, "NEG": 1, "DIV": 2, "POW": 2, "GT": 1, "LT": 1}
_CALL = 8
_SIMPLIFY_LIMIT = 20  # simplify() on larger derivatives (GELU's) takes seconds and finds nothing
# The whole search for a custom formula; past it the plain derivative (or the best so far) is
# used. symnet's own formulas search without a time limit (budget=None): they finish in well
# under a second, and their generated code must not depend on how loaded the machine is.
BUDGET_S = 3.0

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
    form = cheapest_form(sp.diff(f, x), formula=f, budget=None)  # a named function: ours
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


def _invert(formula: sp.Expr) -> sp.Expr | None:
    """x in terms of y = formula(x), by peeling invertible layers while x occurs once (a + g,
    a·g, 1/g, e^g, log g, tanh g, σ(g), g^(odd n)); None for anything else. Structural and
    instant, unlike `solve`, which can run for minutes (tanh(2 + 10x))."""
    if not _single_use(formula, x):
        return None
    g, inverse = formula, y
    for _ in range(MAX_PEEL):
        if g == x:
            return inverse
        if isinstance(g, sp.Add | sp.Mul):
            inner = [a for a in g.args if a.has(x)]
            if len(inner) != 1:
                return None
            rest = g.func(*[a for a in g.args if not a.has(x)])
            if isinstance(g, sp.Mul) and rest == 0:
                return None
            inverse, g = (inverse - rest if isinstance(g, sp.Add) else inverse / rest), inner[0]
        elif isinstance(g, sp.exp):
            inverse, g = sp.log(inverse), g.args[0]
        elif isinstance(g, sp.log):
            inverse, g = sp.exp(inverse), g.args[0]
        elif isinstance(g, sp.tanh):
            inverse, g = sp.atanh(inverse), g.args[0]
        elif isinstance(g, sigmoid):
            inverse, g = sp.log(inverse / (1 - inverse)), g.args[0]
        elif isinstance(g, sp.Pow) and g.exp == -1:
            inverse, g = 1 / inverse, g.base
        elif isinstance(g, sp.Pow) and g.exp.is_Integer and g.exp % 2 == 1 and g.exp > 0:
            inverse, g = sp.real_root(inverse, g.exp), g.base
        else:
            return None
    return None


MAX_PEEL = 8
_SIMPLIFY_OPS = 40  # simplify() only on small expressions: it is unbounded on large ones
# Functions the NumPy printer (and the generated-code validator) know; a candidate with any
# other (erfinv, atanh, …) is not a candidate.
PRINTABLE = (sp.exp, sp.log, sp.tanh, sp.Abs, sp.sign, sp.erf, sigmoid, softplus,
             sp.Max, sp.Min, sp.Piecewise)


def _printable(expr) -> bool:
    calls = expr.atoms(sp.Function)
    return all(isinstance(c, PRINTABLE) for c in calls)


def _candidates(D: sp.Expr, formula: sp.Expr | None, points):
    """Expressions that may equal D, each built in bounded time (small simplify calls only)."""
    yield D
    if cost(D) <= _SIMPLIFY_LIMIT:
        yield sp.simplify(D)
    if sp.count_ops(D) <= _SIMPLIFY_OPS:
        yield sp.factor(D)
    if formula is None:
        return
    yield D.subs(formula, y)  # the output already computed by the forward pass
    if not formula.has(sp.Piecewise):
        inverse = _invert(formula)
        if inverse is not None:
            # D in y alone (tanh' = 1 − y²); kept only if it is accurate in floats too
            in_y = D.subs(x, inverse)
            yield sp.simplify(in_y) if sp.count_ops(in_y) <= _SIMPLIFY_OPS else in_y
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
        want = sp.N(D.subs(at), 30)
        gap = abs(sp.N(candidate.subs(at), 30) - want)
        if not gap.is_number or gap > sp.Float(1e-20) * max(1, abs(want)):
            return False
    return True


def cheapest_form(D: sp.Expr, *, formula: sp.Expr | None = None, points=_POINTS,
                  budget: float | None = BUDGET_S) -> sp.Expr:
    """The cheapest expression equal to `D` (a function of x, or of x and y = formula(x)).

    The search is optional: a candidate that SymPy fails on is skipped, and after `budget`
    seconds (None: no limit, for symnet's own formulas) the best so far (at first D itself) is
    kept. Ties keep the earlier candidate, which
    is written in x alone: a form in the output y can lose precision (softplus' as 1 − e^(−y)
    cancels for large negative x)."""
    start = time.perf_counter()
    best, best_cost = D, cost(D)
    candidates = _candidates(D, formula, points)
    while budget is None or time.perf_counter() - start < budget:
        try:
            candidate = next(candidates)
        except StopIteration:
            break
        except Exception:  # noqa: BLE001 - a failed rewrite is just not a candidate
            continue
        if candidate is None or candidate.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
            continue
        if not _printable(candidate):
            continue
        if not _guarded(lambda c=candidate: _agrees(c, D, formula, points), False):
            continue
        c = cost(candidate)
        if c < best_cost:
            best, best_cost = candidate, c
    return best


def _guarded(fn, default):
    try:
        return fn()
    except Exception:  # noqa: BLE001 - SymPy/mpmath failures (ZeroDivisionError, KeyError, …)
        return default

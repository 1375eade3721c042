"""Index calculus for symnet's matrix expressions, with symbolic dimensions.

`entry(M, r, c)` is the (r, c) entry of a matrix expression written as a scalar formula with
`sympy.Sum` over symbolic ranges: what each node *means*, independent of how symnet prints or
generates it (the explicit-matrix counterpart is `symnet.derivation.evaluate.interpret`). SymPy then
differentiates such formulas with respect to one matrix entry — ∂Xᵢₜ/∂Xₖₗ becomes a pair of
KroneckerDeltas — and `.doit()` sums the deltas away. A rule proved this way holds for every
batch size and every width at once: a *general* proof.

A proof states a vector-Jacobian product the way the chain rule defines it: with G = ∂L/∂out
the upstream gradient, ∂L/∂Vₖₗ = Σᵢⱼ Gᵢⱼ ∂outᵢⱼ/∂Vₖₗ (`pullback`).

A new matrix node (LayerNorm's row means, say) needs one more case in `entry` before a proof can
speak about it; until then `entry` refuses it by name.
"""

from __future__ import annotations

import itertools

import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul, MatrixSymbol, OneMatrix, Transpose, ZeroMatrix

from symnet.algebra.matexpr import B, Elementwise, LogSumExp, Softmax, SumEntries

# Widths: symbolic, like the batch size B. Indices: i, j run over an output, k, l over an input.
n, m = sp.symbols("n m", integer=True, positive=True)
i, j, k, l = sp.symbols("i j k l", integer=True, nonnegative=True)

__all__ = ["B", "n", "m", "i", "j", "k", "l", "entry", "scalar", "pullback", "gradient"]


# Summation indices are Dummies (each Sum its own); their names only matter to the reader, who
# would take two nested sums over the same printed name for a diagonal, so names rotate.
_NAMES = itertools.cycle("tuvws")


def _index(name=None):
    return sp.Dummy(name or next(_NAMES), integer=True, nonnegative=True)


def entry(M, r, c) -> sp.Expr:
    """The (r, c) entry of the matrix expression `M`, as a scalar formula."""
    if isinstance(M, MatrixSymbol):
        return M[r, c]
    if isinstance(M, OneMatrix):
        return sp.S.One
    if isinstance(M, ZeroMatrix):
        return sp.S.Zero
    if isinstance(M, MatAdd):
        return sp.Add(*(entry(a, r, c) for a in M.args))
    if isinstance(M, MatMul):
        scalars = [a for a in M.args if not a.is_Matrix]
        mats = [a for a in M.args if a.is_Matrix]
        return sp.Mul(*scalars) * _product(mats, r, c)
    if isinstance(M, HadamardProduct):
        return sp.Mul(*(entry(a, r, c) for a in M.args))
    if isinstance(M, Transpose):
        return entry(M.arg, c, r)
    if isinstance(M, Elementwise):
        return M.fn.lam(*(entry(op, r, c) for op in M.operands))
    if isinstance(M, Softmax):  # softmax(Z)ᵣ꜀ = exp(Zᵣ꜀) / Σₜ exp(Zᵣₜ)
        t = _index()
        return sp.exp(entry(M.arg, r, c)) / sp.Sum(sp.exp(entry(M.arg, r, t)), _span(t, M.arg, 1))
    if isinstance(M, LogSumExp):  # LSE(Z)ᵣ = log Σₜ exp(Zᵣₜ), a column
        t = _index()
        return sp.log(sp.Sum(sp.exp(entry(M.arg, r, t)), _span(t, M.arg, 1)))
    raise TypeError(f"no index semantics for {type(M).__name__}: add a case to proofs/_index.py")


def _span(t, M, axis):
    return (t, 0, M.shape[axis] - 1)


def _product(mats, r, c):
    """(A₁ A₂ … Aₚ)ᵣ꜀ = Σ over the inner indices of A₁ᵣₜ₁ A₂ₜ₁ₜ₂ … Aₚₜ₍ₚ₋₁₎꜀."""
    if len(mats) == 1:
        return entry(mats[0], r, c)
    head, rest = mats[0], mats[1:]
    if head.shape[1] == 1:  # an outer product such as 𝟙bᵀ: nothing to sum
        return entry(head, r, 0) * _product(rest, 0, c)
    t = _index()
    return sp.Sum(entry(head, r, t) * _product(rest, t, c), _span(t, head, 1))


def scalar(expr) -> sp.Expr:
    """A scalar expression (a loss) with each Σ over a matrix written as a double Sum."""
    if isinstance(expr, SumEntries):
        r, c = _index("r"), _index("c")
        M = expr.arg
        if M.shape[1] == 1:  # a column (LSE's): one sum
            return sp.Sum(entry(M, r, 0), _span(r, M, 0))
        return sp.Sum(entry(M, r, c), _span(r, M, 0), _span(c, M, 1))
    if not expr.args or expr.is_Matrix:
        return expr
    return expr.func(*(scalar(a) for a in expr.args))


def pullback(G, out, V, r, c) -> sp.Expr:
    """Σᵢⱼ Gᵢⱼ ∂outᵢⱼ/∂Vᵣ꜀: the chain rule's ∂L/∂Vᵣ꜀ when G = ∂L/∂out, deltas summed away."""
    a, b = _index("a"), _index("b")
    terms = G[a, b] * sp.diff(entry(out, a, b), V[r, c])
    return _sum_out(terms, [_span(a, out, 0), _span(b, out, 1)])


def _sum_out(terms, spans):
    """Σ over `spans`, one index at a time, first those a KroneckerDelta pins down: SymPy's
    doit() on a double Sum gives up when the delta it could remove is on the outer index."""
    spans = list(spans)
    while spans:
        deltas = terms.atoms(sp.KroneckerDelta)
        pinned = [s for s in spans if any(s[0] in d.free_symbols for d in deltas)]
        span = (pinned or spans)[0]
        spans.remove(span)
        terms = sp.Sum(terms, span).doit()
    return terms


def gradient(L, V, r, c) -> sp.Expr:
    """∂L/∂Vᵣ꜀ for a scalar L built from symnet's nodes."""
    return sp.diff(scalar(L), V[r, c]).doit()

"""Identities that remove cancellation: a formula rewritten into an equal one whose float
evaluation keeps its relative accuracy where the plain form loses everything.

    σ(a)·(1 − σ(a)) = σ(a)·σ(−a) = σ′(a)     (y·(1 − y) is 0 once y = σ(x) rounds to 1)
    1 − σ(a)        = σ(−a)
    c − c·tanh(a)²  = 4c·σ′(2a)              (tanh′ = 1 − tanh², 0 from |x| ≈ 19 in float64)
    c ± c·tanh(a)   = 2c·σ(±2a)              (GELU's (1 + tanh u)/2 in its left tail)

σ′ is `SigmoidPrime`, a function of its own: e^(−|a|)/(1 + e^(−|a|))² neither cancels nor
overflows. Constants change only by factors 2 and 4, so floats stay exact. Used by the code
generator (`codegen.stable`) and by exact evaluation at working precision
(`derivation.evaluate`), where 1 − tanh(u)² at u = 10⁴⁶⁵ would need 10⁴⁶⁵ digits.
"""

from __future__ import annotations

import sympy as sp

from .functions import _Defined, sigmoid


class SigmoidPrime(_Defined):
    """σ′(a) = σ(a)·σ(−a) = e^(−a)/(1 + e^(−a))², printed as `_sigmoid_prime`."""

    @staticmethod
    def definition(arg):
        return sp.exp(-arg) / (1 + sp.exp(-arg)) ** 2

    @classmethod
    def eval(cls, arg):
        if arg.could_extract_minus_sign():  # even: σ′(−a) = σ′(a)
            return cls(-arg)
        return super().eval(arg)


def _integral_floats(expr):
    """2·0.5 is the Float 1.0; printed code would multiply by it. Make such Floats Integers."""
    return expr.xreplace({f: sp.Integer(int(f)) for f in expr.atoms(sp.Float)
                          if float(f).is_integer() and abs(f) < 2**53})


def _eq(a, b) -> bool:
    """Exact equality of two numbers, Floats compared by their binary value."""
    try:
        return sp.Rational(a) == sp.Rational(b)
    except (TypeError, ValueError):
        return a == b


def _complement(term):
    """(c, a) when `term` is c·tanh(a), else None."""
    coeff, rest = term.as_coeff_Mul()
    if isinstance(rest, sp.tanh):
        return coeff, rest.args[0]
    return None


def _rewrite_add(e):
    terms = list(e.args)
    # c − c·tanh(a)² → 4c·σ′(2a)
    const = sum((t for t in terms if t.is_number), sp.S.Zero)
    for t in terms:
        coeff, rest = t.as_coeff_Mul()
        if (isinstance(rest, sp.Pow) and rest.exp == 2 and isinstance(rest.base, sp.tanh)
                and const != 0 and _eq(const, -coeff)):
            terms.remove(t)
            terms = [u for u in terms if not u.is_number] + [const + coeff]
            terms.append(4 * const * SigmoidPrime(2 * rest.base.args[0]))
            return sp.Add(*terms)
    # c + c·tanh(a) → 2c·σ(2a), c − c·tanh(a) → 2c·σ(−2a)
    for t in terms:
        hit = _complement(t)
        if hit is None or const == 0:
            continue
        coeff, a = hit
        if _eq(coeff, const) or _eq(coeff, -const):
            rest = [u for u in terms if u is not t and not u.is_number]
            sign = 1 if _eq(coeff, const) else -1
            return sp.Add(*rest, 2 * const * sigmoid(sign * 2 * a))
    # 1 − σ(a) → σ(−a)
    for t in terms:
        coeff, rest = t.as_coeff_Mul()
        if isinstance(rest, sigmoid) and const != 0 and _eq(const, -coeff):
            others = [u for u in terms if u is not t and not u.is_number]
            return sp.Add(*others, const * sigmoid(-rest.args[0]))
    return e


def _rewrite_mul(e):
    factors = list(e.args)
    for f in factors:
        if isinstance(f, sigmoid):
            a = f.args[0]
            for g in factors:  # σ(a)·σ(−a) (after 1 − σ(a) → σ(−a)) → σ′(a)
                if g is not f and isinstance(g, sigmoid) and g.args[0] == -a:
                    rest = [h for h in factors if h is not f and h is not g]
                    return sp.Mul(*rest, SigmoidPrime(a))
    return e


def rewrite(expr):
    """`expr` with the identities of the module docstring applied, bottom-up."""
    if not expr.args:
        return expr
    args = [rewrite(a) if isinstance(a, sp.Expr) else a for a in expr.args]
    e = expr.func(*args) if args != list(expr.args) else expr
    if isinstance(e, sp.Add):
        e = _rewrite_add(e)
    if isinstance(e, sp.Mul):
        e = _rewrite_mul(e)
    return e


def cancellation_free(expr):
    """`expr` with the identities of the module docstring applied until nothing changes (a
    handful of rounds at most): equal to `expr`, and free of those cancellations."""
    for _ in range(4):
        new = _integral_floats(rewrite(expr))
        if new == expr:
            break
        expr = new
    return expr


__all__ = ["SigmoidPrime", "cancellation_free"]

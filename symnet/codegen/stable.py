"""Code forms that stay accurate in floating point: the derivation's formula, computed without
cancellation, underflow or overflow where its plain form has them.

A derivation shows each formula in its cheapest readable form (σ′ = y·(1 − y) with y = σ(x)
the layer's output, tanh′ = 1 − y²), and the printed derivation keeps it. In floats that form
can lose everything: once y = σ(x) rounds to 1 (x ≳ 37 in float64, 17 in float32), 1 − y is 0
where the true σ′(x) is e^(−x) (3.9e-22 at x = 50). So the printer computes each element-wise
formula from its *code form*, chosen here:

1. The formula's output variable is replaced by what it stands for (y = σ(x)), and the exact
   identities of `algebra.identities` turn cancelling sub-expressions into products of
   positive factors: σ(a)·(1 − σ(a)) = σ′(a), printed `_sigmoid_prime(a)` and computed as
   e^(−|a|)/(1 + e^(−|a|))²; c − c·tanh(a)² = 4c·σ′(2a); c ± c·tanh(a) = 2c·σ(±2a).
   Constants only change by factors 2 and 4, so the printed float64 constants stay exact.
2. An accuracy gate: the code of the cheap form and of the rewritten form are evaluated in
   float64 and float32 at points from 0 to ±1e300 and compared with the exact value (mpmath, 40
   digits). The cheap form is kept wherever it is accurate (SiLU′'s y·(1 − σ(x)) + σ(x) is,
   and costs less); the rewritten one is used where it is not.
3. Saturation: where a form still overflows for huge inputs (GELU's x³ inside tanh, NaN from
   inf·0 at |x| ≳ 1e155 in float64, 1e20 in float32), the input of each bounded term (and the
   argument of each bounded function in an unbounded term) is clipped to [−T, T], T a power of
   two. The clip is accepted only when `saturation_holds` proves, by interval arithmetic over
   every float beyond T up to 1.8e308, that the formula's exact value there differs from the
   clipped one by less than 2⁻⁶⁰ of itself, or that both are below 2⁻¹⁰⁷⁶ (zero in float64).

Every code form is an identity (or a proved saturation) of the derivation's formula, and
`validate` proves it again from the printed text: the printer's choice is never trusted.
"""

from __future__ import annotations

import math
from functools import lru_cache

import mpmath
import numpy as np
import sympy as sp
from mpmath import iv

from ..algebra.functions import sigmoid, softplus
from ..algebra.identities import SigmoidPrime, cancellation_free
from .helpers import HELPERS

FLOAT_MAX = 1.7976931348623157e308
SATURATION_REL = sp.Rational(1, 2**60)  # a clip may change the value by this much, relatively
SATURATION_ZERO = sp.Rational(1, 2**1076)  # or both values lie below half the least float64
_CLIPS = (32, 64, 128, 256)  # candidate saturation points T, in the order tried
_GATE = {np.dtype(np.float64): 2.0**-40, np.dtype(np.float32): 2.0**-16}  # relative error
_BOUNDED = (sigmoid, SigmoidPrime, sp.tanh, sp.erf)  # saturate to constants at ±∞

_POINTS = sorted({0.0, *(s * v for s in (1, -1) for v in (
    1e-30, 0.5, 1, 2, 3, 5, 10, 20, 30, 50, 100, 1e3, 1e20, 1e155, 1e300))})


# ── the accuracy gate ──────────────────────────────────────────────────────────────────────


@lru_cache(maxsize=1)
def _helpers() -> dict:
    ns = {"np": np}
    for source in HELPERS.values():
        exec(source, ns)  # symnet's own helper text
    return ns


def _floats(expr, x, given: dict, others, points, dtype, render):
    """The printed code of `expr` (`render` prints it) evaluated at each point in `dtype` (None
    where NumPy raised: overflow, invalid or division by zero), with the output variables
    computed from `given`."""
    names = {x: sp.Symbol("v0", real=True)}
    names |= {s: sp.Symbol(f"v{i + 1}", real=True) for i, s in enumerate([*given, *others])}
    code = compile(render(expr.xreplace(names)), "<stable>", "eval")
    given_code = {s: compile(render(f.xreplace(names)), "<stable>", "eval")
                  for s, f in given.items()}
    out = []
    for p in points:
        ns = dict(_helpers())
        ns["v0"] = np.array([p], dtype=dtype)
        for s in others:
            ns[str(names[s])] = np.array([1.0], dtype=dtype)
        try:
            with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
                for s, c in given_code.items():
                    ns[str(names[s])] = eval(c, ns)  # noqa: S307 - printed by symnet
                out.append(float(np.asarray(eval(code, ns)).ravel()[0]))  # noqa: S307
        except (FloatingPointError, OverflowError, ZeroDivisionError, ValueError):
            out.append(None)
    return out


_MP = {"sigmoid": lambda a: 1 / (1 + mpmath.exp(-a)),
       "SigmoidPrime": lambda a: mpmath.exp(-abs(a)) / (1 + mpmath.exp(-abs(a))) ** 2,
       "softplus": lambda a: mpmath.log1p(mpmath.exp(a)), "Expm1": mpmath.expm1,
       "erf": mpmath.erf, "tanh": mpmath.tanh, "exp": mpmath.exp, "log": mpmath.log}


def _exact(expr, x, others, points):
    """mpmath values of `expr` (a cancellation-free form) at the points, 40 digits."""
    fn = sp.lambdify([x, *others], expr, modules=[_MP, "mpmath"])
    out = []
    with mpmath.workdps(40):
        for p in points:
            try:
                v = fn(mpmath.mpf(p), *[mpmath.mpf(1)] * len(others))
                out.append(mpmath.mpf(v) if mpmath.isfinite(v) else None)
            except (ValueError, TypeError, ZeroDivisionError, OverflowError):
                out.append(None)
    return out


def _failures(expr, x, given, others, reference, render) -> int:
    """Points (float64 and float32 together) where the code of `expr` is not finite or not
    accurate, against `reference` (the exact values at `_POINTS`)."""
    bad = 0
    for dtype, rel in _GATE.items():
        info = np.finfo(dtype)
        top = float(info.max)
        points = [(p, v) for p, v in zip(_POINTS, reference)
                  if abs(p) <= top and v is not None and abs(v) <= top]
        got = _floats(expr, x, given, others, [p for p, _ in points], dtype, render)
        for (_p, want), g in zip(points, got):
            if g is None or not math.isfinite(g) or abs(g - want) > rel * abs(want) + float(
                    info.tiny):
                bad += 1
    return bad


# ── saturation ─────────────────────────────────────────────────────────────────────────────


class _NoInterval(Exception):
    pass


def _monotone(fn, a, increasing=True):
    """An increasing (or decreasing) function of interval a, from its endpoints."""
    lo, hi = fn(iv.mpf(a.a)), fn(iv.mpf(a.b))
    return iv.mpf([lo.a, hi.b]) if increasing else iv.mpf([hi.a, lo.b])


def _sig(t):
    return 1 / (1 + iv.exp(-t))


def _interval(e, x, box):  # noqa: C901 - one branch per node type
    """An interval containing every value of `e` for x in `box` (mpmath.iv, outward rounded)."""
    if e == x:
        return box
    if e.is_Integer:
        return iv.mpf(int(e))
    if e.is_Rational:
        return iv.mpf(int(e.p)) / int(e.q)
    if e.is_Float:
        return iv.mpf(mpmath.mpf(e._mpf_))
    if e is sp.pi:
        return iv.pi
    if e is sp.E:
        return iv.e
    if isinstance(e, sp.Add):
        total = iv.mpf(0)
        for a in e.args:
            total += _interval(a, x, box)
        return total
    if isinstance(e, sp.Mul):
        total = iv.mpf(1)
        for a in e.args:
            total *= _interval(a, x, box)
        return total
    if isinstance(e, sp.Pow) and e.exp.is_Integer:
        base = _interval(e.base, x, box)
        n = int(e.exp)
        if n < 0 and base.a <= 0 <= base.b:
            raise _NoInterval
        if n % 2 == 0 and n > 0:  # even powers of an interval around 0 start at 0
            m = max(abs(base.a), abs(base.b))
            low = 0 if base.a <= 0 <= base.b else min(abs(base.a), abs(base.b))
            return iv.mpf([low, m]) ** n if low else iv.mpf([0, (iv.mpf(m) ** n).b])
        return base ** n
    if isinstance(e, sp.Pow) and e.exp.is_Rational:  # √2, 1/√π: a positive base
        base = _interval(e.base, x, box)
        if base.a <= 0:
            raise _NoInterval
        return iv.exp(_interval(e.exp, x, box) * iv.log(base))
    if isinstance(e, sp.Abs):
        a = _interval(e.args[0], x, box)
        if a.a >= 0:
            return a
        if a.b <= 0:
            return -a
        return iv.mpf([0, max(-a.a, a.b)])
    if isinstance(e, sp.Max | sp.Min):
        vals = [_interval(a, x, box) for a in e.args]
        pick = max if isinstance(e, sp.Max) else min
        return iv.mpf([pick(v.a for v in vals), pick(v.b for v in vals)])
    if len(e.args) == 1 and isinstance(e, sp.Function):
        a = _interval(e.args[0], x, box)
        if isinstance(e, sp.exp):
            return iv.exp(a)
        if isinstance(e, sigmoid):
            return _monotone(_sig, a)
        if isinstance(e, sp.tanh):
            return _monotone(lambda t: 1 - 2 / (1 + iv.exp(2 * t)), a)
        if isinstance(e, sp.erf):  # (mpmath's iv.erf fails on some boxes)
            return _monotone(lambda t: iv.mpf(mpmath.erf(t.a)) if t.a == t.b else iv.erf(t), a)
        if isinstance(e, softplus):
            return _monotone(lambda t: iv.log(1 + iv.exp(t)), a)
        if isinstance(e, SigmoidPrime):  # even, decreasing in |a|
            far = max(abs(a.a), abs(a.b))
            near = 0 if a.a <= 0 <= a.b else min(abs(a.a), abs(a.b))
            lo = _sig(iv.mpf(far)) * _sig(-iv.mpf(far))
            hi = _sig(iv.mpf(near)) * _sig(-iv.mpf(near))
            return iv.mpf([lo.a, hi.b])
    raise _NoInterval


def _within(code, exact, x, box) -> bool:
    """Whether, for x in `box`, `code` is `exact` to within SATURATION_REL of it, or both lie
    below SATURATION_ZERO in magnitude."""
    tiny = iv.mpf(int(SATURATION_ZERO.p)) / int(SATURATION_ZERO.q)
    try:
        ratio = _interval(code / exact, x, box)  # common factors (x) cancel in the quotient
        rel = iv.mpf(int(SATURATION_REL.p)) / int(SATURATION_REL.q)
        if ratio.a >= (1 - rel).a and ratio.b <= (1 + rel).b:
            return True
    except Exception:  # noqa: BLE001 - no interval (a division by a box around 0, …)
        pass
    try:
        c, f = _interval(code, x, box), _interval(exact, x, box)
    except Exception:  # noqa: BLE001 - not shown, so not accepted
        return False
    return max(abs(c.a), abs(c.b)) <= tiny.a and max(abs(f.a), abs(f.b)) <= tiny.a


def saturation_holds(code, exact, x, sign: int, T, limit: int = 200) -> bool:
    """Whether code(x) equals exact(x) to within SATURATION_REL (or both are below
    SATURATION_ZERO) for every x with sign·x from T to the largest float64, by interval
    arithmetic on boxes [a, b] that grow geometrically (split where a box is too wide)."""
    old = iv.prec
    iv.prec = 160
    try:
        a, b, tries = mpmath.mpf(T), mpmath.mpf(2 * T), 0
        top = mpmath.mpf(FLOAT_MAX)
        while a < top:
            tries += 1
            if tries > limit:
                return False
            b = min(b, top)
            box = iv.mpf([a, b]) if sign > 0 else iv.mpf([-b, -a])
            if _within(code, exact, x, box):
                a, b = b, b * max(b, 2)
            else:
                if b <= a * (1 + mpmath.mpf(2) ** -20):
                    return False
                b = mpmath.sqrt(a * b) if a > 1 else (a + b) / 2
        return True
    finally:
        iv.prec = old


def clip_at(expr, x, T):
    """`expr` with x clipped to [−T, T] in every term that stays bounded as |x| grows, and in
    the argument of every bounded function (σ, σ′, tanh, erf) of the other terms."""
    xc = sp.Min(sp.Max(x, -T), T)

    def args_only(e):
        if isinstance(e, _BOUNDED) and e.has(x):
            return e.xreplace({x: xc})
        if not e.args or not e.has(x):
            return e
        return e.func(*[args_only(a) for a in e.args])

    out = []
    for term in sp.Add.make_args(expr):
        out.append(term.xreplace({x: xc}) if _bounded(term, x) else args_only(term))
    return sp.Add(*out)


def _bounded(term, x) -> bool:
    """Whether `term` stays small far out (a heuristic: `tails` proves what is clipped)."""
    try:
        fn = sp.lambdify(x, term, modules=[_MP, "mpmath"])
        with mpmath.workdps(30):
            return all(abs(fn(mpmath.mpf(v))) < 1e6 for v in (1e50, -1e50, 1e300, -1e300))
    except Exception:  # noqa: BLE001 - not known to be bounded
        return False


def tails(code, exact, x, T) -> bool:
    """Both tails of a clip at T: the clipped `code` against the unclipped `exact`."""
    return all(saturation_holds(code.xreplace({sp.Min(sp.Max(x, -T), T): sign * T}), exact, x,
                                sign, T) for sign in (1, -1))


# ── the choice ──────────────────────────────────────────────────────────────────────────────


@lru_cache(maxsize=4096)
def _choose(body, given: tuple, x, render):
    """The code form of `body` (see the module docstring); `given` holds (y, f(x)) pairs. The
    search is optional: anything that fails in it keeps the formula as it is."""
    try:
        return _search(body, dict(given), x, render)
    except Exception:  # noqa: BLE001 - SymPy, mpmath or NumPy failed on a candidate
        return body


def _search(body, given: dict, x, render):
    full = body.xreplace(given)
    candidate = cancellation_free(full)
    if candidate == full:
        return body
    others = sorted(full.free_symbols - {x}, key=str)
    reference = _exact(candidate, x, others, _POINTS)
    plain = _failures(body, x, given, others, reference, render)
    if plain == 0:
        return body  # the cheap form is accurate: keep it
    best, fewest = body, plain
    rewritten = _failures(candidate, x, {}, others, reference, render)
    if rewritten < fewest:
        best, fewest = candidate, rewritten
    if fewest and not others:  # still overflowing somewhere: clip where it saturates
        for T in _CLIPS:
            clipped = clip_at(candidate, x, T)
            if clipped == candidate:
                break
            bad = _failures(clipped, x, {}, others, reference, render)
            if bad < fewest and tails(clipped, candidate, x, T):
                best, fewest = clipped, bad
                break
    return best


def stable_form(body, given: dict, x, render):
    """The code form of element-wise formula `body` in placeholder x (and parameters), where
    `given` maps each output placeholder y to its formula f(x), and `render(expr)` is the code
    the printer writes for a scalar formula (what the accuracy gate runs)."""
    # canonical symbols, so that one formula is searched once whatever its placeholders
    syms = [x, *sorted((body.free_symbols | set(given)) - {x}, key=str)]
    canon = {s: sp.Symbol(f"_s{i}", real=True) for i, s in enumerate(syms)}
    back = {v: k for k, v in canon.items()}
    pairs = tuple(sorted(((canon[k], v.xreplace(canon)) for k, v in given.items()),
                         key=lambda kv: str(kv[0])))
    canonical = body.xreplace(canon)
    form = _choose(canonical, pairs, canon[x], render)
    return body if form is canonical else form.xreplace(back)


__all__ = ["SigmoidPrime", "clip_at", "saturation_holds", "stable_form", "tails"]

"""What every layer builds on: the `Layer` interface, exact user numbers, derivative functions."""

from __future__ import annotations

import math
from functools import cache
from numbers import Real

import sympy as sp

from ..algebra.functions import cheapest_form, x, y
from ..algebra.matexpr import ScalarFn
from ..errors import SpecError


def exact(value, what: str) -> sp.Rational:
    """A user's number as an exact Rational (0.01 → 1/100), refusing NaN, inf and non-numbers."""
    if isinstance(value, bool) or not isinstance(value, Real | sp.Rational):
        raise SpecError(f"{what} must be a real number, got {value!r}")
    if isinstance(value, sp.Rational):
        return value
    if not math.isfinite(value):
        raise SpecError(f"{what} must be finite, got {value!r}")
    return sp.Rational(repr(value)) if isinstance(value, float) else sp.Integer(value)


class Layer:
    """A step of the forward pass. `record` writes it on the tape and returns its output."""

    def record(self, tape, A, k: int):
        raise NotImplementedError

    def out_width(self, n_in: int) -> int:
        return n_in


@cache
def derivative_fn(name: str, label: str, formula: sp.Expr) -> ScalarFn:
    form = cheapest_form(sp.diff(formula, x), formula=formula)
    variables = (x, y) if form.has(y) else (x,)
    return ScalarFn(f"d_{name}", f"{label}′", sp.Lambda(variables, form), shown=1)

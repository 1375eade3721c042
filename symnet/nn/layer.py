"""What every layer builds on: the `Layer` interface, exact user numbers, derivative functions."""

from __future__ import annotations

import math
from fractions import Fraction
from functools import cache
from numbers import Real

import sympy as sp

from ..algebra.formula import FLOAT_MAX, FLOAT_TINY
from ..algebra.functions import cheapest_form, x, y
from ..algebra.matexpr import ScalarFn
from ..errors import SpecError


def exact(value, what: str) -> sp.Rational:
    """A user's number as an exact Rational (0.01 → 1/100), refusing NaN, inf and non-numbers."""
    if isinstance(value, bool) or not isinstance(value, Real | sp.Rational):
        raise SpecError(f"{what} must be a real number, got {value!r}")
    if isinstance(value, int | sp.Integer) and abs(int(value)) > FLOAT_MAX:
        raise SpecError(f"{what} is outside the float64 range, got {value!r}")
    if not isinstance(value, sp.Rational) and not math.isfinite(value):
        raise SpecError(f"{what} must be finite, got {value!r}")
    if isinstance(value, sp.Rational):
        exact_value = value
    elif isinstance(value, float):
        exact_value = sp.Rational(repr(value))
    else:
        exact_value = sp.Integer(value)
    magnitude = abs(Fraction(int(exact_value.p), int(exact_value.q)))
    if magnitude and not FLOAT_TINY <= magnitude <= FLOAT_MAX:
        raise SpecError(f"{what} is outside the float64 range (about 2.2e-308 to 1.8e308 in "
                        f"magnitude), got {value!r}")
    return exact_value


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

"""What every layer builds on: the `Layer` interface, exact user numbers, derivative functions."""

from __future__ import annotations

import math
from fractions import Fraction
from functools import cache
from numbers import Real

import sympy as sp

from ..algebra.formula import FLOAT_MAX, FLOAT_TINY
from ..algebra.functions import BUDGET_S, cheapest_form, x, y
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
    """A step of the forward pass. `record` writes it on the tape and returns its output.

    `numbered` layers (those with weights: Dense, Conv2d, RNN, …) take the next number k, so
    their parameters are W{k}, b{k}; the layers after one (activations, normalizations) share
    its k (A{k} = σ(Z{k}), gamma{k}). A tensor's per-sample shape travels beside it: the tape
    holds each intermediate as a (B, n) matrix, and `tape.sample_shapes[A]` says that n is, say,
    C·H·W of an image (C, H, W)."""

    numbered = False

    def __call__(self, *inputs):
        """The functional API: this layer applied to tensors (`sn.Input(4)`, another layer's
        output) gives a new tensor; see `symnet.nn.graph`."""
        from .tensor import apply

        return apply(self, inputs)

    def record(self, tape, A, k: int):
        raise NotImplementedError

    def out_width(self, n_in: int) -> int:
        return n_in

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The per-sample shape of the output for an input of per-sample shape `in_shape`.
        By default a layer keeps the shape when it keeps the width, else its output is flat."""
        n_in = math.prod(in_shape)
        n_out = self.out_width(n_in)
        return in_shape if n_out == n_in else (n_out,)


@cache
def derivative_fn(name: str, label: str, formula: sp.Expr, builtin: bool = False) -> ScalarFn:
    """f′ in its cheapest form; symnet's own (`builtin`) searched without a time limit, so
    that their generated code is the same on a loaded machine."""
    form = cheapest_form(sp.diff(formula, x), formula=formula,
                         budget=None if builtin else BUDGET_S)
    variables = (x, y) if form.has(y) else (x,)
    return ScalarFn(f"d_{name}", f"{label}′", sp.Lambda(variables, form), shown=1)

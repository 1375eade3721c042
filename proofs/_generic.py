"""A generic activation f and a generic loss ℓ: undefined SymPy functions that carry nothing
but their names and the names of their derivatives. A proof that holds for them holds for every
activation and every element-wise loss, since it never used what f or ℓ are.

`f.fdiff` answers f′ and `ell.fdiff` answers ∂ℓ/∂x, so `sympy.diff` of anything built from
them is an expression in f, f′, ℓ and ∂ℓ/∂x, and two such expressions are equal for every f and
ℓ when they expand to the same polynomial in those applications.
"""

from __future__ import annotations

from functools import cached_property

import sympy as sp

from symnet.algebra.functions import x, y
from symnet.algebra.matexpr import ScalarFn
from symnet.nn import layers, losses


class _Named(sp.Function):
    """Printed in LaTeX as `tex` applied to the arguments."""

    tex = ""

    def _latex(self, printer, exp=None):
        args = ", ".join(printer._print(a) for a in self.args)
        power = f"^{{{printer._print(exp)}}}" if exp is not None else ""
        return rf"{self.tex}\left({args}\right){power}"


class fp(_Named):  # noqa: N801 - f′, an arbitrary function
    nargs, tex = 1, "f'"


class f(sp.Function):  # noqa: N801 - an arbitrary differentiable function
    nargs = 1

    def fdiff(self, argindex=1):
        return fp(self.args[0])


class ell_x(_Named):  # noqa: N801 - ∂ℓ/∂x, arbitrary
    nargs, tex = 2, r"\partial_x \ell"


class ell(_Named):  # noqa: N801 - an arbitrary loss term ℓ(x, y), differentiable in x
    nargs, tex = 2, r"\ell"

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise sp.ArgumentIndexError(self, argindex)  # targets are data: no ∂ℓ/∂y needed
        return ell_x(*self.args)


class GenericActivation(layers.Activation):
    """A symnet activation with formula f(x). Its derivative is `sympy.diff` of the formula,
    f′(x): the search for a cheaper form cannot say anything about an unknown f, and the
    cheap form of every real activation is proved separately (`activations`)."""

    name, label = "f", "f"

    def formula(self):
        return f(x)

    @cached_property
    def derivative(self) -> ScalarFn:
        return ScalarFn("d_f", "f′", sp.Lambda(x, sp.diff(f(x), x)), shown=1)


class GenericLoss(losses.ElementwiseLoss):
    """A symnet element-wise loss with formula ℓ(x, y); ∂ℓ/∂x is derived as for every loss."""

    name, label = "generic", "ℓ"

    def formula(self):
        return ell(x, y)


__all__ = ["_Named", "f", "fp", "ell", "ell_x", "GenericActivation", "GenericLoss", "x", "y"]

"""Layers: `Dense`, and activations declared by their formula alone.

An activation is one line: its formula in `x`. Its derivative is derived by `sympy.diff` and
reduced to its cheapest form by `functions.cheapest_form` (σ′ becomes A ⊙ (1 − A), from the
output the forward pass already holds). Kinks (points where the formula is not differentiable)
are declared beside the formula so that checkers know where a gradient is only a convention.
"""

from __future__ import annotations

import math
from functools import cache, cached_property
from numbers import Real

import sympy as sp

from . import rules
from .errors import ShapeError, SpecError
from .functions import cheapest_form, sigmoid, softplus, x, y
from .matexpr import ScalarFn


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


class Dense(Layer):
    """Z = A W + 𝟙 bᵀ with W of shape (n_in, n_out) and b of shape (n_out,)."""

    def __init__(self, n_in: int, n_out: int):
        for what, n in (("n_in", n_in), ("n_out", n_out)):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ShapeError(f"Dense {what} must be a positive integer, got {n!r}")
        self.n_in, self.n_out = n_in, n_out

    def __repr__(self):
        return f"Dense({self.n_in}, {self.n_out})"

    def __eq__(self, other):
        return type(other) is Dense and (self.n_in, self.n_out) == (other.n_in, other.n_out)

    def out_width(self, n_in: int) -> int:
        return self.n_out

    def record(self, tape, A, k: int):
        W = tape.param(f"W{k}", self.n_in, self.n_out, decays=True)
        b = tape.param(f"b{k}", self.n_out)
        why = (
            f"Z{k} = {A.name} W{k} + 𝟙b{k}ᵀ is linear: W{k}[i, j] carries column i of {A.name} "
            f"into column j of Z{k}, so ∂L/∂W{k} = {A.name}ᵀ δ{k}; b{k} is added to every row, "
            f"so ∂L/∂b{k} = δ{k}ᵀ𝟙 sums δ{k} over the batch; and ∂L/∂{A.name} = δ{k} W{k}ᵀ."
        )
        return tape.record(
            f"Z{k}",
            rules.dense(A, W, b),
            (A, W, b),
            lambda G, out: rules.dense_vjp(G, A, W, b),
            why=why,
            layer=k,
        )


class Activation(Layer):
    """An element-wise activation, declared by `formula()`: an expression in `x`.

    `Activation(name, formula, params=…)` (or `Activation.from_formula`) makes one from a
    formula string, `Activation.from_function(name, fn)` from a Python function of x; see
    `symnet.custom`."""

    name = "activation"  # identifier in specs and generated code
    label = "f"  # symbol in printouts
    kinks: tuple = ()  # x values where the formula is not differentiable

    def __new__(cls, *args, **kwargs):
        # `Activation` itself is abstract: called with a name and a formula it builds a
        # CustomActivation (whose __init__ then receives the arguments).
        if cls is Activation:
            from .custom import CustomActivation

            return super().__new__(CustomActivation)
        if (args or kwargs) and cls.__init__ is object.__init__:
            raise TypeError(f"{cls.__name__}() takes no arguments")
        return super().__new__(cls)

    @classmethod
    def from_formula(cls, name: str, formula: str, params=None) -> Activation:
        """An activation from a formula string in x, e.g. `"x * sigmoid(beta * x)"` with
        `params={"beta": 1.0}` (learned scalars and their initial values)."""
        from .custom import CustomActivation

        return CustomActivation(name, formula, params)

    @classmethod
    def from_function(cls, name: str, fn, params=None) -> Activation:
        """An activation from a Python function building a SymPy expression of `x` (and of
        each parameter, passed by keyword): `from_function("cube", lambda x: x**3)`."""
        from .custom import CustomActivation

        return CustomActivation.from_function(name, fn, params)

    def formula(self) -> sp.Expr:
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"

    def __eq__(self, other):
        return type(other) is type(self) and self.formula() == other.formula()

    def __hash__(self):
        return hash((type(self).__name__, self.formula()))

    @cached_property
    def fn(self) -> ScalarFn:
        return ScalarFn(self.name, self.label, sp.Lambda(x, self.formula()))

    @cached_property
    def derivative(self) -> ScalarFn:
        """f′ in its cheapest form: a `Lambda` of x, or of (x, y) with y = f(x) the output."""
        return _derivative(self.name, self.label, self.formula())

    def record(self, tape, Z, k: int):
        why = (
            f"{self.label} acts entry by entry, so the chain rule multiplies entry by entry: "
            f"∂L/∂{Z.name} = ∂L/∂A{k} ⊙ {self.label}′({Z.name})."
        )
        return tape.record(
            f"A{k}",
            rules.elementwise(self.fn, Z),
            (Z,),
            lambda G, A: (rules.elementwise_vjp(G, self.derivative, Z, A),),
            why=why,
            layer=k,
            inline=True,
        )


@cache
def _derivative(name: str, label: str, formula: sp.Expr) -> ScalarFn:
    form = cheapest_form(sp.diff(formula, x), formula=formula)
    variables = (x, y) if form.has(y) else (x,)
    return ScalarFn(f"d_{name}", f"{label}′", sp.Lambda(variables, form), shown=1)


class Identity(Activation):
    name, label = "identity", "id"

    def formula(self):
        return x

    def record(self, tape, Z, k):
        return Z  # nothing to compute, nothing to differentiate


class ReLU(Activation):
    name, label, kinks = "relu", "relu", (0,)

    def formula(self):
        # Written with x > 0 so that the derived convention at the kink is relu′(0) = 0, as in
        # PyTorch and every mainstream framework.
        return sp.Piecewise((x, x > 0), (0, True))


class LeakyReLU(Activation):
    name, label, kinks = "leaky_relu", "lrelu", (0,)

    def __init__(self, alpha=0.01):
        self.alpha = exact(alpha, "LeakyReLU alpha")

    def __repr__(self):
        return f"LeakyReLU({self.alpha})"

    def formula(self):
        return sp.Piecewise((x, x > 0), (self.alpha * x, True))


class Sigmoid(Activation):
    name, label = "sigmoid", "σ"

    def formula(self):
        return sigmoid(x)


class Tanh(Activation):
    name, label = "tanh", "tanh"

    def formula(self):
        return sp.tanh(x)


class Softplus(Activation):
    name, label = "softplus", "softplus"

    def formula(self):
        return softplus(x)


class ELU(Activation):
    name, label, kinks = "elu", "elu", (0,)

    def __init__(self, alpha=1.0):
        self.alpha = exact(alpha, "ELU alpha")

    def __repr__(self):
        return f"ELU({self.alpha})"

    def formula(self):
        return sp.Piecewise((x, x > 0), (self.alpha * (sp.exp(x) - 1), True))


class SiLU(Activation):
    name, label = "silu", "silu"

    def formula(self):
        return x * sigmoid(x)


class GELU(Activation):
    """GELU in its tanh form (PyTorch's `approximate='tanh'`)."""

    name, label = "gelu", "gelu"

    def formula(self):
        c = sp.sqrt(2 / sp.pi)
        return x / 2 * (1 + sp.tanh(c * (x + sp.Rational(44715, 10**6) * x**3)))


ACTIVATIONS = {
    cls.name: cls for cls in (Identity, ReLU, LeakyReLU, Sigmoid, Tanh, Softplus, ELU, SiLU, GELU)
}


class Softmax(Layer):
    """Row-wise softmax, A = softmax(Z): each sample's row becomes a probability distribution.

    Not element-wise (each output depends on the whole row), so its rule is a matrix one,
    `rules.softmax_vjp`. For classification prefer the fused `SoftmaxCrossEntropy` on logits to
    `Softmax` + `CrossEntropy`: see `symnet.losses.CrossEntropy`."""

    name = label = "softmax"

    def __repr__(self):
        return "Softmax()"

    def __eq__(self, other):
        return type(other) is Softmax

    def __hash__(self):
        return hash("Softmax")

    def record(self, tape, Z, k: int):
        why = (
            f"softmax mixes each row: row i's Jacobian is diag(aᵢ) − aᵢaᵢᵀ, so "
            f"∂L/∂{Z.name} = A{k} ⊙ (G − (G ⊙ A{k}) 𝟙𝟙ᵀ) with G = ∂L/∂A{k}: each row of G "
            f"loses its A{k}-weighted mean, then is scaled by A{k}."
        )
        return tape.record(
            f"A{k}",
            rules.softmax(Z),
            (Z,),
            lambda G, A: (rules.softmax_vjp(G, A),),
            why=why,
            layer=k,
        )

"""Layers: `Dense`, symnet's built-in activations (each declared by its formula alone), and
the row-wise `Softmax`. The `Activation` base and custom activations are in `activation.py`.
"""

from __future__ import annotations

import sympy as sp

from ..algebra import rules
from ..algebra.functions import sigmoid, softplus, x
from ..errors import ShapeError, SpecError
from .activation import Activation
from .layer import Layer, exact


class Dense(Layer):
    """Z = A W + 𝟙 bᵀ with W of shape (n_in, n_out) and b of shape (n_out,); with
    `bias=False`, Z = A W (a layer before BatchNorm, whose mean would remove any bias)."""

    numbered = True

    def __init__(self, n_in: int, n_out: int, bias: bool = True):
        for what, n in (("n_in", n_in), ("n_out", n_out)):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ShapeError(f"Dense {what} must be a positive integer, got {n!r}")
        if not isinstance(bias, bool):
            raise SpecError(f"Dense bias must be True or False, got {bias!r}")
        self.n_in, self.n_out, self.bias = n_in, n_out, bias

    def __repr__(self):
        return f"Dense({self.n_in}, {self.n_out}{'' if self.bias else ', bias=False'})"

    def __eq__(self, other):
        return type(other) is Dense and (self.n_in, self.n_out, self.bias) == (
            other.n_in, other.n_out, other.bias)

    def out_width(self, n_in: int) -> int:
        return self.n_out

    def record(self, tape, A, k: int):
        W = tape.param(f"W{k}", self.n_in, self.n_out, decays=True)
        if not self.bias:
            why = (f"Z{k} = {A.name} W{k} is linear: ∂L/∂W{k} = {A.name}ᵀ δ{k} and "
                   f"∂L/∂{A.name} = δ{k} W{k}ᵀ (the dense rule without its bias term).")
            return tape.record(f"Z{k}", rules.linear(A, W), (A, W),
                               lambda G, out: rules.dense_vjp(G, A, W, None)[:2], why=why,
                               layer=k)
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


class Identity(Activation, builtin=True):
    name, label = "identity", "id"

    def formula(self):
        return x

    def record(self, tape, Z, k):
        return Z  # nothing to compute, nothing to differentiate


class ReLU(Activation, builtin=True):
    name, label, kinks = "relu", "relu", (0,)

    def formula(self):
        # Written with x > 0 so that the derived convention at the kink is relu′(0) = 0, as in
        # PyTorch and every mainstream framework.
        return sp.Piecewise((x, x > 0), (0, True))


class LeakyReLU(Activation, builtin=True):
    name, label, kinks = "leaky_relu", "lrelu", (0,)

    def __init__(self, alpha=0.01):
        self.alpha = exact(alpha, "LeakyReLU alpha")

    def __repr__(self):
        return f"LeakyReLU({self.alpha})"

    def formula(self):
        return sp.Piecewise((x, x > 0), (self.alpha * x, True))


class Sigmoid(Activation, builtin=True):
    name, label = "sigmoid", "σ"

    def formula(self):
        return sigmoid(x)


class Tanh(Activation, builtin=True):
    name, label = "tanh", "tanh"

    def formula(self):
        return sp.tanh(x)


class Softplus(Activation, builtin=True):
    name, label = "softplus", "softplus"

    def formula(self):
        return softplus(x)


class ELU(Activation, builtin=True):
    name, label, kinks = "elu", "elu", (0,)

    def __init__(self, alpha=1.0):
        self.alpha = exact(alpha, "ELU alpha")

    def __repr__(self):
        return f"ELU({self.alpha})"

    def formula(self):
        return sp.Piecewise((x, x > 0), (self.alpha * (sp.exp(x) - 1), True))


class SiLU(Activation, builtin=True):
    name, label = "silu", "silu"

    def formula(self):
        return x * sigmoid(x)


class GELU(Activation, builtin=True):
    """GELU in its tanh form (PyTorch's `approximate='tanh'`)."""

    name, label = "gelu", "gelu"

    def formula(self):
        c = sp.sqrt(2 / sp.pi)
        return x / 2 * (1 + sp.tanh(c * (x + sp.Rational(44715, 10**6) * x**3)))


ACTIVATIONS = {  # the spec words, in the order error messages list them
    cls.name: cls for cls in (Identity, ReLU, LeakyReLU, Sigmoid, Tanh, Softplus, ELU, SiLU, GELU)
}


class Softmax(Layer):
    """Row-wise softmax, A = softmax(Z): each sample's row becomes a probability distribution.

    Not element-wise (each output depends on the whole row), so its rule is a matrix one,
    `rules.softmax_vjp`. For classification prefer the fused `SoftmaxCrossEntropy` on logits to
    `Softmax` + `CrossEntropy`: see `symnet.nn.losses.CrossEntropy`."""

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

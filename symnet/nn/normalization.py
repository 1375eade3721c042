"""Normalization layers, composed of primitive steps whose rules live in `rules.py`.

`BatchNorm(n)` normalizes each feature over the batch (training mode: the statistics are the
batch's own); `LayerNorm(n)` normalizes each sample over its n features. After dense layer k,
BatchNorm records (LayerNorm is the same along rows: μk = (1/n) Zk 𝟙, spread as μk 𝟙ᵀ):

    μk = (1/B) Zkᵀ 𝟙                the mean of each column
    Ck = Zk − 𝟙 μkᵀ                 centred
    Vk = (1/B) (Ck ⊙ Ck)ᵀ 𝟙 + ε𝟙    the biased variance of each column (as PyTorch divides), + ε
    σk = √(Vk)
    Nk = Ck ⊘ 𝟙 σkᵀ                 normalized (x̂ in the paper); ⊘ divides entry by entry
    Hk = Nk ⊙ 𝟙 γkᵀ + 𝟙 βkᵀ         scaled and shifted by the learned γk and βk, shape (n,)

Backward, two forms of one chain rule:

- `compact=True` (the default): the statistics steps need no backward equations, because the
  normalize step's rule takes ∂L/∂Nk straight to ∂L/∂Zk in the textbook form
  δk = (1/B)(B ∂L/∂Nk − 𝟙𝟙ᵀ ∂L/∂Nk − Nk ⊙ 𝟙𝟙ᵀ(∂L/∂Nk ⊙ Nk)) ⊘ 𝟙σkᵀ
  (`rules.normalize_compact_vjp`).
- `compact=False`: each step applies its own rule, and the derivation shows the chain rule
  through σ, the variance, the centring and the mean, one equation each.

proofs/normalization.py proves each step's rule for symbolic B and n, and the compact formula
exactly against `sympy.diff` for every shape up to 4 × 4; tests/test_normalization.py checks
the two forms equal exactly, with σ left as a free symbol.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..algebra import rules
from ..algebra.channels import Channels
from ..algebra.functions import x
from ..algebra.matexpr import ScalarFn
from ..errors import ShapeError, SpecError
from .layer import Layer, derivative_fn, exact

SQRT = ScalarFn("sqrt", "√", sp.Lambda(x, sp.sqrt(x)))


class _Normalization(Layer):
    over = "batch"  # the axis the statistics are taken along: "batch" or "features"
    name = "norm"

    def __init__(self, n: int, eps=1e-5, *, compact: bool = True):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ShapeError(f"{type(self).__name__} width must be a positive integer, got {n!r}")
        self.n = n
        self.eps = exact(eps, f"{type(self).__name__} eps")
        if self.eps <= 0:
            raise SpecError(f"{type(self).__name__} eps must be > 0, got {eps!r}")
        self.compact = bool(compact)

    def __repr__(self):
        extras = [repr(self.n)]
        if self.eps != sp.Rational(1, 100000):
            extras.append(f"eps={float(self.eps):g}")
        if not self.compact:
            extras.append("compact=False")
        return f"{type(self).__name__}({', '.join(extras)})"

    def __eq__(self, other):
        return type(other) is type(self) and (self.n, self.eps, self.compact) == (
            other.n, other.eps, other.compact)

    def __hash__(self):
        return hash((type(self).__name__, self.n, self.eps, self.compact))

    def out_width(self, n_in: int) -> int:
        if n_in != self.n:
            raise ShapeError(
                f"{self!r} normalizes {self.n} features, but the layer before it gives {n_in}: "
                f"shapes (B, {n_in}) and ({self.n},) do not match"
            )
        return self.n

    def initial(self, k: int) -> dict[str, np.ndarray]:
        """Start as the identity on normalized values: γ = 1, β = 0 (as PyTorch does)."""
        return {f"gamma{k}": np.ones(self.n), f"beta{k}": np.zeros(self.n)}

    def axis(self, tape, Z):
        """What `rules` take as `over`: "batch", "features", or an axis object."""
        return self.over

    def record(self, tape, Z, k: int):
        over, eps, composed = self.axis(tape, Z), self.eps, not self.compact
        gamma = tape.param(f"gamma{k}", self.n)
        beta = tape.param(f"beta{k}", self.n)
        if isinstance(over, Channels):
            axis, m, unit = over.words(), over.m_text(), "channel"
        else:
            axis = "column, over the batch" if over == "batch" else "row, over its features"
            m, unit = ("B" if over == "batch" else str(self.n)), "column"

        def step(name, value, inputs, vjp, why):
            # In the compact form the statistics are forward-only: the normalize step's rule
            # already accounts for every path through them.
            if not composed:
                inputs, vjp = (), (lambda G, out: ())
            return tape.record(name, value, inputs, vjp, why=why, layer=k)

        mu = step(f"mu{k}", rules.mean(Z, over), (Z,),
                  lambda G, out: (rules.mean_vjp(G, over, self.n),),
                  f"μ{k} averages each {axis}, so every entry of {Z.name} receives 1/{m} of "
                  f"∂L/∂μ{k}.")
        C = step(f"C{k}", rules.centre(Z, mu, over), (Z, mu),
                 lambda G, out: rules.centre_vjp(G, over),
                 f"C{k} = {Z.name} − μ{k} passes ∂L/∂C{k} to {Z.name} unchanged, and μ{k} "
                 f"receives minus its sum along the axis.")
        V = step(f"V{k}", rules.variance(C, over, eps), (C,),
                 lambda G, out: (rules.variance_vjp(G, C, over),),
                 f"V{k} is the mean of C{k}², so ∂L/∂C{k} gains (2/{m}) C{k} ⊙ ∂L/∂V{k}.")
        sigma = step(f"sigma{k}", rules.elementwise(SQRT, V), (V,),
                     lambda G, out: (rules.elementwise_vjp(G, _sqrt_derivative(), V, out),),
                     f"σ{k} = √V{k} entry by entry: ∂L/∂V{k} = ∂L/∂σ{k} ⊙ √′(V{k}) = "
                     f"∂L/∂σ{k} ⊘ 2σ{k}.")
        if composed:
            N = tape.record(
                f"N{k}", rules.normalize(C, sigma, over), (C, sigma),
                lambda G, out: rules.normalize_vjp(G, out, sigma, over),
                why=f"N{k} = C{k} ⊘ σ{k}: ∂L/∂C{k} = ∂L/∂N{k} ⊘ σ{k}, and as ∂(c/s)/∂s = "
                    f"−(c/s)/s, ∂L/∂σ{k} = −Σ (∂L/∂N{k} ⊙ N{k}) ⊘ σ{k}.",
                layer=k,
            )
        else:
            N = tape.record(
                f"N{k}", rules.normalize(C, sigma, over), (Z,),
                lambda G, out: (rules.normalize_compact_vjp(G, out, sigma, over),),
                why=f"N{k} = ({Z.name} − μ{k}) ⊘ σ{k} with μ{k}, σ{k} the statistics of each "
                    f"{axis}. Through the mean, the variance and σ the chain rule gives "
                    f"∂L/∂{Z.name} = (1/{m})({m} G − Σ G − N{k} ⊙ Σ(G ⊙ N{k})) ⊘ σ{k} with "
                    f"G = ∂L/∂N{k} and Σ summing each {axis.split(',')[0]}"
                    + (f" over (n, y, x), the {m} entries of its statistics, spread back by "
                       "[c]" if unit == "channel" else "")
                    + ": the path through the mean vanishes because centred values sum to "
                      "zero.",
                layer=k,
            )
        where = "over (n, y, x)" if unit == "channel" else "over the batch"
        return tape.record(
            f"H{k}", rules.affine(N, gamma, beta, over), (N, gamma, beta),
            lambda G, out: rules.affine_vjp(G, N, gamma, over),
            why=f"H{k} = N{k} ⊙ γ{k} + β{k} {unit} by {unit}: ∂L/∂N{k} = ∂L/∂H{k} ⊙ γ{k}, "
                f"∂L/∂γ{k} sums ∂L/∂H{k} ⊙ N{k} {where} and ∂L/∂β{k} sums ∂L/∂H{k}.",
            layer=k,
        )


def _sqrt_derivative() -> ScalarFn:
    return derivative_fn(SQRT.name, SQRT.label, SQRT.body, builtin=True)


class BatchNorm(_Normalization):
    """Normalize each of n features over the batch (training-mode statistics), then scale by
    γ and shift by β: PyTorch's `BatchNorm1d(n, eps)`; training mode by default, running
    statistics with a state (`model.init_state()`). For images (C, H, W): `BatchNorm2d(C)`."""

    over, name = "batch", "batchnorm"
    running_statistics = True  # running mean and variance in evaluation mode (codegen.module)


class BatchNorm2d(_Normalization):
    """Normalize each of C channels of (C, H, W) images over the batch and the positions
    (training-mode statistics, m = B·H·W entries each), then scale by γ and shift by β, each
    of shape (C,): PyTorch's `BatchNorm2d(num_features, eps)`. Running statistics (momentum
    0.1, the variance unbiased by m/(m − 1)) as for BatchNorm: `model.init_state()`."""

    over, name = "channels", "batchnorm2d"
    running_statistics = True

    def __init__(self, num_features: int, eps=1e-5, *, compact: bool = True):
        super().__init__(num_features, eps, compact=compact)

    def out_shape(self, in_shape):
        if len(in_shape) != 3:
            raise ShapeError(f"{self!r} normalizes images (C, H, W) per channel, but the layer "
                             f"before it gives shape {tuple(in_shape)}; for (B, n) inputs use "
                             "BatchNorm(n)")
        if in_shape[0] != self.n:
            raise ShapeError(f"{self!r} normalizes {self.n} channels, but the layer before it "
                             f"gives images of shape {tuple(in_shape)} ({in_shape[0]} channels)")
        if in_shape[1] * in_shape[2] == 1:
            raise ShapeError(f"{self!r} on 1×1 images: each channel's statistics would come from "
                             "the batch alone; Flatten() and use BatchNorm(C)")
        return tuple(in_shape)

    def axis(self, tape, Z):
        return Channels(*tape.sample_shapes[Z])


class LayerNorm(_Normalization):
    """Normalize each sample over its n features, then scale by γ and shift by β per feature:
    PyTorch's `LayerNorm(n, eps)`."""

    over, name = "features", "layernorm"

    def out_shape(self, in_shape):
        if len(in_shape) == 2 and in_shape[1] == self.n:  # a (T, n) sequence: each time step
            return tuple(in_shape)
        return super().out_shape(in_shape)

    def record(self, tape, Z, k: int):
        shape = tape.sample_shapes.get(Z)
        if shape is not None and len(shape) == 2 and shape[1] == self.n:
            from .sequence_norm import per_time_step

            return per_time_step(super().record, tape, Z, k, shape)
        return super().record(tape, Z, k)


NORMALIZATIONS = {cls.name: cls for cls in (LayerNorm, BatchNorm)}

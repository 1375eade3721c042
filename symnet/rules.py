"""Every backward rule symnet applies, in one place: one primitive, one short block.

A primitive has a forward expression and a vector-Jacobian product (VJP): given the upstream
gradient G = ∂L/∂(output), the gradient with respect to each input. The chain rule in
`derivation.py` is nothing but these rules applied in reverse order of the forward tape.

- Element-wise rules are not written here at all: `elementwise_vjp` multiplies by the derivative
  that `functions.py` derived from the function's formula.
- Matrix rules (dense, softmax cross-entropy) are the few written as matrix formulas; each is
  proved in `proofs/` by index calculus, importing the rule from this module.
"""

from __future__ import annotations

import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul

from .matexpr import B, Elementwise, LogSumExp, ScalarFn, Softmax, SumEntries, ones

# ── dense: Z = X W + 𝟙 bᵀ ───────────────────────────────────────────────────────────────────


def dense(X, W, b):
    return MatAdd(MatMul(X, W), MatMul(ones(X.shape[0]), b.T))


def dense_vjp(G, X, W, b):
    """(∂L/∂X, ∂L/∂W, ∂L/∂b) = (G Wᵀ, Xᵀ G, Gᵀ 𝟙)."""
    return MatMul(G, W.T), MatMul(X.T, G), MatMul(G.T, ones(G.shape[0]))


# ── element-wise: A = f(Z) ──────────────────────────────────────────────────────────────────


def elementwise(fn: ScalarFn, Z):
    return Elementwise(fn, Z)


def elementwise_vjp(G, derivative: ScalarFn, Z, A):
    """∂L/∂Z = G ⊙ f′(Z); f′ may be computed from the output A = f(Z) when that is cheaper."""
    operands = (Z, A)[: len(derivative.variables)]
    return HadamardProduct(G, Elementwise(derivative, *operands))


# ── element-wise loss: L = c Σᵢⱼ ℓ(Aᵢⱼ, Yᵢⱼ) ─────────────────────────────────────────────────


def elementwise_loss(ell: ScalarFn, A, Y, scale):
    return scale * SumEntries(Elementwise(ell, A, Y))


def elementwise_loss_vjp(ell_prime: ScalarFn, A, Y, scale):
    """∂L/∂A = c ∂ℓ/∂a(A, Y), entry by entry."""
    return MatMul(scale, Elementwise(ell_prime, A, Y))


# ── softmax cross-entropy on logits: L = c Σᵢ (LSE(Zᵢ) − Σₖ Yᵢₖ Zᵢₖ) ─────────────────────────
# Equal to −c Σᵢₖ Yᵢₖ log softmax(Z)ᵢₖ when every row of Y sums to 1 (one-hot or probabilities).


def softmax_cross_entropy(Z, Y, scale):
    return scale * (SumEntries(LogSumExp(Z)) - SumEntries(HadamardProduct(Y, Z)))


def softmax_cross_entropy_vjp(Z, Y, scale):
    """∂L/∂Z = c (softmax(Z) − Y)."""
    return MatMul(scale, MatAdd(Softmax(Z), MatMul(sp.S.NegativeOne, Y)))


# ── L2 weight decay: L += (λ/2) Σ ‖W‖² ──────────────────────────────────────────────────────


def l2_penalty(W, lam):
    return lam / 2 * SumEntries(HadamardProduct(W, W))


def l2_penalty_vjp(W, lam):
    """∂/∂W (λ/2)‖W‖² = λ W (PyTorch's `weight_decay` convention)."""
    return MatMul(lam, W)


__all__ = [
    "B",
    "dense",
    "dense_vjp",
    "elementwise",
    "elementwise_vjp",
    "elementwise_loss",
    "elementwise_loss_vjp",
    "softmax_cross_entropy",
    "softmax_cross_entropy_vjp",
    "l2_penalty",
    "l2_penalty_vjp",
]

"""Exact gate arithmetic of the recurrent cells (`recurrent`, `gru`) on explicit matrices, for
`derivation.evaluate`: symbolically (proofs, Rationals) the derivation's own forms, σ′ = σ(1 − σ),
tanh′ = 1 − tanh², 1 − σ; at a working precision (floating entries, 50 digits) the same
functions without cancellation, as 1 − σ(z) is 0 at 50 digits once z ≳ 115 where σ′(z) ≈ e^(−z)
is not (and 1 − tanh² once |z| ≳ 58).
"""

from __future__ import annotations

import sympy as sp


def sigmoid(v):
    return 1 / (1 + sp.exp(-v))


def mapped(M, fn):
    return sp.ImmutableMatrix(M.applyfunc(fn))


def hadamard(*Ms):
    out = Ms[0]
    for M in Ms[1:]:
        out = out.multiply_elementwise(M)
    return sp.ImmutableMatrix(out)


def tanh_prime(z, s):
    """tanh′(z) with s = tanh(z): 1 − s², or sech²(z) for a floating z."""
    return 1 / sp.cosh(z) ** 2 if isinstance(z, sp.Float) else 1 - s**2


def sigmoid_prime(z, s):
    """σ′(z) with s = σ(z): s·(1 − s), or 1/(4 cosh²(z/2)) for a floating z."""
    return 1 / (4 * sp.cosh(z / 2) ** 2) if isinstance(z, sp.Float) else s * (1 - s)


def complement(z, s):
    """1 − σ(z) with s = σ(z): 1 − s, or σ(−z) for a floating z."""
    return sigmoid(-z) if isinstance(z, sp.Float) else 1 - s


def entrywise(fn, Z, Y):
    """fn(Z[i, j], Y[i, j]) entry by entry (a derivative from pre-activations and values)."""
    return sp.ImmutableMatrix(Z.rows, Z.cols, lambda i, j: fn(Z[i, j], Y[i, j]))


__all__ = ["complement", "entrywise", "hadamard", "mapped", "sigmoid", "sigmoid_prime",
           "tanh_prime"]

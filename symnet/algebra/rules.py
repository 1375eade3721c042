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

from .functions import x, y
from .matexpr import B, Elementwise, LogSumExp, ScalarFn, Softmax, SumEntries, ones

# ── dense: Z = X W + 𝟙 bᵀ ───────────────────────────────────────────────────────────────────


def dense(X, W, b):
    return MatAdd(MatMul(X, W), MatMul(ones(X.shape[0]), b.T))


def linear(X, W):
    """A dense layer without a bias; its VJP is the first two of `dense_vjp`'s."""
    return MatMul(X, W)


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


# ── element-wise with learned scalars: A = f(Z, θ), each θ a (1, 1) parameter ───────────────
# θ enters as 𝟙θ𝟙ᵀ, the matrix of Z's shape holding θ everywhere, as a bias enters as 𝟙bᵀ.


def broadcast_scalar(theta, shape):
    return MatMul(ones(shape[0]), theta, ones(1, shape[1]))


def parametric(fn: ScalarFn, Z, thetas):
    return Elementwise(fn, Z, *(broadcast_scalar(t, Z.shape) for t in thetas))


def parametric_vjp(G, dfdx: ScalarFn, dfdthetas, Z, A, thetas, symbols):
    """(∂L/∂Z, ∂L/∂θ…) = (G ⊙ ∂f/∂x, 𝟙ᵀ(G ⊙ ∂f/∂θ)𝟙 …): θ touches every entry, so its
    gradient sums them. Each derivative is a `ScalarFn` of x, the θs and maybe y = f(x, θ)."""
    operand = {x: Z, y: A} | {s: broadcast_scalar(t, Z.shape) for s, t in zip(symbols, thetas)}

    def at(d: ScalarFn):
        return Elementwise(d, *(operand[v] for v in d.variables))

    dZ = HadamardProduct(G, at(dfdx))
    rows, cols = Z.shape
    dthetas = [MatMul(ones(rows).T, HadamardProduct(G, at(d)), ones(cols)) for d in dfdthetas]
    return (dZ, *dthetas)


# ── row-wise softmax: A = softmax(Z) ────────────────────────────────────────────────────────


def softmax(Z):
    return Softmax(Z)


def softmax_vjp(G, A):
    """∂L/∂Z = A ⊙ (G − (G ⊙ A) 𝟙 𝟙ᵀ): row i's Jacobian is diag(aᵢ) − aᵢ aᵢᵀ, so each row
    of G loses its A-weighted mean before being scaled by A."""
    n = A.shape[1]
    return HadamardProduct(A, MatAdd(G, MatMul(sp.S.NegativeOne, HadamardProduct(G, A),
                                               ones(n), ones(1, n))))


# ── normalization: statistics along one axis, each a product with 𝟙 ─────────────────────────
# `over="batch"` (BatchNorm): one statistic per column, a column (n, 1), spread as 𝟙 vᵀ.
# `over="features"` (LayerNorm): one statistic per row, a column (B, 1), spread as v 𝟙ᵀ.
# m is how many entries each statistic averages: B or n.
# `over` may also be an axis object (BatchNorm2d's `channels.Channels`, one statistic per channel
# over (n, y, x), m = B·H·W) that answers these questions itself: the rules stay one set.

DIVIDE = ScalarFn("divide", "⊘", sp.Lambda((x, y), x / y))  # entry by entry


def count(over, n):
    """How many entries each statistic averages: B, or the width n (a number, or a symbol in
    the proofs)."""
    if not isinstance(over, str):
        return over.count
    return B if over == "batch" else sp.sympify(n)


def mean(M, over):
    if not isinstance(over, str):
        return over.mean(M)
    if over == "batch":  # Transpose kept unevaluated: (C ⊙ C)ᵀ 𝟙 reads better than Cᵀ ⊙ Cᵀ 𝟙
        return MatMul(1 / B, sp.Transpose(M), ones(M.shape[0]))
    n = M.shape[1]
    return MatMul(sp.S.One / n, M, ones(n))


def spread(v, over, n):
    if not isinstance(over, str):
        return over.spread(v)
    return MatMul(ones(B), v.T) if over == "batch" else MatMul(v, ones(1, n))


def unspread(G, over):
    """The VJP of `spread`: sum G along the axis the statistic was spread over."""
    if not isinstance(over, str):
        return over.unspread(G)
    if over == "batch":
        return MatMul(sp.Transpose(G), ones(G.shape[0]))
    return MatMul(G, ones(G.shape[1]))


def mean_vjp(G, over, n):
    """∂L/∂M = (1/m) spread(G): every entry contributes 1/m to its mean."""
    return MatMul(1 / count(over, n), spread(G, over, n))


def sum_spread(M, over):
    """Σ M along the axis, spread back to M's shape: 𝟙 𝟙ᵀ M (batch) or M 𝟙 𝟙ᵀ (features)."""
    if not isinstance(over, str):
        return over.sum_spread(M)
    if over == "batch":
        return MatMul(ones(M.shape[0]), ones(1, M.shape[0]), M)
    return MatMul(M, ones(M.shape[1]), ones(1, M.shape[1]))


def centre(Z, mu, over):
    """C = Z − spread(μ)."""
    return MatAdd(Z, MatMul(sp.S.NegativeOne, spread(mu, over, Z.shape[1])))


def centre_vjp(G, over):
    """(∂L/∂Z, ∂L/∂μ) = (G, −unspread(G))."""
    return G, MatMul(sp.S.NegativeOne, unspread(G, over))


def variance(C, over, eps):
    """V = mean(C ⊙ C) + ε 𝟙: the biased variance (as PyTorch normalizes), plus ε."""
    mu = mean(HadamardProduct(C, C), over)
    return MatAdd(mu, MatMul(eps, ones(mu.shape[0])))


def variance_vjp(G, C, over):
    """∂L/∂C = (2/m) spread(G) ⊙ C."""
    n = C.shape[1]
    return HadamardProduct(MatMul(2 / count(over, n), spread(G, over, n)), C)


def normalize(C, sigma, over):
    """N = C ⊘ spread(σ)."""
    return Elementwise(DIVIDE, C, spread(sigma, over, C.shape[1]))


def normalize_vjp(G, N, sigma, over):
    """(∂L/∂C, ∂L/∂σ) = (G ⊘ spread(σ), −unspread(G ⊙ N ⊘ spread(σ))), as ∂(c/s)/∂s = −(c/s)/s."""
    S = spread(sigma, over, N.shape[1])
    return (Elementwise(DIVIDE, G, S),
            MatMul(sp.S.NegativeOne, unspread(Elementwise(DIVIDE, HadamardProduct(G, N), S), over)))


def normalize_compact_vjp(G, N, sigma, over):
    """∂L/∂Z through the whole of N = (Z − mean(Z)) ⊘ spread(σ), in one step:

        ∂L/∂Z = (1/m) (m G − Σ G − N ⊙ Σ(G ⊙ N)) ⊘ spread(σ),   Σ summing along the axis.

    The textbook form (Ioffe & Szegedy 2015 for BatchNorm: dX = (1/(Bσ))(B dX̂ − Σ dX̂ − X̂ ⊙
    Σ(dX̂ ⊙ X̂))). It is the composition of `centre_vjp`, `variance_vjp`, the √ rule and
    `normalize_vjp` simplified with Σ C = 0 (centred entries sum to zero, which kills the
    path through the mean) and C = N ⊙ spread(σ). proofs/normalization.py checks it exactly
    against `sympy.diff` for every shape up to 4 × 4; tests/test_normalization.py checks it
    against the step-by-step chain rule with σ left symbolic."""
    m = count(over, N.shape[1])
    inner = MatAdd(MatMul(m, G), MatMul(sp.S.NegativeOne, sum_spread(G, over)),
                   MatMul(sp.S.NegativeOne,
                          HadamardProduct(N, sum_spread(HadamardProduct(G, N), over))))
    return Elementwise(DIVIDE, MatMul(1 / m, inner), spread(sigma, over, N.shape[1]))


def affine(N, gamma, beta, over="batch"):
    """H = N ⊙ 𝟙γᵀ + 𝟙βᵀ: a learned scale and shift per column (per channel: `over`)."""
    if not isinstance(over, str):
        return over.affine(N, gamma, beta)
    rows = N.shape[0]
    return MatAdd(HadamardProduct(N, MatMul(ones(rows), gamma.T)), MatMul(ones(rows), beta.T))


def affine_vjp(G, N, gamma, over="batch"):
    """(∂L/∂N, ∂L/∂γ, ∂L/∂β) = (G ⊙ 𝟙γᵀ, (G ⊙ N)ᵀ𝟙, Gᵀ𝟙)."""
    if not isinstance(over, str):
        return over.affine_vjp(G, N, gamma)
    rows = N.shape[0]
    return (HadamardProduct(G, MatMul(ones(rows), gamma.T)),
            MatMul(sp.Transpose(HadamardProduct(G, N)), ones(rows)), MatMul(G.T, ones(rows)))


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
    "parametric",
    "parametric_vjp",
    "softmax",
    "softmax_vjp",
    "centre",
    "centre_vjp",
    "variance",
    "variance_vjp",
    "normalize",
    "normalize_vjp",
    "normalize_compact_vjp",
    "affine",
    "affine_vjp",
]

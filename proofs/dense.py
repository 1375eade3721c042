"""The dense layer: Z = X W + 𝟙bᵀ and G = ∂L/∂Z give ∂L/∂W = XᵀG, ∂L/∂b = Gᵀ𝟙, ∂L/∂X = G Wᵀ.

General: X is B×n, W is n×m, b is m×1, with B, n, m symbols. The forward expression is
`rules.dense`, the three products are `rules.dense_vjp`; their entries are written as sums
over symbolic ranges (`_index.entry`), and the chain rule ∂L/∂Vₖₗ = Σᵢⱼ Gᵢⱼ ∂Zᵢⱼ/∂Vₖₗ is
evaluated by SymPy, which turns each ∂Xᵢₜ/∂Xₖₗ into Kronecker deltas and sums them away.
"""

from __future__ import annotations

import sympy as sp

from symnet.algebra import rules
from symnet.algebra.matexpr import B
from symnet.algebra.notation import latex_expr as tex
from symnet.prove import Theorem

from ._index import entry, i, j, k, l, m, n, pullback


def theorems():
    yield Theorem("dense layer: ∂L/∂X = G Wᵀ, ∂L/∂W = XᵀG, ∂L/∂b = Gᵀ𝟙", dense_rule)


def dense_rule(proof):
    X, W = sp.MatrixSymbol("X", B, n), sp.MatrixSymbol("W", n, m)
    b, G = sp.MatrixSymbol("b", m, 1), sp.MatrixSymbol("G", B, m)
    Z = rules.dense(X, W, b)
    dX, dW, db = rules.dense_vjp(G, X, W, b)
    proof.states(r"Z = X W + \mathbb{1} b^{\top},\ G = \frac{\partial L}{\partial Z} \implies "
                 rf"\frac{{\partial L}}{{\partial X}} = {tex(dX)},\ "
                 rf"\frac{{\partial L}}{{\partial W}} = {tex(dW)},\ "
                 rf"\frac{{\partial L}}{{\partial b}} = {tex(db)}"
                 r" \quad \text{for all } B, n, m")
    proof.step("entry (i, j) of rules.dense(X, W, b)", (sp.Symbol("Z_{i,j}"), entry(Z, i, j)))
    for V, rule, (r, c), at in ((W, dW, (k, l), "W_{k,l}"), (b, db, (l, 0), "b_{l}"),
                                (X, dX, (k, l), "X_{k,l}")):
        truth = pullback(G, Z, V, r, c)
        name = V.name
        proof.step(f"chain rule: ∂L/∂{name} = Σ_ij G_ij ∂Z_ij/∂{name}, deltas summed",
                   (sp.Symbol(rf"\frac{{\partial L}}{{\partial {at}}}"), truth))
        proof.equal(entry(rule, r, c), truth, f"entry of rules.dense_vjp's ∂L/∂{name}")


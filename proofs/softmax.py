"""The softmax layer: A = softmax(Z) row by row and G = ∂L/∂A give
∂L/∂Z = A ⊙ (G − (G ⊙ A) 𝟙𝟙ᵀ), `rules.softmax_vjp`.

Row i's Jacobian is diag(aᵢ) − aᵢaᵢᵀ, so each row of G loses its A-weighted mean before being
scaled by A. General: Z and G are B×n with B, n symbols, softmax(Z)ᵢⱼ = exp(Zᵢⱼ) / Σₜ exp(Zᵢₜ),
and ∂L/∂Zₖₗ = Σᵢⱼ Gᵢⱼ ∂Aᵢⱼ/∂Zₖₗ is summed by SymPy.
"""

from __future__ import annotations

import sympy as sp

from symnet.algebra import rules
from symnet.algebra.matexpr import B
from symnet.algebra.notation import latex_expr as tex
from symnet.prove import Theorem

from ._index import entry, i, j, k, l, n, pullback


def theorems():
    if hasattr(rules, "softmax_vjp"):  # the softmax layer's rule, where this symnet has one
        yield Theorem("softmax layer: ∂L/∂Z = A ⊙ (G − (G ⊙ A)𝟙𝟙ᵀ)", softmax_rule)


def softmax_rule(proof):
    Z, G = sp.MatrixSymbol("Z", B, n), sp.MatrixSymbol("G", B, n)
    A = rules.softmax(Z)
    rule = rules.softmax_vjp(G, A)
    proof.states(rf"A = {tex(A)},\ G = \frac{{\partial L}}{{\partial A}} \implies "
                 rf"\frac{{\partial L}}{{\partial Z}} = {tex(rule)}"
                 r" \quad \text{for all } B, n")
    proof.step("entry (i, j) of the forward", (sp.Symbol("A_{i,j}"), entry(A, i, j)))
    truth = pullback(G, A, Z, k, l)
    proof.step("chain rule: ∂L/∂Z_kl = Σ_ij G_ij ∂A_ij/∂Z_kl, deltas summed",
               (sp.Symbol(r"\frac{\partial L}{\partial Z_{k,l}}"), truth))
    proof.equal(entry(rule, k, l), truth, "entry (k, l) of rules.softmax_vjp")

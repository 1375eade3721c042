"""The element-wise layer: A = f(Z) entry by entry gives ∂L/∂Z = G ⊙ f′(Z), G = ∂L/∂A.

Proved for a generic f (any differentiable function) and symbolic dimensions, against
`rules.elementwise_vjp`, in both forms a derivative may take: f′ in x (relu′, softplus′ = σ),
and f′ written as h(x, y) with y = f(x) (σ′ = y(1 − y)), where the rule must hand h the layer's
output A as y. That h(x, f(x)) = f′(x) for each real activation is the `activations` proof.
"""

from __future__ import annotations

import sympy as sp

from symnet.algebra import rules
from symnet.algebra.matexpr import B, ScalarFn
from symnet.prove import Theorem

from ._generic import _Named, f, fp, x, y
from ._index import entry, k, l, n, pullback


class h(_Named):  # noqa: N801 - f′ as a function of (x, y = f(x)), arbitrary otherwise
    nargs, tex = 2, "h"


def theorems():
    yield Theorem("element-wise layer: ∂L/∂Z = G ⊙ f′(Z)", elementwise_rule)


def elementwise_rule(proof):
    Z, G = sp.MatrixSymbol("Z", B, n), sp.MatrixSymbol("G", B, n)
    A = rules.elementwise(ScalarFn("f", "f", sp.Lambda(x, f(x))), Z)
    proof.states(r"A = f(Z),\ G = \frac{\partial L}{\partial A} \implies "
                 r"\frac{\partial L}{\partial Z} = G \odot f'(Z) \quad \text{for } Z, G "
                 r"\in \mathbb{R}^{B \times n}")
    truth = pullback(G, A, Z, k, l)
    proof.step("A_ij = f(Z_ij), so by the chain rule ∂L/∂Z_kl = Σ_ij G_ij ∂A_ij/∂Z_kl",
               (sp.Symbol(r"\frac{\partial L}{\partial Z_{k,l}}"), truth))

    in_x = ScalarFn("d_f", "f′", sp.Lambda(x, fp(x)))
    rule = rules.elementwise_vjp(G, in_x, Z, A)
    proof.equal(entry(rule, k, l), truth, "rules.elementwise_vjp with f′ in x")

    in_xy = ScalarFn("d_f", "f′", sp.Lambda((x, y), h(x, y)), shown=1)
    rule = rules.elementwise_vjp(G, in_xy, Z, A)
    hypothesis = sp.Lambda(x, h(x, f(x)))  # f′(x) = h(x, f(x))
    proof.equal(entry(rule, k, l), truth.replace(fp, hypothesis),
                "rules.elementwise_vjp with f′(x) = h(x, y), y = f(x) the layer's output")

"""Every activation's derivative, in the cheap form symnet generates, is the derivative.

For each entry of `symnet.nn.layers.ACTIVATIONS` the layer's `derivative` (a Lambda in x, or in
(x, y) with y = f(x) the output the forward pass holds: σ′ = y(1 − y)) is checked against
d/dx of the formula, differentiated after rewriting it in exp, so that neither `fdiff` nor the
derivative search is trusted.

A formula with kinks (ReLU, leaky ReLU, ELU) is differentiable only between them. On each open
interval x is written as a function of a positive symbol p (x = c + p right of the last kink
c, x = c − p left of the first, between kinks c₁ + (c₂ − c₁)·p/(1 + p)); the Piecewise then
collapses to one piece and, by the chain rule, f′(x(p)) = (d/dp f(x(p))) / x′(p). At each kink
the derivative is a convention: symnet's is the left derivative (relu′(0) = 0, lrelu′(0) = α,
elu′(0) = α), which is PyTorch's; that is checked too.
"""

from __future__ import annotations

from functools import partial

import sympy as sp

from symnet.algebra.functions import x
from symnet.algebra.notation import latex_expr, latex_label
from symnet.nn import layers
from symnet.prove import Theorem

p = sp.Symbol("p", positive=True)

# The defaults hide the kink convention for ELU (α = 1 makes both one-sided derivatives 1).
EXTRA = (layers.ELU(sp.Rational(1, 2)),)


def theorems():
    instances = [cls() for cls in layers.ACTIVATIONS.values()] + list(EXTRA)
    for act in instances:
        yield Theorem(f"activation {act!r}: derivative in symnet's form",
                      partial(derivative_is_exact, act))


def derivative_is_exact(act, proof, kink_rule="left"):
    """kink_rule: "left" (symnet's convention for its own activations: the left derivative),
    or "subgradient" (a custom formula's value, whatever SymPy's diff gives there, must lie
    between the one-sided derivatives)."""
    f, d = act.formula(), act.derivative
    form = d.lam(*(x, f)[: len(d.variables)])  # y = f(x) substituted where the form uses it
    shown = latex_expr(d.lam.expr)
    where = r",\ y = f(x)" if len(d.variables) == 2 else ""
    proof.states(rf"f(x) = {latex_expr(f)} \implies f'(x) = {latex_label(d.label)}(x) = "
                 rf"{shown}{where}" + (r" \quad (x \ne " + ", ".join(map(str, act.kinks)) + ")"
                                       if act.kinks else r" \quad \text{for all real } x"))
    if not act.kinks:
        truth = sp.diff(f.rewrite(sp.exp), x)
        proof.step("f rewritten in exp", f.rewrite(sp.exp))
        proof.step("d/dx of it", truth)
        proof.equal(form, truth, "symnet's form, with y = f(x), equals it")
        return
    limit = {"left": {}, "right": {}}  # the derivative's one-sided limits at each kink
    for where, at, ends in _intervals(sorted(act.kinks)):
        piece = f.subs(x, at)
        if piece.has(sp.Piecewise):
            proof.cannot(f"the formula does not reduce to one piece on {where}")
        truth = sp.diff(piece.rewrite(sp.exp), p) / sp.diff(at, p)
        proof.step(f"on {where}, with x = {at}", (sp.Symbol("f(x)"), piece))
        proof.equal(d.lam(*(at, piece)[: len(d.variables)]), truth,
                    f"on {where}, symnet's form equals (d/dp f(x(p))) / x′(p)")
        for kink, side, p_at in ends:
            limit[side][kink] = sp.limit(truth, p, p_at)
    for c in act.kinks:
        c = sp.sympify(c)
        at_kink = d.lam(*(c, f.subs(x, c))[: len(d.variables)])
        if kink_rule == "left":
            proof.equal(at_kink, limit["left"][c], f"at the kink x = {c}, symnet's value is the "
                        "left derivative (PyTorch's convention)")
        else:  # between the one-sided slopes: lo ≤ v ≤ hi exactly when clamping v keeps it
            lo, hi = sorted((limit["left"][c], limit["right"][c]))
            proof.equal(sp.Min(sp.Max(at_kink, lo), hi), at_kink,
                        f"at the kink x = {c}, symnet's value {at_kink} lies between the "
                        f"one-sided derivatives {lo} and {hi}: a subgradient")


def _intervals(kinks):
    """(description, x as a function of p > 0, ends) for each open interval between the kinks;
    ends lists (kink, side of it the interval lies on, the p at which x(p) reaches it). A limit
    to p = 0 is taken from above, as p > 0."""
    first, last = kinks[0], kinks[-1]
    yield f"x < {first}", first - p, [(first, "left", 0)]
    for a, b in zip(kinks, kinks[1:]):
        yield f"{a} < x < {b}", b - (b - a) * p / (1 + p), [(b, "left", 0), (a, "right", sp.oo)]
    yield f"x > {last}", last + p, [(last, "right", 0)]

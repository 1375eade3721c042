"""Each loss's gradient, for both reductions, and the L2 weight-decay term.

- Element-wise losses (MSE, BCE, BCE with logits, cross-entropy on probabilities):
  L = c Σᵢⱼ ℓ(Aᵢⱼ, Yᵢⱼ) as the loss's `value` builds it, against ∂L/∂A as its `vjp` builds it,
  with c the loss's own `scale`. The loss is rewritten in exp before it is differentiated, so
  σ's `fdiff` is not relied on. The textbook gradient (MSE 2(A − Y)/(Bn), BCE with logits
  (σ(Z) − Y)/(Bn), …) is checked too, which checks c: PyTorch's mean (over all B·n entries, or
  over the B samples for cross-entropy), or 1 for the sum.
- Softmax cross-entropy on logits: `rules.softmax_cross_entropy` is the textbook
  −c Σᵢₖ Yᵢₖ log softmax(Z)ᵢₖ whenever each row of Y sums to 1 (one-hot or probability rows),
  and its gradient is `rules.softmax_cross_entropy_vjp`, c (softmax(Z) − Y), c = 1/B or 1.
- L2: ∂/∂W of `rules.l2_penalty` is `rules.l2_penalty_vjp`, λW.

All general: B and n are symbols.
"""

from __future__ import annotations

from functools import partial

import sympy as sp
from sympy.simplify.simplify import factor_sum

from symnet.algebra import rules
from symnet.algebra.functions import sigmoid, x, y
from symnet.algebra.matexpr import B, Softmax
from symnet.algebra.notation import latex_expr as tex
from symnet.algebra.notation import latex_label
from symnet.nn import losses
from symnet.prove import Theorem

from ._index import entry, k, l, n, scalar

REDUCTIONS = ("mean", "sum")

# The textbook ∂ℓ/∂x of each element-wise loss, written independently of symnet's derivation,
# and what PyTorch's mean reduction divides by: all B·n entries, or the B samples.
TEXTBOOK = {
    "mse": (2 * (x - y), "entries"),
    "bce": ((x - y) / (x * (1 - x)), "entries"),
    "bce_logits": (sigmoid(x) - y, "entries"),
    "ce": (-y / x, "samples"),
}
MEAN = {"entries": 1 / (B * n), "samples": 1 / B}


def theorems():
    for name, cls in losses.LOSSES.items():
        for reduction in REDUCTIONS:
            if issubclass(cls, losses.ElementwiseLoss):
                yield Theorem(f"loss {name} ({reduction}): ∂L/∂A = c ∂ℓ/∂x(A, Y)",
                              partial(elementwise_loss, cls(reduction=reduction)))
            elif cls is losses.SoftmaxCrossEntropy:
                yield Theorem(f"loss {name} ({reduction}): ∂L/∂Z = c (softmax(Z) − Y)",
                              partial(softmax_cross_entropy, cls(reduction=reduction)))
    yield Theorem("L2 weight decay: ∂/∂W (λ/2)‖W‖² = λW", l2_decay)


def elementwise_loss(loss, proof):
    A, Y = sp.MatrixSymbol("A", B, n), sp.MatrixSymbol("Y", B, n)
    c = loss.scale(n)
    L, rule = loss.value(A, Y, c), loss.vjp(A, Y, c)
    proof.states(rf"L = {tex(L)},\ {latex_label(loss.label)}(x, y) = {tex(loss.formula())}"
                 rf" \implies \frac{{\partial L}}{{\partial A}} = {tex(rule)},\ "
                 rf"{latex_label(loss.ell_prime.label)}(x, y) = {tex(loss.ell_prime.lam.expr)}")
    truth = sp.diff(scalar(L).rewrite(sp.exp), A[k, l]).doit()
    proof.step("∂L/∂A_kl of the loss written in exp, deltas summed", (_d("A_{k,l}"), truth))
    proof.equal(entry(rule, k, l), truth, "entry (k, l) of the loss's vjp")
    if loss.name in TEXTBOOK:
        form, over = TEXTBOOK[loss.name]
        mean = MEAN[over] if loss.reduction == "mean" else 1
        textbook = mean * form.subs({x: A[k, l], y: Y[k, l]}, simultaneous=True)
        proof.equal(textbook, truth, f"the textbook gradient ({loss.reduction} reduction)")


def softmax_cross_entropy(loss, proof):
    Z, Y = sp.MatrixSymbol("Z", B, n), sp.MatrixSymbol("Y", B, n)
    c = loss.scale(n)
    L, rule = rules.softmax_cross_entropy(Z, Y, c), rules.softmax_cross_entropy_vjp(Z, Y, c)
    proof.states(rf"L = {tex(L)} \implies \frac{{\partial L}}{{\partial Z}} = {tex(rule)};\ "
                 r"L = -c \sum_{i,t} Y_{i,t} \log \operatorname{softmax}(Z)_{i,t} "
                 r"\text{ when } \sum_t Y_{i,t} = 1 \text{ for every row } i")
    i, t = sp.Dummy("i", integer=True, nonnegative=True), sp.Dummy("t", integer=True)
    row = -sp.Sum(Y[i, t] * sp.log(entry(Softmax(Z), i, t)), (t, 0, n - 1))
    proof.step("the textbook loss of row i", (sp.Symbol("L_i"), row))
    # log(e^z / S) = z − log S holds since S, a sum of exponentials, is positive: hence force.
    row = factor_sum(sp.expand(sp.expand_log(row, force=True)))
    proof.step("log of a quotient, constant factors out of the sum", (sp.Symbol("L_i"), row))
    row = row.subs(sp.Sum(Y[i, t], (t, 0, n - 1)), 1)
    proof.step("each row of Y sums to 1", (sp.Symbol("L_i"), row))
    proof.equal(c * sp.Sum(row, (i, 0, B - 1)), scalar(L),
                "c Σ_i L_i is rules.softmax_cross_entropy")
    truth = sp.diff(scalar(L), Z[k, l]).doit()
    proof.step("∂L/∂Z_kl, deltas summed", (_d("Z_{k,l}"), truth))
    proof.equal(entry(rule, k, l), truth, "entry (k, l) of rules.softmax_cross_entropy_vjp")
    mean = MEAN["samples"] if loss.reduction == "mean" else 1
    proof.equal(c, mean, f"c is PyTorch's {loss.reduction} over the batch")


def l2_decay(proof):
    W = sp.MatrixSymbol("W", n, sp.Symbol("m", integer=True, positive=True))
    lam = sp.Symbol("lambda", nonnegative=True)
    L, rule = rules.l2_penalty(W, lam), rules.l2_penalty_vjp(W, lam)
    proof.states(rf"L = {tex(L)} \implies \frac{{\partial L}}{{\partial W}} = {tex(rule)}")
    truth = sp.diff(scalar(L), W[k, l]).doit()
    proof.step("∂L/∂W_kl, deltas summed", (_d("W_{k,l}"), truth))
    proof.equal(entry(rule, k, l), truth, "entry (k, l) of rules.l2_penalty_vjp")


def _d(entry_tex: str) -> sp.Symbol:
    """∂L/∂(entry), as a symbol that prints as the fraction."""
    return sp.Symbol(rf"\frac{{\partial L}}{{\partial {entry_tex}}}")

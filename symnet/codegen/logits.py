"""The probability losses computed from the logits in generated code.

`bce` always follows a sigmoid and `ce` a softmax (Network refuses anything else). Their printed
equations take the logarithm of the probability A = σ(Z) (or softmax(Z)), and so does the exact
evaluation, which works on σ(40) without rounding. In floating point, though, σ(z) rounds to
exactly 1 for z ≥ 36.7 (float64; 16.6 in float32), log(1 − A) is −inf, and the gradient's
factor A(1 − A) is 0: the generated code would disagree with the exact values (PyTorch's
`BCELoss(sigmoid(z))` clamps the log at −100, which only hides it).

So the generated code computes the same quantities in the logit domain, each rewrite checked
here with SymPy before it is used:

    bce:  ℓ(σ(z), y) = y·softplus(−z) + (1 − y)·softplus(z)
          δ = c·∂ℓ/∂x(A, Y) ⊙ σ′(Z) = c·(A − Y)                     (the factors cancel)
    ce:   ℓ(softmax(Z), Y) summed = Σ Y ⊙ (LSE(Z) 𝟙ᵀ − Z)
          δ = A ⊙ (G − (G ⊙ A) 𝟙𝟙ᵀ) with G = −c·Y ⊘ A = c·(A ⊙ (Y 𝟙𝟙ᵀ) − Y)

These are identities, not approximations: the values equal the exact ones at every point, and
the loss does not saturate at 100 (unlike `torch.nn.BCELoss`). The rewritten equations appear
as the comments of the generated lines.
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp
from sympy import HadamardProduct, MatMul, OneMatrix

from ..algebra import rules
from ..algebra.functions import softplus
from ..algebra.matexpr import B, Elementwise, LogSumExp, ScalarFn, Softmax, SumEntries


def logit_domain(d):
    """(forward, loss, backward) equations of derivation `d` for code generation: for bce and
    ce, rewritten in the logits (see the module docstring); otherwise d's own."""
    name = d.network.loss.name
    if name not in ("bce", "ce") or not d.forward:
        return d.forward, d.loss, d.backward
    last = d.forward[-1]
    A = last.lhs
    if name == "bce" and isinstance(last.rhs, Elementwise) and last.rhs.fn.name == "sigmoid":
        Z = last.rhs.operands[0]
        return d.forward, _bce_loss(d.loss, A, Z), [_bce_delta(eq, A) for eq in d.backward]
    if name == "ce" and isinstance(last.rhs, Softmax):
        Z = last.rhs.arg
        return d.forward, _ce_loss(d.loss, A, Z), _ce_backward(d.backward, A)
    return d.forward, d.loss, d.backward


def _loss_terms(loss_eq, A, fn_name):
    """The Elementwise ℓ(A, Y) inside L = c·Σ ℓ(A, Y), or None."""
    found = [e for e in sp.preorder_traversal(loss_eq.rhs)
             if isinstance(e, Elementwise) and e.fn.name == fn_name and e.operands[0] == A
             and e.operands[1].shape == A.shape]
    return found[0] if len(found) == 1 else None


x, y, z = sp.symbols("x y z", real=True)
_BCE_LOGITS = ScalarFn("bce_of_logits", "ℓ_bce∘σ",
                       sp.Lambda((z, y), y * softplus(-z) + (1 - y) * softplus(z)))


def _bce_loss(loss_eq, A, Z):
    term = _loss_terms(loss_eq, A, "bce")
    if term is None:
        return loss_eq
    Y = term.operands[1]
    on_probabilities = term.fn.lam(1 / (1 + sp.exp(-z)), y)
    for zv, yv in ((-3, 0), (sp.Rational(1, 2), sp.Rational(1, 3)), (2, 1)):
        at = {z: zv, y: yv}
        if abs(sp.N(on_probabilities.subs(at) - _BCE_LOGITS.lam(z, y).subs(at), 30)) > 1e-25:
            return loss_eq  # not the bce formula this rewrite knows
    return replace(loss_eq, rhs=loss_eq.rhs.xreplace({term: Elementwise(_BCE_LOGITS, Z, Y)}))


def _bce_delta(eq, A):
    """δ = (c·∂ℓ/∂x(A, Y)) ⊙ σ′(Z, A) fused into c·(A − Y), after SymPy confirms that the
    product of the two scalar formulas cancels to exactly that."""
    rhs = eq.rhs
    if not (isinstance(rhs, HadamardProduct) and len(rhs.args) == 2):
        return eq
    first, second = rhs.args
    coeff, rest = first.as_coeff_mmul() if isinstance(first, MatMul) else (sp.S.One, first)
    inner = rest.args[0] if isinstance(rest, MatMul) and len(rest.args) == 1 else rest
    if not (isinstance(inner, Elementwise) and inner.fn.name == "d_bce" and inner.operands[0] == A
            and isinstance(second, Elementwise) and second.fn.name == "d_sigmoid"
            and inner.operands[1].shape == A.shape):
        return eq
    Y = inner.operands[1]
    a = sp.Symbol("a", positive=True)
    product = inner.fn.lam(a, y) * second.fn.lam(z, a)
    if sp.cancel(product - (a - y)) != 0:
        return eq
    return replace(eq, rhs=coeff * (A - Y))


def _ce_loss(loss_eq, A, Z):
    """L = c·Σ ℓ_ce(A, Y) = c·Σ −Y ⊙ log softmax(Z) = c·Σ Y ⊙ (LSE(Z) 𝟙ᵀ − Z)."""
    term = _loss_terms(loss_eq, A, "ce")
    if term is None or sp.cancel(term.fn.lam(x, y) + y * sp.log(x)) != 0:
        return loss_eq
    Y = term.operands[1]
    n = Z.shape[1]
    log_prob_neg = MatMul(LogSumExp(Z), OneMatrix(1, n)) - Z  # −log softmax(Z)
    total = SumEntries(HadamardProduct(Y, log_prob_neg))
    return replace(loss_eq, rhs=loss_eq.rhs.xreplace({SumEntries(term): total}))


def _ce_backward(backward, A):
    """dA = c·(−Y ⊘ A) and δ = A ⊙ (dA − (dA ⊙ A) 𝟙𝟙ᵀ) become δ = c·(A ⊙ (Y 𝟙𝟙ᵀ) − Y), with
    no division by A (which underflows to 0 for confident wrong predictions)."""
    dA_eq = next((eq for eq in backward if eq.name == f"d{A.name}"), None)
    if dA_eq is None:
        return backward
    coeff, rest = dA_eq.rhs.as_coeff_mmul() if isinstance(dA_eq.rhs, MatMul) else (sp.S.One,
                                                                                   dA_eq.rhs)
    inner = rest.args[0] if isinstance(rest, MatMul) and len(rest.args) == 1 else rest
    if not (isinstance(inner, Elementwise) and inner.fn.name == "d_ce"
            and sp.cancel(inner.fn.lam(x, y) * x + y) == 0
            and inner.operands[1].shape == A.shape):
        return backward
    Y = inner.operands[1]
    n = A.shape[1]
    dA = dA_eq.lhs
    out = []
    for eq in backward:
        if eq is dA_eq:
            continue
        if eq.rhs.has(dA):
            if eq.rhs != rules.softmax_vjp(dA, A) or not sp.sympify(A.shape[0]).has(B):
                return backward  # not softmax's rule as we know it: keep the equations
            rows = MatMul(Y, OneMatrix(n, 1), OneMatrix(1, n))
            eq = replace(eq, rhs=coeff * (HadamardProduct(A, rows) - Y))
        out.append(eq)
    return out

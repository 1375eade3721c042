"""Mutants of a correct derivation: the mistakes people make when they write backprop by hand.

Each mutant is one edit of the derived equations (the f′ factor dropped from a δ, W where Wᵀ
belongs, the wrong layer's activations in ∂L/∂W, …) made by SymPy tree edits (`xreplace`) on
the equations of the `Derivation`, and compiled by the same code generator as the real thing.
When `verify(net=…)` finds a wrong gradient, the user's numbers are compared with each mutant's
(`suspects.Suspects`):
the mutant they match names the mistake, and its edited equation is the formula the user's
code implements, printed beside the correct one.

A mutant function takes a Derivation and yields (title, {equation name: new right-hand side}),
one pair per place the mistake can be made. `MUTANTS` is the table of them, in the order in
which matches are reported. An edit whose shapes do not fit (W instead of Wᵀ for a non-square
W) is not a mistake anyone's NumPy code can make, and SymPy refuses to build it: skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul, MatrixSymbol, OneMatrix, Transpose

from ..algebra.functions import x
from ..algebra.matexpr import B, Elementwise, ScalarFn, Softmax
from ..algebra.notation import unicode_expr
from ..algebra.rules import DIVIDE
from ..derivation.chain import Derivation, Equation
from . import graph_mutants, sequence_mutants
from .mutant_edits import (
    backward,
    derivative_factors,
    drop,
    input_term,
    l2_term,
    layer_output,
    name,
    output_of,
    scaled,
    sub,
    terms,
    weight,
)


@dataclass(frozen=True)
class Mutant:
    key: str  # the mutant function's name, e.g. "activation_derivative_missing"
    title: str  # the mistake in words
    correct: tuple[Equation, ...]  # the equations it edits, as derived
    changed: tuple[Equation, ...]  # the same equations, edited
    derivation: Derivation  # the whole mutated derivation

    @property
    def kind(self) -> str:
        """The kind of mistake (checking.diagnose.KINDS) this mutant makes."""
        if self.key == "l2_term_wrong":
            return "l2_missing" if "missing" in self.title else "l2_wrong"
        if self.key == "loss_gradient_scale" and "sign" in self.title:
            return "sign"
        return KIND_OF[self.key]

    def formulas(self, indent: str = "    ") -> str:
        """'correct: δ1 = (δ2 W2ᵀ) ⊙ σ′(Z1)' above 'yours: δ1 = (δ2 W2ᵀ) ⊙ σ′(A1)'."""
        lines = []
        for right, wrong in zip(self.correct, self.changed):
            lhs = unicode_expr(right.lhs)
            lines += [f"{indent}correct: {lhs} = {unicode_expr(right.rhs)}",
                      f"{indent}yours:   {lhs} = {unicode_expr(wrong.rhs)}"]
        return "\n".join(lines)


# ── the mutants: one short function each ───────────────────────────────────────────────────


def activation_derivative_missing(d):
    for eq, product, factor, _ in derivative_factors(d):
        yield (f"the activation derivative {unicode_expr(factor)} is missing from "
               f"{name(eq.lhs)}", {eq.name: sub(eq.rhs, product, drop(product, factor))})


def derivative_at_output(d):
    for eq, _, factor, layer in derivative_factors(d):
        Z = factor.operands[0]
        A = output_of(d, layer, Z)
        if A is None:
            continue
        of_x = ScalarFn(f"d_{layer.name}_x", f"{layer.label}′",
                        sp.Lambda(x, sp.diff(layer.formula(), x)), shown=1)
        yield (f"{layer.label}′ is applied to the output {name(A)} instead of the "
               f"pre-activation {name(Z)}", {eq.name: sub(eq.rhs, factor, Elementwise(of_x, A))})


def wrong_layer_input(d):
    inputs = {}  # layer k → the symbol A_{k-1} its ∂L/∂W multiplies
    for eq in backward(d, "dW"):
        inputs[eq.layer] = input_term(eq, weight(d, eq))[1]
    forward = {e.name: e for e in d.forward}
    for eq in backward(d, "dW"):
        k, inp = eq.layer, inputs[eq.layer]
        if inp is None:
            continue
        candidates = [(layer_output(d, k), f"the layer's own output {{}} instead of its input "
                                            f"{name(inp)}")]
        fwd = forward.get(str(inp.name))
        if fwd is not None and isinstance(fwd.rhs, Elementwise):
            candidates.append((fwd.rhs.operands[0], f"the pre-activation {{}} instead of the "
                                                    f"activation {name(inp)}"))
        candidates.append((inputs.get(k - 1), f"{{}}, the input of layer {k - 1}, instead of "
                                              f"{name(inp)}"))
        for other, what in candidates:
            if other is None or other == inp or not isinstance(other, MatrixSymbol):
                continue
            yield (f"∂L/∂W{k} multiplies δ{k} by " + what.format(name(other)),
                   {eq.name: sub(eq.rhs, Transpose(inp), Transpose(other))})


def weight_not_transposed(d):
    for eq in backward(d, "dZ"):
        for node in sp.preorder_traversal(eq.rhs):
            if isinstance(node, Transpose) and node.arg in d.params.values() and (
                    node.arg.shape[0] == node.arg.shape[1] and str(node.arg.name).startswith("W")):
                W = node.arg
                yield (f"{name(eq.lhs)} multiplies by {name(W)} where {name(W)}ᵀ belongs",
                       {eq.name: sub(eq.rhs, node, W)})


def loss_gradient_scale(d):
    eq, loss, n = d.backward[0], d.network.loss, d.network.n_out
    rhs = eq.rhs
    if loss.reduction == "mean" and rhs.has(B):
        yield ("the 1/B of the mean is missing: the gradient of the sum over the batch",
               {eq.name: rhs.xreplace({B: sp.S.One})})
        yield "divided by B − 1 instead of B", {eq.name: rhs.xreplace({B: B - 1})}
        if n > 1 and loss.scale(n) != loss.scale(1):
            yield (f"averaged over the batch only: the 1/n = 1/{n} of the mean over all B·n "
                   "entries is missing (the loss summed over the outputs)",
                   {eq.name: scaled(sp.Integer(n), rhs)})
    elif loss.reduction == "sum":
        yield ("divided by B: the gradient of the mean, where the loss sums over the batch",
               {eq.name: scaled(1 / B, rhs)})
    yield ("the sign is flipped: the gradient of −L (e.g. Y − Ŷ where Ŷ − Y belongs)",
           {eq.name: scaled(sp.S.NegativeOne, rhs)})
    yield "a factor 2 is missing (e.g. d/dx x² = 2x)", {eq.name: scaled(sp.Rational(1, 2), rhs)}
    yield "a factor 2 too many", {eq.name: scaled(sp.Integer(2), rhs)}


def softmax_jacobian_dropped(d):
    names = {e.name for e in d.backward}
    for f in d.forward:  # a Softmax layer: δ = A ⊙ (G − (G ⊙ A)𝟙𝟙ᵀ) with G = ∂L/∂A
        if isinstance(f.rhs, Softmax) and f"d{f.rhs.arg.name}" in names and f"d{f.name}" in names:
            A, dZ = f.lhs, f"d{f.rhs.arg.name}"
            G = MatrixSymbol(f"d{f.name}", *A.shape)
            yield f"the softmax Jacobian is dropped: {name(G)} is used as δ", {dZ: G}
            yield ("only the diagonal of the softmax Jacobian is kept: diag(a) without "
                   "−a aᵀ"), {dZ: HadamardProduct(A, G)}
    eq = d.backward[0]  # fused softmax cross-entropy: c (softmax(Z) − Y)
    for node in sp.preorder_traversal(eq.rhs):
        if isinstance(node, MatAdd) and any(isinstance(a, Softmax) for a in node.args):
            p = next(a for a in node.args if isinstance(a, Softmax))
            yield ("the softmax Jacobian is dropped: ∂L/∂P = −Y ⊘ P (P = softmax) is used "
                   "as δ", {eq.name: sub(eq.rhs, node,
                                          Elementwise(DIVIDE, MatMul(sp.S.NegativeOne, d.Y), p))})


def bias_not_summed(d):
    for eq in backward(d, "db"):
        rhs = eq.rhs
        if (isinstance(rhs, MatMul) and len(rhs.args) == 2 and isinstance(rhs.args[0], Transpose)
                and isinstance(rhs.args[1], OneMatrix)):
            G = rhs.args[0].arg
            yield (f"∂L/∂b{eq.layer} is {name(G)} itself, one row per sample: not summed over "
                   "the batch", {eq.name: G})


def weight_gradient_transposed(d):
    for eq in backward(d, "dW"):
        W = weight(d, eq)
        term, inp = input_term(eq, W)
        if term is None:
            continue
        swap = {term: MatMul(Transpose(term.args[1]), inp)}
        l2 = l2_term(eq, W)
        if l2 is not None:
            swap[l2] = MatMul(l2.args[0], Transpose(W))
        new = [swap.get(t, t) for t in terms(eq.rhs)]
        yield (f"∂L/∂W{eq.layer} is transposed: δ{eq.layer}ᵀ {name(inp)} where "
               f"{name(inp)}ᵀ δ{eq.layer} belongs", {eq.name: new[0] if len(new) == 1
                                                       else MatAdd(*new)})


def l2_term_wrong(d):
    for eq in backward(d, "dW"):
        W = weight(d, eq)
        l2 = l2_term(eq, W)
        if l2 is None:
            continue
        rest = [t for t in terms(eq.rhs) if t != l2]
        yield (f"the L2 term {unicode_expr(l2)} is missing from ∂L/∂{name(W)}",
               {eq.name: rest[0] if len(rest) == 1 else MatAdd(*rest)})
        yield (f"the L2 term is counted twice in ∂L/∂{name(W)}",
               {eq.name: MatAdd(MatMul(2 * l2.args[0], W), *rest)})


def operation_mistake(d):
    """The classic mistakes in a layer family's own backward operations (a convolution's
    kernel not flipped, its stride or padding mishandled, a pooling gradient misrouted): an
    `Op` in a backward equation lists them itself, by `mutations()`, as edited copies."""
    for eq in d.backward:
        for node in sp.preorder_traversal(eq.rhs):
            for _, title, wrong in getattr(node, "mutations", lambda: ())():
                yield title, {eq.name: sub(eq.rhs, node, wrong)}
KIND_OF = {  # mutant → the kind of mistake it is
    "activation_derivative_missing": "activation_derivative_missing",
    "derivative_at_output": "activation_derivative_at_output",
    "wrong_layer_input": "wrong_layer_input",
    "weight_not_transposed": "transposed",
    "softmax_jacobian_dropped": "loss_gradient_wrong",
    "loss_gradient_scale": "scaled",
    "bias_not_summed": "bias_not_summed",
    "weight_gradient_transposed": "transposed",
    "operation_mistake": "operation_wrong",
}

MUTANTS = (
    activation_derivative_missing,
    derivative_at_output,
    wrong_layer_input,
    weight_not_transposed,
    softmax_jacobian_dropped,
    loss_gradient_scale,
    bias_not_summed,
    weight_gradient_transposed,
    l2_term_wrong,
    operation_mistake,
    *graph_mutants.MUTANTS,  # skip connections and branches, dropout, normalization
    *sequence_mutants.MUTANTS,  # recurrent and attention layers' own mistakes
)
KIND_OF.update(graph_mutants.KIND_OF)
KIND_OF.update(sequence_mutants.KIND_OF)


def mutants(d: Derivation) -> list[Mutant]:
    """Every mutant of `d` that the table's functions find, in table order."""
    out = []
    for fn in MUTANTS:
        for title, edits in fn(d):
            if None not in edits.values():  # None: shapes that do not fit, not a mistake
                out.append(_apply(d, fn.__name__, title, edits))
    return [m for m in out if m is not None]


def _apply(d, key, title, edits) -> Mutant | None:
    equations, correct, changed = [], [], []
    for eq in d.backward:
        if eq.name in edits and edits[eq.name] != eq.rhs:
            new = replace(eq, rhs=edits[eq.name])
            correct.append(eq)
            changed.append(new)
            eq = new
        equations.append(eq)
    if not changed:
        return None
    mutated = Derivation(d.network, d.tape, d.forward, d.loss, equations)
    return Mutant(key, title, tuple(correct), tuple(changed), mutated)


__all__ = ["MUTANTS", "Mutant", "mutants"]

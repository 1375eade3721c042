"""Mutants of a correct derivation: the mistakes people make when they write backprop by hand.

Each mutant is one edit of the derived equations (the f′ factor dropped from a δ, W where Wᵀ
belongs, the wrong layer's activations in ∂L/∂W, …) made by SymPy tree edits (`xreplace`) on
the equations of the `Derivation`, and compiled by the same code generator as the real thing.
When `verify(net=…)` finds a wrong gradient, the user's numbers are compared with each mutant's:
the mutant they match names the mistake, and its edited equation is the formula the user's
code implements, printed beside the correct one.

A mutant function takes a Derivation and yields (title, {equation name: new right-hand side}),
one pair per place the mistake can be made. `MUTANTS` is the table of them, in the order in
which matches are reported. An edit whose shapes do not fit (W instead of Wᵀ for a non-square
W) is not a mistake anyone's NumPy code can make, and SymPy refuses to build it: skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul, MatrixSymbol, OneMatrix, Transpose
from sympy.matrices.exceptions import ShapeError

from ..algebra.functions import x
from ..algebra.matexpr import B, Elementwise, ScalarFn, Softmax
from ..algebra.notation import unicode_expr
from ..algebra.rules import DIVIDE
from ..derivation.chain import Derivation, Equation
from . import sequence_mutants


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


# ── where things are in a derivation ───────────────────────────────────────────────────────


def _backward(d, prefix: str):
    """Backward equations whose name is prefix + layer number (dW1, db2, dZ3)."""
    return [e for e in d.backward if e.name.startswith(prefix) and e.name[len(prefix):].isdigit()]


def _weight(d, eq):
    return d.params.get(eq.name[1:])  # dW2 → W2


def _terms(expr):
    return list(expr.args) if isinstance(expr, MatAdd) else [expr]


def _input_term(eq, W):
    """The Aᵀ δ term of ∂L/∂W = Aᵀ δ (+ λW): (term, A), or (None, None)."""
    for term in _terms(eq.rhs):
        if (isinstance(term, MatMul) and len(term.args) == 2 and isinstance(term.args[0], Transpose)
                and isinstance(term.args[0].arg, MatrixSymbol) and term.args[0].arg != W):
            return term, term.args[0].arg
    return None, None


def _l2_term(eq, W):
    for term in _terms(eq.rhs):
        if isinstance(term, MatMul) and term.args[-1] == W and len(term.args) == 2:
            return term
    return None


def _derivative_factors(d):
    """(equation, Hadamard product, f′ factor, activation) for every activation derivative
    multiplied into a backward equation."""
    layers = {a.derivative: a for a in d.network.activations
              if not getattr(a, "symbols", ()) and hasattr(a, "formula") and a.name != "identity"}
    for eq in d.backward:
        for node in sp.preorder_traversal(eq.rhs):
            if isinstance(node, HadamardProduct):
                for factor in node.args:
                    if isinstance(factor, Elementwise) and factor.fn in layers:
                        yield eq, node, factor, layers[factor.fn]


def _output_of(d, layer, Z):
    """The symbol A with A = f(Z) in the forward equations."""
    for eq in d.forward:
        if isinstance(eq.rhs, Elementwise) and eq.rhs.fn == layer.fn and eq.rhs.operands[0] == Z:
            return eq.lhs
    return None


def _layer_output(d, k):
    """The last forward quantity of dense layer k (Ak, or Zk without an activation)."""
    return next((e.lhs for e in reversed(d.forward) if e.layer == k), None)


def _sub(expr, old, new):
    """`expr` with `old` replaced by `new`, or None when the shapes no longer fit together."""
    try:
        return expr.xreplace({old: new})
    except ShapeError:
        return None


def _scaled(c, expr):
    """c · expr, with c merged into expr's own coefficient: (1/2)·(1/B)·G prints as G/(2B)."""
    if isinstance(expr, MatMul):
        coeff, rest = expr.as_coeff_mmul()
        return MatMul(c * coeff, *rest.args)
    return MatMul(c, expr)


def _drop(product, factor):
    rest = [a for a in product.args if a != factor]
    return rest[0] if len(rest) == 1 else HadamardProduct(*rest)


def _name(symbol) -> str:
    return unicode_expr(symbol)


# ── the mutants: one short function each ───────────────────────────────────────────────────


def activation_derivative_missing(d):
    for eq, product, factor, _ in _derivative_factors(d):
        yield (f"the activation derivative {unicode_expr(factor)} is missing from "
               f"{_name(eq.lhs)}", {eq.name: _sub(eq.rhs, product, _drop(product, factor))})


def derivative_at_output(d):
    for eq, _, factor, layer in _derivative_factors(d):
        Z = factor.operands[0]
        A = _output_of(d, layer, Z)
        if A is None:
            continue
        of_x = ScalarFn(f"d_{layer.name}_x", f"{layer.label}′",
                        sp.Lambda(x, sp.diff(layer.formula(), x)), shown=1)
        yield (f"{layer.label}′ is applied to the output {_name(A)} instead of the "
               f"pre-activation {_name(Z)}", {eq.name: _sub(eq.rhs, factor, Elementwise(of_x, A))})


def wrong_layer_input(d):
    inputs = {}  # layer k → the symbol A_{k-1} its ∂L/∂W multiplies
    for eq in _backward(d, "dW"):
        inputs[eq.layer] = _input_term(eq, _weight(d, eq))[1]
    forward = {e.name: e for e in d.forward}
    for eq in _backward(d, "dW"):
        k, inp = eq.layer, inputs[eq.layer]
        if inp is None:
            continue
        candidates = [(_layer_output(d, k), f"the layer's own output {{}} instead of its input "
                                            f"{_name(inp)}")]
        fwd = forward.get(str(inp.name))
        if fwd is not None and isinstance(fwd.rhs, Elementwise):
            candidates.append((fwd.rhs.operands[0], f"the pre-activation {{}} instead of the "
                                                    f"activation {_name(inp)}"))
        candidates.append((inputs.get(k - 1), f"{{}}, the input of layer {k - 1}, instead of "
                                              f"{_name(inp)}"))
        for other, what in candidates:
            if other is None or other == inp or not isinstance(other, MatrixSymbol):
                continue
            yield (f"∂L/∂W{k} multiplies δ{k} by " + what.format(_name(other)),
                   {eq.name: _sub(eq.rhs, Transpose(inp), Transpose(other))})


def weight_not_transposed(d):
    for eq in _backward(d, "dZ"):
        for node in sp.preorder_traversal(eq.rhs):
            if isinstance(node, Transpose) and node.arg in d.params.values() and (
                    node.arg.shape[0] == node.arg.shape[1] and str(node.arg.name).startswith("W")):
                W = node.arg
                yield (f"{_name(eq.lhs)} multiplies by {_name(W)} where {_name(W)}ᵀ belongs",
                       {eq.name: _sub(eq.rhs, node, W)})


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
                   {eq.name: _scaled(sp.Integer(n), rhs)})
    elif loss.reduction == "sum":
        yield ("divided by B: the gradient of the mean, where the loss sums over the batch",
               {eq.name: _scaled(1 / B, rhs)})
    yield ("the sign is flipped: the gradient of −L (e.g. Y − Ŷ where Ŷ − Y belongs)",
           {eq.name: _scaled(sp.S.NegativeOne, rhs)})
    yield "a factor 2 is missing (e.g. d/dx x² = 2x)", {eq.name: _scaled(sp.Rational(1, 2), rhs)}
    yield "a factor 2 too many", {eq.name: _scaled(sp.Integer(2), rhs)}


def softmax_jacobian_dropped(d):
    names = {e.name for e in d.backward}
    for f in d.forward:  # a Softmax layer: δ = A ⊙ (G − (G ⊙ A)𝟙𝟙ᵀ) with G = ∂L/∂A
        if isinstance(f.rhs, Softmax) and f"d{f.rhs.arg.name}" in names and f"d{f.name}" in names:
            A, dZ = f.lhs, f"d{f.rhs.arg.name}"
            G = MatrixSymbol(f"d{f.name}", *A.shape)
            yield f"the softmax Jacobian is dropped: {_name(G)} is used as δ", {dZ: G}
            yield ("only the diagonal of the softmax Jacobian is kept: diag(a) without "
                   "−a aᵀ"), {dZ: HadamardProduct(A, G)}
    eq = d.backward[0]  # fused softmax cross-entropy: c (softmax(Z) − Y)
    for node in sp.preorder_traversal(eq.rhs):
        if isinstance(node, MatAdd) and any(isinstance(a, Softmax) for a in node.args):
            p = next(a for a in node.args if isinstance(a, Softmax))
            yield ("the softmax Jacobian is dropped: ∂L/∂P = −Y ⊘ P (P = softmax) is used "
                   "as δ", {eq.name: _sub(eq.rhs, node,
                                          Elementwise(DIVIDE, MatMul(sp.S.NegativeOne, d.Y), p))})


def bias_not_summed(d):
    for eq in _backward(d, "db"):
        rhs = eq.rhs
        if (isinstance(rhs, MatMul) and len(rhs.args) == 2 and isinstance(rhs.args[0], Transpose)
                and isinstance(rhs.args[1], OneMatrix)):
            G = rhs.args[0].arg
            yield (f"∂L/∂b{eq.layer} is {_name(G)} itself, one row per sample: not summed over "
                   "the batch", {eq.name: G})


def weight_gradient_transposed(d):
    for eq in _backward(d, "dW"):
        W = _weight(d, eq)
        term, inp = _input_term(eq, W)
        if term is None:
            continue
        swap = {term: MatMul(Transpose(term.args[1]), inp)}
        l2 = _l2_term(eq, W)
        if l2 is not None:
            swap[l2] = MatMul(l2.args[0], Transpose(W))
        new = [swap.get(t, t) for t in _terms(eq.rhs)]
        yield (f"∂L/∂W{eq.layer} is transposed: δ{eq.layer}ᵀ {_name(inp)} where "
               f"{_name(inp)}ᵀ δ{eq.layer} belongs", {eq.name: new[0] if len(new) == 1
                                                       else MatAdd(*new)})


def l2_term_wrong(d):
    for eq in _backward(d, "dW"):
        W = _weight(d, eq)
        l2 = _l2_term(eq, W)
        if l2 is None:
            continue
        rest = [t for t in _terms(eq.rhs) if t != l2]
        yield (f"the L2 term {unicode_expr(l2)} is missing from ∂L/∂{_name(W)}",
               {eq.name: rest[0] if len(rest) == 1 else MatAdd(*rest)})
        yield (f"the L2 term is counted twice in ∂L/∂{_name(W)}",
               {eq.name: MatAdd(MatMul(2 * l2.args[0], W), *rest)})


def operation_mistake(d):
    """The classic mistakes in a layer family's own backward operations (a convolution's
    kernel not flipped, its stride or padding mishandled, a pooling gradient misrouted): an
    `Op` in a backward equation lists them itself, by `mutations()`, as edited copies."""
    for eq in d.backward:
        for node in sp.preorder_traversal(eq.rhs):
            for _, title, wrong in getattr(node, "mutations", lambda: ())():
                yield title, {eq.name: _sub(eq.rhs, node, wrong)}
# ── beyond a stack: a path of the sum over paths, dropout's mask and rescaling ─────────────


def path_missing(d):
    """A symbol read by several steps (a skip connection, a branch) gets the sum of one term
    per path: each term left out in turn."""
    uses: dict = {}
    for step in d.tape.steps:
        for inp in step.inputs:
            uses[inp] = uses.get(inp, 0) + 1
    symbols = {f"d{s.name}": s for s in uses if uses[s] > 1 and s not in d.params.values()
               and s != d.Y and s not in d.tape.masks}
    merged = {f"d{s.output.name}" for s in d.tape.steps
              if str(s.output.name).startswith(("S", "Cat"))}  # Add and Concat outputs
    for eq in d.backward:
        if eq.name not in symbols or not isinstance(eq.rhs, MatAdd):
            continue
        for term in eq.rhs.args:
            rest = [t for t in eq.rhs.args if t != term]
            via = sorted(str(s.name) for s in term.free_symbols
                         if isinstance(s, MatrixSymbol) and s.name.startswith("d"))
            skip = any(v in merged for v in via)
            what = "the skip path's gradient" if skip else "the gradient along one path"
            through = "" if isinstance(term, MatrixSymbol) or not via else (
                f" (through {', '.join(_name(MatrixSymbol(v, 1, 1)) for v in via)})")
            yield (f"{what} is missing: {_name(eq.lhs)} leaves out the term "
                   f"{unicode_expr(term)}{through}",
                   {eq.name: rest[0] if len(rest) == 1 else MatAdd(*rest)})


def _mask_products(d):
    """(equation, node, mask) for each G ⊙ M of a dropout mask M in a backward equation."""
    masks = set(d.tape.masks)
    for eq in d.backward:
        for node in sp.preorder_traversal(eq.rhs):
            if isinstance(node, HadamardProduct):
                for m in node.args:
                    if m in masks:
                        yield eq, node, m


def dropout_mask_missing(d):
    for eq, node, M in _mask_products(d):
        yield (f"the dropout mask {_name(M)} is not applied in the backward pass: "
               f"{_name(eq.lhs)} lets the gradient through the dropped entries",
               {eq.name: _sub(eq.rhs, node, _drop(node, M))})


def dropout_not_rescaled(d):
    for eq, node, M in _mask_products(d):
        p = d.tape.masks[M]
        for scaled in sp.preorder_traversal(eq.rhs):
            if isinstance(scaled, MatMul) and node in scaled.args and p:
                coeff, rest = scaled.as_coeff_mmul()
                plain = MatMul(coeff * (1 - p), *rest.args) if coeff * (1 - p) != 1 else (
                    rest.args[0] if len(rest.args) == 1 else MatMul(*rest.args))
                yield (f"the dropout mask {_name(M)} is not rescaled by 1/(1 − p) = "
                       f"{1 / (1 - p)} in the backward pass of {_name(eq.lhs)}",
                       {eq.name: _sub(eq.rhs, scaled, plain)})
                break


def _normalization_rules(d):
    """(equation, the compact rule's inner sum, its 1/m, its terms) for every
    N = (Z − μ) ⊘ σ differentiated in one step: ((1/m)(m G − Σ G − N ⊙ Σ(G ⊙ N))) ⊘ σ."""
    for eq in d.backward:
        for node in sp.preorder_traversal(eq.rhs):
            if not (isinstance(node, Elementwise) and node.fn == DIVIDE
                    and isinstance(node.operands[0], MatMul)):
                continue
            coeff, rest = node.operands[0].as_coeff_mmul()
            if len(rest.args) == 1 and isinstance(rest.args[0], MatAdd) and len(
                    rest.args[0].args) == 3:
                yield eq, rest.args[0], coeff


def normalization_term_dropped(d):
    """BatchNorm/LayerNorm's backward written by hand: the path through the mean or through
    the variance forgotten, or (BatchNorm2d) the statistics' count m = B·H·W taken as B."""
    for eq, inner, coeff in _normalization_rules(d):
        for term in inner.args:
            c, _ = term.as_coeff_mmul()
            if c != -1:
                continue
            rest = [t for t in inner.args if t != term]
            edited = _sub(eq.rhs, inner, MatAdd(*rest))
            if term.has(HadamardProduct):
                yield (f"the variance term {unicode_expr(MatMul(-1, *term.args[1:]))} is "
                       f"dropped from {_name(eq.lhs)}: the path through σ is missing", {
                           eq.name: edited})
            else:
                yield (f"the mean term {unicode_expr(MatMul(-1, *term.args[1:]))} is dropped "
                       f"from {_name(eq.lhs)}: the path through μ is missing", {eq.name: edited})
        m = 1 / coeff
        if m != B and m.has(B):  # BatchNorm2d: m = B·H·W entries per channel
            yield (f"{_name(eq.lhs)} divides by B where each channel's statistics average "
                   f"{unicode_expr(m)} entries (the batch and the positions)",
                   {eq.name: eq.rhs.xreplace({m: B, coeff: 1 / B})})


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
    "path_missing": "path_missing",
    "dropout_mask_missing": "dropout_wrong",
    "dropout_not_rescaled": "dropout_wrong",
    "normalization_term_dropped": "normalization_wrong",
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
    path_missing,
    dropout_mask_missing,
    dropout_not_rescaled,
    normalization_term_dropped,
    *sequence_mutants.MUTANTS,  # recurrent and attention layers' own mistakes
)
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
    backward, correct, changed = [], [], []
    for eq in d.backward:
        if eq.name in edits and edits[eq.name] != eq.rhs:
            new = replace(eq, rhs=edits[eq.name])
            correct.append(eq)
            changed.append(new)
            eq = new
        backward.append(eq)
    if not changed:
        return None
    mutated = Derivation(d.network, d.tape, d.forward, d.loss, backward)
    return Mutant(key, title, tuple(correct), tuple(changed), mutated)


# ── which mutant does a gradient match? ────────────────────────────────────────────────────


class Suspects:
    """The mutants of one derivation, compiled (float64) once and evaluated on demand."""

    _cache: dict = {}  # (repr(network), backward equations) → Suspects

    def __init__(self, derivation):
        from ..codegen.build import compile

        self.mutants = mutants(derivation)
        self.models = [compile(m.derivation, np.float64) for m in self.mutants]

    @classmethod
    def of(cls, derivation) -> Suspects:
        key = (repr(derivation.network), tuple(eq.rhs for eq in derivation.backward))
        if key not in cls._cache:
            if len(cls._cache) >= 16:
                cls._cache.pop(next(iter(cls._cache)))
            cls._cache[key] = cls(derivation)
        return cls._cache[key]

    def match(self, g: dict, t: dict, params, X, Y, names, rounding_ulps: float, slack=None,
              masks=None):
        """{name: Mutant} for the `names` whose gradient in `g` equals a mutant's gradient
        (and not the truth `t`). A mutant that also explains every other parameter of `g` is
        preferred; otherwise the first in table order. `slack`: {name: extra tolerance} (the
        measured rounding of ∂L/∂name, where cancellation makes it large). `masks`: the
        dropout masks of the point."""
        slack = slack or {}
        grads = []
        for model in self.models:
            try:  # a mutant may divide by B − 1 = 0 (B = 1): it matches nothing then
                with np.errstate(all="ignore"):
                    grads.append(model.with_masks(masks).module.loss_and_grads(params, X, Y)[1])
            except ZeroDivisionError:
                grads.append({})
        found = {}
        for name in names:
            cands = [i for i, m in enumerate(grads)
                     if _agrees(g.get(name), m.get(name), rounding_ulps, slack=slack.get(name))
                     and not _agrees(m.get(name), t[name], rounding_ulps, np.float64)]
            full = [i for i in cands
                    if all(_agrees(g.get(k), grads[i].get(k), rounding_ulps) for k in t)]
            if cands:
                found[name] = self.mutants[(full or cands)[0]]
        return found


def _agrees(g, t, ulps, dtype=None, slack=None) -> bool:
    """g equals t within the reference-mode tolerance of verify (rounding of g's dtype), plus
    `slack` where it has t's shape."""
    if g is None or t is None:
        return False
    g = np.asarray(g)
    t = np.asarray(t, dtype=np.float64)
    if g.shape != t.shape or not np.issubdtype(g.dtype, np.floating) or not np.isfinite(t).all():
        return False
    eps = float(np.finfo(dtype or g.dtype).eps)
    tol = ulps * eps * (np.abs(t) + np.mean(np.abs(t)))
    if slack is not None and np.shape(slack) == t.shape:
        tol = tol + slack
    return bool(np.all(np.abs(g.astype(np.float64) - t) <= tol))


__all__ = ["MUTANTS", "Mutant", "Suspects", "mutants"]

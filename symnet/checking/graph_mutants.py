"""Mutants beyond a stack: a path of the sum over paths left out (a skip connection, a
branch), dropout's mask or its 1/(1 − p) rescaling forgotten, and a normalization's mean or
variance path dropped. Each function takes a Derivation and yields (title, {equation name: new
right-hand side}), as the functions in `mutants.py` do (that table includes these).
"""

from __future__ import annotations

import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul, MatrixSymbol

from ..algebra.matexpr import B, Elementwise
from ..algebra.notation import unicode_expr
from ..algebra.rules import DIVIDE
from .mutant_edits import drop, name, sub


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
                f" (through {', '.join(name(MatrixSymbol(v, 1, 1)) for v in via)})")
            yield (f"{what} is missing: {name(eq.lhs)} leaves out the term "
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
        yield (f"the dropout mask {name(M)} is not applied in the backward pass: "
               f"{name(eq.lhs)} lets the gradient through the dropped entries",
               {eq.name: sub(eq.rhs, node, drop(node, M))})


def dropout_not_rescaled(d):
    for eq, node, M in _mask_products(d):
        p = d.tape.masks[M]
        for scaled in sp.preorder_traversal(eq.rhs):
            if isinstance(scaled, MatMul) and node in scaled.args and p:
                coeff, rest = scaled.as_coeff_mmul()
                plain = MatMul(coeff * (1 - p), *rest.args) if coeff * (1 - p) != 1 else (
                    rest.args[0] if len(rest.args) == 1 else MatMul(*rest.args))
                yield (f"the dropout mask {name(M)} is not rescaled by 1/(1 − p) = "
                       f"{1 / (1 - p)} in the backward pass of {name(eq.lhs)}",
                       {eq.name: sub(eq.rhs, scaled, plain)})
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
            edited = sub(eq.rhs, inner, MatAdd(*rest))
            if term.has(HadamardProduct):
                yield (f"the variance term {unicode_expr(MatMul(-1, *term.args[1:]))} is "
                       f"dropped from {name(eq.lhs)}: the path through σ is missing", {
                           eq.name: edited})
            else:
                yield (f"the mean term {unicode_expr(MatMul(-1, *term.args[1:]))} is dropped "
                       f"from {name(eq.lhs)}: the path through μ is missing", {eq.name: edited})
        m = 1 / coeff
        if m != B and m.has(B):  # BatchNorm2d: m = B·H·W entries per channel
            yield (f"{name(eq.lhs)} divides by B where each channel's statistics average "
                   f"{unicode_expr(m)} entries (the batch and the positions)",
                   {eq.name: eq.rhs.xreplace({m: B, coeff: 1 / B})})


MUTANTS = (path_missing, dropout_mask_missing, dropout_not_rescaled, normalization_term_dropped)
KIND_OF = {
    "path_missing": "path_missing",
    "dropout_mask_missing": "dropout_wrong",
    "dropout_not_rescaled": "dropout_wrong",
    "normalization_term_dropped": "normalization_wrong",
}

"""Where things are in a derivation, and the tree edits that make a mutant (`mutants.py`):
the equations of a layer, a weight's Aᵀ δ and λW terms, the activation derivatives multiplied
into δs, and replacements that return None when the shapes no longer fit together.
"""

from __future__ import annotations

import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul, MatrixSymbol, Transpose
from sympy.matrices.exceptions import ShapeError

from ..algebra.matexpr import Elementwise
from ..algebra.notation import unicode_expr


def backward(d, prefix: str):
    """Backward equations whose name is prefix + layer number (dW1, db2, dZ3)."""
    return [e for e in d.backward if e.name.startswith(prefix) and e.name[len(prefix):].isdigit()]


def weight(d, eq):
    return d.params.get(eq.name[1:])  # dW2 → W2


def terms(expr):
    return list(expr.args) if isinstance(expr, MatAdd) else [expr]


def input_term(eq, W):
    """The Aᵀ δ term of ∂L/∂W = Aᵀ δ (+ λW): (term, A), or (None, None)."""
    for term in terms(eq.rhs):
        if (isinstance(term, MatMul) and len(term.args) == 2 and isinstance(term.args[0], Transpose)
                and isinstance(term.args[0].arg, MatrixSymbol) and term.args[0].arg != W):
            return term, term.args[0].arg
    return None, None


def l2_term(eq, W):
    for term in terms(eq.rhs):
        if isinstance(term, MatMul) and term.args[-1] == W and len(term.args) == 2:
            return term
    return None


def derivative_factors(d):
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


def output_of(d, layer, Z):
    """The symbol A with A = f(Z) in the forward equations."""
    for eq in d.forward:
        if isinstance(eq.rhs, Elementwise) and eq.rhs.fn == layer.fn and eq.rhs.operands[0] == Z:
            return eq.lhs
    return None


def layer_output(d, k):
    """The last forward quantity of dense layer k (Ak, or Zk without an activation)."""
    return next((e.lhs for e in reversed(d.forward) if e.layer == k), None)


def sub(expr, old, new):
    """`expr` with `old` replaced by `new`, or None when the shapes no longer fit together."""
    try:
        return expr.xreplace({old: new})
    except ShapeError:
        return None


def scaled(c, expr):
    """c · expr, with c merged into expr's own coefficient: (1/2)·(1/B)·G prints as G/(2B)."""
    if isinstance(expr, MatMul):
        coeff, rest = expr.as_coeff_mmul()
        return MatMul(c * coeff, *rest.args)
    return MatMul(c, expr)


def drop(product, factor):
    rest = [a for a in product.args if a != factor]
    return rest[0] if len(rest) == 1 else HadamardProduct(*rest)


def name(symbol) -> str:
    return unicode_expr(symbol)


__all__ = ["backward", "derivative_factors", "drop", "input_term", "l2_term", "layer_output",
           "name", "output_of", "scaled", "sub", "terms", "weight"]

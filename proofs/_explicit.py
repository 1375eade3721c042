"""Explicit matrices for the bounded proofs: every entry of an input its own symbol, and a
derivation's equations evaluated on them by
`symnet.derivation.evaluate.interpret` (the batch size B, and so every shape, fixed)."""

from __future__ import annotations

import sympy as sp

from symnet.algebra.matexpr import B
from symnet.derivation.evaluate import interpret


def symbols(M, batch) -> sp.ImmutableMatrix:
    """M's shape with B = batch, entry (r, c) the symbol M_rc."""
    rows, cols = (int(sp.sympify(dim).xreplace({B: batch})) for dim in M.shape)
    return sp.ImmutableMatrix(rows, cols, lambda r, c: sp.Symbol(f"{M.name}_{r}{c}"))


def evaluate(d, batch) -> tuple[dict, dict]:
    """(env, inputs): inputs maps X, Y and each parameter of the derivation `d` to its symbols;
    env adds the value of every equation's left-hand side, in the derivation's order."""
    inputs = {M: symbols(M, batch) for M in (d.X, d.Y, *d.params.values())}
    env = dict(inputs)
    for eq in d.equations:
        env[eq.lhs] = interpret(eq.rhs, env, batch)
    return env, inputs

"""σ and softplus: the derivative SymPy uses for them is the derivative of their definition.

symnet's `sigmoid` and `softplus` are SymPy functions of their own, and `sympy.diff` asks
their `fdiff` for their derivative (σ′ = σ(1 − σ), softplus′ = σ). Every derivative symnet
derives through them rests on that answer, so it is checked against the definition
(σ(x) = 1/(1 + e^(−x)), softplus(x) = log(1 + e^x)) differentiated as plain exp and log, where
`fdiff` plays no part.
"""

from __future__ import annotations

from functools import partial

import sympy as sp

from symnet.algebra import functions
from symnet.algebra.notation import latex_expr
from symnet.prove import Theorem

x = functions.x


def theorems():
    for named in functions.NAMED:
        yield Theorem(f"{named.__name__}′ (SymPy's fdiff) = d/dx of its definition",
                      partial(fdiff_is_exact, named))


def fdiff_is_exact(named, proof):
    used = sp.diff(named(x), x)  # what every derivation through `named` gets
    definition = named.definition(x)
    truth = sp.diff(definition, x)  # exp and log only: independent of fdiff
    proof.states(rf"\frac{{d}}{{dx}} {latex_expr(named(x))} = {latex_expr(used)}"
                 r" \quad \text{for all real } x")
    proof.step("the definition", (named(x), definition))
    proof.step("differentiated as an expression in exp and log", truth)
    proof.equal(used, truth, "the derivative fdiff gives equals it")

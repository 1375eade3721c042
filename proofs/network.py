"""What one network needs beyond symnet's own rules: `symnet prove --spec SPEC`.

Every layer symnet ships is proved by the other modules. A custom activation (`act(formula)` in
a spec, `sn.Activation(name, formula, params=…)` in Python) brings its own derivative: SymPy
differentiates the formula exactly, and `functions.cheapest_form` may then replace that with a
cheaper expression it accepts after agreement at sample points, not by proof. Given a network,
this module adds one theorem per custom activation in it, proving the forms symnet will
generate exactly, as `activations` and `parametric` do for the built-in and example ones:
between kinks for a formula in x alone, and at each kink that its value there (whatever
`sympy.diff` gives: sign(0) = 0 for |x|) lies between the one-sided derivatives, a valid
subgradient; and each partial derivative for a formula with learned scalars.
"""

from __future__ import annotations

from functools import partial

import sympy as sp

from symnet.algebra.identities import cancellation_free
from symnet.codegen.stable import saturation_holds
from symnet.codegen.validate import UntranslatableCode, obligations, printed_formulas
from symnet.nn.activation import CustomActivation
from symnet.nn.layers import Dense
from symnet.nn.losses import MSE
from symnet.nn.network import Network
from symnet.prove import Theorem

from .activations import derivative_is_exact
from .parametric import partials_are_exact


def theorems():
    return ()  # only theorems_for: a network's own activations


def theorems_for(network):
    seen = []
    for layer in network.layers:
        if isinstance(layer, CustomActivation) and layer not in seen:
            seen.append(layer)
    for act in seen:
        text = getattr(act, "text", None) or str(act.formula())
        yield Theorem(f"your activation {act.name}: {text}: generated code = symnet's form "
                      "(float64 constants)", partial(generated_code_is_exact, act))
        if act.symbols:
            yield Theorem(f"your activation {act.name}: {text}: partial derivatives in "
                          "symnet's form", partial(partials_are_exact, act))
        else:
            yield Theorem(f"your activation {act.name}: {text}: derivative in symnet's form",
                          partial(derivative_is_exact, act, kink_rule="subgradient"))


def generated_code_is_exact(act, proof):
    """Translation validation: each NumPy expression generated for the activation (f, f′ and
    each ∂f/∂θ) is read back into SymPy by a whitelist (never evaluated) and proved equal to
    symnet's form, with each constant rounded to the float64 the printer writes, piece by
    piece between and at the kinks. Code computed from x where the form uses the layer's
    output y = f(x) is compared with y = f(x) substituted; where the code clips its input at
    ±T (saturation), the clip's effect beyond ±T is bounded by interval arithmetic."""
    proof.states(r"\text{translate}(\text{generated code}) = \text{symnet's form}")
    net = Network([Dense(1, 1), act], loss=MSE())
    names = {act.name, f"d_{act.name}", *(f"d_{act.name}_{s.name}" for s in act.symbols)}
    seen = set()
    for p in printed_formulas(net):
        if p.fn not in names or (p.fn, p.code) in seen:
            continue
        seen.add((p.fn, p.code))
        try:
            identities, saturations = obligations(p)
        except UntranslatableCode as e:
            proof.cannot(f"{p.fn}: generated code outside the validator's whitelist: {e}")
        proof.step(f"{p.fn}: generated `{p.code}`")
        for where, lhs, rhs in identities:
            rewritten = cancellation_free(rhs)
            if lhs != rhs and rewritten != rhs and sp.expand(rewritten - lhs) == 0:
                proof.step(f"{p.fn}, {where}: the formula rewritten by the lemmas 'accurate "
                           "code form' (proofs/identities.py) is the code")
                rhs = rewritten
            proof.equal(lhs, rhs, f"{p.fn}, {where}: the code equals the formula", show=False)
        for tail, unclipped, v, sign, T in saturations:
            side = f"x {'>' if sign > 0 else '<'} {sign * T}"
            if not saturation_holds(tail, unclipped, v, sign, T):
                proof.cannot(f"{p.fn}, {side}: clipping the input at {sign * T} was not shown "
                             "to change the value by less than 2^-60 of it")
            proof.step(f"{p.fn}, {side}: the input clipped at {sign * T} changes the value by "
                       "less than 2^-60 of it, or both are below 2^-1076 (interval arithmetic, "
                       "every float64 beyond)")
    if not seen:
        proof.cannot("no generated formula found for this activation")

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

from symnet.nn.activation import CustomActivation
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
        if act.symbols:
            yield Theorem(f"your activation {act.name}: {text}: partial derivatives in "
                          "symnet's form", partial(partials_are_exact, act))
        else:
            yield Theorem(f"your activation {act.name}: {text}: derivative in symnet's form",
                          partial(derivative_is_exact, act, kink_rule="subgradient"))

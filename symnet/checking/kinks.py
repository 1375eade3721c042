"""Where a network's gradient is only a convention: pre-activations on a declared kink.

Activations declare their kinks beside their formula (`ReLU.kinks = (0,)`, see layers.py). At
such a point the derivative is a choice, not a fact: symnet's formulas are written so that
relu′(0) = 0 (as in PyTorch), but relu′(0) = 1, or anything in between, is as valid a
subgradient. A checker must therefore know, exactly, when a pre-activation sits on a kink (or so
close to one that a finite-difference step or float rounding crosses it), and report it as a
kink with the convention used, never as a wrong gradient.

`Kinks(derivation)` finds the pre-activations feeding kinked activations, generates one small
NumPy function computing them (through the same printer as all generated code), and
`find(params, X, rel)` lists the entries with |Z − kink| ≤ rel · max(1, max |Z|).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..algebra.functions import x
from ..algebra.matexpr import Elementwise
from ..codegen.helpers import HELPERS
from ..codegen.printer import Context, print_function

MAX_LISTED = 3  # entries named per pre-activation in a note


@dataclass(frozen=True)
class Site:
    """A pre-activation `Z` (its name) feeding `layer`, kinked at `at`."""

    Z: str
    layer: object  # the Activation
    at: float

    @property
    def convention(self) -> str:
        """'relu′(0) = 0, between the one-sided slopes 0 and 1': symnet's derivative of the
        formula at the kink (its convention there)."""
        f, label = self.layer.formula(), self.layer.label
        at = sp.nsimplify(self.at)
        d = sp.diff(f, x)
        text = f"{label}′({_num(at)})"
        tiny = sp.Rational(1, 10**12)  # one-sided slopes, to the 6 digits printed
        try:
            value, left, right = (float(d.subs(x, at + t).evalf()) for t in (0, -tiny, tiny))
        except (TypeError, ValueError):  # a formula SymPy cannot evaluate there
            return f"{text} as derived from the formula"
        return f"{text} = {value:.6g}, between the one-sided slopes {left:.6g} and {right:.6g}"


@dataclass(frozen=True)
class Hit:
    site: Site
    n: int  # entries within the margin
    first: tuple  # (index, value) of up to MAX_LISTED of them

    def __str__(self):
        entries = ", ".join(f"{self.site.Z}[{', '.join(map(str, i))}] = {v:.3g}"
                            for i, v in self.first)
        more = f" and {self.n - len(self.first)} more" if self.n > len(self.first) else ""
        return (f"{self.n} entr{'y' if self.n == 1 else 'ies'} of {self.site.Z} on "
                f"{self.site.layer.label}'s kink at {_num(self.site.at)} ({entries}{more})")


def _num(v) -> str:
    v = sp.nsimplify(v) if not isinstance(v, float) else v
    return str(v) if isinstance(v, sp.Basic) and v.is_Rational else f"{float(v):g}"


def _sites(derivation) -> list[Site]:
    """One Site per (pre-activation, kink) of the activations that declare kinks."""
    kinked = {}
    for layer in derivation.network.activations:
        if getattr(layer, "kinks", ()):
            kinked[layer.fn] = layer
    sites = []
    for eq in derivation.forward:
        rhs = eq.rhs
        if isinstance(rhs, Elementwise) and rhs.fn in kinked and rhs.operands[0].is_symbol:
            layer = kinked[rhs.fn]
            for k in layer.kinks:
                try:
                    at = float(k)
                except TypeError:  # a kink that moves with a learned θ: not declared as a number
                    continue
                sites.append(Site(str(rhs.operands[0].name), layer, at))
    return sites


class Kinks:
    """The kinked pre-activations of a derivation, and a generated function computing them."""

    def __init__(self, derivation):
        self.sites = _sites(derivation)
        self._fn = _generated(derivation, sorted({s.Z for s in self.sites})) if self.sites else None

    def __bool__(self):
        return bool(self.sites)

    def find(self, params, X, rel: float) -> list[Hit]:
        """Entries with |Z − kink| ≤ rel · max(1, max |Z|), computed in float64."""
        if not self.sites:
            return []
        p64 = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
        values = self._fn(p64, np.asarray(X, dtype=np.float64))
        hits = []
        for s in self.sites:
            Z = np.asarray(values[s.Z])
            margin = rel * max(1.0, float(np.max(np.abs(Z))))
            near = np.argwhere(np.abs(Z - s.at) <= margin)
            if len(near):
                first = tuple((tuple(map(int, i)), float(Z[tuple(i)])) for i in near[:MAX_LISTED])
                hits.append(Hit(s, len(near), first))
        return hits


def _generated(derivation, names):
    """A NumPy function (params, X) -> {name: array} for the forward intermediates `names`."""
    from ..codegen.model import load_source
    from ..codegen.module import _function, probability_fns

    shapes = dict(derivation.tape.shapes)
    params = list(derivation.params)
    context = Context(probability_fns(derivation.network),
                      {k: len(v) for k, v in shapes.items()})
    reserved = {"np", "params", "X", "Y", "B", "L", *params}
    block = print_function(context, derivation.forward, reserved)
    returns = "{" + ", ".join(f'"{n}": {n}' for n in names) + "}"
    function = _function("intermediates", "params, X",
                         "The pre-activations that feed kinked activations.", block, returns,
                         params)
    helpers = "".join(HELPERS[h] + "\n\n" for h in HELPERS if h in context.helpers)
    module = load_source(f"import numpy as np\n\n\n{helpers}{function}\n", "symnet_kinks")
    return module.intermediates


__all__ = ["Hit", "Kinks", "Site"]

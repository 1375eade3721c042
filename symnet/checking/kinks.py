"""Where a network's gradient is only a convention: pre-activations on a declared kink.

Activations declare their kinks beside their formula (`ReLU.kinks = (0,)`, see layers.py). At
such a point the derivative is a choice, not a fact: symnet's formulas are written so that
relu′(0) = 0 (as in PyTorch), but relu′(0) = 1, or anything in between, is as valid a
subgradient. A checker must therefore know, exactly, when a pre-activation sits on a kink (or so
close to one that a finite-difference step or float rounding crosses it), and report it as a
kink with the convention used, never as a wrong gradient.

Operations may declare kinks too: a max-pool window whose two largest entries tie is one (the
gradient goes to one of them by convention); such an `Op` has `kink_distance`, and its input
is watched as an `OpSite`.

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


    def distance(self, Z):
        return np.abs(Z - self.at)

    @property
    def what(self) -> str:
        return f"on {self.layer.label}'s kink at {_num(self.at)}"


@dataclass(frozen=True)
class OpSite:
    """An operation's own kinks (a max-pool window's tie): the `Op` in the forward equation of
    `Z`'s consumer says, by `kink_distance(Z)`, how far each of its cases is from one."""

    Z: str
    op: object  # the Op (e.g. algebra.pool.MaxPool2dOp) reading Z

    def distance(self, Z):
        return self.op.kink_distance(Z)

    @property
    def what(self) -> str:
        return f"at {self.op.kink_what}"

    @property
    def convention(self) -> str:
        return self.op.kink_convention


@dataclass(frozen=True)
class Hit:
    site: Site
    n: int  # entries within the margin
    first: tuple  # (index, value) of up to MAX_LISTED of them

    def __str__(self):
        if isinstance(self.site, OpSite):  # cases of an operation: windows of a max-pool
            cases = ", ".join(f"window {list(i)}: gap {v:.3g}" for i, v in self.first)
            more = f" and {self.n - len(self.first)} more" if self.n > len(self.first) else ""
            return (f"{self.n} window{'' if self.n == 1 else 's'} of {self.site.Z} "
                    f"{self.site.what} ({cases}{more})")
        entries = ", ".join(f"{self.site.Z}[{', '.join(map(str, i))}] = {v:.3g}"
                            for i, v in self.first)
        more = f" and {self.n - len(self.first)} more" if self.n > len(self.first) else ""
        return (f"{self.n} entr{'y' if self.n == 1 else 'ies'} of {self.site.Z} "
                f"{self.site.what} ({entries}{more})")


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
        elif hasattr(rhs, "kink_distance") and rhs.args[0].is_symbol:  # an Op's own kinks
            sites.append(OpSite(str(rhs.args[0].name), rhs))
    return sites


class Kinks:
    """The kinked pre-activations of a derivation, and a generated function computing them."""

    def __init__(self, derivation, masks=None):
        self.sites = _sites(derivation)
        self._fn = _generated(derivation, sorted({s.Z for s in self.sites}), masks) \
            if self.sites else None

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
            distance = s.distance(Z)
            near = np.argwhere(distance <= margin)
            if len(near):  # entries of Z, or (for an OpSite) the cases it counts, e.g. windows
                values_at = Z if distance.shape == Z.shape else distance
                first = tuple((tuple(map(int, i)), float(values_at[tuple(i)]))
                              for i in near[:MAX_LISTED])
                hits.append(Hit(s, len(near), first))
        return hits


def _generated(derivation, names, masks=None):
    """A NumPy function (params, X) -> {name: array} for the forward intermediates `names`;
    dropout with the fixed `masks`, or left out (evaluation mode) without them."""
    from ..codegen.loader import load_source
    from ..codegen.module import _dropout_off, _function, dropout_masks, probability_fns

    shapes = dict(derivation.tape.shapes)
    params = list(derivation.params)
    context = Context(probability_fns(derivation.network),
                      {k: len(v) for k, v in shapes.items()})
    reserved = {"np", "params", "X", "Y", "B", "L", *params}
    block = print_function(context, derivation.forward, reserved)
    dropped = dropout_masks(derivation)
    if dropped and masks is None:
        _dropout_off(derivation, dropped)(block)
    pre = [f'{m} = None if MASKS is None else MASKS["{m}"].astype(X.dtype)' for m in dropped]
    returns = "{" + ", ".join(f'"{n}": {n}' for n in names) + "}"
    function = _function("intermediates", "params, X",
                         "The pre-activations that feed kinked activations.", block, returns,
                         params, pre=pre)
    helpers = "".join(h.rstrip("\n") + "\n\n\n" for h in context.helper_functions())
    module = load_source(f"import numpy as np\n\n\n{helpers}{function}\n", "symnet_kinks")
    module.MASKS = masks
    return module.intermediates


__all__ = ["Hit", "Kinks", "OpSite", "Site"]

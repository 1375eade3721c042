"""Which mutant does a gradient match? `Suspects` compiles the mutants of a derivation
(`mutants.py`) once and compares a user's gradients with each: the one they equal names the
mistake.
"""

from __future__ import annotations

import numpy as np

from .mutants import mutants


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


__all__ = ["Suspects"]

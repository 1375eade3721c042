"""Probing one gradient tensor against the truth: the first stage of every check.

Black box, a tensor is compared with finite differences of the loss along a few random
directions v (perturbing only that tensor, so a check costs the same for 10 or 10⁶ entries):
the estimate of ⟨∇L, v⟩ must match ⟨g, v⟩ within the estimate's error bound plus the rounding
of g in its dtype. The directions are Gaussian: no error e can be orthogonal to a Gaussian v
except with probability 0 (with ±1 directions, an error (a, −a) on a 2-entry tensor is missed by
all three in one case of eight). With a reference (symnet's own gradients), every entry is
compared.

A failing probe whose one-sided slopes differ whatever the step is a kink candidate ("kink?"),
but only when ⟨g, v⟩ lies between those slopes: a subgradient does, a gradient off by a
constant factor does not. The verdict "kink" itself needs the check to pass again at a
perturbed point (see `verify`).
"""

from __future__ import annotations

import numpy as np

from .finite_diff import GRAD_ROUNDING_ULPS, eps_of, step_size
from .report import ParamResult


class Probe:
    """One directional comparison: ⟨g, v⟩ against the truth's estimate d, within tol."""

    __slots__ = ("v", "d", "tol", "gv", "est")

    def __init__(self, v, d, tol, gv, est=None):
        self.v, self.d, self.tol, self.gv, self.est = v, d, tol, gv, est

    @property
    def fails(self) -> bool:
        return abs(self.gv - self.d) > self.tol

    @property
    def kink(self) -> bool:
        """One-sided slopes that differ whatever the step, with ⟨g, v⟩ between them."""
        e = self.est
        if e is None or not e.kink:
            return False
        lo, hi = sorted((e.left, e.right))
        return lo - self.tol <= self.gv <= hi + self.tol


class Prober:
    """Everything one tensor's check needs: the loss (or reference), the randomness, the
    tolerances. `rounding(params, name, dtype)`: a measured bound on the rounding of each
    entry of the gradient, where the caller knows it (check's generated code)."""

    def __init__(self, lossf, rng, rtol, n_directions, reference=None, rounding=None):
        self.loss, self.rng, self.rtol = lossf, rng, rtol or 0.0
        self.n_directions = n_directions
        self.reference = reference
        self.rounding = rounding
        self.notes: list[str] = []
        self.validated: set[str] = set()  # tensors whose complex step was cross-checked
        self.probes_of: dict[str, list[Probe]] = {}  # each tensor's first directional probes
        self.floor = 0.0  # rms of the largest gradient tensor: the scale of rounding noise

    def probe(self, params, name, g, v) -> Probe:
        theta, lossf = params[name], self.loss
        # φ(t) = L(θ + t·v) has derivatives scaled by ‖v‖: step so that ‖t·v‖₂ = h. This also
        # keeps pre-activations from crossing ReLU kinks when v moves 10⁵ weights at once.
        h0 = step_size(theta, lossf.eps)
        h = h0 / float(np.linalg.norm(v))
        gv = float(np.vdot(g.astype(np.float64), v))
        tol_g = GRAD_ROUNDING_ULPS * eps_of(g.dtype) * float(np.vdot(np.abs(g), np.abs(v)))
        # A gradient that is 0 by cancellation comes out as rounding noise of the terms that
        # cancel, whose size is that of the model's other gradients, not of this one.
        tol_g += 64 * eps_of(g.dtype) * self.floor * float(np.linalg.norm(v))
        tol_g += self.rtol * abs(gv)
        if not lossf.upcast:  # θ + h·v rounds in θ's dtype: the step actually taken differs
            tol_g += 2 * eps_of(theta.dtype) * float(np.vdot(np.abs(g), np.abs(theta))) / h
        est = None
        cs = lossf.complex_step(params, name, v, h0 / lossf.eps ** (1 / 3))
        if cs is not None:
            # The complex step is trusted for a tensor only once central differences agreed
            # with it on that tensor: a loss can be complex-safe in one term and not another
            # (np.linalg.norm of a complex array is real, and drops an L2 term's derivative).
            if name in self.validated and abs(cs.value - gv) <= cs.bound + tol_g:
                est = cs  # cross-checked on this tensor, and passing: one evaluation enough
            else:  # unvalidated, or failing: central differences decide (and spot kinks)
                est = lossf.richardson(params, name, v, h)
                if not est.kink and np.isfinite(est.value):
                    if abs(cs.value - est.value) > cs.bound + est.bound:
                        lossf.disable_complex()
                    else:  # they agree: keep the far more accurate complex step
                        lossf.complex_ok, est = True, cs
                        self.validated.add(name)
        if est is None:
            est = lossf.richardson(params, name, v, h)
        est = self._sharpen(params, name, v, h, est, gv)
        if self.rounding is not None and abs(gv - est.value) > est.bound + tol_g:
            # measured only when needed: it runs the gradient code again in higher precision
            tol_g += float(np.vdot(self.rounding(params, name, g.dtype), np.abs(v)))
        return Probe(v, est.value, est.bound + tol_g, gv, est)

    def _sharpen(self, params, name, v, h, est, gv):
        """A noisy loss (float32 inside) can leave the estimate's bound above a few percent of
        the derivative, too loose to see a 1/(B − 1) for 1/B: grow the step (8×, twice at
        most) while the bound shrinks and no kink shows. Richardson's bound measures its own
        truncation error, so a step too large only stops the growth."""
        for _ in range(2):
            if est.method != "richardson" or est.kink or est.bound <= 1e-2 * max(
                    abs(gv), abs(est.value)):
                break
            h *= 8
            wider = self.loss.richardson(params, name, v, h)
            # kept only if it agrees with the narrower estimate: a wide step that crosses a
            # kink (a ReLU unit near 0) is biased, and its own bound need not show it
            if wider.kink or wider.bound >= est.bound or abs(
                    wider.value - est.value) > est.bound:
                break
            est = wider
        return est

    def direction(self, shape, mask=None):
        v = self.rng.standard_normal(shape)
        return v if mask is None else v * mask

    def check(self, name, params, g) -> tuple[ParamResult, list[Probe]]:
        """The first look at one tensor, black box: "ok", "kink?" or "wrong" (to localize)."""
        probes = [self.probe(params, name, g, self.direction(g.shape))
                  for _ in range(self.n_directions)]
        r = summary(name, g.shape, probes)
        failing = [p for p in probes if p.fails]
        if failing and all(p.kink for p in failing):
            r.verdict = "kink?"
            r.diagnosis = kink_text(failing[0].est)
        return r, probes

    def check_reference(self, name, params, g, t) -> tuple[ParamResult, np.ndarray, np.ndarray]:
        """Every entry against the reference t: (result, tolerance, bad entries)."""
        tol = GRAD_ROUNDING_ULPS * eps_of(g.dtype) * (np.abs(t) + np.mean(np.abs(t)))
        tol = tol + self.rtol * np.abs(t)
        bad = np.abs(g - t) > tol
        rounding = getattr(self.reference, "rounding", None)  # check / verify(net=…)
        if bad.any() and rounding is not None:  # cancellation can amplify rounding: measure it
            tol = tol + rounding(params, name, g.dtype)
            bad = np.abs(g - t) > tol
        r = entry_summary(name, g, t, tol)
        if not bad.any():
            return r, tol, bad
        on_kink = getattr(self.reference, "kink_text", None)  # verify(net=…): known exactly
        if on_kink is not None and on_kink(params):
            r.verdict, r.diagnosis = "kink?", on_kink(params)
            return r, tol, bad
        if self.loss is not None:  # disagreement on kinks only? ask the one-sided slopes
            idx = np.argwhere(bad)[:64]
            probes = [self.probe(params, name, g, unit(g.shape, i)) for i in idx]
            if all(p.kink or not p.fails for p in probes):
                r.verdict = "kink?"
                r.diagnosis = kink_text(next(p.est for p in probes if p.kink)) if any(
                    p.kink for p in probes) else r.diagnosis
                return r, tol, bad
        r.verdict = "wrong"
        return r, tol, bad


def kink_text(est) -> str:
    return (f"non-differentiable point (a kink, e.g. ReLU at exactly 0): along a checked direction"
            f" the slope from below is {est.left:.6g} and from above {est.right:.6g}, and yours "
            "lies between them. Any value in between is a valid subgradient; conventions differ "
            "(symnet uses relu'(0) = 0), so this is not an error.")


def summary(name, shape, probes) -> ParamResult:
    """Errors of directional checks, normalized by ‖v‖₂ (see report.py)."""
    errs = [(abs(p.gv - p.d), p.tol, float(np.linalg.norm(p.v)), max(abs(p.gv), abs(p.d)))
            for p in probes]
    worst = max(errs, key=lambda e: e[0] / e[1] if e[1] else np.inf)
    verdict = "ok" if all(e <= tol for e, tol, _, _ in errs) else "wrong"
    # A relative error only where the derivative stands out of the tolerance: a gradient that
    # is zero up to rounding has none (its "≈ 1" would sit beside an "ok").
    rel = [e / s for e, tol, _, s in errs if s > tol]
    return ParamResult(name, verdict, tuple(shape),
                       max_abs_err=max(e / n for e, _, n, _ in errs),
                       max_rel_err=max(rel) if rel else float("nan"),
                       tolerance=worst[1] / worst[2], n_checks=len(probes))


def entry_summary(name, g, t, tol) -> ParamResult:
    """Entry-by-entry errors; the relative error is normwise (the largest error over the
    tensor's largest entry), as an entry that is 0 up to rounding has no relative error of its
    own."""
    err = np.abs(g - t)
    scale = max(float(np.abs(g).max(initial=0.0)), float(np.abs(t).max(initial=0.0)))
    rel = float(err.max(initial=0.0)) / scale if scale else 0.0
    tol = np.broadcast_to(tol, err.shape)
    worst = np.unravel_index(int(np.argmax(err / np.where(tol > 0, tol, np.inf))), err.shape)
    return ParamResult(name, "ok", g.shape, float(err.max()), rel, float(tol[worst]),
                       n_checks=int(g.size))


def unit(shape, i):
    e = np.zeros(shape)
    e[tuple(i)] = 1.0
    return e

"""verify: are hand-written gradients right, and if not, where and how are they wrong?

    report = verify(my_grads, loss=my_loss, params=p, X=X, Y=Y)        # black box
    report = verify(my_grads, reference=exact, loss=my_loss, params=p, X=X, Y=Y)

Black box: the truth is finite differences of `loss`, never entry by entry for the whole model.
Each tensor is first checked along a few random ±1 directions v (perturbing only that tensor, so
a check costs the same for 10 or 10⁶ entries): the finite-difference estimate of ⟨∇L, v⟩ must
match ⟨g, v⟩ within the estimate's error bound plus the rounding of g in its dtype. Only a tensor
that fails is localized: entry by entry when small, by bisection over rows/columns (directions
masked to a block) when large. Reference mode: the truth is `reference(params, X, Y)`.

Kinks (ReLU at exactly 0) are recognized from one-sided slopes that disagree whatever the step;
such tensors are re-checked at a slightly perturbed point and reported as "kink", not "wrong".
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .diagnose import Truth, diagnose, shape_diagnosis
from .finite_diff import GRAD_ROUNDING_ULPS, Loss, eps_of, step_size
from .reference import Reference
from .report import MAX_KEPT, ParamResult, Report

SMALL = 64  # tensors up to this many entries are localized entry by entry
MAX_BAD_GROUPS = 8  # bisection gives up ("many rows") beyond this many bad rows/columns


def verify(grads, *, loss=None, params, X, Y, reference=None, net=None, weight_decay=None,
           rtol=None, seed=0, n_directions=3, rounding=None) -> Report:
    """Check `grads(params, X, Y) -> {name: array}` against the truth; see the module docstring.

    net: the network (Network, spec or Derivation) whose loss `grads` differentiates. The truth
    is then symnet's own gradient of it (reference mode, `checking.reference.Reference`), kinks are
    found exactly, and each wrong gradient is matched against mutants of the derivation
    (`checking.mutants`) to name the mistake and print the formula your code implements.
    weight_decay: λ when the loss includes (λ/2)·‖W‖² (lets the diagnosis name a missing or
    doubled L2 term). rtol: extra relative tolerance on top of the computed bounds.
    rounding: `rounding(params, name, dtype) -> array`, a measured bound on the rounding error
    of each entry of `grads`' ∂L/∂name, added to the tolerance. A gradient that is 0 by
    cancellation (a bias right before BatchNorm) comes out as rounding noise of the terms that
    cancel, far above a few ulps of its own size; `check` measures this for its generated code
    by running it in higher precision."""
    _check_data(params, X, Y)
    if net is not None:
        if reference is not None:
            raise TypeError("verify takes reference= or net=, not both")
        reference = Reference(net, params, X, Y)  # checks params and data against the network
        weight_decay = reference.weight_decay if weight_decay is None else weight_decay
    if reference is None and loss is None:
        raise TypeError("verify needs loss= (finite differences) or reference= (exact gradients)")
    rng = np.random.default_rng(seed)
    mode = "reference" if reference is not None else "finite differences"
    n_params = sum(int(np.size(p)) for p in params.values())
    g, error = _call(grads, params, X, Y)
    if error:
        return Report([ParamResult("grads(params, X, Y)", f"raised: {error}")], 0, mode,
                      n_params=n_params)
    lossf = Loss(loss, params, X, Y) if loss is not None else None
    ctx = _Context(lossf, rng, rtol, weight_decay, X, Y, n_directions)
    ctx.rounding = rounding
    results, checkable = _structure(g, params)
    if mode == "reference":
        _, t = reference(params, X, Y)
        ctx.reference = reference
    else:
        t = None
    for name in list(results):  # shape mismatches: name the likely cause
        if results[name].verdict == "shape":
            results[name].diagnosis = shape_diagnosis(np.shape(g[name]), params[name].shape,
                                                      ctx.B)
    kinks = []
    for name in checkable:
        r = ctx.check(name, params, g, None if t is None else t[name])
        results[name] = r
        if r.verdict == "kink?":
            kinks.append(name)
    if kinks:
        _recheck_kinks(ctx, kinks, grads, params, X, Y, results)
    ordered = [results[k] for k in params] + [r for k, r in results.items() if k not in params]
    notes = (lossf.notes if lossf else []) + ctx.notes
    if net is not None:
        reference.annotate(grads, params, X, Y, ordered, notes)
    return Report(ordered, lossf.n_evals if lossf else 0, mode, notes, n_params)


# -- input checks --------------------------------------------------------------------------------

def _check_data(params, X, Y):
    if not isinstance(params, dict) or not params:
        raise DataError("params must be a non-empty dict {name: array}")
    arrays = {f"params[{k!r}]": v for k, v in params.items()} | {"X": X, "Y": Y}
    for label, a in arrays.items():
        a = np.asarray(a)
        if label.startswith("params") and not np.issubdtype(a.dtype, np.floating):
            raise DataError(f"{label} has dtype {a.dtype}; parameters must be floating point")
        if np.issubdtype(a.dtype, np.number) and not np.all(np.isfinite(a)):
            bad = np.argwhere(~np.isfinite(a))
            raise DataError(f"{label} contains NaN/inf ({len(bad)} entries, first at "
                            f"{tuple(map(int, bad[0]))}); verify needs finite data")


def _call(grads, params, X, Y):
    """grads(...) as a dict, or the one-line reason it could not be had."""
    try:
        g = grads({k: v.copy() for k, v in params.items()}, X, Y)
    except Exception as e:  # noqa: BLE001 - the user's code: report it, don't crash
        return None, f"{type(e).__name__}: {e}".splitlines()[0]
    if not isinstance(g, dict):
        return None, f"TypeError: grads returned {type(g).__name__}, expected a dict like params"
    return g, None


def _structure(g, params):
    """Key, shape, dtype and NaN checks; returns (results so far, names fit for a value check)."""
    results, checkable = {}, []
    for name, p in params.items():
        if name not in g:
            results[name] = ParamResult(name, "missing", p.shape,
                                        diagnosis=f"grads returned no {name!r}")
            continue
        a = np.asarray(g[name])
        if a.shape != p.shape:
            results[name] = ParamResult(name, "shape", p.shape)
        elif not np.issubdtype(a.dtype, np.floating) or a.dtype != p.dtype:
            results[name] = ParamResult(name, "dtype", p.shape, diagnosis=(
                f"gradient has dtype {a.dtype} but the parameter is {p.dtype}: an optimizer "
                "step would silently change the parameter's precision"))
        elif not np.all(np.isfinite(a)):
            bad = [tuple(map(int, i)) for i in np.argwhere(~np.isfinite(a))]
            results[name] = ParamResult(name, "nan", p.shape, bad_entries=bad[:MAX_KEPT],
                                        n_bad_entries=len(bad),
                                        diagnosis=f"{len(bad)} NaN/inf entries in the gradient")
        else:
            checkable.append(name)
    for name in g:
        if name not in params:
            results[name] = ParamResult(name, "extra", np.shape(g[name]),
                                        diagnosis=f"{name!r} is not a parameter")
    return results, checkable


# -- the checks ----------------------------------------------------------------------------------

class _Context:
    """Everything one tensor's check needs: the loss, the randomness, the tolerances."""

    def __init__(self, lossf, rng, rtol, weight_decay, X, Y, n_directions):
        self.loss, self.rng, self.rtol, self.wd = lossf, rng, rtol or 0.0, weight_decay
        self.n_directions = n_directions
        self.B = int(np.shape(X)[0]) if np.ndim(X) else None
        self.n_out = int(np.shape(Y)[1]) if np.ndim(Y) == 2 else None
        self.notes: list[str] = []
        self.reference = None
        self.rounding = None  # measured rounding of the gradients, where the caller knows it

    # one directional comparison: (v, d, tol, ⟨g, v⟩, estimate)
    def probe(self, params, name, g, v):
        theta, lossf = params[name], self.loss
        # φ(t) = L(θ + t·v) has derivatives scaled by ‖v‖: step so that ‖t·v‖₂ = h. This also
        # keeps pre-activations from crossing ReLU kinks when v moves 10⁵ weights at once.
        h0 = step_size(theta, lossf.eps)
        h = h0 / float(np.linalg.norm(v))
        gv = float(np.vdot(g.astype(np.float64), v))
        tol_g = GRAD_ROUNDING_ULPS * eps_of(g.dtype) * float(np.vdot(np.abs(g), np.abs(v)))
        tol_g += self.rtol * abs(gv)
        if not lossf.upcast:  # θ + h·v rounds in θ's dtype: the step actually taken differs
            tol_g += 2 * eps_of(theta.dtype) * float(np.vdot(np.abs(g), np.abs(theta))) / h
        est = None
        cs = lossf.complex_step(params, name, v, h0 / lossf.eps ** (1 / 3))
        if cs is not None:
            if lossf.complex_ok and abs(cs.value - gv) <= cs.bound + tol_g:
                est = cs  # validated earlier, and passing: one evaluation was enough
            else:  # unvalidated, or failing: central differences decide (and spot kinks)
                est = lossf.richardson(params, name, v, h)
                if not est.kink:
                    if abs(cs.value - est.value) > cs.bound + est.bound:
                        lossf.disable_complex()
                    else:  # they agree: keep the far more accurate complex step
                        lossf.complex_ok, est = True, cs
        if est is None:
            est = lossf.richardson(params, name, v, h)
        if self.rounding is not None and abs(gv - est.value) > est.bound + tol_g:
            # measured only when needed: it runs the gradient code again in higher precision
            tol_g += float(np.vdot(self.rounding(params, name, g.dtype), np.abs(v)))
        return v, est.value, est.bound + tol_g, gv, est

    def directions(self, shape, mask=None):
        v = self.rng.choice([-1.0, 1.0], size=shape)
        return v if mask is None else v * mask

    def check(self, name, params, g_all, t=None) -> ParamResult:
        g = np.asarray(g_all[name])
        if t is not None:
            return self.check_reference(name, params, g, np.asarray(t, dtype=np.float64))
        probes = [self.probe(params, name, g, self.directions(g.shape))
                  for _ in range(self.n_directions)]
        r = _summary(name, g.shape, probes)
        failing = [p for p in probes if abs(p[3] - p[1]) > p[2]]
        if not failing:
            return r
        if all(p[4].kink for p in failing):
            r.verdict = "kink?"
            r.diagnosis = _kink_text(failing[0][4])
            return r
        return self.localize(name, params, g, probes)

    def check_reference(self, name, params, g, t) -> ParamResult:
        tol = GRAD_ROUNDING_ULPS * eps_of(g.dtype) * (np.abs(t) + np.mean(np.abs(t)))
        tol = tol + self.rtol * np.abs(t)
        bad = np.abs(g - t) > tol
        rounding = getattr(self.reference, "rounding", None)  # check / verify(net=…)
        if bad.any() and rounding is not None:  # cancellation can amplify rounding: measure it
            tol = tol + rounding(params, name, g.dtype)
            bad = np.abs(g - t) > tol
        r = _entry_summary(name, g, t, tol)
        if not bad.any():
            return r
        on_kink = getattr(self.reference, "kink_text", None)  # verify(net=…): known exactly
        if on_kink is not None and on_kink(params):
            r.verdict, r.diagnosis = "kink?", on_kink(params)
            return r
        if self.loss is not None:  # disagreement on kinks only? ask the one-sided slopes
            idx = np.argwhere(bad)[:SMALL]
            ests = [self.loss.richardson(params, name, _unit(g.shape, i), step_size(
                params[name], self.loss.eps)) for i in idx]
            if all(e.kink for e in ests):
                r.verdict, r.diagnosis = "kink?", _kink_text(ests[0])
                return r
        return self.finish(r, name, params, g, Truth(t, tol), bad)

    def localize(self, name, params, g, probes) -> ParamResult:
        """Which entries are wrong, and what the error looks like."""
        truth = Truth(probes=[p[:3] for p in probes])
        r = _summary(name, g.shape, probes)
        text = diagnose(g, truth, name=name, theta=params[name], weight_decay=self.wd,
                        B=self.B, n_out=self.n_out)
        if not text.startswith("no simple pattern"):  # a global mistake: every entry is off
            r.verdict, r.diagnosis, r.n_bad_entries = "wrong", text, g.size
            return r
        if g.size <= SMALL:
            entries = [self.probe(params, name, g, _unit(g.shape, i)) for i in np.ndindex(g.shape)]
            t = np.array([p[1] for p in entries]).reshape(g.shape)
            tol = np.array([p[2] for p in entries]).reshape(g.shape)
            kink = np.array([p[4].kink for p in entries]).reshape(g.shape)
            bad = (np.abs(g - t) > tol) & ~kink
            r = _entry_summary(name, g, t, tol)
            return self.finish(r, name, params, g, Truth(t, tol), bad)
        rows = cols = None
        if g.ndim == 2:
            rows = self.bisect(params, name, g, truth, g.shape[0], lambda I: _rows(g.shape, I))
            cols = self.bisect(params, name, g, truth, g.shape[1], lambda J: _cols(g.shape, J))
            cand = [(i, j) for i in (rows or _sample(self.rng, g.shape[0], 8))
                    for j in (cols or _sample(self.rng, g.shape[1], 8))]
        else:
            flat = self.bisect(params, name, g, truth, g.size, lambda I: _flat(g.shape, I))
            cand = [np.unravel_index(i, g.shape) for i in (flat or _sample(self.rng, g.size, 16))]
        bad = []
        for i in cand[:SMALL]:
            v, d, tol, gv, est = p = self.probe(params, name, g, _unit(g.shape, i))
            truth.probes.append(p[:3])
            if abs(gv - d) > tol and not est.kink:
                bad.append(tuple(map(int, i)))
        r.verdict = "wrong"
        r.bad_entries, r.n_bad_entries = bad, len(bad)
        r.diagnosis = diagnose(g, truth, name=name, theta=params[name], weight_decay=self.wd,
                               B=self.B, n_out=self.n_out, rows=rows and set(rows),
                               cols=cols and set(cols))
        return r

    def bisect(self, params, name, g, truth, n, mask_of):
        """Indices whose block fails a masked directional check (None: more than a few)."""
        bad, stack = [], [list(range(n))]
        while stack:
            group = stack.pop()
            p = self.probe(params, name, g, self.directions(g.shape, mask_of(group)))
            truth.probes.append(p[:3])
            if abs(p[3] - p[1]) <= p[2] or p[4].kink:
                continue
            if len(group) == 1:
                bad.append(group[0])
                if len(bad) > MAX_BAD_GROUPS:
                    return None
                continue
            stack += [group[len(group) // 2:], group[: len(group) // 2]]
        return bad

    def finish(self, r, name, params, g, truth, bad) -> ParamResult:
        idx = [tuple(map(int, i)) for i in np.argwhere(bad)]
        r.verdict = "wrong" if idx else "ok"
        r.bad_entries, r.n_bad_entries = idx[:MAX_KEPT], len(idx)
        if idx:
            r.diagnosis = diagnose(g, truth, name=name, theta=params[name],
                                   weight_decay=self.wd, B=self.B, n_out=self.n_out)
        return r


def _recheck_kinks(ctx, names, grads, params, X, Y, results):
    """Move off the kink by δ ≫ h (so no step crosses it) and check those tensors again."""
    eps = ctx.loss.eps if ctx.loss else eps_of(np.float64)
    delta = eps ** (1 / 6)  # = √(eps^(1/3)): δ/h = 1/√h ≫ 1, yet δ stays small
    moved = {k: (p + delta * max(1.0, float(np.sqrt(np.mean(p.astype(float) ** 2))))
                 * ctx.rng.standard_normal(p.shape)).astype(p.dtype) for k, p in params.items()}
    ctx.notes.append(f"{', '.join(names)}: your point sits on a kink; re-checked at params + "
                     f"δ·N(0, 1)·max(1, rms θ) with δ = {delta:.2g}")
    g2, error = _call(grads, moved, X, Y)
    t2 = ctx.reference(moved, X, Y)[1] if ctx.reference else None
    if ctx.loss:
        ctx.loss.set_point(moved)
    for name in names:
        text = results[name].diagnosis
        if error:
            r = ParamResult(name, f"raised: {error}", params[name].shape)
        else:
            r = ctx.check(name, moved, g2, None if t2 is None else t2[name])
        if r.verdict in ("ok", "kink?"):
            r.verdict = "kink"
            r.diagnosis = text + " At the perturbed point your gradient matches."
        else:
            r.diagnosis = "(at the perturbed point) " + r.diagnosis
        results[name] = r
    if ctx.loss:
        ctx.loss.set_point(params)


# -- small helpers ---------------------------------------------------------------------------------

def _kink_text(est) -> str:
    return (f"non-differentiable point (a kink, e.g. ReLU at exactly 0): along a checked direction"
            f" the slope from below is {est.left:.6g} and from above {est.right:.6g}. Any value "
            "in between is a valid subgradient; conventions differ (symnet uses relu'(0) = 0), "
            "so this is not an error.")


def _summary(name, shape, probes) -> ParamResult:
    """Errors of directional checks, normalized by ‖v‖₂ (see report.py)."""
    errs = [(abs(gv - d), tol, float(np.linalg.norm(v)), max(abs(gv), abs(d)))
            for v, d, tol, gv, _ in probes]
    worst = max(errs, key=lambda e: e[0] / e[1] if e[1] else np.inf)
    verdict = "ok" if all(e <= tol for e, tol, _, _ in errs) else "wrong"
    return ParamResult(name, verdict, tuple(shape),
                       max_abs_err=max(e / n for e, _, n, _ in errs),
                       max_rel_err=max((e / s if s else 0.0) for e, _, _, s in errs),
                       tolerance=worst[1] / worst[2], n_checks=len(probes))


def _entry_summary(name, g, t, tol) -> ParamResult:
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


def _sample(rng, n, k):
    return rng.choice(n, min(k, n), replace=False).tolist()


def _unit(shape, i):
    e = np.zeros(shape)
    e[tuple(i)] = 1.0
    return e


def _rows(shape, I):
    m = np.zeros(shape)
    m[I, :] = 1.0
    return m


def _cols(shape, J):
    m = np.zeros(shape)
    m[:, J] = 1.0
    return m


def _flat(shape, I):
    m = np.zeros(int(np.prod(shape)))
    m[I] = 1.0
    return m.reshape(shape)

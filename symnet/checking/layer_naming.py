"""Naming a wrong layer gradient without a network: the last stage of `verify_layer`.

`diagnose` has already tried what needs nothing but the truth (transposed, a constant factor,
the sign, all zeros, a few rows or columns). What is left is tried here, each hypothesis a
test the user's own functions can answer, cheapest first, and only for wrong arguments:

1. the upstream gradient ignored: the backward returns the same for 2·dout as for dout;
2. dout passed through unchanged (dx = dout: the layer's own derivative left out);
3. a kernel's gradient rotated by 180° (dw of a convolution, flipped);
4. a normalization's terms: where the output does not change when each column (or row) of x
   is shifted, or scaled about its mean, every column (row) of the true dx sums to 0, or is
   orthogonal to the centred x; a dx that is not has lost the mean term or the variance term
   (BatchNorm, LayerNorm), or a softmax's −p Σ term;
5. routing: the wrong entries are exactly where the true gradient is 0 and yours is not (the
   max-pool window, a ReLU mask the wrong way round), or the reverse;
6. the truth somewhere else: your dx equals the true dx at another point, with a weight
   transposed, a kernel flipped (the classic bug of a convolution's dx), or x replaced by the
   output (f′ applied to the output);
7. your backward run at the output gives the true gradient here: the output form of f′
   (σ′ = y(1 − y)) applied to the input;
8. several outputs: the true gradient with one output's dout set to 0 (its term left out);
9. part of the batch: the true gradient with dout kept for only some samples.

Each test costs a few forward (and backward) calls; tests 6, 8 and 9 use probes at the
other point, a handful of forward calls each. Verdicts never change here: only kinds and
words.
"""

from __future__ import annotations

import numpy as np

from .diagnose import Diagnosis
from .finite_diff import GRAD_ROUNDING_ULPS, eps_of

RENAMEABLE = ("other", "", "partial")  # diagnose's kinds that a layer test may sharpen
INVARIANCE_RATIO = 1e-3  # an output change this much smaller than a generic one's: invariant


def name_layer_mistakes(layer, run, notes):
    """Refine the kind and diagnosis of each wrong result of a layer check, in place."""
    namer = _Namer(layer, run)
    for r in run.ordered():
        if r.verdict != "wrong" or r.kind not in RENAMEABLE:
            continue
        found = namer.name(r.name, partial_only=r.kind == "partial")
        if found is not None:
            # diagnose's "no simple pattern" said nothing; a "partial" finding stays beside
            keep = r.kind == "partial" and r.diagnosis
            r.kind = found.kind
            r.diagnosis = f"{found.text}\n  ({keep})" if keep else found.text
    notes.extend(namer.notes)


def _close(a, b, dtype, scale=None) -> bool:
    """a equals b within the rounding of `dtype` (256 ulps, as verify's reference mode)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    s = np.abs(b) + np.mean(np.abs(b)) if scale is None else scale
    return bool(np.all(np.abs(a - b) <= GRAD_ROUNDING_ULPS * eps_of(dtype) * s + 1e-300))


class _Namer:
    def __init__(self, layer, run):
        self.layer, self.run = layer, run
        self.point = run.params
        self.prober, self.lossf = run.prober, run.lossf
        self.notes: list[str] = []
        self._doubled = None

    def g(self, name):
        return np.asarray(self.run.g[name]).reshape(np.shape(self.point[name]))

    def name(self, name, partial_only=False) -> Diagnosis | None:
        g = self.g(name)
        truth = self.run.truths.get(name)
        if truth is None:
            return None
        tests = [self._invariance, self._routing] if partial_only else [
            self._upstream_ignored, self._pass_through, self._flipped, self._invariance,
            self._routing, self._elsewhere, self._backward_at_output, self._one_output_only,
            self._part_of_batch]
        for test in tests:
            found = test(name, g, truth)
            if found is not None:
                return found
        return None

    # 1 ─ dout ignored
    def _upstream_ignored(self, name, g, truth):
        if self.layer.convention == "loss":
            return None
        if self._doubled is None:
            self._doubled = self.layer.grads(self.point, douts=[2 * d for d in self.layer.douts])
        g2 = self._doubled.get(name)
        if g2 is None or not np.any(g):
            return None
        g2 = np.asarray(g2).reshape(g.shape)
        if _close(g2, g, g.dtype):
            return Diagnosis("upstream_ignored", (
                f"d{name} does not change when dout is doubled: the upstream gradient dout is "
                "never multiplied in (the chain rule's first factor), so what is returned is "
                "the layer's local derivative alone."))
        if not _close(g2, 2 * g.astype(np.float64), g.dtype):
            self.notes.append(f"d{name} is not linear in dout (2·dout does not give twice the "
                              "gradient): part of it does not depend on dout at all")
        return None

    # 2 ─ dx = dout
    def _pass_through(self, name, g, truth):
        for i, d in enumerate(self.layer.douts):
            if np.shape(d) == g.shape and np.any(d) and _close(g, d, g.dtype):
                which = "dout" if len(self.layer.douts) == 1 else f"dout[{i}]"
                return Diagnosis("activation_derivative_missing", (
                    f"d{name} is {which} passed through unchanged: the layer's own derivative "
                    "(its mask, f′(x), or Jacobian) is never multiplied in."))
        return None

    # 3 ─ a kernel's gradient flipped
    def _flipped(self, name, g, truth):
        if g.ndim < 3 or not truth.agrees(g[..., ::-1, ::-1]):
            return None
        return Diagnosis("transposed", (
            f"d{name} is the true gradient rotated by 180° in its last two (spatial) axes: a "
            "flipped kernel. A convolution's forward correlates x with w, so dw correlates x "
            "with dout as it is, unflipped."))

    # 4 ─ invariances: the mean and variance terms of a normalization, softmax's shift
    def _invariance(self, name, g, truth):
        x = np.asarray(self.point[name], dtype=np.float64)
        if x.ndim < 2 or min(x.shape[0], x.shape[-1]) < 2:
            return None
        for axis, what in ((0, "column, over the batch"), (-1, "row, over its features")):
            shift = self._invariant(name, axis, scale=False)
            if not shift:
                continue
            scale = self._invariant(name, axis, scale=True)
            gf = g.astype(np.float64)
            sums = np.sum(gf, axis=axis)
            mean_ok = np.all(np.abs(sums) <= 1e-6 * np.sum(np.abs(gf), axis=axis) + 1e-300)
            centred = x - x.mean(axis=axis, keepdims=True)
            proj = np.sum(gf * centred, axis=axis)
            var_ok = np.all(np.abs(proj) <= 1e-3 * np.sum(np.abs(gf * centred), axis=axis)
                            + 1e-300)
            unit = what.split(",")[0]
            if scale:
                head = (f"the output does not change when a {unit} of {name} is shifted or "
                        f"scaled about its mean (the layer normalizes each {what}), so each "
                        f"{unit} of the true d{name} sums to 0 and is orthogonal to the centred "
                        f"{name}. ")
                missing = []
                if not mean_ok:
                    missing.append("yours does not sum to 0: the mean term (the path through "
                                   "μ, −Σ dx̂/m) is missing")
                if not var_ok:
                    missing.append(f"yours is not orthogonal to {name} − μ: the variance term "
                                   f"(the path through σ², −x̂·Σ(dx̂·x̂)/m) is missing or wrong")
                if not missing:
                    missing.append("yours is both, so the error is in what multiplies them "
                                   "(1/σ, γ, or the m of the mean)")
                text = "; ".join(missing)
                return Diagnosis("normalization_wrong", head + text[0].upper() + text[1:] + ".")
            if not mean_ok:
                return Diagnosis("loss_gradient_wrong", (
                    f"the output does not change when a constant is added to a {unit} of "
                    f"{name} (a softmax is shift-invariant), so each {unit} of the true "
                    f"d{name} sums to 0; yours does not (e.g. {float(np.ravel(sums)[0]):.4g}): "
                    "a term of the softmax's gradient is missing (the −1 at the true class, "
                    "or the −p·Σ(p ⊙ dout) of the Jacobian)."))
        return None

    def _invariant(self, name, axis, scale):
        key = (name, axis, scale)
        cache = self.__dict__.setdefault("_invariance_cache", {})
        if key in cache:
            return cache[key]
        x = np.asarray(self.point[name], dtype=np.float64)
        rng = np.random.default_rng(1)
        size = 1e-2 * max(1.0, float(np.sqrt(np.mean(x ** 2))))
        shape = list(x.shape)
        shape[axis] = 1
        a = rng.standard_normal(shape)
        centred = x - x.mean(axis=axis, keepdims=True)
        d = a * centred if scale else np.broadcast_to(a, x.shape)
        r = rng.standard_normal(x.shape)
        base = self._outputs({name: x})
        moved = self._outputs({name: x + size * d / _rms(d)})
        generic = self._outputs({name: x + size * r / _rms(r)})
        change = sum(float(np.linalg.norm(m - b)) for m, b in zip(moved, base))
        reference = sum(float(np.linalg.norm(m - b)) for m, b in zip(generic, base))
        cache[key] = bool(reference > 0 and change <= INVARIANCE_RATIO * reference)
        return cache[key]

    def _outputs(self, change):
        """The outputs at the point with `change`, in float64 where the loss is evaluated in
        float64 (every argument alike: a framework refuses mixed dtypes)."""
        point = {**self.point, **change}
        if self.lossf.upcast:
            point = {k: np.asarray(v, dtype=np.float64) for k, v in point.items()}
        else:
            point = {k: np.asarray(v, dtype=self.point[k].dtype) for k, v in point.items()}
        return [np.asarray(o, dtype=np.float64) for o in self.layer.outputs(point)]

    # 5 ─ routing
    def _routing(self, name, g, truth):
        entries = _known_entries(truth, g.shape)
        if not entries:
            return None
        gf = g.astype(np.float64)
        scale = float(np.max(np.abs(gf))) if gf.size else 0.0
        tiny = GRAD_ROUNDING_ULPS * eps_of(g.dtype) * scale
        leaked, withheld, other, right = [], [], [], 0
        for i, t, tol in entries:
            if abs(gf[i] - t) <= tol:
                right += 1
            elif abs(t) <= tol:
                leaked.append(i)
            elif abs(gf[i]) <= tiny:
                withheld.append(i)
            else:
                other.append(i)
        if other or not (leaked or withheld):
            return None
        parts = []
        if leaked:
            parts.append(f"gradient on {len(leaked)} entr{'y' if len(leaked) == 1 else 'ies'} "
                         f"where the output does not depend on {name} (the true gradient is 0 "
                         f"there), e.g. {_show(leaked)}")
        if withheld:
            parts.append(f"none on {len(withheld)} where it does, e.g. {_show(withheld)}")
        return Diagnosis("routing", (
            f"d{name} routes the gradient to the wrong entries: yours puts "
            + ", and ".join(parts)
            + (f"; the other {right} checked entries are right" if right else "")
            + ". A max-pool sends dout only to the maximum of each window; a ReLU only where "
            "x > 0."))

    # 6 ─ the true gradient at another point
    def _elsewhere(self, name, g, truth):
        candidates = []
        for other, a in self.point.items():
            a = np.asarray(a)
            if other == name:
                continue
            if a.ndim == 2 and a.shape[0] == a.shape[1] and a.shape[0] > 1:
                candidates.append(({other: a.T.copy()}, "transposed", (
                    f"d{name} is the true gradient of the layer with {other} transposed: it "
                    f"multiplies by {other} where {other}ᵀ belongs (dout·{other} instead of "
                    f"dout·{other}ᵀ).")))
            if a.ndim >= 3 and a.shape[-1] * a.shape[-2] > 1:
                candidates.append(({other: a[..., ::-1, ::-1].copy()}, "transposed", (
                    f"d{name} is the true gradient of the layer with the kernel {other} "
                    "rotated by 180° (flipped): the backward pass of a convolution is a "
                    f"convolution of dout with {other} flipped in its spatial axes (or, "
                    f"equivalently, dout·{other} scattered back through each window as it is "
                    "read); yours uses the other orientation.")))
        outs = self.layer.out_shapes
        if (len(outs) == 1 and tuple(outs[0]) == g.shape and self.layer.convention != "loss"
                and name == self.layer.names[0]):
            out = self._outputs({})[0]
            candidates.append(({name: out.astype(self.point[name].dtype)},
                               "activation_derivative_at_output", (
                f"d{name} = dout ⊙ f′(y): the derivative is evaluated at the layer's output y "
                f"instead of its input {name} (yours is the true gradient at {name} = y).")))
        for change, kind, text in candidates:
            if self._truth_at(name, g, change):
                return Diagnosis(kind, text)
        return None

    def _truth_at(self, name, g, change, douts=None) -> bool:
        """Does g equal the true gradient at the point with `change` (and `douts`), along
        a few random directions?"""
        point = {**self.point, **change}
        saved = self.layer.douts
        if douts is not None:
            self.layer.douts = douts
        try:
            self.lossf.set_point(point)
            for _ in range(self.prober.n_directions):
                p = self.prober.probe(point, name, g, self.prober.direction(g.shape))
                if p.fails:
                    return False
            return True
        finally:
            self.layer.douts = saved
            self.lossf.set_point(self.point)

    # 7 ─ the output form of f′ at the input
    def _backward_at_output(self, name, g, truth):
        outs = self.layer.out_shapes
        if (len(outs) != 1 or tuple(outs[0]) != g.shape or self.layer.convention == "loss"
                or name != self.layer.names[0]):
            return None
        out = self._outputs({})[0].astype(self.point[name].dtype)
        g2 = self.layer.grads({**self.point, name: out}).get(name)
        if g2 is None or np.shape(g2) != g.shape or not truth.agrees(np.asarray(g2)):
            return None
        return Diagnosis("activation_derivative_at_input", (
            f"d{name} applies the derivative in its output form (σ′ = y(1 − y), tanh′ = 1 − y²) "
            f"to the input {name} instead of the output y: run at the output, your backward "
            f"gives the true gradient (cache y, not {name}, or take f′ of {name} itself)."))

    # 8 ─ several outputs: the gradient through one left out
    def _one_output_only(self, name, g, truth):
        douts = self.layer.douts
        if len(douts) < 2:
            return None
        for k in range(len(douts)):
            kept = tuple(np.zeros_like(d) if j == k else d for j, d in enumerate(douts))
            if self._truth_at(name, g, {}, douts=kept):
                return Diagnosis("upstream_ignored", (
                    f"d{name} leaves out the gradient that arrives through output {k} "
                    f"(dout[{k}]): it is the true gradient with dout[{k}] = 0. Every output "
                    f"that depends on {name} adds its own term."))
        return None

    # 9 ─ part of the batch
    def _part_of_batch(self, name, g, truth):
        douts = self.layer.douts
        B = self.layer.batch
        if self.layer.convention == "loss" or not B or B < 3 or any(
                np.ndim(d) < 1 or np.shape(d)[0] != B for d in douts):
            return None
        parts = {"only the last sample counts (an accumulator overwritten, not added to, in a "
                 "loop over the samples)": slice(B - 1, B),
                 "the last sample is left out (a loop that stops one short)": slice(0, B - 1),
                 "the first sample is left out": slice(1, B)}
        for words, keep in parts.items():
            masked = []
            for d in douts:
                m = np.zeros_like(d)
                m[keep] = d[keep]
                masked.append(m)
            if self._truth_at(name, g, {}, douts=tuple(masked)):
                return Diagnosis("partial", f"part of the batch: {words}.")
        return None


def _rms(a) -> float:
    r = float(np.sqrt(np.mean(np.square(a))))
    return r if r > 0 else 1.0


def _known_entries(truth, shape):
    """[(index, t, tol)] of the entries whose true value is known: all of them when t is,
    else those checked one by one (unit directions) during localization."""
    if truth.full:
        tol = np.broadcast_to(truth.tol, truth.t.shape)
        return [(i, float(truth.t[i]), float(tol[i])) for i in np.ndindex(truth.t.shape)]
    out = []
    for v, d, tol in truth.probes:
        nz = np.flatnonzero(v)
        if nz.size == 1 and v.flat[nz[0]] == 1.0:
            out.append((np.unravel_index(int(nz[0]), shape), float(d), float(tol)))
    return out


def _show(idx, limit=3) -> str:
    text = ", ".join(str(tuple(int(j) for j in i)) for i in idx[:limit])
    return text + (" …" if len(idx) > limit else "")

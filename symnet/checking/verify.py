"""verify: are hand-written gradients right, and if not, where and how are they wrong?

    report = verify(my_grads, loss=my_loss, params=p, X=X, Y=Y)        # black box
    report = verify(my_grads, net="3-4-2 tanh mse", params=p, X=X, Y=Y)  # against symnet's own

A pipeline, one stage a module:

1. truth: finite differences of the user's loss, measured before they are trusted
   (`finite_diff.Loss`: pure, deterministic, its noise floor), or symnet's own gradients
   (`reference.Reference`, with `net=`);
2. probe every tensor along random Gaussian directions (`probe`), or entry by entry against a
   reference;
3. localize the failing ones (`localize`): entry by entry when small, by bisection when large;
4. re-check kink candidates at a perturbed point: "kink" only if they pass there;
5. name the mistake (`diagnose`, and with `net=` the mutant of the derivation it matches).

The user's functions are called on copies. One that raises (or calls sys.exit) surfaces as a
`UserCodeError` with the user's traceback chained; one that edits its inputs in place, or
returns different numbers for the same point, is an error that says so, never an "ok".
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError, SymnetError
from ..nn.data import check_seed
from .diagnose import Truth, shape_diagnosis
from .finite_diff import Loss, call_user, eps_of
from .finite_diff import _changed as changed_inputs
from .identify import identify, pair_layers
from .localize import finish, localize
from .naming import name_mistakes, sharpen
from .probe import Prober
from .reference import Reference
from .report import MAX_KEPT, ParamResult, Report

# A loss whose measured precision is coarser than this (float32 inside: ~1e-7) leaves finite
# differences a resolution of about a percent; a wrong gradient can hide below it.
COARSE_EPS = 1e-12


def verify(grads, *, loss=None, params, X, Y, reference=None, net=None, weight_decay=None,
           rtol=None, seed=0, n_directions=3, rounding=None, layout=None, masks=None) -> Report:
    """Check `grads(params, X, Y) -> {name: array}` against the truth; see the module docstring.

    net: the network (Network, spec or Derivation) whose loss `grads` differentiates. The truth
    is then symnet's own gradient of it (reference mode, `reference.Reference`), kinks are
    found exactly, and each wrong gradient is matched against mutants of the derivation
    (`mutants`) to name the mistake and print the formula your code implements. With both
    `net=` and `loss=`, your loss is first compared with the network's at the point.
    layout: with `net=`, "rows" (samples as rows, symnet's) or "columns" (X of shape
    (n_in, B), W of shape (n_out, n_in): Nielsen's and many courses'); found from the shapes
    when not given, which is ambiguous only where B = n_in and every W is square.
    weight_decay: λ when the loss includes (λ/2)·‖W‖² (lets the diagnosis name a missing or
    doubled L2 term). rtol: extra relative tolerance on top of the computed bounds.
    rounding: `rounding(params, name, dtype) -> array`, a measured bound on the rounding error
    of each entry of `grads`' ∂L/∂name, added to the tolerance. A gradient that is 0 by
    cancellation (a bias right before BatchNorm) comes out as rounding noise of the terms that
    cancel, far above a few ulps of its own size; `check` measures this for its generated code
    by running it in higher precision.
    masks: with `net=` and dropout, {name: (B, n) 0/1 array}, the masks your code applies
    (M1, M2, … after layers 1, 2, …): the truth uses the same ones."""
    params = _as_params(params)
    _check_data(params, X, Y)
    if net is not None:
        if reference is not None:
            raise TypeError("verify takes reference= or net=, not both")
        reference = Reference(net, params, X, Y, layout, masks)  # checks params and data too
        weight_decay = reference.weight_decay if weight_decay is None else weight_decay
    if reference is None and loss is None:
        raise TypeError("verify needs loss= (finite differences) or reference= (exact gradients)")
    rng = np.random.default_rng(check_seed(seed))
    mode = "reference" if reference is not None else "finite differences"
    g = _gradients(grads, params, X, Y)
    lossf = Loss(loss, params, X, Y, rng) if loss is not None else None
    if net is not None and lossf is not None:
        reference.compare_loss(lossf.f0)
    B, n_out = _batch_and_outputs(X, Y)
    batch_sizes = {int(n) for n in np.shape(X)} if np.ndim(X) == 2 else {B}
    facts = {"weight_decay": weight_decay, "B": B, "n_out": n_out}
    run = check_all(grads, g, lossf, params, X, Y, rng=rng, facts=facts,
                    batch_sizes=batch_sizes, reference=reference, rtol=rtol,
                    n_directions=n_directions, rounding=rounding)
    ordered, notes = run.ordered(), run.notes()
    if net is not None:
        reference.annotate(grads, params, X, Y, ordered, notes)
    elif reference is None and (any(r.verdict == "wrong" for r in ordered)
                                or lossf.eps > COARSE_EPS):
        # Something to name, or a loss so noisy (float32 inside) that finite differences
        # resolve only about a percent: the identified network's exact gradient is sharper.
        _name_mistakes(lossf, grads, g, params, X, Y, ordered, notes, rng, facts,
                       run.prober.probes_of)
    return run.report(mode, notes)


class Checked:
    """What the probing stages found, before any naming: each tensor's result, its `Truth`
    where it was localized (or known exactly), the prober, and the results of a shape with an
    axis of size 1 too many or too few (said beside the value verdict at the end)."""

    def __init__(self, params, results, prober, lossf, truths, size1, g):
        self.params, self.results, self.prober, self.lossf = params, results, prober, lossf
        self.truths, self.size1, self.g = truths, size1, g

    def ordered(self) -> list:
        return [self.results[k] for k in self.params] + [
            r for k, r in self.results.items() if k not in self.params]

    def notes(self) -> list:
        return (self.lossf.notes if self.lossf else []) + self.prober.notes

    def report(self, mode, notes, **kw) -> Report:
        for name, shape_result in self.size1.items():  # the value verdict, and the shape beside
            self.results[name] = _with_shape_note(self.results[name], shape_result)
        n_params = sum(int(np.size(p)) for p in self.params.values())
        return Report(self.ordered(), self.lossf.n_evals if self.lossf else 0, mode, notes,
                      n_params, **kw)


def check_all(grads, g, lossf, params, X, Y, *, rng, facts, batch_sizes, reference=None,
              rtol=None, n_directions=3, rounding=None) -> Checked:
    """Stages 2 to 4 of the pipeline, for any function of `params` (a network's loss, or a
    layer's ⟨forward, dout⟩): structure, probes, localization with its generic diagnosis, and
    kinks re-checked off the kink. `g`: grads(params, X, Y) at the point (`_gradients`)."""
    prober = Prober(lossf, rng, rtol, n_directions, reference, rounding)
    results, checkable = _structure(g, params, batch_sizes)
    prober.floor = max((float(np.sqrt(np.mean(np.square(np.asarray(g[k], dtype=np.float64)))))
                        for k in checkable if np.size(g[k])), default=0.0)
    t = reference(params, X, Y)[1] if reference is not None else None
    kinks, size1, truths = [], {}, {}
    for name in checkable:
        r = _check(prober, name, params, _aligned(g[name], params[name]),
                   None if t is None else t[name], dict(facts, theta=params[name]), truths)
        if results.get(name) is not None:  # a size-1 axis too many or too few: said at the end
            size1[name] = results[name]
        results[name] = r
        if r.verdict == "kink?":
            kinks.append(name)
    if kinks:
        _recheck_kinks(prober, kinks, grads, params, X, Y, results, facts, truths)
    return Checked(params, results, prober, lossf, truths, size1, g)


def _name_mistakes(lossf, grads, g, params, X, Y, results, notes, rng, facts, probes_of):
    """Black box: find the network the loss computes (`identify`) and name each wrong
    gradient by the mutant of its derivation that it matches, as reference mode does, then by
    the now known truth and by which tensors are wrong together (`naming`). The verdicts stay
    those of the finite differences; only the diagnoses gain."""
    reference = None
    try:
        found = identify(lossf, params, X, Y, rng)
        if found is not None:
            reference = Reference(found.network, params, X, Y, layout=found.layout)
    except SymnetError:  # a network symnet cannot build for these shapes
        reference = None
    if reference is not None:
        sharpened = sharpen(reference, g, params, X, Y, results, probes_of, facts,
                            noisy=lossf.eps > COARSE_EPS)
        if sharpened:
            notes.append(f"{', '.join(sharpened)}: within the finite differences of this noisy "
                         "loss, but not within the exact gradient of the network identified "
                         "below (which agrees with every finite-difference probe)")
        before = {r.name: (r.kind, r.diagnosis) for r in results}
        reference.annotate(grads, params, X, Y, results, [])
        for r in results:  # a specific finding of the finite differences stays in front
            kind, text = before[r.name]
            if r.mutant and kind not in ("other", "") and text and text not in r.diagnosis:
                r.diagnosis = f"{text}\n  It {r.diagnosis}"
        notes.append(f"identified: {found.description}; wrong gradients are compared with "
                     "the known mistakes of its derivation")
        if facts["weight_decay"] is None and found.network.loss.weight_decay:
            facts = dict(facts, weight_decay=float(found.network.loss.weight_decay))
    name_mistakes(reference, pair_layers(params), g, params, X, Y, results, facts)


def _batch_and_outputs(X, Y):
    """(B, n_out): from the axis X and Y share (samples as rows, or as columns)."""
    xs, ys = np.shape(X), np.shape(Y)
    if len(xs) != 2:
        return (int(xs[0]) if xs else None), None
    if len(ys) == 2 and xs[0] != ys[0] and xs[1] == ys[1]:  # samples as columns
        return int(xs[1]), int(ys[0])
    return int(xs[0]), (int(ys[1]) if len(ys) == 2 else None)


def _check(prober, name, params, g, t, facts, truths=None) -> ParamResult:
    """Probe one tensor; localize and diagnose it if it fails. `truths`: where given, each
    failing tensor's `Truth` (what is known of its true gradient) is kept in it by name."""
    truths = {} if truths is None else truths
    if g.size == 0:
        return ParamResult(name, "ok", g.shape, 0.0, 0.0, 0.0, n_checks=0,
                           diagnosis="an empty tensor: nothing to check")
    if t is not None:
        t = np.asarray(t, dtype=np.float64)
        r, tol, bad = prober.check_reference(name, params, g, t)
        if r.verdict != "wrong":
            return r
        truths[name] = Truth(t, tol)
        return finish(r, name, g, truths[name], bad, facts)
    r, probes = prober.check(name, params, g)
    prober.probes_of[name] = probes  # kept: a later, sharper truth must agree with them
    if r.verdict != "wrong":
        return r
    r, truths[name] = localize(prober, name, params, g, probes, facts)
    return r


# -- the user's arrays and functions -------------------------------------------------------------

def _as_params(params) -> dict:
    """params as {name: floating ndarray}: Python and NumPy numbers become 0-d float64 arrays,
    so that verify's own copies work on them; anything else is a clear error."""
    if not isinstance(params, dict) or not params:
        raise DataError("params must be a non-empty dict {name: array}")
    out = {}
    for k, v in params.items():
        if isinstance(v, bool):
            raise DataError(f"params[{k!r}] is a bool; parameters must be floating point")
        if isinstance(v, int | float) or (isinstance(v, np.generic)
                                          and np.issubdtype(type(v), np.number)):
            v = np.asarray(v, dtype=np.result_type(v, np.float64) if isinstance(
                v, int | float) else np.asarray(v).dtype)
        if not isinstance(v, np.ndarray):
            raise DataError(f"params[{k!r}] is a {type(v).__name__}; verify needs NumPy arrays "
                            "(convert framework tensors with .numpy(), lists with np.asarray)")
        out[k] = v
    return out


def _check_data(params, X, Y):
    arrays = {f"params[{k!r}]": v for k, v in params.items()} | {"X": X, "Y": Y}
    for label, a in arrays.items():
        a = np.asarray(a)
        if label.startswith("params") and not np.issubdtype(a.dtype, np.floating):
            raise DataError(f"{label} has dtype {a.dtype}; parameters must be floating point")
        if np.issubdtype(a.dtype, np.number) and not np.all(np.isfinite(a)):
            bad = np.argwhere(~np.isfinite(a))
            raise DataError(f"{label} contains NaN/inf ({len(bad)} entries, first at "
                            f"{tuple(map(int, bad[0]))}); verify needs finite data")


def _gradients(grads, params, X, Y, what="grads(params, X, Y)", label=None) -> dict:
    """grads(params, X, Y), called twice on copies: it must return a dict, leave its inputs
    alone and return the same numbers both times. Its exceptions surface as UserCodeError.
    `what`, `label`: how messages name the function and a parameter."""
    results = []
    for _ in range(2):
        args = ({k: v.copy() for k, v in params.items()}, _copy(X), _copy(Y))
        g = call_user(grads, what, *args)
        if not isinstance(g, dict):
            raise DataError(f"{what} returned {type(g).__name__}; it must return a "
                            "dict {name: gradient} with the keys of params")
        edited = changed_inputs(args, (params, X, Y), label)
        if edited:
            raise DataError(f"{what} changed {edited} in place: it must leave its "
                            "inputs alone (copy before editing)")
        results.append({k: np.array(v, copy=True) if _is_numeric(v) else v for k, v in g.items()})
    first, second = results
    for k in first:
        a, b = first[k], second.get(k)
        same_kind = _is_numeric(a) and _is_numeric(b) and np.shape(a) == np.shape(b)
        if same_kind and not np.array_equal(a, b, equal_nan=True):
            raise DataError(f"{what} is not deterministic: two calls at the same "
                            f"point returned different ∂L/∂{k} (is dropout or other noise "
                            "switched on? fix its seed or switch it off to verify)")
    return first


def _is_numeric(v) -> bool:
    a = np.asarray(v) if not isinstance(v, dict | str | bytes) else None
    return a is not None and np.issubdtype(a.dtype, np.number)


def _copy(a):
    return a.copy() if isinstance(a, np.ndarray) else a


def _aligned(g, p) -> np.ndarray:
    """g reshaped to p's shape where they differ only by axes of size 1 ((1, D) for (D,))."""
    g = np.asarray(g)
    return g.reshape(p.shape) if g.shape != p.shape else g


def _size1_only(g_shape, shape) -> bool:
    squeeze = [n for n in g_shape if n != 1]
    return squeeze == [n for n in shape if n != 1] and g_shape != shape


def _structure(g, params, batch_sizes):
    """Key, shape, dtype and NaN checks. Returns (results so far, names fit for a value check);
    a gradient whose shape differs only by axes of size 1 is value-checked too, and its early
    "shape" result is kept beside the value verdict."""
    results, checkable = {}, []
    for name, p in params.items():
        if name not in g:
            results[name] = ParamResult(name, "missing", p.shape, kind="other",
                                        diagnosis=f"grads returned no {name!r}")
            continue
        if not _is_numeric(g[name]):
            results[name] = ParamResult(name, "dtype", p.shape, kind="other", diagnosis=(
                f"grads returned a {type(g[name]).__name__} for {name!r}, not an array"))
            continue
        a = np.asarray(g[name])
        size1 = _size1_only(a.shape, p.shape)
        if a.shape != p.shape and not size1:
            results[name] = ParamResult(name, "shape", p.shape, diagnosis=shape_diagnosis(
                a.shape, p.shape, batch_sizes), kind=_shape_kind(a.shape, p.shape, batch_sizes))
        elif not np.issubdtype(a.dtype, np.floating) or a.dtype != p.dtype:
            results[name] = ParamResult(name, "dtype", p.shape, kind="other", diagnosis=(
                f"gradient has dtype {a.dtype} but the parameter is {p.dtype}: an optimizer "
                "step would silently change the parameter's precision"))
        elif not np.all(np.isfinite(a)):
            bad = [tuple(map(int, i)) for i in np.argwhere(~np.isfinite(a))]
            results[name] = ParamResult(name, "nan", p.shape, bad_entries=bad[:MAX_KEPT],
                                        n_bad_entries=len(bad), kind="other",
                                        diagnosis=f"{len(bad)} NaN/inf entries in the gradient")
        else:
            checkable.append(name)
            if size1:
                results[name] = ParamResult(name, "shape", p.shape, kind="other", diagnosis=(
                    f"shaped {a.shape} where the parameter is {p.shape} (an axis of size 1 "
                    f"{'too many' if a.ndim > p.ndim else 'too few'}): an update "
                    f"θ −= lr·g would broadcast the parameter to shape "
                    f"{np.broadcast_shapes(a.shape, p.shape)}. Return g.reshape(θ.shape)."))
    for name in g:
        if name not in params:
            results[name] = ParamResult(name, "extra", np.shape(g[name]), kind="other",
                                        diagnosis=f"{name!r} is not a parameter")
    return results, checkable


def _shape_kind(g_shape, shape, batch_sizes) -> str:
    g_shape, shape = tuple(g_shape), tuple(shape)
    if len(shape) == 2 and g_shape == shape[::-1]:
        return "transposed"
    if _per_sample(g_shape, shape, batch_sizes):
        return "bias_not_summed"
    return "other"


def _per_sample(g_shape, shape, batch_sizes) -> bool:
    """A bias gradient still holding one entry (or one row/column) per sample."""
    vector = [n for n in shape if n != 1]
    if len(vector) != 1:
        return False
    (n,) = vector
    return any(g_shape in ((b, n), (n, b), (b,)) for b in batch_sizes if b != 1 and b != n) or (
        g_shape[1:] == shape and len(g_shape) == len(shape) + 1)


def _with_shape_note(r, shape_result) -> ParamResult:
    """The value verdict of a gradient with an extra (or missing) size-1 axis, and the shape
    problem beside it: right values still fail, as "shape"."""
    if r.verdict in ("ok", "kink?", "kink"):
        r.verdict, r.kind = "shape", "other"
        r.diagnosis = "the values are right; " + shape_result.diagnosis
    else:
        r.diagnosis = f"{r.diagnosis}\n  Also {shape_result.diagnosis}"
    return r


# -- kinks -----------------------------------------------------------------------------------------

def _recheck_kinks(prober, names, grads, params, X, Y, results, facts, truths=None):
    """Move off the kink by δ ≫ h (so no step crosses it) and check those tensors again."""
    eps = prober.loss.eps if prober.loss else eps_of(np.float64)
    delta = eps ** (1 / 6)  # = √(eps^(1/3)): δ/h = 1/√h ≫ 1, yet δ stays small
    moved = {k: (p + delta * max(1.0, float(np.sqrt(np.mean(p.astype(float) ** 2))))
                 * prober.rng.standard_normal(p.shape)).astype(p.dtype) for k, p in params.items()}
    prober.notes.append(f"{', '.join(names)}: your point sits on a kink; re-checked at params + "
                     f"δ·N(0, 1)·max(1, rms θ) with δ = {delta:.2g}")
    g2 = _gradients(grads, moved, X, Y)
    t2 = prober.reference(moved, X, Y)[1] if prober.reference else None
    if prober.loss:
        prober.loss.set_point(moved)
    for name in names:
        text = results[name].diagnosis
        r = _check(prober, name, moved, _aligned(g2[name], moved[name]),
                   None if t2 is None else t2[name], dict(facts, theta=moved[name]), truths)
        if r.verdict == "ok":  # evidence that survives the move: a kink, not a mistake
            r.verdict = "kink"
            r.diagnosis = text + " At the perturbed point your gradient matches."
        else:
            r.diagnosis = "(at the perturbed point) " + r.diagnosis
        results[name] = r
    if prober.loss:
        prober.loss.set_point(params)

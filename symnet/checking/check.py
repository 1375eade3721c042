"""check: symnet's three ways to a gradient must agree; and the truth of `verify(net=…)`.

    report = sn.check("4-8-3 relu softmax_ce")                 # float64
    report = sn.check(net, dtype=np.float32, seed=1, batch=8)
    print(report); report.to_json()

Three computations of one gradient, at random parameters and data (seeded):

- exact: the derivation evaluated by SymPy (`Derivation.evaluate`, 50 significant digits);
- generated: the NumPy code of `sn.compile`, in the dtype checked;
- finite differences of the generated loss, in float64 (`verify`, black box).

Compared pairwise: generated vs exact (is the code generator right?), exact vs finite
differences (is the derivation right?), generated vs finite differences (end to end). Exact
evaluation does SymPy arithmetic on every entry, about a second per thousand parameters, so
above EXACT_LIMIT parameters × samples it is skipped (and noted) unless `exact=True`.

Kinks: before comparing, the pre-activations of kinked activations (ReLU, leaky ReLU, ELU, …) are
computed; one within a finite-difference step (or the dtype's rounding) of its kink makes the
derivative there a convention, not a fact. The check notes it, with the convention symnet uses,
and re-draws the parameters near the point until no pre-activation is that close.

Another backend (`backend="jax" | "torch" | "cupy"`, codegen.backends): its generated loss and
gradients are compared with the NumPy backend's at the same point (in float64 they must agree
to 1e-12 relative: the same formulas, rounded differently), and with finite differences of its
own loss.

`Reference` is the truth of `verify(grads, net=…)`: see its docstring for why it is the generated
code in float64 rather than the exact evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..codegen.backends import backend_of
from ..codegen.build import compile
from ..codegen.module import dtype_of
from ..errors import DataError
from ..nn.data import check_seed
from ..nn.embedding import index_vocab
from .finite_diff import GRAD_ROUNDING_ULPS, eps_of
from .kinks import Kinks
from .reference import Reference, _derivation, _f64, _MeasuredRounding, _nearby
from .report import ParamResult, Report, _num
from .verify import verify

EXACT_LIMIT = 40_000  # parameters × samples evaluated exactly by default (≈ 10 s of SymPy)
MAX_REDRAWS = 8  # attempts to draw parameters away from every kink



# ── the three-way check ────────────────────────────────────────────────────────────────────

COMPARISONS = ("generated vs exact", "exact vs finite differences",
               "generated vs finite differences")
SHORT = {"generated vs exact": "generated vs exact", "exact vs finite differences":
         "exact vs FD", "generated vs finite differences": "generated vs FD"}


@dataclass
class CheckReport(Report):
    """A Report per comparison, and one row per parameter (and L) with the worst verdict."""

    network: str = ""
    dtype: str = "float64"
    seed: int = 0
    batch: int = 4
    comparisons: dict = field(default_factory=dict)  # label → Report
    backend: str = "numpy"

    def _parts(self):
        labels = list(self.comparisons)
        head = ("parameter", "shape", *(SHORT.get(lab, lab) for lab in labels))
        rows = []
        for r in self.results:
            cells = []
            for lab in labels:
                c = next((c for c in self.comparisons[lab].results if c.name == r.name), None)
                cells.append("-" if c is None else f"{c.verdict} ({_relative(c)})")
            rows.append((r.name, "×".join(map(str, r.shape)) or "()", *cells))
        agree = " and ".join(("exact, generated", "finite-difference")) if len(labels) == 3 \
            else "generated and finite-difference"
        if self.backend != "numpy":
            agree = f"{self.backend}, NumPy and finite-difference"
        where = "" if self.backend == "numpy" else f"{self.backend}, "
        title = (f"symnet check of `{self.network}` ({where}{self.dtype}, batch {self.batch}, seed "
                 f"{self.seed}): " + (f"{agree} gradients agree" if self.ok else
                                      f"{len(self.failures)} disagree"))
        after = [
            "(max relative error in parentheses; ≈0: zero to within rounding, where a relative "
            "error means nothing;\n FD: finite differences of the generated loss, in float64)",
            f"{self.n_loss_evals} loss evaluations for {self.n_params} parameters (entry-by-entry "
            f"central differences: {2 * self.n_params} per comparison)",
        ]
        for lab in labels:
            for r in self.comparisons[lab].results:
                if r.verdict != "ok" and r.diagnosis:
                    after.append(f"\n{r.name} ({lab}): {r.diagnosis}")
        after.extend(f"note: {n}" for n in self.notes)
        return title, head, rows, after

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["comparisons"] = {k: v.to_dict() for k, v in self.comparisons.items()}
        return d


def _relative(r) -> str:
    """The relative error, or "≈0" for a passing gradient that is zero to within rounding: an
    error within tolerance and at least half the values' size means both are below 2 × tol (a
    directional check leaves the relative error out, NaN, when the values are below it)."""
    if r.ok and (math.isnan(r.max_rel_err) or r.max_rel_err >= 0.5):
        return "≈0"
    return _num(r.max_rel_err)


def check(net, *, seed: int = 0, batch: int = 4, dtype=np.float64, exact: bool | None = None,
          n_directions: int = 3, backend="numpy", device=None) -> CheckReport:
    """Compare exact, generated and finite-difference gradients of `net` (a Network, spec,
    TOML path or Derivation) at random parameters and data; with another `backend`, that
    backend's against the NumPy backend's and finite differences. See the module docstring."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise DataError(f"batch must be a positive integer, got {batch!r}")
    seed = check_seed(seed)
    d = _derivation(net)
    network = d.network
    if backend_of(backend).name != "numpy":
        return _check_backend(d, backend, device, seed, batch, dtype_of(dtype), n_directions)
    model = compile(d, dtype_of(dtype))
    params, X, Y = draw(network, model, seed, batch)
    masks = model.draw_masks(batch, seed=[seed, 2]) or None  # dropout: one fixed mask
    model = model.with_masks(masks)
    notes: list[str] = []
    if masks:
        notes.append(f"dropout masks {', '.join(masks)} fixed for the whole check (seed "
                     f"[{seed}, 2]), so that the gradients are deterministic")
    params = _off_kinks(d, params, X, model.dtype, seed, notes, masks)

    def generated(p, X, Y):
        g = model.loss_and_grads(p, X, Y)[1]
        return {k: g[k] for k in p}  # ∂L/∂X (input_gradient) is not a parameter
    n = network.n_parameters
    if exact is None:
        exact = n * batch <= EXACT_LIMIT
    parts = {}
    if exact:
        truth = _Exact(d, model, X, Y, masks)
        parts[COMPARISONS[0]] = verify(generated, reference=truth, params=params, X=X, Y=Y,
                                       seed=seed)
        parts[COMPARISONS[0]].results.insert(0, _loss_row(model, truth, params, X, Y))
        p64 = {k: _f64(v) for k, v in params.items()}
        parts[COMPARISONS[1]] = verify(lambda p, X, Y: truth(p, X, Y)[1], loss=model.loss,
                                       params=p64, X=_f64(X), Y=_f64(Y), seed=seed,
                                       n_directions=n_directions)
    else:
        notes.append(f"exact evaluation skipped: {n} parameters × batch {batch} > {EXACT_LIMIT} "
                     "(SymPy arithmetic on every entry); pass exact=True to force it")
    parts[COMPARISONS[2]] = verify(generated, loss=model.loss, params=params, X=X, Y=Y,
                                   seed=seed, n_directions=n_directions,
                                   rounding=_MeasuredRounding(model, X, Y))
    for label, part in parts.items():
        notes += [f"{label}: {note}" for note in part.notes]
    from ..nn.spec import describe

    return CheckReport(_merge(parts), sum(p.n_loss_evals for p in parts.values()), "three-way",
                       notes, n, describe(network), model.dtype.name, seed, batch, parts)


BACKEND_RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-4}


def _check_backend(d, backend, device, seed, batch, dtype, n_directions) -> CheckReport:
    """The backend's L and gradients against the NumPy backend's (same point, same dtype) and
    against finite differences of the backend's own loss."""
    from ..nn.spec import describe

    name = backend_of(backend).name
    ref = compile(d, dtype)
    model = compile(d, dtype, backend=name, device=device)
    params, X, Y = draw(d.network, ref, seed, batch)
    notes: list[str] = []
    params = _off_kinks(d, params, X, dtype, seed, notes)
    to_np = model.to_numpy

    def generated(p, X, Y):
        return {k: to_np(v) for k, v in model.loss_and_grads(p, X, Y)[1].items()}

    def loss(p, X, Y):
        return to_np(model.loss(p, X, Y))[()]

    label_np, label_fd = f"{name} vs NumPy", f"{name} vs finite differences"
    parts = {label_np: _against_numpy(ref, model, params, X, Y, BACKEND_RTOL[dtype]),
             label_fd: verify(generated, loss=loss, params=params, X=X, Y=Y, seed=seed,
                              n_directions=n_directions, rounding=_MeasuredRounding(ref, X, Y))}
    for label, part in parts.items():
        notes += [f"{label}: {note}" for note in part.notes]
    return CheckReport(_merge(parts), sum(p.n_loss_evals for p in parts.values()), "backend",
                       notes, d.network.n_parameters, describe(d.network), dtype.name, seed,
                       batch, parts, backend=name)


def _against_numpy(ref, model, params, X, Y, rtol) -> Report:
    """L and every gradient of `model` against the NumPy backend's `ref`: normwise relative
    error max|a − b| / max|b| within `rtol`. An entry may also differ by the rounding error
    measured for NumPy's code at the point (`_MeasuredRounding`): a gradient that is 0 by
    cancellation (a bias right before BatchNorm) is rounding noise in both, of any relative
    size."""
    L0, g0 = ref.loss_and_grads(params, X, Y)
    L1, g1 = model.loss_and_grads(params, X, Y)
    rounding = _MeasuredRounding(ref, X, Y)
    rows = []
    for name, want, got in [("L", np.asarray(L0), model.to_numpy(L1)),
                            *((k, g0[k], model.to_numpy(g1[k])) for k in g0)]:
        got = np.asarray(got, dtype=np.float64).reshape(np.shape(want))
        want = np.asarray(want, dtype=np.float64)
        if not np.all(np.isfinite(got)):
            rows.append(ParamResult(name, "nan", np.shape(want), diagnosis=f"{model.backend.name}"
                                    " gives NaN or inf where NumPy is finite"))
            continue
        err = float(np.max(np.abs(got - want))) if want.size else 0.0
        scale = float(np.max(np.abs(want))) if want.size else 0.0
        rel = err / scale if scale else err
        noise = 0.0 if name == "L" else rounding(params, name, ref.dtype)
        ok = bool(np.all(np.abs(got - want) <= rtol * scale + 2 * noise))
        rows.append(ParamResult(
            name, "ok" if ok else "wrong", np.shape(want), err, rel, rtol, n_checks=want.size,
            diagnosis="" if ok else f"{model.backend.name} and NumPy differ by {rel:.3g} "
                                    f"relative (> {rtol:g})"))
    return Report(rows, 0, "reference", [], sum(int(np.size(v)) for v in params.values()))


def draw(network, model, seed: int, batch: int):
    """(params, X, Y) in the model's dtype: weights as `init` draws them, every other
    parameter (biases, γ, β, learned scalars) spread around its initial value so that no
    symmetry hides a bug; X standard normal; Y one-hot, in [0, 1], or normal as the loss needs."""
    rng = np.random.default_rng(seed)
    dtype = model.dtype
    params = model.init(seed)
    for name, p in params.items():
        if not name.startswith("W"):
            spread = 0.5 if name.startswith("b") else 0.1
            params[name] = (p + spread * rng.standard_normal(p.shape)).astype(dtype)
    X = rng.standard_normal((batch, network.n_in)).astype(dtype)
    vocab = index_vocab(network)
    if vocab:  # token indices for an Embedding
        X = rng.integers(0, vocab, (batch, network.n_in)).astype(dtype)
    loss = network.loss.name
    if loss in ("softmax_ce", "ce"):
        Y = np.eye(network.n_out, dtype=dtype)[rng.integers(0, network.n_out, batch)]
    elif loss in ("bce", "bce_logits"):
        Y = rng.uniform(0.0, 1.0, (batch, network.n_out)).astype(dtype)
    else:
        Y = rng.standard_normal((batch, network.n_out)).astype(dtype)
    return params, X, Y


def _off_kinks(d, params, X, dtype, seed, notes, masks=None):
    """`params`, or parameters near them whose pre-activations keep off every kink by more than
    a finite-difference step (float64: eps^(1/3), on Z's scale) and the dtype's rounding."""
    kinks = Kinks(d, masks)
    if not kinks:
        return params
    rel = max(eps_of(np.float64) ** (1 / 3), GRAD_ROUNDING_ULPS * eps_of(dtype))
    rng = np.random.default_rng([seed, 1])
    for _ in range(MAX_REDRAWS):
        hits = kinks.find(params, X, rel)
        if not hits:
            return params
        notes.append(f"{hits[0]}: within a finite-difference step of the kink, where the "
                     f"derivative is a convention (symnet: {hits[0].site.convention}); "
                     "re-drawn nearby")
        params = _nearby(params, rng)
    notes.append(f"still near a kink after {MAX_REDRAWS} re-draws: finite differences judge "
                 "those entries by their one-sided slopes")
    return params


class _Exact:
    """`Derivation.evaluate` at 50 digits, as float64 arrays; remembers the last point. As
    the reference of "generated vs exact", it also measures the generated code's rounding."""

    def __init__(self, d, model, X, Y, masks=None):
        self.d, self.masks = d, masks
        self.rounding = _MeasuredRounding(model, X, Y)
        self._last = None

    def __call__(self, params, X, Y):
        if self._last is not None and all(np.array_equal(self._last[0][k], v)
                                          for k, v in params.items()):
            return self._last[1]
        L, g = self.d.evaluate(params, X, Y, exact=False, masks=self.masks)
        result = L, {k: g[k] for k in params}
        self._last = ({k: np.array(v, copy=True) for k, v in params.items()}, result)
        return result


def _loss_row(model, truth, params, X, Y) -> ParamResult:
    """The generated loss against the exact one: within the dtype's rounding of max(1, |L|)."""
    L = float(model.loss(params, X, Y))
    t = float(truth(params, X, Y)[0])
    err, tol = abs(L - t), GRAD_ROUNDING_ULPS * eps_of(model.dtype) * max(1.0, abs(t))
    rel = err / max(abs(L), abs(t)) if max(abs(L), abs(t)) else 0.0
    ok = err <= tol
    return ParamResult("L", "ok" if ok else "wrong", (), err, rel, tol, n_checks=1,
                       diagnosis="" if ok else f"generated L = {L!r}, exact L = {t!r}")


def _merge(parts) -> list[ParamResult]:
    """One row per name: the first failing verdict of the comparisons, else kink, else ok."""
    rows: dict[str, ParamResult] = {}
    for label, part in parts.items():
        for r in part.results:
            row = rows.setdefault(r.name, ParamResult(r.name, "ok", r.shape, 0.0, 0.0))
            row.max_abs_err = max(row.max_abs_err, r.max_abs_err)
            row.max_rel_err = max(row.max_rel_err, r.max_rel_err)
            row.n_checks += r.n_checks
            if not r.ok and row.ok:
                row.verdict, row.diagnosis = r.verdict, f"{label}: {r.diagnosis}"
            elif r.verdict == "kink" and row.verdict == "ok":
                row.verdict, row.diagnosis = "kink", f"{label}: {r.diagnosis}"
    return list(rows.values())


__all__ = ["CheckReport", "Reference", "check", "draw"]

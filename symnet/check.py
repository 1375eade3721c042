"""check: symnet's three ways to a gradient must agree; and the truth of `verify(net=…)`.

    report = sn.check("4-8-3 relu softmax_ce")                 # float64
    report = sn.check(net, dtype=np.float32, seed=1, batch=8)
    print(report); report.to_json()

Three computations of one gradient, at random parameters and data (seeded):

- exact: the derivation evaluated by SymPy (`Derivation.evaluate`, 50 significant digits);
- generated: the NumPy code of `sn.compile`, in the dtype checked;
- finite differences of the generated loss, in float64 (`symnet.verify`, black box).

Compared pairwise: generated vs exact (is the code generator right?), exact vs finite
differences (is the derivation right?), generated vs finite differences (end to end). Exact
evaluation does SymPy arithmetic on every entry, about a second per thousand parameters, so
above EXACT_LIMIT parameters × samples it is skipped (and noted) unless `exact=True`.

Kinks: before comparing, the pre-activations of kinked activations (ReLU, leaky ReLU, ELU, …) are
computed; one within a finite-difference step (or the dtype's rounding) of its kink makes the
derivative there a convention, not a fact. The check notes it, with the convention symnet uses,
and re-draws the parameters near the point until no pre-activation is that close.

`Reference` is the truth of `verify(grads, net=…)`: see its docstring for why it is the generated
code in float64 rather than the exact evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .codegen import dtype_of
from .data import check_batch, check_params
from .derivation import Derivation
from .errors import DataError, SpecError
from .finite_diff import eps_of
from .kinks import Kinks
from .model import compile
from .module import derivation_of
from .network import Network
from .report import ParamResult, Report, _num
from .verify import GRAD_ROUNDING_ULPS, verify

EXACT_LIMIT = 40_000  # parameters × samples evaluated exactly by default (≈ 10 s of SymPy)
MAX_REDRAWS = 8  # attempts to draw parameters away from every kink
NEARBY = 1e-2  # a re-draw moves each parameter by NEARBY · N(0, 1) · max(1, rms θ)
KINK_ULPS = 64.0  # "on a kink" in reference mode: within 64 ulps (of max |Z|) of it
ROUNDING_SAFETY = 8.0  # a measured rounding error, times this, is within tolerance


def _derivation(net) -> Derivation:
    if isinstance(net, Path):
        net = str(net)
    if not isinstance(net, Network | Derivation | str):
        raise SpecError(f"expected a Network, a spec string or a TOML path, got {net!r}")
    return derivation_of(net)


def _f64(a):
    a = np.asarray(a)
    return a.astype(np.float64) if np.issubdtype(a.dtype, np.floating) else a


def _nearby(params, rng):
    """The parameters moved a little, each by NEARBY · N(0, 1) · max(1, rms θ)."""
    return {k: (p + NEARBY * max(1.0, float(np.sqrt(np.mean(np.square(p, dtype=np.float64)))))
                * rng.standard_normal(p.shape)).astype(p.dtype) for k, p in params.items()}


# ── the truth of verify(net=…) ─────────────────────────────────────────────────────────────


class Reference:
    """symnet's own gradients of `net`: the truth of `verify(grads, net=net, …)`.

    Computed by the generated NumPy code in float64, not by exact SymPy evaluation, because
    (1) exact evaluation does SymPy arithmetic on every entry: seconds at a thousand parameters,
    hours at a million, where the generated code takes milliseconds; (2) the generated code is
    itself checked against the exact evaluation by `check`, which symnet's tests run over
    random architectures, so its float64 result is the exact gradient to a few ulps, far inside
    verify's tolerance (GRAD_ROUNDING_ULPS ulps of the user's dtype); (3) the mutants that name
    a mistake (symnet.mutants) go through the same code generator, so the truth and every
    mutant are computed alike.

    Kinks are found exactly: a pre-activation within the rounding of the user's dtype of a
    declared kink makes the derivative there a convention; `verify` then reports "kink"."""

    def __init__(self, net, params, X, Y):
        self.derivation = _derivation(net)
        self.network = self.derivation.network
        params = check_params(self.network, params)  # ShapeError naming the tensor otherwise
        X, Y = check_batch(self.network, X, Y)
        self.X, self.Y = _f64(X), _f64(Y)
        self.model = compile(self.derivation, np.float64)
        self.kinks = Kinks(self.derivation)
        self.weight_decay = float(self.network.loss.weight_decay) or None
        self.rel = KINK_ULPS * max(eps_of(p.dtype) for p in params.values())
        self._measured = _MeasuredRounding(self.model, self.X, self.Y)

    def __call__(self, params, X, Y):
        L, g = self.model.loss_and_grads({k: _f64(v) for k, v in params.items()}, _f64(X),
                                         _f64(Y))
        return float(L), g

    def rounding(self, params, name, dtype) -> np.ndarray:
        """How much rounding in `dtype` can move ∂L/∂`name` here, measured on symnet's own
        code: the float64 gradient's distance from the same code run in extended precision,
        scaled to `dtype` (cancellation in a sum amplifies rounding alike in any code)."""
        return self._measured(params, name, np.float64) * (eps_of(dtype) / eps_of(np.float64))

    def kink_text(self, params) -> str:
        """Why a disagreement at `params` is no error (a pre-activation on a kink), or ""."""
        hits = self.kinks.find(params, self.X, self.rel)
        if not hits:
            return ""
        return (f"non-differentiable point: {hits[0]}. The derivative there is a convention "
                f"(symnet: {hits[0].site.convention}); any value between the one-sided slopes "
                "is a valid subgradient, so a different choice is not an error.")

    def annotate(self, grads, params, X, Y, results, notes):
        """Say what the truth is, where it sits on a kink, and which mutant of the derivation
        each wrong gradient matches (with the correct formula beside the user's)."""
        from .mutants import Suspects
        from .spec import describe

        notes.insert(0, f"truth: symnet's derivation of `{describe(self.network)}`, computed "
                        "by its generated NumPy code in float64")
        hits = self.kinks.find(params, self.X, self.rel)
        notes += [f"{h}: the derivative there is a convention (symnet: {h.site.convention})"
                  for h in hits]
        failing = [r for r in results if r.verdict in ("wrong", "shape")]
        if not failing:
            return
        point = _nearby(params, np.random.default_rng(0)) if hits else params  # off the kink
        try:
            g = grads({k: v.copy() for k, v in point.items()}, X, Y)
        except Exception:  # noqa: BLE001 - the user's code; verify reported what it could
            return
        if not isinstance(g, dict):
            return
        _, t = self(point, X, Y)
        slack = {r.name: self.rounding(point, r.name, np.asarray(g.get(r.name, 0.0)).dtype)
                 for r in failing if np.issubdtype(np.asarray(g.get(r.name, 0.0)).dtype,
                                                   np.floating)}
        found = Suspects.of(self.derivation).match(
            g, t, {k: _f64(v) for k, v in point.items()}, self.X, self.Y,
            [r.name for r in failing], GRAD_ROUNDING_ULPS, slack)
        for r in failing:
            if r.name in found:
                m = found[r.name]
                r.mutant = m.key
                where = "(at the perturbed point) " if hits else ""
                r.diagnosis = f"{where}matches a known mistake: {m.title}.\n{m.formulas()}"


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

    def __str__(self) -> str:
        labels = list(self.comparisons)
        head = ("parameter", "shape", *(SHORT.get(lab, lab) for lab in labels))
        rows = []
        for r in self.results:
            cells = []
            for lab in labels:
                c = next((c for c in self.comparisons[lab].results if c.name == r.name), None)
                cells.append("-" if c is None else f"{c.verdict} ({_relative(c)})")
            rows.append((r.name, "×".join(map(str, r.shape)) or "()", *cells))
        widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        agree = " and ".join(("exact, generated", "finite-difference")) if len(labels) == 3 \
            else "generated and finite-difference"
        lines = [
            f"symnet check of `{self.network}` ({self.dtype}, batch {self.batch}, seed "
            f"{self.seed}): " + (f"{agree} gradients agree" if self.ok else
                                 f"{len(self.failures)} disagree"),
            fmt.format(*head), fmt.format(*("-" * w for w in widths)),
            *(fmt.format(*row) for row in rows),
            "(max relative error in parentheses; ≈0: zero to within rounding, where a relative "
            "error means nothing;\n FD: finite differences of the generated loss, in float64)",
            f"{self.n_loss_evals} loss evaluations for {self.n_params} parameters (entry-by-entry "
            f"central differences: {2 * self.n_params} per comparison)",
        ]
        for lab in labels:
            for r in self.comparisons[lab].results:
                if r.verdict != "ok" and r.diagnosis:
                    lines.append(f"\n{r.name} ({lab}): {r.diagnosis}")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["comparisons"] = {k: v.to_dict() for k, v in self.comparisons.items()}
        return d


def _relative(r) -> str:
    """The relative error, or "≈0" for a passing gradient that is zero to within rounding: an
    error within tolerance and at least half the values' size means both are below 2 × tol."""
    if r.ok and r.max_rel_err >= 0.5:
        return "≈0"
    return _num(r.max_rel_err)


def check(net, *, seed: int = 0, batch: int = 4, dtype=np.float64, exact: bool | None = None,
          n_directions: int = 3) -> CheckReport:
    """Compare exact, generated and finite-difference gradients of `net` (a Network, spec,
    TOML path or Derivation) at random parameters and data; see the module docstring."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise DataError(f"batch must be a positive integer, got {batch!r}")
    d = _derivation(net)
    network = d.network
    model = compile(d, dtype_of(dtype))
    params, X, Y = draw(network, model, seed, batch)
    notes: list[str] = []
    params = _off_kinks(d, params, X, model.dtype, seed, notes)

    def generated(p, X, Y):
        return model.loss_and_grads(p, X, Y)[1]

    n = network.n_parameters
    if exact is None:
        exact = n * batch <= EXACT_LIMIT
    parts = {}
    if exact:
        truth = _Exact(d, model, X, Y)
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
    from .spec import describe

    return CheckReport(_merge(parts), sum(p.n_loss_evals for p in parts.values()), "three-way",
                       notes, n, describe(network), model.dtype.name, seed, batch, parts)


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
    loss = network.loss.name
    if loss in ("softmax_ce", "ce"):
        Y = np.eye(network.n_out, dtype=dtype)[rng.integers(0, network.n_out, batch)]
    elif loss in ("bce", "bce_logits"):
        Y = rng.uniform(0.0, 1.0, (batch, network.n_out)).astype(dtype)
    else:
        Y = rng.standard_normal((batch, network.n_out)).astype(dtype)
    return params, X, Y


def _off_kinks(d, params, X, dtype, seed, notes):
    """`params`, or parameters near them whose pre-activations keep off every kink by more than
    a finite-difference step (float64: eps^(1/3), on Z's scale) and the dtype's rounding."""
    kinks = Kinks(d)
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

    def __init__(self, d, model, X, Y):
        self.d = d
        self.rounding = _MeasuredRounding(model, X, Y)
        self._last = None

    def __call__(self, params, X, Y):
        if self._last is not None and all(np.array_equal(self._last[0][k], v)
                                          for k, v in params.items()):
            return self._last[1]
        result = self.d.evaluate(params, X, Y, exact=False)
        self._last = ({k: np.array(v, copy=True) for k, v in params.items()}, result)
        return result


class _MeasuredRounding:
    """`rounding(params, name, dtype)` for verify: how far rounding in `dtype` moves the
    generated code's ∂L/∂name at `params` (see `_rounding`), measured once per point."""

    def __init__(self, model, X, Y):
        self.model, self.X, self.Y = model, X, Y
        self._at = None  # (params, {name: measured rounding}) at the last point asked

    def __call__(self, params, name, dtype) -> np.ndarray:
        if self._at is None or self._at[0] is not params:
            self._at = (params, _rounding(self.model, params, self.X, self.Y, dtype))
        return self._at[1][name]


def _rounding(model, params, X, Y, dtype) -> dict:
    """ROUNDING_SAFETY · |g − g⁺|: g the gradient the generated code computes in `dtype`, g⁺
    the same code run in the next precision up (float64 for float32; extended precision for
    float64, where NumPy has it; else no estimate, 0). A measured rounding error: cancellation
    in a sum can make it far larger than a few ulps of the result."""
    up = np.float64 if np.dtype(dtype) == np.float32 else np.longdouble
    if eps_of(up) >= eps_of(dtype):
        return {k: np.zeros(np.shape(v)) for k, v in params.items()}

    def grads(t):
        cast = {k: np.asarray(v, dtype=t) for k, v in params.items()}
        with np.errstate(all="ignore"):
            return model.module.loss_and_grads(cast, np.asarray(X, t), np.asarray(Y, t))[1]

    g, g_up = grads(dtype), grads(up)
    return {k: ROUNDING_SAFETY * np.abs(g[k].astype(up) - g_up[k]).astype(np.float64)
            for k in g}


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

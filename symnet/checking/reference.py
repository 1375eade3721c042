"""The truth of `verify(grads, net=…)`: symnet's own gradients of a network, computed by its
generated code in float64, with the rounding that code measures and the kinks it sits on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..codegen.model import compile
from ..derivation.chain import Derivation, derivation_of
from ..errors import SpecError
from ..nn.data import check_batch, check_params
from ..nn.network import Network
from ..nn.spec import describe
from .finite_diff import GRAD_ROUNDING_ULPS, eps_of
from .kinks import Kinks
from .mutants import Suspects

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


class Reference:
    """symnet's own gradients of `net`: the truth of `verify(grads, net=net, …)`.

    Computed by the generated NumPy code in float64, not by exact SymPy evaluation, because
    (1) exact evaluation does SymPy arithmetic on every entry: seconds at a thousand parameters,
    hours at a million, where the generated code takes milliseconds; (2) the generated code is
    itself checked against the exact evaluation by `check`, which symnet's tests run over
    random architectures, so its float64 result is the exact gradient to a few ulps, far inside
    verify's tolerance (GRAD_ROUNDING_ULPS ulps of the user's dtype); (3) the mutants that name
    a mistake (checking.mutants) go through the same code generator, so the truth and every
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

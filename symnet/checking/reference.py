"""The truth of `verify(grads, net=…)`: symnet's own gradients of a network, computed by its
generated code in float64, with the rounding that code measures and the kinks it sits on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..codegen.build import compile
from ..derivation.chain import Derivation, derivation_of
from ..errors import DataError, SpecError
from ..nn.data import check_batch, check_params
from ..nn.network import Network
from ..nn.spec import describe
from .conventions import Layout, loss_mismatch
from .finite_diff import GRAD_ROUNDING_ULPS, eps_of
from .kinks import Kinks
from .suspects import Suspects

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

    def __init__(self, net, params, X, Y, layout=None, masks=None):
        self.derivation = _derivation(net)
        self.network = self.derivation.network
        # The user's layout (samples as columns, W as (out, in), b as (n, 1), …): the reference
        # is computed in symnet's and handed back in theirs. A Layout object may also rename
        # (identify: the user's w1 is the network's W1).
        self.layout = layout if isinstance(layout, Layout) else Layout.detect(
            self.network.parameters, params, X, Y, self.network.n_in, layout)
        params = check_params(self.network, self.layout.params_to_network(params))
        X, Y = check_batch(self.network, *self.layout.data_to_network(X, Y))
        self.X, self.Y = _f64(X), _f64(Y)
        self.model = compile(self.derivation, np.float64)
        if self.model.mask_widths and masks is None:
            raise DataError(f"the network has dropout: pass masks= the 0/1 masks your code "
                            f"applies ({', '.join(self.model.mask_widths)}, each (B, n)), so "
                            "that symnet computes the same function")
        self.model = self.model.with_masks(masks)
        self.masks = self.model.masks
        self.kinks = Kinks(self.derivation, self.masks)
        self.weight_decay = float(self.network.loss.weight_decay) or None
        self.rel = KINK_ULPS * max(eps_of(p.dtype) for p in params.values())
        self._measured = _MeasuredRounding(self.model, self.X, self.Y)
        self._params = {k: _f64(v) for k, v in params.items()}

    def _net(self, params):
        return {k: _f64(v) for k, v in self.layout.params_to_network(params).items()}

    def __call__(self, params, X, Y):
        X, Y = self.layout.data_to_network(X, Y)
        L, g = self.model.loss_and_grads(self._net(params), _f64(X), _f64(Y))
        return float(L), self.layout.grads_to_user(g)

    def compare_loss(self, user_loss: float):
        """The user's loss at the point must be the network's: a different value is a different
        convention (said in words when a common one explains it), never a wrong gradient."""
        L = float(self.model.loss(self._params, self.X, self.Y))
        tol = 1e-6
        if abs(user_loss - L) <= tol * max(1.0, abs(L)):
            return
        lam = self.weight_decay or 0.0
        weights = self.derivation.tape.weights
        l2 = sum(float(np.sum(self._params[k] ** 2)) for k in weights)
        l2_all = sum(float(np.sum(v ** 2)) for v in self._params.values())
        data = L - lam / 2 * l2
        why = loss_mismatch(user_loss, data, l2, l2_all, lam, self.X.shape[0],
                            self.network.n_out, tol)
        raise DataError(
            f"your loss(params, X, Y) = {user_loss:.10g} here, but the network "
            f"`{describe(self.network)}` has L = {L:.10g}: "
            + (why + "." if why else "no common convention (½, sums over outputs or batch, L2 "
               "forms) explains the difference.")
            + " verify(net=…) compares gradients of the network's loss, so they would differ "
            "everywhere: state the network with your convention (the spec's loss word, "
            "reduction=, weight_decay=), or leave out net= to check against your own loss.")

    def rounding(self, params, name, dtype) -> np.ndarray:
        """How much rounding in `dtype` can move ∂L/∂`name` here, measured on symnet's own
        code: the float64 gradient's distance from the same code run in extended precision,
        scaled to `dtype` (cancellation in a sum amplifies rounding alike in any code)."""
        net = self.layout.network_name(name)
        measured = self._measured(self._net(params), net, np.float64)
        return self.layout.to_user(net, measured) * (eps_of(dtype) / eps_of(np.float64))

    def kink_text(self, params) -> str:
        """Why a disagreement at `params` is no error (a pre-activation on a kink), or ""."""
        hits = self.kinks.find(self._net(params), self.X, self.rel)
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
        if not self.layout.is_symnet:
            notes.insert(1, self.layout.describe())
        hits = self.kinks.find(self._net(params), self.X, self.rel)
        notes += [f"{h}: the derivative there is a convention (symnet: {h.site.convention})"
                  for h in hits]
        failing = [r for r in results if r.verdict in ("wrong", "shape")]
        if not failing:
            return
        point = _nearby(params, np.random.default_rng(0)) if hits else params  # off the kink
        try:
            g = grads({k: v.copy() for k, v in point.items()}, np.array(X), np.array(Y))
        except Exception:  # noqa: BLE001 - verify has already called it at this point's twin
            return
        if not isinstance(g, dict):
            return
        g = self.layout.grads_to_network(g)
        net_point = self._net(point)
        t = self.model.loss_and_grads(net_point, self.X, self.Y)[1]
        names = {r.name: self.layout.network_name(r.name) for r in failing}
        slack = {net: self._measured(net_point, net, np.float64) * (
                     eps_of(np.asarray(g.get(net, 0.0)).dtype) / eps_of(np.float64))
                 for net in names.values() if np.issubdtype(np.asarray(g.get(net, 0.0)).dtype,
                                                            np.floating)}
        found = Suspects.of(self.derivation).match(
            g, t, net_point, self.X, self.Y, list(names.values()), GRAD_ROUNDING_ULPS, slack,
            masks=self.masks)
        for r in failing:
            if names[r.name] in found:
                m = found[names[r.name]]
                r.mutant, r.kind = m.key, m.kind
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

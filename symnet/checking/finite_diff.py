"""Finite differences that know how wrong they are.

Every estimate here is a directional derivative  d = ⟨∇L(θ), v⟩  for one parameter tensor and
one direction v, and it comes with an error bound, so that a checker can decide pass/fail from
the bound and the dtypes instead of from a magic tolerance:

- central differences D(h) = (L(θ+hv) − L(θ−hv)) / 2h at two steps h and h/2, combined by
  Richardson extrapolation R = (4·D(h/2) − D(h)) / 3. The truncation error of D is c·h², so
  |D(h) − D(h/2)| ≈ 3× the error of D(h/2), which is itself far larger than the error of R:
  it is a safe, measured bound. A rounding term eps·|L|/h covers the cancellation in L(+)−L(−).
- the one-sided differences at h and h/2 come for free (plus L(θ), computed once per point) and
  reveal kinks: for a smooth L, forward − backward ≈ h·L'' halves when h halves; at a kink
  (ReLU at 0) it stays at the jump in slope, whatever the step.
- the complex step Im L(θ + i·h·v) / h has no cancellation at all (h = 1e-20 is fine) and costs one
  evaluation, but only works when the user's loss is written with complex-safe NumPy. It is tried,
  and dropped for good the moment it raises, warns, returns something real, or disagrees with
  the central differences (np.abs, comparisons and casts silently break it).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import DataError

# Rounding in computing L itself: a loss sums many terms, each with relative error ~eps, and the
# errors partly cancel. 16 ulps of |L| is a generous ceiling for the sums a loss does.
LOSS_ROUNDING_ULPS = 16.0

COMPLEX_STEP = 1e-20


def eps_of(dtype) -> float:
    return float(np.finfo(dtype).eps)


def step_size(theta: np.ndarray, eps: float) -> float:
    """h = eps^(1/3)·max(1, rms θ): balances the h² truncation of central differences against the
    eps/h rounding; scaled with θ so large weights are perturbed in their last digits too."""
    rms = float(np.sqrt(np.mean(np.square(theta, dtype=np.float64)))) if theta.size else 0.0
    return eps ** (1.0 / 3.0) * max(1.0, rms)


@dataclass(frozen=True)
class Estimate:
    """A directional derivative estimate: value, error bound, and what the one-sided slopes say."""

    value: float
    bound: float
    method: str  # "richardson" or "complex-step"
    kink: bool = False
    left: float = float("nan")  # backward difference (slope coming from below)
    right: float = float("nan")  # forward difference (slope going up)


class Loss:
    """The user's `loss(params, X, Y)` as a function of θ: counted, and evaluated in float64 when
    it accepts float64 input, so that float32 models get a float64 truth without hand-tuning."""

    def __init__(self, loss, params: dict, X, Y):
        self.fn = loss
        self.n_evals = 0
        self.notes: list[str] = []
        self.complex_ok: bool | None = None  # unknown until tried
        self.X64, self.Y64 = _upcast(X), _upcast(Y)
        self.X, self.Y = X, Y
        native = [p.dtype for p in params.values() if np.issubdtype(p.dtype, np.floating)]
        self.native_eps = max((eps_of(d) for d in native), default=eps_of(np.float64))
        try:
            self.upcast = True
            value, dtype = self._raw({k: _upcast(p) for k, p in params.items()})
        except Exception:  # noqa: BLE001 - any failure on float64 input: use the user's dtypes
            self.upcast = False
            value, dtype = self._raw(params)
        # The precision the loss actually computes in: what it returns, or the input precision.
        if np.issubdtype(dtype, np.floating) and dtype.itemsize < 8:
            self.eps = eps_of(dtype)
        else:
            self.eps = eps_of(np.float64) if self.upcast else self.native_eps
        if self.upcast and self.native_eps > eps_of(np.float64) and self.eps == eps_of(np.float64):
            self.notes.append(
                "the loss was evaluated in float64 (your params are lower precision), so the "
                "finite differences resolve your gradients well beyond their own rounding"
            )
        self.f0 = float(value.real)

    def _raw(self, params):
        X, Y = (self.X64, self.Y64) if self.upcast else (self.X, self.Y)
        self.n_evals += 1
        r = np.asarray(self.fn(params, X, Y))
        if r.size != 1:
            raise DataError(f"loss(params, X, Y) must return a scalar, got shape {r.shape}")
        if not np.isfinite(r).all():
            raise DataError(f"loss(params, X, Y) returned {r.item()} at the checked point")
        return r.reshape(()), r.dtype

    def __call__(self, params) -> float:
        if self.upcast:
            params = {k: _upcast(p) for k, p in params.items()}
        value, _ = self._raw(params)
        return float(value.real)

    def set_point(self, params) -> float:
        """Evaluate and remember L(θ) at the point being checked (one-sided differences need it)."""
        self.f0 = self(params)
        return self.f0

    # -- the two estimators ------------------------------------------------------------------

    def richardson(self, params, name, v, h) -> Estimate:
        theta = params[name].astype(np.float64) if self.upcast else params[name]

        def f(t):
            return self({**params, name: theta + t * v})

        f0 = self.f0
        fp, fm, fp2, fm2 = f(h), f(-h), f(h / 2), f(-h / 2)
        D1, D2 = (fp - fm) / (2 * h), (fp2 - fm2) / h
        R = (4 * D2 - D1) / 3
        noise = LOSS_ROUNDING_ULPS * self.eps * max(abs(f0), abs(fp), abs(fm))
        bound = abs(D2 - D1) + 3 * noise / h
        # one-sided slopes: jump(h) = forward − backward = (f(h) − 2f0 + f(−h)) / h
        jump1 = (fp - 2 * f0 + fm) / h
        jump2 = (fp2 - 2 * f0 + fm2) / (h / 2)
        kink = abs(jump2) > 8 * noise / h and abs(jump2) > 0.75 * abs(jump1)
        left, right = (f0 - fm2) / (h / 2), (fp2 - f0) / (h / 2)
        return Estimate(R, bound, "richardson", kink, left, right)

    def complex_step(self, params, name, v, scale) -> Estimate | None:
        """Im L(θ + i·h·v)/h, or None (and never again) if the loss is not complex-safe."""
        if self.complex_ok is False:
            return None
        h = COMPLEX_STEP * scale
        z = params[name].astype(np.complex128) + 1j * h * v
        p = {k: (z if k == name else _upcast(q)) for k, q in params.items()}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                self.n_evals += 1
                r = np.asarray(self.fn(p, self.X64, self.Y64))
            if r.size != 1 or not np.iscomplexobj(r) or not np.isfinite(r).all():
                raise TypeError("loss did not return a finite complex scalar")
        except Exception:  # noqa: BLE001 - any failure means: not complex-safe
            self.disable_complex()
            return None
        value = float(r.reshape(()).imag) / h
        eps = eps_of(np.float32) if r.dtype == np.complex64 else eps_of(np.float64)
        return Estimate(value, LOSS_ROUNDING_ULPS * eps * abs(value), "complex-step")

    def disable_complex(self):
        if self.complex_ok is not False:
            self.complex_ok = False
            self.notes.append("complex step not usable with this loss: central differences used")


def _upcast(a):
    """Floating arrays to float64 (exact: no value changes); everything else untouched."""
    if isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating):
        return a.astype(np.float64)
    return a


# A hand-written gradient passes through a few matmuls, each adding ~√K ulps of rounding for
# sums of length K; 256 ulps of ⟨|g|, |v|⟩ covers K up to ~10⁴ and is still 1000× below the
# smallest real bug we name (dividing by B − 1 instead of B at B = 1000 is a 1e-3 error).
GRAD_ROUNDING_ULPS = 256.0

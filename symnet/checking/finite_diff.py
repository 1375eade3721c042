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
    """The user's `loss(params, X, Y)` as a function of θ: counted, called on copies (so that it
    can change nothing of ours), evaluated in float64 when it accepts float64 input, and
    measured before it is trusted:

    - pure: two calls at the same point must return the same number (dropout left on, or any
      noise, is an error), and no call may change its inputs (an in-place edit of X is an error);
    - its noise floor: the rounding error of the number it returns, measured from how far five
      evaluations on a tiny segment stray from a parabola. A loss that computes in float32
      inside (and returns float64) is found this way, and steps and tolerances follow it."""

    def __init__(self, loss, params: dict, X, Y, rng=None, *, what="loss(params, X, Y)",
                 label=None):
        self.fn = loss
        # how messages name the function and its arguments (verify_layer: "forward(x, w, b)")
        self.what, self.label = what, label
        self.n_evals = 0
        self.notes: list[str] = []
        self.complex_ok: bool | None = None  # unknown until tried
        self.X64, self.Y64 = _upcast(X), _upcast(Y)
        self.X, self.Y = X, Y
        native = [p.dtype for p in params.values() if np.issubdtype(p.dtype, np.floating)]
        self.native_eps = max((eps_of(d) for d in native), default=eps_of(np.float64))
        try:
            self.upcast = True
            value, dtype = self._raw({k: _upcast(p) for k, p in params.items()}, check=True)
        except Exception:  # noqa: BLE001 - any failure on float64 input: use the user's dtypes
            self.upcast = False
            value, dtype = self._raw(params, check=True)
        self.f0 = float(value.real)
        again = self(params)
        if again != self.f0 and abs(again - self.f0) > 4 * eps_of(dtype) * abs(self.f0):
            raise DataError(
                f"{self.what} is not deterministic: two calls at the same point returned "
                f"{self.f0!r} and {again!r}. Is dropout (or other noise) switched on, or a random "
                "generator drawn inside? Fix its seed or switch it off to verify.")
        # The precision the loss actually computes in: what it returns, or the input precision,
        # until the measured noise floor (below) says otherwise.
        if np.issubdtype(dtype, np.floating) and dtype.itemsize < 8:
            self.eps = eps_of(dtype)
        else:
            self.eps = eps_of(np.float64) if self.upcast else self.native_eps
        self.noise = LOSS_ROUNDING_ULPS * self.eps * abs(self.f0)
        self._measure_noise(params, rng or np.random.default_rng(0))

    def _measure_noise(self, params, rng):
        """Fit a parabola to L at five points within a tiny segment of a random direction of the
        largest tensor: what the fit cannot explain is the loss's rounding noise."""
        name = max(params, key=lambda k: np.size(params[k]))
        theta = params[name]
        if theta.size == 0:
            return
        v = rng.standard_normal(theta.shape)
        # A segment of length ~1e-5·scale: the parabola's cubic remainder stays below float64
        # rounding, while float32 rounding (1e-7 relative) is far above the fit's resolution.
        h = 1e-5 * max(1.0, float(np.sqrt(np.mean(np.square(theta, dtype=np.float64)))))
        h /= float(np.linalg.norm(v))
        ts = h * np.array([-1.0, -0.4, 0.5, 1.0])  # and 0: five values, two degrees of freedom
        # Around a point a little away from θ: at θ itself a pre-activation may sit exactly on
        # a kink (a zero bias), where no parabola fits whatever the precision.
        scale = max(1.0, float(np.sqrt(np.mean(np.square(theta, dtype=np.float64)))))
        base = theta.astype(np.float64) + 1e-3 * scale * rng.standard_normal(theta.shape)
        dtype = np.float64 if self.upcast else theta.dtype
        at = [{**params, name: (base + t * v).astype(dtype)} for t in (*ts, 0.0)]
        fs = np.array([self(p) for p in at])
        ts = np.append(ts, 0.0) / h
        coef = np.polyfit(ts, fs - fs[-1], 2)
        resid = fs - fs[-1] - np.polyval(coef, ts)
        measured = float(np.sqrt(np.sum(resid ** 2) / (len(ts) - 3)))
        scale = max(abs(self.f0), float(np.max(np.abs(fs))))
        self.measured_noise = measured
        # The bound uses what was measured (4× for safety, never below 2 ulps of |L|) rather
        # than a fixed 16 ulps: a float32 loss is often far less noisy than that, and a loss
        # that cancels inside (log(1 − p) with p ≈ 1) far more.
        self.noise = max(4 * measured, 2 * self.eps * scale)
        if measured > LOSS_ROUNDING_ULPS * self.eps * scale:
            self.eps = max(self.eps, measured / scale) if scale else self.eps
            self.notes.append(
                f"the loss is noisier than its {('float64' if self.eps < 1e-12 else 'output')} "
                f"result suggests: measured rounding noise {measured:.2g} (about "
                f"{measured / scale if scale else 0:.1g} of |L|), as when it computes in float32 "
                "inside; finite-difference steps and tolerances use that precision")
        elif self.upcast and self.native_eps > eps_of(np.float64) and self.eps == eps_of(
                np.float64):
            self.notes.append(
                "the loss was evaluated in float64 (your params are lower precision; its measured "
                "rounding noise is float64's), so the finite differences resolve your gradients "
                "well beyond their own rounding")

    def _raw(self, params, check=False):
        X, Y = (self.X64, self.Y64) if self.upcast else (self.X, self.Y)
        args = ({k: _copy(p) for k, p in params.items()}, _copy(X), _copy(Y))
        self.n_evals += 1
        r = call_user(self.fn, self.what, *args)
        if check:
            changed = _changed(args, (params, X, Y), self.label)
            if changed:
                raise DataError(f"{self.what} changed {changed} in place: it must leave its "
                                "inputs alone (copy before editing), or every later "
                                "evaluation sees different data")
        return _scalar(r, self.what)

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

        def f(t):  # (in θ's own dtype where the loss refuses float64)
            return self({**params, name: (theta + t * v).astype(theta.dtype)})

        f0 = self.f0
        fp, fm, fp2, fm2 = f(h), f(-h), f(h / 2), f(-h / 2)
        D1, D2 = (fp - fm) / (2 * h), (fp2 - fm2) / h
        R = (4 * D2 - D1) / 3
        noise = self.noise
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
                r = np.asarray(self.fn(p, _copy(self.X64), _copy(self.Y64)))
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


class UserCodeError(DataError):
    """The user's own function raised (or called sys.exit): their traceback is the cause."""


def call_user(fn, what: str, *args):
    """`fn(*args)`; an exception (or sys.exit) in the user's code becomes a UserCodeError that
    names the user's file and line, with the original exception (and its traceback) chained."""
    try:
        return fn(*args)
    except UserCodeError:  # already named (a function of symnet's that calls the user's)
        raise
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the user's code, reported as theirs
        raise UserCodeError(f"{what} raised {type(e).__name__}: {_first_line(e)}"
                            f"{_where(e)}") from e


def _first_line(e) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else "(no message)"


def _where(e) -> str:
    """' (at FILE, line N)': the innermost frame of the traceback outside symnet and NumPy."""
    import os
    import traceback

    inside = (os.path.dirname(os.path.dirname(__file__)), os.path.dirname(np.__file__))
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if not f.filename.startswith(inside)]
    return f" (at {frames[-1].filename}, line {frames[-1].lineno})" if frames else ""


def _scalar(r, what):
    """The user's loss value as a 0-d array, or a DataError saying what came back instead."""
    if r is None or isinstance(r, str | bytes | dict | list | tuple):
        raise DataError(f"{what} must return a number, got {type(r).__name__}")
    a = np.asarray(r)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number)):
        raise DataError(f"{what} must return a number, got {type(r).__name__}")
    if a.size != 1:
        raise DataError(f"{what} must return a scalar, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise DataError(f"{what} returned {a.item()} at the checked point")
    return a.reshape(()), a.dtype


def _copy(a):
    return a.copy() if isinstance(a, np.ndarray) else a


def _changed(passed, originals, label=None) -> str:
    """Which of (params, X, Y) the user's function edited in place: '' when none. `label`:
    how a parameter's name is shown (params['W1'] by default)."""
    (p, X, Y), (p0, X0, Y0) = passed, originals
    for k in p0:
        if k in p and isinstance(p[k], np.ndarray) and not _same(p[k], p0[k]):
            return label(k) if label else f"params[{k!r}]"
    for label, a, a0 in (("X", X, X0), ("Y", Y, Y0)):
        if isinstance(a, np.ndarray) and not _same(a, a0):
            return label
    return ""


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.array_equal(a.astype(b.dtype, copy=False), b,
                                                       equal_nan=a.dtype.kind in "fc"))


def _upcast(a):
    """Floating arrays to float64 (exact: no value changes); everything else untouched."""
    if isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating):
        return a.astype(np.float64)
    return a


# A hand-written gradient passes through a few matmuls, each adding ~√K ulps of rounding for
# sums of length K; 256 ulps of ⟨|g|, |v|⟩ covers K up to ~10⁴ and is still 1000× below the
# smallest real bug we name (dividing by B − 1 instead of B at B = 1000 is a 1e-3 error).
GRAD_ROUNDING_ULPS = 256.0

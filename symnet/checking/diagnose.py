"""Say what a wrong gradient looks like, in words a student recognizes.

A diagnosis is a list of hypotheses "your g is the true t with mistake M", each turned around into
a candidate for t computed from g (t = g.T, t = g/c, t = g + λW, …) and tested against what we
know about t. What we know is a `Truth`: either t itself (small tensors, reference mode) or a few
projections d_k = ⟨t, v_k⟩ measured by finite differences (large tensors): a hypothesis that
explains all projections within their error bounds is accepted. The tolerances are the checker's
own error bounds, so "exact-ish" means "as exact as the check itself".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The kinds of mistake a diagnosis names (`ParamResult.kind`), in words:
KINDS = {
    "transposed": "the gradient (or a weight in the backward pass) is transposed",
    "scaled": "off by a constant factor (a missing 1/B, a factor 2, …)",
    "sign": "exactly −1 × the true gradient",
    "bias_not_summed": "the bias gradient is not summed over the batch",
    "activation_derivative_missing": "an activation's derivative f′ is left out of a δ",
    "activation_derivative_at_output": "f′ is evaluated at the layer's output A, not its input Z",
    "activation_derivative_wrong": "the derivative of another function is used as f′",
    "activation_derivative_at_input": "f′ in its output form (σ′ = y(1 − y)) is applied to the "
                                      "layer's input x instead of its output y",
    "wrong_layer_input": "a weight gradient uses the wrong layer's activations",
    "l2_missing": "the weight-decay (L2) term is missing",
    "l2_wrong": "the weight-decay (L2) term has the wrong coefficient (doubled, …)",
    "partial": "only some entries (rows, columns, samples) are wrong",
    "loss_gradient_wrong": "the gradient of the loss at the output is wrong",
    "normalization_wrong": "the backward pass of a BatchNorm/LayerNorm is wrong",
    "operation_wrong": "a convolution's or pooling layer's backward operation is wrong (kernel "
                       "not flipped, stride or padding mishandled, gradient misrouted)",
    "path_missing": "the gradient along one path (a skip connection, a branch) is missing",
    "dropout_wrong": "the dropout mask or its 1/(1 − p) rescaling is missing in the backward pass",
    "recurrence_wrong": "backpropagation through time is wrong (a recurrent term, a sum over t)",
    "attention_wrong": "the backward pass of attention is wrong (softmax Jacobian, 1/√d)",
    "zero": "the gradient is all zeros",
    "upstream_ignored": "the upstream gradient (dout) is not multiplied in: the layer's "
                        "backward gives the same result whatever dout is",
    "routing": "gradient sent to entries the output does not depend on (every entry of a "
               "max-pool window, not its maximum), or withheld from entries it does",
    "other": "wrong, in no pattern symnet recognizes",
}


@dataclass(frozen=True)
class Diagnosis:
    kind: str  # a key of KINDS
    text: str  # one paragraph, for people


class Truth:
    """What is known about the true gradient of one tensor, and a test of candidates against it."""

    def __init__(self, t=None, tol=None, probes=None):
        self.t = None if t is None else np.asarray(t, dtype=np.float64)
        self.tol = tol  # entrywise tolerance (array or scalar) when t is known
        self.probes = probes or []  # [(v, d, tol)]: |⟨t, v⟩ − d| ≤ tol

    @property
    def full(self) -> bool:
        return self.t is not None

    @property
    def sharp(self) -> bool:
        """At least three projections, each known to within a tenth of its size."""
        return len(self.probes) >= 3 and all(abs(d) > 10 * tol for _, d, tol in self.probes)

    def agrees(self, cand) -> bool:
        cand = np.asarray(cand, dtype=np.float64)
        if self.full:
            return cand.shape == self.t.shape and bool(np.all(np.abs(cand - self.t) <= self.tol))
        return bool(self.probes) and all(
            cand.shape == v.shape and abs(np.vdot(cand, v) - d) <= tol for v, d, tol in self.probes
        )

    def scale_of(self, g) -> float:
        """The least-squares c in g ≈ c·t (from the projections when t is unknown)."""
        g = np.asarray(g, dtype=np.float64)
        if self.full:
            den = float(np.vdot(self.t, self.t))
            return float(np.vdot(g, self.t)) / den if den else float("nan")
        d = np.array([d for _, d, _ in self.probes])
        gv = np.array([np.vdot(g, v) for v, _, _ in self.probes])
        den = float(d @ d)
        return float(gv @ d) / den if den else float("nan")


def scale_names(B=None, n_out=None) -> list:
    """Constant factors hand-written backprop gets wrong: (c, what it means), with g = c·t."""
    names = [
        (-1.0, "wrong sign: it is exactly −1 × the true gradient (a swapped (ŷ − y) / (y − ŷ), or "
               "the gradient of −L; gradient descent with it climbs the loss)"),
        (0.5, "half the true gradient: a factor 2 is missing (d/dx x² = 2x, e.g. in the MSE)"),
        (2.0, "twice the true gradient: a factor 2 too many (e.g. a loss with ½ differentiated "
              "as if it had none, or a term counted twice)"),
    ]
    if B and B > 1:
        names += [
            (float(B), f"B = {B} times too large: summed over the batch where the loss takes the "
                       "mean (the 1/B is missing)"),
            (1.0 / B, f"B = {B} times too small: divided by the batch size once too often (or the "
                      "loss is a sum over the batch, not a mean)"),
            (B / (B - 1.0), f"divided by B − 1 = {B - 1} instead of B = {B} (the mean over the "
                            "batch uses B)"),
        ]
    if n_out and n_out > 1 and n_out != B:
        names += [
            (1.0 / n_out, f"n_out = {n_out} times too small: divided by the number of outputs, "
                          "which the loss does not do"),
            (float(n_out), f"n_out = {n_out} times too large: the loss averages over the "
                           "outputs, the gradient does not"),
        ]
    return names


def diagnose(g, truth: Truth, *, name="", theta=None, weight_decay=None, B=None, n_out=None,
             rows=None, cols=None) -> Diagnosis:
    """What g's error looks like: a kind (see KINDS) and one paragraph. rows/cols: bad
    row/column indices found by localization (for 2-D tensors when t itself is unknown)."""
    g = np.asarray(g, dtype=np.float64)
    if truth.full and truth.agrees(np.zeros_like(truth.t)):
        return Diagnosis("other", "the true gradient is (numerically) zero here; yours is not.")
    if not np.any(g):
        return Diagnosis("zero", "all zeros: this gradient is never computed or never "
                         "accumulated (is the assignment missing, or a copy updated instead of "
                         "the array?).")
    if g.ndim == 2 and g.shape[0] == g.shape[1] and truth.agrees(g.T):
        return Diagnosis("transposed", f"transposed: yours is the transpose of the true "
                         f"∂L/∂{name} (with W of shape (n_in, n_out) it is A_prevᵀ·δ, not "
                         "δᵀ·A_prev).")
    for c, meaning in scale_names(B, n_out):
        if truth.agrees(g / c):
            return Diagnosis("sign" if c == -1.0 else "scaled", meaning)
    if weight_decay and theta is not None:
        lw = weight_decay * np.asarray(theta, dtype=np.float64)
        if truth.agrees(g + lw):
            return Diagnosis("l2_missing", f"the L2 term is missing: yours = true − λ·{name} "
                             f"(λ = {weight_decay}); the penalty (λ/2)·‖{name}‖² adds λ·{name} "
                             "to the gradient.")
        if truth.agrees(g - lw):
            return Diagnosis("l2_wrong", f"the L2 term is counted twice: yours = true + "
                             f"λ·{name} (λ = {weight_decay}); (λ/2)·‖{name}‖² contributes "
                             f"λ·{name} once.")
    # A fitted factor is stated only where every entry is known and agrees with it, or where
    # every projection is measured to 10% or better, and never on one or two entries (there
    # every error is a factor): from a few loose projections a least-squares factor can fit
    # without g being a multiple of the truth.
    c = truth.scale_of(g) if (truth.full or truth.sharp) and g.size > 2 else float("nan")
    if np.isfinite(c) and abs(c - 1) > 1e-3 and c != 0 and truth.agrees(g / c):
        return Diagnosis("scaled", f"scaled by a constant: yours ≈ {c:.6g} × the true gradient "
                         "(every entry).")
    where = _where(g, truth, rows, cols)
    if where:
        return Diagnosis("partial", where)
    if truth.full:
        err = np.abs(g - truth.t)
        i = np.unravel_index(int(np.argmax(err)), err.shape)
        scale = float(np.max(np.abs(truth.t)))
        if scale and float(err[i]) < 1e-4 * scale:  # right to 4 digits: not a slip of the rule
            return Diagnosis("other", (
                f"close, but beyond rounding: every entry agrees with the true gradient to "
                f"{float(err[i]) / scale:.2g} of its largest (at {tuple(map(int, i))}: yours "
                f"{g[i]:.10g}, true {truth.t[i]:.10g}). The function and its gradient compute "
                "slightly different things: an ε inside a log or a square root in one of them "
                "only, or a constant rounded differently."))
        return Diagnosis("other", f"no simple pattern (not a transpose, sign, constant factor, "
                         f"L2 term, or a few rows/columns); largest error at "
                         f"{tuple(map(int, i))}: yours {g[i]:.6g}, true {truth.t[i]:.6g}.")
    return Diagnosis("other", "no simple pattern (not a transpose, sign, constant factor, L2 "
                     "term, or a few rows/columns): check the chain rule for this layer, e.g. "
                     "the activation derivative and whether it is taken at the pre-activation Z.")


def _where(g, truth, rows, cols) -> str:
    """'wrong only in column j' style findings, from t itself or from localization."""
    if truth.full:
        bad = np.abs(g - truth.t) > truth.tol
        if g.ndim == 1:
            idx = np.flatnonzero(bad)
            if g.size >= 3 and 0 < idx.size <= g.size // 2:
                return f"wrong only at entries {_list(idx)} (the others are right)."
            return ""
        if g.ndim != 2:
            return ""
        rows = set(np.flatnonzero(bad.any(axis=1)).tolist())
        cols = set(np.flatnonzero(bad.any(axis=0)).tolist())
    if g.ndim != 2:
        return ""
    n_rows, n_cols = g.shape
    if cols is not None and 0 < len(cols) <= n_cols // 2 and (rows is None or len(rows) > 1):
        return (f"wrong only in column(s) {_list(sorted(cols))} (output unit(s) of this layer); "
                "the other columns are right.")
    if rows is not None and 0 < len(rows) <= n_rows // 2 and (cols is None or len(cols) > 1):
        return (f"wrong only in row(s) {_list(sorted(rows))} (input unit(s) of this layer); "
                "the other rows are right.")
    few = rows is not None and cols is not None and 0 < len(rows) * len(cols) <= 8
    if few and len(rows) * len(cols) < n_rows * n_cols:  # not "a few" if that is all of them
        return (f"wrong only in a few entries (rows {_list(sorted(rows))}, columns "
                f"{_list(sorted(cols))}); everything else is right.")
    return ""


def _list(idx, limit=8) -> str:
    idx = [int(i) for i in idx]
    text = ", ".join(map(str, idx[:limit]))
    return text + (f", … ({len(idx)} in all)" if len(idx) > limit else "")


def shape_diagnosis(g_shape, shape, B=None) -> str:
    """Why a gradient has the wrong shape, when the shapes alone tell. B: the batch size, or
    the sizes it may be (samples as rows or as columns)."""
    g_shape, shape = tuple(g_shape), tuple(shape)
    sizes = set(B) if isinstance(B, set | frozenset | list | tuple) else {B}
    vector = [n for n in shape if n != 1]
    if len(vector) == 1:
        (n,) = vector
        for b in sorted(s for s in sizes if s and s not in (1, n)):
            if g_shape == (b,):
                return (f"shape {g_shape}: one entry per sample (B = {b}), where the bias has "
                        f"{n}: summed over the wrong axis (sum over the samples, not the units).")
            if g_shape in ((n, b), (b, n)) and g_shape[1:] != shape:
                axis = 1 if g_shape == (n, b) else 0
                return (f"shape {g_shape}: the per-sample bias gradients were not summed over "
                        f"the batch (B = {b}): sum over axis {axis}"
                        + (", keepdims=True" if len(shape) == 2 else "") + ".")
    B = next((b for b in sorted(s for s in sizes if s)), None) if len(sizes) > 1 else B
    if len(shape) == 2 and g_shape == shape[::-1]:
        return (f"shape {g_shape} is the transpose of {shape}: with W of shape (n_in, n_out) the "
                "gradient is A_prevᵀ·δ (or you stored W in the (n_out, n_in) layout).")
    if g_shape[1:] == shape and len(g_shape) == len(shape) + 1:
        return (f"shape {g_shape} has an extra leading axis of size {g_shape[0]}"
                + (" = B" if g_shape[0] == B else "")
                + ": the per-sample gradients were not summed over the batch (sum over axis 0).")
    if g_shape and np.prod(g_shape) == np.prod(shape):
        return f"shape {g_shape} has the right number of entries but the wrong layout {shape}."
    return f"shape {g_shape} does not match the parameter's shape {shape}."

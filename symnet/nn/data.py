"""Checking user data before anything is computed: shapes, keys, NaN/inf, target domains.

Every entry point (evaluate, compiled models, training, the checker) goes through these two
functions, so bad input gets the same clear error everywhere and nothing is changed.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy as sp

from ..errors import DataError, ShapeError


def _as_array(value, what: str, allow_exact: bool) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == object:
        if not allow_exact:
            raise DataError(f"{what} must be a numeric array, got dtype object")
        for v in arr.ravel():
            if not isinstance(v, int | float | Fraction | sp.Rational | sp.Float | np.number):
                raise DataError(f"{what} contains {v!r}, which is not a number")
        if not all(_finite(v) for v in arr.ravel()):
            raise DataError(f"{what} contains NaN or infinity")
        return arr
    if arr.dtype.kind not in "iuf":
        raise DataError(f"{what} must be numeric, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise DataError(f"{what} contains NaN or infinity (first at index {bad})")
    return arr


def _finite(v) -> bool:
    try:
        return bool(np.isfinite(float(v)))
    except (TypeError, ValueError):
        return False


def check_params(net, params, *, allow_exact: bool = False) -> dict[str, np.ndarray]:
    """`params` as {name: array} in the network's order, or a ShapeError/DataError saying what
    is missing, extra, or shaped wrong."""
    if not isinstance(params, dict):
        raise DataError(f"params must be a dict of arrays, got {type(params).__name__}")
    expected = net.parameters
    missing = [k for k in expected if k not in params]
    extra = [k for k in params if k not in expected]
    if missing or extra:
        parts = [f"missing {missing}" if missing else "", f"unexpected {extra}" if extra else ""]
        raise DataError(
            f"params do not match the network ({', '.join(p for p in parts if p)}); "
            f"expected {list(expected)}"
        )
    out = {}
    for name, shape in expected.items():
        arr = _as_array(params[name], f"parameter {name}", allow_exact)
        if arr.shape != shape:
            raise ShapeError(f"parameter {name} has shape {arr.shape}, the network needs {shape}")
        out[name] = arr
    return out


def _samples(net, X: np.ndarray) -> np.ndarray:
    """X of shape (B, *input_shape) (a batch of sequences or images) as rows (B, n_in)."""
    shape = tuple(getattr(net, "input_shape", ()))
    if X.ndim == len(shape) + 1 > 2 and X.shape[1:] == shape:
        return X.reshape(X.shape[0], -1)
    return X


def check_inputs(net, X, *, allow_exact: bool = False) -> np.ndarray:
    """X alone (for a forward pass), checked as `check_batch` checks it."""
    X = _samples(net, _as_array(X, "X", allow_exact))
    if X.ndim != 2 or X.shape[1] != net.n_in:
        raise ShapeError(f"X has shape {X.shape}, the network needs (B, {net.n_in})")
    if X.shape[0] == 0:
        raise DataError("X is empty: the batch needs at least one row")
    return X


def has_batchnorm(net) -> bool:
    return any(type(layer).__name__ == "BatchNorm" for layer in net.layers)


def check_batch_size(net, B: int):
    """BatchNorm in training mode normalizes over the batch: a batch of one sample would give
    a constant output and zero gradients (PyTorch raises too). Called by the compiled model
    and training; the exact evaluation keeps the mathematics of B = 1 (a constant)."""
    if B < 2 and has_batchnorm(net):
        raise DataError("BatchNorm normalizes over the batch in training mode and needs at "
                        f"least 2 samples, got {B}; evaluate single samples with "
                        "forward(params, X, state=model.init_state()) (running statistics)")


def check_batch(net, X, Y, *, allow_exact: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """X as (B, n_in) and Y as (B, n_out), converting class labels to one-hot rows for
    softmax cross-entropy and a 1-D Y to a column for single-output networks."""
    X = _samples(net, _as_array(X, "X", allow_exact))
    Y = _as_array(Y, "Y", allow_exact)
    if X.ndim != 2 or X.shape[1] != net.n_in:
        raise ShapeError(f"X has shape {X.shape}, the network needs (B, {net.n_in})")
    if X.shape[0] == 0:
        raise DataError("X is empty: the batch needs at least one row")
    loss = net.loss.name
    classes = loss in ("softmax_ce", "ce")  # one probability row per sample
    if classes and Y.ndim == 1:
        Y = _one_hot(Y, net.n_out)
    elif Y.ndim == 1 and net.n_out == 1:
        Y = Y.reshape(-1, 1)
    if Y.shape != (X.shape[0], net.n_out):
        raise ShapeError(f"Y has shape {Y.shape}, the network needs ({X.shape[0]}, {net.n_out})")
    as_float = np.asarray(Y, dtype=float)
    if loss in ("bce", "bce_logits") and ((as_float < 0) | (as_float > 1)).any():
        raise DataError(f"{loss} targets must lie in [0, 1]")
    if classes and ((as_float < 0).any() or not np.allclose(as_float.sum(axis=1), 1.0)):
        raise DataError(
            f"{loss} targets must be class labels, one-hot rows, or probability rows "
            "that each sum to 1"
        )
    return X, Y


def _one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    if labels.dtype.kind not in "iu" and not (
        labels.dtype.kind == "f" and np.all(labels == np.round(labels))
    ):
        raise DataError("1-D targets for a cross-entropy must be integer class labels")
    lo, hi = labels.min(), labels.max()  # checked before any cast: 1e20 must not wrap around
    if lo < 0 or hi > n_classes - 1:
        raise DataError(f"class labels must lie in 0..{n_classes - 1}, got {lo:g}..{hi:g}")
    return np.eye(n_classes)[labels.astype(np.intp)]


def check_seed(seed) -> int:
    """A random seed: a non-negative integer (NumPy's generators refuse others with a
    traceback far from the call that passed it)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)

"""The checked API's fast path: the common call validated in a few microseconds, on every call.

`Model.loss_and_grads` must refuse NaN/inf, wrong shapes and dtypes, and targets outside the
loss's domain on *every* call: training updates parameters in place, so an array that was
finite before may hold an inf now, and the output cannot tell (an inf in W1 under tanh
saturates to a finite loss and zero gradients, silently, forever). Nothing is remembered
between calls; every array is read every time. A `Guard` only makes the reading cheap:

- NaN/inf by one BLAS dot product per array: Σ aᵢ² is finite iff every entry is, unless it
  overflows (|a| ≳ 1e154 in float64, 1e19 in float32), when the full check decides;
- the parameters `Model.init` makes are views into one buffer (`packed`): when a parameter
  is a view of the flat buffer that the first one is a view of, one dot product over the
  buffer covers it (why that is sound: the comment in `_PARAMETER`);
- target domains by one NumPy call each: min ≥ 0 (the entry at `argmin`, the first NaN if there
  is one, at a third of the cost of a ufunc reduction; NaN ≥ 0 is false), probability rows by
  one matrix-vector product compared bytewise with a row of ones (else within a tolerance
  inside the full check's), class labels by the largest unsigned bit pattern (`argmax`: a negative
  label is a huge unsigned number);
- per-model constants (names, shapes, sizes, one-hot tables) are written into the source of
  one straight-line function per model (`check`), built once: measured side by side, a loop
  over the parameters cost 2–3 % of a 64-32-10 step more than the unrolled lines.

Anything else (other dtypes, lists, integer X, Embedding indices, a sum that overflows, …)
makes `check` return None, and the caller runs the full validation of symnet.nn.data, which
converts or raises the precise error.
"""

from __future__ import annotations

import math

import numpy as np

from ..nn.data import has_batchnorm
from ..nn.embedding import index_vocab
from .loader import file_name, run_source

_UNSIGNED = {1: np.dtype(np.uint8), 2: np.dtype(np.uint16), 4: np.dtype(np.uint32),
             8: np.dtype(np.uint64)}
# The full check accepts a probability row whose sum s has |s − 1| ≤ 1e-8 + 1e-5 (np.allclose);
# the fast path accepts |s − 1| ≤ 5e-6, computed with a rounding error under 2e-6 (see _Dtype).
_ROW_TOL2 = (5e-6) ** 2


def packed(params: dict, shapes: dict) -> dict:
    """`params` copied into one contiguous buffer, in the order of `shapes`: {name: view}.
    Training updates the views in place, and the guard scans the whole buffer at once."""
    dtype = next(iter(params.values())).dtype
    sizes = [math.prod(shape) for shape in shapes.values()]
    buffer = np.empty(sum(sizes), dtype=dtype)
    out, start = {}, 0
    for (name, shape), size in zip(shapes.items(), sizes):
        view = buffer[start:start + size].reshape(shape)
        view[...] = params[name]
        out[name] = view
        start += size
    return out


class _Dtype:
    """Constants of one floating dtype, made once per model."""

    def __init__(self, dtype: np.dtype, n_out: int, total: int):
        self.dtype = dtype
        self.eye = np.eye(n_out, dtype=dtype)
        # Row sums in this dtype err by ≤ n_out·u (u: the unit roundoff); above 2e-6 they are
        # summed in float64 (float32 with more than 33 classes).
        exact = n_out * np.finfo(dtype).eps / 2 <= 2e-6
        self.ones = np.ones(n_out, dtype if exact else np.float64)
        self.one = self.ones[:1].tobytes()
        self.buffer_shape, self.buffer_strides = (total,), (dtype.itemsize,)


# ── the source of `check`, one block per part; {…} are the model's constants ──

_HEAD = '''\
def check(params, X, Y):
    """(params, X, Y) validated, or None: the full check decides (symnet.codegen.guard)."""
    if type(params) is not dict or len(params) != {n}:
        return None
    try:
        {unpack}
        c = BY_DTYPE[p0.dtype]
    except (KeyError, AttributeError, TypeError):
        return None
    D = c.dtype
    buffer = p0.base
    if (type(buffer) is ndarray and buffer.dtype is D and buffer.shape == c.buffer_shape
            and buffer.strides == c.buffer_strides):
        total = float(vdot(buffer, buffer))  # Python floats: an overflow is inf, no warning
    else:
        buffer, total = (), 0.0  # () is nobody's base
'''
# A parameter whose .base is the buffer needs no scan of its own: every way NumPy makes an
# array whose .base is a given array (slicing, reshape, .view, np.ndarray(buffer=…),
# frombuffer) keeps its entries inside that array's memory (as_strided's base is a DummyArray,
# not the buffer); the buffer is flat and contiguous, so its memory is its entries; the view
# has the buffer's dtype (native byte order) and is aligned, so it reads the buffer's own
# numbers, not bytes straddling two.
_PARAMETER = '''\
    if type({p}) is not ndarray or {p}.shape != {shape!r} or {p}.dtype is not D:
        return None
    if {p}.base is not buffer or not {p}.flags.aligned:
        total += float(vdot({p}, {p}))
'''
_IMAGES = '''\
    if X.ndim != 2 and X.shape[1:] == {input_shape!r}:
        X = X.reshape(X.shape[0], -1)  # (B, C, H, W): one row per sample, a view
'''
_X = '''\
    if type(X) is not ndarray or X.dtype is not D:
        return None
{images}\
    if X.ndim != 2 or X.shape[1] != {n_in} or X.shape[0] < {min_batch}:
        return None
    if not isfinite(total + float(vdot(X, X))):
        return None  # NaN/inf somewhere (or an overflowing sum): the full check says which
    B = X.shape[0]
    if type(Y) is not ndarray:
        return None
'''
_Y_SHAPE = '''\
    if Y.dtype is not D:
        return None
    if Y.shape != (B, {n_out}):
{reshape}\
'''
_COLUMN = '''\
        if Y.shape != (B,):
            return None
        Y = Y.reshape(B, 1)
'''
_Y = {
    "any": '''\
    if not isfinite(vdot(Y, Y)):
        return None
    return params, X, Y
''',
    "unit": '''\
    if not (Y.item(Y.argmin()) >= 0 and Y.item(Y.argmax()) <= 1):  # NaN compares false
        return None
    return params, X, Y
''',
    "rows": '''\
    if not Y.item(Y.argmin()) >= 0:  # argmin: the first NaN if any; NaN >= 0 is false
        return None
    sums = Y.dot(c.ones)  # a row holding inf sums to inf
    if sums.tobytes() != c.one * B:  # not all exactly 1: within the tolerance?
        sums -= 1
        if not vdot(sums, sums) <= ROW_TOL2:
            return None
    return params, X, Y
''',
}
_LABELS = '''\
    if Y.dtype is not D and Y.shape == (B,) and Y.dtype.kind in "iu" and Y.dtype.isnative:
        labels = Y.view(UNSIGNED[Y.dtype.itemsize])  # a negative label: a huge number
        if labels.item(labels.argmax()) >= {n_out}:
            return None
        return params, X, c.eye.take(Y, 0)
'''
# Targets' domains as the full check (symnet.nn.data.check_batch) defines them, by loss name;
# a loss not listed always takes the full check.
_DOMAIN = {"mse": "any", "bce": "unit", "bce_logits": "unit", "softmax_ce": "rows", "ce": "rows"}


class Guard:
    """The fast check of one compiled model: `check(params, X, Y)` returns (params, X, Y)
    validated (Y as one-hot rows when given as labels) or None for the full check; its
    source is `source`."""

    def __init__(self, module, network):
        shapes = dict(module.SHAPES)
        domain = None if index_vocab(network) else _DOMAIN.get(network.loss.name)
        if domain is None or not shapes:  # Embedding indices: the full check names the index
            self.source, self.check = "", _full_check
            return
        n_out = network.n_out
        total = sum(math.prod(s) for s in shapes.values())
        input_shape = tuple(getattr(network, "input_shape", ()))
        names = {"n": len(shapes), "n_in": network.n_in, "n_out": n_out,
                 "min_batch": 2 if has_batchnorm(network) else 1, "input_shape": input_shape}
        names["unpack"] = "; ".join(f"p{i} = params[{k!r}]" for i, k in enumerate(shapes))
        names["images"] = _IMAGES.format(**names) if len(input_shape) > 1 else ""
        names["reshape"] = _COLUMN if n_out == 1 and domain != "rows" else "        return None\n"
        self.source = (_HEAD.format(**names)
                       + "".join(_PARAMETER.format(p=f"p{i}", shape=shape)
                                 for i, shape in enumerate(shapes.values()))
                       + _X.format(**names)
                       + (_LABELS.format(**names) if domain == "rows" else "")
                       + _Y_SHAPE.format(**names) + _Y[domain])
        scope = {"ndarray": np.ndarray, "vdot": np.vdot, "isfinite": math.isfinite,
                 "UNSIGNED": _UNSIGNED, "ROW_TOL2": _ROW_TOL2,
                 "BY_DTYPE": {np.dtype(t): _Dtype(np.dtype(t), n_out, total)
                              for t in (np.float32, np.float64)}}
        run_source(self.source, file_name(self.source, "guard"), scope)
        self.check = scope["check"]


def _full_check(params, X, Y):
    return None

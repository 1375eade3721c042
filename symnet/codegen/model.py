"""`compile(net)`: the generated NumPy functions of a network, executed in memory.

    model = sn.compile(net)                 # or a spec string, or a Derivation
    params = model.init(seed=0)
    loss, grads = model.loss_and_grads(params, X, Y)

One code path: `compile` executes exactly the text `codegen` returns (`model.source`), under a
file name registered with `linecache`, so tracebacks show the generated lines. The methods of
`Model` validate their input (symnet.nn.data) and convert X and Y to the parameters' dtype, then
call the generated functions, which are also available unchecked as `model.module.forward`, …
(what `train` calls in its inner loop, after validating the data once).
"""

from __future__ import annotations

import builtins
import hashlib
import linecache
import math
import types

import numpy as np

from ..derivation.chain import derivation_of
from ..errors import DataError
from ..nn.data import check_batch, check_batch_size, check_inputs, check_params, has_batchnorm
from .module import dtype_of, module_source

# The fast path's NaN/inf test: Σ aᵢ² (BLAS, one pass, no temporary) is finite iff every entry
# is, unless it overflows (|a| ≳ 1e154 in float64, 1e19 in float32): then the full check decides.
# The ufuncs' reduce and math.isfinite directly: each saves a Python-level wrapper per call.
_vdot = np.vdot
_dot = np.dot
_min = np.minimum.reduce
_max = np.maximum.reduce
_isfinite = math.isfinite
# Class labels the fast path indexes with: uint64 is left to the full check (its values above
# 2⁶³ would wrap around to negative indices).
_LABELS = frozenset(map(np.dtype, (np.int8, np.int16, np.int32, np.int64,
                                   np.uint8, np.uint16, np.uint32)))


# The arrays the fast path has scanned: the 4 most recently used, by id, held so that their ids
# cannot be reused by new objects (a training set and a test set alternating with minibatches
# stay known).
_SEEN = 4


def _known(seen: dict, a) -> bool:
    key = id(a)
    if seen.get(key) is not a:
        return False
    if len(seen) == _SEEN:  # most recently used last, so that it is evicted last
        seen[key] = seen.pop(key)
    return True


def _remember(seen: dict, a):
    if len(seen) >= _SEEN:
        del seen[next(iter(seen))]
    seen[id(a)] = a


class Model:
    """A network's generated forward, loss and gradient functions; see the module docstring."""

    def __init__(self, derivation, dtype, source: str, module: types.ModuleType):
        self.derivation = derivation
        self.network = derivation.network
        self.dtype = dtype
        self.source = source
        self.module = module
        self.__doc__ = source
        net = self.network
        loss = net.loss.name
        # what the per-call check (_cheap_check) needs, looked up once
        self._fast = (net.n_in, net.n_out,
                      1 if loss in ("softmax_ce", "ce") else 2 if loss in ("bce", "bce_logits")
                      else 0, 2 if has_batchnorm(net) else 1)
        self._loss, self._loss_and_grads = module.loss, module.loss_and_grads
        self._eye = {}
        self._seen_params, self._seen_X, self._seen_Y = None, {}, {}

    def __repr__(self):
        from ..nn.spec import describe

        return f"<Model {describe(self.network)!r} ({self.dtype.name}): {self.module.__file__}>"

    @property
    def parameters(self) -> dict[str, tuple[int, ...]]:
        return dict(self.module.SHAPES)

    def init(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Fresh parameters of the model's dtype (He/Glorot weights, zero biases)."""
        return self.module.init_params(seed)

    def init_state(self) -> dict[str, np.ndarray]:
        """BatchNorm's running statistics ({running_mean1: 0, running_var1: 1, …}; {} without
        BatchNorm), kept apart from the parameters like PyTorch's buffers."""
        return self.module.init_state()

    def forward(self, params, X, state=None) -> np.ndarray:
        """The network's output for X (logits for softmax_ce and bce_logits). With `state`
        (from init_state(), updated by training), BatchNorm normalizes with its running
        statistics: evaluation mode, as PyTorch's model.eval(), any batch size."""
        params, dtype = self._params(params)
        X = check_inputs(self.network, X).astype(dtype, copy=False)
        if state is None:
            check_batch_size(self.network, X.shape[0])
            return self.module.forward(params, X)
        return self.module.forward(params, X, state=self._state(state))

    def loss(self, params, X, Y):
        """L for the batch (X, Y), a NumPy scalar of the parameters' dtype."""
        Yc = self._cheap_check(params, X, Y)
        if Yc is not None:
            L = self._loss(params, X, Yc)
            if _isfinite(L):
                return L
            self.check(params, X, Y)  # a NaN/inf in the input raises here, with its place
            return L
        params, X, Y = self.check(params, X, Y)
        return self.module.loss(params, X, Y)

    def loss_and_grads(self, params, X, Y, state=None):
        """(L, {name: ∂L/∂name}), the gradients shaped and typed like the parameters. With
        `state`, BatchNorm's running statistics are updated in place (momentum 0.1)."""
        if state is None:
            Yc = self._cheap_check(params, X, Y)
            if Yc is not None:
                L, grads = self._loss_and_grads(params, X, Yc)
                if _isfinite(L):
                    return L, grads
                self.check(params, X, Y)  # a NaN/inf in the input raises here, with its place
                return L, grads
            params, X, Y = self.check(params, X, Y)
            return self.module.loss_and_grads(params, X, Y)
        # with state, everything is checked first: the step updates the statistics in place
        params, X, Y = self.check(params, X, Y)
        return self.module.loss_and_grads(params, X, Y, state=self._state(state))

    def _cheap_check(self, params, X, Y):
        """The per-call check of loss/loss_and_grads: Y as the generated step takes it, or None
        (then `check` validates in full, converts or raises the precise error).

        Every call compares the parameters' keys and array objects with the last ones checked
        (cached tuples), X's and Y's shapes and dtypes, and class labels' range. An array is
        checked in full (shape, dtype, NaN/inf; a float target's domain: probability rows,
        [0, 1] for bce) once, the first time that object is seen (parameters updated in place
        stay the same objects, a full batch is the same X and Y in every call). Later changes
        in place show in the loss, which the caller tests (one float), running the full check
        when it is not finite: a NaN or infinity put into Y, or a NaN into X or the
        parameters, always reaches L. Not found after the first sight: an
        infinity that an activation maps to a constant (relu(−∞), tanh(∞)), a target changed
        in place to leave its domain, and a parameter reshaped in place (`a.shape = …`)."""
        if type(params) is not dict:
            return None
        n_in, n_out, kind, min_batch = self._fast
        seen = self._seen_params
        if seen is None or tuple(params) != seen[0] or \
                tuple(map(id, params.values())) != seen[1]:
            seen = self._scan_params(params)
            if seen is None:
                return None
        dt = seen[3]
        if type(X) is not np.ndarray or X.dtype != dt or type(Y) is not np.ndarray:
            return None
        s = X.shape
        if len(s) != 2 or s[1] != n_in or s[0] < min_batch:
            return None
        if not _known(self._seen_X, X):
            if not _isfinite(_vdot(X, X)):
                return None  # NaN/inf (or an overflowing sum): the full check decides
            _remember(self._seen_X, X)
        B = s[0]
        given = Y
        if Y.shape != (B, n_out):
            if Y.shape != (B,):
                return None
            if kind == 1:  # class labels
                if Y.dtype not in _LABELS or _min(Y, None) < 0:  # (negative indices wrap)
                    return None
                try:
                    return seen[4].take(Y, 0)  # one-hot rows; a label ≥ n_out: IndexError
                except IndexError:
                    return None
            if n_out != 1:
                return None
            Y = Y.reshape(B, 1)  # one real target per sample: a column (a new view)
        if Y.dtype != dt:
            return None
        if not _known(self._seen_Y, given):
            if kind == 1:  # probability rows: ≥ 0, each summing to 1 (Σ(rowsum − 1)² ≤
                if _min(Y, None) < 0:  # 1e-10 makes each |rowsum − 1| ≤ 1e-5, within the
                    return None  # full check's allclose; rounding exceeds it past ~10⁴ rows)
                r = _dot(Y, seen[5])  # the row sums (a matrix-vector product is quicker
                r -= 1  # than add.reduce along rows)
                if not _vdot(r, r) <= 1e-10:
                    return None
            elif kind == 2 and (_min(Y, None) < 0 or _max(Y, None) > 1):
                return None
            _remember(self._seen_Y, given)
        return Y

    def _scan_params(self, params):
        """params checked in full (keys, shapes, one float dtype, NaN/inf by a sum of squares)
        and remembered for the next calls as (keys, ids, arrays, dtype, one-hot table, ones);
        None if anything is off (the full check then says what)."""
        shapes = self.module.SHAPES
        if len(params) != len(shapes):
            return None
        values = tuple(params.values())
        dt = values[0].dtype if type(values[0]) is np.ndarray else None
        if dt is None or dt.kind != "f":
            return None
        total = 0.0
        for name, a in params.items():
            if type(a) is not np.ndarray or a.shape != shapes.get(name) or a.dtype != dt:
                return None
            total += _vdot(a, a)
        if not _isfinite(total):
            return None
        if dt not in self._eye:
            n_out = self._fast[1]
            self._eye[dt] = (np.eye(n_out, dtype=dt), np.ones(n_out, dtype=dt))
        # the arrays are held, so that their ids cannot be reused by new objects
        self._seen_params = seen = (tuple(params), tuple(map(id, values)), values, dt,
                                    *self._eye[dt])
        return seen

    def _state(self, state):
        shapes = self.module.STATE_SHAPES
        if not isinstance(state, dict) or set(state) != set(shapes):
            raise DataError(f"state must be the dict model.init_state() returns, with keys "
                            f"{sorted(shapes)}; got {type(state).__name__}"
                            + (f" with keys {sorted(state)}" if isinstance(state, dict) else ""))
        for k, shape in shapes.items():
            a = state[k]
            if not isinstance(a, np.ndarray) or a.shape != shape or a.dtype.kind != "f":
                raise DataError(f"state[{k!r}] must be a float array of shape {shape}")
        return state

    def check(self, params, X, Y):
        """(params, X, Y) validated, with X and Y in the parameters' dtype.

        The common case (a dict of the right arrays, X and Y of their dtype and shape, or
        integer labels) is checked by the fast path of `_cheap_check`, here with every array
        scanned for NaN/inf (one sum of squares each: finite iff every entry is, unless it
        overflows, when the full check decides). Anything else goes to the full validation of
        symnet.nn.data, which converts or raises the precise error."""
        self._seen_params, self._seen_X, self._seen_Y = None, {}, {}  # scan everything again
        Yc = self._cheap_check(params, X, Y)
        if Yc is not None and _isfinite(_vdot(Yc, Yc)):
            return params, X, Yc
        params, dtype = self._params(params)
        X, Y = check_batch(self.network, X, Y)
        check_batch_size(self.network, X.shape[0])
        return params, X.astype(dtype, copy=False), Y.astype(dtype, copy=False)

    def _params(self, params):
        params = check_params(self.network, params)
        dtypes = {p.dtype for p in params.values()}
        if len(dtypes) > 1 or not all(np.issubdtype(d, np.floating) for d in dtypes):
            raise DataError(
                f"parameters must share one floating dtype, got {sorted(map(str, dtypes))}; "
                f"model.init() makes {self.dtype.name} ones"
            )
        return params, dtypes.pop()


def load_source(source: str, name: str = "symnet_generated") -> types.ModuleType:
    """Execute generated source as a module whose file name linecache knows."""
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    filename = f"<symnet-generated-{digest}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(name, source)
    module.__file__ = filename
    exec(builtins.compile(source, filename, "exec"), module.__dict__)  # symnet's own text
    return module


def compile(net, dtype=np.float64) -> Model:  # noqa: A001 - sn.compile, as the user calls it
    """Generate and load the NumPy functions of `net` (Network, Derivation, spec or TOML path);
    parameters from `model.init()` have `dtype` (float64 or float32)."""
    dtype = dtype_of(dtype)
    d = derivation_of(net)
    source = module_source(d, dtype)
    return Model(d, dtype, source, load_source(source))

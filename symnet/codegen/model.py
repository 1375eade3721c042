"""`compile(net)`: the generated NumPy functions of a network, executed in memory.

    model = sn.compile(net)                 # or a spec string, or a Derivation
    params = model.init(seed=0)
    loss, grads = model.loss_and_grads(params, X, Y)
    loss = model.train_step(params, X, Y, lr=0.1)   # one SGD step, in place

    model = sn.compile(net, backend="torch", device="cuda")   # or "jax", "cupy"

With another backend (codegen.backends) the model's methods take NumPy or that library's arrays
(NumPy data is validated as below, then moved to the device) and return that library's arrays;
`model.to_numpy(a)` brings one back.

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
from ..errors import DataError, ShapeError
from ..nn.data import check_batch, check_batch_size, check_inputs, check_params, has_batchnorm
from .backends import available, backend_of
from .module import dtype_of, module_source

# The fast path's NaN/inf test: Σ aᵢ² (BLAS, one pass, no temporary) is finite iff every entry
# is, unless it overflows (|a| ≳ 1e154 in float64, 1e19 in float32): then the full check decides.
_vdot = np.vdot
_sum = np.add.reduce


class Model:
    """A network's generated forward, loss and gradient functions; see the module docstring."""

    def __init__(self, derivation, dtype, source: str, module: types.ModuleType,
                 backend="numpy", device=None):
        self.derivation = derivation
        self.network = derivation.network
        self.dtype = dtype
        self.source = source
        self.module = module
        self.backend = backend_of(backend)
        self.device = device
        self.__doc__ = source

    def __repr__(self):
        from ..nn.spec import describe

        where = "" if self.backend.name == "numpy" else f", {self.backend.name}" + (
            f" on {self.device}" if self.device is not None else "")
        return (f"<Model {describe(self.network)!r} ({self.dtype.name}{where}): "
                f"{self.module.__file__}>")

    # ── arrays of the backend ──
    @property
    def numpy(self) -> bool:
        return self.backend.name == "numpy"

    def to_numpy(self, a) -> np.ndarray:
        """An array (or scalar) of the model's backend as a NumPy array."""
        return to_numpy(a)

    def asarray(self, a, like=None):
        """`a` as an array of the model's backend, on its device (or `like`'s)."""
        if self.numpy:
            return np.asarray(a)
        return self.module._asarray(a, like if like is not None else self.device)

    def _backend_params(self, params):
        """Backend arrays of the right shapes (NumPy arrays are moved to the device)."""
        shapes = self.module.SHAPES
        if not isinstance(params, dict) or set(params) != set(shapes):
            raise DataError(f"params must be a dict with keys {sorted(shapes)}")
        for k, shape in shapes.items():
            if tuple(getattr(params[k], "shape", ())) != tuple(shape):
                raise ShapeError(f"params[{k!r}] has shape {tuple(np.shape(params[k]))}, the "
                                f"network needs {tuple(shape)}")
        host = {k for k, v in params.items() if isinstance(v, np.ndarray)}
        if not host:
            return params
        like = next((v for k, v in params.items() if k not in host), None)
        return {k: self.asarray(np.asarray(v, self.dtype), like) if k in host else v
                for k, v in params.items()}

    def _backend_check(self, params, X, Y):
        """Backend arrays: (params, X, Y) on the device. NumPy data gets the full validation of
        `check`, then moves; arrays of the backend are checked for shape only."""
        params = self._backend_params(params)
        like = next(iter(params.values()))
        host = (np.ndarray, list, tuple)
        if isinstance(X, host) or isinstance(Y, host):
            X, Y = check_batch(self.network, to_numpy(X), to_numpy(Y))
            check_batch_size(self.network, X.shape[0])
            X, Y = (self.asarray(a.astype(self.dtype, copy=False), like) for a in (X, Y))
        elif len(X.shape) != 2 or X.shape[1] != self.network.n_in:
            raise ShapeError(f"X has shape {tuple(X.shape)}, the network needs "
                            f"(B, {self.network.n_in})")
        return params, X, Y

    def init(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Fresh parameters of the model's dtype (He/Glorot weights, zero biases), drawn by
        NumPy (the same for every backend) and placed on the model's device."""
        if self.numpy:
            return self.module.init_params(seed)
        return self.module.init_params(seed, device=self.device)

    def init_state(self) -> dict[str, np.ndarray]:
        """BatchNorm's running statistics ({running_mean1: 0, running_var1: 1, …}; {} without
        BatchNorm), kept apart from the parameters like PyTorch's buffers."""
        if self.numpy:
            return self.module.init_state()
        return self.module.init_state(device=self.device)

    def forward(self, params, X, state=None) -> np.ndarray:
        """The network's output for X (logits for softmax_ce and bce_logits). With `state`
        (from init_state(), updated by training), BatchNorm normalizes with its running
        statistics: evaluation mode, as PyTorch's model.eval(), any batch size."""
        if not self.numpy:
            params = self._backend_params(params)
            if isinstance(X, np.ndarray | list | tuple):
                X = check_inputs(self.network, X).astype(self.dtype, copy=False)
                X = self.asarray(X, next(iter(params.values())))
            if state is None:
                return self.module.forward(params, X)
            return self.module.forward(params, X, state=self._state(state))
        params, dtype = self._params(params)
        X = check_inputs(self.network, X).astype(dtype, copy=False)
        if state is None:
            check_batch_size(self.network, X.shape[0])
            return self.module.forward(params, X)
        return self.module.forward(params, X, state=self._state(state))

    def loss(self, params, X, Y):
        """L for the batch (X, Y), a NumPy scalar of the parameters' dtype."""
        params, X, Y = self.check(params, X, Y)
        return self.module.loss(params, X, Y)

    def loss_and_grads(self, params, X, Y, state=None):
        """(L, {name: ∂L/∂name}), the gradients shaped and typed like the parameters. With
        `state`, BatchNorm's running statistics are updated in place (momentum 0.1)."""
        params, X, Y = self.check(params, X, Y)
        if state is None:
            return self.module.loss_and_grads(params, X, Y)
        return self.module.loss_and_grads(params, X, Y, state=self._state(state))

    def train_step(self, params, X, Y, lr, state=None):
        """One step of gradient descent on the batch (X, Y), in place: θ ← θ − lr ∂L/∂θ for
        every parameter in `params` (the dict's arrays are updated; with JAX, whose arrays are
        immutable, the dict's entries are replaced). Returns L, computed before the update.
        The generated `train_step` (forward, loss, backward and update fused in one function;
        see codegen.inplace) after the checks of `loss_and_grads`."""
        checked, X, Y = self.check(params, X, Y)
        if checked is not params:  # converted (to the device, or to the dtype): update params
            params.update(checked)
        lr = float(lr)
        if state is not None:
            state = self._state(state)
        if self.backend.functional:
            out = self.module.train_step(params, X, Y, lr, state=state)
            params.update(out[0])
            if state is not None and len(out) > 2 and out[2] is not None:
                state.update(out[2])
            return out[1]
        if state is None:
            return self.module.train_step(params, X, Y, lr)
        return self.module.train_step(params, X, Y, lr, state=state)

    def _state(self, state):
        shapes = self.module.STATE_SHAPES
        if not isinstance(state, dict) or set(state) != set(shapes):
            raise DataError(f"state must be the dict model.init_state() returns, with keys "
                            f"{sorted(shapes)}; got {type(state).__name__}"
                            + (f" with keys {sorted(state)}" if isinstance(state, dict) else ""))
        for k, shape in shapes.items():
            a = state[k]
            if not self.numpy:
                if tuple(getattr(a, "shape", ())) != shape:
                    raise DataError(f"state[{k!r}] must be an array of shape {shape}")
                continue
            if not isinstance(a, np.ndarray) or a.shape != shape or a.dtype.kind != "f":
                raise DataError(f"state[{k!r}] must be a float array of shape {shape}")
        return state

    def check(self, params, X, Y):
        """(params, X, Y) validated, with X and Y in the parameters' dtype.

        The common case (a dict of the right arrays, X and Y of their dtype and shape, or
        integer labels) is checked by a fast path: shapes and dtypes compared, the target's
        domain by min/max, NaN/inf by one sum of squares per array (finite iff every entry is,
        unless it overflows, when the full check decides). Anything else goes to the full
        validation of symnet.nn.data, which converts or raises the precise error."""
        if not self.numpy:
            return self._backend_check(params, X, Y)
        fast = self._fast_check(params, X, Y)
        if fast is not None:
            return fast
        params, dtype = self._params(params)
        X, Y = check_batch(self.network, X, Y)
        check_batch_size(self.network, X.shape[0])
        return params, X.astype(dtype, copy=False), Y.astype(dtype, copy=False)

    def _fast_check(self, params, X, Y):
        """(params, X, Y) when the common case holds (see `check`), else None."""
        try:
            names, shapes, n_in, n_out, loss, min_batch, eye = self._fast
        except AttributeError:
            net = self.network
            self._fast = (tuple(self.module.SHAPES), tuple(self.module.SHAPES.values()),
                          net.n_in, net.n_out, net.loss.name,
                          2 if has_batchnorm(net) else 1, {})
            names, shapes, n_in, n_out, loss, min_batch, eye = self._fast
        if type(params) is not dict or len(params) != len(names):
            return None
        try:
            arrays = [params[k] for k in names]
        except KeyError:
            return None
        dt = arrays[0].dtype if type(arrays[0]) is np.ndarray else None
        if dt is None or dt.kind != "f":
            return None
        for a, shape in zip(arrays, shapes):
            if type(a) is not np.ndarray or a.shape != shape or a.dtype != dt:
                return None
        if (type(X) is not np.ndarray or X.dtype != dt or X.ndim != 2 or X.shape[1] != n_in
                or X.shape[0] < min_batch or type(Y) is not np.ndarray):
            return None
        B = X.shape[0]
        classes = loss in ("softmax_ce", "ce")
        if classes and Y.shape == (B,) and Y.dtype.kind in "iu":
            if Y.min() < 0 or Y.max() >= n_out:
                return None
            one_hot = eye.get(dt)
            if one_hot is None:
                one_hot = eye[dt] = np.eye(n_out, dtype=dt)
            Y = one_hot[Y]
        elif Y.shape != (B, n_out) or Y.dtype != dt:
            return None
        elif classes:  # probability rows: ≥ 0, each summing to 1
            if Y.min() < 0 or np.abs(_sum(Y, 1) - 1).max() > 1e-5:
                return None
        elif loss in ("bce", "bce_logits") and (Y.min() < 0 or Y.max() > 1):
            return None
        total = _vdot(X, X) + _sum(Y, None)
        for a in arrays:
            total += _vdot(a, a)
        if not math.isfinite(total):
            return None  # NaN/inf somewhere (or an overflowing sum): the full check says which
        return params, X, Y

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


def to_numpy(a) -> np.ndarray:
    """A NumPy array from an array of NumPy, JAX, PyTorch or CuPy (a scalar: a 0-d array)."""
    if isinstance(a, np.ndarray | np.generic | float | int):
        return np.asarray(a)
    if hasattr(a, "detach"):  # torch
        return a.detach().cpu().numpy()
    if type(a).__module__.startswith("cupy"):
        return a.get()
    return np.asarray(a)


def compile(net, dtype=np.float64, backend="numpy", device=None) -> Model:  # noqa: A001
    """Generate and load the functions of `net` (Network, Derivation, spec or TOML path);
    parameters from `model.init()` have `dtype` (float64 or float32). `backend`: "numpy" (the
    default), "jax", "torch" or "cupy": the same derivation printed for that library
    (codegen.backends; needs the library installed). `device`: where the backend's arrays go
    ("cuda", "cuda:1" or a torch.device for torch; a jax.Device; a CuPy device id)."""
    dtype = dtype_of(dtype)
    xp = backend_of(backend)
    if device is not None and xp.name == "numpy":
        raise DataError("device= needs another backend: NumPy computes on the CPU")
    if not available(xp.name):
        raise DataError(f"backend {xp.name!r} needs {xp.package}, which is not installed: "
                        f"{xp.install}")
    d = derivation_of(net)
    source = module_source(d, dtype, xp)
    return Model(d, dtype, source, load_source(source), xp, device)

"""`compile(net, backend="jax" | "torch" | "cupy", device=…)`: a Model whose arrays live in
another array library.

    model = sn.compile(net, backend="torch", device="cuda")
    params = model.init(seed=0)                     # drawn by NumPy, placed on the device
    L = model.train_step(params, X, Y, lr=0.1)      # X, Y: NumPy or torch tensors
    model.to_numpy(params["W1"])

The methods take NumPy or the backend's arrays and return the backend's. NumPy data gets the
full validation of `Model.check` (symnet.nn.data) and is then moved to the device; arrays that
are already the backend's are checked for shape only (reading them back to scan for NaN/inf
would cost a device round trip per call).
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError, ShapeError
from ..nn.data import check_batch, check_batch_size, check_inputs
from .backends import backend_of
from .model import Model, _learning_rate, to_numpy


class BackendModel(Model):
    """A Model printed for JAX, PyTorch or CuPy; see the module docstring."""

    def __init__(self, derivation, dtype, source, module, backend, device=None):
        super().__init__(derivation, dtype, source, module)
        self.backend = backend_of(backend)
        self.device = device
        self._fast_check = _no_fast_path  # NumPy's fast path would pass NumPy arrays through
        self._lr = None  # (lr, device) and lr on that device (JAX: _device_lr)

    def __repr__(self):
        where = self.backend.name + (f" on {self.device}" if self.device is not None else "")
        return super().__repr__().replace(f"({self.dtype.name})",
                                          f"({self.dtype.name}, {where})")

    def asarray(self, a, like=None):
        """`a` as an array of the model's backend, on its device (or `like`'s)."""
        return self.module._asarray(a, like if like is not None else self.device)

    def init(self, seed: int = 0):
        """Fresh parameters of the model's dtype (He/Glorot weights, zero biases), drawn by
        NumPy (the same values as the NumPy backend's) and placed on the model's device."""
        return self.module.init_params(seed, device=self.device)

    def init_state(self):
        return self.module.init_state(device=self.device)

    def forward(self, params, X, state=None, masks=None):
        if masks is not None:
            raise DataError("masks= given, but the network has no dropout")
        params = self._params(params)
        if isinstance(X, np.ndarray | list | tuple):
            X = check_inputs(self.network, X).astype(self.dtype, copy=False)
            X = self.asarray(X, next(iter(params.values())))
        if state is None:
            return self.module.forward(params, X)
        return self.module.forward(params, X, state=self._state(state))

    def train_step(self, params, X, Y, lr, state=None, masks=None):
        """One step of gradient descent: as `Model.train_step`. With JAX, whose arrays are
        immutable, the entries of the `params` dict (and of `state`) are replaced."""
        lr = _learning_rate(lr)
        if masks is not None:
            raise DataError("masks= given, but the network has no dropout")
        checked, X, Y = self.check(params, X, Y)
        if state is not None:
            state = self._state(state)
        if checked is not params:  # NumPy arrays moved to the device: the caller's dict too
            params.update(checked)  # only now, every check passed
        if not self.backend.functional:
            if state is None:
                return self.module.train_step(params, X, Y, lr)
            return self.module.train_step(params, X, Y, lr, state=state)
        out = self.module.train_step(params, X, Y, self._device_lr(lr, X), state=state)
        params.update(out[0])
        if state is not None and len(out) > 2 and out[2] is not None:
            state.update(out[2])
        return out[1]

    def _device_lr(self, lr: float, X):
        """lr as a scalar of the model's dtype on X's device, kept while lr and the device stay
        the same: a Python float passed to a jax.jit function is copied to the device at every
        call (on a GPU, a host-to-device transfer per step)."""
        key = (lr, X.sharding)
        if self._lr is None or self._lr[0] != key:
            self._lr = (key, self.asarray(np.asarray(lr, self.dtype), X))
        return self._lr[1]

    def check(self, params, X, Y):
        """(params, X, Y) on the device. NumPy data gets the full validation of `Model.check`
        and then moves; arrays of the backend are checked for shape only."""
        params = self._params(params)
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

    def _with(self, kwargs, masks, batch, dtype):
        if masks is not None:
            raise DataError("masks= given, but the network has no dropout")
        return kwargs

    def _params(self, params):
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

    def _is_state_array(self, a, shape) -> bool:
        return tuple(getattr(a, "shape", ())) == shape


def _no_fast_path(params, X, Y):
    return None

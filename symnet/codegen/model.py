"""`Model`: a network's generated NumPy functions, loaded, behind methods that check their input.

    model = sn.compile(net)                 # or a spec string, or a Derivation
    params = model.init(seed=0)
    loss, grads = model.loss_and_grads(params, X, Y)
    loss = model.train_step(params, X, Y, lr=0.1)   # one SGD step, in place

    model = sn.compile(net, backend="torch", device="cuda")   # or "jax", "cupy"

With another backend (codegen.backends) the model is a `BackendModel` (codegen.backend_model):
its methods take NumPy or that library's arrays and return that library's arrays.

One code path: `compile` executes exactly the text `codegen` returns (`model.source`), under a
file name registered with `linecache` (`loader`), so tracebacks show the generated lines.
The methods of `Model` validate their input (symnet.nn.data) and convert X and Y to the
parameters' dtype, then call the generated functions, which are also available unchecked as
`model.module.forward`, … (what `train` calls in its inner loop, after validating the data
once).
"""

from __future__ import annotations

import copy
import math
import numbers
import types

import numpy as np

from ..errors import DataError
from ..nn.data import (
    check_batch,
    check_batch_size,
    check_inputs,
    check_params,
)
from .backends import BACKENDS
from .guard import Guard, packed
from .loader import load_source  # re-exported: tests and benchmarks import it from here


class Model:
    """A network's generated forward, loss and gradient functions; see the module docstring."""

    backend = BACKENDS["numpy"]  # the array library of the generated code (codegen.backends)
    device = None  # NumPy computes on the CPU

    def __init__(self, derivation, dtype, source: str, module: types.ModuleType):
        self.derivation = derivation
        self.network = derivation.network
        self.dtype = dtype
        self.source = source
        self.module = module
        self.__doc__ = source
        self.masks = None  # dropout masks fixed by `with_masks` (check and verify fix them)
        self._fast_check = Guard(module, self.network).check  # the common call, checked fast
        self._loss_and_grads = getattr(module, "loss_and_grads_into", module.loss_and_grads)

    # ── dropout masks ──
    @property
    def mask_widths(self) -> dict[str, int]:
        """{mask name: width} of the network's dropout layers ({} without dropout)."""
        return dict(getattr(self.module, "MASK_WIDTHS", {}))

    def draw_masks(self, batch: int, seed: int | None = None) -> dict[str, np.ndarray]:
        """Dropout masks for `batch` samples (each entry kept with probability 1 − p), in the
        model's dtype; from `seed` when given."""
        if not self.mask_widths:
            return {}
        rng = None if seed is None else np.random.default_rng(seed)
        return self.module.draw_masks(batch, self.dtype, rng)

    def with_masks(self, masks) -> Model:
        """This model with its dropout masks fixed: every call (the unchecked `module`
        functions included) uses `masks`, so that gradients are deterministic."""
        if masks is None or not self.mask_widths:
            return self
        fixed = copy.copy(self)
        fixed.masks = self._masks(masks, None)
        fixed.module = _FixedMasks(self.module, fixed.masks)
        fixed._loss_and_grads = fixed.module.loss_and_grads  # (no loss_and_grads_into: dropout)
        return fixed

    def _masks(self, masks, batch):
        """`masks` checked ({name: (batch, width) array of 0s and 1s}), or None."""
        widths = self.mask_widths
        if masks is None:
            return self.masks
        if not widths:
            raise DataError("masks= given, but the network has no dropout")
        if not isinstance(masks, dict) or set(masks) != set(widths):
            raise DataError(f"masks must be a dict with keys {sorted(widths)} (one 0/1 array "
                            f"per Dropout layer), got {masks!r:.80}")
        out = {}
        for k, w in widths.items():
            a = np.asarray(masks[k])
            if a.ndim != 2 or a.shape[1] != w or (batch is not None and a.shape[0] != batch):
                raise DataError(f"mask {k} has shape {a.shape}, the network needs "
                                f"({'B' if batch is None else batch}, {w})")
            if not np.isin(a, (0, 1)).all():
                raise DataError(f"mask {k} must hold only 0 and 1")
            out[k] = a
        return out

    def _with(self, kwargs, masks, batch, dtype):
        masks = self._masks(masks, batch)
        if masks is not None and self.mask_widths:
            kwargs["masks"] = {k: m.astype(dtype, copy=False) for k, m in masks.items()}
        return kwargs

    def __repr__(self):
        from ..nn.spec import describe

        return f"<Model {describe(self.network)!r} ({self.dtype.name}): {self.module.__file__}>"

    @property
    def parameters(self) -> dict[str, tuple[int, ...]]:
        return dict(self.module.SHAPES)

    def init(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Fresh parameters of the model's dtype (He/Glorot weights, zero biases): views into
        one contiguous buffer, which the checked calls scan for NaN/inf in one pass."""
        return packed(self.module.init_params(seed), self.module.SHAPES)

    def init_state(self) -> dict[str, np.ndarray]:
        """BatchNorm's running statistics ({running_mean1: 0, running_var1: 1, …}; {} without
        BatchNorm), kept apart from the parameters like PyTorch's buffers."""
        return self.module.init_state()

    def forward(self, params, X, state=None, masks=None) -> np.ndarray:
        """The network's output for X (logits for softmax_ce and bce_logits). With `state`
        (from init_state(), updated by training), BatchNorm normalizes with its running
        statistics: evaluation mode, as PyTorch's model.eval(), any batch size. Dropout is
        applied with `masks` (model.draw_masks(B)) and left out without (evaluation mode)."""
        params, dtype = self._params(params)
        X = check_inputs(self.network, X).astype(dtype, copy=False)
        kwargs = self._with({}, masks, X.shape[0], dtype)
        if state is None:
            check_batch_size(self.network, X.shape[0])
            return self.module.forward(params, X, **kwargs)
        return self.module.forward(params, X, state=self._state(state), **kwargs)

    def loss(self, params, X, Y, masks=None):
        """L for the batch (X, Y), a NumPy scalar of the parameters' dtype. With dropout:
        `masks` as given, else fresh ones."""
        params, X, Y = self.check(params, X, Y)
        return self.module.loss(params, X, Y, **self._with({}, masks, X.shape[0], X.dtype))

    def loss_and_grads(self, params, X, Y, state=None, masks=None):
        """(L, {name: ∂L/∂name}), the gradients shaped and typed like the parameters. With
        `state`, BatchNorm's running statistics are updated in place (momentum 0.1). With
        dropout: `masks` as given, else fresh ones (training). The numbers are those of the
        generated `module.loss_and_grads`, bit for bit; the common call runs its statements
        into arrays kept between calls (`module.loss_and_grads_into`)."""
        if state is None and masks is None:  # the common call: checked fast, nothing else to do
            fast = self._fast_check(params, X, Y)
            if fast is not None:  # the same numbers, intermediate arrays kept between calls
                return self._loss_and_grads(*fast)
        params, X, Y = self.check(params, X, Y)
        kwargs = self._with({}, masks, X.shape[0], X.dtype)
        if state is None:
            return self.module.loss_and_grads(params, X, Y, **kwargs)
        return self.module.loss_and_grads(params, X, Y, state=self._state(state), **kwargs)

    def train_step(self, params, X, Y, lr, state=None, masks=None):
        """One step of gradient descent on the batch (X, Y), in place: θ ← θ − lr ∂L/∂θ for
        every parameter in `params` (the dict's arrays are updated). Returns L, computed before
        the update. The generated `train_step` (forward, loss, backward and update fused in one
        function; see codegen.inplace) after the checks of `loss_and_grads`."""
        lr = _learning_rate(lr)
        checked, X, Y = self.check(params, X, Y)
        kwargs = self._with({}, masks, X.shape[0], X.dtype)
        if state is not None:
            kwargs["state"] = self._state(state)
        if checked is not params:  # converted (lists to arrays): the caller's dict gets them
            params.update(checked)  # only now, every check passed: bad input changes nothing
        return self.module.train_step(params, X, Y, lr, **kwargs)

    def to_numpy(self, a) -> np.ndarray:
        """An array (or scalar) of the model's backend as a NumPy array."""
        return to_numpy(a)

    def _state(self, state):
        shapes = self.module.STATE_SHAPES
        if not isinstance(state, dict) or set(state) != set(shapes):
            raise DataError(f"state must be the dict model.init_state() returns, with keys "
                            f"{sorted(shapes)}; got {type(state).__name__}"
                            + (f" with keys {sorted(state)}" if isinstance(state, dict) else ""))
        for k, shape in shapes.items():
            if not self._is_state_array(state[k], shape):
                raise DataError(f"state[{k!r}] must be a float array of shape {shape}")
        return state

    def _is_state_array(self, a, shape) -> bool:
        return isinstance(a, np.ndarray) and a.shape == shape and a.dtype.kind == "f"

    def check(self, params, X, Y):
        """(params, X, Y) validated, with X and Y in the parameters' dtype.

        The common case (a dict of the right arrays, X and Y of their dtype and shape, or
        integer labels) is checked by a fast path on every call (`guard.Guard`: shapes and
        dtypes compared, NaN/inf by sums of squares, the target's domain by min and row sums).
        Anything else goes to the full validation of symnet.nn.data, which converts or raises
        the precise error."""
        fast = self._fast_check(params, X, Y)
        if fast is not None:
            return fast
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


def to_numpy(a) -> np.ndarray:
    """A NumPy array from an array of NumPy, JAX, PyTorch or CuPy (a scalar: a 0-d array)."""
    if isinstance(a, np.ndarray | np.generic | float | int):
        return np.asarray(a)
    if hasattr(a, "detach"):  # torch
        return a.detach().cpu().numpy()
    if type(a).__module__.startswith("cupy"):
        return a.get()
    return np.asarray(a)


def _learning_rate(lr) -> float:
    """lr as a float: a positive finite real number (NumPy scalars included)."""
    ok = isinstance(lr, numbers.Real) and not isinstance(lr, bool | np.bool_)
    value = float(lr) if ok else math.nan
    if not (math.isfinite(value) and value > 0):
        raise DataError(f"lr must be a positive finite number, got {lr!r}")
    return value


class _FixedMasks:
    """A generated module whose loss, loss_and_grads and forward use fixed dropout masks
    (in the dtype of each call's X); everything else is the module's own."""

    def __init__(self, module, masks):
        self._module, self._masks, self._cast = module, masks, {}

    def __getattr__(self, name):
        return getattr(self._module, name)

    def _for(self, X):
        dt = np.asarray(X).dtype
        if dt not in self._cast:
            self._cast[dt] = {k: m.astype(dt) for k, m in self._masks.items()}
        return self._cast[dt]

    def loss(self, params, X, Y, masks=None):
        return self._module.loss(params, X, Y, masks=masks or self._for(X))

    def loss_and_grads(self, params, X, Y, state=None, masks=None):
        return self._module.loss_and_grads(params, X, Y, state=state, masks=masks or self._for(X))

    def forward(self, params, X, state=None, masks=None):
        return self._module.forward(params, X, state=state, masks=masks or self._for(X))

    def train_step(self, params, X, Y, lr, state=None, masks=None):
        return self._module.train_step(params, X, Y, lr, state=state,
                                       masks=masks or self._for(X))


__all__ = ["Model", "load_source", "to_numpy"]

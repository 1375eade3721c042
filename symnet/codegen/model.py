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
import copy
import hashlib
import linecache
import types

import numpy as np

from ..derivation.chain import derivation_of, derive
from ..errors import DataError
from ..nn.data import (
    check_batch,
    check_batch_size,
    check_inputs,
    check_params,
)
from .guard import Guard, packed
from .module import dtype_of, generated
from .validate import check_custom


class Model:
    """A network's generated forward, loss and gradient functions; see the module docstring."""

    def __init__(self, derivation, dtype, source: str, module: types.ModuleType):
        self.derivation = derivation
        self.network = derivation.network
        self.dtype = dtype
        self.source = source
        self.module = module
        self.__doc__ = source
        self.masks = None  # dropout masks fixed by `with_masks` (check and verify fix them)
        self._fast_check = Guard(module, self.network).check  # the common call, checked fast

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
        dropout: `masks` as given, else fresh ones (training)."""
        if state is None and masks is None:  # the common call: checked fast, nothing else to do
            fast = self._fast_check(params, X, Y)
            if fast is not None:
                return self.module.loss_and_grads(*fast)
        params, X, Y = self.check(params, X, Y)
        kwargs = self._with({}, masks, X.shape[0], X.dtype)
        if state is None:
            return self.module.loss_and_grads(params, X, Y, **kwargs)
        return self.module.loss_and_grads(params, X, Y, state=self._state(state), **kwargs)

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


def load_source(source: str, name: str = "symnet_generated") -> types.ModuleType:
    """Execute generated source as a module whose file name linecache knows."""
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    filename = f"<symnet-generated-{digest}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(name, source)
    module.__file__ = filename
    exec(builtins.compile(source, filename, "exec"), module.__dict__)  # symnet's own text
    return module


def compile(net, dtype=np.float64, *, input_gradient: bool = False) -> Model:  # noqa: A001
    """Generate and load the NumPy functions of `net` (Network, Derivation, spec or TOML path);
    parameters from `model.init()` have `dtype` (float64 or float32). With
    `input_gradient=True`, loss_and_grads also returns ∂L/∂X under the key "X".

    The generated code of every custom activation (f, f′ and each ∂f/∂θ) is validated first:
    read back into SymPy and proved equal to its formula (`validate.check_custom`; each
    distinct formula once per process). A formula whose code is wrong, or that can be neither
    proved nor confirmed at its branch points, is a SpecError, never a silently wrong model.
    symnet's own activations and losses are validated by its test suite."""
    dtype = dtype_of(dtype)
    d = derivation_of(net)
    if input_gradient and not any(eq.kind == "input" for eq in d.backward):
        d = derive(d.network, input_gradient=True)
    source, printed = generated(d, dtype, input_gradient)
    check_custom(printed, custom_activations(d.network))
    return Model(d, dtype, source, load_source(source))


def custom_activations(net) -> list:
    """The network's custom activations (each once)."""
    from ..nn.activation import CustomActivation

    out = []
    for layer in net.layers:
        if isinstance(layer, CustomActivation) and layer not in out:
            out.append(layer)
    return out


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

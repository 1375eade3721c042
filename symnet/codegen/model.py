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
import types

import numpy as np

from ..derivation.chain import derivation_of
from ..errors import DataError
from ..nn.data import check_batch, check_batch_size, check_inputs, check_params
from .module import dtype_of, module_source


class Model:
    """A network's generated forward, loss and gradient functions; see the module docstring."""

    def __init__(self, derivation, dtype, source: str, module: types.ModuleType):
        self.derivation = derivation
        self.network = derivation.network
        self.dtype = dtype
        self.source = source
        self.module = module
        self.__doc__ = source

    def __repr__(self):
        from ..nn.spec import describe

        return f"<Model {describe(self.network)!r} ({self.dtype.name}): {self.module.__file__}>"

    @property
    def parameters(self) -> dict[str, tuple[int, ...]]:
        return dict(self.module.SHAPES)

    def init(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Fresh parameters of the model's dtype (He/Glorot weights, zero biases)."""
        return self.module.init_params(seed)

    def forward(self, params, X) -> np.ndarray:
        """The network's output for X (logits for softmax_ce and bce_logits)."""
        params, dtype = self._params(params)
        X = check_inputs(self.network, X).astype(dtype, copy=False)
        check_batch_size(self.network, X.shape[0])
        return self.module.forward(params, X)

    def loss(self, params, X, Y):
        """L for the batch (X, Y), a NumPy scalar of the parameters' dtype."""
        params, X, Y = self.check(params, X, Y)
        return self.module.loss(params, X, Y)

    def loss_and_grads(self, params, X, Y):
        """(L, {name: ∂L/∂name}), the gradients shaped and typed like the parameters."""
        params, X, Y = self.check(params, X, Y)
        return self.module.loss_and_grads(params, X, Y)

    def check(self, params, X, Y):
        """(params, X, Y) validated, with X and Y in the parameters' dtype."""
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

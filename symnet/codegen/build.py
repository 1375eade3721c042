"""`compile(net)`: generate a network's module, validate it, and load it as a Model.

    model = sn.compile(net)                                   # NumPy: a Model
    model = sn.compile(net, backend="torch", device="cuda")   # a BackendModel

One code path: `compile` executes exactly the text `codegen` returns (`model.source`).
"""

from __future__ import annotations

import numpy as np

from ..derivation.chain import derivation_of, derive
from ..errors import DataError
from .backend_model import BackendModel
from .backends import available, backend_of
from .loader import load_source
from .model import Model
from .module import dtype_of, generated
from .validate import check_custom


def compile(net, dtype=np.float64, *, input_gradient: bool = False,  # noqa: A001
            backend="numpy", device=None) -> Model:
    """Generate and load the functions of `net` (Network, Derivation, spec or TOML path);
    parameters from `model.init()` have `dtype` (float64 or float32). With
    `input_gradient=True`, loss_and_grads also returns ∂L/∂X under the key "X".

    `backend`: "numpy" (the default), "jax", "torch" or "cupy": the same derivation printed for
    that library (codegen.backends; needs the library installed), as a `BackendModel`.
    `device`: where the backend's arrays go ("cuda", "cuda:1" or a torch.device for torch; a
    jax.Device; a CuPy device id).

    The generated code of every custom activation (f, f′ and each ∂f/∂θ) is validated first:
    read back into SymPy and proved equal to its formula (`validate.check_custom`; each
    distinct formula once per process). A formula whose code is wrong, or that can be neither
    proved nor confirmed at its branch points, is a SpecError, never a silently wrong model.
    symnet's own activations and losses are validated by its test suite."""
    dtype = dtype_of(dtype)
    xp = backend_of(backend)
    if device is not None and xp.name == "numpy":
        raise DataError("device= needs another backend: NumPy computes on the CPU")
    d = derivation_of(net)
    if input_gradient and not any(eq.kind == "input" for eq in d.backward):
        d = derive(d.network, input_gradient=True)
    # printed first: a layer the backend does not cover is the error to report, installed or not
    source, printed = generated(d, dtype, input_gradient, xp)
    if not available(xp.name):
        raise DataError(f"backend {xp.name!r} needs {xp.package}, which is not installed: "
                        f"{xp.install}")
    custom = custom_activations(d.network)
    if custom and xp.name != "numpy":
        # The validator reads NumPy code back: it proves the NumPy printing of each formula;
        # another backend's text differs only by the spellings of codegen.backends, which
        # check(backend=) compares against NumPy numerically.
        printed = generated(d, dtype, input_gradient)[1]
    check_custom(printed, custom)
    if xp.name == "numpy":
        return Model(d, dtype, source, load_source(source))
    return BackendModel(d, dtype, source, load_source(source), xp, device)


def custom_activations(net) -> list:
    """The network's custom activations (each once)."""
    from ..nn.activation import CustomActivation

    out = []
    for layer in net.layers:
        if isinstance(layer, CustomActivation) and layer not in out:
            out.append(layer)
    return out


__all__ = ["compile", "custom_activations"]

"""verify_function: a framework's custom gradient, checked as a layer (`verify_layer`).

    class Cube(torch.autograd.Function):               # or a jax.custom_vjp function
        @staticmethod
        def forward(ctx, x): …
        @staticmethod
        def backward(ctx, g): …
    report = verify_function(Cube.apply, torch.randn(3, 4, dtype=torch.float64))

The function is called with the framework's own tensors, of the dtype given (float32 or
float64); its outputs are paired with a random dout (`UserLayer.loss`), and the gradients its
custom backward returns for that dout (PyTorch: `torch.autograd.grad`; JAX: `jax.vjp`, which
calls the custom_vjp's bwd) are compared with finite differences of the forward, computed in
float64 where the framework allows it (JAX only with `jax_enable_x64`). Floating-point
tensors are checked (in PyTorch, those that require grad where any does); any other argument
passes through. PyTorch and JAX are optional: neither is imported unless given its tensors.
"""

from __future__ import annotations

import inspect
import sys

import numpy as np

from ..errors import DataError
from .layer import check_layer
from .report import Report
from .user_layer import UserLayer


def verify_function(f, *inputs, dout=None, wrt=None, seed=0, rtol=None,
                    n_directions=3) -> Report:
    """Check the custom backward of `f` (a PyTorch `autograd.Function.apply`, or a function
    built from Functions; a JAX `custom_vjp` function) at `inputs`, tensors of that framework.
    Results are named after the parameters of the Function's forward (less ctx) or of f."""
    from .layer_naming import name_layer_mistakes

    kind = _framework(inputs)
    if kind is None:
        raise DataError("verify_function takes PyTorch tensors or JAX arrays; for NumPy "
                        "functions use verify_layer(forward, backward, *args)")
    adapter = (_Torch if kind == "torch" else _Jax)(f, inputs)
    layer = UserLayer(adapter.forward, adapter.backward, adapter.arrays, {}, convention="args",
                      wrt=wrt, forward_name=adapter.name, backward_name=adapter.backward_name,
                      slot_names=adapter.names)
    layer.notes += adapter.notes
    return check_layer(layer, seed, dout=dout, rtol=rtol, n_directions=n_directions,
                       namer=name_layer_mistakes)


def _framework(inputs):
    torch, jax = sys.modules.get("torch"), sys.modules.get("jax")
    for a in inputs:
        if torch is not None and isinstance(a, torch.Tensor):
            return "torch"
        if jax is not None and isinstance(a, jax.Array):
            return "jax"
    return None


def _names(fn, n, skip_first=False):
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params[1 if skip_first else 0:]]
    return (names + [f"arg{i}" for i in range(len(names), n)])[:n]


class _Torch:
    def __init__(self, f, inputs):
        import torch

        self.torch, self.f = torch, f
        owner = getattr(f, "__self__", None)
        if isinstance(owner, type) and issubclass(owner, torch.autograd.Function):
            self.name = f"{owner.__name__}.apply"
            self.backward_name = f"{owner.__name__}.backward"
            self.names = _names(owner.forward, len(inputs), skip_first=True)
        else:
            self.name = getattr(f, "__qualname__", type(f).__name__)
            self.backward_name = f"{self.name} (its custom backward)"
            self.names = _names(f, len(inputs))
        floating = [isinstance(a, torch.Tensor) and a.is_floating_point() for a in inputs]
        wanted = [isinstance(a, torch.Tensor) and a.requires_grad for a in inputs]
        self.checked = [fl and (w or not any(wanted)) for fl, w in zip(floating, wanted)]
        self.inputs = inputs
        self.notes = []
        # the checked tensors travel as NumPy arrays; the rest as they are
        self.arrays = tuple(a.detach().cpu().numpy().copy() if c else a
                            for a, c in zip(inputs, self.checked))
        self.device = next((a.device for a in inputs if isinstance(a, torch.Tensor)), None)

    def _tensors(self, arrays, grad=False):
        torch = self.torch
        out = []
        for a, c in zip(arrays, self.checked):
            if c:
                t = torch.from_numpy(np.array(a, copy=True)).to(self.device)
                out.append(t.requires_grad_(grad))
            else:
                out.append(a)
        return out

    def _numpy(self, out):
        torch = self.torch
        outs = out if isinstance(out, tuple | list) else (out,)
        arrays = []
        for o in outs:
            if not isinstance(o, torch.Tensor):
                raise DataError(f"{self.name} returned a {type(o).__name__}; verify_function "
                                "needs tensors (or a tuple of tensors) as outputs")
            arrays.append(o.detach().cpu().numpy())
        return arrays if isinstance(out, tuple | list) else arrays[0]

    def forward(self, *arrays):
        with self.torch.no_grad():
            return self._numpy(self.f(*self._tensors(arrays)))

    def backward(self, dout, *arrays):
        torch = self.torch
        tensors = self._tensors(arrays, grad=True)
        out = self.f(*tensors)
        outs = list(out) if isinstance(out, tuple | list) else [out]
        douts = list(dout) if isinstance(dout, tuple) else [dout]
        pairs = [(o, torch.from_numpy(np.array(d, copy=True)).to(o.device))
                 for o, d in zip(outs, douts) if o.requires_grad]
        leaves = [t for t, c in zip(tensors, self.checked) if c]
        if not pairs:
            return tuple(np.zeros(t.shape, dtype=t.detach().numpy().dtype) for t in leaves)
        grads = torch.autograd.grad([o for o, _ in pairs], leaves, [d for _, d in pairs],
                                    allow_unused=True)
        return tuple(np.zeros(t.shape, dtype=t.detach().numpy().dtype) if g is None
                     else g.detach().cpu().numpy() for g, t in zip(grads, leaves))


class _Jax:
    def __init__(self, f, inputs):
        import jax
        import jax.numpy as jnp

        self.jax, self.jnp, self.f = jax, jnp, f
        self.name = getattr(f, "__qualname__", None) or getattr(f, "__name__", type(f).__name__)
        self.backward_name = f"{self.name} (its custom_vjp bwd)"
        self.names = _names(f, len(inputs))
        self.checked = [isinstance(a, jax.Array) and jnp.issubdtype(a.dtype, jnp.floating)
                        for a in inputs]
        self.inputs = inputs
        self.x64 = bool(jax.config.read("jax_enable_x64"))
        self.notes = [] if self.x64 else [
            "JAX computes in float32 here (jax_enable_x64 is off): finite differences use "
            "float32 steps and tolerances"]
        self.arrays = tuple(np.asarray(a).copy() if c else a for a, c in zip(inputs, self.checked))

    def _arrays(self, arrays):
        jnp = self.jnp
        out = []
        for a, c in zip(arrays, self.checked):
            if not c:
                out.append(a)
                continue
            a = np.asarray(a)
            if not self.x64:  # without x64 JAX holds float32 (and complex64) only
                a = a.astype(np.complex64 if np.iscomplexobj(a) else np.float32)
            out.append(jnp.asarray(a))
        return out

    def forward(self, *arrays):
        out = self.f(*self._arrays(arrays))
        if isinstance(out, tuple | list):
            return [np.asarray(o) for o in out]
        return np.asarray(out)

    def backward(self, dout, *arrays):
        jax = self.jax
        values = self._arrays(arrays)
        idx = [i for i, c in enumerate(self.checked) if c]

        def of_checked(*xs):
            full = list(values)
            for i, x in zip(idx, xs):
                full[i] = x
            return self.f(*full)

        out, vjp = jax.vjp(of_checked, *[values[i] for i in idx])
        if isinstance(out, tuple | list):
            cot = type(out)(self.jnp.asarray(np.asarray(d, dtype=o.dtype))
                            for d, o in zip(dout, out))
        else:
            cot = self.jnp.asarray(np.asarray(dout, dtype=out.dtype))
        return tuple(np.asarray(g) for g in vjp(cot))


__all__ = ["verify_function"]

"""The array libraries a derivation can be printed for: one table of spellings each.

    sn.codegen(net, backend="numpy" | "jax" | "torch" | "cupy")
    sn.compile(net, backend="torch", device="cuda")

The printer (`codegen.printer`) is one printer: it asks the backend how to spell the few things
that differ between NumPy and the others, and everything else is the same text with another
namespace (`np.exp` → `jnp.exp`, `torch.exp`, `cp.exp`):

    what                     numpy / cupy / jax                  torch
    a row's maximum          Z.max(axis=1, keepdims=True)        Z.amax(axis=1, keepdims=True)
    Σ A ⊙ B                  np.vdot(A, B)  (jax: as torch)      (A * B).sum()
    Aᵀ B, A Bᵀ               A.T @ B        (jax: jnp.einsum)    A.T @ B
    max(x, c), min(x, c)     np.maximum(x, c)                    torch.clamp_min(x, c)
    a constant of x's dtype  x.dtype.type(c)                     x.new_tensor(c)
    {v₁ if c₁; …; v}         np.select([c₁, …], [v₁, …], v)      torch.where(c₁, v₁, …) nested
    a 1-D total, kept 1-D    v.sum(keepdims=True)                v.sum().reshape(1)

and the helpers the generated code calls (σ, softplus, erf, the clamped log) are written once per
backend. What the backends do with the printed statements differs only in the training step:
NumPy and CuPy compute it into preallocated buffers (`out=`, `codegen.inplace`), PyTorch updates
the parameters in place (`p.sub_(g, alpha=lr)`), and JAX's step is a pure function compiled by
`jax.jit` that returns the new parameters (JAX arrays are immutable).

No backend library is imported here: importing symnet never needs them. A generated module
imports its own, and `available(name)` says whether it can be imported.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

from ..errors import SpecError
from .helpers import HELPERS as _NUMPY_HELPERS


@dataclass(frozen=True)
class Backend:
    name: str
    prefix: str  # the namespace the generated code calls: np, jnp, torch, cp
    imports: tuple[str, ...]  # the module's import lines (numpy always comes first)
    package: str  # what `available` looks for
    out_buffers: bool = False  # the training step writes into preallocated arrays (out=)
    functional: bool = False  # arrays are immutable: steps return new parameters (JAX)
    renames: dict = field(default_factory=dict)  # numpy function name → this library's
    helpers: dict = field(default_factory=dict)  # helper name → its source (overrides)
    install: str = ""

    def fn(self, name: str) -> str:
        """The spelling of NumPy's function `name` (exp, maximum, where, …)."""
        return f"{self.prefix}.{self.renames.get(name, name)}"

    # ── the spellings that are not just another namespace ──
    def row_max(self, z: str) -> str:
        method = "amax" if self.name == "torch" else "max"
        return f"{z}.{method}(axis=1, keepdims=True)"

    def dot_all(self, a: str, b: str) -> str:
        """Σ A ⊙ B: a scalar. NumPy's vdot skips the temporary A ⊙ B; under jax.jit, vdot is
        a dot of the two arrays flattened (a reshape, then a separate reduction on CPUs),
        where the product and its sum are one fusion."""
        if self.name in ("torch", "jax"):
            a, b = (x if x.isidentifier() else f"({x})" for x in (a, b))
            return f"({a} * {b}).sum()"
        return f"{self.fn('vdot')}({a}, {b})"

    def matmul_transposed(self, a: str, b: str, ta: bool, tb: bool) -> str | None:
        """A B of two 2-D arrays, given untransposed, with `ta`, `tb` saying which is used
        transposed: for JAX an einsum, which lowers to one dot_general contracting the axes
        in place, as jax.grad's own backward pass does (`A.T @ B` is a transpose, then a dot,
        and XLA can copy Aᵀ out first); None for the others, which print `A.T @ B`."""
        if self.name != "jax" or not (ta or tb):
            return None
        left, right = "ki" if ta else "ik", "jk" if tb else "kj"
        return f'jnp.einsum("{left},{right}->ij", {a}, {b})'

    def total_1d(self, code: str) -> str:
        """The total of a 1-D array as a 1-element array."""
        if self.name == "torch":
            return f"{code}.sum().reshape(1)"
        return f"{code}.sum(keepdims=True)"

    def clamp(self, which: str, array: str, other: str, other_is_number: bool) -> str:
        """np.maximum(array, other) (which="max") or np.minimum."""
        if self.name == "torch" and other_is_number:
            return f"torch.clamp_{'min' if which == 'max' else 'max'}({array}, {other})"
        return f"{self.fn('maximum' if which == 'max' else 'minimum')}({array}, {other})"

    def constant_like(self, ref: str, value: str) -> str:
        """The number `value` in the dtype (and on the device) of array `ref`."""
        if self.name == "torch":
            return f"{ref}.new_tensor({value})"
        return f"{ref}.dtype.type({value})"

    def select(self, conds: list[str], values: list[str], default: str) -> str:
        if self.name == "torch":
            code = default
            for c, v in reversed(list(zip(conds, values))):
                code = f"torch.where({c}, {v}, {code})"
            return code
        return f"{self.fn('select')}([{', '.join(conds)}], [{', '.join(values)}], " \
               f"default={default})"


def _helpers_for(xp: str, erf: str, softplus: str, log_clamp: str) -> dict:
    return {
        "_sigmoid": f'''\
def _sigmoid(x):
    """σ(x) = 1/(1 + e^(−x)), written with e^(−|x|) ≤ 1 so that nothing overflows."""
    e = {xp}.exp(-{xp}.abs(x))
    return {xp}.where(x >= 0, 1, e) / (1 + e)
''',
        "_sigmoid_prime": f'''\
def _sigmoid_prime(x):
    """σ′(x) = σ(x)·σ(−x) = e^(−|x|)/(1 + e^(−|x|))²: no cancellation, nothing overflows."""
    e = {xp}.exp(-{xp}.abs(x))
    return e / (1 + e) ** 2
''',
        "_softplus": f'''\
def _softplus(x):
    """log(1 + e^x) = max(x, 0) + log1p(e^(−|x|)), which never overflows."""
    return {softplus}
''',
        "_erf": f'''\
def _erf(x):
    """erf entry by entry."""
    return {erf}(x)
''',
        "_log": f'''\
def _log(p):
    """log p clamped to ≥ −100, as PyTorch's BCELoss does (log 0 = −inf would poison L)."""
    return {log_clamp}
''',
    }


BACKENDS = {
    "numpy": Backend("numpy", "np", ("import numpy as np",), "numpy", out_buffers=True,
                     helpers=_NUMPY_HELPERS),
    "cupy": Backend(
        "cupy", "cp", ("import numpy as np", "import cupy as cp", "import cupyx.scipy.special"),
        "cupy", out_buffers=True,
        helpers=_helpers_for("cp", "cupyx.scipy.special.erf", "cp.logaddexp(0, x)",
                             "cp.maximum(cp.log(p), -100)"),
        install="pip install 'symnet[cupy]' (cupy-cuda12x; see CuPy's docs for other CUDA "
                "versions)"),
    "jax": Backend(
        "jax", "jnp", ("import numpy as np", "import jax", "import jax.numpy as jnp",
                       "import jax.scipy.special"),
        "jax", functional=True,
        helpers=_helpers_for("jnp", "jax.scipy.special.erf", "jnp.logaddexp(0, x)",
                             "jnp.maximum(jnp.log(p), -100)"),
        install="pip install 'symnet[jax]'"),
    "torch": Backend(
        "torch", "torch", ("import numpy as np", "import torch"), "torch",
        helpers=_helpers_for("torch", "torch.special.erf",
                             "torch.clamp_min(x, 0) + torch.log1p(torch.exp(-torch.abs(x)))",
                             "torch.clamp_min(torch.log(p), -100)"),
        install="pip install 'symnet[torch]'"),
}
NAMES = tuple(BACKENDS)


def backend_of(name) -> Backend:
    """The Backend called `name` (a Backend passes through); SpecError for an unknown one."""
    if isinstance(name, Backend):
        return name
    if name not in BACKENDS:
        raise SpecError(f"unknown backend {name!r}; choose from {', '.join(NAMES)}")
    return BACKENDS[name]


def available(name: str) -> bool:
    """Whether backend `name`'s library can be imported here (without importing it)."""
    return importlib.util.find_spec(backend_of(name).package) is not None


# ── the functions a backend's module adds: placing arrays on a device, targets ──────────


def asarray_function(xp) -> str:
    if xp.name == "torch":
        body = ['    """`a` as a tensor on `where` (a device, or an array whose device to use)."""',
                "    device = getattr(where, \"device\", where)",
                "    return torch.as_tensor(a, device=device)"]
    elif xp.name == "jax":
        body = ['    """`a` as a JAX array on `where` (a device, or an array whose device to '
                'use)."""',
                "    if hasattr(where, \"devices\"):",
                "        where = next(iter(where.devices()))",
                "    return jax.device_put(jnp.asarray(a), where)"]
    else:
        body = ['    """`a` as a CuPy array on `where` (a device id, or an array whose device to '
                'use)."""',
                "    device = getattr(where, \"device\", where)",
                "    if device is None:",
                "        return cp.asarray(a)",
                "    with cp.cuda.Device(getattr(device, \"id\", device)):",
                "        return cp.asarray(a)"]
    return "\n".join(["def _asarray(a, where=None):", *body])


def targets_function(net, xp) -> str:
    """`_targets(X, Y)` for arrays of a backend: Y as (B, n_out) on X's device."""
    n, classes = net.n_out, net.loss.name in ("softmax_ce", "ce")
    lines = ["def _targets(X, Y):",
             f'    """Y as (B, {n}): ' + ("integer class labels become one-hot rows"
                                        if classes else "a 1-D Y becomes a column")
             + '; any other shape is a ValueError."""',
             "    B = X.shape[0]",
             f"    if tuple(Y.shape) == (B, {n}):",
             "        return Y"]
    if classes:
        eye = {"torch": f"torch.eye({n}, dtype=X.dtype, device=X.device)[Y.long()]",
               "jax": f"jnp.eye({n}, dtype=X.dtype)[Y.astype(jnp.int32)]",
               "cupy": f"cp.eye({n}, dtype=X.dtype)[Y.astype(np.intp)]"}[xp.name]
        lines += ["    if tuple(Y.shape) == (B,):", f"        return {eye}"]
    elif n == 1:
        cast = "Y.reshape(B, 1).to(X.dtype)" if xp.name == "torch" else \
            "Y.reshape(B, 1).astype(X.dtype)"
        lines += ["    if tuple(Y.shape) == (B,):", f"        return {cast}"]
    lines += [f'    raise ValueError(f"Y has shape {{tuple(Y.shape)}}, the network needs ({{B}}, '
              f'{n})")']
    return "\n".join(lines)


__all__ = ["BACKENDS", "Backend", "NAMES", "asarray_function", "available", "backend_of",
           "targets_function"]

"""Training steps to time side by side: symnet's generated step on each backend, and the same
network trained by each library's own autograd.

    python benchmarks/run.py --only backends       # the table, on this CPU, one thread
    bash benchmarks/gpu_check.sh                    # the same on a GPU (gpu_check.py)

Every builder returns a `Step`: `run()` does one training step (forward, loss, backward, SGD
update of every parameter) and returns the loss as the library's scalar; `sync()` waits for the
device (a GPU runs asynchronously: a timing without it measures the launch, not the work). All
steps start from the same parameters (symnet's `init`, drawn by NumPy) on the same batch, so
their first losses agree: `first_losses_agree` checks it before anything is timed.

- symnet on numpy / cupy / torch: the generated `train_step` (in place; NumPy and CuPy into
  preallocated buffers); on jax: the generated `train_step`, compiled by `jax.jit`, pure.
- PyTorch eager autograd: `nn.Sequential` of Linear/ReLU, `F.cross_entropy`, `loss.backward()`,
  `torch.optim.SGD` (what one writes in PyTorch).
- jax.grad: the network written in jax.numpy, `jax.value_and_grad` of the loss and the SGD
  update in one function under `jax.jit` (what one writes in JAX).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import symnet as sn

LR = 1e-3


@dataclass
class Step:
    run: Callable
    sync: Callable = lambda: None
    hlo: Callable | None = None  # JAX: the optimized HLO text of the compiled step


def compiled_ops(hlo: str) -> dict:
    """{kind: count} of the operations of an optimized HLO module's entry computation: on a
    GPU each fusion and each custom-call (cuBLAS) is a kernel launch; copies and transposes
    move data that the math does not need moved."""
    import re
    from collections import Counter

    entry = hlo[hlo.index("\nENTRY"):]
    ops = Counter(re.findall(r"=\s(?:\([^)]*\)|\S+)\s([\w-]+)\(", entry))
    out = {k: ops[k] for k in ("fusion", "custom-call", "dot", "copy", "transpose") if ops[k]}
    out["total"] = sum(v for k, v in ops.items() if k not in (
        "parameter", "constant", "tuple", "get-tuple-element", "bitcast"))
    return out


def spec_of(sizes) -> str:
    return "-".join(map(str, sizes)) + " relu softmax_ce"


def data(sizes, batch, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    labels = rng.integers(0, sizes[-1], batch)
    return X, np.eye(sizes[-1], dtype=dtype)[labels], labels


def _sync(backend):
    if backend == "torch":
        import torch

        return torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    if backend == "cupy":
        import cupy

        return cupy.cuda.Device().synchronize
    return lambda: None


def symnet_step(backend, sizes, X, Y, dtype, device=None, lr_on_device=False,
                donate=False) -> Step:
    """The generated train_step of `backend`, from symnet's init(0), on (X, Y). JAX only:
    `lr_on_device` passes lr as an array placed on the device once (not a Python float, which
    jax.jit copies to the device at every call); `donate` compiles the same step with
    `donate_argnums=0` (XLA may write the new parameters over the old)."""
    model = sn.compile(spec_of(sizes), dtype=dtype, backend=backend, device=device)
    params = model.init(0)
    like = next(iter(params.values()))
    Xb, Yb = (X, Y) if backend == "numpy" else (model.asarray(X, like), model.asarray(Y, like))
    step = model.module.train_step
    if backend == "jax":
        import jax

        lr = model.asarray(np.asarray(LR, dtype), like) if lr_on_device or donate else LR
        if donate:
            step = jax.jit(step.__wrapped__, donate_argnums=0)
            params = {k: v.copy() for k, v in params.items()}
        held = [params]

        def run():
            held[0], L = step(held[0], Xb, Yb, lr)
            return L

        return Step(run, lambda: next(iter(held[0].values())).block_until_ready(),
                    lambda: step.lower(held[0], Xb, Yb, lr).compile().as_text())
    return Step(lambda: step(params, Xb, Yb, LR), _sync(backend))


def torch_autograd_step(sizes, X, labels, dtype, device="cpu") -> Step:
    """PyTorch eager as one writes it: nn.Sequential of Linear/ReLU, cross-entropy, SGD."""
    import torch
    import torch.nn.functional as F

    params = sn.compile(spec_of(sizes), dtype=dtype).init(0)
    tdtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[
        np.dtype(dtype)]
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:]), start=1):
        lin = torch.nn.Linear(n_in, n_out, dtype=tdtype, device=device)
        with torch.no_grad():  # the same starting point (nn.Linear stores W as Wᵀ)
            lin.weight.copy_(torch.as_tensor(params[f"W{k}"].T.copy(), device=device))
            lin.bias.copy_(torch.as_tensor(params[f"b{k}"], device=device))
        layers += [lin, torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    Xt = torch.as_tensor(X, device=device)
    target = torch.as_tensor(labels, device=device)

    def run():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(Xt), target)
        loss.backward()
        opt.step()
        return loss.detach()

    return Step(run, torch.cuda.synchronize if str(device).startswith("cuda") else lambda: None)


def jax_grad_step(sizes, X, Y, dtype, lr_traced=False) -> Step:
    """JAX as one writes it: the loss in jax.numpy, jax.value_and_grad, SGD, all under jit.
    `lr_traced`: lr a Python float argument of the step (as symnet's), not a constant."""
    import jax
    import jax.numpy as jnp

    if np.dtype(dtype) == np.float64:
        jax.config.update("jax_enable_x64", True)
    params = {k: jnp.asarray(v) for k, v in sn.compile(spec_of(sizes), dtype=dtype).init(0)
              .items()}
    n = len(sizes) - 1

    def loss(p, X, Y):
        A = X
        for k in range(1, n + 1):
            Z = A @ p[f"W{k}"] + p[f"b{k}"]
            A = jax.nn.relu(Z) if k < n else Z
        return -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(A, axis=1), axis=1))

    @jax.jit
    def step(p, X, Y, lr=LR):
        L, g = jax.value_and_grad(loss)(p, X, Y)
        return {k: p[k] - lr * g[k] for k in p}, L

    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)
    held = [params]
    args = (LR,) if lr_traced else ()

    def run():
        held[0], L = step(held[0], Xj, Yj, *args)
        return L

    return Step(run, lambda: next(iter(held[0].values())).block_until_ready(),
                lambda: step.lower(held[0], Xj, Yj, *args).compile().as_text())


def seconds_per_step(step: Step, n: int) -> float:
    """Wall-clock seconds per step over n steps (one sync at the end)."""
    step.sync()
    start = time.perf_counter()
    for _ in range(n):
        step.run()
    step.sync()
    return (time.perf_counter() - start) / n


def interleaved(steps: dict, repeats: int, seconds: float) -> dict:
    """{name: [seconds per step in each round]}: every step once per round, in a rotating
    order, n steps each (n so that the slowest takes about `seconds`); one untimed step first
    (JAX compiles there). Medians of such rounds discard the rounds a shared machine spoiled."""
    for s in steps.values():
        s.run()
        s.sync()
    slowest = max(seconds_per_step(s, 2) for s in steps.values())
    n = max(1, int(seconds / slowest))
    times = {name: [] for name in steps}
    names = list(steps)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            times[name].append(seconds_per_step(steps[name], n))
    return times


def first_losses_agree(steps: dict, rtol: float) -> dict:
    """{name: the first step's loss}, after checking that they agree to `rtol` (they start
    from the same parameters). Each step is then one step further than the others: harmless
    for timing."""
    from symnet.codegen.model import to_numpy

    first = {k: float(to_numpy(s.run())) for k, s in steps.items()}
    ref = next(iter(first.values()))
    bad = {k: v for k, v in first.items() if abs(v - ref) > rtol * max(1.0, abs(ref))}
    if bad:
        raise AssertionError(f"first losses differ: {first}")
    return first


__all__ = ["LR", "Step", "compiled_ops", "data", "first_losses_agree", "interleaved",
           "jax_grad_step", "seconds_per_step", "symnet_step", "torch_autograd_step"]

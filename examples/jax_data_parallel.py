"""Data-parallel training with symnet's generated JAX code: one batch split across devices.

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python examples/jax_data_parallel.py

symnet writes the network's forward and backward pass (its own derivation, no autograd) as JAX
code; JAX runs it on every device at once. Each device computes the loss and gradients of its
slice of the batch with the generated `loss_and_grads`; `jax.lax.pmean` averages them across
devices (an all-reduce: NCCL on GPUs, the ICI links on TPUs); every device then applies the same
SGD update (the generated `sgd_step`), so the parameters stay identical everywhere. With a loss
that is a mean over samples and equal slices, the average of the slices' gradients is the
gradient of the whole batch: the step is exactly the single-device step on the full batch,
which this script checks at the end.

On this CPU the flag above makes XLA pretend to have 4 devices (without it there is one, and the
script still runs). On GPUs or TPUs, the same code runs unchanged: `jax.devices()` lists the
accelerators, and the mesh below spans them; on several hosts, call
`jax.distributed.initialize()` first and the mesh spans every host's devices.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import symnet as sn  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--spec", default="64-128-10 relu softmax_ce")
parser.add_argument("--batch", type=int, default=256, help="global batch (split over devices)")
parser.add_argument("--steps", type=int, default=50)
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
args = parser.parse_args()


def main():
    try:
        import jax
    except ImportError:
        print("skipped: this example needs JAX (pip install 'symnet[jax]')")
        return
    import jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    shard_map = getattr(jax, "shard_map", None)  # public since JAX 0.6; before, experimental
    if shard_map is None:
        from jax.experimental.shard_map import shard_map

    # The generated module: loss_and_grads and sgd_step are plain JAX functions.
    model = sn.compile(args.spec, dtype=args.dtype, backend="jax")
    gen = model.module
    devices = jax.devices()
    n = len(devices)
    if args.batch % n:
        raise SystemExit(f"--batch {args.batch} must be divisible by the {n} devices")
    mesh = Mesh(np.array(devices), ("batch",))

    def local_step(params, X, Y, lr):
        """On each device: its slice's gradients, averaged over all devices, then the step."""
        L, grads = gen.loss_and_grads(params, X, Y)  # symnet's backward pass, this slice
        grads = jax.lax.pmean(grads, "batch")  # the all-reduce: mean over the devices
        L = jax.lax.pmean(L, "batch")
        return gen.sgd_step(params, grads, lr), L

    # Parameters replicated (P()), X and Y split along the batch axis (P("batch")).
    step = jax.jit(shard_map(local_step, mesh=mesh,
                             in_specs=(P(), P("batch"), P("batch"), P()),
                             out_specs=(P(), P())))

    # A toy classification task: the label is the largest of the first ten inputs' sums.
    net = model.network
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.batch * 8, net.n_in)).astype(args.dtype)
    labels = np.argmax(X[:, :net.n_out] + 0.5 * X[:, net.n_out:2 * net.n_out], axis=1)
    Y = np.eye(net.n_out, dtype=args.dtype)[labels]
    batch_sharding = NamedSharding(mesh, P("batch"))

    params = model.init(seed=0)  # the same starting point as every other backend
    single = dict(params)  # the single-device reference: the generated jitted train_step
    print(f"{args.spec}: {n} device(s) {[d.platform for d in devices]}, global batch "
          f"{args.batch} ({args.batch // n} per device), {args.dtype}")
    for t in range(args.steps):
        i = (t * args.batch) % len(X)
        Xb = jax.device_put(X[i:i + args.batch], batch_sharding)
        Yb = jax.device_put(Y[i:i + args.batch], batch_sharding)
        params, L = step(params, Xb, Yb, args.lr)
        single, L1 = gen.train_step(single, jnp.asarray(X[i:i + args.batch]),
                                    jnp.asarray(Y[i:i + args.batch]), args.lr)
        if t % 10 == 0 or t == args.steps - 1:
            print(f"step {t:3d}: loss {float(L):.6f} (one device, whole batch: {float(L1):.6f})")

    # Data-parallel equals single-device training on the whole batch, to rounding.
    tol = 1e-10 if args.dtype == "float64" else 2e-4
    worst = max(float(np.max(np.abs(np.asarray(params[k]) - np.asarray(single[k]))))
                / max(1.0, float(np.max(np.abs(np.asarray(single[k]))))) for k in params)
    accuracy = float(np.mean(np.argmax(np.asarray(gen.forward(params, jnp.asarray(X))), 1)
                             == labels))
    print(f"training accuracy {100 * accuracy:.1f}%; largest difference from single-device "
          f"training {worst:.2e} (tolerance {tol:g})")
    if not worst <= tol:
        raise SystemExit("data-parallel training differs from single-device training")
    print("ok: data-parallel steps equal single-device steps")


if __name__ == "__main__":
    main()

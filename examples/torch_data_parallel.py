"""Data-parallel training with symnet's generated PyTorch code: one batch split across processes.

    python examples/torch_data_parallel.py --processes 2

symnet writes the network's forward and backward pass (its own derivation, no autograd) as
PyTorch code. Each process computes the loss and gradients of its slice of the batch with the
generated `loss_and_grads`; `torch.distributed.all_reduce` sums them across processes (Gloo on
CPUs here; NCCL with one process per GPU), each process divides by their number and applies the
same SGD update (the generated `sgd_step`), so the parameters stay identical everywhere. With a
loss that is a mean over samples and equal slices, the average of the slices' gradients is the
gradient of the whole batch: the step is exactly the single-process step on the full batch,
which this script checks at the end.

Why not `DistributedDataParallel`: DDP wraps an `nn.Module` and averages the gradients that
autograd's backward pass leaves in `.grad`, through hooks on that pass. The generated step has
no autograd pass (symnet prints the backward pass itself), so the averaging is written out: one
all-reduce per parameter, which is what DDP's hooks do (DDP also buckets them and overlaps them
with the backward pass). On GPUs: `--backend nccl`, one process per GPU, `device=f"cuda:{rank}"`.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import symnet as sn  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--spec", default="64-128-10 relu softmax_ce")
parser.add_argument("--processes", type=int, default=2)
parser.add_argument("--batch", type=int, default=256, help="global batch (split over processes)")
parser.add_argument("--steps", type=int, default=50)
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
parser.add_argument("--backend", default="gloo", help="torch.distributed backend (gloo, nccl)")


def data(net, batch: int, dtype: str):
    """A toy classification task: the label is the largest of the first n_out inputs' sums."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch * 8, net.n_in)).astype(dtype)
    labels = np.argmax(X[:, :net.n_out] + 0.5 * X[:, net.n_out:2 * net.n_out], axis=1)
    return X, np.eye(net.n_out, dtype=dtype)[labels], labels


def worker(rank: int, world: int, args, port: int, queue):
    """One process: its slice of every batch, gradients summed by all_reduce."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)  # the processes share the machine's cores
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group(args.backend, rank=rank, world_size=world)
    try:
        model = sn.compile(args.spec, dtype=args.dtype, backend="torch")
        gen = model.module
        X, Y, _ = data(model.network, args.batch, args.dtype)
        params = model.init(seed=0)  # every process starts from the same parameters
        share = args.batch // world
        for t in range(args.steps):
            i = (t * args.batch) % len(X) + rank * share  # this process's slice
            Xs, Ys = torch.from_numpy(X[i:i + share]), torch.from_numpy(Y[i:i + share])
            L, grads = gen.loss_and_grads(params, Xs, Ys)  # symnet's backward pass
            for g in grads.values():  # the all-reduce: sum over the processes, then mean
                dist.all_reduce(g)
                g /= world
            L = L.clone()
            dist.all_reduce(L)
            gen.sgd_step(params, grads, args.lr)  # the same update in every process
            if rank == 0 and (t % 10 == 0 or t == args.steps - 1):
                print(f"step {t:3d}: loss {float(L) / world:.6f}", flush=True)
        if rank == 0:
            queue.put({k: v.numpy().copy() for k, v in params.items()})
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    args = parser.parse_args()
    try:
        import torch
        import torch.multiprocessing as mp
    except ImportError:
        print("skipped: this example needs PyTorch (pip install 'symnet[torch]')")
        return
    world = args.processes
    if args.batch % world:
        raise SystemExit(f"--batch {args.batch} must be divisible by the {world} processes")
    print(f"{args.spec}: {world} processes ({args.backend}), global batch {args.batch} "
          f"({args.batch // world} per process), {args.dtype}", flush=True)
    context = mp.get_context("spawn")
    queue = context.SimpleQueue()
    mp.start_processes(worker, args=(world, args, free_port(), queue), nprocs=world,
                       start_method="spawn")
    parallel = queue.get()

    # The reference: the generated PyTorch train_step in this process, on the whole batch.
    model = sn.compile(args.spec, dtype=args.dtype, backend="torch")
    X, Y, labels = data(model.network, args.batch, args.dtype)
    single = model.init(seed=0)
    for t in range(args.steps):
        i = (t * args.batch) % len(X)
        model.module.train_step(single, torch.from_numpy(X[i:i + args.batch]),
                                torch.from_numpy(Y[i:i + args.batch]), args.lr)
    tol = 1e-10 if args.dtype == "float64" else 2e-4
    worst = max(float(np.max(np.abs(parallel[k] - single[k].numpy())))
                / max(1.0, float(np.max(np.abs(single[k].numpy())))) for k in parallel)
    out = model.module.forward({k: torch.from_numpy(v) for k, v in parallel.items()},
                               torch.from_numpy(X))
    accuracy = float(np.mean(np.argmax(out.numpy(), 1) == labels))
    print(f"training accuracy {100 * accuracy:.1f}%; largest difference from single-process "
          f"training {worst:.2e} (tolerance {tol:g})")
    if not worst <= tol:
        raise SystemExit("data-parallel training differs from single-process training")
    print("ok: data-parallel steps equal single-process steps")


if __name__ == "__main__":
    main()

"""One training step (loss_and_grads + SGD update): generated code vs hand-written NumPy.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_step.py [--threads 1]

Both steps run in this process on the same data and parameters, interleaved (A B A B …) so that
drift in machine load hits both alike; the table reports the median time per step of each and
their ratio. BLAS threads are set before NumPy is imported (default 1). ReLU hidden layers and
softmax cross-entropy, as a classifier is usually trained; float32 and float64.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
parser.add_argument("--repeats", type=int, default=21, help="timed rounds per config")
parser.add_argument("--seconds", type=float, default=0.02, help="length of one timed round")
if __name__ == "__main__":  # imported (by run.py), the importer has set the threads already
    args = parser.parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

import numpy as np  # noqa: E402  (after the thread settings)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import symnet as sn  # noqa: E402

CONFIGS = [("64-32-10 relu softmax_ce", 32), ("784-128-10 relu softmax_ce", 64),
           ("784-256-256-10 relu softmax_ce", 256)]
LR = 1e-3


# ── the hand-written steps: what one writes by hand for these networks ─────────────────────


def hand_step_1(p, X, Y, lr):
    """One hidden ReLU layer, softmax cross-entropy on logits."""
    W1, b1, W2, b2 = p["W1"], p["b1"], p["W2"], p["b2"]
    B = X.shape[0]
    Z1 = X @ W1 + b1
    A1 = np.maximum(Z1, 0)
    Z2 = A1 @ W2 + b2
    Z2 = Z2 - Z2.max(axis=1, keepdims=True)
    E = np.exp(Z2)
    S = E.sum(axis=1, keepdims=True)
    L = (np.log(S).sum() - (Y * Z2).sum()) / B
    dZ2 = (E / S - Y) / B
    dW2 = A1.T @ dZ2
    db2 = dZ2.sum(axis=0)
    dZ1 = (dZ2 @ W2.T) * (Z1 > 0)
    dW1 = X.T @ dZ1
    db1 = dZ1.sum(axis=0)
    W1 -= lr * dW1
    b1 -= lr * db1
    W2 -= lr * dW2
    b2 -= lr * db2
    return L


def hand_step_2(p, X, Y, lr):
    """Two hidden ReLU layers, softmax cross-entropy on logits."""
    W1, b1, W2, b2, W3, b3 = (p[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    B = X.shape[0]
    Z1 = X @ W1 + b1
    A1 = np.maximum(Z1, 0)
    Z2 = A1 @ W2 + b2
    A2 = np.maximum(Z2, 0)
    Z3 = A2 @ W3 + b3
    Z3 = Z3 - Z3.max(axis=1, keepdims=True)
    E = np.exp(Z3)
    S = E.sum(axis=1, keepdims=True)
    L = (np.log(S).sum() - (Y * Z3).sum()) / B
    dZ3 = (E / S - Y) / B
    dW3 = A2.T @ dZ3
    db3 = dZ3.sum(axis=0)
    dZ2 = (dZ3 @ W3.T) * (Z2 > 0)
    dW2 = A1.T @ dZ2
    db2 = dZ2.sum(axis=0)
    dZ1 = (dZ2 @ W2.T) * (Z1 > 0)
    dW1 = X.T @ dZ1
    db1 = dZ1.sum(axis=0)
    for param, grad in ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2), (W3, dW3), (b3, db3)):
        param -= lr * grad
    return L


HAND = {2: hand_step_1, 3: hand_step_2}


# ── timing ──────────────────────────────────────────────────────────────────────────────────


def per_step(step, n) -> float:
    start = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - start) / n


def bench(spec, batch, dtype):
    model = sn.compile(spec, dtype=dtype)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, model.network.n_in)).astype(dtype)
    Y = np.eye(model.network.n_out, dtype=dtype)[rng.integers(0, model.network.n_out, batch)]
    gen_params, hand_params = model.init(0), model.init(0)
    gen, hand = model.module, HAND[len(gen_params) // 2]

    def generated_step():
        L, grads = gen.loss_and_grads(gen_params, X, Y)
        gen.sgd_step(gen_params, grads, LR)
        return L

    def hand_step():
        return hand(hand_params, X, Y, LR)

    # Same numbers first: both steps from the same point give the same loss.
    L_gen, L_hand = generated_step(), hand_step()
    assert abs(float(L_gen) - float(L_hand)) <= 1e-4 * abs(float(L_hand)), (L_gen, L_hand)
    assert all(gen_params[k].dtype == dtype for k in gen_params)
    n = max(1, int(args.seconds / per_step(generated_step, 5)))
    gen_times, hand_times = [], []
    for _ in range(args.repeats):
        gen_times.append(per_step(generated_step, n))
        hand_times.append(per_step(hand_step, n))
    g, h = float(np.median(gen_times)), float(np.median(hand_times))
    return g, h


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info

        pools = [f"{p['internal_api']} {p.get('version', '')} ({p['num_threads']} threads, "
                 f"{p.get('architecture', '?')})" for p in threadpool_info()]
        return "; ".join(pools) or "none found"
    except ImportError:
        return "threadpoolctl not installed (np.show_config() lists the BLAS NumPy was built with)"


def main():
    tuning = [f"{v}={os.environ[v]!r}" for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
              if v in os.environ]
    notes = [f"numpy {np.__version__}, BLAS: {blas_info()}",
             f"OPENBLAS_NUM_THREADS={args.threads}; "
             + (", ".join(tuning) or "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset")]
    print("\n".join(f"<!-- {n} -->" for n in notes))
    print()
    print("| network | batch | dtype | generated (µs/step) | hand-written (µs/step) | ratio |")
    print("|---|---:|---|---:|---:|---:|")
    worst = 0.0
    for spec, batch in CONFIGS:
        for dtype in (np.float32, np.float64):
            g, h = bench(spec, batch, dtype)
            worst = max(worst, g / h)
            print(f"| {spec} | {batch} | {np.dtype(dtype).name} | {g * 1e6:.1f} | "
                  f"{h * 1e6:.1f} | {g / h:.3f} |", flush=True)
    print(f"\nworst ratio generated/hand-written: {worst:.3f} (target ≤ 1.10)")


if __name__ == "__main__":
    main()

"""The checked API `model.loss_and_grads` (validation, then the generated step) against the raw
generated `model.module.loss_and_grads`, side by side: interleaved rounds, medians, 1 BLAS
thread. Issue 14's target: checked / raw ≤ 1.10 at 64-32-10 (batch 32) and 784-128-10
(batch 64).

    python benchmarks/bench_api.py [ROUNDS]      # prints a Markdown table; benchmarks/run.py
                                                 # --only api puts the same table in RESULTS.md
"""

from __future__ import annotations

import os

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import symnet as sn  # noqa: E402

CONFIGS = [("64-32-10 relu softmax_ce", 32), ("784-128-10 relu softmax_ce", 64)]
HEAD = ["network / batch", "dtype", "raw (ms)", "checked (ms)", "checked / raw",
        "process CPU: checked / raw", "labels / raw", "own dict / raw",
        "new arrays: checked / raw"]


def per_call(f, n, process=None):
    """CPU seconds of this thread per call (time.thread_time: the time the thread was
    descheduled by other processes on a shared machine does not count; BLAS runs 1 thread,
    this one). The process's CPU seconds for the n calls are added to `process[0]`."""
    p, t = time.process_time(), time.thread_time()
    for _ in range(n):
        f()
    t = time.thread_time() - t
    if process is not None:
        process[0] += time.process_time() - p
    return t / n


def _quartiles(x) -> str:
    q1, q2, q3 = np.percentile(x, [25, 50, 75])
    return f"{q2:.3f} ({q1:.2f}–{q3:.2f})"


def measure(rounds: int = 200, inner: int = 20) -> list[list]:
    """Rows of HEAD: median CPU times over interleaved rounds, and the median (quartiles in
    parentheses: the noise) of the per-round ratios, paired so that load drifting between
    rounds cancels.

    *checked*: the same X and Y in every call (a full batch; every call reads every array:
    nothing is remembered between calls), the parameters from model.init() (views into one
    buffer). *process CPU*: the ratio of the process's CPU time summed over all rounds.
    *labels*: Y as integer class labels, converted to one-hot rows on every call (the raw step
    gets the one-hot rows). *own dict*: the parameters as a dict of separate arrays, each
    scanned on its own. *new arrays*: a new X and Y object in every call (`X[:]`, as
    minibatches are), for the raw step too."""
    rows = []
    for spec, batch in CONFIGS:
        for dtype in (np.float32, np.float64):
            model = sn.compile(spec, dtype=dtype)
            params = model.init(0)
            rng = np.random.default_rng(0)
            n_in, n_out = model.network.n_in, model.network.n_out
            X = rng.standard_normal((batch, n_in)).astype(dtype)
            labels = rng.integers(0, n_out, batch)
            Y = np.eye(n_out, dtype=dtype)[labels]
            own = {k: v.copy() for k, v in params.items()}
            raw = model.module.loss_and_grads
            checked = model.loss_and_grads
            variants = {
                "raw": lambda: raw(params, X, Y),  # noqa: B023 - called in this iteration
                "checked": lambda: checked(params, X, Y),  # noqa: B023
                "labels": lambda: checked(params, X, labels),  # noqa: B023
                "own dict": lambda: checked(own, X, Y),  # noqa: B023
                "raw new": lambda: raw(params, X[:], Y[:]),  # noqa: B023
                "checked new": lambda: checked(params, X[:], Y[:]),  # noqa: B023
            }
            assert checked(params, X, labels)[0] == raw(params, X, Y)[0]
            for f in variants.values():  # warm-up
                per_call(f, inner)
            times = {k: [] for k in variants}
            cpu = {k: [0.0] for k in variants}
            names = list(variants)
            for r in range(rounds):
                k0 = r % len(names)
                for k in names[k0:] + names[:k0]:  # each goes first in turn
                    times[k].append(per_call(variants[k], inner, cpu[k]))
            t = {k: np.array(v) for k, v in times.items()}
            rows.append([f"{spec.split()[0]} / {batch}", np.dtype(dtype).name,
                         f"{1e3 * np.median(t['raw']):.4f}",
                         f"{1e3 * np.median(t['checked']):.4f}",
                         _quartiles(t["checked"] / t["raw"]),
                         f"{cpu['checked'][0] / cpu['raw'][0]:.3f}",
                         _quartiles(t["labels"] / t["raw"]),
                         _quartiles(t["own dict"] / t["raw"]),
                         _quartiles(t["checked new"] / t["raw new"])])
    return rows


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    rows = measure(rounds)
    print("| " + " | ".join(HEAD) + " |")
    print("|" + "|".join(["---", "---"] + ["---:"] * (len(HEAD) - 2)) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()

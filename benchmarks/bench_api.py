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

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import symnet as sn  # noqa: E402

CONFIGS = [("64-32-10 relu softmax_ce", 32), ("784-128-10 relu softmax_ce", 64)]
HEAD = ["network / batch", "dtype", "raw (ms)", "checked (ms)", "checked / raw",
        "checked, labels (ms)", "labels / raw"]


def per_call(f, n):
    t = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - t) / n


def measure(rounds: int = 200, inner: int = 20) -> list[list]:
    """Rows of HEAD: medians over interleaved rounds, and the median of the per-round ratios
    (paired, so that load drifting between rounds cancels)."""
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
            raw = model.module.loss_and_grads
            variants = {
                "raw": lambda: raw(params, X, Y),  # noqa: B023 - called in this iteration
                "checked": lambda: model.loss_and_grads(params, X, Y),  # noqa: B023
                "labels": lambda: model.loss_and_grads(params, X, labels),  # noqa: B023
            }
            for f in variants.values():  # warm-up
                per_call(f, inner)
            times = {k: [] for k in variants}
            names = list(variants)
            for r in range(rounds):
                for k in names[r % 3:] + names[:r % 3]:  # each goes first in turn
                    times[k].append(per_call(variants[k], inner))
            med = {k: statistics.median(v) for k, v in times.items()}
            ratio = {k: statistics.median(np.array(times[k]) / np.array(times["raw"]))
                     for k in ("checked", "labels")}
            rows.append([f"{spec.split()[0]} / {batch}", np.dtype(dtype).name,
                         f"{1e3 * med['raw']:.4f}", f"{1e3 * med['checked']:.4f}",
                         f"{ratio['checked']:.2f}", f"{1e3 * med['labels']:.4f}",
                         f"{ratio['labels']:.2f}"])
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

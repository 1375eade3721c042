"""How much does verifying a real-sized MLP cost?  784-256-256-10 (≈270k params), batch 64.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_verify.py

Prints loss evaluations, wall time, and the 2·n_params evaluations that entry-by-entry central
differences would need. A correct network (with and without the complex step), then one with
a single wrong column in W2.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from symnet.checking.verify import verify  # noqa: E402

SIZES = (784, 256, 256, 10)
B = 64


def make(bug=False, sizes=SIZES, batch=B):
    """(grads, loss, params, X, Y) of a ReLU MLP with layer widths `sizes` (run.py varies them)."""
    rng = np.random.default_rng(0)
    params = {}
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:]), start=1):
        params[f"W{k}"] = rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)
        params[f"b{k}"] = 0.1 * rng.standard_normal(n_out)
    X = rng.standard_normal((batch, sizes[0]))
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], batch)]
    n = len(sizes) - 1

    def forward(p, X):
        A, cache = X, []
        for k in range(1, n + 1):
            Z = A @ p[f"W{k}"] + p[f"b{k}"]
            cache.append((A, Z))
            A = np.maximum(Z, 0.0) if k < n else Z
        return A, cache

    def loss(p, X, Y):  # mean softmax cross-entropy from logits
        Z, _ = forward(p, X)
        m = Z.max(axis=1, keepdims=True)
        logp = Z - m - np.log(np.exp(Z - m).sum(axis=1, keepdims=True))
        return -np.sum(Y * logp) / X.shape[0]

    def grads(p, X, Y):
        Z, cache = forward(p, X)
        E = np.exp(Z - Z.max(axis=1, keepdims=True))
        dZ = (E / E.sum(axis=1, keepdims=True) - Y) / X.shape[0]
        g = {}
        for k in range(n, 0, -1):
            A, Zk = cache[k - 1]
            if k < n:
                dZ = dZ * (Zk > 0)
            g[f"W{k}"], g[f"b{k}"] = A.T @ dZ, dZ.sum(axis=0)
            dZ = dZ @ p[f"W{k}"].T
        if bug:
            g["W2"][:, 7] *= 1.5
        return g

    return grads, loss, params, X, Y


def main():
    cases = (("correct", False, False), ("correct, real-only loss (no complex step)", False, True),
             ("W2 column 7 wrong", True, False))
    for label, bug, real_only in cases:
        grads, loss, params, X, Y = make(bug)
        if real_only:
            loss = (lambda f: lambda p, X, Y: float(f(p, X, Y)))(loss)
        verify(grads, loss=loss, params=params, X=X, Y=Y)  # warm-up (BLAS, imports)
        t = time.perf_counter()
        report = verify(grads, loss=loss, params=params, X=X, Y=Y)
        wall = time.perf_counter() - t
        print(f"{label}: ok={report.ok}  n_params={report.n_params}  "
              f"loss evaluations={report.n_loss_evals}  wall={wall:.3f} s  "
              f"(entry-by-entry central differences: {2 * report.n_params} evaluations)")
        if bug:
            print(report)


if __name__ == "__main__":
    main()

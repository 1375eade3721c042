"""One RNN training step: symnet's generated code vs hand-written NumPy BPTT vs PyTorch eager.

    python benchmarks/bench_rnn.py [--threads 1] [--repeats 21]

The network is `RNN(n, h)` (tanh, last state) → `Dense(h, c)` with softmax cross-entropy, a
step being loss, gradients and an SGD update. The three steps run in this process on the same
data and parameters, interleaved (A B C A B C …) so that drift in machine load hits all alike;
the table reports the median time per step and the ratios to the generated one (above 1: the
generated step is faster), by the wall clock and by this process's CPU time. BLAS (and
PyTorch) threads are set before NumPy is imported (default 1). PyTorch is optional: without
it its column is left out.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
parser.add_argument("--repeats", type=int, default=21, help="timed rounds per config")
parser.add_argument("--seconds", type=float, default=0.05, help="length of one timed round")
if __name__ == "__main__":  # imported by benchmarks/run.py, which sets the threads itself
    args = parser.parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

import numpy as np  # noqa: E402  (after the thread settings)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import symnet as sn  # noqa: E402

try:
    import torch
except ImportError:  # the PyTorch column is optional
    torch = None

# (T, n_in, hidden, classes, batch)
CONFIGS = [(16, 8, 32, 4, 32), (32, 16, 64, 4, 64), (64, 32, 128, 10, 128)]
LR = 1e-3


def hand_step(p, X, Y, lr):
    """RNN + dense + softmax cross-entropy, backpropagation through time written by hand."""
    B, T, _ = X.shape
    Wx, Wh, b, W, c = p["Wx1"], p["Wh1"], p["b1"], p["W2"], p["b2"]
    H = np.empty((B, T, Wh.shape[0]), dtype=X.dtype)
    A = (X.reshape(B * T, -1) @ Wx).reshape(H.shape) + b
    h = np.zeros((B, Wh.shape[0]), dtype=X.dtype)
    for t in range(T):
        h = H[:, t] = np.tanh(A[:, t] + h @ Wh)
    Z = h @ W + c
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    P = E / E.sum(axis=1, keepdims=True)
    loss = -np.sum(Y * np.log(P)) / B
    dZ = (P - Y) / B
    dW, dc = h.T @ dZ, dZ.sum(0)
    dh = dZ @ W.T
    dA = np.empty_like(H)
    for t in range(T - 1, -1, -1):
        dh = dA[:, t] = dh * (1 - H[:, t] ** 2)
        dh = dh @ Wh.T
    dA2 = dA.reshape(B * T, -1)
    dWx = X.reshape(B * T, -1).T @ dA2
    dWh = H[:, :-1].reshape(-1, H.shape[2]).T @ dA[:, 1:].reshape(-1, H.shape[2])
    db = dA2.sum(0)
    for name, g in (("Wx1", dWx), ("Wh1", dWh), ("b1", db), ("W2", dW), ("b2", dc)):
        p[name] -= lr * g
    return loss


def per_step(step, seconds) -> tuple[float, float]:
    """(wall, CPU) seconds per step over one round: this process's CPU time is less sensitive
    than the wall clock to other processes sharing the machine."""
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - start) < seconds or n < 2:
        step()
        n += 1
    return elapsed / n, (time.process_time() - cpu) / n


def bench(config, dtype, repeats, seconds):
    T, n, h, classes, batch = config
    net = sn.Network([sn.RNN(n, h), sn.Dense(h, classes)], loss=sn.SoftmaxCrossEntropy(),
                     input_shape=(T, n))
    model = sn.compile(net, dtype)
    module = model.module
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, T, n)).astype(dtype)
    Y = np.eye(classes, dtype=dtype)[rng.integers(0, classes, batch)]
    Xflat = X.reshape(batch, -1)
    p_gen, p_hand = model.init(0), model.init(0)

    def generated():
        _, grads = module.loss_and_grads(p_gen, Xflat, Y)
        module.sgd_step(p_gen, grads, LR)

    steps = {"generated": generated, "hand-written": lambda: hand_step(p_hand, X, Y, LR)}
    if torch is not None:
        tdtype = torch.float32 if dtype == np.float32 else torch.float64
        rnn = torch.nn.RNN(n, h, batch_first=True).to(tdtype)
        lin = torch.nn.Linear(h, classes).to(tdtype)
        opt = torch.optim.SGD([*rnn.parameters(), *lin.parameters()], lr=LR)
        tX, tY = torch.from_numpy(X), torch.from_numpy(Y.argmax(1))

        def torch_step():
            opt.zero_grad()
            out, _ = rnn(tX)
            loss = torch.nn.functional.cross_entropy(lin(out[:, -1]), tY)
            loss.backward()
            opt.step()

        steps["PyTorch eager"] = torch_step
    for step in steps.values():
        step()  # warm up
    times = {k: [] for k in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            times[name].append(per_step(step, seconds))
    return ({k: float(np.median([w for w, _ in v])) for k, v in times.items()},
            {k: float(np.median([c for _, c in v])) for k, v in times.items()})


HEAD = ("T", "n_in", "h", "B", "dtype", "generated", "hand-written NumPy", "hand/gen",
        "hand/gen CPU time", "PyTorch eager", "PyTorch/gen")


def measure(dtypes, repeats, seconds, configs=CONFIGS, say=None):
    """One table row per (config, dtype): median step times and their ratios to the generated
    step (above 1: the generated step is faster), by the wall clock and by CPU time.
    `say(row)` is called as each row is measured (benchmarks/run.py prints progress)."""
    rows = []
    for config, dtype in ((c, d) for c in configs for d in dtypes):
        t, cpu = bench(config, dtype, repeats, seconds)
        T, n, h, _, batch = config
        torch_t = t.get("PyTorch eager")
        rows.append((str(T), str(n), str(h), str(batch), np.dtype(dtype).name,
                     f"{1e3 * t['generated']:.3f} ms", f"{1e3 * t['hand-written']:.3f} ms",
                     f"{t['hand-written'] / t['generated']:.2f}",
                     f"{cpu['hand-written'] / cpu['generated']:.2f}",
                     f"{1e3 * torch_t:.3f} ms" if torch_t else "-",
                     f"{torch_t / t['generated']:.2f}" if torch_t else "-"))
        if say:
            say(rows[-1])
    return rows


def main():
    if torch is not None:
        torch.set_num_threads(args.threads)
    print(f"RNN training step, median of {args.repeats} interleaved rounds, {args.threads} "
          f"thread(s); NumPy {np.__version__}"
          + (f", PyTorch {torch.__version__}" if torch is not None else ", no PyTorch"))
    print("| " + " | ".join(HEAD) + " |")
    print("|" + "---|" * len(HEAD))
    measure((np.float32, np.float64), args.repeats, args.seconds,
            say=lambda row: print("| " + " | ".join(row) + " |", flush=True))


if __name__ == "__main__":
    main()

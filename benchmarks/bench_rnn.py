"""One recurrent training step: symnet's generated code vs hand-written NumPy BPTT vs PyTorch.

    python benchmarks/bench_rnn.py [--threads 1] [--repeats 21]

The network is `RNN(n, h)` (tanh), `LSTM(n, h)` or `GRU(n, h)` (last state) → `Dense(h, c)`
with softmax cross-entropy, a step being loss, gradients and an SGD update. The hand-written
steps are clean NumPy BPTT as a careful person writes it (each keeps its gates and states from
the forward loop; σ′ = σ(1 − σ), tanh′ = 1 − tanh²); PyTorch's are eager nn.RNN, nn.LSTM,
nn.GRU with autograd. The three steps run in this process on the same data and parameters,
interleaved (A B C A B C …) so that drift in machine load hits all alike;
the table reports the median time per step and the ratios to the generated one (above 1: the
generated step is faster), by the wall clock and by this process's CPU time. BLAS (and
PyTorch) threads are set before NumPy is imported (default 1). PyTorch is optional: without
it its column is left out."""

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

# (cell, T, n_in, hidden, classes, batch); the LSTM and GRU at the two smaller sizes only, as
# a step of the largest takes ~0.3 s and the section is to stay under a minute
CONFIGS = [("rnn", 16, 8, 32, 4, 32), ("rnn", 32, 16, 64, 4, 64), ("rnn", 64, 32, 128, 10, 128),
           ("lstm", 16, 8, 32, 4, 32), ("lstm", 32, 16, 64, 4, 64),
           ("gru", 16, 8, 32, 4, 32), ("gru", 32, 16, 64, 4, 64)]
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


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax_ce(h, W, c, Y):
    """Loss, ∂L/∂W, ∂L/∂c and ∂L/∂h of softmax cross-entropy on the dense layer h W + c."""
    B = h.shape[0]
    Z = h @ W + c
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    P = E / E.sum(axis=1, keepdims=True)
    loss = -np.sum(Y * np.log(P)) / B
    dZ = (P - Y) / B
    return loss, h.T @ dZ, dZ.sum(0), dZ @ W.T


def _input_grads(X, dA):
    """∂L/∂Wx and ∂L/∂b of a recurrence's input term from δ of every step (B, T, ·)."""
    dA2 = dA.reshape(-1, dA.shape[2])
    return X.reshape(dA2.shape[0], -1).T @ dA2, dA2.sum(0)


def _recurrent_grad(H, dA):
    """∂L/∂Wh = Σₜ H[t−1]ᵀ δ[t] (t = 2…T) from the states H and δ of every step."""
    return H[:, :-1].reshape(-1, H.shape[2]).T @ dA[:, 1:].reshape(-1, dA.shape[2])


def lstm_hand_step(p, X, Y, lr):
    """LSTM (PyTorch's gates i, f, g, o) + dense + softmax cross-entropy, BPTT by hand: the
    gates, memories and tanh(c) kept from the forward loop, σ′ = σ(1 − σ), tanh′ = 1 − tanh²."""
    B, T, _ = X.shape
    Wx, Wh, b, W, c = p["Wx1"], p["Wh1"], p["b1"], p["W2"], p["b2"]
    h = Wh.shape[0]
    A = (X.reshape(B * T, -1) @ Wx).reshape(B, T, 4 * h) + b
    I, F, G, O, C, TC, H = (np.empty((B, T, h), dtype=X.dtype) for _ in range(7))
    s = cell = np.zeros((B, h), dtype=X.dtype)
    for t in range(T):
        z = A[:, t] + s @ Wh
        i = I[:, t] = _sigmoid(z[:, :h])
        f = F[:, t] = _sigmoid(z[:, h:2 * h])
        g = G[:, t] = np.tanh(z[:, 2 * h:3 * h])
        o = O[:, t] = _sigmoid(z[:, 3 * h:])
        cell = C[:, t] = f * cell + i * g
        tc = TC[:, t] = np.tanh(cell)
        s = H[:, t] = o * tc
    loss, dW, dc, dh = _softmax_ce(s, W, c, Y)
    dA = np.empty_like(A)
    dcell = np.zeros_like(dh)
    for t in range(T - 1, -1, -1):
        i, f, g, o, tc = I[:, t], F[:, t], G[:, t], O[:, t], TC[:, t]
        dcell = dcell + dh * o * (1 - tc * tc)
        dA[:, t, :h] = dcell * g * i * (1 - i)
        dA[:, t, h:2 * h] = dcell * C[:, t - 1] * f * (1 - f) if t else 0
        dA[:, t, 2 * h:3 * h] = dcell * i * (1 - g * g)
        dA[:, t, 3 * h:] = dh * tc * o * (1 - o)
        dcell = dcell * f
        dh = dA[:, t] @ Wh.T
    (dWx, db), dWh = _input_grads(X, dA), _recurrent_grad(H, dA)
    for name, grad in (("Wx1", dWx), ("Wh1", dWh), ("b1", db), ("W2", dW), ("b2", dc)):
        p[name] -= lr * grad
    return loss


def gru_hand_step(p, X, Y, lr):
    """GRU (PyTorch's: gates r, z, n, the hidden part of n gated by r) + dense + softmax
    cross-entropy, BPTT by hand: the gates and hidden parts kept from the forward loop."""
    B, T, _ = X.shape
    Wx, Wh, b, bh, W, c = p["Wx1"], p["Wh1"], p["b1"], p["bh1"], p["W2"], p["b2"]
    h = Wh.shape[0]
    A = (X.reshape(B * T, -1) @ Wx).reshape(B, T, 3 * h) + b
    Hid = np.empty_like(A)
    R, U, N, S = (np.empty((B, T, h), dtype=X.dtype) for _ in range(4))
    s = np.zeros((B, h), dtype=X.dtype)
    for t in range(T):
        q = Hid[:, t] = s @ Wh + bh
        r = R[:, t] = _sigmoid(A[:, t, :h] + q[:, :h])
        u = U[:, t] = _sigmoid(A[:, t, h:2 * h] + q[:, h:2 * h])
        n = N[:, t] = np.tanh(A[:, t, 2 * h:] + r * q[:, 2 * h:])
        s = S[:, t] = (1 - u) * n + u * s
    loss, dW, dc, dh = _softmax_ce(s, W, c, Y)
    dA, dHid = np.empty_like(A), np.empty_like(A)
    for t in range(T - 1, -1, -1):
        r, u, n = R[:, t], U[:, t], N[:, t]
        dn = dh * (1 - u) * (1 - n * n)
        dA[:, t, :h] = dHid[:, t, :h] = dn * Hid[:, t, 2 * h:] * r * (1 - r)
        s_prev = S[:, t - 1] if t else 0
        dA[:, t, h:2 * h] = dHid[:, t, h:2 * h] = dh * (s_prev - n) * u * (1 - u)
        dA[:, t, 2 * h:] = dn
        dHid[:, t, 2 * h:] = dn * r
        dh = dh * u + dHid[:, t] @ Wh.T
    (dWx, db), dWh, dbh = _input_grads(X, dA), _recurrent_grad(S, dHid), dHid.sum((0, 1))
    for name, grad in (("Wx1", dWx), ("Wh1", dWh), ("b1", db), ("bh1", dbh), ("W2", dW),
                       ("b2", dc)):
        p[name] -= lr * grad
    return loss


def per_step(step, seconds) -> tuple[float, float]:
    """(wall, CPU) seconds per step over one round: this process's CPU time is less sensitive
    than the wall clock to other processes sharing the machine."""
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - start) < seconds or n < 2:
        step()
        n += 1
    return elapsed / n, (time.process_time() - cpu) / n


LAYERS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
HAND = {"rnn": hand_step, "lstm": lstm_hand_step, "gru": gru_hand_step}


def steps_of(config, dtype):
    """{name: one training step} of the generated, hand-written and PyTorch steps, each on its
    own copy of the same parameters and on the same data."""
    cell, T, n, h, classes, batch = config
    layer = getattr(sn, LAYERS[cell])(n, h)
    net = sn.Network([layer, sn.Dense(h, classes)], loss=sn.SoftmaxCrossEntropy(),
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

    hand = HAND[cell]
    steps = {"generated": generated, "hand-written": lambda: hand(p_hand, X, Y, LR)}
    if torch is not None:
        tdtype = torch.float32 if dtype == np.float32 else torch.float64
        rnn = getattr(torch.nn, LAYERS[cell])(n, h, batch_first=True).to(tdtype)
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
    return steps


def bench(config, dtype, repeats, seconds):
    steps = steps_of(config, dtype)
    for step in steps.values():
        step()  # warm up
    times = {k: [] for k in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            times[name].append(per_step(step, seconds))
    return ({k: float(np.median([w for w, _ in v])) for k, v in times.items()},
            {k: float(np.median([c for _, c in v])) for k, v in times.items()})


HEAD = ("cell", "T", "n_in", "h", "B", "dtype", "generated", "hand-written NumPy", "hand/gen",
        "hand/gen CPU time", "PyTorch eager", "PyTorch/gen")


def measure(dtypes, repeats, seconds, configs=CONFIGS, say=None):
    """One table row per (config, dtype): median step times and their ratios to the generated
    step (above 1: the generated step is faster), by the wall clock and by CPU time.
    `say(row)` is called as each row is measured (benchmarks/run.py prints progress)."""
    rows = []
    for config, dtype in ((c, d) for c in configs for d in dtypes):
        t, cpu = bench(config, dtype, repeats, seconds)
        cell, T, n, h, _, batch = config
        torch_t = t.get("PyTorch eager")
        rows.append((LAYERS[cell], str(T), str(n), str(h), str(batch), np.dtype(dtype).name,
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
    print(f"Recurrent training step, median of {args.repeats} interleaved rounds, {args.threads} "
          f"thread(s); NumPy {np.__version__}"
          + (f", PyTorch {torch.__version__}" if torch is not None else ", no PyTorch"))
    print("| " + " | ".join(HEAD) + " |")
    print("|" + "---|" * len(HEAD))
    measure((np.float32, np.float64), args.repeats, args.seconds,
            say=lambda row: print("| " + " | ".join(row) + " |", flush=True))


if __name__ == "__main__":
    main()

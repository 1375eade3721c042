"""One CNN training step (loss_and_grads + SGD update): symnet's generated code vs a vectorized
hand-written NumPy CNN vs PyTorch eager (when installed), all on one thread.

    python benchmarks/bench_conv.py [--repeats 15] [--seconds 0.05]

The three steps run in this process on the same data and parameters, interleaved (A B C A B C …)
so that drift in the load of a shared machine hits them alike; the table gives the median time
per step and the ratios to the hand-written step, and the peak memory a step allocates
(tracemalloc; NumPy reports its buffers to it, PyTorch does not, so its column is empty). The
hand-written CNN is what one writes with NumPy: im2col by `sliding_window_view`, the columns
kept from the forward pass for ∂L/∂W, col2im by one strided add per kernel offset, max-pool by
a reshape. Before timing, its gradients are compared with the generated ones.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--repeats", type=int, default=15, help="timed rounds per config")
parser.add_argument("--seconds", type=float, default=0.05, help="length of one timed round")
parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
if __name__ == "__main__":
    args = parser.parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"

import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402  (after the thread settings)
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import symnet as sn  # noqa: E402

LR = 1e-2


def digits_cnn():
    return sn.Network([sn.Conv2d(1, 16, 3, padding=1), sn.ReLU(), sn.MaxPool2d(2), sn.Flatten(),
                       sn.Dense(16 * 4 * 4, 10)], loss=sn.SoftmaxCrossEntropy(),
                      input_shape=(1, 8, 8))


def mnist_cnn():
    return sn.Network([sn.Conv2d(1, 8, 3, padding=1), sn.ReLU(), sn.MaxPool2d(2),
                       sn.Conv2d(8, 16, 3, padding=1), sn.ReLU(), sn.MaxPool2d(2), sn.Flatten(),
                       sn.Dense(16 * 7 * 7, 10)], loss=sn.SoftmaxCrossEntropy(),
                      input_shape=(1, 28, 28))


CONFIGS = [("digits CNN 1×8×8, conv16-pool-dense", digits_cnn, 32),
           ("MNIST-size CNN 1×28×28, conv8-pool-conv16-pool-dense", mnist_cnn, 64)]


# ── the hand-written CNN ───────────────────────────────────────────────────────────────────


def conv_forward(X, W, b, pad):
    Xp = np.pad(X, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else X
    cols = sliding_window_view(Xp, W.shape[2:], axis=(2, 3))  # (B, C, Ho, Wo, kh, kw)
    cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(-1, W[0].size)  # im2col, one copy
    B, Ho, Wo = X.shape[0], Xp.shape[2] - W.shape[2] + 1, Xp.shape[3] - W.shape[3] + 1
    Z = cols @ W.reshape(len(W), -1).T + b  # (B·Ho·Wo, O)
    return Z.reshape(B, Ho, Wo, -1).transpose(0, 3, 1, 2), cols


def conv_backward(G, cols, X_shape, W, pad, need_dx):
    B, O, Ho, Wo = G.shape
    G2 = G.transpose(0, 2, 3, 1).reshape(-1, O)
    dW = (G2.T @ cols).reshape(W.shape)
    db = G2.sum(axis=0)
    if not need_dx:
        return None, dW, db
    dcols = (G2 @ W.reshape(O, -1)).reshape(B, Ho, Wo, *W.shape[1:])  # (B, Ho, Wo, C, kh, kw)
    C, H, Wd = X_shape[1:]
    dXp = np.zeros((B, C, H + 2 * pad, Wd + 2 * pad), G.dtype)
    for i in range(W.shape[2]):  # col2im: one strided add per kernel offset
        for j in range(W.shape[3]):
            dXp[:, :, i:i + Ho, j:j + Wo] += dcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return dXp[:, :, pad:pad + H, pad:pad + Wd], dW, db


def pool_forward(A):
    B, C, H, W = A.shape
    win = A.reshape(B, C, H // 2, 2, W // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(
        B, C, H // 2, W // 2, 4)
    idx = win.argmax(axis=-1)
    return np.take_along_axis(win, idx[..., None], -1)[..., 0], idx


def pool_backward(G, idx, shape):
    B, C, H, W = shape
    d = (idx[..., None] == np.arange(4)) * G[..., None]  # (B, C, H/2, W/2, 4)
    return d.reshape(B, C, H // 2, W // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(shape)


def hand_step(net, p, X, Y, lr, update=True):
    """Forward and backward of Conv-ReLU-MaxPool blocks, then the dense softmax layer."""
    convs = [la for la in net.layers if isinstance(la, sn.Conv2d)]
    A, caches = X, []
    for k, layer in enumerate(convs, 1):
        Z, cols = conv_forward(A, p[f"W{k}"], p[f"b{k}"], layer.padding)
        R = np.maximum(Z, 0)
        P, idx = pool_forward(R)
        caches.append((A.shape, cols, Z, idx, R.shape))
        A = P
    k = len(convs) + 1
    F = A.reshape(len(A), -1)
    Z = F @ p[f"W{k}"] + p[f"b{k}"]
    Z = Z - Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    S = E.sum(axis=1, keepdims=True)
    B = len(X)
    L = (np.log(S).sum() - (Y * Z).sum()) / B
    G = (E / S - Y) / B
    grads = {f"W{k}": F.T @ G, f"b{k}": G.sum(axis=0)}
    G = (G @ p[f"W{k}"].T).reshape(A.shape)
    for k in range(len(convs), 0, -1):
        shape, cols, Z, idx, rshape = caches[k - 1]
        G = pool_backward(G, idx, rshape) * (Z > 0)
        G, grads[f"W{k}"], grads[f"b{k}"] = conv_backward(G, cols, shape, p[f"W{k}"],
                                                          convs[k - 1].padding, k > 1)
    if update:
        for name, g in grads.items():
            p[name] -= lr * g
    return L, grads


# ── PyTorch eager ──────────────────────────────────────────────────────────────────────────


def torch_step_fn(net, params, X, Y, dtype):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    layers, k = [], 0
    for la in net.layers:
        if isinstance(la, sn.Conv2d):
            k += 1
            m = torch.nn.Conv2d(la.in_channels, la.out_channels, la.kernel_size,
                                la.stride, la.padding)
            m.weight.data = torch.tensor(params[f"W{k}"]).to(tdt)
            m.bias.data = torch.tensor(params[f"b{k}"]).to(tdt)
        elif isinstance(la, sn.Dense):
            k += 1
            m = torch.nn.Linear(la.n_in, la.n_out)
            m.weight.data = torch.tensor(params[f"W{k}"].T.copy()).to(tdt)
            m.bias.data = torch.tensor(params[f"b{k}"]).to(tdt)
        elif isinstance(la, sn.ReLU):
            m = torch.nn.ReLU()
        elif isinstance(la, sn.MaxPool2d):
            m = torch.nn.MaxPool2d(la.kernel_size, la.stride)
        else:
            m = torch.nn.Flatten()
        layers.append(m)
    model = torch.nn.Sequential(*layers).to(tdt)
    Xt, yt = torch.tensor(X).to(tdt), torch.tensor(Y.argmax(axis=1))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        model.zero_grad(set_to_none=True)
        loss = loss_fn(model(Xt), yt)
        loss.backward()
        with torch.no_grad():
            for q in model.parameters():
                q -= LR * q.grad
        return loss
    return step


# ── timing ─────────────────────────────────────────────────────────────────────────────────


def per_step(fn, seconds):
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed / n


def peak_bytes(fn):
    fn()  # warm: first-call allocations (caches, lazily built arrays) are not the step's
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def bench(label, make, batch, dtype, repeats, seconds):
    net = make()
    model = sn.compile(net, dtype)
    params = model.init(seed=0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, *net.input_shape)).astype(dtype)
    Y = np.eye(10, dtype=dtype)[rng.integers(0, 10, batch)]
    # Same gradients first: the hand-written CNN and the generated code agree.
    _, g = model.module.loss_and_grads(params, X.reshape(batch, -1), Y)
    _, h = hand_step(net, params, X, Y, LR, update=False)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for name in g:
        scale = np.abs(h[name]).max() + 1e-30
        assert np.abs(g[name] - h[name]).max() <= tol * scale, name
    mod = model.module
    Xf = X.reshape(batch, -1)
    p_gen = {k: v.copy() for k, v in params.items()}
    p_hand = {k: v.copy() for k, v in params.items()}

    def generated():
        _, grads = mod.loss_and_grads(p_gen, Xf, Y)
        mod.sgd_step(p_gen, grads, LR)

    def hand():
        hand_step(net, p_hand, X, Y, LR)

    steps = {"generated": generated, "hand-written": hand}
    torch_step = torch_step_fn(net, params, X, Y, dtype)
    if torch_step is not None:
        steps["PyTorch"] = torch_step
    for fn in steps.values():
        fn()
    times = {k: [] for k in steps}
    for _ in range(repeats):  # interleaved rounds
        for k, fn in steps.items():
            times[k].append(per_step(fn, seconds))
    med = {k: float(np.median(v)) for k, v in times.items()}
    peaks = {k: peak_bytes(steps[k]) for k in ("generated", "hand-written")}
    return label, batch, med, peaks


HEAD = ("network", "B", "dtype", "generated", "hand-written", "gen/hand", "PyTorch",
        "gen/PyTorch", "peak gen", "peak hand")


def measure(dtypes, repeats, seconds, configs=CONFIGS, say=None):
    """One table row per (config, dtype): median step times, their ratios, peak memory.
    `say(row)` is called as each row is measured (benchmarks/run.py prints progress)."""
    rows = []
    for (label, make, batch), dtype in ((c, d) for c in configs for d in dtypes):
        label, batch, med, peaks = bench(label, make, batch, dtype, repeats, seconds)
        torch_t = med.get("PyTorch")
        rows.append((label, str(batch), np.dtype(dtype).name, f"{med['generated'] * 1e3:.3f} ms",
                     f"{med['hand-written'] * 1e3:.3f} ms",
                     f"{med['generated'] / med['hand-written']:.2f}×",
                     f"{torch_t * 1e3:.3f} ms" if torch_t else "-",
                     f"{med['generated'] / torch_t:.2f}×" if torch_t else "-",
                     f"{peaks['generated'] / 2**20:.2f} MiB",
                     f"{peaks['hand-written'] / 2**20:.2f} MiB"))
        if say:
            say(rows[-1])
    return rows


def main():
    dtype = np.dtype(args.dtype).type
    print(f"CNN training step, {args.dtype}, 1 thread, median of {args.repeats} interleaved "
          f"rounds of {args.seconds:g} s (numpy {np.__version__})\n")
    head, rows = HEAD, measure([dtype], args.repeats, args.seconds)
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    for r in (head, tuple("-" * w for w in widths), *rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


if __name__ == "__main__":
    main()

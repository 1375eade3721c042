"""Convolution and pooling (symnet.nn.conv, symnet.algebra.conv): the derived, printed,
generated and checked backward pass of CNNs.

The generated loss and gradients are compared with an independent loop-based NumPy CNN written
here from PyTorch's definitions (cross-correlation, first maximum at a max-pool tie), and with
finite differences; symnet's own checker compares them with the exact evaluation on tiny images.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import symnet as sn
from symnet.checking.kinks import Kinks
from symnet.checking.mutants import mutants
from symnet.errors import ShapeError, SpecError

# ── an independent CNN, one Python loop per index ──────────────────────────────────────────


def conv_loops(X, W, b, s, p):
    B, C, H, Wd = X.shape
    O, _, kh, kw = W.shape
    Xp = np.zeros((B, C, H + 2 * p, Wd + 2 * p), X.dtype)
    Xp[:, :, p:p + H, p:p + Wd] = X
    Ho, Wo = (H + 2 * p - kh) // s + 1, (Wd + 2 * p - kw) // s + 1
    Z = np.zeros((B, O, Ho, Wo), X.dtype)
    for n, o, y, x in itertools.product(range(B), range(O), range(Ho), range(Wo)):
        Z[n, o, y, x] = b[o] + np.sum(Xp[n, :, s * y:s * y + kh, s * x:s * x + kw] * W[o])

    def back(G):
        dXp, dW, db = np.zeros_like(Xp), np.zeros_like(W), np.zeros_like(b)
        for n, o, y, x in itertools.product(range(B), range(O), range(Ho), range(Wo)):
            g = G[n, o, y, x]
            dXp[n, :, s * y:s * y + kh, s * x:s * x + kw] += g * W[o]
            dW[o] += g * Xp[n, :, s * y:s * y + kh, s * x:s * x + kw]
            db[o] += g
        return dXp[:, :, p:p + H, p:p + Wd], {"W": dW, "b": db}
    return Z, back


def pool_loops(X, k, s, kind):
    B, C, H, Wd = X.shape
    Ho, Wo = (H - k) // s + 1, (Wd - k) // s + 1
    P = np.zeros((B, C, Ho, Wo), X.dtype)
    where = {}
    for n, c, y, x in itertools.product(range(B), range(C), range(Ho), range(Wo)):
        win = X[n, c, s * y:s * y + k, s * x:s * x + k]
        if kind == "max":
            i = int(np.argmax(win))  # the first maximum in row-major order, as PyTorch
            where[n, c, y, x] = (s * y + i // k, s * x + i % k)
            P[n, c, y, x] = win.max()
        else:
            P[n, c, y, x] = win.mean()

    def back(G):
        dX = np.zeros_like(X)
        for n, c, y, x in itertools.product(range(B), range(C), range(Ho), range(Wo)):
            if kind == "max":
                dX[(n, c, *where[n, c, y, x])] += G[n, c, y, x]
            else:
                dX[n, c, s * y:s * y + k, s * x:s * x + k] += G[n, c, y, x] / (k * k)
        return dX, {}
    return P, back


def relu_loops(Z):
    return np.maximum(Z, 0), lambda G: (G * (Z > 0), {})


def flatten_loops(A):
    return A.reshape(len(A), -1), lambda G: (G.reshape(A.shape), {})


def dense_loops(A, W, b):
    return A @ W + b, lambda G: (G @ W.T, {"W": A.T @ G, "b": G.sum(0)})


def loss_and_grads_loops(net, params, X, Y, layer_loops=None):
    """Softmax cross-entropy (mean over the batch) of a network of Conv2d, ReLU, pooling,
    Flatten and Dense layers, forward and backward by loops. `layer_loops` adds others:
    {layer type: (layer, params, k, A) -> (output, backward)}."""
    A, backs, k = X, [], 0
    for layer in net.layers:
        if isinstance(layer, sn.Conv2d | sn.Dense):
            k += 1
        extra = (layer_loops or {}).get(type(layer))
        if extra is not None:
            A, back = extra(layer, params, k, A)
        elif isinstance(layer, sn.Conv2d):
            A, back = conv_loops(A, params[f"W{k}"], params[f"b{k}"], layer.stride,
                                 layer.padding)
        elif isinstance(layer, sn.ReLU):
            A, back = relu_loops(A)
        elif isinstance(layer, sn.MaxPool2d | sn.AvgPool2d):
            kind = "max" if isinstance(layer, sn.MaxPool2d) else "avg"
            A, back = pool_loops(A, layer.kernel_size, layer.stride, kind)
        elif isinstance(layer, sn.Flatten):
            A, back = flatten_loops(A)
        else:
            A, back = dense_loops(A, params[f"W{k}"], params[f"b{k}"])
        backs.append((k, back))
    Zs = A - A.max(axis=1, keepdims=True)
    logp = Zs - np.log(np.exp(Zs).sum(axis=1, keepdims=True))
    L = -np.sum(Y * logp) / len(X)
    G = (np.exp(logp) - Y) / len(X)
    grads = {}
    for k, back in reversed(backs):
        G, g = back(G)
        grads.update({f"{name}{k}": v for name, v in g.items()})
    return L, grads


# ── networks ───────────────────────────────────────────────────────────────────────────────

# (stride, padding, pooling) of the second convolution: each combination of the list.
CASES = [(1, 0, "max"), (1, 1, "avg"), (2, 1, "max"), (2, 0, "avg"), (1, 1, "max")]


def two_convs(stride, padding, pool):
    """Conv → ReLU → Conv(stride, padding) → ReLU → pool → Flatten → Dense: the second
    convolution's ∂L/∂input reaches W1, so every rule is exercised. Max-pooling overlaps
    (window 2, stride 1), so gradients add up where windows share an entry."""
    pool_layer = sn.MaxPool2d(2, stride=1) if pool == "max" else sn.AvgPool2d(2)
    layers = [sn.Conv2d(2, 2, 3, padding=1), sn.ReLU(),
              sn.Conv2d(2, 3, 3, stride=stride, padding=padding), sn.ReLU(), pool_layer,
              sn.Flatten()]
    return with_dense_head(layers, (2, 6, 6), 4)


def with_dense_head(layers, input_shape, n_out):
    """`layers` on samples of `input_shape`, then a Dense layer to `n_out` logits."""
    shape = input_shape
    for layer in layers:
        shape = layer.out_shape(shape)
    return sn.Network([*layers, sn.Dense(shape[0], n_out)], loss=sn.SoftmaxCrossEntropy(),
                      input_shape=input_shape)


def data(net, dtype, batch=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, *net.input_shape)).astype(dtype)
    Y = np.eye(net.n_out, dtype=dtype)[rng.integers(0, net.n_out, batch)]
    return X, Y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES)
def test_generated_matches_loops_and_finite_differences(case, dtype):
    net = two_convs(*case)
    model = sn.compile(net, dtype)
    params = model.init(seed=1)
    params = {k: (v + 0.1 * (k[0] == "b")).astype(dtype) for k, v in params.items()}
    X, Y = data(net, dtype)
    L, grads = model.loss_and_grads(params, X, Y)  # X of shape (B, C, H, W)
    p64 = {k: v.astype(np.float64) for k, v in params.items()}
    L_ref, ref = loss_and_grads_loops(net, p64, X.astype(np.float64), Y.astype(np.float64))
    tol = 1e-12 if dtype == np.float64 else 2e-5
    assert np.asarray(L).dtype == dtype and abs(float(L) - L_ref) <= tol * max(1, abs(L_ref))
    for name, g in grads.items():
        assert g.dtype == dtype and g.shape == params[name].shape, name
        scale = max(1e-3, np.abs(ref[name]).max())
        assert np.abs(g - ref[name]).max() <= tol * 10 * scale, name
    # Finite differences of the loop-based loss (float64), along a few random directions.
    rng = np.random.default_rng(2)
    for _ in range(2):
        V = {k: rng.standard_normal(v.shape) for k, v in p64.items()}
        h = 1e-6
        up = loss_and_grads_loops(net, {k: p64[k] + h * V[k] for k in p64}, X.astype(float),
                                  Y.astype(float))[0]
        down = loss_and_grads_loops(net, {k: p64[k] - h * V[k] for k in p64}, X.astype(float),
                                    Y.astype(float))[0]
        fd = (up - down) / (2 * h)
        directional = sum(np.vdot(grads[k].astype(float), V[k]) for k in V)
        assert abs(fd - directional) <= (1e-6 if dtype == np.float64 else 1e-3) * max(1, abs(fd))


# ── symnet's own checker: exact, generated and finite differences, on tiny images ─────────

TINY = {
    "conv-relu-maxpool": lambda: sn.Network(
        [sn.Conv2d(1, 2, 3, padding=1), sn.ReLU(), sn.MaxPool2d(2), sn.Flatten(),
         sn.Dense(8, 3)], loss=sn.SoftmaxCrossEntropy(), input_shape=(1, 4, 4)),
    "strided-conv-conv-avgpool": lambda: sn.Network(
        [sn.Conv2d(1, 2, 2, stride=2, padding=1), sn.Tanh(), sn.Conv2d(2, 1, 2, padding=1),
         sn.AvgPool2d(2), sn.Flatten(), sn.Dense(4, 2)], loss=sn.SoftmaxCrossEntropy(),
        input_shape=(1, 4, 4)),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(TINY))
def test_check_three_ways(name, dtype):
    report = sn.check(TINY[name](), batch=2, dtype=dtype)
    assert report.ok, str(report)
    assert len(report.comparisons) == 3  # the exact evaluation took part


def test_proofs_against_sympy_diff(monkeypatch):
    from symnet.algebra import conv

    results = sn.prove(only="conv2d") + sn.prove(only="pool")
    assert len(results) == 3 and all(r.status == "proved" for r in results), results
    right = conv.conv2d_vjp
    monkeypatch.setattr(conv, "conv2d_vjp", lambda G, A, W, g: (
        right(G, A, W, g)[0].with_flags(0, 1, 1), *right(G, A, W, g)[1:]))
    assert sn.prove(only="conv2d")[0].status == "failed"  # a kernel left unflipped is caught


# ── printing ───────────────────────────────────────────────────────────────────────────────


def test_printed_like_a_textbook():
    net = sn.Network([sn.Conv2d(1, 2, 3, padding=1), sn.ReLU(),
                      sn.Conv2d(2, 2, 3, stride=2, padding=1), sn.ReLU(), sn.MaxPool2d(2),
                      sn.Flatten(), sn.Dense(2, 2)], loss=sn.SoftmaxCrossEntropy(),
                     input_shape=(1, 6, 6))
    d = sn.derive(net)
    text = d.unicode()
    for line in ("Z1 = pad₁(X) ⋆ W1 + b1", "Z2 = pad₁(A1) ⋆₂ W2 + b2", "P2 = maxpool₂(A2)",
                 "δ2 = route₂(∂L/∂P2 → max A2) ⊙ relu′(Z2)", "∂L/∂W2 = pad₁(A1) ⋆ ins₂(δ2)",
                 "∂L/∂b2 = Σ_(n,y,x) δ2",
                 "δ1 = crop₁(full(ins₂(δ2)) ⋆ rot180(W2)) ⊙ relu′(Z1)"):
        assert line in text, text
    latex = d.latex()
    assert r"\operatorname{rot180}\left(W_{2}\right)" in latex and r"\star_{2}" in latex
    md = d.markdown()
    assert "flipped in both spatial axes" in md and "first one, in row-major order" in md


# ── generated code ─────────────────────────────────────────────────────────────────────────


def test_standalone_module_takes_images_and_keeps_float32():
    net = TINY["conv-relu-maxpool"]()
    source = sn.codegen(net, np.float32)
    assert "for " not in source.split("def _conv2d(")[1].split("\ndef ")[0]  # no pixel loop
    namespace: dict = {}
    exec(compile(source, "<cnn>", "exec"), namespace)  # the text a user would save
    params = namespace["init_params"](0)
    assert params["W1"].shape == (2, 1, 3, 3) and params["b1"].shape == (2,)
    X, Y = data(net, np.float32)
    L, grads = namespace["loss_and_grads"](params, X, Y)  # (B, C, H, W) as it comes
    L2, _ = namespace["loss_and_grads"](params, X.reshape(len(X), -1), Y)
    assert L.dtype == np.float32 and L == L2
    assert all(g.dtype == np.float32 and g.shape == params[k].shape for k, g in grads.items())
    assert namespace["forward"](params, X).shape == (3, 3)


def test_training_a_tiny_cnn_lowers_the_loss():
    net = TINY["conv-relu-maxpool"]()
    model = sn.compile(net)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 1, 4, 4))
    y = (X[:, 0, :2].sum(axis=(1, 2)) > 0).astype(int) + (X[:, 0, 2:, 2:].sum((1, 2)) > 1)
    params = model.init(0)
    history = model.module.train(params, X, y, epochs=30, lr=0.5, batch_size=8)
    assert history[-1] < 0.5 * history[0]


# ── ties, mutants, bad input ───────────────────────────────────────────────────────────────


def _tied():
    """A max-pool window of Z1 whose two largest entries tie, at different input patches."""
    net = sn.Network([sn.Conv2d(1, 1, 2), sn.MaxPool2d(2), sn.Flatten(), sn.Dense(4, 2)],
                     loss=sn.SoftmaxCrossEntropy(), input_shape=(1, 5, 5))
    params = sn.compile(net).init(0)
    params["W1"] = np.array([[[[1.0, 0.0], [0.0, 0.0]]]])  # Z1 = X[:4, :4] + b1
    X = np.random.default_rng(0).uniform(-1, 0.5, (2, 1, 5, 5))
    X[0, 0, 0, 0] = X[0, 0, 0, 1] = 1.0
    return net, params, X, np.array([0, 1])


def test_max_pool_ties_are_kinks(monkeypatch):
    net, params, X, Y = _tied()
    hits = Kinks(sn.derive(net)).find(params, X.reshape(2, -1), 1e-9)
    assert len(hits) == 1 and "1 window of Z1 at a tie" in str(hits[0])
    assert "first maximum" in hits[0].site.convention

    first_maximum = pool_loops

    def last_maximum(X, k, s, kind):  # the other valid choice: route to the last maximum
        P, back = first_maximum(X[..., ::-1, ::-1], k, s, kind)
        return P[..., ::-1, ::-1], lambda G: (back(G[..., ::-1, ::-1])[0][..., ::-1, ::-1], {})

    monkeypatch.setitem(globals(), "pool_loops", last_maximum)
    report = sn.verify(lambda p, X, Y: loss_and_grads_loops(net, p, X, np.eye(2)[Y])[1],
                       net=net, params=params, X=X, Y=Y)
    verdicts = {r.name: r.verdict for r in report.results}
    assert verdicts["W1"] == "kink" and "wrong" not in verdicts.values(), str(report)


MISTAKES = ["kernel is not flipped", "stride 2 is ignored in ∂L/∂input",
            "stride 2 is ignored in ∂L/∂W", "padding 1 is not removed",
            "sent to every entry of the window", "not divided by the window size"]


@pytest.mark.parametrize("mistake", MISTAKES)
def test_classic_mistakes_are_named(mistake):
    pool = sn.AvgPool2d(2) if "divided" in mistake else sn.MaxPool2d(2)
    net = sn.Network([sn.Conv2d(1, 2, 3, padding=1), sn.ReLU(),
                      sn.Conv2d(2, 2, 3, stride=2, padding=1), sn.ReLU(), pool, sn.Flatten(),
                      sn.Dense(2, 2)], loss=sn.SoftmaxCrossEntropy(), input_shape=(1, 6, 6))
    found = [m for m in mutants(sn.derive(net)) if mistake in m.title]
    assert len(found) == 1
    buggy = sn.compile(found[0].derivation)
    X, Y = data(net, np.float64)
    params = sn.compile(net).init(1)
    report = sn.verify(lambda p, X, Y: buggy.loss_and_grads(p, X, Y)[1], net=net,
                       params=params, X=X, Y=Y)
    wrong = [r for r in report.results if r.verdict == "wrong"]
    assert wrong and all(mistake in r.diagnosis and r.kind == "operation_wrong" for r in wrong)


def test_bad_input_is_refused():
    with pytest.raises(SpecError, match="kernel_size"):
        sn.Conv2d(1, 2, 0)
    with pytest.raises(SpecError, match="stride"):
        sn.MaxPool2d(2, stride=0)
    with pytest.raises(ShapeError, match="3 input channels"):
        sn.Network([sn.Conv2d(3, 2, 3), sn.Flatten(), sn.Dense(8, 2)], loss=sn.MSE(),
                   input_shape=(1, 4, 4))
    with pytest.raises(ShapeError, match="Flatten"):
        sn.Network([sn.Conv2d(1, 2, 3), sn.Dense(8, 2)], loss=sn.MSE(), input_shape=(1, 4, 4))
    with pytest.raises(ShapeError, match="larger than the padded image"):
        sn.Network([sn.Conv2d(1, 2, 5), sn.Flatten(), sn.Dense(8, 2)], loss=sn.MSE(),
                   input_shape=(1, 4, 4))
    with pytest.raises(ShapeError, match="takes images"):
        sn.Network([sn.Dense(4, 4), sn.MaxPool2d(2)], loss=sn.MSE())
    model = sn.compile(TINY["conv-relu-maxpool"]())
    with pytest.raises(ShapeError, match=r"\(B, 16\) or \(B, 1, 4, 4\)"):
        model.loss(model.init(0), np.zeros((2, 1, 4, 5)), np.array([0, 1]))
    with pytest.raises(SpecError, match="Conv2dOp"):
        sn.explicit(TINY["conv-relu-maxpool"]())

"""RNN and LSTM: generated gradients against an independent NumPy BPTT written here, finite
differences and symnet's exact evaluation; the derivation printed once for any T; mutants."""

import numpy as np
import pytest

import symnet as sn
from symnet.checking.mutants import mutants

T, N_IN, H, N_OUT, BATCH = 4, 3, 5, 2, 6


def rnn_net(T=T, **kw):
    return sn.Network([sn.RNN(N_IN, H, **kw), sn.Dense(H, N_OUT)], loss=sn.MSE(),
                      input_shape=(T, N_IN))


def point(net, seed=0, dtype=np.float64, batch=BATCH):
    rng = np.random.default_rng(seed)
    params = {k: (0.5 * rng.standard_normal(s)).astype(dtype) for k, s in net.parameters.items()}
    X = rng.standard_normal((batch, *net.input_shape)).astype(dtype)
    Y = rng.standard_normal((batch, net.n_out)).astype(dtype)
    return params, X, Y


# ── independent references: plain NumPy, written from the textbook equations ──────────────


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def rnn_reference(p, X, Y, k=1):
    """MSE loss of Dense(last RNN state) and its gradients by hand-written BPTT."""
    Wx, Wh, b, W, c = p[f"Wx{k}"], p[f"Wh{k}"], p[f"b{k}"], p[f"W{k + 1}"], p[f"b{k + 1}"]
    B, steps, _ = X.shape
    hs = [np.zeros((B, Wh.shape[0]))]
    for t in range(steps):
        hs.append(np.tanh(X[:, t] @ Wx + hs[-1] @ Wh + b))
    out = hs[-1] @ W + c
    loss = np.mean(np.sum((out - Y) ** 2, axis=1)) / Y.shape[1]
    dout = 2 * (out - Y) / (B * Y.shape[1])
    g = {f"W{k + 1}": hs[-1].T @ dout, f"b{k + 1}": dout.sum(0)}
    dh = dout @ W.T
    g.update({f"Wx{k}": 0 * Wx, f"Wh{k}": 0 * Wh, f"b{k}": 0 * b})
    for t in reversed(range(steps)):
        da = dh * (1 - hs[t + 1] ** 2)
        g[f"Wx{k}"] = g[f"Wx{k}"] + X[:, t].T @ da
        g[f"Wh{k}"] = g[f"Wh{k}"] + hs[t].T @ da
        g[f"b{k}"] = g[f"b{k}"] + da.sum(0)
        dh = da @ Wh.T
    return loss, g


def lstm_reference(p, X, Y):
    """The same for an LSTM cell with PyTorch's gate order i, f, g, o."""
    Wx, Wh, b, W, c = p["Wx1"], p["Wh1"], p["b1"], p["W2"], p["b2"]
    B, steps, _ = X.shape
    h = Wh.shape[0]
    hs, cs, gates = [np.zeros((B, h))], [np.zeros((B, h))], []
    for t in range(steps):
        z = X[:, t] @ Wx + hs[-1] @ Wh + b
        i, f, g, o = (sigmoid(z[:, :h]), sigmoid(z[:, h:2 * h]), np.tanh(z[:, 2 * h:3 * h]),
                      sigmoid(z[:, 3 * h:]))
        cs.append(f * cs[-1] + i * g)
        hs.append(o * np.tanh(cs[-1]))
        gates.append((i, f, g, o))
    out = hs[-1] @ W + c
    loss = np.mean(np.sum((out - Y) ** 2, axis=1)) / Y.shape[1]
    dout = 2 * (out - Y) / (B * Y.shape[1])
    grads = {"W2": hs[-1].T @ dout, "b2": dout.sum(0), "Wx1": 0 * Wx, "Wh1": 0 * Wh, "b1": 0 * b}
    dh, dc = dout @ W.T, np.zeros((B, h))
    for t in reversed(range(steps)):
        i, f, g, o = gates[t]
        tc = np.tanh(cs[t + 1])
        dc = dc + dh * o * (1 - tc ** 2)
        dz = np.concatenate([dc * g * i * (1 - i), dc * cs[t] * f * (1 - f),
                             dc * i * (1 - g ** 2), dh * tc * o * (1 - o)], axis=1)
        grads["Wx1"] = grads["Wx1"] + X[:, t].T @ dz
        grads["Wh1"] = grads["Wh1"] + hs[t].T @ dz
        grads["b1"] = grads["b1"] + dz.sum(0)
        dh, dc = dz @ Wh.T, dc * f
    return loss, grads


def finite_differences(loss, params, eps=1e-6):
    out = {}
    for name, value in params.items():
        g = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            for sign in (1, -1):
                shifted = {k: v.copy() for k, v in params.items()}
                shifted[name][i] += sign * eps
                g[i] += sign * loss(shifted) / (2 * eps)
        out[name] = g
    return out


# ── gradients ──────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(("layer", "reference"), [(sn.RNN, rnn_reference),
                                                  (sn.LSTM, lstm_reference)])
@pytest.mark.parametrize(("dtype", "rtol"), [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_generated_gradients_equal_numpy_bptt(layer, reference, dtype, rtol):
    net = sn.Network([layer(N_IN, H), sn.Dense(H, N_OUT)], loss=sn.MSE(), input_shape=(T, N_IN))
    params, X, Y = point(net, dtype=dtype)
    model = sn.compile(net, dtype)
    loss, grads = model.loss_and_grads(params, X, Y)  # X of shape (B, T, n)
    want_loss, want = reference({k: v.astype(np.float64) for k, v in params.items()},
                                X.astype(np.float64), Y.astype(np.float64))
    assert loss.dtype == dtype and all(g.dtype == dtype for g in grads.values())
    np.testing.assert_allclose(loss, want_loss, rtol=rtol)
    for name in net.parameters:
        scale = np.abs(want[name]).max()
        np.testing.assert_allclose(grads[name], want[name], rtol=rtol, atol=rtol * scale,
                                   err_msg=name)


@pytest.mark.parametrize("layer", [sn.RNN, sn.LSTM])
def test_gradients_equal_finite_differences(layer):
    net = sn.Network([layer(2, 3), sn.Dense(3, 1)], loss=sn.MSE(), input_shape=(3, 2))
    params, X, Y = point(net, batch=3)
    model = sn.compile(net)
    fd = finite_differences(lambda p: float(model.loss(p, X, Y)), params)
    grads = model.loss_and_grads(params, X, Y)[1]
    for name in params:
        np.testing.assert_allclose(grads[name], fd[name], rtol=1e-6, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("layers", [
    [sn.RNN(2, 2), sn.Dense(2, 1)],
    [sn.LSTM(2, 2), sn.Dense(2, 1)],
    [sn.RNN(2, 2, return_sequences=True), sn.RNN(2, 2), sn.Dense(2, 1)],
])
def test_check_three_ways(layers):
    """symnet's own checker: exact (SymPy), generated and finite differences agree."""
    net = sn.Network(layers, loss=sn.MSE(), input_shape=(3, 2))
    report = sn.check(net, batch=2)
    assert report.ok, report


def test_check_float32():
    assert sn.check(rnn_net(T=3), batch=3, dtype=np.float32, exact=False).ok


def assert_exact_equals_generated(net):
    """The generated gradients equal the exact evaluation of the printed equations."""
    params, X, Y = point(net, batch=2)
    _, exact = sn.derive(net).evaluate(params, X, Y)
    _, grads = sn.compile(net).loss_and_grads(params, X, Y)
    for name in params:
        np.testing.assert_allclose(grads[name], exact[name], rtol=1e-13, atol=1e-15)


def test_exact_evaluation_equals_generated():
    assert_exact_equals_generated(rnn_net(T=3))


def test_return_sequences_gives_every_state():
    net = sn.Network([sn.RNN(N_IN, H, return_sequences=True), sn.Flatten(),
                      sn.Dense(T * H, 1)], loss=sn.MSE(), input_shape=(T, N_IN))
    params, X, _ = point(net)
    out = sn.compile(net).forward(params, X)
    hs, h = [], np.zeros((BATCH, H))
    for t in range(T):
        h = np.tanh(X[:, t] @ params["Wx1"] + h @ params["Wh1"] + params["b1"])
        hs.append(h)
    want = np.stack(hs, 1).reshape(BATCH, -1) @ params["W2"] + params["b2"]
    np.testing.assert_allclose(out, want, rtol=1e-12)


# ── the derivation: a recurrence in t, the same for any T ─────────────────────────────────


def test_derivation_is_a_recurrence_of_constant_size():
    texts = [sn.derive(rnn_net(T=t)).unicode().split("\n", 1)[1] for t in (2, 7, 50)]
    assert texts[0] == texts[1] == texts[2]
    text = texts[0]
    assert "δ1 = [(∂L/∂S1[t] + δ1[t+1] Wh1ᵀ) ⊙ tanh′(Z1[t])]ₜ₌T…₁" in text
    assert "∂L/∂Wh1 = Σ[t=2…T] S1[t−1]ᵀ δ1[t]" in text
    assert "∂L/∂Wx1 = Σ[t=1…T] X[t]ᵀ δ1[t]" in text
    assert "Z1 = [X[t] Wx1 + S1[t−1] Wh1 + 𝟙b1ᵀ]ₜ" in text
    assert sn.derive(rnn_net(T=2)).count_nodes() == sn.derive(rnn_net(T=50)).count_nodes()
    assert r"\sum_{t=2}^{T}" in sn.derive(rnn_net()).latex()


def test_generated_code_loops_over_time_once_per_pass():
    source = sn.codegen(rnn_net())
    assert source.count("for t in range(") == 2  # the forward loop, the BPTT loop
    assert "Wx1" in source and "def _rnn_backward" in source


# ── mutants: the BPTT mistakes verify names ───────────────────────────────────────────────


@pytest.mark.parametrize(("key", "edited", "wrong"), [
    ("recurrent_term_dropped", "dZ1", {"Wx1", "Wh1", "b1"}),
    ("time_sum_truncated", "dWh1", {"Wh1"}),
    ("time_sum_truncated", "db1", {"b1"}),
])
def test_verify_names_bptt_mistakes(key, edited, wrong):
    net = rnn_net(T=3)
    mutant = next(m for m in mutants(sn.derive(net))
                  if m.key == key and [eq.name for eq in m.changed] == [edited])
    buggy = sn.compile(mutant.derivation)
    params, X, Y = point(net, batch=4)
    report = sn.verify(lambda p, X, Y: buggy.loss_and_grads(p, X, Y)[1], net=net,
                       params=params, X=X, Y=Y)
    bad = {r.name for r in report.results if r.verdict == "wrong"}
    assert wrong <= bad
    assert all(mutant.title in r.diagnosis for r in report.results if r.verdict == "wrong")


def test_verify_accepts_correct_numpy_bptt():
    net = rnn_net(T=3)
    params, X, Y = point(net, batch=4)
    report = sn.verify(lambda p, X, Y: rnn_reference(p, X.reshape(4, 3, N_IN), Y)[1], net=net,
                       params=params, X=X.reshape(4, -1), Y=Y)
    assert report.ok, report


# ── bad input ─────────────────────────────────────────────────────────────────────────────


def test_shape_errors():
    with pytest.raises(sn.ShapeError, match="sequences"):
        sn.Network([sn.RNN(3, 4), sn.Dense(4, 1)], loss=sn.MSE(), input_shape=(3,))
    with pytest.raises(sn.ShapeError, match="features per step"):
        sn.Network([sn.RNN(3, 4), sn.Dense(4, 1)], loss=sn.MSE(), input_shape=(5, 2))
    with pytest.raises(sn.ShapeError, match="Flatten"):
        sn.Network([sn.RNN(3, 4, return_sequences=True), sn.Dense(4, 1)], loss=sn.MSE(),
                   input_shape=(5, 3))
    with pytest.raises(sn.ShapeError):
        sn.RNN(0, 4)
    with pytest.raises(sn.SpecError):
        sn.LSTM(2, 4, return_sequences="yes")
    model = sn.compile(rnn_net())
    params, X, Y = point(rnn_net())
    with pytest.raises(sn.ShapeError):
        model.loss(params, X[:, :2], Y)  # (B, 2, n): the network takes T = 4 steps


def test_lstm_parameter_names_and_shapes():
    net = sn.Network([sn.LSTM(3, 4), sn.Dense(4, 1)], loss=sn.MSE(), input_shape=(6, 3))
    assert net.parameters == {"Wx1": (3, 16), "Wh1": (4, 16), "b1": (16,), "W2": (4, 1),
                              "b2": (1,)}

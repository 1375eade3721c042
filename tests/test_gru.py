"""GRU: generated gradients against an independent NumPy BPTT written here, PyTorch's nn.GRU,
finite differences and symnet's exact evaluation (sn.check); the derivation printed once for
any T; parameter names and shapes."""

import numpy as np
import pytest
from test_recurrent import assert_exact_equals_generated, point, sigmoid  # the RNN's own

import symnet as sn

T, N_IN, H, N_OUT, BATCH = 4, 3, 5, 2, 6


def gru_net(T=T, n_in=N_IN, h=H, **kw):
    return sn.Network([sn.GRU(n_in, h, **kw), sn.Dense(h, N_OUT)], loss=sn.MSE(),
                      input_shape=(T, n_in))


def gru_reference(p, X, Y):
    """MSE loss of Dense(last GRU state) and its gradients, BPTT written by hand from
    PyTorch's equations (gi = x W_ih + b_ih, gh = h W_hh + b_hh, gates r, z, n)."""
    Wx, Wh, b, bh, W, c = (p[k] for k in ("Wx1", "Wh1", "b1", "bh1", "W2", "b2"))
    B, steps, _ = X.shape
    h = Wh.shape[0]
    hs, cache = [np.zeros((B, h))], []
    for t in range(steps):
        gi, gh = X[:, t] @ Wx + b, hs[-1] @ Wh + bh
        r = sigmoid(gi[:, :h] + gh[:, :h])
        z = sigmoid(gi[:, h:2 * h] + gh[:, h:2 * h])
        n = np.tanh(gi[:, 2 * h:] + r * gh[:, 2 * h:])
        hs.append((1 - z) * n + z * hs[-1])
        cache.append((gh, r, z, n))
    out = hs[-1] @ W + c
    loss = np.sum((out - Y) ** 2) / (2 * B)
    dout = (out - Y) / B
    grads = {"W2": hs[-1].T @ dout, "b2": dout.sum(0)}
    grads.update({k: np.zeros_like(p[k]) for k in ("Wx1", "Wh1", "b1", "bh1")})
    dh = dout @ W.T
    for t in reversed(range(steps)):
        gh, r, z, n = cache[t]
        dn = dh * (1 - z) * (1 - n ** 2)
        dz = dh * (hs[t] - n) * z * (1 - z)
        dr = dn * gh[:, 2 * h:] * r * (1 - r)
        dgi = np.concatenate([dr, dz, dn], axis=1)
        dgh = np.concatenate([dr, dz, dn * r], axis=1)
        grads["Wx1"] += X[:, t].T @ dgi
        grads["b1"] += dgi.sum(0)
        grads["Wh1"] += hs[t].T @ dgh
        grads["bh1"] += dgh.sum(0)
        dh = dh * z + dgh @ Wh.T
    return loss, grads


@pytest.mark.parametrize(("dtype", "rtol"), [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_generated_gradients_equal_numpy_bptt(dtype, rtol):
    net = gru_net()
    params, X, Y = point(net, dtype=dtype)
    loss, grads = sn.compile(net, dtype).loss_and_grads(params, X, Y)
    want_loss, want = gru_reference({k: v.astype(np.float64) for k, v in params.items()},
                                    X.astype(np.float64), Y.astype(np.float64))
    assert loss.dtype == dtype and all(g.dtype == dtype for g in grads.values())
    np.testing.assert_allclose(loss, want_loss, rtol=rtol)
    for name in net.parameters:
        scale = np.abs(want[name]).max()
        np.testing.assert_allclose(grads[name], want[name], rtol=rtol, atol=rtol * scale,
                                   err_msg=name)


def test_equals_pytorch_gru():
    torch = pytest.importorskip("torch")
    net = gru_net()
    params, X, Y = point(net)
    gru = torch.nn.GRU(N_IN, H, batch_first=True).double()
    lin = torch.nn.Linear(H, N_OUT).double()
    with torch.no_grad():  # symnet's (in, out) layout is PyTorch's transposed
        gru.weight_ih_l0.copy_(torch.from_numpy(params["Wx1"].T))
        gru.weight_hh_l0.copy_(torch.from_numpy(params["Wh1"].T))
        gru.bias_ih_l0.copy_(torch.from_numpy(params["b1"]))
        gru.bias_hh_l0.copy_(torch.from_numpy(params["bh1"]))
        lin.weight.copy_(torch.from_numpy(params["W2"].T))
        lin.bias.copy_(torch.from_numpy(params["b2"]))
    out, _ = gru(torch.from_numpy(X))
    loss = ((lin(out[:, -1]) - torch.from_numpy(Y)) ** 2).sum() / (2 * BATCH)
    loss.backward()
    want = {"Wx1": gru.weight_ih_l0.grad.numpy().T, "Wh1": gru.weight_hh_l0.grad.numpy().T,
            "b1": gru.bias_ih_l0.grad.numpy(), "bh1": gru.bias_hh_l0.grad.numpy(),
            "W2": lin.weight.grad.numpy().T, "b2": lin.bias.grad.numpy()}
    got_loss, grads = sn.compile(net).loss_and_grads(params, X, Y)
    np.testing.assert_allclose(got_loss, loss.item(), rtol=1e-12)
    for name, g in want.items():
        np.testing.assert_allclose(grads[name], g, rtol=1e-10, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("layers", [
    [sn.GRU(2, 2), sn.Dense(2, 1)],
    [sn.GRU(2, 2, return_sequences=True), sn.RNN(2, 2), sn.Dense(2, 1)],
])
def test_check_three_ways(layers):
    """symnet's own checker: exact (SymPy), generated and finite differences agree."""
    net = sn.Network(layers, loss=sn.MSE(), input_shape=(3, 2))
    report = sn.check(net, batch=2)
    assert report.ok, report


def test_check_float32():
    assert sn.check(gru_net(T=3, n_in=2, h=2), batch=3, dtype=np.float32, exact=False).ok


def test_exact_evaluation_equals_generated():
    assert_exact_equals_generated(gru_net(T=2, n_in=2, h=2))


def test_return_sequences_and_forward():
    net = sn.Network([sn.GRU(N_IN, H, return_sequences=True), sn.Flatten(),
                      sn.Dense(T * H, 1)], loss=sn.MSE(), input_shape=(T, N_IN))
    p, X, _ = point(net)
    out = sn.compile(net).forward(p, X)
    hs, h = [], np.zeros((BATCH, H))
    for t in range(T):  # the reference's forward, one step at a time
        gi, gh = X[:, t] @ p["Wx1"] + p["b1"], h @ p["Wh1"] + p["bh1"]
        r, z = sigmoid(gi[:, :H] + gh[:, :H]), sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        h = (1 - z) * np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:]) + z * h
        hs.append(h)
    want = np.stack(hs, 1).reshape(BATCH, -1) @ p["W2"] + p["b2"]
    np.testing.assert_allclose(out, want, rtol=1e-12)


def test_derivation_is_a_recurrence_of_constant_size():
    texts = [sn.derive(gru_net(T=t)).unicode().split("\n", 1)[1] for t in (2, 9)]
    assert texts[0] == texts[1]
    assert "H1 = [S1[t−1] Wh1 + 𝟙bh1ᵀ]ₜ,  S1[0] = 0" in texts[0]
    assert "∂L/∂Wh1 = Σ[t=2…T] S1[t−1]ᵀ ∂L/∂H1[t]" in texts[0]
    assert "∂L/∂Wx1 = Σ[t=1…T] X[t]ᵀ δ1[t]" in texts[0]
    assert sn.derive(gru_net(T=2)).count_nodes() == sn.derive(gru_net(T=40)).count_nodes()
    assert r"\sum_{t=2}^{T}" in sn.derive(gru_net()).latex()


def test_generated_code_loops_over_time_once_per_pass():
    source = sn.codegen(gru_net())
    assert source.count("for t in range(") == 2  # the forward loop, the BPTT loop
    assert "_gru_states" not in source  # the states come from the forward loop


def test_parameter_names_and_shapes():
    assert gru_net(T=6, n_in=3, h=4).parameters == {
        "Wx1": (3, 12), "Wh1": (4, 12), "b1": (12,), "bh1": (12,), "W2": (4, 2), "b2": (2,)}
    with pytest.raises(sn.ShapeError, match="features per step"):
        sn.Network([sn.GRU(3, 4), sn.Dense(4, 1)], loss=sn.MSE(), input_shape=(5, 2))
    assert repr(sn.GRU(2, 3, return_sequences=True)) == "GRU(2, 3, return_sequences=True)"


def test_bounded_proofs_of_gated_cells_run_and_catch_a_wrong_rule(monkeypatch):
    """`symnet prove`: the RNN, LSTM and GRU theorems are proved (σ and tanh opaque with their
    derivative rules: seconds, not minutes), and a GRU BPTT without its recurrent paths fails."""
    from symnet.algebra.gru import GRUBackward
    from symnet.prove import prove

    results = prove(only="backpropagation through time")
    assert sorted(r.title.split(":")[0] for r in results) == ["GRU", "LSTM", "RNN"]
    assert all(r.proved for r in results), [(r.title, r.detail) for r in results]
    monkeypatch.setattr(GRUBackward, "recurrent", property(lambda self: False))
    gru = prove(only="GRU:")[0]
    assert gru.status == "failed" and "T = 2" in gru.detail


@pytest.mark.parametrize(("key", "edited", "wrong"), [
    ("recurrent_term_dropped", {"dH1", "dZ1"}, {"Wx1", "Wh1", "b1", "bh1"}),
    ("time_sum_truncated", {"dWh1"}, {"Wh1"}),
    ("time_sum_truncated", {"dbh1"}, {"bh1"}),
])
def test_verify_names_bptt_mistakes(key, edited, wrong):
    from symnet.checking.mutants import mutants

    net = gru_net(T=3, n_in=2, h=2)
    mutant = next(m for m in mutants(sn.derive(net))
                  if m.key == key and {eq.name for eq in m.changed} == edited)
    buggy = sn.compile(mutant.derivation)
    params, X, Y = point(net, batch=4)
    report = sn.verify(lambda p, X, Y: buggy.loss_and_grads(p, X, Y)[1], net=net,
                       params=params, X=X, Y=Y)
    bad = {r.name for r in report.results if r.verdict == "wrong"}
    assert wrong <= bad, report
    assert all(mutant.title in r.diagnosis for r in report.results if r.verdict == "wrong")

"""SelfAttention, LayerNorm of each time step and Flatten: generated gradients against an
independent NumPy backward pass written here, finite differences, symnet's checker; mutants."""

import numpy as np
import pytest

import symnet as sn
from symnet.checking.mutants import mutants

T, D, DH, BATCH = 4, 3, 2, 5


def attention_net(causal=False, T=T):
    return sn.Network([sn.SelfAttention(D, DH, causal=causal), sn.Flatten(),
                       sn.Dense(T * DH, 1)], loss=sn.MSE(), input_shape=(T, D))


def point(net, seed=0, dtype=np.float64, batch=BATCH):
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s).astype(dtype) for k, s in net.parameters.items()}
    X = rng.standard_normal((batch, *net.input_shape)).astype(dtype)
    Y = rng.standard_normal((batch, net.n_out)).astype(dtype)
    return params, X, Y


def attention_reference(p, X, Y, causal):
    """Loss and gradients of Dense(flatten(attention(X))), backward written by hand."""
    B, steps, _ = X.shape
    Q, K, V = X @ p["Wq1"], X @ p["Wk1"], X @ p["Wv1"]
    E = Q @ K.transpose(0, 2, 1) / np.sqrt(DH)
    if causal:
        E = np.where(np.tri(steps, dtype=bool), E, -np.inf)
    P = np.exp(E - E.max(axis=2, keepdims=True))
    P /= P.sum(axis=2, keepdims=True)
    O = P @ V
    out = O.reshape(B, -1) @ p["W2"] + p["b2"]
    loss = np.mean((out - Y) ** 2)
    dout = 2 * (out - Y) / out.size
    g = {"W2": O.reshape(B, -1).T @ dout, "b2": dout.sum(0)}
    dO = (dout @ p["W2"].T).reshape(O.shape)
    dP = dO @ V.transpose(0, 2, 1)
    dV = P.transpose(0, 2, 1) @ dO
    dE = P * (dP - (dP * P).sum(axis=2, keepdims=True))
    dQ = dE @ K / np.sqrt(DH)
    dK = dE.transpose(0, 2, 1) @ Q / np.sqrt(DH)
    for name, dM in (("Wq1", dQ), ("Wk1", dK), ("Wv1", dV)):
        g[name] = X.reshape(-1, D).T @ dM.reshape(-1, DH)
    return loss, g


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(("dtype", "rtol"), [(np.float64, 1e-11), (np.float32, 5e-5)])
def test_generated_gradients_equal_numpy_attention(causal, dtype, rtol):
    net = attention_net(causal)
    params, X, Y = point(net, dtype=dtype)
    loss, grads = sn.compile(net, dtype).loss_and_grads(params, X, Y)
    want_loss, want = attention_reference({k: v.astype(np.float64) for k, v in params.items()},
                                           X.astype(np.float64), Y.astype(np.float64), causal)
    assert grads["Wq1"].dtype == dtype
    np.testing.assert_allclose(loss, want_loss, rtol=rtol)
    for name in params:
        np.testing.assert_allclose(grads[name], want[name], rtol=rtol,
                                   atol=rtol * np.abs(want[name]).max(), err_msg=name)


def test_gradients_equal_finite_differences():
    net = attention_net(causal=True, T=3)
    params, X, Y = point(net, batch=2)
    model = sn.compile(net)
    grads = model.loss_and_grads(params, X, Y)[1]
    eps = 1e-6
    for name, value in params.items():
        for i in np.ndindex(value.shape):
            up = {k: v.copy() for k, v in params.items()}
            down = {k: v.copy() for k, v in params.items()}
            up[name][i] += eps
            down[name][i] -= eps
            fd = (model.loss(up, X, Y) - model.loss(down, X, Y)) / (2 * eps)
            assert abs(grads[name][i] - fd) <= 1e-7 + 1e-6 * abs(fd), (name, i)


@pytest.mark.parametrize("layers", [
    [sn.SelfAttention(2, 2), sn.Flatten(), sn.Dense(6, 1)],
    [sn.SelfAttention(2, 2, causal=True), sn.LayerNorm(2), sn.RNN(2, 2), sn.Dense(2, 1)],
])
def test_check_three_ways(layers):
    report = sn.check(sn.Network(layers, loss=sn.MSE(), input_shape=(3, 2)), batch=2)
    assert report.ok, report


def test_layernorm_normalizes_each_time_step():
    net = sn.Network([sn.SelfAttention(D, DH), sn.LayerNorm(DH), sn.Flatten(),
                      sn.Dense(T * DH, 1)], loss=sn.MSE(), input_shape=(T, D))
    params, X, Y = point(net)
    params["gamma1"], params["beta1"] = np.array([1.5, 0.5]), np.array([0.1, -0.2])
    Q, K, V = X @ params["Wq1"], X @ params["Wk1"], X @ params["Wv1"]
    E = Q @ K.transpose(0, 2, 1) / np.sqrt(DH)
    P = np.exp(E - E.max(2, keepdims=True))
    O = (P / P.sum(2, keepdims=True)) @ V
    N = (O - O.mean(2, keepdims=True)) / np.sqrt(O.var(2, keepdims=True) + 1e-5)
    want = (N * params["gamma1"] + params["beta1"]).reshape(BATCH, -1) @ params["W2"]
    got = sn.compile(net).forward(params, X)
    np.testing.assert_allclose(got, want + params["b2"], rtol=1e-12)


def test_derivation_prints_the_attention_rules():
    text = sn.derive(attention_net()).unicode()
    assert "E1 = [Q1 K1ᵀ/√2]ₛ" in text
    assert "∂L/∂E1 = [P1 ⊙ (∂L/∂P1 − (∂L/∂P1 ⊙ P1) 𝟙𝟙ᵀ)]ₛ" in text
    assert "∂L/∂Q1 = [∂L/∂E1 K1/√2]ₛ" in text


@pytest.mark.parametrize(("key", "edited", "wrong"), [
    ("attention_softmax_wrong", ["dE1"], {"Wq1", "Wk1"}),
    ("attention_scale_missing", ["dQ1"], {"Wq1"}),
    ("attention_scale_missing", ["dK1", "dQ1"], {"Wq1", "Wk1"}),
])
def test_verify_names_attention_mistakes(key, edited, wrong):
    net = attention_net(T=3)
    mutant = next(m for m in mutants(sn.derive(net))
                  if m.key == key and sorted(eq.name for eq in m.changed) == edited)
    buggy = sn.compile(mutant.derivation)
    params, X, Y = point(net, batch=3)
    report = sn.verify(lambda p, X, Y: buggy.loss_and_grads(p, X, Y)[1], net=net,
                       params=params, X=X, Y=Y)
    bad = [r for r in report.results if r.verdict == "wrong"]
    assert {r.name for r in bad} == wrong
    assert all("attention" in r.diagnosis for r in bad)


def test_flatten_and_names():
    net = attention_net()
    assert net.parameters == {"Wq1": (D, DH), "Wk1": (D, DH), "Wv1": (D, DH),
                              "W2": (T * DH, 1), "b2": (1,)}
    assert sn.Flatten().out_shape((2, 3, 4)) == (24,)
    with pytest.raises(sn.ShapeError):
        sn.Network([sn.SelfAttention(D, DH), sn.Dense(DH, 1)], loss=sn.MSE(),
                   input_shape=(T, D))

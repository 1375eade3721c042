"""The generated RNN step: one loop forward, one backward, no work done twice, and tanh′ from
the kept states accurate to the stable-forms gate (codegen/stable.py) even where tanh
saturates."""

import mpmath
import numpy as np
import pytest

import symnet as sn

# codegen/stable.py's accuracy gate: the relative error a code form may have
GATE = {np.float64: 2.0**-40, np.float32: 2.0**-16}


def rnn_net(T=3, n_in=2, h=2, **kw):
    return sn.Network([sn.RNN(n_in, h, **kw), sn.Dense(h, 1)], loss=sn.MSE(),
                      input_shape=(T, n_in))


def test_states_come_from_the_forward_loop():
    """tanh is applied once per state (inside the loop), never to Z1 again; the last-state
    gradient goes to BPTT alone, without a (B, T·h) array of zeros."""
    source = sn.codegen(rnn_net())
    assert "np.tanh(Z1)" not in source and "S1 = Z1_loop[1]" in source
    assert "_at_time_step" not in source and "last=True" in source
    assert "∂L/∂S1 = [∂L/∂hT1 if t = T, else 0]ₜ" in source  # the docstring keeps it
    assert source.count("for t in range(") == 2


def test_printed_derivation_is_unchanged_by_code_generation():
    d = sn.derive(rnn_net())
    assert "S1 = tanh(Z1)" in d.unicode() and "∂L/∂S1 = [∂L/∂hT1 if t = T, else 0]ₜ" in (
        d.unicode())
    assert [type(eq.rhs).__name__ for eq in d.forward][:2] == ["Recurrence", "Elementwise"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tanh_prime_of_bptt_is_accurate_where_tanh_saturates(dtype):
    """With T = 1, Wh = 0 and G = 1 the BPTT helper returns tanh′(z) itself: within the
    gate of its exact value at every z, 1 − tanh² having cancelled to 0 beyond |z| ≈ 19."""
    model = sn.compile(rnn_net(T=1, n_in=1, h=1), dtype)
    backward = model.module._rnn_backward
    zs = np.array([s * v for s in (1, -1) for v in (0, 1e-30, 0.5, 1, 2, 2.05, 2.1, 3, 5, 10,
                                                   19, 20, 40, 100, 400)], dtype=dtype)
    Z = zs.reshape(-1, 1)
    got = backward(np.ones_like(Z), Z, np.tanh(Z), np.zeros((1, 1), dtype))[:, 0]
    tiny = np.finfo(dtype).tiny
    for z, value in zip(zs, got):
        exact = mpmath.sech(mpmath.mpf(float(z))) ** 2
        err = abs(mpmath.mpf(float(value)) - exact)
        assert err <= GATE[dtype] * exact or (exact < tiny and err < tiny), (z, value, exact)


def test_saturated_rnn_gradients_equal_exact_evaluation():
    """Large weights drive tanh to ±1 (|z| up to ~40): each gradient entry, however small,
    equals symnet's exact one (1 − S² would give 0 for the saturated steps)."""
    net = rnn_net(T=2)
    rng = np.random.default_rng(3)
    params = {k: 15 * rng.standard_normal(s) for k, s in net.parameters.items()}
    X = rng.standard_normal((2, 2, 2))
    Y = rng.standard_normal((2, 1))
    _, exact = sn.derive(net).evaluate(params, X.reshape(2, -1), Y)
    _, grads = sn.compile(net).loss_and_grads(params, X, Y)
    assert np.abs(grads["Wx1"]).min() < 1e-8  # saturated indeed
    for name in params:
        np.testing.assert_allclose(grads[name], exact[name], rtol=1e-10, atol=0, err_msg=name)


@pytest.mark.parametrize("layers", [
    [sn.RNN(2, 3), sn.Dense(3, 1)],
    [sn.LSTM(2, 2, return_sequences=True), sn.RNN(2, 2), sn.Dense(2, 1)],
])
def test_mutant_without_recurrent_term_still_generates(layers):
    """The code path of BPTT without δ[t+1] Whᵀ (a mutant) with a last-state gradient."""
    from symnet.checking.mutants import mutants

    net = sn.Network(layers, loss=sn.MSE(), input_shape=(3, 2))
    d = sn.derive(net)
    for m in mutants(d):
        if m.key == "recurrent_term_dropped":
            rng = np.random.default_rng(0)
            params = {k: rng.standard_normal(s) for k, s in net.parameters.items()}
            X, Y = rng.standard_normal((2, 6)), rng.standard_normal((2, 1))
            _, got = sn.compile(m.derivation).loss_and_grads(params, X, Y)
            _, want = m.derivation.evaluate(params, X, Y)
            for name in params:
                np.testing.assert_allclose(got[name], want[name], rtol=1e-10, atol=1e-12)


# ── LSTM and GRU: the gates kept from the forward loop, derivatives without cancellation ──

GATED = {"lstm": sn.LSTM, "gru": sn.GRU}


def gated_net(cell, T=2, n_in=2, h=2):
    return sn.Network([GATED[cell](n_in, h), sn.Dense(h, 1)], loss=sn.MSE(),
                      input_shape=(T, n_in))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_bptt_runs_from_what_the_forward_loop_kept(cell):
    """BPTT reads the gates (and an LSTM's memories) the forward loop kept, and the last-state
    gradient alone; nothing applies σ or tanh to Z again."""
    source = sn.codegen(gated_net(cell))
    loop = "Z1_loop" if cell == "lstm" else "H1_loop"
    assert f"{loop}[2], True, last=True)" in source and "_at_time_step" not in source
    assert f"_{cell}_states" not in source


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_bptt_without_kept_gates_recomputes_them(cell):
    """The helper's fallback (gates recomputed from Z, H) gives the same δ as the kept gates."""
    model = sn.compile(gated_net(cell, T=3, h=3))
    m = model.module
    rng = np.random.default_rng(1)
    params = {k: rng.standard_normal(s) for k, s in model.network.parameters.items()}
    X = rng.standard_normal((4, 6))
    Wh = params["Wh1"]
    if cell == "lstm":
        Z, S, kept = m._lstm_forward(X, params["Wx1"], Wh, params["b1"])
        G = rng.standard_normal(S.shape)
        pairs = [(m._lstm_backward(G, Z, Wh, kept), m._lstm_backward(G, Z, Wh))]
    else:
        Z = (X.reshape(-1, 2) @ params["Wx1"] + params["b1"]).reshape(4, -1)
        H, S, kept = m._gru_forward(Z, Wh, params["bh1"])
        G = rng.standard_normal(S.shape)
        pairs = zip(m._gru_backward(G, Z, H, S, Wh, kept), m._gru_backward(G, Z, H, S, Wh))
    for got, want in pairs:
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gate_values_and_derivatives_are_accurate_where_they_saturate(dtype):
    """σ(z) and σ(−z) (one exponential), and tanh′ from tanh(z) (from z where 1 − y² cancels),
    within the gate of their exact values at every z: y·(1 − y) and 1 − y² are 0 there."""
    m = sn.compile(gated_net("lstm"), dtype).module
    zs = np.array([s * v for s in (1, -1) for v in (0, 1e-30, 0.5, 1, 2, 2.7, 3, 5, 10, 17, 20,
                                                   37, 40, 88, 89, 100, 400, 709, 710, 1e30)],
                  dtype=dtype)
    y, ybar = np.empty_like(zs), np.empty_like(zs)
    m._sigmoids(zs, y, ybar)
    tanh_prime = m._tanh_prime(np.tanh(zs), zs)
    tiny = np.finfo(dtype).tiny
    for z, got in zip(zs, zip(y, ybar, y * ybar, tanh_prime)):
        x = mpmath.mpf(float(z))
        exact = (mpmath.sigmoid(x), mpmath.sigmoid(-x), mpmath.sigmoid(x) * mpmath.sigmoid(-x),
                 mpmath.sech(x) ** 2)
        for value, want in zip(got, exact):
            err = abs(mpmath.mpf(float(value)) - want)
            # σ′ = y·ȳ: two values within the gate, so twice it (and a rounding)
            assert err <= 2.5 * GATE[dtype] * want or (want < tiny and err < tiny), (z, value)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(("dtype", "scale", "rtol"), [(np.float64, 15, 1e-10),
                                                      (np.float32, 6, 2e-4)])
def test_saturated_gated_gradients_equal_exact_evaluation(cell, dtype, scale, rtol):
    """Large weights saturate the gates (|z| ~ 20–40 in float64, 10–15 in float32): every
    gradient entry, down to 1e-40, equals symnet's exact one (at 50 digits) to `rtol`
    relatively; σ′ = y·(1 − y), tanh′ = 1 − y² and 1 − u would give 0 or no digits there.
    (A GRU's S[t−1] − n cancels for some seeds, both ≈ ±1: the formula's own conditioning,
    beyond any code form; the seed here avoids it.)"""
    net = gated_net(cell)
    rng = np.random.default_rng(0)
    params = {k: (scale * rng.standard_normal(s)).astype(dtype)
              for k, s in net.parameters.items()}
    X = rng.standard_normal((2, 2, 2)).astype(dtype)
    Y = rng.standard_normal((2, 1)).astype(dtype)
    _, exact = sn.derive(net).evaluate(params, X.reshape(2, -1), Y)
    _, grads = sn.compile(net, dtype).loss_and_grads(params, X, Y)
    smallest = min(np.abs(g).min() / np.abs(g).max() for g in exact.values())
    assert smallest < (1e-12 if dtype == np.float64 else 1e-5)  # saturated indeed
    for name in params:
        np.testing.assert_allclose(grads[name], exact[name], rtol=rtol, atol=0, err_msg=name)

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

"""BatchNorm2d (symnet.nn.normalization, symnet.algebra.channels): statistics per channel over
(B, H, W), derived, printed, generated and checked like every other layer.

The generated loss and gradients are compared with an independent NumPy implementation written
here (the staged backward pass of the usual hand derivation, through the variance and the
mean, one channel at a time: not the compact formula symnet prints) and with finite
differences; the running statistics with PyTorch's BatchNorm2d when torch is installed.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_conv import data, loss_and_grads_loops, with_dense_head

import symnet as sn
from symnet.checking.mutants import mutants
from symnet.errors import ShapeError

EPS = 1e-5


def batchnorm2d_loops(Z, gamma, beta):
    """PyTorch's BatchNorm2d in training mode, channel by channel; backward by the staged
    chain rule (∂L/∂var, then ∂L/∂μ, then ∂L/∂z)."""
    H, cache = np.zeros_like(Z), []
    for c in range(Z.shape[1]):
        z = Z[:, c]
        mu, var = z.mean(), z.var()
        xhat = (z - mu) / np.sqrt(var + EPS)
        H[:, c] = gamma[c] * xhat + beta[c]
        cache.append((z, mu, var, xhat))

    def back(G):
        dZ, dgamma, dbeta = np.zeros_like(Z), np.zeros_like(gamma), np.zeros_like(beta)
        for c, (z, mu, var, xhat) in enumerate(cache):
            g, m = G[:, c], z.size
            dgamma[c], dbeta[c] = np.sum(g * xhat), np.sum(g)
            dxhat = g * gamma[c]
            dvar = np.sum(dxhat * (z - mu)) * -0.5 * (var + EPS) ** -1.5
            dmu = -np.sum(dxhat) / np.sqrt(var + EPS) + dvar * np.mean(-2 * (z - mu))
            dZ[:, c] = dxhat / np.sqrt(var + EPS) + dvar * 2 * (z - mu) / m + dmu / m
        return dZ, {"gamma": dgamma, "beta": dbeta}
    return H, back


def tanh_loops(Z):
    A = np.tanh(Z)
    return A, lambda G: (G * (1 - A * A), {})


def loss_and_grads_reference(net, params, X, Y):
    """Softmax cross-entropy (mean over the batch) of Conv2d, BatchNorm2d, Tanh, pooling,
    Flatten and Dense layers, by the loop-based layers above and in test_conv."""
    return loss_and_grads_loops(net, params, X, Y, {
        sn.BatchNorm2d: lambda layer, p, k, A: batchnorm2d_loops(A, p[f"gamma{k}"],
                                                                  p[f"beta{k}"]),
        sn.Tanh: lambda layer, p, k, A: tanh_loops(A),
    })


def cnn(stride=1, padding=1, pool="max", compact=True):
    """Conv(stride, padding) → BatchNorm2d → Tanh → pool → Conv → BatchNorm2d → Flatten →
    Dense: the second BatchNorm2d's ∂L/∂input reaches the first, and Tanh keeps max-pool
    windows free of ties."""
    pool_layer = sn.MaxPool2d(2, stride=1) if pool == "max" else sn.AvgPool2d(2)
    layers = [sn.Conv2d(2, 3, 3, stride=stride, padding=padding),
              sn.BatchNorm2d(3, compact=compact), sn.Tanh(), pool_layer,
              sn.Conv2d(3, 2, 2, padding=1), sn.BatchNorm2d(2, compact=compact), sn.Flatten()]
    return with_dense_head(layers, (2, 6, 6), 3)


def _params(model, dtype, seed=1):
    rng = np.random.default_rng(seed)
    return {k: (v + 0.3 * rng.standard_normal(v.shape) * (k[0] != "W")).astype(dtype)
            for k, v in model.init(seed).items()}  # γ ≠ 1, β ≠ 0: every term counts


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("stride", "padding", "pool"), [(1, 1, "max"), (2, 0, "avg")])
def test_generated_matches_reference_and_finite_differences(stride, padding, pool, dtype):
    net = cnn(stride, padding, pool)
    model = sn.compile(net, dtype)
    params = _params(model, dtype)
    X, Y = data(net, dtype)
    L, grads = model.loss_and_grads(params, X, Y)  # X of shape (B, C, H, W)
    p64 = {k: v.astype(np.float64) for k, v in params.items()}
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    L_ref, ref = loss_and_grads_reference(net, p64, X64, Y64)
    tol = 1e-11 if dtype == np.float64 else 1e-4
    assert np.asarray(L).dtype == dtype and abs(float(L) - L_ref) <= tol * max(1, abs(L_ref))
    assert set(grads) == set(ref) and {"gamma1", "beta1", "gamma2", "beta2"} <= set(grads)
    for name, g in grads.items():
        assert g.dtype == dtype and g.shape == params[name].shape, name
        scale = max(1e-2, np.abs(ref[name]).max())
        assert np.abs(g - ref[name]).max() <= tol * 10 * scale, name
    rng = np.random.default_rng(2)
    for _ in range(2):  # central differences of the reference loss, along random directions
        V = {k: rng.standard_normal(v.shape) for k, v in p64.items()}
        h = 1e-6
        up, down = (loss_and_grads_reference(net, {k: p64[k] + s * h * V[k] for k in p64},
                                             X64, Y64)[0] for s in (1, -1))
        directional = sum(np.vdot(grads[k].astype(np.float64), V[k]) for k in V)
        fd = (up - down) / (2 * h)
        assert abs(fd - directional) <= (1e-6 if dtype == np.float64 else 1e-3) * max(1, abs(fd))


def test_compact_and_step_by_step_forms_agree():
    nets = [cnn(compact=True), cnn(compact=False)]
    models = [sn.compile(n) for n in nets]
    params = _params(models[0], np.float64)
    X, Y = data(nets[0], np.float64)
    (L1, g1), (L2, g2) = (m.loss_and_grads(params, X, Y) for m in models)
    assert abs(L1 - L2) < 1e-14
    assert all(np.allclose(g1[k], g2[k], rtol=1e-10, atol=1e-13) for k in g1)
    composed = sn.derive(nets[1]).unicode()
    assert "∂L/∂μ1 = " in composed and "∂L/∂σ1 = " in composed


TINY = sn.Network([sn.Conv2d(1, 2, 2), sn.BatchNorm2d(2), sn.Tanh(), sn.AvgPool2d(2),
                   sn.Flatten(), sn.Dense(2, 2)], loss=sn.SoftmaxCrossEntropy(),
                  input_shape=(1, 3, 3))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_check_three_ways(dtype):
    report = sn.check(TINY, batch=2, dtype=dtype)
    assert report.ok, str(report)
    assert len(report.comparisons) == 3  # the exact evaluation took part


def test_printed_with_the_sums_over_batch_and_positions():
    d = sn.derive(TINY)
    text = d.unicode()
    for line in ("μ1 = (1/(4·B))·Σ_(n,y,x) Z1", "C1 = Z1 − μ1[c]",
                 "V1 = (1/(4·B))·Σ_(n,y,x) (C1 ⊙ C1) + (1/100000)·𝟙", "N1 = C1 ⊘ σ1[c]",
                 "H1 = N1 ⊙ γ1[c] + β1[c]", "∂L/∂γ1 = Σ_(n,y,x) (∂L/∂H1 ⊙ N1)",
                 "∂L/∂β1 = Σ_(n,y,x) ∂L/∂H1",
                 "δ1 = ((1/(4·B))·((4·B)·∂L/∂N1 − (Σ_(n,y,x) ∂L/∂N1)[c] − N1 ⊙ "
                 "(Σ_(n,y,x) (∂L/∂N1 ⊙ N1))[c])) ⊘ σ1[c]"):
        assert line in text, text
    md = d.markdown()
    assert "over the batch and the 2×2 positions" in md and "the B·2·2 entries" in md
    assert r"\sum_{n,y,x}" in d.latex() and r"\oslash \sigma_{1}[c]" in d.latex()


def test_running_statistics_and_evaluation_mode():
    torch = pytest.importorskip("torch")
    net = sn.Network([sn.Conv2d(2, 3, 3, padding=1), sn.BatchNorm2d(3)], loss=sn.MSE(),
                     input_shape=(2, 4, 4))
    model = sn.compile(net)
    params = _params(model, np.float64)
    state = model.init_state()
    assert {k: v.shape for k, v in state.items()} == {"running_mean1": (3,),
                                                       "running_var1": (3,)}
    conv = torch.nn.Conv2d(2, 3, 3, padding=1).double()
    bn = torch.nn.BatchNorm2d(3, eps=EPS, momentum=0.1).double()
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(params["W1"]))
        conv.bias.copy_(torch.from_numpy(params["b1"]))
        bn.weight.copy_(torch.from_numpy(params["gamma1"]))
        bn.bias.copy_(torch.from_numpy(params["beta1"]))
    rng = np.random.default_rng(3)
    for _ in range(3):  # training steps update the running statistics, as PyTorch's do
        X = rng.standard_normal((4, 2, 4, 4))
        model.loss_and_grads(params, X, np.zeros((4, 48)), state=state)
        bn.train()(conv(torch.from_numpy(X)))
    assert np.allclose(state["running_mean1"], bn.running_mean.numpy(), rtol=1e-12)
    assert np.allclose(state["running_var1"], bn.running_var.numpy(), rtol=1e-12)
    X = rng.standard_normal((1, 2, 4, 4))  # evaluation mode: any batch, even one image
    expected = bn.eval()(conv(torch.from_numpy(X))).detach().numpy().reshape(1, -1)
    assert np.allclose(model.forward(params, X, state=state), expected, rtol=1e-12, atol=1e-14)
    source = sn.codegen(net)
    assert "(B * 16 / (B * 16 - 1))" in source  # unbiased over the B·H·W entries
    training = model.forward(params, np.concatenate([X, X + 1]))
    assert np.allclose(training.reshape(2, 3, 16).mean(axis=(0, 2)), params["beta1"])


MISTAKES = ["the mean term", "the variance term", "divides by B where each channel"]


@pytest.mark.parametrize("mistake", MISTAKES)
def test_classic_mistakes_are_named(mistake):
    found = [m for m in mutants(sn.derive(TINY)) if mistake in m.title]
    assert len(found) == 1, [m.title for m in mutants(sn.derive(TINY))]
    buggy = sn.compile(found[0].derivation)
    X, Y = data(TINY, np.float64, batch=3)
    params = _params(sn.compile(TINY), np.float64)
    report = sn.verify(lambda p, X, Y: buggy.loss_and_grads(p, X, Y)[1], net=TINY,
                       params=params, X=X, Y=Y)
    wrong = [r for r in report.results if r.verdict == "wrong"]
    assert wrong and all(mistake in r.diagnosis and r.kind == "normalization_wrong"
                         for r in wrong), str(report)


def test_proved_and_a_wrong_count_is_caught(monkeypatch):
    from symnet.algebra.channels import Channels
    from symnet.algebra.matexpr import B

    assert sn.prove(only="BatchNorm2d")[0].status == "proved"
    monkeypatch.setattr(Channels, "count", property(lambda self: B * self.H))
    assert sn.prove(only="BatchNorm2d")[0].status == "failed"


def test_bad_input_is_refused():
    with pytest.raises(ShapeError, match=r"images \(C, H, W\).*BatchNorm\(n\)"):
        sn.Network([sn.Dense(4, 3), sn.BatchNorm2d(3)], loss=sn.MSE())
    with pytest.raises(ShapeError, match="normalizes 3 channels.*2 channels"):
        sn.Network([sn.Conv2d(1, 2, 3), sn.BatchNorm2d(3)], loss=sn.MSE(), input_shape=(1, 4, 4))
    with pytest.raises(ShapeError, match="1×1 images"):
        sn.Network([sn.Conv2d(1, 2, 2), sn.BatchNorm2d(2)], loss=sn.MSE(), input_shape=(1, 2, 2))
    with pytest.raises(sn.SpecError, match="eps"):
        sn.BatchNorm2d(2, eps=0)
    assert repr(sn.BatchNorm2d(4)) == "BatchNorm2d(4)" and sn.BatchNorm2d(4) != sn.BatchNorm(4)


def test_train_keeps_the_running_statistics():
    model = sn.compile(TINY)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((17, 1, 3, 3)), rng.integers(0, 2, 17)
    history = sn.train(model, model.init(0), X, y, epochs=2, lr=0.1, batch_size=8,
                       progress=False)
    assert set(history.state) == {"running_mean1", "running_var1"}
    assert not np.allclose(history.state["running_var1"], 1.0)

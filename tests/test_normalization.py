"""LayerNorm and BatchNorm: the compact textbook rule equals the composed chain rule, the
derivation equals `sympy.diff`, and the forward pass is PyTorch's (checked in NumPy)."""

from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from _cli import load_generated
from _exact import check_against_sympy_diff, directional_check, rationals
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symnet as sn
from symnet.derivation.evaluate import interpret
from symnet.nn.layers import Softmax
from symnet.nn.losses import CrossEntropy
from symnet.nn.normalization import BatchNorm, LayerNorm

NORMS = [BatchNorm, LayerNorm]


def _gradients_with_symbolic_sigma(net, params, X, Y):
    """Every backward equation's value with σ1 left as positive symbols s_j: V1 is replaced
    by s_j² before σ1 = √V1 is taken, so N1 = C1 ⊘ s and all that follows are rational
    functions of s. What holds for them holds for every value σ can take."""
    d = sn.derive(net)
    batch = X.shape[0]
    env = {d.X: sp.ImmutableMatrix(X), d.Y: sp.ImmutableMatrix(Y)}
    for name, M in d.params.items():
        env[M] = sp.ImmutableMatrix(*(int(n) for n in M.shape),
                                    [sp.Rational(v) for v in np.ravel(params[name])])
    for eq in d.equations:
        value = interpret(eq.rhs, env, batch)
        if eq.name == "V1":
            s = sp.symbols(f"s0:{value.rows}", positive=True)
            value = sp.ImmutableMatrix(value.rows, 1, [si**2 for si in s])
        env[eq.lhs] = value
    return {eq.name: env[eq.lhs] for eq in d.backward}


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize(("batch", "n"), [(1, 1), (2, 3), (3, 2), (4, 3)])
def test_compact_rule_equals_composed_chain_rule(norm, batch, n):
    rng = np.random.default_rng(100 * batch + n)
    nets = {c: sn.Network([sn.Dense(2, n), norm(n, compact=c)], loss=sn.MSE()) for c in (1, 0)}
    params = {k: rationals(rng, s) for k, s in nets[1].parameters.items()}
    X, Y = rationals(rng, (batch, 2)), rationals(rng, (batch, n))
    compact = _gradients_with_symbolic_sigma(nets[1], params, X, Y)
    composed = _gradients_with_symbolic_sigma(nets[0], params, X, Y)
    assert {"dsigma1", "dV1", "dC1", "dmu1"} <= set(composed) - set(compact)
    for name in ("dZ1", "dW1", "db1", "dgamma1", "dbeta1"):
        gap = (compact[name] - composed[name]).applyfunc(lambda v: sp.cancel(sp.together(v)))
        assert gap == sp.zeros(*gap.shape), name
    if (batch if norm is BatchNorm else n) > 1:  # (a single value normalizes to 0: dZ1 = 0)
        assert compact["dZ1"].free_symbols  # σ really stayed symbolic


# ── the whole derivation against sympy.diff, on networks that mix the new layers ─────────────

# Exact closed forms grow fast through a normalization (radicals inside tanh inside sums), and
# SymPy multiplies them without simplifying: a second normalized block costs minutes. So the
# first block draws any chain, later ones only element-wise activations; widths and batch stay
# ≤ 2 (at 3 × 3 one BatchNorm example ran for over five minutes on the CI machine).
CHAINS = [[], ["layernorm"], ["batchnorm"], ["layernorm", "tanh"], ["batchnorm", "relu"],
          ["sigmoid", "batchnorm"], ["swish"]]
LATER = [[], ["tanh"], ["relu"], ["swish"]]


def _layer(word, width):
    if word == "layernorm":
        return LayerNorm(width)
    if word == "batchnorm":
        return BatchNorm(width)
    if word == "swish":
        return sn.Activation("swish", "x*sigmoid(theta*x)", params={"theta": 1})
    return {"tanh": sn.Tanh, "relu": sn.ReLU, "sigmoid": sn.Sigmoid}[word]()


@st.composite
def mixed_networks(draw):
    depth = draw(st.integers(1, 2))
    widths = draw(st.lists(st.integers(1, 2), min_size=depth + 1, max_size=depth + 1))
    loss = draw(st.sampled_from(["mse", "ce", "softmax_ce"]))
    layers = []
    for k, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        layers.append(sn.Dense(n_in, n_out))
        options = CHAINS if k == 0 else LATER
        chain = draw(st.sampled_from(options)) if k < depth - 1 or loss != "ce" else []
        layers += [_layer(w, n_out) for w in chain]
    if loss == "ce":
        layers.append(Softmax())
    losses = {"mse": sn.MSE, "ce": CrossEntropy, "softmax_ce": sn.SoftmaxCrossEntropy}
    return sn.Network(layers, loss=losses[loss]())


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(mixed_networks(), st.integers(1, 2), st.integers(0, 2**32 - 1))
def test_derivation_equals_sympy_diff_of_the_scalar_loss(net, batch, seed):
    rng = np.random.default_rng(seed)
    params = {k: rationals(rng, s) for k, s in net.parameters.items()}
    for name in params:
        if name.startswith("theta"):
            params[name] = np.array([Fraction(1)], dtype=object)  # keep swish well-scaled
    X = rationals(rng, (batch, net.n_in))
    if net.loss.name in ("ce", "softmax_ce"):
        Y = np.eye(net.n_out, dtype=int)[rng.integers(0, net.n_out, batch)].astype(object)
    else:
        Y = rationals(rng, (batch, net.n_out))
    assert check_against_sympy_diff(net, sn.derive(net), params, X, Y, max_entries=6, rng=rng)


# LayerNorm only: SymPy's diff through BatchNorm's batch-coupled square roots, nested in tanh and
# softmax, runs for minutes. BatchNorm is checked against sympy.diff in the mixed-network
# property test above and against its composed chain rule in test_compact_rule_*.
@pytest.mark.parametrize("norm", [n for n in NORMS if n.__name__ == "LayerNorm"])
def test_normalized_softmax_classifier_against_sympy_diff(norm):
    net = sn.Network([sn.Dense(2, 3), norm(3), sn.Tanh(), sn.Dense(3, 2), Softmax()],
                     loss=CrossEntropy())
    rng = np.random.default_rng(7)
    params = {k: rationals(rng, s) for k, s in net.parameters.items()}
    X, Y = rationals(rng, (3, 2)), np.array([[1, 0], [0, 1], [0, 1]], dtype=object)
    # Eight of the 26 entries, drawn at random: each costs seconds, mostly in N() of the exact
    # closed form d.evaluate returns (thousands of operations: nothing simplifies it).
    assert check_against_sympy_diff(net, sn.derive(net), params, X, Y, max_entries=8, rng=rng)


# ── floating point: NumPy as PyTorch defines the layers, and finite differences ───────────────


def _numpy_loss(p, X, Y, eps=1e-5):
    """The issue's network written directly in NumPy with PyTorch's definitions: LayerNorm
    and BatchNorm1d (training mode) divide by √(biased variance + eps); NLLLoss of log p."""
    Z1 = X @ p["W1"] + p["b1"]
    N1 = (Z1 - Z1.mean(1, keepdims=True)) / np.sqrt(Z1.var(1, keepdims=True) + eps)
    A1 = np.tanh(N1 * p["gamma1"] + p["beta1"])
    Z2 = A1 @ p["W2"] + p["b2"]
    N2 = (Z2 - Z2.mean(0)) / np.sqrt(Z2.var(0) + eps)
    A2 = np.maximum(N2 * p["gamma2"] + p["beta2"], 0)
    Z3 = A2 @ p["W3"] + p["b3"]
    P = np.exp(Z3 - Z3.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    return -np.sum(Y * np.log(P)) / X.shape[0]


def test_float_evaluation_matches_numpy_and_its_finite_differences():
    net = sn.Network([sn.Dense(3, 4), LayerNorm(4), sn.Tanh(), sn.Dense(4, 4), BatchNorm(4),
                      sn.ReLU(), sn.Dense(4, 3), Softmax()], loss=CrossEntropy())
    rng = np.random.default_rng(1)
    params = {k: rng.normal(size=s) for k, s in net.parameters.items()}
    X, labels = rng.normal(size=(5, 3)), np.array([0, 2, 1, 1, 0])
    Y = np.eye(3)[labels]
    loss, grads = sn.derive(net).evaluate(params, X, labels)
    assert loss == pytest.approx(_numpy_loss(params, X, Y), rel=1e-13)
    h = 1e-6
    for name, p in params.items():
        fd = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            up = {**params, name: p.copy()}
            down = {**params, name: p.copy()}
            up[name][i] += h
            down[name][i] -= h
            fd[i] = (_numpy_loss(up, X, Y) - _numpy_loss(down, X, Y)) / (2 * h)
        np.testing.assert_allclose(grads[name], fd, rtol=1e-6, atol=1e-8, err_msg=name)
    np.testing.assert_allclose(grads["b2"], 0, atol=1e-12)  # BatchNorm cancels the bias before it


@pytest.mark.parametrize("norm", NORMS)
def test_float_evaluation_against_directional_differences(norm):
    net = sn.Network([sn.Dense(2, 3), norm(3), sn.Sigmoid(), sn.Dense(3, 1)], loss=sn.MSE())
    rng = np.random.default_rng(3)
    params = {k: rationals(rng, s) for k, s in net.parameters.items()}
    directional_check(sn.derive(net), params, rationals(rng, (3, 2)), rationals(rng, (3, 1)), rng)


# ── what users see ────────────────────────────────────────────────────────────────────────────


def _issue_network():
    return sn.Network([sn.Dense(4, 8), LayerNorm(8), sn.Tanh(), sn.Dense(8, 8), BatchNorm(8),
                       sn.ReLU(), sn.Dense(8, 3), Softmax()], loss=CrossEntropy())


def test_printed_derivation_is_the_textbook_form():
    d = sn.derive(_issue_network())
    text = d.unicode()
    for line in [
        "μ2 = (1/B)·Z2ᵀ 𝟙",
        "V2 = (1/B)·(C2 ⊙ C2)ᵀ 𝟙 + (1/100000)·𝟙",
        "N2 = C2 ⊘ (𝟙 σ2ᵀ)",
        "H2 = N2 ⊙ (𝟙 γ2ᵀ) + 𝟙 β2ᵀ",
        "∂L/∂γ2 = (∂L/∂H2 ⊙ N2)ᵀ 𝟙",
        "∂L/∂β2 = (∂L/∂H2)ᵀ 𝟙",
        "∂L/∂N2 = ∂L/∂H2 ⊙ (𝟙 γ2ᵀ)",
        "δ2 = ((1/B)·(B·∂L/∂N2 − 𝟙 𝟙ᵀ ∂L/∂N2 − N2 ⊙ (𝟙 𝟙ᵀ (∂L/∂N2 ⊙ N2)))) ⊘ (𝟙 σ2ᵀ)",
        "μ1 = (1/8)·Z1 𝟙",
        "δ1 = ((1/8)·(8·∂L/∂N1 − ∂L/∂N1 𝟙 𝟙ᵀ − N1 ⊙ ((∂L/∂N1 ⊙ N1) 𝟙 𝟙ᵀ))) ⊘ (σ1 𝟙ᵀ)",
        "δ3 = A3 ⊙ (∂L/∂A3 − (∂L/∂A3 ⊙ A3) 𝟙 𝟙ᵀ)",
    ]:
        assert f"  {line}\n" in text, line
    assert "dsigma2" not in [e.name for e in d.backward]  # compact: no equations for statistics
    latex = d.latex()
    assert r"\frac{\partial L}{\partial \gamma_{2}} &= \left(\frac{\partial L}{\partial H_{2}}" \
        r" \odot N_{2}\right)^{\top} \mathbb{1}" in latex
    assert r"\oslash \left(\mathbb{1} \sigma_{2}^{\top}\right)" in latex
    assert "centred values sum to zero" in d.markdown()


def test_parameters_in_forward_order():
    assert list(_issue_network().parameters.items()) == [
        ("W1", (4, 8)), ("b1", (8,)), ("gamma1", (8,)), ("beta1", (8,)),
        ("W2", (8, 8)), ("b2", (8,)), ("gamma2", (8,)), ("beta2", (8,)),
        ("W3", (8, 3)), ("b3", (3,)),
    ]


def test_composed_form_prints_every_step():
    d = sn.derive(sn.Network([sn.Dense(2, 3), BatchNorm(3, compact=False)], loss=sn.MSE()))
    assert [e.name for e in d.backward] == [
        "dH1", "dgamma1", "dbeta1", "dN1", "dsigma1", "dV1", "dC1", "dmu1", "dZ1", "dW1", "db1"]
    assert "  ∂L/∂μ1 = −(∂L/∂C1)ᵀ 𝟙\n" in d.unicode()


def test_initial_values_and_spec_words():
    assert {k: list(v) for k, v in BatchNorm(2).initial(3).items()} == {
        "gamma3": [1.0, 1.0], "beta3": [0.0, 0.0]}
    net = sn.parse("4-8-3 layernorm,tanh softmax ce")
    assert net.layers == (sn.Dense(4, 8), LayerNorm(8), sn.Tanh(), sn.Dense(8, 3), Softmax())
    assert sn.describe(net) == "4-8-3 layernorm,tanh softmax ce"
    assert sn.parse("3-5-2 batchnorm(0.001),relu mse").layers[1] == BatchNorm(5, eps=0.001)


@pytest.mark.parametrize(
    ("build", "error", "words"),
    [
        (lambda: sn.Network([sn.Dense(4, 8), LayerNorm(5)], loss=sn.MSE()), sn.ShapeError,
         "normalizes 5 features, but the layer before it gives 8"),
        (lambda: BatchNorm(0), sn.ShapeError, "positive integer"),
        (lambda: BatchNorm(3, eps=0), sn.SpecError, "eps must be > 0"),
        (lambda: BatchNorm(3, eps=float("nan")), sn.SpecError, "finite"),
        (lambda: sn.Network([sn.Dense(2, 3), BatchNorm(3), LayerNorm(3)], loss=sn.MSE()),
         sn.SpecError, "gamma1 is defined twice"),
        (lambda: sn.Network([sn.Dense(2, 3), sn.Tanh(), sn.ReLU()], loss=sn.MSE()),
         sn.SpecError, "A1 is defined twice"),
        (lambda: sn.parse("2-3-1 layernorm,relu,batchnorm mse"), sn.SpecError, "defined twice"),
        (lambda: sn.parse("2-3-1 batchnorm(x) mse"), sn.SpecError, "eps of batchnorm"),
    ],
)
def test_bad_normalization_layers(build, error, words):
    with pytest.raises(error, match=words):
        build()


def test_explicit_mode_indexes_batch_statistics_by_feature():
    text = sn.explicit(sn.parse("2-2-1 batchnorm,tanh mse"), batch=2).unicode()
    assert "  μ¹₁ = z¹⁽²⁾₁/2 + z¹⁽¹⁾₁/2\n" in text and "  n¹⁽¹⁾₁ = c¹⁽¹⁾₁/σ¹₁\n" in text
    assert "μ¹⁽¹⁾" not in text  # LayerNorm's statistics, one per sample, would carry ⁽ˢ⁾


def test_three_way_check_of_generated_code():
    report = sn.check("3-4-3 batchnorm,act(x*sigmoid(theta*x), theta=1) softmax ce", batch=3)
    assert report.ok, str(report)
    assert {"gamma1", "beta1", "theta1"} <= {r.name for r in report.results}


# ── evaluation mode: running statistics (issue 14) ─────────────────────────────────────────


def test_batchnorm_eval_mode_with_running_statistics():
    model = sn.compile("3-4-1 batchnorm,tanh mse")
    params, state = model.init(0), model.init_state()
    np.testing.assert_array_equal(state["running_mean1"], np.zeros(4))
    np.testing.assert_array_equal(state["running_var1"], np.ones(4))
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(8, 3)), rng.normal(size=(8, 1))
    L, _ = model.loss_and_grads(params, X, Y, state=state)  # a training step: updates them
    assert float(L) == pytest.approx(float(model.loss(params, X, Y)))  # batch statistics
    Z = X @ params["W1"] + params["b1"]
    np.testing.assert_allclose(state["running_mean1"], 0.1 * Z.mean(axis=0))
    np.testing.assert_allclose(state["running_var1"], 0.9 + 0.1 * Z.var(axis=0, ddof=1))
    one = X[:1]  # evaluation mode: one row is fine, normalized by the running statistics
    N = (one @ params["W1"] + params["b1"] - state["running_mean1"]) / np.sqrt(
        state["running_var1"] + 1e-5)
    expected = np.tanh(N * params["gamma1"] + params["beta1"]) @ params["W2"] + params["b2"]
    np.testing.assert_allclose(model.forward(params, one, state=state), expected)
    with pytest.raises(sn.DataError, match="init_state"):
        model.forward(params, one, state={"running_mean1": np.zeros(4)})


def test_generated_module_has_batchnorm_eval_mode(tmp_path):
    m = load_generated(sn.codegen("3-4-1 batchnorm,tanh mse"), tmp_path)
    params, state = m.init_params(0), m.init_state()
    X = np.random.default_rng(0).normal(size=(8, 3))
    m.loss_and_grads(params, X, np.zeros((8, 1)), state=state)
    assert m.forward(params, X[:1], state=state).shape == (1, 1)
    assert m.STATE_SHAPES == {"running_mean1": (4,), "running_var1": (4,)}


def test_training_keeps_the_running_statistics():
    model = sn.compile("2-8-2 batchnorm,relu softmax_ce")
    X = np.random.default_rng(1).normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int)
    h = sn.train(model, model.init(0), X, y, epochs=3, batch_size=8, progress=False)
    assert set(h.state) == {"running_mean1", "running_var1"}
    assert not np.allclose(h.state["running_mean1"], 0)
    assert model.forward(h.params, X[:1], state=h.state).shape == (1, 2)

"""Networks beyond a stack (symnet.nn.graph, dropout, embedding) and the input gradient: each
checked against sympy.diff of the expanded loss, exact evaluation, finite differences (sn.check)
and the mutants of verify."""

from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

import symnet as sn
from symnet import Add, Concat, Dense, Dropout, Embedding, Input, Network
from symnet.errors import DataError, ShapeError, SpecError

# A polynomial activation keeps every value rational, so the exact evaluation and sympy.diff
# of the expanded loss can be compared with ==.
CUBIC = sn.Activation("cubic", "x**3/3 + x/2")


def residual(act=sn.Tanh, p=None):
    x = Input(3)
    h1 = act()(Dense(3, 2)(x))
    h2 = act()(Dense(2, 2)(h1))
    if p is not None:
        h2 = Dropout(p)(h2)
    return Network(inputs=x, outputs=Dense(2, 1)(Add()(h1, h2)), loss=sn.MSE())


def branches(act=sn.Tanh):
    x = Input(3)
    a = act()(Dense(3, 2)(x))
    b = Dense(3, 1)(x)
    return Network(inputs=x, outputs=Dense(3, 1)(Concat()(a, b)), loss=sn.MSE())


def test_the_issue_example_numbers_parameters_and_sums_paths():
    x = sn.Input(4)
    h1 = sn.ReLU()(sn.Dense(4, 8)(x))
    h2 = sn.ReLU()(sn.Dense(8, 8)(h1))
    out = sn.Dense(8, 3)(sn.Add()(h1, h2))
    net = sn.Network(inputs=x, outputs=out, loss=sn.SoftmaxCrossEntropy())
    assert list(net.parameters) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    d = sn.derive(net)
    assert "∂L/∂A1 = ∂L/∂S1 + δ2 W2ᵀ" in d.unicode()
    assert "sum of one term per path" in d.markdown()
    assert r"\frac{\partial L}{\partial A_{1}} &= \frac{\partial L}{\partial S_{1}}" in d.latex()
    assert net == sn.Network(inputs=x, outputs=out, loss=sn.SoftmaxCrossEntropy())
    # the list form keeps working
    assert sn.derive(sn.Network([Dense(2, 3), sn.ReLU(), Dense(3, 1)], loss=sn.MSE()))


def _expanded_check(net, batch=2, masks=None):
    """derive's exact gradients == sympy.diff of the loss written out entry by entry."""
    d = sn.derive(net, input_gradient=True)
    rng = np.random.default_rng(3)
    params = {k: np.vectorize(lambda v: Fraction(int(v), 4))(rng.integers(-4, 5, s)).astype(object)
              for k, s in net.parameters.items()}
    X = np.vectorize(lambda v: Fraction(int(v), 3))(rng.integers(-3, 4, (batch, net.n_in)))
    Y = np.vectorize(lambda v: Fraction(int(v), 2))(rng.integers(-2, 3, (batch, 1)))
    L, grads = d.evaluate(params, X.astype(object), Y.astype(object), masks=masks)
    # the loss as SymPy expands it, with every parameter and input entry a symbol
    from symnet.derivation.evaluate import interpret
    syms = {}
    env = {}
    for name, sym in [*d.params.items(), ("X", d.X)]:
        shape = params[name].shape if name != "X" else X.shape
        rows, cols = (shape[0], shape[1] if len(shape) == 2 else 1)
        M = sp.Matrix(rows, cols, lambda r, c, n=name: sp.Symbol(f"{n}_{r}_{c}"))
        syms[name], env[sym] = M, sp.ImmutableMatrix(M)
    env[d.Y] = sp.ImmutableMatrix([[sp.Rational(v.numerator, v.denominator)] for v in Y[:, 0]])
    for M, _ in d.tape.masks.items():
        env[M] = sp.ImmutableMatrix(masks[str(M.name)])
    for eq in d.forward:
        env[eq.lhs] = interpret(eq.rhs, env, batch)
    expanded = interpret(d.loss.rhs, env, batch)  # the loss as one expression in the symbols
    point = {}
    for name, M in syms.items():
        values = np.asarray(params[name] if name != "X" else X).reshape(M.shape)
        point.update({M[r, c]: sp.Rational(values[r, c].numerator, values[r, c].denominator)
                      for r in range(M.rows) for c in range(M.cols)})
    assert expanded.xreplace(point) == L
    for name, M in syms.items():
        truth = M.applyfunc(lambda s: sp.diff(expanded, s).xreplace(point))
        got = np.asarray(grads[name]).reshape(M.shape)
        assert all(truth[r, c] == got[r, c] for r in range(M.rows) for c in range(M.cols)), name


@pytest.mark.parametrize("make", [residual, branches])
def test_graphs_equal_sympy_diff_of_the_expanded_loss(make):
    _expanded_check(make(lambda: CUBIC), batch=1)


def test_dropout_equals_sympy_diff_with_the_mask_fixed():
    masks = {"M2": np.array([[1, 0], [0, 1]])}
    _expanded_check(residual(lambda: CUBIC, p=Fraction(1, 4)), masks=masks)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("make", [residual, branches, lambda: residual(sn.ReLU, 0.5)])
def test_generated_exact_and_finite_differences_agree(make, dtype):
    report = sn.check(make(), dtype=dtype, batch=3)
    assert report.ok, report
    assert len(report.comparisons) == 3  # generated vs exact, exact vs FD, generated vs FD


def test_input_gradient_everywhere():
    net = branches()
    d = sn.derive(net, input_gradient=True)
    eq = d.equation("dX")
    assert eq.kind == "input" and "∂L/∂X = " in d.unicode()
    assert "dX" not in [e.name for e in sn.derive(net).backward]
    model = sn.compile(net, input_gradient=True)
    assert '"X": dX' in sn.codegen(net, input_gradient=True)
    params = model.init(0)
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((4, 3)), rng.standard_normal((4, 1))
    _, g = model.loss_and_grads(params, X, Y)
    _, exact = d.evaluate(params, X, Y, exact=False)
    np.testing.assert_allclose(g["X"], exact["X"], rtol=1e-12, atol=1e-14)
    h = 1e-6
    fd = np.zeros_like(X)
    for idx in np.ndindex(X.shape):
        up, down = X.copy(), X.copy()
        up[idx] += h
        down[idx] -= h
        fd[idx] = (model.loss(params, up, Y) - model.loss(params, down, Y)) / (2 * h)
    np.testing.assert_allclose(g["X"], fd, rtol=1e-6, atol=1e-8)


def test_dropout_masks_training_check_and_evaluation_mode():
    net = residual(p=0.5)
    model = sn.compile(net)
    params = model.init(0)
    X, Y = np.ones((4, 3)), np.zeros((4, 1))
    masks = model.draw_masks(4, seed=1)
    assert set(masks) == {"M2"} and masks["M2"].shape == (4, 2)
    # fixed masks: deterministic; fresh masks (training): drawn each call
    a = model.loss_and_grads(params, X, Y, masks=masks)[1]["W2"]
    assert np.array_equal(a, model.loss_and_grads(params, X, Y, masks=masks)[1]["W2"])
    # evaluation mode: without masks dropout is left out
    plain = sn.compile(residual())
    assert np.allclose(model.forward(params, X), plain.forward(params, X))
    kept = model.forward(params, X, masks={"M2": np.ones((4, 2))})  # all kept: D2 = 2 A2
    assert not np.allclose(kept, model.forward(params, X))
    history = model.module.train(model.init(0), np.ones((8, 3)), np.zeros(8), epochs=2)
    assert len(history) == 2
    with pytest.raises(DataError, match="masks"):
        sn.derive(net).evaluate(params, X, Y)
    with pytest.raises(DataError, match="0 and 1"):
        model.loss(params, X, Y, masks={"M2": np.full((4, 2), 0.5)})


def test_embedding_scatter_add():
    x = Input(3)
    e = Embedding(5, 2)(x)
    net = Network(inputs=x, outputs=Dense(10, 2)(Concat()(sn.Tanh()(Dense(6, 4)(e)), e)),
                  loss=sn.SoftmaxCrossEntropy())
    d = sn.derive(net)
    assert "∂L/∂E1 = scatter_add(X, δ1)" in d.unicode()
    assert r"\operatorname{scatter\_add}" in d.latex()
    assert "np.bincount" in sn.codegen(net)
    for dtype in (np.float64, np.float32):
        assert sn.check(net, dtype=dtype).ok
    listed = Network([Embedding(4, 2), Dense(4, 1)], loss=sn.MSE(), input_shape=2)
    model = sn.compile(listed)
    X = np.array([[0, 3], [3, 3]])
    _, g = model.loss_and_grads(model.init(0), X, np.zeros(2))
    _, exact = sn.derive(listed).evaluate(model.init(0), X, np.zeros(2), exact=False)
    np.testing.assert_allclose(g["E1"], exact["E1"], rtol=1e-12)
    assert np.all(g["E1"][1:3] == 0)  # rows no index names get nothing
    with pytest.raises(DataError, match="0..3"):
        model.loss(model.init(0), np.array([[0, 4]]), np.zeros(1))
    with pytest.raises(SpecError, match="indices"):
        sn.codegen(listed, input_gradient=True)


def _handwritten(bug=None):
    """∂L/∂θ of residual(p=0.5) written by hand, with one of the classic mistakes."""
    def grads(p, X, Y, masks):
        M = masks["M2"]
        Z1 = X @ p["W1"] + p["b1"]
        A1 = np.tanh(Z1)
        Z2 = A1 @ p["W2"] + p["b2"]
        A2 = np.tanh(Z2)
        D2 = A2 * M / 0.5
        S1 = A1 + D2
        Z3 = S1 @ p["W3"] + p["b3"]
        dZ3 = 2 * (Z3 - Y) / len(X)
        dS1 = dZ3 @ p["W3"].T
        dD2 = dS1 * (1 if bug == "mask" else M) / (1 if bug == "scale" else 0.5)
        dZ2 = dD2 * (1 - A2 ** 2)
        dA1 = (0 if bug == "skip" else dS1) + dZ2 @ p["W2"].T
        dZ1 = dA1 * (1 - A1 ** 2)
        return {"W1": X.T @ dZ1, "b1": dZ1.sum(0), "W2": A1.T @ dZ2, "b2": dZ2.sum(0),
                "W3": S1.T @ dZ3, "b3": dZ3.sum(0)}
    return grads


@pytest.mark.parametrize("bug, words", [
    (None, None),
    ("skip", "skip path's gradient is missing"),
    ("mask", "dropout mask M2 is not applied in the backward pass"),
    ("scale", "not rescaled by 1/(1 − p)"),
])
def test_verify_names_the_mistake(bug, words):
    net = residual(p=0.5)
    model = sn.compile(net)
    params = model.init(1)
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((4, 3)), rng.standard_normal((4, 1))
    masks = {"M2": np.array([[1, 0], [0, 1], [1, 1], [0, 1]])}
    grads = _handwritten(bug)
    report = sn.verify(lambda p, X, Y: grads(p, X, Y, masks), net=net, params=params, X=X, Y=Y,
                       masks=masks)
    if bug is None:
        assert report.ok, report
    else:
        assert not report.ok and words in str(report), str(report)
    with pytest.raises(DataError, match="masks="):
        sn.verify(lambda p, X, Y: grads(p, X, Y, masks), net=net, params=params, X=X, Y=Y)


def test_bad_graphs_are_refused():
    x = Input(3)
    with pytest.raises(ShapeError, match="expects 4 inputs"):
        Dense(4, 2)(x)
    with pytest.raises(SpecError, match="tensors"):
        Dense(3, 2)(np.ones(3))
    with pytest.raises(ShapeError, match="one shape"):
        Add()(Dense(3, 2)(x), Dense(3, 1)(x))
    with pytest.raises(SpecError, match="merges"):
        Network([Dense(3, 2), Add()], loss=sn.MSE())
    shared = Dense(3, 3)
    twice = shared(shared(x))
    with pytest.raises(SpecError, match="called twice"):
        Network(inputs=x, outputs=twice, loss=sn.MSE())
    with pytest.raises(SpecError, match="integer indices"):
        Network(inputs=x, outputs=Embedding(4, 2)(Dense(3, 3)(x)), loss=sn.MSE())
    with pytest.raises(SpecError, match="not the network's input"):
        Network(inputs=x, outputs=Dense(2, 1)(Input(2)), loss=sn.MSE())
    with pytest.raises(SpecError, match="defined twice"):  # two activations numbered 2
        h = sn.Tanh()(Dense(3, 3)(x))
        Network(inputs=x, outputs=sn.Tanh()(Add()(h, sn.Tanh()(Dense(3, 3)(h)))), loss=sn.MSE())
    with pytest.raises(SpecError, match="0 ≤ p < 1"):
        Dropout(1)

"""The fused training step (codegen.inplace): one function, preallocated buffers, the same
numbers as loss_and_grads + sgd_step."""

import tracemalloc

import numpy as np
import pytest

import symnet as sn
from symnet.checking.check import draw
from symnet.nn.layers import ACTIVATIONS
from symnet.nn.losses import LOSSES
from symnet.nn.normalization import BatchNorm, LayerNorm


def specs():
    out = []
    for act in sorted(ACTIVATIONS):
        for loss in sorted(LOSSES):
            output = getattr(LOSSES[loss], "probabilities_from", None) or act
            out.append(f"3-4-2 {act} {output} {loss}")
    return out


def networks():
    return [
        "4-6-5-3 layernorm,tanh/relu softmax_ce",
        "2-8-1 batchnorm,act(x*sigmoid(theta*x), theta=1) bce_logits",
        "3-5-2 act(abs(x) + min(x, 0.5)) mse weight_decay=0.1",
        "5-4-3 leaky_relu(0.1) softmax ce",
        sn.Network([sn.Dense(3, 4), LayerNorm(4), sn.Tanh(), sn.Dense(4, 4), BatchNorm(4),
                    sn.ReLU(), sn.Dense(4, 2)], sn.MSE()),
    ]


def reference_step(model, params, X, Y, lr, state=None):
    L, grads = (model.module.loss_and_grads(params, X, Y) if state is None else
                model.module.loss_and_grads(params, X, Y, state=state))
    model.module.sgd_step(params, grads, lr)
    return L


def assert_same(a, b, rtol):
    for k in a:
        scale = max(1.0, float(np.max(np.abs(b[k]))))
        assert np.max(np.abs(a[k] - b[k])) <= rtol * scale, k


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("spec", specs() + [f"3-4-5-2 {a} mse weight_decay=0.1"
                                            for a in sorted(ACTIVATIONS)])
def test_train_step_equals_loss_and_grads_then_sgd(spec, dtype):
    model = sn.compile(spec, dtype=dtype)
    params, X, Y = draw(model.network, model, 0, 5)
    fused = {k: v.copy() for k, v in params.items()}
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for step in range(3):  # the second and third calls reuse the buffers
        L_ref = reference_step(model, params, X, Y, 0.1)
        L = model.module.train_step(fused, X, Y, 0.1)
        assert L.dtype == dtype and abs(L - L_ref) <= rtol * max(1, abs(L_ref)), step
        assert_same(fused, params, rtol)
        assert all(v.dtype == dtype for v in fused.values())


@pytest.mark.parametrize("net", networks(), ids=lambda n: n if isinstance(n, str) else "mixed")
def test_train_step_of_normalization_and_custom_layers(net):
    model = sn.compile(net)
    params, X, Y = draw(model.network, model, 1, 6)
    fused = {k: v.copy() for k, v in params.items()}
    norms = "batchnorm" in str(net) or not isinstance(net, str)
    state_ref = model.init_state() if norms else None
    state = model.init_state() if norms else None
    for _ in range(2):
        L_ref = reference_step(model, params, X, Y, 0.05, state_ref)
        L = (model.module.train_step(fused, X, Y, 0.05) if state is None else
             model.module.train_step(fused, X, Y, 0.05, state=state))
        assert abs(L - L_ref) <= 1e-12 * max(1, abs(L_ref))
        assert_same(fused, params, 1e-12)
    if norms:
        assert_same(state, state_ref, 1e-12)


def test_batch_sizes_and_dtypes_share_one_module():
    """Buffers are per (batch size, dtype): a last short minibatch, then the first size again."""
    model = sn.compile("6-5-3 relu softmax_ce")
    rng = np.random.default_rng(0)
    for B, dtype in [(8, np.float64), (3, np.float64), (8, np.float32), (8, np.float64)]:
        params = {k: v.astype(dtype) for k, v in model.init(0).items()}
        ref = {k: v.copy() for k, v in params.items()}
        X = rng.standard_normal((B, 6)).astype(dtype)
        Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, B)]
        L = model.module.train_step(params, X, Y, 0.1)
        L_ref = reference_step(model, ref, X, Y, 0.1)
        assert abs(L - L_ref) <= 1e-5 * max(1, abs(L_ref))
        assert_same(params, ref, 1e-5 if dtype == np.float32 else 1e-12)


def test_the_step_is_lowered_into_buffers_and_allocates_nothing_after_the_first_call():
    model = sn.compile("784-128-10 relu softmax_ce")
    source = model.source[model.source.index("def train_step"):]
    assert "np.dot(X, W1, out=Z1)" in source
    assert "np.subtract(W1, dW1, out=W1)" in source  # the update, in place
    assert "* (lr / B)" not in source.split("# δ2")[0]  # lr enters at the seed only
    params = model.init(0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 784))
    Y = np.eye(10)[rng.integers(0, 10, 64)]
    model.module.train_step(params, X, Y, 0.01)  # allocates the buffers
    tracemalloc.start()
    try:
        model.module.train_step(params, X, Y, 0.01)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # nothing of the step's size is allocated again (NumPy's casting buffer for the boolean
    # mask of relu′, 8192 entries, is the largest allocation left)
    assert peak < 0.1 * sum(p.nbytes for p in params.values())



@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_the_statements_after_a_sigmoid_derivative_are_lowered(act):
    """σ′ runs as its helper, whose result has its argument's shape: what follows it (the
    gradients of the first layer) is still computed into buffers."""
    step = sn.codegen(f"6-5-3 {act} softmax_ce")
    step = step[step.index("def train_step"):]
    assert "_sigmoid_prime(" in step
    assert "np.dot(X.T, dZ1, out=dW1)" in step and "dW1 = X.T @ dZ1" not in step


def test_scalar_operands_are_0d_arrays_of_the_step_dtype():
    """A Python number in a ufunc call is converted at every call (codegen.inplace): literals
    are 0-d arrays filled once, lr / B is written into one before the call that reads it."""
    model = sn.compile("5-4-3 leaky_relu(0.1) softmax ce", dtype=np.float32)
    step = model.source[model.source.index("def train_step"):]
    assert "np.full((), 0.1, dtype)" in model.source
    assert "] = lr / B\n" in step
    lines = [line for line in step.splitlines() if "out=" in line]
    assert lines and not any(n in line for line in lines for n in (", 0,", ", 0.1,", "lr"))
    # a float64 lr does not promote the float32 step, and the numbers are loss_and_grads'
    params, X, Y = draw(model.network, model, 1, 6)
    reference = {k: v.copy() for k, v in params.items()}
    L = model.module.train_step(params, X, Y, np.float64(0.5))
    expected = reference_step(model, reference, X, Y, 0.5)
    assert abs(L - expected) <= 1e-6 * abs(expected)
    assert all(p.dtype == np.float32 for p in params.values())
    assert_same(params, reference, 1e-6)

def test_weight_decay_computes_unscaled_gradients_then_multiplies():
    """λW in ∂L/∂W is not proportional to the seed: lr is applied to the whole gradient."""
    source = sn.codegen("3-4-2 relu mse weight_decay=0.1")
    step = source[source.index("def train_step"):]
    assert "multiplied by lr in place" in step
    assert "np.multiply(dW1, lr, out=dW1)" in step


def test_model_train_step_checks_and_updates_in_place():
    model = sn.compile("4-5-3 relu softmax_ce")
    params = model.init(0)
    before = {k: v.copy() for k, v in params.items()}
    X = np.random.default_rng(0).standard_normal((6, 4))
    labels = np.array([0, 1, 2, 0, 1, 2])
    L = model.train_step(params, X, labels, 0.1)
    L_ref = reference_step(model, before, X, np.eye(3)[labels], 0.1)
    assert pytest.approx(L_ref, rel=1e-12) == L
    assert_same(params, before, 1e-12)
    with pytest.raises(sn.ShapeError):
        model.train_step(params, X[:, :3], labels, 0.1)


def test_train_uses_the_fused_step():
    model = sn.compile("4-5-3 relu softmax_ce")
    calls = []
    step = model.module.train_step

    def counting(*a, **k):
        calls.append(1)
        return step(*a, **k)

    model.module.train_step = counting
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 4))
    Y = rng.integers(0, 3, 20)
    history = sn.train(model, model.init(0), X, Y, epochs=2, batch_size=8, progress=False)
    assert len(calls) == 6 and len(history) == 2


def layer_families():
    """One small network of each layer family with its own operations (`Op`), dropout and
    the functional API: the fused step runs their code as printed (codegen.inplace)."""
    x = sn.Input(3)
    h = sn.Dense(3, 4)(x)
    residual = sn.Network(inputs=x, outputs=sn.Dense(4, 2)(sn.Add()(sn.Tanh()(h), h)),
                          loss=sn.MSE())
    return {
        "conv": sn.Network([sn.Conv2d(1, 2, 3, padding=1), sn.BatchNorm2d(2), sn.ReLU(),
                            sn.MaxPool2d(2), sn.Flatten(), sn.Dense(8, 3)],
                           loss=sn.SoftmaxCrossEntropy(), input_shape=(1, 4, 4)),
        "avgpool": sn.Network([sn.Conv2d(1, 2, 2, stride=2), sn.AvgPool2d(2), sn.Flatten(),
                               sn.Dense(2, 1)], loss=sn.MSE(), input_shape=(1, 4, 4)),
        "rnn": sn.Network([sn.RNN(2, 3), sn.Dense(3, 2)], loss=sn.MSE(), input_shape=(4, 2)),
        "gru": sn.Network([sn.GRU(2, 3), sn.Dense(3, 2)], loss=sn.MSE(), input_shape=(3, 2)),
        "lstm": sn.Network([sn.LSTM(2, 3, return_sequences=True), sn.Flatten(),
                            sn.Dense(12, 2)], loss=sn.SoftmaxCrossEntropy(),
                           input_shape=(4, 2)),
        "attention": sn.Network([sn.SelfAttention(3, 2, causal=True), sn.LayerNorm(2),
                                 sn.Flatten(), sn.Dense(8, 1)], loss=sn.MSE(),
                                input_shape=(4, 3)),
        "embedding": sn.Network([sn.Embedding(5, 2), sn.Dense(6, 1)], loss=sn.MSE(),
                                input_shape=3),
        "residual": residual,
        "dropout": sn.Network([sn.Dense(3, 5), sn.ReLU(), sn.Dropout(0.3), sn.Dense(5, 2)],
                              loss=sn.MSE()),
    }


@pytest.mark.parametrize("name", sorted(layer_families()))
def test_train_step_of_every_layer_family(name):
    net = layer_families()[name]
    model = sn.compile(net)
    params, X, Y = draw(model.network, model, 2, 4)
    if name == "embedding":
        X = np.random.default_rng(0).integers(0, 5, (4, 3))
    if model.mask_widths:  # dropout: both steps with the same fixed masks
        model = model.with_masks(model.draw_masks(4, seed=3))
    state = model.init_state() if model.module.STATE_SHAPES else None
    state_ref = model.init_state() if state is not None else None
    fused = {k: v.copy() for k, v in params.items()}
    for _ in range(2):
        L_ref = reference_step(model, params, model.check(params, X, Y)[1],
                               model.check(params, X, Y)[2], 0.05, state_ref)
        L = model.train_step(fused, X, Y, 0.05, state=state)
        assert abs(L - L_ref) <= 1e-12 * max(1, abs(L_ref))
        assert_same(fused, params, 1e-12)
    if state is not None:
        assert_same(state, state_ref, 1e-12)


def test_train_step_of_dropout_draws_fresh_masks():
    model = sn.compile(sn.Network([sn.Dense(3, 50), sn.Dropout(0.5), sn.Dense(50, 1)],
                                  loss=sn.MSE()))
    params, X, Y = draw(model.network, model, 0, 8)
    first = {k: v.copy() for k, v in params.items()}
    second = {k: v.copy() for k, v in params.items()}
    model.train_step(first, X, Y, 0.1)
    model.train_step(second, X, Y, 0.1)
    assert not np.array_equal(first["W1"], second["W1"])  # each step its own masks


@pytest.mark.parametrize("lr", [0, -0.1, float("nan"), "0.1", True])
def test_model_train_step_refuses_a_bad_learning_rate(lr):
    model = sn.compile("3-4-2 relu mse")
    params, X, Y = draw(model.network, model, 0, 5)
    before = {k: v.copy() for k, v in params.items()}
    with pytest.raises(sn.SymnetError, match="lr must be a positive finite number"):
        model.train_step(params, X, Y, lr)
    assert_same(params, before, 0)


def test_model_train_step_takes_numpy_scalars_as_lr():
    model = sn.compile("3-4-2 relu mse", np.float32)
    params, X, Y = draw(model.network, model, 0, 5)
    model.train_step(params, X, Y, np.float32(0.1))
    assert all(v.dtype == np.float32 for v in params.values())


def test_model_train_step_with_bad_input_changes_nothing():
    """Every check runs before anything is written: lists are converted into the caller's dict
    only once the lr, the state and the batch have passed."""
    model = sn.compile("3-4-2 relu mse")
    params, X, Y = draw(model.network, model, 0, 5)
    as_lists = {k: v.tolist() for k, v in params.items()}
    for bad in [dict(lr=-1.0), dict(lr=0.1, Y=Y[:, :1]), dict(lr=0.1, state={"x": 1})]:
        given = dict(as_lists)
        with pytest.raises(sn.SymnetError):
            model.train_step(given, X, bad.get("Y", Y), bad["lr"], state=bad.get("state"))
        assert given == as_lists


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", ["3-3 softmax_ce", "3-3 softmax ce"])
@pytest.mark.parametrize("logit", ["small", "near the bound", "-near the bound", "huge", "nan"])
def test_softmax_skips_the_row_max_only_where_exp_stays_in_range(spec, dtype, logit):
    """The fused step shifts by the row maximum only when Σz² ≥ T² (_exp_bound): near the
    bound, beyond it (where e^z overflows unshifted) and with NaN it gives loss_and_grads'
    numbers."""
    model = sn.compile(spec, dtype=dtype)
    step = model.source[model.source.index("def train_step"):]
    assert "if np.vdot(Z1, Z1) < " in step
    T = np.sqrt(model.module._exp_bound(dtype, 3))
    z = {"small": 0.5, "near the bound": 0.999 * T, "-near the bound": -0.999 * T,
         "huge": 1e4, "nan": np.nan}[logit]
    params = {"W1": np.diag([z, 0.0, 0.0]).astype(dtype), "b1": np.zeros(3, dtype)}
    reference = {k: v.copy() for k, v in params.items()}
    X, Y = np.eye(3, dtype=dtype), np.eye(3, dtype=dtype)[[1, 0, 2]]
    raises = "ignore" if logit == "nan" else "raise"  # (underflow: tiny softmax entries)
    with np.errstate(over=raises, divide=raises, invalid=raises):
        L = model.module.train_step(params, X, Y, 0.5)
        expected = reference_step(model, reference, X, Y, 0.5)
    if logit == "nan":
        assert np.isnan(L) and np.isnan(expected)
        return
    assert np.isfinite(L) and abs(L - expected) <= 1e-6 * abs(expected)
    assert_same(params, reference, 1e-6)

"""Generated NumPy code: equal to SymPy's evaluation of the derivation, stable, dtype-preserving,
one code path for `compile` and the written module."""

import json
import subprocess
import sys
import traceback

import numpy as np
import pytest
from _cli import load_generated
from hypothesis import assume, given
from hypothesis import strategies as st

import symnet as sn
from symnet.cli import main
from symnet.codegen.build import compile
from symnet.codegen.module import codegen
from symnet.files import write_file
from symnet.nn.layers import ACTIVATIONS
from symnet.nn.losses import LOSSES

LOSS_NAMES = sorted(LOSSES)


def spec_for(sizes, hidden, output, loss, extra=""):
    """A spec string; losses on probabilities get the output layer they need."""
    output = getattr(LOSSES[loss], "probabilities_from", None) or output
    words = ["-".join(map(str, sizes)), *([hidden] if len(sizes) > 2 else []), output, loss]
    return " ".join(words) + (f" {extra}" if extra else "")


def dyadic(rng, shape, low=-2.0, high=2.0):
    """Multiples of 1/4: exact in float64, so Z lands on a ReLU kink in both computations or
    in neither (50-digit SymPy and float64 agree on which side)."""
    return rng.integers(int(4 * low), int(4 * high) + 1, size=shape) / 4.0


def batch_for(net, rng, batch):
    X = dyadic(rng, (batch, net.n_in))
    if net.loss.name in ("softmax_ce", "ce"):
        Y = np.eye(net.n_out)[rng.integers(0, net.n_out, batch)]
    elif net.loss.name in ("bce", "bce_logits"):
        Y = dyadic(rng, (batch, net.n_out), 0.0, 1.0)
    else:
        Y = dyadic(rng, (batch, net.n_out))
    return X, Y


def assert_matches_sympy(model, params, X, Y):
    L, grads = model.loss_and_grads(params, X, Y)
    L_true, true = model.derivation.evaluate(params, X, Y)
    assert model.forward(params, X).shape == (len(X), model.network.n_out)
    assert abs(float(L) - L_true) <= 1e-12 * max(1.0, abs(L_true))
    assert set(grads) == set(true)
    for name, t in true.items():
        assert grads[name].shape == params[name].shape
        floor = 1e-12 * max(1.0, float(np.max(np.abs(t))))
        np.testing.assert_allclose(grads[name], t, rtol=1e-12, atol=floor, err_msg=name)


# ── equal to the exact (50-digit SymPy) evaluation ──────────────────────────────────────────


@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_every_activation_and_loss_matches_sympy(act, loss):
    # The activation sits in the hidden layer and (where the loss allows) at the output.
    out = "identity" if act == "gelu" else act  # see the note in the property test below
    model = compile(spec_for([2, 3, 2], act, out, loss, "weight_decay=0.1"))
    rng = np.random.default_rng(len(act) * 7 + len(loss))
    params = {k: dyadic(rng, s) for k, s in model.network.parameters.items()}
    assert_matches_sympy(model, params, *batch_for(model.network, rng, 2))


@given(
    depth=st.integers(1, 3),
    widths=st.lists(st.integers(1, 4), min_size=4, max_size=4),
    hidden=st.sampled_from(sorted(ACTIVATIONS)),
    output=st.sampled_from(sorted(ACTIVATIONS)),
    loss=st.sampled_from(LOSS_NAMES),
    options=st.sampled_from(["", "reduction=sum", "weight_decay=0.25"]),
    batch=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_random_networks_match_sympy(depth, widths, hidden, output, loss, options, batch, seed):
    spec = spec_for(widths[: depth + 1], hidden, output, loss, options)
    net = sn.parse(spec)
    # evaluate.py keeps GELU's √2/√π symbolic, so two GELU layers make SymPy's expressions
    # (not ours) grow without bound; one GELU layer is covered.
    assume(sum(getattr(layer, "name", "") == "gelu" for layer in net.layers) <= 1)
    model = compile(net)
    rng = np.random.default_rng(seed)
    params = {k: dyadic(rng, s) for k, s in net.parameters.items()}
    assert_matches_sympy(model, params, *batch_for(net, rng, batch))


@pytest.mark.parametrize("spec", [
    "2-3-2 act(x*(1+erf(x/sqrt(2)))/2) mse",  # erf: a helper, NumPy has none
    "2-3-2 act(abs(x) + min(x, 0.5)) bce_logits",
    "2-3-2 act(x*sigmoid(beta*x), beta=1.5) softmax_ce",  # a learned scalar, broadcast
    "3-4-2 layernorm,tanh mse", "3-4-3 batchnorm,relu softmax ce",
])
def test_custom_activations_and_normalization_match_sympy(spec):
    try:
        net = sn.parse(spec)
    except sn.SpecError as e:  # the layer or formula word is not available in this checkout
        pytest.skip(str(e))
    model = compile(net)
    rng = np.random.default_rng(5)
    params = {k: rng.standard_normal(s) for k, s in net.parameters.items()}
    X, Y = rng.standard_normal((3, net.n_in)), np.eye(net.n_out)[[0, 1, 1]]
    assert_matches_sympy(model, params, X, Y)


def test_float_data_off_the_grid_matches_sympy():
    model = compile("3-4-4-2 tanh softplus mse")
    rng = np.random.default_rng(3)
    params = {k: rng.standard_normal(s) for k, s in model.network.parameters.items()}
    assert_matches_sympy(model, params, rng.standard_normal((3, 3)), rng.standard_normal((3, 2)))


# ── what the printer writes ─────────────────────────────────────────────────────────────────


def test_printed_forms():
    src = codegen("4-5-3 relu softmax_ce")
    assert "Z1 = X @ W1 + b1" in src  # 𝟙b1ᵀ: broadcasting of the 1-D bias
    assert "A1 = np.maximum(Z1, 0)" in src
    assert "db2 = dZ2.sum(axis=0)" in src  # δᵀ𝟙
    assert "dW2 = A1.T @ dZ2" in src
    assert "dZ1 = (dZ2 @ W2.T) * (Z1 > 0)" in src  # relu′ as a boolean, no float temporary
    assert "# δ1 = (δ2 W2ᵀ) ⊙ relu′(Z1)" in src  # the equation above its line
    body = src[src.index("def loss_and_grads"):src.index("def sgd_step")]
    # softmax and log-sum-exp share one row max and one exponential
    assert body.count("np.exp(") == 1 and body.count(".max(axis=1") == 1


def test_common_subexpressions_once_and_sigmoid_derivative_from_z():
    src = codegen("2-3-1 sigmoid sigmoid mse")
    body = src[src.index("def loss_and_grads"):src.index("def sgd_step")]
    assert body.count("A2 - Y") == 1  # shared by the loss and its derivative
    # σ′(Z1) = A1 ⊙ (1 − A1) in the derivation, computed from Z1 in the code: 1 − A1 is 0 once
    # A1 rounds to 1 (issue 13), so Z1 is kept; A1 is dropped after its last use, ∂L/∂W2
    assert "# δ1 = (δ2 W2ᵀ) ⊙ σ′(Z1)" in body and "_sigmoid_prime(Z1)" in body
    assert "A1*(1 - A1)" not in body
    assert body.index("del A1") < body.index("dZ1 = ")
    assert "for " not in body  # no loops over samples or units


def test_module_imports_only_numpy():
    src = codegen("3-4-2 elu(0.5) bce_logits")
    imports = [line for line in src.splitlines() if line.startswith(("import", "from"))]
    # (threading: loss_and_grads_into keeps its arrays per thread)
    assert imports == ["import numpy as np", "from threading import get_ident"]
    assert "np.expm1(np.minimum(Z1, 0))" in src  # the e^x branch of ELU never sees x > 0


def test_compile_executes_exactly_the_codegen_source():
    net = sn.parse("2-3-1 tanh sigmoid bce")
    model = compile(net)
    assert model.source == codegen(net)
    assert model.__doc__ == model.source
    assert model.network == net and model.dtype == np.float64
    assert model.derivation.network == net


def test_tracebacks_show_generated_lines():
    model = compile("2-3-1 sigmoid mse")
    params = model.init(0)
    params["W2"] = params["W2"][:2]  # wrong shape, past validation: fails inside generated code
    with pytest.raises(ValueError) as info:
        model.module.forward(params, np.zeros((1, 2)))
    text = "".join(traceback.format_exception(info.value))
    assert "<symnet-generated-" in text and "Z2 = A1 @ W2 + b2" in text


# ── numerical stability: no warnings (pytest turns them into errors), finite results ───────


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_stable_at_large_preactivations(act, loss, dtype):
    model = compile(spec_for([1, 2, 2], act, act, loss), dtype=dtype)
    params = {"W1": np.array([[1.0, -1.0]]), "b1": np.zeros(2), "W2": np.eye(2),
              "b2": np.zeros(2)}
    params = {k: v.astype(dtype) for k, v in params.items()}
    X = np.array([[1e4], [-1e4], [0.5]])
    Y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        L, grads = model.loss_and_grads(params, X, Y)
        out = model.forward(params, X)
    assert np.isfinite(L) and np.isfinite(out).all()
    assert all(np.isfinite(g).all() for g in grads.values())


def test_saturated_bce_is_exact_not_clamped():
    """σ(±800) rounds to exactly 1 and 0; the generated code works from the logits, so L is the
    exact 800 (torch.nn.BCELoss(sigmoid(z)) would clamp each log at −100 and give 100;
    BCEWithLogitsLoss gives 800, as here)."""
    model = compile("1-1 sigmoid bce")
    params = {"W1": np.array([[1.0]]), "b1": np.zeros(1)}
    L = model.loss(params, np.array([[800.0], [-800.0]]), np.array([0.0, 1.0]))
    assert float(L) == pytest.approx(800.0)


def test_saturated_bce_exact_and_generated_agree():
    net = sn.parse("1-1 sigmoid bce")
    d, model = sn.derive(net), sn.compile(net)
    p = {"W1": np.array([[1.0]]), "b1": np.array([0.0])}
    X, Y = np.array([[40.0], [-40.0]]), np.array([[0.0], [1.0]])
    L_exact, g_exact = d.evaluate(p, X, Y)
    L_gen, g_gen = model.loss_and_grads(p, X, Y)
    assert float(L_gen) == pytest.approx(float(L_exact), rel=1e-9)  # was 70 vs 40
    for k in p:
        np.testing.assert_allclose(g_gen[k], g_exact[k], rtol=1e-9, atol=1e-12)


def test_saturated_ce_exact_and_generated_agree():
    net = sn.parse("2-2 softmax ce")
    d, model = sn.derive(net), sn.compile(net)
    p = {"W1": np.eye(2), "b1": np.zeros(2)}
    X, Y = np.array([[200.0, 0.0]]), np.array([[0.0, 1.0]])
    L_exact, g_exact = d.evaluate(p, X, Y)
    L_gen, g_gen = model.loss_and_grads(p, X, Y)
    assert float(L_gen) == pytest.approx(float(L_exact), rel=1e-9)  # was 100 vs 200
    np.testing.assert_allclose(g_gen["W1"], g_exact["W1"], rtol=1e-9)


def test_probability_losses_print_their_logit_form():
    src = codegen("2-3-1 tanh sigmoid bce")
    assert "_softplus(-Z2)" in src and "_log(" not in src
    assert "δ2 = (1/(2·B))·(−Y + A2)" in src or "(A2 - Y)" in src


# ── dtypes ──────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("spec", [
    "3-4-2 relu softmax_ce", "3-4-2 leaky_relu sigmoid bce weight_decay=0.01",
    "3-4-2 gelu bce_logits", "3-4-2 elu silu mse reduction=sum", "3-4-2 softplus tanh mse",
])
def test_float32_end_to_end(spec):
    model = compile(spec, dtype="float32")
    params = model.init(seed=1)
    assert all(p.dtype == np.float32 for p in params.values())
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 3))  # float64 data: converted, not upcasting the model
    Y = np.eye(2)[rng.integers(0, 2, 5)]
    L, grads = model.loss_and_grads(params, X, Y)
    assert L.dtype == np.float32 and model.loss(params, X, Y).dtype == np.float32
    assert model.forward(params, X).dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())
    L64, grads64 = model.loss_and_grads({k: v.astype(np.float64) for k, v in params.items()},
                                        X, Y)
    assert L64.dtype == np.float64 and float(L) == pytest.approx(float(L64), rel=1e-5)


def test_integer_labels_for_softmax_ce():
    model = compile("3-4-3 relu softmax_ce")
    params, X = model.init(0), np.ones((4, 3))
    labels = np.array([0, 2, 1, 2])
    assert model.loss(params, X, labels) == model.loss(params, X, np.eye(3)[labels])


def test_init_schemes():
    params = compile("50-40-30-2 relu sigmoid bce").init(seed=0)
    assert params["W1"].std() == pytest.approx(np.sqrt(2 / 50), rel=0.1)  # He before ReLU
    limit = np.sqrt(6 / (30 + 2))  # Glorot before the sigmoid output
    assert np.abs(params["W3"]).max() <= limit and np.all(params["b1"] == 0)
    again = compile("50-40-30-2 relu sigmoid bce").init(seed=0)
    assert all(np.array_equal(params[k], again[k]) for k in params)


# ── bad input ───────────────────────────────────────────────────────────────────────────────


def test_bad_input_gets_clear_errors():
    model = compile("2-3-1 sigmoid mse")
    params = model.init(0)
    with pytest.raises(sn.DataError, match="NaN"):
        model.loss(params, np.array([[np.nan, 0.0]]), np.zeros(1))
    with pytest.raises(sn.ShapeError, match=r"X has shape \(4, 3\)"):
        model.forward(params, np.zeros((4, 3)))
    with pytest.raises(sn.ShapeError, match="Y has shape"):
        model.loss_and_grads(params, np.zeros((4, 2)), np.zeros((3, 1)))
    with pytest.raises(sn.ShapeError, match="parameter W1"):
        model.loss(dict(params, W1=np.zeros((3, 2))), np.zeros((1, 2)), np.zeros(1))
    with pytest.raises(sn.DataError, match="one floating dtype"):
        model.loss(dict(params, b1=params["b1"].astype(np.float32)), np.zeros((1, 2)),
                   np.zeros(1))
    with pytest.raises(sn.DataError, match="float32 or float64"):
        compile("2-1 mse", dtype=np.int32)


# ── the written module ──────────────────────────────────────────────────────────────────────


def test_written_module_runs_without_sympy_and_matches_compile(tmp_path):
    spec = "3-5-4 tanh softmax_ce weight_decay=0.01"
    model = compile(spec)
    write_file(tmp_path / "mlp.py", codegen(spec))
    rng = np.random.default_rng(0)
    params, X, y = model.init(2), rng.standard_normal((6, 3)), rng.integers(0, 4, 6)
    np.savez(tmp_path / "inputs.npz", X=X, Y=np.eye(4)[y], **params)
    script = f"""
import json, sys
sys.modules["sympy"] = None  # importing SymPy would fail
sys.path.insert(0, {str(tmp_path)!r})
import numpy as np, mlp
d = np.load({str(tmp_path / "inputs.npz")!r})
params = {{k: d[k] for k in mlp.SHAPES}}
L, grads = mlp.loss_and_grads(params, d["X"], d["Y"])
np.savez({str(tmp_path / "out.npz")!r}, L=L, out=mlp.forward(params, d["X"]), **grads)
print(json.dumps(sorted(m for m in sys.modules if m.startswith(("symnet", "sympy")))))
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == ["sympy"]  # only the blocked entry: nothing imported
    got = np.load(tmp_path / "out.npz")
    L, grads = model.loss_and_grads(params, X, y)
    assert got["L"] == L and np.array_equal(got["out"], model.forward(params, X))
    assert all(np.array_equal(got[k], grads[k]) for k in grads)


def test_cli_codegen_writes_atomically_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "mlp.py"
    assert main(["codegen", "784-128-10 relu softmax_ce", "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    for fn in ("init_params(seed", "forward(params, X, state=None)", "loss(params, X, Y)",
               "loss_and_grads(params, X, Y, state=None)", "sgd_step(params, grads, lr)",
               "train(params, X", "init_state()"):
        assert f"def {fn}" in text
    assert main(["codegen", "2-1 mse", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists; pass --force" in err
    assert out.read_text(encoding="utf-8") == text  # untouched
    assert main(["codegen", "2-1 mse", "-o", str(out), "--force", "--dtype", "float32"]) == 0
    assert "DTYPE = np.float32" in out.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["mlp.py"]  # no temporary left behind
    assert main(["codegen", "2-1 mse", "-o", str(tmp_path / "no" / "x.py")]) == 2
    assert main(["codegen", "2-1 nonsense"]) == 2


# ── the standalone module accepts what the library accepts, and nothing else (issue 14) ───


def test_generated_loss_accepts_1d_regression_target(tmp_path):
    m = load_generated(codegen("3-16-16-1 tanh mse"), tmp_path)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(500, 3)), rng.normal(size=500)
    params = m.init_params(0)
    right = float(sn.compile("3-16-16-1 tanh mse").loss(params, X, y))
    assert float(m.loss(params, X, y)) == pytest.approx(right, rel=1e-12)  # was 500×500
    L, grads = m.loss_and_grads(params, X, y)  # was a raw matmul error
    assert float(L) == pytest.approx(right, rel=1e-12)
    assert grads["W1"].shape == (3, 16)


def test_generated_softmax_ce_accepts_class_labels(tmp_path):
    m = load_generated(codegen("3-4-3 tanh softmax_ce"), tmp_path)
    params = m.init_params(0)
    X = np.random.default_rng(1).normal(size=(4, 3))
    labels = np.array([0, 1, 2, 1])
    one_hot = np.eye(3)[labels]
    assert float(m.loss(params, X, labels)) == pytest.approx(float(m.loss(params, X, one_hot)))
    L, g = m.loss_and_grads(params, X, labels)
    L1, g1 = m.loss_and_grads(params, X, one_hot)
    assert float(L) == pytest.approx(float(L1))
    np.testing.assert_allclose(g["W1"], g1["W1"])
    with pytest.raises(ValueError, match=r"class labels must lie in 0\.\.2, got 0\.\.3"):
        m.loss(params, X, np.array([0, 1, 3, 1]))


@pytest.mark.parametrize("bad_y", [np.zeros((500, 2)), np.zeros(499), np.zeros((500, 1, 1))])
def test_generated_module_rejects_wrong_target_shape(tmp_path, bad_y):
    m = load_generated(codegen("3-16-16-1 tanh mse"), tmp_path)
    X = np.zeros((500, 3))
    for fn in (m.loss, m.loss_and_grads):
        with pytest.raises(ValueError, match=r"Y has shape"):  # never a silent broadcast
            fn(m.init_params(0), X, bad_y)


def test_generated_batchnorm_batch_of_one_raises(tmp_path):
    m = load_generated(codegen("3-4-1 batchnorm,tanh mse"), tmp_path)
    with pytest.raises(ValueError, match=r"(?i)batch"):
        m.loss_and_grads(m.init_params(0), np.ones((1, 3)), np.ones((1, 1)))


def test_batchnorm_batch_of_one_raises():
    model = sn.compile("3-4-1 batchnorm,tanh mse")
    params = model.init(0)
    X, Y = np.array([[1.0, 2.0, 3.0]]), np.array([[0.5]])
    with pytest.raises(sn.SymnetError, match=r"(?i)batch"):
        model.loss_and_grads(params, X, Y)
    with pytest.raises(sn.SymnetError, match=r"(?i)batch"):
        model.forward(params, X)  # training-mode statistics of one sample: a constant


def test_training_batchnorm_merges_a_last_batch_of_one():
    model = sn.compile("3-4-1 batchnorm,tanh mse")
    X, Y = np.random.default_rng(0).normal(size=(33, 3)), np.zeros(33)
    assert len(sn.train(model, model.init(0), X, Y, epochs=2, batch_size=32,
                        progress=False)) == 2


# ── the checked API's fast path keeps every check (issue 14) ───────────────────────────────


@pytest.mark.parametrize("where", ["W1", "b2", "X", "Y"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_fast_check_still_finds_nan_and_inf(where, bad):
    model = compile("3-4-2 tanh softmax_ce")
    params = model.init(0)
    X = np.ones((5, 3))
    Y = np.eye(2)[[0, 1, 0, 1, 0]]
    target = params[where] if where in params else {"X": X, "Y": Y}[where]
    target.flat[1] = bad
    with pytest.raises(sn.DataError, match="NaN or infinity"):
        model.loss_and_grads(params, X, Y)


def test_fast_check_overflowing_sum_goes_to_the_full_check():
    model = compile("2-1 mse", dtype=np.float32)
    params = model.init(0)
    X = np.full((3, 2), 1e30, dtype=np.float32)  # squares overflow float32: not an error
    _, X_checked, Y = model.check(params, X, np.zeros((3, 1), dtype=np.float32))
    assert X_checked is X and Y.dtype == np.float32


@pytest.mark.parametrize("where", ["W1", "b1", "W2", "X", "Y"])
def test_nan_put_in_place_after_a_first_call_is_still_found(where):
    # arrays are scanned once per object; later changes in place show in the loss, which
    # sends the call to the full check
    model = compile("3-4-2 tanh softmax_ce")
    params = model.init(0)
    X = np.ones((5, 3))
    Y = np.eye(2)[[0, 1, 0, 1, 0]]
    model.loss_and_grads(params, X, Y)
    model.loss(params, X, Y)
    target = params[where] if where in params else {"X": X, "Y": Y}[where]
    target.flat[1] = np.nan
    for f in (model.loss_and_grads, model.loss):
        with pytest.raises(sn.DataError, match="NaN or infinity"):
            f(params, X, Y)


@pytest.mark.parametrize("labels, shown", [([0, 1, 2, 1], "0..2"), ([0, -1, 1, 1], "-1..1")])
def test_checked_api_refuses_labels_out_of_range_on_every_call(labels, shown):
    model = compile("3-4-2 tanh softmax_ce")
    params, X = model.init(0), np.ones((4, 3))
    good = np.array([0, 1, 1, 0])
    model.loss_and_grads(params, X, good)
    good[:] = labels  # the same object, changed in place: a negative label must not wrap
    with pytest.raises(sn.DataError, match=rf"class labels must lie in 0\.\.1, got {shown}"):
        model.loss_and_grads(params, X, good)


def test_checked_api_target_domain_and_a_new_params_dict():
    model = compile("3-4-2 tanh softmax_ce")
    params, X = model.init(0), np.ones((4, 3))
    Y = np.full((4, 2), 0.5)
    L, _ = model.loss_and_grads(params, X, Y)
    with pytest.raises(sn.DataError, match="sum to 1"):
        model.loss_and_grads(params, X, np.full((4, 2), 0.6))
    reordered = {k: params[k].copy() for k in reversed(list(params))}  # any key order
    assert model.loss_and_grads(reordered, X, Y)[0] == L
    with pytest.raises(sn.ShapeError, match="parameter b1"):
        model.loss_and_grads(dict(params, b1=np.zeros(5)), X, Y)
    bce = compile("3-2 sigmoid bce")
    with pytest.raises(sn.DataError, match=r"\[0, 1\]"):
        bce.loss(bce.init(0), X, np.full((4, 2), 1.5))


def test_checked_api_1d_targets_and_uint64_labels():
    model = compile("3-4-1 tanh mse")
    params, X, y = model.init(0), np.ones((4, 3)), np.arange(4.0)
    assert model.loss(params, X, y) == model.loss(params, X, y.reshape(-1, 1))
    bce = compile("3-1 sigmoid bce")
    with pytest.raises(sn.DataError, match=r"\[0, 1\]"):
        bce.loss_and_grads(bce.init(0), X, np.array([0.0, 1.0, 2.0, 0.0]))
    ce = compile("3-4-2 tanh softmax_ce")
    huge = np.array([0, 1, 2**64 - 1, 0], dtype=np.uint64)  # as an index it would wrap to -1
    with pytest.raises(sn.DataError, match="class labels must lie in 0..1"):
        ce.loss_and_grads(ce.init(0), X, huge)


def test_checked_api_returns_a_non_finite_loss_of_finite_inputs():
    model = compile("1-1 mse", dtype=np.float32)
    params = {"W1": np.full((1, 1), 1e20, dtype=np.float32), "b1": np.zeros(1, np.float32)}
    X = np.ones((2, 1), dtype=np.float32)
    with np.errstate(over="ignore"):
        L, _ = model.loss_and_grads(params, X, np.zeros((2, 1), dtype=np.float32))
    assert np.isinf(L)  # an overflow of the computation, not bad input: returned as it is


def test_network_parameters_are_recorded_once():
    net = sn.parse("3-4-2 tanh softmax_ce")
    first = net.parameters
    first["W1"] = (0, 0)  # a copy: the network's own shapes are unchanged
    assert net.parameters["W1"] == (3, 4) and net._shapes is net._shapes


# ── issue 13: the printer's parentheses and conditions ───────────────────────────────────────

from _points import close, one_unit  # noqa: E402


@pytest.mark.parametrize("formula, params, truth", [
    ("2^(x/2)", {}, lambda x, **_: 2 ** (x / 2)),
    ("abs(x)^(beta+1)", {"beta": 1.0}, lambda x, beta: abs(x) ** (beta + 1)),
    ("-((x*3^x)^2)", {}, lambda x, **_: -((x * 3**x) ** 2)),
])
def test_compound_exponent_keeps_its_parentheses(formula, params, truth):
    act = sn.Activation("act", formula, params=params)
    net = sn.Network([sn.Dense(1, 1), act], loss=sn.MSE())
    for xv, A, _L, g, _Le, ge in one_unit(net, [-1.5, 1.5, 3.0]):
        assert close(float(A[0, 0]), truth(xv, **params)), (formula, xv, A)
        assert close(float(g["b1"][0]), float(ge["b1"][0]), 1e-9), (formula, xv, g, ge)


def test_minus_power_of_product_value_from_the_issue():
    (row,) = one_unit("1-1 act(-((x*3^x)^2)) mse", [1.5])
    assert float(row[1][0, 0]) == pytest.approx(-60.75)


@pytest.mark.parametrize("formula", ["x*x*max(x, 2)", "-max(x, -10)", "-max(x, 0)"])
def test_comparison_inside_a_product_or_negated_is_right(formula):
    for xv, _A, _L, g, _Le, ge in one_unit(f"1-1 act({formula}) mse", [-1.5, 1.5, 3.0]):
        assert close(float(g["b1"][0]), float(ge["b1"][0])), (formula, xv, g, ge)


def test_eq_condition_is_not_clipped_like_a_greater_than():
    for xv, _A, _L, g, _Le, ge in one_unit("1-1 act(log(abs(x))) mse", [-1.5, -0.25, 2.0]):
        assert close(float(g["b1"][0]), float(ge["b1"][0])), (xv, g, ge)


@pytest.mark.parametrize("z", [-1e-10, -1e-17, -1e-300])
def test_elu_uses_expm1(z):
    (row,) = one_unit("1-1 elu(1) mse", [z])
    assert float(row[1][0, 0]) == pytest.approx(np.expm1(z), rel=1e-12, abs=0), z


# ── issue 13: derivative forms accurate in the tails, GELU finite for huge inputs ──────────

import mpmath  # noqa: E402


def _mp_sigmoid(t):
    return 1 / (1 + mpmath.exp(-t))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("spec, z, truth", [
    # db1 = σ(A)·f′(z) for bce_logits with Y = 0: the exact σ′ and tanh′, computed apart
    ("1-1 sigmoid bce_logits", 20.0, lambda t: _mp_sigmoid(_mp_sigmoid(t)) * _mp_sigmoid(t)
     * _mp_sigmoid(-t)),
    ("1-1 sigmoid bce_logits", 50.0, lambda t: _mp_sigmoid(_mp_sigmoid(t)) * _mp_sigmoid(t)
     * _mp_sigmoid(-t)),  # 3.9e-22; y·(1 − y) gave 0 from z ≈ 37 (17 in float32)
    ("1-1 sigmoid bce_logits", -60.0, lambda t: _mp_sigmoid(_mp_sigmoid(t)) * _mp_sigmoid(t)
     * _mp_sigmoid(-t)),
    ("1-1 tanh bce_logits", 20.0, lambda t: _mp_sigmoid(mpmath.tanh(t)) / mpmath.cosh(t) ** 2),
    ("1-1 tanh bce_logits", -25.0, lambda t: _mp_sigmoid(mpmath.tanh(t)) / mpmath.cosh(t) ** 2),
])
def test_sigmoid_and_tanh_derivatives_do_not_underflow(spec, z, truth, dtype):
    (row,) = one_unit(spec, [z], dtype=dtype)
    want = float(truth(mpmath.mpf(z)))
    rel = 1e-12 if dtype == np.float64 else 1e-5
    assert float(row[3]["b1"][0]) == pytest.approx(want, rel=rel, abs=0), (spec, z, row[3])
    assert float(row[5]["b1"][0]) == pytest.approx(want, rel=1e-12, abs=0)  # exact evaluation too


def test_derivation_keeps_its_readable_form_while_the_code_is_accurate():
    """The printed derivation (and each line's comment) says σ′ = y·(1 − y) and tanh′ = 1 − y²;
    the code computes the same function from Z, as e^(−|z|)/(1 + e^(−|z|))², which the
    translation validator proves equal (tests/test_validate.py)."""
    d = sn.derive(sn.parse("2-3-1 sigmoid tanh mse")).unicode()
    assert "σ′(x) = y·(1 - y), with y = σ(x) the layer's output" in d
    assert "tanh′(x) = 1 - y², with y = tanh(x) the layer's output" in d
    src = codegen("2-3-1 sigmoid tanh mse")
    assert "# δ1 = (δ2 W2ᵀ) ⊙ σ′(Z1)" in src and "_sigmoid_prime(Z1)" in src
    assert "4*_sigmoid_prime(2*Z2)" in src and "1 - A2**2" not in src


def test_a_cheap_form_that_is_accurate_is_kept():
    """SiLU′ = y·(1 − σ(x)) + σ(x) loses nothing in floats (its small term never matters), so
    the code keeps it: the accurate form costs an exp and is used only where it is needed."""
    src = codegen("1-1 silu mse")
    assert "_sigmoid_prime" not in src and "A1*(1 - t1) + t1" in src


@pytest.mark.parametrize("dtype, z", [(np.float32, 1e20), (np.float32, -1e20),
                                      (np.float32, 3e38), (np.float32, -3e38),
                                      (np.float64, 1e155), (np.float64, -1e155),
                                      (np.float64, 1e300), (np.float64, -1.7e308)])
def test_gelu_is_finite_and_right_for_huge_inputs(dtype, z):
    """GELU's x³ inside tanh overflowed (NaN gradients from |z| ≈ 1e20 in float32, 1e155 in
    float64). The code clips GELU's input where it saturates (|z| > 32; the validator proves the
    clip changes no value by 2⁻⁶⁰ of it up to 1.8e308): GELU(z) = z or 0, GELU′(z) = 1 or 0."""
    model = compile("1-1 gelu bce_logits", dtype=dtype)
    p = {"W1": np.ones((1, 1), dtype), "b1": np.zeros(1, dtype)}
    X, Y = np.array([[z]], dtype), np.zeros((1, 1), dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        A = model.forward(p, X)
        _L, g = model.loss_and_grads(p, X, Y)
    zf = float(X[0, 0])  # z in the dtype
    assert float(A[0, 0]) == (zf if z > 0 else 0.0)
    assert float(g["b1"][0]) == (1.0 if z > 0 else 0.0)  # σ(A)·GELU′(z), exactly
    model = compile("1-1 gelu mse", dtype=dtype)
    with np.errstate(over="ignore"):  # L = z² may honestly overflow
        _L, g = model.loss_and_grads(p, X, Y)  # 2·GELU(z)·GELU′(z)/B: 2z or 0
    if abs(2 * zf) < float(np.finfo(dtype).max):
        assert float(g["b1"][0]) == (2 * zf if z > 0 else 0.0)


def test_gelu_left_tail_keeps_its_relative_accuracy():
    """(1 + tanh u)/2 cancels to 0 for z ≲ −6 in float64; the code computes σ(2u) instead."""
    (row,) = one_unit("1-1 gelu mse", [-10.0])
    u = mpmath.sqrt(2 / mpmath.pi) * (-10 + mpmath.mpf("0.044715") * (-10) ** 3)
    want = -10 * _mp_sigmoid(2 * u)
    assert float(row[1][0, 0]) == pytest.approx(float(want), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("z", [20.0, -20.0, 60.0])
def test_ce_after_softmax_is_nll_of_log_p_at_large_logits(z, dtype):
    """ce after softmax is NLLLoss(log P), computed from the logits: not clamped at 100, and
    its gradient ±1 at ±20 logits (it was 4e-6)."""
    model = compile("2-2 softmax ce", dtype=dtype)
    p = {"W1": np.eye(2, dtype=dtype), "b1": np.zeros(2, dtype)}
    X, Y = np.array([[z, -z]], dtype), np.array([[0.0, 1.0]], dtype)
    L, g = model.loss_and_grads(p, X, Y)
    if z > 0:  # confidently wrong: L = 2z, ∂L/∂b = (1, −1)
        assert float(L) == pytest.approx(2 * z, rel=1e-6)
        np.testing.assert_allclose(g["b1"], [1.0, -1.0], rtol=1e-6)
    else:  # confidently right: L = log(1 + e^(2z)) ≈ 4e-18, ∂L/∂b₁ = e^(2z)/(1 + e^(2z))
        assert 0 <= float(L) <= 1e-17
        assert float(g["b1"][0]) == pytest.approx(float(mpmath.exp(2 * z)), rel=1e-5)

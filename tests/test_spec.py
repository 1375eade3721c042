import re

import numpy as np
import pytest

import symnet as sn
from symnet.nn.spec import describe, load, network_from


def test_parse_matches_python_construction():
    net = sn.parse("2-3-1 sigmoid sigmoid mse")
    assert net == sn.Network(
        [sn.Dense(2, 3), sn.Sigmoid(), sn.Dense(3, 1), sn.Sigmoid()], loss=sn.MSE()
    )
    assert net.parameters == {"W1": (2, 3), "b1": (3,), "W2": (3, 1), "b2": (1,)}


def test_missing_output_activation_means_linear_output():
    net = sn.parse("4-8-8-3 relu softmax_ce")
    assert [type(la).__name__ for la in net.layers] == [
        "Dense", "ReLU", "Dense", "ReLU", "Dense"
    ]
    assert isinstance(net.loss, sn.SoftmaxCrossEntropy)


def test_no_hidden_layer_takes_the_activation_as_the_output_one():
    net = sn.parse("2-1 sigmoid bce")
    assert [type(la).__name__ for la in net.layers] == ["Dense", "Sigmoid"]


def test_parameters_and_options():
    net = sn.parse("2-8-1 leaky_relu(0.1) bce_logits reduction=sum weight_decay=1e-4")
    assert net.layers[1].alpha == sn.LeakyReLU(0.1).alpha
    assert net.loss.reduction == "sum"
    assert float(net.loss.weight_decay) == pytest.approx(1e-4)


@pytest.mark.parametrize(
    "spec",
    ["2-3-1 sigmoid sigmoid mse", "4-8-8-3 relu softmax_ce", "2-1 sigmoid bce", "3-2 mse",
     "2-4-1 elu(0.5) tanh mse reduction=sum"],
)
def test_describe_round_trips(spec):
    assert describe(sn.parse(spec)) == spec
    assert sn.parse(describe(sn.parse(spec))) == sn.parse(spec)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("2-x-1 sigmoid mse", ["token 1", "'x'", "positive integers"]),
        ("2-3-1 sigmod mse", ["token 2", "unknown activation 'sigmod'", "allowed: identity"]),
        ("2-3-1 sigmoid msee", ["token 3", "expected a loss", "allowed: mse"]),
        ("", ["empty spec"]),
        ("   ", ["empty spec"]),
        ("2-0-1 relu mse", ["at least one unit"]),
        ("2-3-1 mse", ["hidden layers need an activation"]),
        ("2-3-1 relu relu relu mse", ["at most two activations"]),
        ("2-3-1 relu mse lr=3", ["unknown option 'lr'"]),
        ("2-3-1 relu(2) mse", ["relu takes no parameter"]),
        ("2-3-1 leaky_relu(__import__) mse", ["must be a number"]),
        ("2-3-1 relu bce", ["bce takes probabilities"]),
        ("2-3-1 relu mse reduction=avg", ["reduction must be 'mean' or 'sum'"]),
        ("2-3-1 relu sigmoid", ["expected a loss"]),
    ],
)
def test_bad_specs_raise_one_clear_error(spec, words):
    with pytest.raises(sn.SpecError) as err:
        sn.parse(spec)
    for w in words:
        assert w in str(err.value)


def test_shape_mismatch_in_python_network():
    with pytest.raises(sn.ShapeError, match=r"expects 4 inputs, but the layer before it gives 3"):
        sn.Network([sn.Dense(2, 3), sn.ReLU(), sn.Dense(4, 1)], loss=sn.MSE())


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", True])
def test_dense_sizes_must_be_positive_integers(bad):
    with pytest.raises(sn.ShapeError):
        sn.Dense(bad, 2)


def test_toml_file_forms(tmp_path):
    a = tmp_path / "a.toml"
    a.write_text('spec = "2-3-1 sigmoid sigmoid mse"\n')
    b = tmp_path / "b.toml"
    b.write_text('[network]\nsizes = [2, 3, 1]\nhidden = "sigmoid"\noutput = "sigmoid"\n'
                 'loss = "mse"\n')
    assert load(a) == load(b) == sn.parse("2-3-1 sigmoid sigmoid mse")
    assert network_from(str(b)) == load(b)


@pytest.mark.parametrize(
    ("text", "words"),
    [("sizes = [2, 'x']\n", "'sizes' must be a list of positive integers"),
     ("sizes = [2, 1]\nlos = 'mse'\n", "unknown keys ['los']"),
     ("sizes = [2, 1\n", "not valid TOML")],
)
def test_bad_toml(tmp_path, text, words):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(sn.SpecError, match=words.replace("[", r"\[").replace("]", r"\]")):
        load(f)


def test_missing_toml_file(tmp_path):
    with pytest.raises(sn.SpecError, match="cannot read"):
        load(tmp_path / "nope.toml")


# ── issue 14: repeated options, did-you-mean ───────────────────────────────────────────────


@pytest.mark.parametrize("spec", ["2-3-1 tanh mse reduction=sum reduction=mean",
                                  "2-3-1 tanh mse weight_decay=1 weight_decay=0"])
def test_duplicate_options_are_refused(spec):
    with pytest.raises(sn.SpecError, match=r"given twice"):
        sn.parse(spec)


@pytest.mark.parametrize("spec, hint", [("2-3-1 ReLU mse", "did you mean 'relu'"),
                                        ("2-3-2 relu cross_entropy", "did you mean 'softmax_ce'"),
                                        ("2-3-1 tanh MSE", "did you mean 'mse'"),
                                        ("2-3-1 swish mse", "did you mean 'silu'"),
                                        ("2-3-1 sigmod mse", "did you mean 'sigmoid'")])
def test_did_you_mean(spec, hint):
    with pytest.raises(sn.SpecError, match=re.escape(hint)):
        sn.parse(spec)


def test_weight_decay_on_all_parameters_is_offered():
    X, Y = np.random.default_rng(0).normal(size=(5, 2)), np.zeros(5)
    plain = sn.compile("2-3-1 tanh mse")
    p = plain.init(0)
    p["b1"] += 0.3
    _, g0 = plain.loss_and_grads(p, X, Y)
    _, gw = sn.compile("2-3-1 tanh mse weight_decay=0.1").loss_and_grads(p, X, Y)
    np.testing.assert_allclose(gw["b1"], g0["b1"])  # default: W only
    np.testing.assert_allclose(gw["W1"], g0["W1"] + 0.1 * p["W1"])
    every = sn.parse("2-3-1 tanh mse weight_decay=0.1 decay=all")
    _, ga = sn.compile(every).loss_and_grads(p, X, Y)
    np.testing.assert_allclose(ga["b1"], g0["b1"] + 0.1 * p["b1"])  # PyTorch's optimizers
    np.testing.assert_allclose(ga["W1"], g0["W1"] + 0.1 * p["W1"])
    assert sn.describe(every) == "2-3-1 tanh mse weight_decay=0.1 decay=all"
    assert sn.MSE(weight_decay=0.1, decay="all") == every.loss
    with pytest.raises(sn.SpecError, match="decay must be"):
        sn.parse("2-3-1 tanh mse decay=biases")


def test_derivation_says_which_parameters_decay():
    text = sn.derive(sn.parse("2-3-1 tanh mse weight_decay=0.1")).markdown()
    assert "weights only (not the biases" in text
    text = sn.derive(sn.parse("2-3-1 tanh mse weight_decay=0.1 decay=all")).markdown()
    assert "every parameter" in text


def test_per_layer_activations():
    net = sn.parse("4-8-8-3 tanh,relu softmax_ce")
    acts = [type(la).__name__ for la in net.layers if not isinstance(la, sn.Dense)]
    assert acts == ["Tanh", "ReLU"]
    assert sn.parse("4-8-8-3 tanh/relu softmax_ce") == net
    assert sn.describe(net) == "4-8-8-3 tanh/relu softmax_ce"
    assert sn.parse(sn.describe(net)) == net  # describe writes it back
    chained = sn.parse("4-8-8-3 layernorm,tanh/relu softmax_ce")
    assert [type(la).__name__ for la in chained.layers if not isinstance(la, sn.Dense)] == [
        "LayerNorm", "Tanh", "ReLU"]
    assert sn.parse("4-8-8-3 relu softmax_ce") == sn.parse("4-8-8-3 relu/relu softmax_ce")


@pytest.mark.parametrize("spec", ["4-8-8-8-3 tanh,relu softmax_ce",
                                  "4-8-8-3 tanh/relu/relu softmax_ce"])
def test_per_layer_activation_count_mismatch_explains_the_rule(spec):
    with pytest.raises(sn.SpecError, match=r"one activation per hidden layer"):
        sn.parse(spec)


# ── issue 13: spec numbers beyond float64, and TOML robustness ─────────────────────────────

import os  # noqa: E402
import stat  # noqa: E402
from pathlib import Path  # noqa: E402

import sympy as sp  # noqa: E402
from _points import run_python  # noqa: E402


@pytest.mark.parametrize("spec", [
    "2-1 sigmoid mse weight_decay=1e999999999",
    "2-1 leaky_relu(1e999999999) mse",
    "2-2 batchnorm(1e999999999) mse",
    "2-1 act(x*sigmoid(theta*x), theta=1e999999999) mse",
    "2-1 elu(1e-999999999) mse",
])
def test_huge_exponent_in_a_spec_number_is_a_fast_spec_error(spec):
    # The parse itself is timed, in CPU seconds (the machine's load does not inflate them); the
    # subprocess's timeout only guards against a hang (10**999999999 would never finish).
    out = run_python(f"""
        import time
        import symnet as sn
        start = time.process_time()
        try:
            sn.parse({spec!r})
        except sn.SpecError as e:
            print("SpecError:", e)
        print("seconds:", time.process_time() - start)
    """, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("SpecError"), out.stdout + out.stderr
    assert float(out.stdout.split("seconds:")[1]) < 1, out.stdout


@pytest.mark.parametrize("spec", [
    "2-1 sigmoid mse weight_decay=1e400",
    "2-1 sigmoid mse weight_decay=1e-400",
    "2-1 leaky_relu(1e400) mse",
    "2-1 leaky_relu(1e-400) mse",
    "2-2 batchnorm(1e-400) mse",
    "2-1 act(x*sigmoid(theta*x), theta=1e400) mse",
])
def test_number_outside_float64_range_is_a_spec_error(spec):
    with pytest.raises(sn.SpecError, match="float64"):
        sn.parse(spec)


@pytest.mark.parametrize("value", [1e308 * 10, 10**400, 5e-324])
def test_python_api_number_outside_float64_range_is_a_spec_error(value):
    with pytest.raises(sn.SpecError):
        sn.Activation("foo", "x*sigmoid(beta*x)", params={"beta": value})


def _load_fast(path, timeout=120) -> str:
    """What loading `path` prints, in a child limited to 2 GB; the load must take under a CPU
    second (the timeout only guards against a hang, whatever the machine's load)."""
    out = run_python(f"""
        import resource
        import time
        resource.setrlimit(resource.RLIMIT_AS, (1 << 31, 1 << 31))  # 2 GB: no 5 GB read
        import symnet as sn
        start = time.process_time()
        try:
            sn.load({str(path)!r})
            print("loaded")
        except sn.SpecError as e:
            print("SpecError:", e)
        assert time.process_time() - start < 1, "slow"
    """, timeout=timeout)
    return out.stdout + out.stderr


@pytest.mark.parametrize("name, content", [
    ("binary", b"\x00\x01\xff\xfe not toml"),
    ("network_int", b"network = 5\n"),
    ("loss_list", b'sizes = [2, 1]\nloss = ["mse"]\n'),
    ("sizes_bool", b"sizes = [true, 1]\n"),
    ("spec_int", b"spec = 5\n"),
    ("deep", b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n"),
    ("extra_beside_spec", b'spec = "2-1 sigmoid mse"\nextra = 1\n'),
    ("extra_beside_network", b'other = 1\n[network]\nspec = "2-1 sigmoid mse"\n'),
], ids=lambda v: v if isinstance(v, str) else "")
def test_bad_toml_is_a_spec_error(tmp_path, name, content):
    path = tmp_path / f"{name}.toml"
    path.write_bytes(content)
    out = _load_fast(path)
    assert out.startswith("SpecError"), out[-1500:]
    if name == "spec_int":
        assert "string" in out and "empty" not in out, out
    if name.startswith("extra"):
        assert ("extra" if name == "extra_beside_spec" else "other") in out


def test_good_toml_still_loads(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text('[network]\nsizes = [2, 3, 1]\nhidden = "tanh"\nloss = "mse"\n'
                    "weight_decay = 0.001\n")
    assert sn.load(path).loss.weight_decay == sp.Rational(1, 1000)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
def test_fifo_toml_is_a_spec_error_not_a_hang(tmp_path):
    path = tmp_path / "fifo.toml"
    os.mkfifo(path)
    assert stat.S_ISFIFO(os.stat(path).st_mode)
    assert _load_fast(path).startswith("SpecError")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_dev_zero_toml_is_a_spec_error_not_gigabytes(tmp_path):
    path = tmp_path / "zero.toml"
    path.symlink_to("/dev/zero")
    assert _load_fast(path).startswith("SpecError")


def test_large_toml_is_a_spec_error(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text('spec = "2-1 sigmoid mse"\n' + "# padding\n" * 200_000)
    assert _load_fast(path).startswith("SpecError")

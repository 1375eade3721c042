"""Reference mode with net=: symnet's gradients are the truth, and a wrong gradient is named by
the mutant of the derivation it matches, with the correct formula beside the user's.

Two corpora: tests/corpus/mlp.py (two layers, configured to match a symnet network: softmax
cross-entropy, or MSE summed) and tests/corpus/deep.py (any depth, symnet's conventions)."""

import numpy as np
import pytest
from corpus import make_data, make_mlp
from corpus.deep import make_case, make_deep, spec

from symnet.checking.mutants import MUTANTS, mutants
from symnet.checking.suspects import Suspects
from symnet.checking.verify import verify
from symnet.derivation.chain import derive
from symnet.errors import DataError, ShapeError
from symnet.nn.spec import parse

KEYS = {fn.__name__ for fn in MUTANTS}


def failing(report):
    return {r.name: r for r in report.failures}


# ── the mutants themselves ─────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("text", [
    "3-4-4-2 sigmoid softmax_ce weight_decay=0.1",
    "3-4-3 tanh softmax ce reduction=sum",
    "2-3-1 relu sigmoid bce",
])
def test_every_mutant_compiles_and_changes_some_gradient(text):
    from symnet.codegen.build import compile

    d = derive(parse(text))
    suspects = Suspects.of(d)  # each mutant compiled once, as verify(net=…) uses them
    found = suspects.mutants
    assert found and {m.key for m in found} <= KEYS
    truth = compile(d)
    params = truth.init(0)
    params = {k: v + 0.3 for k, v in params.items()}
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, d.network.n_in))
    Y = np.eye(d.network.n_out)[rng.integers(0, d.network.n_out, 5)] if "ce" in text else (
        rng.uniform(0, 1, (5, 1)))
    _, t = truth.loss_and_grads(params, X, Y)
    for m, model in zip(found, suspects.models):
        _, g = model.loss_and_grads(params, X, Y)
        same = all(g[k].shape == t[k].shape and np.allclose(g[k], t[k]) for k in t)
        relu_at_output = m.key == "derivative_at_output" and "relu" in m.title
        assert same == relu_at_output, m.title  # relu′(A) = relu′(Z): the only harmless one


def test_formulas_print_correct_beside_yours():
    d = derive(parse("3-4-2 sigmoid mse"))
    m = next(m for m in mutants(d) if m.key == "derivative_at_output")
    assert m.formulas() == ("    correct: δ1 = (δ2 W2ᵀ) ⊙ σ′(Z1)\n"
                            "    yours:   δ1 = (δ2 W2ᵀ) ⊙ σ′(A1)")
    m = next(m for m in mutants(d) if m.key == "wrong_layer_input" and "W2" in m.title
             and "X" in m.title)
    assert "yours:   ∂L/∂W2 = Xᵀ δ2" in m.formulas()


def test_shapes_that_cannot_fit_are_not_mutants():
    d = derive(parse("3-4-5-2 tanh mse"))  # no square W: δ never multiplies by W untransposed
    assert not [m for m in mutants(d) if m.key == "weight_not_transposed"]


# ── the deep corpus: every bug named ───────────────────────────────────────────────────────

DEEP = [  # sizes, options, bug, layer, expected mutant, text in its title
    ((4, 5, 5, 3), {"act": "sigmoid"}, "no_act_deriv", 1, "activation_derivative_missing",
     "σ′(Z1) is missing from δ1"),
    ((4, 5, 5, 3), {"act": "tanh"}, "no_act_deriv", 2, "activation_derivative_missing",
     "tanh′(Z2) is missing from δ2"),
    ((4, 5, 5, 3), {"loss": "softmax_ce"}, "act_deriv_of_A", 2, "derivative_at_output",
     "applied to the output A2"),
    ((4, 5, 5, 3), {}, "own_output", 2, "wrong_layer_input", "own output A2 instead of"),
    ((4, 5, 6, 3), {}, "pre_activation_input", 3, "wrong_layer_input",
     "the pre-activation Z2 instead of the activation A2"),
    ((4, 5, 5, 3), {}, "W_not_T", 1, "weight_not_transposed", "by W2 where W2ᵀ belongs"),
    ((4, 5, 3), {}, "sum_not_mean", 1, "loss_gradient_scale", "1/B of the mean is missing"),
    ((4, 5, 3), {"loss": "softmax_ce"}, "B_minus_1", 1, "loss_gradient_scale", "B − 1"),
    ((4, 5, 3), {}, "batch_only", 1, "loss_gradient_scale", "averaged over the batch only"),
    ((4, 5, 3), {"loss": "ce"}, "softmax_jacobian_dropped", 1, "softmax_jacobian_dropped",
     "∂L/∂A2 is used as δ"),
    ((4, 5, 3), {"act": "relu", "loss": "softmax_ce"}, "sign", 1, "loss_gradient_scale",
     "sign is flipped"),
    ((4, 5, 3), {}, "bias_not_summed", 2, "bias_not_summed", "not summed over the batch"),
    ((4, 5, 5, 3), {"wd": 0.1}, "transposed", 2, "weight_gradient_transposed",
     "∂L/∂W2 is transposed"),
    ((4, 5, 3), {"wd": 0.1}, "transposed", 1, "weight_gradient_transposed",
     "∂L/∂W1 is transposed"),
    ((4, 5, 3), {"wd": 0.1}, "l2_missing", 1, "l2_term_wrong", "missing from ∂L/∂W1"),
    ((4, 5, 3), {"wd": 0.1, "reduction": "sum"}, "l2_doubled", 2, "l2_term_wrong",
     "counted twice in ∂L/∂W2"),
]


@pytest.mark.parametrize("sizes, opts, bug, layer, key, says", DEEP,
                         ids=[f"{c[2]}-{c[3]}" for c in DEEP])
def test_deep_corpus_bug_is_named(sizes, opts, bug, layer, key, says):
    loss, grads = make_deep(sizes, bug=bug, layer=layer, **opts)
    params, X, Y = make_case(sizes, loss=opts.get("loss", "mse"))
    report = verify(grads, net=spec(sizes, **opts), params=params, X=X, Y=Y)
    bad = failing(report)
    assert bad, str(report)
    for r in bad.values():
        assert r.mutant == key, str(report)
        assert says in r.diagnosis and "correct: " in r.diagnosis and "yours:   " in r.diagnosis
    assert report.n_loss_evals == 0


@pytest.mark.parametrize("sizes, opts", [
    ((4, 5, 5, 3), {"act": "relu", "loss": "softmax_ce", "wd": 0.1}),
    ((4, 5, 3), {"act": "sigmoid", "loss": "ce", "reduction": "sum"}),
    ((4, 6, 2), {"act": "tanh"}),
])
def test_deep_corpus_correct_passes(sizes, opts):
    loss, grads = make_deep(sizes, **opts)
    for dtype in (np.float64, np.float32):
        params, X, Y = make_case(sizes, loss=opts.get("loss", "mse"), dtype=dtype)
        report = verify(grads, net=spec(sizes, **opts), params=params, X=X, Y=Y)
        assert report.ok, str(report)
        assert "truth: symnet's derivation of" in report.notes[0]


def test_the_user_formula_is_printed():
    loss, grads = make_deep((4, 5, 3), act="sigmoid", bug="act_deriv_of_A", layer=1)
    params, X, Y = make_case((4, 5, 3))
    text = str(verify(grads, net="4-5-3 sigmoid mse", params=params, X=X, Y=Y))
    assert "W1: matches a known mistake: σ′ is applied to the output A1" in text
    assert "correct: δ1 = (δ2 W2ᵀ) ⊙ σ′(Z1)" in text
    assert "yours:   δ1 = (δ2 W2ᵀ) ⊙ σ′(A1)" in text


# ── the two-layer corpus (tests/corpus/mlp.py), in the configurations symnet can express ──

MLP = [  # bug, mlp options, expected mutant (None: no mutant models it)
    ("sum_not_mean", {"loss": "ce"}, "loss_gradient_scale"),
    ("B_minus_1", {"loss": "ce"}, "loss_gradient_scale"),
    ("mse_no_2", {"reduction": "sum"}, "loss_gradient_scale"),
    ("sign", {"loss": "ce", "act": "sigmoid"}, "loss_gradient_scale"),
    ("bias_not_summed", {"loss": "ce"}, "bias_not_summed"),
    ("no_act_deriv", {"loss": "ce"}, "activation_derivative_missing"),
    ("act_deriv_of_A", {"loss": "ce", "act": "sigmoid"}, "derivative_at_output"),
    ("l2_missing", {"loss": "ce", "wd": 0.1}, "l2_term_wrong"),
    ("l2_doubled", {"reduction": "sum", "wd": 0.1}, "l2_term_wrong"),
    ("transposed_dW2", {"loss": "ce"}, "weight_gradient_transposed"),
    ("wrong_column", {"loss": "ce"}, None),
    ("zero_dW1", {"loss": "ce"}, None),
]


def mlp_spec(opts):
    loss = "softmax_ce" if opts.get("loss") == "ce" else "mse"
    words = ["5-6-3", opts.get("act", "tanh"), loss]
    if opts.get("reduction", "mean") != "mean":
        words.append(f"reduction={opts['reduction']}")
    if opts.get("wd"):
        words.append(f"weight_decay={opts['wd']}")
    return " ".join(words)


@pytest.mark.parametrize("bug, opts, key", MLP, ids=[c[0] for c in MLP])
def test_mlp_corpus_bug_is_named(bug, opts, key):
    loss, grads = make_mlp(bug=bug, **opts)
    params, X, Y = make_data(loss=opts.get("loss", "mse"))
    report = verify(grads, net=mlp_spec(opts), params=params, X=X, Y=Y)
    assert not report.ok
    for r in report.failures:
        if key is None:  # no mutant models it: the numeric pattern diagnosis stays
            assert r.mutant == "" and "yours:" not in r.diagnosis and r.diagnosis
        else:
            assert r.mutant == key, str(report)
            assert "correct: " in r.diagnosis and "yours:   " in r.diagnosis


@pytest.mark.parametrize("opts", [{"loss": "ce"}, {"loss": "ce", "act": "sigmoid", "wd": 0.1},
                                  {"reduction": "sum", "act": "relu"}])
def test_mlp_corpus_correct_passes(opts):
    loss, grads = make_mlp(**opts)
    params, X, Y = make_data(loss=opts.get("loss", "mse"))
    assert verify(grads, net=mlp_spec(opts), params=params, X=X, Y=Y).ok


# ── kinks: exact zeros in pre-activations are no false alarm ───────────────────────────────


def kink_case(act="relu", bug=None):
    loss, grads = make_mlp(act=act, loss="ce", bug=bug)
    params, X, Y = make_data(loss="ce", zero_rows=3, zero_bias=True)
    return verify(grads, net="5-6-3 relu softmax_ce", params=params, X=X, Y=Y)


def test_relu_kink_same_convention_passes_and_is_reported():
    report = kink_case("relu")
    assert report.ok and all(r.verdict == "ok" for r in report.results), str(report)
    note = next(n for n in report.notes if "on relu's kink" in n)
    assert "18 entries of Z1 on relu's kink at 0" in note
    assert "symnet: relu′(0) = 0, between the one-sided slopes 0 and 1" in note


def test_relu_kink_other_convention_is_a_kink_not_an_error():
    report = kink_case("relu_ge")  # relu′(0) = 1: as valid a subgradient
    assert report.ok, str(report)
    assert {r.name: r.verdict for r in report.results if r.verdict != "ok"} == {"b1": "kink"}
    assert "not an error" in report["b1"].diagnosis


def test_relu_kink_with_a_real_bug_is_still_named():
    report = kink_case("relu", bug="no_act_deriv")
    bad = failing(report)
    assert set(bad) == {"W1", "b1"}
    assert all(r.mutant == "activation_derivative_missing" for r in bad.values())
    assert "perturbed point" in bad["W1"].diagnosis


# ── bad input ──────────────────────────────────────────────────────────────────────────────


def test_params_that_do_not_fit_the_network():
    loss, grads = make_mlp(layout="torch")
    params, X, Y = make_data(layout="torch")  # W as (out, in): a layout verify understands
    with pytest.raises(ShapeError, match=r"parameter W1 has shape \(6, 5\), the network needs"):
        verify(grads, net="5-7-3 tanh mse", params=params, X=X, Y=Y)
    with pytest.raises(DataError, match="missing"):
        verify(grads, net="5-6-6-3 tanh mse", params=make_data()[0], X=X, Y=Y)


def test_net_and_reference_together_are_refused():
    loss, grads = make_mlp()
    params, X, Y = make_data()
    with pytest.raises(TypeError, match="reference= or net="):
        verify(grads, net="5-6-3 tanh mse", reference=lambda p, X, Y: None, params=params,
               X=X, Y=Y)


def test_other_layouts_are_compared_in_their_own_layout():
    # PyTorch's nn.Linear layout, W as (out, in): right gradients pass, a bug is still named.
    loss, grads = make_mlp(layout="torch", loss="ce")
    params, X, Y = make_data(layout="torch", loss="ce")
    report = verify(grads, net="5-6-3 tanh softmax_ce", params=params, X=X, Y=Y)
    assert report.ok, str(report)
    assert any("your layout" in n for n in report.notes)
    loss, grads = make_mlp(layout="torch", loss="ce", bug="no_act_deriv")
    bad = failing(verify(grads, net="5-6-3 tanh softmax_ce", params=params, X=X, Y=Y))
    assert set(bad) == {"W1", "b1"}
    assert all(r.kind == "activation_derivative_missing" for r in bad.values())

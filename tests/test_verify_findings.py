"""One test per finding of the checker review, written as users write their code (public API
only): no false "ok", no false "wrong", crashes that surface, impure losses found out, other
conventions met, size-1 axes, honest report text."""

import numpy as np
import pytest

import symnet as sn

# ── a user's two-layer tanh network, batch-first, written as people write it ───────────────


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def make(n_in=4, n_h=5, n_out=2, B=8, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    p = {"W1": rng.standard_normal((n_in, n_h)), "b1": rng.standard_normal(n_h),
         "W2": rng.standard_normal((n_h, n_out)), "b2": rng.standard_normal(n_out)}
    X = rng.standard_normal((B, n_in))
    Y = np.eye(n_out)[rng.integers(0, n_out, B)]
    return {k: v.astype(dtype) for k, v in p.items()}, X.astype(dtype), Y.astype(dtype)


def ce_loss(p, X, Y):
    H = np.tanh(X @ p["W1"] + p["b1"])
    P = softmax(H @ p["W2"] + p["b2"])
    return -np.sum(Y * np.log(P)) / len(X)


def ce_grads(p, X, Y, db2_factor=1.0):
    H = np.tanh(X @ p["W1"] + p["b1"])
    dZ2 = (softmax(H @ p["W2"] + p["b2"]) - Y) / len(X)
    dZ1 = dZ2 @ p["W2"].T * (1 - H ** 2)
    return {"W1": X.T @ dZ1, "b1": dZ1.sum(0), "W2": H.T @ dZ2, "b2": db2_factor * dZ2.sum(0)}


# 1. a 2-class softmax bias N× too large was missed once in ~8 runs (±1 directions)
def test_a_two_class_bias_error_is_never_missed():
    for seed in range(30):
        p, X, Y = make(seed=seed)
        report = sn.verify(lambda p, X, Y: ce_grads(p, X, Y, db2_factor=len(X)), loss=ce_loss,
                           params=p, X=X, Y=Y, seed=seed)
        assert {r.name for r in report.failures} == {"b2"}, str(report)


# 2. a loss computing in float32 inside (as a float32 model does) and returning float64
def f32_loss(p, X, Y):
    q = {k: v.astype(np.float32) for k, v in p.items()}
    return float(ce_loss(q, X.astype(np.float32), Y.astype(np.float32)))


def test_float32_loss_correct_passes_and_half_fails_for_every_seed():
    for seed in range(10):
        p, X, Y = make(seed=seed, dtype=np.float32)
        right = sn.verify(ce_grads, loss=f32_loss, params=p, X=X, Y=Y, seed=seed)
        assert right.ok, str(right)
        assert not any("evaluated in float64" in n for n in right.notes)  # not true here
        half = sn.verify(lambda p, X, Y: {k: v / 2 for k, v in ce_grads(p, X, Y).items()},
                         loss=f32_loss, params=p, X=X, Y=Y, seed=seed)
        assert {r.verdict for r in half.results} == {"wrong"}, str(half)
        assert {r.kind for r in half.results} == {"scaled"}


# 3. reference mode meets other loss conventions with a clear error, never "wrong" verdicts
def half_mse_loss(p, X, Y):
    A = np.tanh(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
    return 0.5 * np.sum((A - Y) ** 2) / len(X)


def half_mse_grads(p, X, Y):
    H = np.tanh(X @ p["W1"] + p["b1"])
    dA = (H @ p["W2"] + p["b2"] - Y) / len(X)
    dZ1 = dA @ p["W2"].T * (1 - H ** 2)
    return {"W1": X.T @ dZ1, "b1": dZ1.sum(0), "W2": H.T @ dA, "b2": dA.sum(0)}


def test_reference_mode_names_the_loss_convention_that_differs():
    p, X, Y = make(n_out=3)
    with pytest.raises(sn.DataError, match=r"n_out/2 = 1.5 × the network's data loss \(½ Σ "
                                           r"over the outputs, averaged over the batch\)"):
        sn.verify(half_mse_grads, loss=half_mse_loss, net="4-5-3 tanh mse", params=p, X=X, Y=Y)
    # stated in the spec, the convention matches and the gradients pass
    report = sn.verify(half_mse_grads, loss=half_mse_loss,
                       net="4-5-3 tanh mse reduction=sum scale=0.0625", params=p, X=X, Y=Y)
    assert report.ok, str(report)


def test_reference_mode_names_an_l2_convention():
    p, X, Y = make()
    lam = 0.1

    def loss(p, X, Y):  # L2 as λ/(2B)·‖W‖²
        return ce_loss(p, X, Y) + lam / (2 * len(X)) * sum(np.sum(p[k] ** 2) for k in ("W1",
                                                                                     "W2"))

    with pytest.raises(sn.DataError, match=r"with L2 as λ/\(2B\)"):
        sn.verify(ce_grads, loss=loss, net="4-5-2 tanh softmax_ce weight_decay=0.1", params=p,
                  X=X, Y=Y)


# 4. samples as columns (Nielsen's layout): W (out, in), b (out, 1), X (n_in, B)
def test_samples_as_columns_in_reference_and_black_box_mode():
    p, X, Y = make()
    pc = {"W1": p["W1"].T, "b1": p["b1"][:, None], "W2": p["W2"].T, "b2": p["b2"][:, None]}

    def loss(p, X, Y):
        return half_mse_loss({k: (v.T if k[0] == "W" else v.ravel()) for k, v in p.items()},
                             X.T, Y.T)

    def grads(p, X, Y, bug=False):
        g = half_mse_grads({k: (v.T if k[0] == "W" else v.ravel()) for k, v in p.items()},
                           X.T, Y.T)
        if bug:  # the 1/B of the mean forgotten
            g = {k: v * X.shape[1] for k, v in g.items()}
        return {k: (v.T if k[0] == "W" else v[:, None]) for k, v in g.items()}

    net = "4-5-2 tanh mse reduction=sum scale=0.0625"
    assert sn.verify(grads, loss=loss, net=net, params=pc, X=X.T, Y=Y.T).ok
    report = sn.verify(lambda p, X, Y: grads(p, X, Y, bug=True), loss=loss, params=pc, X=X.T,
                       Y=Y.T)
    assert {r.kind for r in report.failures} == {"scaled"}
    assert all("B = 8 times too large" in r.diagnosis for r in report.failures), str(report)


# 5. an exception in the user's code reaches the user with its traceback
def test_a_crash_in_grads_surfaces_with_its_traceback():
    p, X, Y = make()

    def grads(p, X, Y):
        return {"W1": X @ p["W2"]}  # shapes do not align: ValueError

    with pytest.raises(sn.SymnetError, match=r"grads\(params, X, Y\) raised ValueError") as e:
        sn.verify(grads, loss=ce_loss, params=p, X=X, Y=Y)
    assert isinstance(e.value.__cause__, ValueError) and e.value.__cause__.__traceback__


def test_sys_exit_in_grads_is_a_crash_not_a_pass():
    p, X, Y = make()

    def grads(p, X, Y):
        raise SystemExit(0)

    with pytest.raises(sn.SymnetError, match="raised SystemExit"):
        sn.verify(grads, loss=ce_loss, params=p, X=X, Y=Y)


# 6. a size-1 axis too many: values compared, the shape problem said accurately
def test_a_keepdims_bias_gradient_is_value_checked_and_the_shape_reported():
    p, X, Y = make()

    def grads(p, X, Y, scale=1.0):
        g = ce_grads(p, X, Y)
        g["b1"] = scale * g["b1"][None, :]  # np.sum(..., axis=0, keepdims=True)
        return g

    r = sn.verify(grads, loss=ce_loss, params=p, X=X, Y=Y)["b1"]
    assert r.verdict == "shape" and "the values are right" in r.diagnosis
    assert "were not summed" not in r.diagnosis and "(1, 5)" in r.diagnosis
    r = sn.verify(lambda p, X, Y: grads(p, X, Y, 2.0), loss=ce_loss, params=p, X=X, Y=Y)["b1"]
    assert r.verdict == "wrong" and "twice" in r.diagnosis and "(1, 5)" in r.diagnosis


# 8. noisy or impure losses are errors, never an "ok"
def test_a_noisy_loss_is_an_error():
    p, X, Y = make()
    rng = np.random.default_rng(1)

    def dropout_left_on(p, X, Y):
        return ce_loss(p, X, Y) * (1 + 1e-5 * rng.standard_normal())

    for grads in (ce_grads, lambda p, X, Y: {k: -v for k, v in ce_grads(p, X, Y).items()}):
        with pytest.raises(sn.DataError, match="not deterministic"):
            sn.verify(grads, loss=dropout_left_on, params=p, X=X, Y=Y)


def test_a_loss_that_edits_X_in_place_is_an_error_and_X_is_protected():
    p, X, Y = make()
    X0 = X.copy()

    def loss(p, X, Y):
        X *= 2  # in place
        return ce_loss(p, X, Y)

    with pytest.raises(sn.DataError, match="changed X in place"):
        sn.verify(lambda p, X, Y: {k: 2 * v for k, v in ce_grads(p, X, Y).items()}, loss=loss,
                  params=p, X=X, Y=Y)
    assert np.array_equal(X, X0)


def test_grads_that_edit_params_in_place_are_an_error():
    p, X, Y = make()

    def grads(p, X, Y):
        g = ce_grads(p, X, Y)
        p["W1"] -= 0.1 * g["W1"]  # an SGD step inside grads
        return g

    with pytest.raises(sn.DataError, match=r"changed params\['W1'\] in place"):
        sn.verify(grads, loss=ce_loss, params=p, X=X, Y=Y)


@pytest.mark.parametrize("value, says", [(None, "must return a number, got NoneType"),
                                         ("0.5", "must return a number, got str"),
                                         (np.zeros(3), "must return a scalar")])
def test_a_loss_that_returns_no_number_is_a_clear_error(value, says):
    p, X, Y = make()
    with pytest.raises(sn.DataError, match=says):
        sn.verify(ce_grads, loss=lambda p, X, Y: value, params=p, X=X, Y=Y)


def test_python_floats_and_empty_tensors_as_parameters():
    X, Y = np.linspace(-1, 1, 6)[:, None], np.linspace(0, 2, 6)[:, None]

    def loss(p, X, Y):
        return np.mean((p["w"] * X + p["c"] - Y) ** 2) + 0 * np.sum(p["unused"])

    def grads(p, X, Y):
        r = p["w"] * X + p["c"] - Y
        return {"w": np.mean(2 * r * X), "c": np.mean(2 * r), "unused": np.zeros(0)}

    report = sn.verify(grads, loss=loss, params={"w": 0.5, "c": -0.25, "unused": np.zeros(0)},
                       X=X, Y=Y)
    assert report.ok, str(report)
    assert report["unused"].n_checks == 0


# 9. the evaluation count compares like with like
def test_the_evaluation_line_never_claims_a_saving_it_did_not_make():
    X, Y = np.linspace(-1, 1, 6)[:, None], np.linspace(0, 2, 6)[:, None]
    report = sn.verify(lambda p, X, Y: {"w": np.mean(2 * (p["w"] * X - Y) * X)},
                       loss=lambda p, X, Y: np.mean((p["w"] * X - Y) ** 2),
                       params={"w": np.array(0.3)}, X=X, Y=Y)
    line = next(s for s in str(report).splitlines() if "loss evaluations" in s)
    assert "would need" not in line  # more evaluations than 2 per entry: no comparison
    p, X, Y = make(n_in=30, n_h=40)
    line = next(s for s in str(sn.verify(ce_grads, loss=ce_loss, params=p, X=X, Y=Y)).splitlines()
                if "loss evaluations" in s)
    n = int(line.split()[0])
    assert "would need" in line and n < 2 * (30 * 40 + 40 + 40 * 2 + 2)


def test_no_relative_error_of_one_beside_an_ok():
    # b1 feeds a BatchNorm-like centring: its true gradient is 0, computed as rounding noise
    rng = np.random.default_rng(0)
    p = {"W1": rng.standard_normal((3, 4)), "b1": rng.standard_normal(4)}
    X, Y = rng.standard_normal((6, 3)), rng.standard_normal((6, 4))

    def loss(p, X, Y):
        Z = X @ p["W1"] + p["b1"]
        return np.mean((Z - Z.mean(0) - Y) ** 2)

    def grads(p, X, Y):
        Z = X @ p["W1"] + p["b1"]
        d = 2 * (Z - Z.mean(0) - Y) / Y.size
        d = d - d.mean(0)
        return {"W1": X.T @ d, "b1": d.sum(0)}

    report = sn.verify(grads, loss=loss, params=p, X=X, Y=Y)
    assert report.ok, str(report)
    row = next(s for s in str(report).splitlines() if s.startswith("b1 "))
    assert row.split()[4] == "-"  # no relative error where the values are rounding noise


# 4b. dense layers without a bias (before BatchNorm, or by choice) can be stated
def test_a_dense_layer_without_a_bias():
    net = sn.Network([sn.Dense(4, 5, bias=False), sn.Tanh(), sn.Dense(5, 3)], loss=sn.MSE())
    assert sn.check(net).ok
    p, X, Y = make(n_out=3)
    del p["b1"]

    def grads(p, X, Y):
        H = np.tanh(X @ p["W1"])
        dA = 2 * (H @ p["W2"] + p["b2"] - Y) / Y.size
        dZ1 = dA @ p["W2"].T * (1 - H ** 2)
        return {"W1": X.T @ dZ1, "W2": H.T @ dA, "b2": dA.sum(0)}

    assert sn.verify(grads, net=net, params=p, X=X, Y=Y).ok
    bn = sn.Network([sn.Dense(4, 5, bias=False), sn.BatchNorm(5), sn.Tanh(), sn.Dense(5, 3)],
                    loss=sn.MSE())
    assert sn.check(bn).ok and "bias=False" in sn.describe(bn)


def test_l2_on_every_parameter_is_identified_and_a_forgotten_bias_term_named():
    p, X, Y = make()
    lam = 0.05

    def loss(p, X, Y):  # PyTorch's weight_decay: every parameter decays
        return ce_loss(p, X, Y) + lam / 2 * sum(np.sum(v ** 2) for v in p.values())

    def grads(p, X, Y):  # ... but the gradient decays W alone
        g = ce_grads(p, X, Y)
        return {k: v + lam * p[k] if k[0] == "W" else v for k, v in g.items()}

    report = sn.verify(grads, loss=loss, params=p, X=X, Y=Y)
    assert {r.name: r.kind for r in report.failures} == {"b1": "l2_missing", "b2": "l2_missing"}
    assert any("biases too" in n for n in report.notes), report.notes


@pytest.mark.parametrize("call", [
    lambda: sn.check("2-3-1 tanh mse", seed=-1),
    lambda: sn.verify(ce_grads, loss=ce_loss, params=make()[0], X=make()[1], Y=make()[2],
                      seed=-1),
    lambda: sn.train(sn.compile("4-5-2 tanh softmax_ce"), sn.compile("4-5-2 tanh softmax_ce")
                     .init(0), make()[1], make()[2], epochs=1, seed=-1, progress=False),
])
def test_a_negative_seed_is_a_clear_error_in_the_python_api(call):
    with pytest.raises(sn.DataError, match="seed must be a non-negative integer"):
        call()

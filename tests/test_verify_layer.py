"""verify_layer: cs231n-style forward/backward pairs, layer objects and framework custom
gradients, checked as whole-network checks of ⟨forward, dout⟩; each classic bug is caught on
the right argument with the right kind; derive(input_gradient=True) gives ∂L/∂X."""

import json

import numpy as np
import pytest
from _cli import ROOT, cli
from corpus.layers import cs231n as L

import symnet as sn
from symnet.checking.finite_diff import UserCodeError
from symnet.errors import DataError


def check(case, backward=None, dtype=np.float64, **kw):
    forward, right = L.PAIRS[case]
    backward = right if backward is None else backward
    if forward is L.softmax_loss and backward is not None:  # a buggy loss layer
        forward, backward = backward, None
    return sn.verify_layer(forward, backward, *L.inputs(case, dtype=dtype), **kw)


def wrong(report):
    return {r.name: r.kind for r in report.results if not r.ok}


@pytest.mark.parametrize("case", list(L.PAIRS))
def test_right_backward_passes(case):
    report = check(case)
    assert report.ok, str(report)
    assert all(r.verdict == "ok" for r in report.results), str(report)
    # a handful of forward calls per argument, whatever its size
    assert report.n_loss_evals <= 10 + 15 * len(report.results), str(report)


@pytest.mark.parametrize(("case", "bug", "arg", "kind", "says"), L.BUGS,
                         ids=[b[1].__name__ for b in L.BUGS])
def test_classic_bug_caught_on_the_right_argument_with_its_kind(case, bug, arg, kind, says):
    report = check(case, bug)
    assert not report.ok
    assert wrong(report) == {arg: kind}, str(report)
    assert says in report[arg].diagnosis, str(report)


@pytest.mark.parametrize(("case", "bug", "arg", "kind"), [
    ("affine", L.affine_backward_dw_transposed, "w", "transposed"),
    ("batchnorm", L.batchnorm_backward_no_variance_term, "x", "normalization_wrong"),
    ("max_pool", L.max_pool_backward_every_entry, "x", "routing"),
])
def test_float32_layers(case, bug, arg, kind):
    assert check(case, dtype=np.float32).ok
    report = check(case, bug, dtype=np.float32)
    assert wrong(report) == {arg: kind}, str(report)


def test_the_issue_example():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    report = sn.verify_layer(L.affine_forward, L.affine_backward_dw_transposed, x, w, b)
    assert report["w"].kind == "transposed"
    assert [r.name for r in report.results] == ["x", "w", "b"]  # forward's parameter names


def test_cost_does_not_grow_with_the_size():
    rng = np.random.default_rng(1)
    small = sn.verify_layer(L.affine_forward, L.affine_backward, rng.standard_normal((4, 5)),
                            rng.standard_normal((5, 3)), rng.standard_normal(3))
    large = sn.verify_layer(L.affine_forward, L.affine_backward,
                            rng.standard_normal((64, 300)), rng.standard_normal((300, 200)),
                            rng.standard_normal(200))
    assert large.ok and small.ok
    assert large.n_loss_evals == small.n_loss_evals < 40
    assert large.n_params > 75_000


def test_kinks_relu_zeros_and_max_pool_ties():
    x = np.round(L.inputs("relu")[0])  # exact zeros
    assert (x == 0).any()
    report = sn.verify_layer(L.relu_forward, L.relu_backward, x)
    assert report.ok and report["x"].verdict in ("ok", "kink"), str(report)
    ties = np.round(L.inputs("max_pool")[0])  # tied maxima in windows
    report = sn.verify_layer(L.max_pool_forward_naive, L.max_pool_backward_naive, ties, L.POOL)
    assert report.ok and report["x"].verdict == "kink", str(report)
    report = sn.verify_layer(L.max_pool_forward_naive, L.max_pool_backward_every_entry, ties,
                             L.POOL)
    assert wrong(report) == {"x": "routing"}, str(report)


def test_dout_given_and_tuple_dout():
    x, w, b = L.inputs("affine")
    dout = np.ones((4, 3))
    assert sn.verify_layer(L.affine_forward, L.affine_backward, x, w, b, dout=dout).ok
    x, w = L.inputs("two_outputs")
    d = (np.ones((4, 2)), np.full((4, 2), 2.0))
    assert sn.verify_layer(L.two_outputs_forward, L.two_outputs_backward, x, w, dout=d).ok
    with pytest.raises(DataError, match="shape"):
        sn.verify_layer(L.affine_forward, L.affine_backward, x, w, np.zeros(2),
                        dout=np.ones((3, 3)))


def test_wrt_and_non_array_arguments_pass_through():
    x, gamma, beta, bn_param = L.inputs("batchnorm")
    report = sn.verify_layer(L.batchnorm_forward, L.batchnorm_backward, x, gamma, beta,
                             bn_param, wrt=["gamma"])
    assert [r.name for r in report.results] == ["gamma"] and report.ok
    assert bn_param == {"mode": "train"}  # the forward wrote into copies only


def test_out_alone_with_backward_of_the_arguments():
    def relu(x):
        return np.maximum(x, 0)

    def relu_grad(dout, x):
        return dout * (x > 0)

    def relu_grad_wrong(dout, x):
        return dout * (x >= -1)

    x = L.inputs("relu")[0]
    assert sn.verify_layer(relu, relu_grad, x).ok
    assert wrong(sn.verify_layer(relu, relu_grad_wrong, x)) == {"x": "routing"}


class Affine:  # a from-scratch framework's layer: parameters and gradients as attributes
    def __init__(self, W, b):
        self.W, self.b, self.dW, self.db, self.x = W, b, None, None, None
        self.running = np.zeros(3)  # a buffer, not a parameter

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW, self.db = self.x.T @ dout, dout.sum(axis=0)
        return dout @ self.W.T


class AffineBias2(Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.db = 2 * self.db
        return dx


class AffineParams:  # parameters in a list, gradients in a list beside it (written in place)
    def __init__(self, W, b):
        self.params, self.grads = [W, b], [np.zeros_like(W), np.zeros_like(b)]

    def forward(self, x):
        W, b = self.params
        self.x = x
        return x @ W + b

    def backward(self, dout):
        W, _ = self.params
        self.grads[0][...] = self.x.T @ dout
        self.grads[1][...] = dout.sum(axis=0)
        return dout @ W


def test_layer_objects():
    x, W, b = L.inputs("affine")
    layer = Affine(W, b)
    report = sn.verify_layer(layer, x)
    assert report.ok and [r.name for r in report.results] == ["x", "W", "b"], str(report)
    assert layer.W is W and layer.b is b  # put back as they were
    assert wrong(sn.verify_layer(AffineBias2(W, b), x)) == {"b": "scaled"}
    x, W, b = L.inputs("affine_square")
    report = sn.verify_layer(AffineParams(W, b), x)
    assert wrong(report) == {"x": "transposed"}, str(report)
    assert [r.name for r in report.results] == ["x", "params[0]", "params[1]"]


def test_reference_layers():
    for case, ref in [("affine", sn.Dense(5, 3)), ("affine_4d", sn.Dense(8, 4)),
                      ("relu", sn.ReLU()), ("sigmoid", sn.Sigmoid()),
                      ("batchnorm", sn.BatchNorm(4)), ("layernorm", sn.LayerNorm(6))]:
        report = check(case, reference=ref)
        assert report.ok and report.mode == "reference", (case, str(report))
        assert report.n_loss_evals < 20
    report = check("batchnorm", L.batchnorm_backward_no_variance_term,
                   reference=sn.BatchNorm(4))
    assert wrong(report) == {"x": "normalization_wrong"} and report.mode == "reference"
    report = check("affine_square", L.affine_backward_dx_w, reference=sn.Dense(5, 5))
    assert wrong(report) == {"x": "transposed"}
    with pytest.raises(DataError, match="eps"):  # the user's layer is not the reference
        check("batchnorm", reference=sn.BatchNorm(4, eps=1e-3))
    with pytest.raises(DataError, match="symnet layer"):
        check("affine", reference="dense")


def test_user_code_errors_are_theirs():
    def forward(x):
        raise ValueError("boom")

    with pytest.raises(UserCodeError, match="forward.*boom"):
        sn.verify_layer(forward, L.relu_backward, np.ones((2, 2)))

    def backward_too_many(dout, cache):
        return dout, dout

    with pytest.raises(DataError, match="one gradient per floating-point array argument"):
        sn.verify_layer(L.relu_forward, backward_too_many, np.ones((2, 2)))

    def noisy(x):
        return x * np.random.rand(*x.shape), None

    with pytest.raises(DataError, match="not deterministic"):
        sn.verify_layer(noisy, lambda d, c: d, np.ones((2, 2)))
    with pytest.raises(DataError, match="no floating-point array"):
        sn.verify_layer(L.relu_forward, L.relu_backward, [1.0, 2.0])


# ── the symbolic side: ∂L/∂X ───────────────────────────────────────────────────────────


def test_derive_input_gradient():
    net = sn.parse("3-4-2 tanh mse")
    plain, d = sn.derive(net), sn.derive(net, input_gradient=True)
    assert "dX" not in [e.name for e in plain.backward]
    (dX,) = [e for e in d.backward if e.name == "dX"]
    assert dX.kind == "input" and str(dX.rhs) == "dZ1*W1.T"
    assert "∂L/∂X = δ1 W1ᵀ" in d.unicode() and r"\partial X" in d.latex()
    assert "∂L/∂X" in d.markdown()
    source = sn.codegen(d)  # a derivation with ∂L/∂X: the module returns it as grads["X"]
    body = source[source.index("def loss_and_grads("):source.index("def sgd_step")]
    assert body.count("dX = ") == 1 and '"X": dX' in body
    rng = np.random.default_rng(0)
    p = sn.compile(net).init(seed=1)
    X, Y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    assert list(sn.compile(d).loss_and_grads(p, X, Y)[1]) == [*p, "X"]
    # numerically: the layer rule through verify_layer's reference
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    assert sn.verify_layer(L.affine_forward, L.affine_backward, x, w, b,
                           reference=sn.Dense(3, 2)).ok


# ── symnet verify layers.py ────────────────────────────────────────────────────────────


def test_cli_layer_file(tmp_path):
    proc = cli("verify", L.__file__)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "6 layer(s): 5 right, 1 wrong (affine with dw transposed)" in proc.stdout
    proc = cli("verify", L.__file__, "--json")
    data = json.loads(proc.stdout)
    assert not data["ok"] and data["cases"]["relu_forward"]["ok"]
    kinds = {r["name"]: r["kind"] for r in data["cases"]["affine with dw transposed"]["results"]}
    assert kinds["w"] == "transposed"
    good = tmp_path / "good.py"
    good.write_text("from corpus.layers.cs231n import affine_forward, affine_backward, "
                    "dropout_forward, dropout_backward, inputs\n"
                    "CASES = {'affine_forward': inputs('affine'), 'dropout_forward': "
                    "lambda: inputs('dropout')}\n")
    proc = cli("verify", str(good), env={"PYTHONPATH": f"{ROOT / 'tests'}:{ROOT}"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 layer(s): 2 right" in proc.stdout
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy as np\nCASES = {'missing_forward': (np.ones(3),)}\n")
    proc = cli("verify", str(bad))
    assert proc.returncode == 2 and "could not run (missing_forward)" in proc.stdout


# ── framework custom gradients ─────────────────────────────────────────────────────────


def _torch_functions(torch):
    class Cube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x ** 2 * g

    class CubeWrong(Cube):
        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x ** 2 * g  # BUG: d/dx x³ is 3x²

    class Linear(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w):
            ctx.save_for_backward(x, w)
            return x @ w

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            return g @ w, x.T @ g  # BUG: w where wᵀ belongs

    return Cube, CubeWrong, Linear


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_custom_function(dtype):
    torch = pytest.importorskip("torch")
    Cube, CubeWrong, Linear = _torch_functions(torch)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, dtype=getattr(torch, dtype), generator=gen)
    assert sn.verify_function(Cube.apply, x).ok
    report = sn.verify_function(CubeWrong.apply, x)
    assert wrong(report) == {"x": "scaled"} and "0.666" in report["x"].diagnosis, str(report)
    w = torch.randn(4, 4, dtype=getattr(torch, dtype), generator=gen, requires_grad=True)
    xg = x.clone().requires_grad_(True)
    report = sn.verify_function(Linear.apply, xg, w)
    assert [r.name for r in report.results] == ["x", "w"]
    assert wrong(report) == {"x": "transposed"}, str(report)


@pytest.mark.parametrize("x64", [False, True])
def test_jax_custom_vjp(x64):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy

    @jax.custom_vjp
    def cube(x):
        return x ** 3

    cube.defvjp(lambda x: (x ** 3, x), lambda x, g: (3 * x ** 2 * g,))

    @jax.custom_vjp
    def cube_wrong(x):
        return x ** 3

    cube_wrong.defvjp(lambda x: (x ** 3, x), lambda x, g: (-3 * x ** 2 * g,))  # BUG: sign

    enable_x64 = getattr(jax, "enable_x64", None)
    if enable_x64 is None:  # older JAX
        from jax.experimental import enable_x64
    with enable_x64(x64):
        dtype = jnp.float64 if x64 else jnp.float32
        x = jnp.asarray(np.random.default_rng(3).standard_normal((3, 4)), dtype=dtype)
        assert x.dtype == dtype
        assert sn.verify_function(cube, x).ok
        report = sn.verify_function(cube_wrong, x)
        assert wrong(report) == {"x": "sign"}, str(report)


def test_verify_function_needs_framework_tensors():
    with pytest.raises(DataError, match="verify_layer"):
        sn.verify_function(lambda x: x, np.ones(3))


def test_a_forward_and_backward_of_slightly_different_functions():
    def softmax_loss_eps(x, y):  # an ε inside the loss's log that its dx does not have
        loss, dx = L.softmax_loss(x, y)
        p = np.exp(x - x.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return -np.mean(np.log(p[np.arange(len(y)), y] + 1e-7)), dx

    report = sn.verify_layer(softmax_loss_eps, None, *L.inputs("softmax_loss"))
    assert not report.ok and report["x"].kind == "other"
    assert "close, but beyond rounding" in report["x"].diagnosis, str(report)


def test_an_unimplemented_layer_says_so():
    def todo_forward(x):
        out = None  # TODO
        return out, x

    with pytest.raises(DataError, match="None.*not implemented"):
        sn.verify_layer(todo_forward, L.relu_backward, np.ones((2, 2)))

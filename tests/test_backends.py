"""Backends: the same derivation printed for JAX, PyTorch and CuPy (codegen.backends).

Every installed backend's loss, gradients and training step equal the NumPy backend's in
float64 to 1e-12 relative (the same formulas, rounded differently), `check` agrees, and
importing symnet or printing a backend's module needs none of them. Backends that are not
installed are skipped (CI installs JAX; `pip install 'symnet[torch]'` or `[cupy]` adds the
others). tests/test_examples.py runs the JAX step data-parallel over 4 host CPU devices.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_train_step import specs as every_activation_and_loss

import symnet as sn
from symnet.checking.check import _against_numpy, draw
from symnet.codegen.backends import NAMES, available
from symnet.codegen.model import load_source, to_numpy
from symnet.nn.layers import ACTIVATIONS
from symnet.nn.losses import LOSSES
from symnet.nn.normalization import BatchNorm, LayerNorm

ROOT = Path(__file__).resolve().parent.parent
OTHERS = [b for b in NAMES if b != "numpy"]


def installed(name):
    """The backend as a pytest param, skipped when its library is missing (or, for CuPy,
    when there is no GPU to run it)."""
    marks = []
    if not available(name):
        marks.append(pytest.mark.skip(reason=f"{name} is not installed"))
    elif name == "cupy" and not _cupy_has_gpu():
        marks.append(pytest.mark.skip(reason="CuPy is installed but finds no GPU"))
    return pytest.param(name, marks=marks)


def _cupy_has_gpu():
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - no driver, no device: no GPU
        return False


BACKENDS = [installed(b) for b in OTHERS]


def specs():
    out = every_activation_and_loss()
    return out + [
        "3-4-5-2 elu/gelu mse weight_decay=0.1",
        "4-6-5-3 layernorm,tanh/relu softmax_ce",
        "2-8-1 batchnorm,act(x*sigmoid(theta*x), theta=1) bce_logits",
        "3-5-2 act(abs(x) + min(x, 0.5)) mse",
        "5-4-3 leaky_relu(0.1) softmax ce",
    ]


def fewer_specs():
    """Every activation and every loss once (and the layers): what the slower tests run."""
    out = [f"3-4-2 {act} {act} mse" for act in sorted(ACTIVATIONS)]
    for loss in sorted(LOSSES):
        output = getattr(LOSSES[loss], "probabilities_from", None) or "tanh"
        out.append(f"3-4-2 tanh {output} {loss}")
    return out + specs()[-5:]


def relative(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    err = float(np.max(np.abs(a - b))) if b.size else 0.0
    return err / scale if scale else err


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_activation_loss_and_layer_equals_numpy_in_float64(backend):
    for spec in specs():
        ref = sn.compile(spec)
        model = sn.compile(spec, backend=backend)
        params, X, Y = draw(ref.network, ref, 0, 5)
        L0, g0 = ref.loss_and_grads(params, X, Y)
        # loss and gradients: 1e-12 relative, or rounding noise where a gradient is 0 by
        # cancellation (the bias before BatchNorm), measured in extended precision
        agree = _against_numpy(ref, model, params, X, Y, 1e-12)
        assert agree.ok, (spec, [(r.name, r.max_rel_err) for r in agree.failures])
        assert relative(to_numpy(model.forward(params, X)), ref.forward(params, X)) <= 1e-12
        # the step: the same update as NumPy's
        p_ref = {k: v.copy() for k, v in params.items()}
        ref.train_step(p_ref, X, Y, 0.1)
        p = model.init(0)
        p.update({k: model.asarray(v) for k, v in params.items()})
        L = model.train_step(p, X, Y, 0.1)
        assert relative(to_numpy(L), L0) <= 1e-12, spec
        for k in p_ref:  # θ − lr·g: the noise of a zero gradient is far below θ
            assert relative(to_numpy(p[k]), p_ref[k]) <= 1e-12, (spec, k)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("spec", ["4-8-3 relu softmax_ce", "3-5-2 gelu sigmoid bce",
                                  "2-6-1 batchnorm,tanh mse weight_decay=0.1"])
def test_check_covers_the_backend(backend, spec):
    report = sn.check(spec, backend=backend)
    assert report.ok, str(report)
    assert set(report.comparisons) == {f"{backend} vs NumPy", f"{backend} vs finite differences"}
    against = report.comparisons[f"{backend} vs NumPy"]
    assert against.ok
    if "batchnorm" not in spec:  # (before BatchNorm, ∂L/∂b1 is 0 up to rounding noise)
        assert all(r.max_rel_err <= 1e-12 for r in against.results)
    assert f"({backend}, float64" in str(report)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_stays_float32(backend):
    model = sn.compile("4-5-3 tanh softmax_ce", dtype=np.float32, backend=backend)
    params = model.init(0)
    X = np.random.default_rng(0).standard_normal((6, 4))
    L, grads = model.loss_and_grads(params, X, np.array([0, 1, 2, 0, 1, 2]))
    assert to_numpy(L).dtype == np.float32
    assert all(to_numpy(g).dtype == np.float32 for g in grads.values())
    ref = sn.compile("4-5-3 tanh softmax_ce", dtype=np.float32)
    L0, _ = ref.loss_and_grads(ref.init(0), X, np.array([0, 1, 2, 0, 1, 2]))
    assert relative(to_numpy(L), L0) <= 1e-5


@pytest.mark.parametrize("backend", BACKENDS)
def test_train_on_the_backend_equals_numpy(backend):
    net = sn.Network([sn.Dense(4, 6), BatchNorm(6), sn.ReLU(), sn.Dense(6, 5), LayerNorm(5),
                      sn.Tanh(), sn.Dense(5, 3)], sn.SoftmaxCrossEntropy())
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4))
    Y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    runs = {}
    for b in ("numpy", backend):
        for optimizer in ("sgd", "adam"):
            model = sn.compile(net, backend=b)
            h = sn.train(model, model.init(0), X, Y, epochs=3, lr=0.1, batch_size=16,
                         optimizer=optimizer, progress=False)
            runs[b, optimizer] = (h.loss, {k: to_numpy(v) for k, v in h.params.items()},
                                  {k: to_numpy(v) for k, v in h.state.items()})
    for optimizer in ("sgd", "adam"):
        (l0, p0, s0), (l1, p1, s1) = runs["numpy", optimizer], runs[backend, optimizer]
        np.testing.assert_allclose(l1, l0, rtol=1e-10)
        for k in p0:  # (b1 before BatchNorm: rounding noise, which Adam scales up to ~1e-9)
            np.testing.assert_allclose(p1[k], p0[k], rtol=1e-10, atol=1e-8, err_msg=k)
        for k in s0:
            np.testing.assert_allclose(s1[k], s0[k], rtol=1e-10, atol=1e-8, err_msg=k)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_modules_own_train_equals_numpy(backend):
    """The standalone module's train() (the epoch's losses summed on the device, lr placed
    there once for JAX) and Model.train_step at two learning rates (JAX keeps lr on the
    device while it stays the same) give NumPy's numbers."""
    spec = "4-6-3 tanh softmax_ce"
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((20, 4)), rng.integers(0, 3, 20)
    ref, model = sn.compile(spec), sn.compile(spec, backend=backend)
    p0, p1 = ref.init(0), model.init(0)
    h0 = ref.module.train(p0, X, Y, epochs=2, lr=0.1, batch_size=8)
    h1 = model.module.train(p1, X, Y, epochs=2, lr=0.1, batch_size=8)
    np.testing.assert_allclose(h1, h0, rtol=1e-12)
    for lr in (0.1, 0.1, 0.05):
        L0, L1 = ref.train_step(p0, X, Y, lr), model.train_step(p1, X, Y, lr)
        assert relative(to_numpy(L1), L0) <= 1e-12
    for k in p0:
        assert relative(to_numpy(p1[k]), p0[k]) <= 1e-12, k


def test_torch_device_argument():
    if not available("torch"):
        pytest.skip("torch is not installed")
    import torch

    model = sn.compile("4-5-3 relu softmax_ce", backend="torch", device="cpu")
    params = model.init(0)
    assert all(p.device == torch.device("cpu") and p.dtype == torch.float64
               for p in params.values())
    assert "torch on cpu" in repr(model)
    source = sn.codegen("4-5-3 relu softmax_ce", backend="torch")
    assert "def init_params(seed=0, device=None):" in source
    assert ".sub_(dW1, alpha=lr)" in source  # the in-place update


def test_jax_step_is_jit_compiled_and_pure():
    if not available("jax"):
        pytest.skip("jax is not installed")
    model = sn.compile("4-5-3 relu softmax_ce", backend="jax")
    assert "@jax.jit\ndef train_step(" in model.source
    params = model.init(0)
    X = model.asarray(np.random.default_rng(0).standard_normal((6, 4)))
    Y = model.asarray(np.eye(3)[[0, 1, 2, 0, 1, 2]])
    new, L = model.module.train_step(params, X, Y, 0.1)
    assert not np.array_equal(to_numpy(new["W1"]), to_numpy(params["W1"]))  # params untouched
    assert 'jax.config.update("jax_enable_x64", True)' in model.source


def test_jax_step_lowers_as_jax_grad_does():
    """The JAX step's products contract axes in place (an einsum, one dot_general, as
    jax.grad's backward pass), never `A.T @ B` (a transpose XLA can copy out first), and
    Σ Y ⊙ Z is a product and a sum (one fusion), not vdot's dot of flattened arrays."""
    if not available("jax"):
        pytest.skip("jax is not installed")
    model = sn.compile("4-5-3 relu softmax_ce", backend="jax")
    assert ".T @" not in model.source and "vdot" not in model.source
    assert 'jnp.einsum("ki,kj->ij", A1, dZ2)' in model.source
    params = model.init(0)
    X = model.asarray(np.random.default_rng(0).standard_normal((6, 4)))
    Y = model.asarray(np.eye(3)[[0, 1, 2, 0, 1, 2]])
    hlo = model.module.train_step.lower(params, X, Y, 0.1).as_text()
    assert "transpose" not in hlo and hlo.count("dot_general") == 5


@pytest.mark.parametrize("backend", OTHERS)
def test_printing_a_backend_needs_no_backend(backend):
    """codegen(backend=…) is text: it works, and parses, without the library installed; the
    same derivation is printed (equations as comments) in that library's spelling."""
    source = sn.codegen("4-8-3 relu softmax_ce", backend=backend)
    ast.parse(source)
    assert "# δ1 = (δ2 W2ᵀ) ⊙ relu′(Z1)" in source
    prefix = {"jax": "jnp", "torch": "torch", "cupy": "cp"}[backend]
    assert f"{prefix}.exp(" in source and "np.exp(" not in source.replace(f"{prefix}.exp(", "")
    if backend == "cupy":
        assert "cp.matmul(X, W1, out=Z1)" in source  # out= buffers, as NumPy


def test_importing_symnet_needs_no_backend():
    code = ("import sys\n"
            "for m in ('jax', 'torch', 'cupy', 'cupyx', 'jaxlib'): sys.modules[m] = None\n"
            "import symnet as sn\n"
            "src = sn.codegen('4-8-3 relu softmax_ce', backend='jax')\n"
            "m = sn.compile('4-8-3 relu softmax_ce')\n"
            "print('ok', len(src) > 0, sorted(k for k in sys.modules if k.split('.')[0] in "
            "('jax', 'torch', 'cupy') and sys.modules[k] is not None))\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok True []"


def test_a_missing_backend_says_how_to_install_it(monkeypatch):
    model_module = sys.modules["symnet.codegen.build"]
    monkeypatch.setattr(model_module, "available", lambda name: False)
    with pytest.raises(sn.DataError, match=r"pip install 'symnet\[cupy\]'"):
        sn.compile("4-8-3 relu softmax_ce", backend="cupy")
    with pytest.raises(sn.SpecError, match="unknown backend"):
        sn.compile("4-8-3 relu softmax_ce", backend="tensorflow")
    with pytest.raises(sn.DataError, match="device= needs another backend"):
        sn.compile("4-8-3 relu softmax_ce", device="cuda")
    # a layer the backend does not cover is the error that matters, installed or not
    rnn = sn.Network([sn.RNN(2, 3), sn.Dense(3, 1)], sn.MSE(), input_shape=(4, 2))
    with pytest.raises(sn.SpecError, match="RNN layers are generated for NumPy only"):
        sn.compile(rnn, backend="cupy")


def test_numpy_module_is_unchanged_by_the_backend_table():
    """The NumPy printer's output for forward/loss/loss_and_grads is what validate reads back."""
    source = sn.codegen("3-4-2 elu sigmoid bce")
    assert "np.where(Z1 > 0, Z1, np.expm1(np.minimum(Z1, 0)))" in source
    module = load_source(source)
    assert hasattr(module, "train_step") and hasattr(module, "loss_and_grads")


def test_cupy_module_runs_on_a_numpy_stand_in(monkeypatch):
    """CuPy needs a GPU; its module is NumPy's spelled `cp.` (with out= buffers, cp.amax and
    cp.sum for the reductions, cupyx's erf), so NumPy standing in for CuPy runs every line of
    it here: a misspelling would raise. The real thing: benchmarks/gpu_check.sh."""
    import math
    import types

    fake = types.ModuleType("cupy")
    for name in dir(np):
        if not name.startswith("__"):
            setattr(fake, name, getattr(np, name))
    fake.cuda = types.SimpleNamespace(Device=lambda i=0: __import__("contextlib").nullcontext())
    special = types.ModuleType("cupyx.scipy.special")
    special.erf = lambda x: np.frompyfunc(math.erf, 1, 1)(x).astype(x.dtype)
    cupyx = types.ModuleType("cupyx")
    cupyx.scipy = types.ModuleType("cupyx.scipy")
    cupyx.scipy.special = special
    for name, module in [("cupy", fake), ("cupyx", cupyx), ("cupyx.scipy", cupyx.scipy),
                         ("cupyx.scipy.special", special)]:
        monkeypatch.setitem(sys.modules, name, module)
    for spec in fewer_specs():
        ref = sn.compile(spec)
        module = load_source(sn.codegen(spec, backend="cupy"))
        params, X, Y = draw(ref.network, ref, 0, 5)
        L0, g0 = ref.loss_and_grads(params, X, Y)
        L1, g1 = module.loss_and_grads({k: v.copy() for k, v in params.items()}, X, Y)
        assert relative(L1, L0) <= 1e-12, spec
        p = module.init_params(0)
        p.update({k: v.copy() for k, v in params.items()})
        p_ref = {k: v.copy() for k, v in params.items()}
        for _ in range(2):
            assert relative(module.train_step(p, X, Y, 0.1),
                            ref.module.train_step(p_ref, X, Y, 0.1)) <= 1e-12, spec
        for k in p_ref:
            assert relative(p[k], p_ref[k]) <= 1e-12, (spec, k)


@pytest.mark.parametrize("backend", ["jax", "torch", "cupy"])
@pytest.mark.parametrize("net", [
    sn.Network([sn.Conv2d(1, 2, 3), sn.Flatten(), sn.Dense(8, 1)], sn.MSE(),
               input_shape=(1, 4, 4)),
    sn.Network([sn.RNN(2, 3), sn.Dense(3, 1)], sn.MSE(), input_shape=(4, 2)),
    sn.Network([sn.Dense(4, 4), sn.Dropout(0.5), sn.Dense(4, 1)], sn.MSE()),
], ids=["conv", "rnn", "dropout"])
def test_numpy_only_layer_families_are_refused_by_name(backend, net):
    """Printing needs no backend library: the refusal comes first, and says what and why."""
    with pytest.raises(sn.SpecError, match=f"backend '{backend}' cannot generate this network:"
                                           r".* layers are generated for NumPy only"):
        sn.codegen(net, backend=backend)

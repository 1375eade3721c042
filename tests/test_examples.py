"""Each script in examples/ runs from the repository root and prints what it promises.

The scripts run as users run them (`python examples/NAME.py`, a subprocess with a timeout), with
the repository on PYTHONPATH so that an uninstalled checkout works too. Parts that need
scikit-learn's digits say so and exit 0; here they are asserted only when scikit-learn is there.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HAS_SKLEARN = importlib.util.find_spec("sklearn") is not None


def run(name, timeout=60, args=(), **environ):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])), PYTHONIOENCODING="utf-8",
               **environ)
    done = subprocess.run([sys.executable, f"examples/{name}.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=timeout)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr
    return done.stdout


def test_every_example_is_tested():
    tested = {"print_equations", "digits_standalone", "find_the_bug", "custom_activation",
              "cnn_digits", "residual_mlp", "sine_phase_rnn", "jax_data_parallel",
              "torch_data_parallel"}
    assert {p.stem for p in (ROOT / "examples").glob("*.py")} <= tested


def test_print_equations():
    out = run("print_equations")
    assert "δ1 = (δ2 W2ᵀ) ⊙ σ′(Z1)" in out  # Unicode
    assert r"\frac{\partial L}{\partial W_{1}} &= X^{\top} \delta_{1}" in out  # LaTeX
    assert "∂L/∂w¹₁₂ = x₁·δ¹₂" in out  # per weight
    err = float(out.rsplit("over ∂L/∂W1: ", 1)[1].split()[0])
    assert err < 1e-15  # exact SymPy value vs generated float64 NumPy


def test_digits_standalone():
    out = run("digits_standalone")
    if not HAS_SKLEARN:
        assert out.startswith("skipped:") and "scikit-learn" in out
        return
    assert "imports: ['import numpy as np', 'from threading import get_ident']" in out
    assert "cannot import SymPy or symnet" in out
    accuracy = float(out.split("after 30 epochs of SGD: ")[1].split("%")[0])
    assert accuracy > 90


def test_find_the_bug():
    out = run("find_the_bug")
    first, halfway, fixed = out.split("── ")[1:4]
    assert "4 parameter(s) wrong" in first and "the 1/B is missing" in first
    assert "right: W2, b2; wrong: W1, b1" in halfway and "Z1·(1 − Z1)" in halfway
    assert "all gradients match" in fixed


@pytest.mark.skipif(not (ROOT / "examples" / "custom_activation.py").exists(),
                    reason="examples/custom_activation.py is not in this checkout")
def test_custom_activation():
    out = run("custom_activation")
    assert "swish(x, β) = x·σ(β·x)" in out and "∂L/∂β1 = " in out  # derived, printed
    assert "dbeta1 = " in out and "all gradients match" in out  # generated, checked
    assert float(out.split("test accuracy ")[1].split("%")[0]) > 90  # trained
    assert float(out.split("β1 learned: ")[1].split()[0]) != 1.0


@pytest.mark.slow
def test_cnn_digits():
    out = run("cnn_digits", timeout=300)
    if not HAS_SKLEARN:
        assert out.startswith("skipped:") and "scikit-learn" in out
        return
    assert "∂L/∂W1 = pad₁(X) ⋆ δ1" in out and "route₂(∂L/∂P1 → max A1)" in out
    assert "generated vs finite differences): ok" in out
    accuracy = float(out.split("test accuracy: ")[1].split("%")[0])
    assert accuracy >= 98
def test_residual_mlp():
    out = run("residual_mlp", timeout=120)
    assert "∂L/∂S1 = ∂L/∂S2 + " in out  # the skip path's term in the printed derivation
    rows = {line.split("  ")[0]: line for line in out.splitlines() if "check:" in line}
    assert set(rows) == {"plain stack", "residual"}
    for line in rows.values():
        assert "check: ok" in line
        assert float(line.split("training accuracy ")[1].rstrip("%")) > 60


def test_sine_phase_rnn():
    out = run("sine_phase_rnn")
    assert "δ1 = [(∂L/∂S1[t] + δ1[t+1] Wh1ᵀ) ⊙ tanh′(Z1[t])]ₜ₌T…₁" in out
    assert "check of the same network at T = 3: ok" in out
    assert float(out.split("test accuracy after 15 epochs: ")[1].split("%")[0]) > 90


def test_jax_data_parallel():
    """The generated JAX step, data-parallel over 4 host CPU devices (gradients averaged by
    jax.lax.pmean under shard_map), equals single-device training on the whole batch."""
    if importlib.util.find_spec("jax") is None:
        out = run("jax_data_parallel")
        assert out.startswith("skipped:") and "JAX" in out
        return
    out = run("jax_data_parallel", timeout=240,
              args=["--spec", "8-16-4 tanh softmax_ce", "--batch", "64", "--steps", "3",
                    "--dtype", "float64"],
              XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    assert "4 device(s) ['cpu', 'cpu', 'cpu', 'cpu']" in out
    assert "16 per device" in out
    assert "ok: data-parallel steps equal single-device steps" in out
    worst = float(out.split("single-device training ")[1].split()[0])
    assert worst <= 1e-12


def test_torch_data_parallel():
    """The generated PyTorch step, data-parallel over 2 processes (gradients summed by
    torch.distributed.all_reduce over Gloo), equals single-process training on the whole
    batch."""
    if importlib.util.find_spec("torch") is None:
        out = run("torch_data_parallel")
        assert out.startswith("skipped:") and "PyTorch" in out
        return
    out = run("torch_data_parallel", timeout=240,
              args=["--spec", "8-16-4 tanh softmax_ce", "--batch", "64", "--steps", "3",
                    "--dtype", "float64"])
    assert "2 processes (gloo)" in out and "32 per process" in out
    assert "ok: data-parallel steps equal single-process steps" in out
    worst = float(out.split("single-process training ")[1].split()[0])
    assert worst <= 1e-12

"""`symnet check SPEC` and `symnet verify FILE [--net SPEC]`: exit 0 right, 1 wrong, 2 bad input
(one line on stderr, no traceback)."""

import json
import sys
import textwrap

import pytest

from symnet.checking.mutants import mutants
from symnet.cli import main
from symnet.codegen.build import compile as real_compile

# A user's file: a two-layer tanh MLP with MSE averaged over all entries (symnet's mse).
USER = '''
import numpy as np

def make_case():
    rng = np.random.default_rng(0)
    params = {{"W1": rng.standard_normal((3, 4)), "b1": rng.standard_normal(4),
              "W2": rng.standard_normal((4, 2)), "b2": rng.standard_normal(2)}}
    return params, rng.standard_normal((5, 3)), rng.standard_normal((5, 2))

def forward(p, X):
    Z1 = X @ p["W1"] + p["b1"]
    A1 = np.tanh(Z1)
    return Z1, A1, A1 @ p["W2"] + p["b2"]

def loss(p, X, Y):
    return np.mean((forward(p, X)[2] - Y) ** 2)

def grads(p, X, Y):
    Z1, A1, Z2 = forward(p, X)
    dZ2 = 2 * (Z2 - Y) / Y.size
    dZ1 = (dZ2 @ p["W2"].T) * {derivative}
    return {{"W1": X.T @ dZ1, "b1": dZ1.sum(axis=0), "W2": A1.T @ dZ2, "b2": dZ2.sum(axis=0)}}
'''
RIGHT = USER.format(derivative="(1 - A1 ** 2)")
WRONG = USER.format(derivative="(1 - np.tanh(A1) ** 2)")  # tanh′ at the output A1
NET = "3-4-2 tanh mse"


def write(tmp_path, text, name="my_backprop.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ── check ──────────────────────────────────────────────────────────────────────────────────


def test_check_right(capsys):
    code, out, err = run(capsys, "check", "3-4-2 relu softmax_ce", "--seed", "2")
    assert code == 0 and not err
    assert "gradients agree" in out and "generated vs exact" in out


def test_check_json_float32(capsys):
    code, out, _ = run(capsys, "check", "2-3-1 sigmoid sigmoid bce", "--dtype", "float32", "--json")
    d = json.loads(out)
    assert code == 0 and d["ok"] is True and d["dtype"] == "float32"


def test_check_wrong(capsys, monkeypatch):
    # A code generator that compiles a mutant of the derivation: the check must catch it.
    def broken(d, dtype):
        wrong = next(m for m in mutants(d) if m.key == "activation_derivative_missing")
        return real_compile(wrong.derivation, dtype)

    # The module, not sn.check (the function of the same name that symnet re-exports).
    monkeypatch.setattr(sys.modules["symnet.checking.check"], "compile", broken)
    code, out, _ = run(capsys, "check", "3-4-2 tanh mse")
    assert code == 1
    assert "disagree" in out and "wrong" in out


@pytest.mark.parametrize("argv, says", [
    (["check", "3-4-2 tanh msx"], "expected a loss"),
    (["check", "3-4-2 tanh mse", "--batch", "0"], "batch must be a positive integer"),
    (["check", "missing.toml"], "missing.toml"),
])
def test_check_bad_input(capsys, argv, says):
    code, out, err = run(capsys, *argv)
    assert code == 2 and not out
    assert err.startswith("symnet: error: ") and says in err and err.count("\n") == 1


# ── verify ─────────────────────────────────────────────────────────────────────────────────


def test_verify_right_black_box(capsys, tmp_path):
    code, out, err = run(capsys, "verify", write(tmp_path, RIGHT))
    assert code == 0 and not err
    assert "all gradients match" in out and "finite differences" in out


def test_verify_wrong_black_box(capsys, tmp_path):
    code, out, _ = run(capsys, "verify", write(tmp_path, WRONG))
    assert code == 1 and "parameter(s) wrong" in out


def test_verify_right_reference(capsys, tmp_path):
    text = RIGHT.replace("def loss(", "def unused_loss(")  # --net needs no loss()
    code, out, _ = run(capsys, "verify", write(tmp_path, text), "--net", NET)
    assert code == 0 and "truth: symnet's derivation of `3-4-2 tanh mse`" in out


def test_verify_wrong_reference_names_the_mistake(capsys, tmp_path):
    code, out, _ = run(capsys, "verify", write(tmp_path, WRONG), "--net", NET)
    assert code == 1
    assert "tanh′ is applied to the output A1 instead of the pre-activation Z1" in out
    assert "correct: δ1 = (δ2 W2ᵀ) ⊙ tanh′(Z1)" in out
    assert "yours:   δ1 = (δ2 W2ᵀ) ⊙ tanh′(A1)" in out


def test_verify_json(capsys, tmp_path):
    code, out, _ = run(capsys, "verify", write(tmp_path, WRONG), "--net", NET, "--json")
    d = json.loads(out)
    assert code == 1 and d["ok"] is False
    assert {r["name"]: r["mutant"] for r in d["results"] if r["verdict"] != "ok"} == {
        "W1": "derivative_at_output", "b1": "derivative_at_output"}


def test_verify_grads_that_crash_show_the_users_traceback(capsys, tmp_path):
    text = RIGHT.replace('return {"W1"', 'raise ValueError("shapes not aligned")\n    return {"W1"')
    path = write(tmp_path, text)
    code, out, err = run(capsys, "verify", path)
    assert code == 2 and not out  # a crash, not a wrong gradient
    assert "Traceback (most recent call last)" in err and f'File "{path}", line' in err
    line = text.splitlines().index('    raise ValueError("shapes not aligned")') + 1
    assert err.strip().splitlines()[-1] == (
        f"symnet: error: grads(params, X, Y) raised ValueError: shapes not aligned (at {path}, "
        f"line {line})")


def test_verify_loss_that_crashes_shows_the_users_traceback(capsys, tmp_path):
    text = RIGHT.replace("return np.mean", "raise KeyError('W9')\n    return np.mean")
    code, out, err = run(capsys, "verify", write(tmp_path, text))
    assert code == 2 and not out and "Traceback" in err
    assert "symnet: error: loss(params, X, Y) raised KeyError: 'W9' (at " in err


def test_verify_grads_that_exit_are_a_crash(capsys, tmp_path):
    text = RIGHT.replace('return {"W1"', 'import sys\n    sys.exit(0)\n    return {"W1"')
    code, out, err = run(capsys, "verify", write(tmp_path, text))
    assert code == 2 and not out and "grads(params, X, Y) raised SystemExit" in err


def test_verify_imports_helpers_beside_the_file(capsys, tmp_path):
    write(tmp_path, "def tanh_prime(A):\n    return 1 - A ** 2\n", "helpers.py")
    text = "from helpers import tanh_prime\n" + RIGHT.replace("(1 - A1 ** 2)", "tanh_prime(A1)")
    code, _, _ = run(capsys, "verify", write(tmp_path, text))
    assert code == 0


@pytest.mark.parametrize("text, extra, says", [
    (None, [], "no such file"),
    ("import numpy as np\n", [], "does not define grads(), make_case(), loss()"),
    (RIGHT.replace("def loss(", "def los("), [], "does not define loss()"),
    (RIGHT.replace("def grads(", "def grad("), ["--net", NET], "does not define grads()"),
    (RIGHT.replace("rng = np.random", "raise RuntimeError('no data here')\n    rng = np.random"),
     [], "make_case() raised RuntimeError: no data here"),
    (RIGHT.replace("return params, rng", "return rng"), [], "make_case() must return"),
    ("def grads(:\n", [], "importing"),
    ("import sys\nsys.exit(3)\n", [], "raised SystemExit"),
    (RIGHT.replace("(5, 2))", "(5, 2)) * np.nan"), [], "contains NaN"),
    (RIGHT, ["--net", "3-4-2 tanh msx"], "expected a loss"),
    (RIGHT, ["--net", "3-5-2 tanh mse"], "parameter W1 has shape (3, 4), the network needs (3, 5)"),
])
def test_verify_bad_input(capsys, tmp_path, text, extra, says):
    path = str(tmp_path / "absent.py") if text is None else write(tmp_path, text)
    code, out, err = run(capsys, "verify", path, *extra)
    assert code == 2 and not out
    assert err.startswith("symnet: error: ") and says in err and err.count("\n") == 1


def test_verify_refuses_a_non_python_file(capsys, tmp_path):
    code, _, err = run(capsys, "verify", write(tmp_path, "x = 1\n", "notes.txt"))
    assert code == 2 and "not a Python file" in err

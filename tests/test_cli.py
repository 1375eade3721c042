import os
import stat
import subprocess
import sys

import pytest
from _cli import ROOT, cli, one_line_error

import symnet as sn


def run(*args):
    return subprocess.run([sys.executable, "-m", "symnet", *args], capture_output=True,
                          text=True, timeout=120)


def test_derive_runs_as_a_program():
    out = run("derive", "2-3-1 sigmoid sigmoid mse")
    assert out.returncode == 0, out.stderr
    assert "δ1 = (δ2 W2ᵀ) ⊙ σ′(Z1)" in out.stdout


def test_bad_input_exits_2_with_one_line_and_no_traceback():
    out = run("derive", "2-3-1 sigmod mse")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert "unknown activation 'sigmod'" in out.stderr


def test_no_command_prints_help():
    out = run()
    assert out.returncode == 0 and "derive" in out.stdout


# ── output files and argument edge cases (issue 14) ────────────────────────────────────────


@pytest.mark.parametrize("command", [["codegen", "2-1 sigmoid bce"],
                                     ["graph", "2-1 sigmoid bce"]])
def test_output_never_replaces_a_fifo(tmp_path, command):
    fifo = tmp_path / ("out.dot" if command[0] == "graph" else "out.py")
    os.mkfifo(fifo)
    one_line_error(cli(*command, "-o", str(fifo), "--force"), "regular file")
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_negative_seed_verify(tmp_path):
    f = tmp_path / "mine.py"
    f.write_text("def make_case(): pass\ndef loss(p, X, Y): pass\ndef grads(p, X, Y): pass\n")
    one_line_error(cli("verify", str(f), "--seed", "-1"), "seed")


def test_cli_version():
    p = cli("--version")
    assert p.returncode == 0 and sn.__version__ in p.stdout


def test_check_huge_network_is_refused_with_a_message():
    p = cli("check", "100000-100000-1 relu mse", limit_memory=3 * 2**30, timeout=120)
    one_line_error(p, "memory")


def test_check_huge_batch_is_refused_with_a_message():
    p = cli("check", "2-3-1 tanh mse", "--batch", "100000000", limit_memory=3 * 2**30,
            timeout=120)
    one_line_error(p, "memory")
    assert "disagree" not in p.stdout


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
@pytest.mark.parametrize("args", [("derive", "2-3-1 batchnorm,tanh mse"), ("derive", "--explicit"),
                                  ("check", "2-3-2 tanh softmax_ce"),
                                  ("prove", "-k", "sigmoid′")])
def test_non_utf8_stdout_gets_ascii_fallback(encoding, args):
    p = cli(*args, env={"PYTHONIOENCODING": encoding, "PYTHONUTF8": "0"})
    assert "UnicodeEncodeError" not in p.stderr, p.stderr[-1500:]
    assert p.returncode == 0, p.stderr[-1500:]
    if args[0] == "derive" and encoding == "ascii":
        assert "sigma" in p.stdout or "^T" in p.stdout


def test_ascii_fallback_for_a_script_of_ones_own():
    # the Python API: `import symnet` registers the handler, one line puts it on stdout
    code = ("import sys, symnet as sn; sys.stdout.reconfigure(errors='symnet-ascii'); "
            "print(sn.derive('2-1 mse')); print(sn.explicit('1-1-1 sigmoid sigmoid mse'))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "ascii",
                            "PYTHONUTF8": "0"}, timeout=120)
    assert p.returncode == 0, p.stderr[-1500:]
    assert "(x - y)^2" in p.stdout and "X^T delta1" in p.stdout  # an exponent stays one
    assert "w^2_11" in p.stdout and "a^1_1" in p.stdout  # layer^ and index_ kept apart


# ── issue 13: every --spec and SPEC says what a spec is, with an example ────────────────────


def _help(command, capsys) -> str:
    from symnet.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("command", ["derive", "codegen", "train", "graph", "check"])
def test_spec_argument_help_says_what_a_spec_is(command, capsys):
    text = _help(command, capsys)
    assert "network spec" in text and '"784-128-10 relu softmax_ce"' in text
    assert "TOML" in text


def test_prove_spec_help_says_what_a_spec_is_and_what_it_adds(capsys):
    text = _help("prove", capsys)
    assert "network spec" in text
    assert '"2-8-1 act(x*sigmoid(theta*x), theta=1) bce_logits"' in text
    assert "NumPy code generated" in text and "TOML" in text


def test_verify_net_help_says_what_a_spec_is(capsys):
    text = _help("verify", capsys)
    assert "network spec" in text and '"4-8-3 tanh softmax_ce"' in text

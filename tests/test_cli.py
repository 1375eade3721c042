import subprocess
import sys


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

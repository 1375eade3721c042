"""The benchmark runner: never overwrites the tracked results unless told, and says so before
measuring anything (PyTorch is optional: its columns are left out without it)."""

import os
import subprocess
import sys

from _cli import ROOT

RUN = ROOT / "benchmarks" / "run.py"


def _run(*args, cwd):
    return subprocess.run([sys.executable, str(RUN), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_benchmarks_do_not_overwrite_tracked_results(tmp_path):
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.read_bytes()
    p = _run("--quick", "--only", "step", cwd=tmp_path)  # refused at once, before measuring
    assert results.read_bytes() == before
    assert p.returncode == 2 and "--force" in p.stderr


def test_benchmarks_refuse_an_existing_output_file(tmp_path):
    out = tmp_path / "mine.md"
    out.write_text("keep")
    p = _run("--quick", "--only", "step", "-o", str(out), cwd=tmp_path)
    assert p.returncode == 2 and "--force" in p.stderr and out.read_text() == "keep"

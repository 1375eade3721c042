"""Helpers for tests that run symnet as a user does: `python -m symnet …` in a subprocess, and
generated modules imported from a file."""

from __future__ import annotations

import importlib.util
import os
import resource
import subprocess
import sys
from pathlib import Path

import symnet as sn

ROOT = Path(sn.__file__).resolve().parent.parent  # the checkout holding symnet/


def cli(*args, env=None, cwd=None, timeout=300, limit_memory=None):
    """Run `python -m symnet ARGS`; returns the CompletedProcess (text)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    preexec = None
    if limit_memory:
        def preexec():
            resource.setrlimit(resource.RLIMIT_AS, (limit_memory, limit_memory))
    return subprocess.run([sys.executable, "-m", "symnet", *args], capture_output=True,
                          text=True, env=full_env, cwd=cwd, timeout=timeout,
                          preexec_fn=preexec, encoding="utf-8", errors="replace")


def one_line_error(proc, *needles):
    """Exit 2 with one `… error: …` line (symnet's or argparse's) and no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert len(lines) == 1, proc.stderr
    for n in needles:
        assert n.lower() in lines[0].lower(), (n, lines[0])
    return lines[0]


def load_generated(source: str, tmp_path: Path, name="generated"):
    """Import a generated module from a file, as a user of `symnet codegen -o` does."""
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

"""Helpers for tests that compare generated code with exact evaluation at chosen points, and
for tests of things that must finish fast (run in a child process, or under a time limit)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
from contextlib import contextmanager

import numpy as np
import pytest

import symnet as sn


def run_python(code: str, timeout: float = 10.0) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter (same environment); fail the test if it times out."""
    try:
        return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                              text=True, timeout=timeout, env=os.environ.copy())
    except subprocess.TimeoutExpired:
        pytest.fail(f"did not finish within {timeout} s:\n{textwrap.dedent(code)}")


@contextmanager
def time_limit(seconds: float):
    """Interrupt pure-Python work (SymPy) that runs longer than `seconds` (POSIX, main thread)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expire(*_):
        raise TimeoutError(f"took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def one_unit(spec_or_net, xs, dtype=np.float64, Y=0.0, extra=None):
    """For a 1-in network with W1 = 1, b1 = 0 (so Z1 = x): per point x, the generated
    (x, forward, loss, grads) and the exact (loss, grads) from Derivation.evaluate."""
    net = sn.parse(spec_or_net) if isinstance(spec_or_net, str) else spec_or_net
    model = sn.compile(net, dtype=dtype)
    d = sn.derive(net)
    rows = []
    for xv in xs:
        p = model.init(0)
        p["W1"][...] = 1
        p["b1"][...] = 0
        for k, v in (extra or {}).items():
            p[k][...] = v
        X = np.array([[xv]], dtype=dtype)
        Yv = np.full((1, net.n_out), Y, dtype=dtype)
        with np.errstate(all="ignore"):
            A = model.forward(p, X)
            L, g = model.loss_and_grads(p, X, Yv)
        p64 = {k: v.astype(np.float64) for k, v in p.items()}
        Le, ge = d.evaluate(p64, X.astype(np.float64), Yv.astype(np.float64))
        rows.append((xv, A, float(L), g, Le, ge))
    return rows


def close(a, b, rel=1e-9, abs_=0.0) -> bool:
    return math.isfinite(a) and abs(a - b) <= rel * abs(b) + abs_

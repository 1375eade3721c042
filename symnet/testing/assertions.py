"""Assertions for users' test suites: a failing gradient check fails the test with its report."""

from __future__ import annotations

from symnet.checking.verify import verify


def assert_gradients_match(grads, *, loss=None, params, X, Y, **kwargs):
    """Raise AssertionError (message: the full report) unless `grads` matches the true gradients.

    Same arguments as `symnet.verify`; returns the report when everything matches."""
    report = verify(grads, loss=loss, params=params, X=X, Y=Y, **kwargs)
    if not report.ok:
        raise AssertionError("\n" + str(report))
    return report

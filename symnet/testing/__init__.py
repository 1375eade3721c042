"""Helpers for testing code that computes gradients: assertions for pytest suites."""

from symnet.testing.assertions import assert_gradients_match

__all__ = ["assert_gradients_match"]

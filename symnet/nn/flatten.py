"""`Flatten()`: a sample of any shape (a (T, d) sequence, a (C, H, W) image) as a flat vector.

On the tape every sample is already a row, time-major (or in PyTorch's C, H, W order), so
Flatten records nothing: it only tells the next layer that the row is a plain vector (its
per-sample shape becomes (n,)), as `torch.flatten(x, 1)` does. Its gradient is the identity.
"""

from __future__ import annotations

import math

from .layer import Layer


class Flatten(Layer):
    """(B, *shape) → (B, prod(shape)), for any per-sample shape."""

    def __repr__(self):
        return "Flatten()"

    def __eq__(self, other):
        return type(other) is Flatten

    def __hash__(self):
        return hash("Flatten")

    def out_shape(self, in_shape):
        return (math.prod(in_shape),)

    def record(self, tape, A, k: int):
        if A in tape.sample_shapes:  # from here on, a flat row
            tape.flattened[A] = tape.sample_shapes.pop(A)
        return A


__all__ = ["Flatten"]

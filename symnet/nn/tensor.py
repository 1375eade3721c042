"""Tensors of the functional API: `Input(n)`, and a layer called on tensors (`apply`).

A tensor records what made it (a layer and its input tensors) and each sample's shape; nothing
is computed until a `graph.GraphNetwork` records its tape. Kept apart from `graph` so that
`Layer.__call__` can make tensors without importing the layers themselves.
"""

from __future__ import annotations

import itertools

from ..errors import ShapeError, SpecError

_order = itertools.count()  # tensors are numbered as they are made: a topological order


class Tensor:
    """A value of a network under construction: an `Input`, or a layer applied to tensors.
    `shape` is each sample's shape ((n,) for a vector)."""

    def __init__(self, layer, inputs, shape):
        self.layer, self.inputs, self.shape = layer, tuple(inputs), tuple(shape)
        self.order = next(_order)

    def __repr__(self):
        what = "Input" if self.layer is None else repr(self.layer)
        return f"<tensor of shape (B, {', '.join(map(str, self.shape))}) from {what}>"


def Input(*shape) -> Tensor:  # noqa: N802 - sn.Input, as Keras users write it
    """The network's input: `Input(4)` for samples of 4 features, `Input(1, 8, 8)` for images."""
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        shape = tuple(shape[0])
    if not shape or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1
                            for n in shape):
        raise ShapeError(f"Input takes each sample's shape as positive integers, such as "
                         f"Input(4) or Input(1, 8, 8); got {shape!r}")
    return Tensor(None, (), shape)


def apply(layer, inputs) -> Tensor:
    """`layer(*inputs)`: the tensor `layer` makes of `inputs`, its shape checked now."""
    for t in inputs:
        if not isinstance(t, Tensor):
            raise SpecError(f"{layer!r} was called on {t!r}: call a layer on tensors "
                            "(sn.Input(n), or what another layer returned)")
    if getattr(layer, "merges", False):
        if len(inputs) < 2:
            raise SpecError(f"{layer!r} merges two or more tensors, got {len(inputs)}")
        return Tensor(layer, inputs, layer.merged_shape([t.shape for t in inputs]))
    if len(inputs) != 1:
        raise SpecError(f"{layer!r} takes one tensor, got {len(inputs)}: merge branches first "
                        "with sn.Add() or sn.Concat()")
    shape = inputs[0].shape
    if type(layer).__name__ == "Dense" and (len(shape) != 1 or shape[0] != layer.n_in):
        raise ShapeError(f"{layer!r} expects {layer.n_in} inputs, but the tensor it is called "
                         f"on has shape (B, {', '.join(map(str, shape))})")
    return Tensor(layer, inputs, layer.out_shape(shape))


__all__ = ["Input", "Tensor", "apply"]

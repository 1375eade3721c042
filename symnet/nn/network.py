"""A network: a sequence of layers and a loss, checked for consistent shapes when built."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cached_property

from ..algebra.tape import Tape
from ..errors import ShapeError, SpecError
from .activation import Activation
from .layer import Layer
from .layers import Dense, Identity
from .losses import Loss


class Network:
    """`Network([Dense(2, 3), Sigmoid(), Dense(3, 1), Sigmoid()], loss=MSE())`.

    Layers with weights are numbered from 1 in forward order (`W1, b1, W2, b2, …`); a layer
    without weights belongs to the numbered layer before it (A1 = σ(Z1)). A network that starts
    with a Dense layer takes its input width from it; otherwise say each sample's shape with
    `input_shape=` (an image (C, H, W), a sequence (T, n)).

    `Network(inputs=x, outputs=out, loss=…)` makes a network from tensors of the functional
    API instead (skip connections, branches): a `symnet.nn.graph.GraphNetwork`."""

    graph_class = None  # symnet.nn.graph.GraphNetwork, which registers itself here

    def __new__(cls, *args, **kwargs):
        if cls is Network and ("inputs" in kwargs or "outputs" in kwargs):
            return super().__new__(Network.graph_class)
        return super().__new__(cls)

    def __init__(self, layers: Sequence[Layer], loss: Loss, input_shape=None):
        layers = tuple(layers)
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise SpecError(f"layer {i + 1} is {layer!r}, not a symnet layer")
        if not isinstance(loss, Loss):
            raise SpecError(f"loss must be a symnet loss such as MSE(), got {loss!r}")
        if not layers or not layers[0].numbered:
            raise SpecError("a network starts with a layer that has weights (Dense, …)")
        self.input_shape = _input_shape(layers[0], input_shape)
        shape = self.input_shape
        for i, layer in enumerate(layers):
            width = math.prod(shape)
            if isinstance(layer, Dense) and (len(shape) != 1 or layer.n_in != width):
                raise ShapeError(
                    f"layer {i + 1} ({layer!r}) expects {layer.n_in} inputs, but the layer "
                    f"before it gives {_shown(shape)}: shapes (B, {_shown(shape)}) and "
                    f"({layer.n_in}, {layer.n_out}) do not multiply"
                    + ("; put a Flatten() before it" if len(shape) != 1 else "")
                )
            shape = tuple(layer.out_shape(shape))
        last = _last(layers)
        if loss.needs_probabilities and getattr(last, "name", None) != loss.probabilities_from:
            raise SpecError(
                f"{loss.name} takes probabilities: end the network with a "
                f"{loss.probabilities_from}, or use {loss.logits_loss} on a linear output"
            )
        if loss.name == "softmax_ce" and getattr(last, "name", None) == "softmax":
            raise SpecError(
                "softmax_ce applies the softmax itself (it takes logits): drop the final "
                "softmax layer, or use ce for a loss on probabilities"
            )
        self.layers, self.loss = layers, loss
        self.n_in, self.n_out = math.prod(self.input_shape), math.prod(shape)
        self.record()  # refuses two layers that define the same name (W1, beta1, A1, …)

    @property
    def numbers(self) -> tuple[int, ...]:
        """Each layer's number k: that of the last layer with weights at or before it."""
        out, k = [], 0
        for layer in self.layers:
            k += layer.numbered
            out.append(k)
        return tuple(out)

    def __repr__(self):
        shape = "" if self._input_from_first_layer else f", input_shape={self.input_shape}"
        return f"Network({list(self.layers)!r}, loss={self.loss!r}{shape})"

    @property
    def _input_from_first_layer(self) -> bool:
        return self.input_shape == (getattr(self.layers[0], "n_in", None),)

    def __eq__(self, other):
        return isinstance(other, Network) and (self.layers, self.loss, self.input_shape) == (
            other.layers,
            other.loss,
            other.input_shape,
        )

    def record(self) -> Tape:
        """Write the forward pass, loss included, on a fresh tape."""
        tape = Tape.start(self.n_in, self.n_out)
        A, shape = tape.X, self.input_shape
        for layer, k in zip(self.layers, self.numbers):
            if len(shape) != 1:
                tape.sample_shapes[A] = shape
            A, shape = layer.record(tape, A, k), tuple(layer.out_shape(shape))
        self.loss.record(tape, A)
        return tape

    @property
    def parameters(self) -> dict[str, tuple[int, ...]]:
        """{name: NumPy shape} in forward order: {'W1': (2, 3), 'b1': (3,), …}."""
        return dict(self._shapes)

    @cached_property
    def _shapes(self) -> dict[str, tuple[int, ...]]:
        # A network is immutable (its layers are a tuple): record the tape once, not per call.
        return dict(self.record().shapes)

    @property
    def n_parameters(self) -> int:
        total = 0
        for shape in self._shapes.values():
            n = 1
            for d in shape:
                n *= d
            total += n
        return total

    @property
    def activations(self) -> list[Activation]:
        return [layer for layer in self.layers if isinstance(layer, Activation)]


def _input_shape(first: Layer, input_shape) -> tuple[int, ...]:
    """Each sample's shape: as given, or the first layer's input width."""
    if input_shape is None:
        if not hasattr(first, "n_in"):
            raise SpecError(f"say each sample's shape with input_shape= (the first layer, "
                            f"{first!r}, does not fix it)")
        return (first.n_in,)
    if isinstance(input_shape, int) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)
    if not isinstance(input_shape, tuple | list) or not input_shape or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in input_shape
    ):
        raise ShapeError(f"input_shape must be a tuple of positive integers such as (1, 8, 8), "
                         f"got {input_shape!r}")
    input_shape = tuple(input_shape)
    n_in = getattr(first, "n_in", None)
    if isinstance(first, Dense) and input_shape != (n_in,):
        raise ShapeError(f"input_shape {input_shape} does not match the first layer "
                         f"{first!r}, which takes {n_in} inputs")
    return input_shape


def _shown(shape) -> str:
    return str(shape[0]) if len(shape) == 1 else "×".join(map(str, shape))


def _last(layers):
    """The last layer that computes something (Identity computes nothing)."""
    return next((la for la in reversed(layers) if not isinstance(la, Identity)), None)

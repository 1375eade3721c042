"""A network: a sequence of layers and a loss, checked for consistent shapes when built."""

from __future__ import annotations

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

    Dense layers are numbered from 1 in forward order (`W1, b1, W2, b2, …`); an activation
    belongs to the dense layer before it (A1 = σ(Z1))."""

    def __init__(self, layers: Sequence[Layer], loss: Loss):
        layers = tuple(layers)
        if not layers or not isinstance(layers[0], Dense):
            raise SpecError("a network starts with a Dense layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise SpecError(f"layer {i + 1} is {layer!r}, not a symnet layer")
        if not isinstance(loss, Loss):
            raise SpecError(f"loss must be a symnet loss such as MSE(), got {loss!r}")
        width = layers[0].n_in
        for i, layer in enumerate(layers):
            if isinstance(layer, Dense) and layer.n_in != width:
                raise ShapeError(
                    f"layer {i + 1} ({layer!r}) expects {layer.n_in} inputs, but the layer "
                    f"before it gives {width}: shapes (B, {width}) and ({layer.n_in}, "
                    f"{layer.n_out}) do not multiply"
                )
            width = layer.out_width(width)
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
        self.n_in, self.n_out = layers[0].n_in, width
        self.record()  # refuses two layers that define the same name (W1, beta1, A1, …)

    def __repr__(self):
        return f"Network({list(self.layers)!r}, loss={self.loss!r})"

    def __eq__(self, other):
        return isinstance(other, Network) and (self.layers, self.loss) == (
            other.layers,
            other.loss,
        )

    def record(self) -> Tape:
        """Write the forward pass, loss included, on a fresh tape."""
        tape = Tape.start(self.n_in, self.n_out)
        A, k = tape.X, 0
        for layer in self.layers:
            k += isinstance(layer, Dense)
            A = layer.record(tape, A, k)
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


def _last(layers):
    """The last layer that computes something (Identity computes nothing)."""
    return next((la for la in reversed(layers) if not isinstance(la, Identity)), None)

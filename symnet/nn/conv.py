"""Convolutional layers, named and parameterised as PyTorch names them: `Conv2d`, `MaxPool2d`,
`AvgPool2d`, `Flatten`.

    net = Network([Conv2d(1, 8, 3, padding=1), ReLU(), MaxPool2d(2), Flatten(), Dense(128, 10)],
                  loss=SoftmaxCrossEntropy(), input_shape=(1, 8, 8))

Each sample is an image (C, H, W), held on the tape as a row of C·H·W entries in PyTorch's order
(`tape.sample_shapes` says which shape a row is). Conv2d is numbered like Dense (its weight
W{k} has NumPy shape (out, in, kh, kw), its bias b{k} shape (out,)); pooling writes P{k} after
the layer it follows; Flatten changes nothing but the shape the next layer sees (the row already
is the flattened image). The operations and their rules are in `symnet.algebra.conv` and `.pool`.
"""

from __future__ import annotations

from ..algebra import conv, pool
from ..errors import ShapeError, SpecError
from .flatten import Flatten
from .layer import Layer


def _positive(value, what, minimum=1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecError(f"{what} must be an integer ≥ {minimum}, got {value!r}")
    return value


def _pair(value, what) -> tuple[int, int]:
    if isinstance(value, tuple | list) and len(value) == 2:
        return (_positive(value[0], what), _positive(value[1], what))
    return (_positive(value, what),) * 2


def _image_shape(layer, in_shape) -> tuple[int, int, int]:
    if len(in_shape) != 3:
        raise ShapeError(f"{layer!r} takes images (C, H, W), but the layer before it gives "
                         f"shape {in_shape}; say input_shape=(C, H, W) for the network")
    return tuple(in_shape)


class Conv2d(Layer):
    """Z = pad_p(A) ⋆_s W + b: PyTorch's Conv2d, a cross-correlation of each image with
    `out_channels` kernels of shape (in_channels, kh, kw), plus one bias per output channel."""

    numbered = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride: int = 1,
                 padding: int = 0):
        self.in_channels = _positive(in_channels, "Conv2d in_channels")
        self.out_channels = _positive(out_channels, "Conv2d out_channels")
        self.kernel_size = _pair(kernel_size, "Conv2d kernel_size")
        self.stride = _positive(stride, "Conv2d stride")
        self.padding = _positive(padding, "Conv2d padding", 0)

    def _key(self):
        return (self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding)

    def __repr__(self):
        kh, kw = self.kernel_size
        k = kh if kh == kw else self.kernel_size
        extra = (f", stride={self.stride}" if self.stride != 1 else "") + (
            f", padding={self.padding}" if self.padding else "")
        return f"Conv2d({self.in_channels}, {self.out_channels}, {k}{extra})"

    def __eq__(self, other):
        return type(other) is Conv2d and self._key() == other._key()

    def __hash__(self):
        return hash(("Conv2d", self._key()))

    def geometry(self, in_shape) -> conv.Geometry:
        C, H, W = _image_shape(self, in_shape)
        if self.in_channels != C:
            raise ShapeError(f"{self!r} takes {self.in_channels} input channels, but the layer "
                             f"before it gives images of shape {in_shape} ({C} channels)")
        kh, kw = self.kernel_size
        if kh > H + 2 * self.padding or kw > W + 2 * self.padding:
            raise ShapeError(f"{self!r}: the kernel {kh}×{kw} is larger than the padded image "
                             f"{H + 2 * self.padding}×{W + 2 * self.padding} (input {in_shape})")
        return conv.Geometry(C, H, W, kh, kw, self.stride, self.padding, self.out_channels)

    def out_shape(self, in_shape):
        return self.geometry(in_shape).out_shape

    def record(self, tape, A, k: int):
        g = self.geometry(tape.sample_shapes[A])
        kh, kw = self.kernel_size
        W = tape.param(f"W{k}", g.O, g.C * kh * kw, decays=True, shape=(g.O, g.C, kh, kw))
        b = tape.param(f"b{k}", g.O)
        a, s, p = A.name, g.stride, g.padding
        padded = f"pad_{p}({a})" if p else a
        dilated = f"ins_{s}(δ{k})" if s > 1 else f"δ{k}"
        why = (
            f"Z{k} = {padded} ⋆ W{k} + b{k} (cross-correlation{f', stride {s}' if s > 1 else ''}"
            f"): W{k}[o, c, i, j] multiplies the input entry at offset (i, j) of every window, "
            f"so ∂L/∂W{k} = {padded} ⋆ {dilated}, the input correlated with δ{k}"
            + (f" (ins_{s} inserts {s - 1} zero{'s' if s > 2 else ''} between δ's entries: "
               f"the windows were {s} apart)" if s > 1 else "")
            + f"; b{k}[o] is added at every position of channel o, so ∂L/∂b{k} = Σ_(n,y,x) "
            f"δ{k}; each input entry reaches the outputs whose windows cover it, through the "
            f"kernel entry at the mirrored offset, so ∂L/∂{a} = "
            + (f"crop_{p}(" if p else "") + f"full({dilated}) ⋆ rot180(W{k})"
            + (")" if p else "")
            + f": the full convolution of δ{k} with the kernel flipped in both spatial axes "
              "(rot180, in/out channels swapped), full(·) padding by k − 1"
            + (f", crop_{p} removing the forward padding {p}" if p else "") + "."
        )
        return tape.record(f"Z{k}", conv.conv2d(A, W, b, g), (A, W, b),
                           lambda G, out: conv.conv2d_vjp(G, A, W, g), why=why, layer=k)


class _Pool2d(Layer):
    op = ""

    def __init__(self, kernel_size: int, stride: int | None = None):
        name = type(self).__name__
        self.kernel_size = _positive(kernel_size, f"{name} kernel_size")
        self.stride = self.kernel_size if stride is None else _positive(stride, f"{name} stride")

    def __repr__(self):
        extra = f", stride={self.stride}" if self.stride != self.kernel_size else ""
        return f"{type(self).__name__}({self.kernel_size}{extra})"

    def __eq__(self, other):
        return type(other) is type(self) and (self.kernel_size, self.stride) == (
            other.kernel_size, other.stride)

    def __hash__(self):
        return hash((type(self).__name__, self.kernel_size, self.stride))

    def geometry(self, in_shape) -> conv.Geometry:
        C, H, W = _image_shape(self, in_shape)
        k = self.kernel_size
        if k > H or k > W:
            raise ShapeError(f"{self!r}: the window {k}×{k} is larger than the image {H}×{W}")
        return conv.Geometry(C, H, W, k, k, self.stride)

    def out_shape(self, in_shape):
        return self.geometry(in_shape).out_shape


class MaxPool2d(_Pool2d):
    """P = maxpool_k(A): the largest entry of each k×k window (stride k unless given).

    Backward: each window's gradient goes to its maximum, to the first in row-major order
    at a tie (PyTorch's convention); the checker treats ties as kinks."""

    def record(self, tape, A, k: int):
        g = self.geometry(tape.sample_shapes[A])
        a = A.name
        why = (f"P{k} = maxpool_{g.kh}({a}) copies one entry of each window, its maximum: "
               f"∂P{k}/∂{a} is 1 at that entry and 0 elsewhere, so ∂L/∂{a} = route(∂L/∂P{k} → "
               f"max {a}) sends each window's gradient to its maximum (to the first one, in "
               "row-major order, at a tie: PyTorch's convention; a tie is a kink)"
               + (" and sums it where windows overlap" if g.stride < g.kh else "") + ".")
        return tape.record(f"P{k}", pool.maxpool(A, g), (A,),
                           lambda G, P: (pool.maxpool_vjp(G, A, P, g),), why=why, layer=k)


class AvgPool2d(_Pool2d):
    """P = avgpool_k(A): the mean of each k×k window (stride k unless given)."""

    def record(self, tape, A, k: int):
        g = self.geometry(tape.sample_shapes[A])
        n = g.kh * g.kw
        why = (f"P{k} = avgpool_{g.kh}({A.name}) averages each window of {n} entries, each "
               f"with weight 1/{n}: ∂L/∂{A.name} = up(∂L/∂P{k}) / {n} copies each window's "
               "gradient to its entries, divided by the window size"
               + (", summed where windows overlap" if g.stride < g.kh else "") + ".")
        return tape.record(f"P{k}", pool.avgpool(A, g), (A,),
                           lambda G, out: (pool.avgpool_vjp(G, g),), why=why, layer=k)


__all__ = ["AvgPool2d", "Conv2d", "Flatten", "MaxPool2d"]  # Flatten: nn/flatten.py, any shape

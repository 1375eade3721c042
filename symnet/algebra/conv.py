"""Convolution and pooling: their operations as matrix nodes, and their backward rules.

Symbolically an image batch is a (B, C·H·W) matrix, one sample per row in PyTorch's flattening
order (channel, then row, then column); a convolution weight W is an (O, C·kh·kw) matrix
(NumPy shape (O, C, kh, kw)) and its bias b an (O, 1) column. Each operation is an `Op`
(see `matexpr.Op`): it prints itself as a textbook does, generates a call of one vectorized
NumPy helper (`HELPERS`: `sliding_window_view` and `tensordot`, no loop over pixels), and
computes its exact value by its definition, entry by entry (`_exact_value`).

The rules (each checked against `sympy.diff` in proofs/conv.py), with ⋆ the cross-correlation
PyTorch's Conv2d computes, s the stride and p the padding:

    Z = pad_p(A) ⋆_s W + b       Z[n,o,y,x] = b[o] + Σ_cij Ap[n,c,sy+i,sx+j] W[o,c,i,j]
    ∂L/∂W = pad_p(A) ⋆ ins_s(δ)  the input correlated with δ (zeros inserted for the stride)
    ∂L/∂b = Σ_{n,y,x} δ          b is added at every position of its channel
    ∂L/∂A = crop_p(full(ins_s(δ)) ⋆ rot180(W)): the full convolution of δ with the kernel
    P = maxpool_k(A)             ∂L/∂A = route_k(G → max A): G to each window's maximum
    P = avgpool_k(A)             ∂L/∂A = up_k(G) / k²: G/k² to every entry of the window

ins_s puts s − 1 zeros between neighbouring entries (a stride-s layer only saw every s-th
position), full(·) pads by k − 1 on every side, rot180 flips the kernel in both spatial axes
and swaps its in/out channels, crop_p removes the padding the forward pass added.

Max-pool ties: the gradient goes to one maximum, the first in the window in row-major order (as
PyTorch's CPU kernel does); at a tie the max is not differentiable, so `kink_distance` tells the
checker how far each window is from one.

A node's integer flags (`flip`, `dilate`, `crop`, `every`, `divide`) are 1 in the derived
rules; `mutations()` yields the classic hand-written mistakes (kernel not flipped, stride
ignored, padding not removed, pooling gradient to every entry, average not divided by k²) as
the same node with one flag at 0, for `checking.mutants`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy import Basic, Integer, Tuple

from .matexpr import Op

_SUB = str.maketrans("0123456789,", "₀₁₂₃₄₅₆₇₈₉,")


def _sub(*values) -> str:
    return ",".join(str(v) for v in values).translate(_SUB)


@dataclass(frozen=True)
class Geometry:
    """A sliding window over (C, H, W) samples: kernel (kh, kw), stride, padding; O output
    channels for a convolution (C for pooling)."""

    C: int
    H: int
    W: int
    kh: int
    kw: int
    stride: int = 1
    padding: int = 0
    O: int = 0

    @property
    def Ho(self) -> int:  # noqa: N802 - the textbook's name
        return (self.H + 2 * self.padding - self.kh) // self.stride + 1

    @property
    def Wo(self) -> int:  # noqa: N802
        return (self.W + 2 * self.padding - self.kw) // self.stride + 1

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.C, self.H, self.W)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (self.O or self.C, self.Ho, self.Wo)

    def tuple(self) -> Tuple:
        return Tuple(*(Integer(v) for v in (self.C, self.H, self.W, self.kh, self.kw,
                                            self.stride, self.padding, self.O)))

    @classmethod
    def of(cls, t: Tuple) -> Geometry:
        return cls(*(int(v) for v in t))


class _Windowed(Op):
    """An Op whose last argument is its Geometry (and whose flags come just before it)."""

    nflags = 0

    @property
    def geometry(self) -> Geometry:
        return Geometry.of(self.args[-1])

    @property
    def operands(self):
        return self.args[: len(self.args) - 1 - self.nflags]

    @property
    def flags(self) -> tuple[int, ...]:
        return tuple(int(f) for f in self.args[len(self.args) - 1 - self.nflags: -1])

    def with_flags(self, *flags):
        return type(self)(*self.operands, *flags, self.geometry)

    def _codes(self, printer):
        return [printer._print(a) for a in self.operands]

    def mutations(self):
        return ()


def _grouped(expr, text, latex=False):
    """`text` (the printed `expr`) in parentheses unless `expr` is a name: Σ (C1 ⊙ C1)."""
    if isinstance(expr, sp.MatrixSymbol):
        return text
    return rf"\left({text}\right)" if latex else f"({text})"


def _flags(*values):
    return tuple(Integer(int(v)) for v in values)


# ── exact values: the definitions, entry by entry ──────────────────────────────────────────


def _image(M, n, shape, padding=0):
    """Sample n of the (B, C·H·W) matrix M as a function (c, h, w) → entry, 0 outside (the
    zero padding)."""
    C, H, W = shape

    def at(c, h, w):
        h, w = h - padding, w - padding
        if 0 <= h < H and 0 <= w < W:
            return M[n, (c * H + h) * W + w]
        return sp.S.Zero
    return at


def _rows(batch, shape, value):
    """A (batch, C·H·W) ImmutableMatrix whose entry (n, c, h, w) is value(n, c, h, w)."""
    C, H, W = shape
    return sp.ImmutableMatrix(batch, C * H * W, lambda n, j: value(n, j // (H * W),
                                                                   (j // W) % H, j % W))


def _kernel(Wm, g: Geometry):
    """W[o, c, i, j] from the (O, C·kh·kw) matrix."""
    return lambda o, c, i, j: Wm[o, (c * g.kh + i) * g.kw + j]


# ── convolution ────────────────────────────────────────────────────────────────────────────


class Conv2dOp(_Windowed):
    """Z = pad_p(A) ⋆_s W + b: PyTorch's Conv2d (a cross-correlation), bias at every position."""

    def __new__(cls, A, W, b, geometry):
        return Basic.__new__(cls, A, W, b, geometry.tuple() if isinstance(geometry, Geometry)
                             else geometry)

    @property
    def shape(self):
        g = self.geometry
        return (self.args[0].shape[0], g.O * g.Ho * g.Wo)

    def _sympystr(self, p):
        A, W, b = self.operands
        g = self.geometry
        a = p._print(A) if not g.padding else f"pad{_sub(g.padding)}({p._print(A)})"
        star = "⋆" if g.stride == 1 else f"⋆{_sub(g.stride)}"
        return f"{a} {star} {p._print(W)} + {p._print(b)}"

    def _latex(self, p):
        A, W, b = self.operands
        g = self.geometry
        a = p._print(A)
        a = a if not g.padding else rf"\operatorname{{pad}}_{{{g.padding}}}\left({a}\right)"
        star = r"\star" if g.stride == 1 else rf"\star_{{{g.stride}}}"
        return f"{a} {star} {p._print(W)} + {p._print(b)}"

    def _numpycode(self, p):
        g = self.geometry
        p.helper("_conv2d", HELPERS["_conv2d"])
        A, W, b = self._codes(p)
        return f"_conv2d({A}, {W}, {b}, {g.shape}, {g.stride}, {g.padding})"

    def _exact_value(self, ev, batch):
        A, Wm, b = (ev(a) for a in self.operands)
        g = self.geometry
        w = _kernel(Wm, g)

        def z(n, o, y, x):
            img = _image(A, n, g.shape, g.padding)
            return b[o, 0] + sum(img(c, g.stride * y + i, g.stride * x + j) * w(o, c, i, j)
                                 for c in range(g.C) for i in range(g.kh) for j in range(g.kw))
        return _rows(batch, g.out_shape, z)


class ConvInputGrad(_Windowed):
    """∂L/∂A = crop_p(full(ins_s(G)) ⋆ rot180(W)): the full convolution of G with the kernel.

    Flags: `flip` (rot180 applied), `dilate` (zeros inserted for the stride), `crop` (the
    padding removed from the centre; 0: the top-left H×W kept)."""

    nflags = 3

    def __new__(cls, G, W, flip, dilate, crop, geometry):
        return Basic.__new__(cls, G, W, *_flags(flip, dilate, crop),
                             geometry.tuple() if isinstance(geometry, Geometry) else geometry)

    @property
    def shape(self):
        g = self.geometry
        return (self.args[0].shape[0], g.C * g.H * g.W)

    def _parts(self, p, latex):
        G, W = (p._print(a) for a in self.operands)
        flip, dilate, crop = self.flags
        g = self.geometry

        def op(name, sub, arg):
            if latex:
                s = f"_{{{sub}}}" if sub != "" else ""
                return rf"\operatorname{{{name}}}{s}\left({arg}\right)"
            return f"{name}{_sub(sub) if sub != '' else ''}({arg})"
        inner = op("ins", g.stride, G) if dilate and g.stride > 1 else G
        kernel = op("rot180", "", W) if flip else W
        star = r"\star" if latex else "⋆"
        body = f"{op('full', '', inner)} {star} {kernel}"
        if g.padding:
            body = op("crop" if crop else "corner", g.padding, body)
        return body

    def _sympystr(self, p):
        return self._parts(p, latex=False)

    def _latex(self, p):
        return self._parts(p, latex=True)

    def _numpycode(self, p):
        g = self.geometry
        p.helper("_conv2d_dx", HELPERS["_conv2d_dx"])
        G, W = self._codes(p)
        flip, dilate, crop = self.flags
        extra = "" if (flip, dilate, crop) == (1, 1, 1) else (
            f", flip={bool(flip)}, dilate={bool(dilate)}, crop={bool(crop)}")
        return f"_conv2d_dx({G}, {W}, {g.shape}, {g.stride}, {g.padding}{extra})"

    def _exact_value(self, ev, batch):
        G, Wm = (ev(a) for a in self.operands)
        flip, dilate, crop = self.flags
        g = self.geometry
        w = _kernel(Wm, g)
        Hp, Wp = g.H + 2 * g.padding, g.W + 2 * g.padding
        step = g.stride if dilate else 1

        def d(n, o, u, v):  # full(ins_s(G)): G at (kh−1 + step·y, kw−1 + step·x), else 0
            u, v = u - (g.kh - 1), v - (g.kw - 1)
            if u < 0 or v < 0 or u % step or v % step:
                return sp.S.Zero
            y, x = u // step, v // step
            return G[n, (o * g.Ho + y) * g.Wo + x] if y < g.Ho and x < g.Wo else sp.S.Zero

        def kernel(o, c, i, j):
            return w(o, c, g.kh - 1 - i, g.kw - 1 - j) if flip else w(o, c, i, j)

        def dx(n, c, h, x):  # the padded gradient at (h + p, x + p), or the corner's at (h, x)
            u, v = (h + g.padding, x + g.padding) if crop else (h, x)
            assert u < Hp and v < Wp
            return sum(d(n, o, u + i, v + j) * kernel(o, c, i, j)
                       for o in range(g.O) for i in range(g.kh) for j in range(g.kw))
        return _rows(batch, g.shape, dx)

    def mutations(self):
        g = self.geometry
        yield ("flip", "the kernel is not flipped (rot180) in ∂L/∂input: a correlation with W "
                       "where the full convolution with rot180(W) belongs",
               self.with_flags(0, 1, 1))
        if g.stride > 1:
            yield ("stride", f"the stride {g.stride} is ignored in ∂L/∂input: no zeros are "
                             "inserted between the entries of δ",
                   self.with_flags(1, 0, 1))
        if g.padding:
            yield ("padding", f"the padding {g.padding} is not removed from ∂L/∂input: its "
                              "top-left corner is kept instead of its centre",
                   self.with_flags(1, 1, 0))


class ConvWeightGrad(_Windowed):
    """∂L/∂W = pad_p(A) ⋆ ins_s(G): the input correlated with δ. Flag `dilate` 0: the windows
    taken at stride 1 (the stride ignored)."""

    nflags = 1

    def __new__(cls, A, G, dilate, geometry):
        return Basic.__new__(cls, A, G, *_flags(dilate),
                             geometry.tuple() if isinstance(geometry, Geometry) else geometry)

    @property
    def shape(self):
        g = self.geometry
        return (g.O, g.C * g.kh * g.kw)

    ndim = 4

    def _text(self, p, latex):
        A, G = (p._print(a) for a in self.operands)
        g = self.geometry
        if g.padding:
            A = (rf"\operatorname{{pad}}_{{{g.padding}}}\left({A}\right)" if latex
                 else f"pad{_sub(g.padding)}({A})")
        if g.stride > 1 and self.flags[0]:
            G = (rf"\operatorname{{ins}}_{{{g.stride}}}\left({G}\right)" if latex
                 else f"ins{_sub(g.stride)}({G})")
        star = r"\star" if latex else "⋆"
        return f"{A} {star} {G}"

    def _sympystr(self, p):
        return self._text(p, False)

    def _latex(self, p):
        return self._text(p, True)

    def _numpycode(self, p):
        g = self.geometry
        p.helper("_conv2d_dw", HELPERS["_conv2d_dw"])
        A, G = self._codes(p)
        extra = "" if self.flags[0] else ", dilate=False"
        return (f"_conv2d_dw({A}, {G}, {g.shape}, {(g.kh, g.kw)}, {g.stride}, "
                f"{g.padding}{extra})")

    def _exact_value(self, ev, batch):
        A, G = (ev(a) for a in self.operands)
        g = self.geometry
        step = g.stride if self.flags[0] else 1

        def dw(o, c, i, j):
            return sum(G[n, (o * g.Ho + y) * g.Wo + x]
                       * _image(A, n, g.shape, g.padding)(c, step * y + i, step * x + j)
                       for n in range(batch) for y in range(g.Ho) for x in range(g.Wo))
        return sp.ImmutableMatrix(g.O, g.C * g.kh * g.kw, lambda o, r: dw(
            o, r // (g.kh * g.kw), (r // g.kw) % g.kh, r % g.kw))

    def mutations(self):
        if self.geometry.stride > 1:
            yield ("stride", f"the stride {self.geometry.stride} is ignored in ∂L/∂W: the "
                             "input's windows are taken at stride 1",
                   self.with_flags(0))


class ChannelSum(_Windowed):
    """∂L/∂b = Σ_{n,y,x} G: each output channel's entries summed over the batch and the
    positions (b is added at every position). An (O, 1) column; 1-D in NumPy."""

    ndim = 1

    def __new__(cls, G, geometry):
        return Basic.__new__(cls, G, geometry.tuple() if isinstance(geometry, Geometry)
                             else geometry)

    @property
    def shape(self):
        return (self.geometry.O, 1)

    def _sympystr(self, p):
        return f"Σ_(n,y,x) {_grouped(self.operands[0], p._print(self.operands[0]))}"

    def _latex(self, p):
        G = p._print(self.operands[0])
        return rf"\sum_{{n,y,x}} {_grouped(self.operands[0], G, latex=True)}"

    def _numpycode(self, p):
        g = self.geometry
        G = self._codes(p)[0]
        G = G if G.isidentifier() else f"({G})"  # (C1 * C1).reshape, not C1 * C1.reshape
        return f"{G}.reshape(-1, {g.O}, {g.Ho * g.Wo}).sum(axis=(0, 2))"

    def _exact_value(self, ev, batch):
        G = ev(self.operands[0])
        g = self.geometry
        hw = g.Ho * g.Wo
        return sp.ImmutableMatrix(g.O, 1, lambda o, _: sum(
            G[n, o * hw + q] for n in range(batch) for q in range(hw)))


def conv2d(A, W, b, g: Geometry):
    return Conv2dOp(A, W, b, g)


def conv2d_vjp(G, A, W, g: Geometry):
    """(∂L/∂A, ∂L/∂W, ∂L/∂b) = (crop_p(full(ins_s(G)) ⋆ rot180(W)), pad_p(A) ⋆ ins_s(G),
    Σ_{n,y,x} G)."""
    return ConvInputGrad(G, W, 1, 1, 1, g), ConvWeightGrad(A, G, 1, g), ChannelSum(G, g)


# ── pooling ────────────────────────────────────────────────────────────────────────────────


def _pool_name(g: Geometry) -> str:
    return _sub(g.kh) if g.stride == g.kh else _sub(g.kh, g.stride)


class _Pool(_Windowed):
    word = ""

    def __new__(cls, A, geometry):
        return Basic.__new__(cls, A, geometry.tuple() if isinstance(geometry, Geometry)
                             else geometry)

    @property
    def shape(self):
        g = self.geometry
        return (self.args[0].shape[0], g.C * g.Ho * g.Wo)

    def _sympystr(self, p):
        return f"{self.word}{_pool_name(self.geometry)}({p._print(self.operands[0])})"

    def _latex(self, p):
        g = self.geometry
        sub = g.kh if g.stride == g.kh else f"{g.kh},{g.stride}"
        return rf"\operatorname{{{self.word}}}_{{{sub}}}\left({p._print(self.operands[0])}\right)"

    def _numpycode(self, p):
        g = self.geometry
        name = f"_{self.word}"
        p.helper(name, HELPERS[name])
        return f"{name}({self._codes(p)[0]}, {g.shape}, {g.kh}, {g.stride})"

    def _windows(self, A, n, c, y, x):
        g = self.geometry
        img = _image(A, n, g.shape)
        return [img(c, g.stride * y + i, g.stride * x + j)
                for i in range(g.kh) for j in range(g.kw)]

    def _exact_value(self, ev, batch):
        A = ev(self.operands[0])
        g = self.geometry
        return _rows(batch, g.out_shape, lambda n, c, y, x: self.reduce(
            self._windows(A, n, c, y, x)))


class MaxPool2dOp(_Pool):
    """P = maxpool_k(A): the largest entry of each k×k window (stride s)."""

    word = "maxpool"

    @staticmethod
    def reduce(values):
        return sp.Max(*values)

    # The checker's view of its kinks: a window whose two largest entries tie.
    kink_convention = ("the gradient goes to the first maximum of the window in row-major "
                       "order, as PyTorch's max_pool2d routes it")
    kink_what = "a tie for the maximum of a max-pool window"

    def kink_distance(self, A):
        """For each window of A (a (B, C·H·W) array): its largest entry minus its second."""
        g = self.geometry
        X = np.asarray(A).reshape(-1, *g.shape)
        win = np.lib.stride_tricks.sliding_window_view(X, (g.kh, g.kw), axis=(2, 3))
        win = win[:, :, ::g.stride, ::g.stride].reshape(*X.shape[:2], g.Ho, g.Wo, -1)
        if win.shape[-1] < 2:
            return np.full(win.shape[:-1], np.inf)
        top = np.sort(win, axis=-1)
        return top[..., -1] - top[..., -2]


class AvgPool2dOp(_Pool):
    """P = avgpool_k(A): the mean of each k×k window (stride s)."""

    word = "avgpool"

    def reduce(self, values):
        return sp.Add(*values) / len(values)


class MaxPoolGrad(_Windowed):
    """∂L/∂A = route_k(G → max A): each window's gradient to the (first) maximum of A's window,
    summed where windows overlap; P, the forward output, is an operand for the code only. Flag
    `every` 0; 1 is the mistake of sending it to every entry of the window."""

    nflags = 1

    def __new__(cls, G, A, P, every, geometry):
        return Basic.__new__(cls, G, A, P, *_flags(every),
                             geometry.tuple() if isinstance(geometry, Geometry) else geometry)

    @property
    def shape(self):
        g = self.geometry
        return (self.args[0].shape[0], g.C * g.H * g.W)

    def _sympystr(self, p):
        G, A = (p._print(a) for a in self.operands[:2])
        sub = _pool_name(self.geometry)
        return f"up{sub}({G})" if self.flags[0] else f"route{sub}({G} → max {A})"

    def _latex(self, p):
        G, A = (p._print(a) for a in self.operands[:2])
        g = self.geometry
        sub = g.kh if g.stride == g.kh else f"{g.kh},{g.stride}"
        if self.flags[0]:
            return rf"\operatorname{{up}}_{{{sub}}}\left({G}\right)"
        return rf"\operatorname{{route}}_{{{sub}}}\left({G} \to \max {A}\right)"

    def _numpycode(self, p):
        g = self.geometry
        p.helper("_maxpool_dx", HELPERS["_maxpool_dx"])
        G, A, P = self._codes(p)
        extra = ", every=True" if self.flags[0] else ""
        return f"_maxpool_dx({G}, {A}, {P}, {g.shape}, {g.kh}, {g.stride}{extra})"

    def _exact_value(self, ev, batch):
        G, A = (ev(a) for a in self.operands[:2])  # P, the forward output, only speeds code
        g = self.geometry
        out = {}
        for n, c, y, x in itertools.product(range(batch), range(g.C), range(g.Ho), range(g.Wo)):
            win = [(g.stride * y + i, g.stride * x + j) for i in range(g.kh) for j in range(g.kw)]
            values = [A[n, (c * g.H + h) * g.W + w] for h, w in win]
            gv = G[n, (c * g.Ho + y) * g.Wo + x]
            targets = win if self.flags[0] else [win[_first_max(values)]]
            for h, w in targets:
                out[n, c, h, w] = out.get((n, c, h, w), sp.S.Zero) + gv
        return _rows(batch, g.shape, lambda n, c, h, w: out.get((n, c, h, w), sp.S.Zero))

    def mutations(self):
        yield ("every", "the max-pool gradient is sent to every entry of the window, not only "
                        "to its maximum", self.with_flags(1))


def _first_max(values) -> int:
    best = 0
    for i, v in enumerate(values):
        if bool(v > values[best]):
            best = i
    return best


class AvgPoolGrad(_Windowed):
    """∂L/∂A = up_k(G) / k²: each window's gradient shared equally by its k² entries. Flag
    `divide` 0: the mistake of not dividing by the window size."""

    nflags = 1

    def __new__(cls, G, divide, geometry):
        return Basic.__new__(cls, G, *_flags(divide),
                             geometry.tuple() if isinstance(geometry, Geometry) else geometry)

    @property
    def shape(self):
        g = self.geometry
        return (self.args[0].shape[0], g.C * g.H * g.W)

    def _sympystr(self, p):
        g = self.geometry
        up = f"up{_pool_name(g)}({p._print(self.operands[0])})"
        return f"{up} / {g.kh * g.kw}" if self.flags[0] else up

    def _latex(self, p):
        g = self.geometry
        sub = g.kh if g.stride == g.kh else f"{g.kh},{g.stride}"
        up = rf"\operatorname{{up}}_{{{sub}}}\left({p._print(self.operands[0])}\right)"
        return rf"\frac{{1}}{{{g.kh * g.kw}}} {up}" if self.flags[0] else up

    def _numpycode(self, p):
        g = self.geometry
        p.helper("_avgpool_dx", HELPERS["_avgpool_dx"])
        extra = "" if self.flags[0] else ", divide=False"
        return f"_avgpool_dx({self._codes(p)[0]}, {g.shape}, {g.kh}, {g.stride}{extra})"

    def _exact_value(self, ev, batch):
        G = ev(self.operands[0])
        g = self.geometry
        scale = sp.Rational(1, g.kh * g.kw) if self.flags[0] else sp.S.One
        out = {}
        for n, c, y, x in itertools.product(range(batch), range(g.C), range(g.Ho), range(g.Wo)):
            gv = G[n, (c * g.Ho + y) * g.Wo + x] * scale
            for i, j in itertools.product(range(g.kh), range(g.kw)):
                key = (n, c, g.stride * y + i, g.stride * x + j)
                out[key] = out.get(key, sp.S.Zero) + gv
        return _rows(batch, g.shape, lambda n, c, h, w: out.get((n, c, h, w), sp.S.Zero))

    def mutations(self):
        g = self.geometry
        yield ("divide", f"the average-pool gradient is not divided by the window size "
                         f"{g.kh * g.kw}", self.with_flags(0))


def maxpool(A, g: Geometry):
    return MaxPool2dOp(A, g)


def maxpool_vjp(G, A, P, g: Geometry):
    """∂L/∂A = route_k(G → max A), P = maxpool_k(A) (which the generated code compares with)."""
    return MaxPoolGrad(G, A, P, 0, g)


def avgpool(A, g: Geometry):
    return AvgPool2dOp(A, g)


def avgpool_vjp(G, g: Geometry):
    """∂L/∂A = up_k(G) / k²."""
    return AvgPoolGrad(G, 1, g)


# ── the NumPy the generated code calls (one helper per operation, emitted when used) ───────

HELPERS = {
    "_conv2d": '''\
def _conv2d(A, W, b, shape, stride, padding):
    """Z = pad(A) ⋆ W + b, PyTorch's Conv2d (a cross-correlation): each window of the padded
    input (sliding_window_view, no copy) contracted with the kernel by one tensordot."""
    B = A.shape[0]
    X = A.reshape(B, *shape)
    if padding:
        X = np.pad(X, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = np.lib.stride_tricks.sliding_window_view(X, W.shape[2:], axis=(2, 3))
    win = win[:, :, ::stride, ::stride]  # (B, C, Ho, Wo, kh, kw)
    Z = np.tensordot(win, W, axes=((1, 4, 5), (1, 2, 3)))  # (B, Ho, Wo, O)
    Z += b
    return Z.transpose(0, 3, 1, 2).reshape(B, -1)
''',
    "_conv2d_dx": '''\
def _conv2d_dx(G, W, shape, stride, padding, flip=True, dilate=True, crop=True):
    """∂L/∂A = crop(full(ins(G)) ⋆ rot180(W)), computed as the scatter that sum is: each δ
    entry spreads over the window it came from, weighted by the kernel (col2im: one matrix
    product, then one strided add per kernel offset, never a loop over pixels)."""
    C, H, Wd = shape
    O, _, kh, kw = W.shape
    B = G.shape[0]
    Hp, Wp = H + 2 * padding, Wd + 2 * padding
    Ho, Wo = (Hp - kh) // stride + 1, (Wp - kw) // stride + 1
    step = stride if dilate else 1  # ins(G): δ's entries `stride` apart
    K = W if flip else W[:, :, ::-1, ::-1]  # ⋆ rot180(W) scatters W itself
    cols = np.tensordot(K, G.reshape(B, O, Ho, Wo), axes=(0, 1))  # (C, kh, kw, B, Ho, Wo)
    dX = np.zeros((C, B, max(Hp, step * (Ho - 1) + kh), max(Wp, step * (Wo - 1) + kw)),
                  dtype=G.dtype)
    for i in range(kh):
        for j in range(kw):
            dX[:, :, i:i + step * (Ho - 1) + 1:step,
               j:j + step * (Wo - 1) + 1:step] += cols[:, i, j]
    top = padding if crop else 0
    return dX[:, :, top:top + H, top:top + Wd].transpose(1, 0, 2, 3).reshape(B, -1)
''',
    "_conv2d_dw": '''\
def _conv2d_dw(A, G, shape, kernel, stride, padding, dilate=True):
    """∂L/∂W = pad(A) ⋆ ins(G): the input's windows (at the stride) contracted with δ over
    the batch and the positions, (O, C, kh, kw) like W."""
    B = A.shape[0]
    X = A.reshape(B, *shape)
    if padding:
        X = np.pad(X, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = np.lib.stride_tricks.sliding_window_view(X, kernel, axis=(2, 3))
    Ho, Wo = (X.shape[2] - kernel[0]) // stride + 1, (X.shape[3] - kernel[1]) // stride + 1
    step = stride if dilate else 1
    win = win[:, :, :step * (Ho - 1) + 1:step, :step * (Wo - 1) + 1:step]
    return np.tensordot(G.reshape(B, -1, Ho, Wo), win, axes=((0, 2, 3), (0, 2, 3)))
''',
    "_maxpool": '''\
def _maxpool(A, shape, k, stride):
    """The largest entry of each k×k window, taken at the stride: the maximum of the k² strided
    views of A, one per window offset."""
    B = A.shape[0]
    X = A.reshape(B, *shape)
    Ho, Wo = (shape[1] - k) // stride + 1, (shape[2] - k) // stride + 1
    P = None
    for i in range(k):
        for j in range(k):
            part = X[:, :, i:i + stride * (Ho - 1) + 1:stride, j:j + stride * (Wo - 1) + 1:stride]
            P = part.copy() if P is None else np.maximum(P, part, out=P)
    return P.reshape(B, -1)
''',
    "_maxpool_dx": '''\
def _maxpool_dx(G, A, P, shape, k, stride, every=False):
    """∂L/∂A: each window's gradient routed to its maximum P (the first in row-major order at
    a tie, as PyTorch does), summed where windows overlap; one pass per window offset."""
    B = A.shape[0]
    X = A.reshape(B, *shape)
    Ho, Wo = (shape[1] - k) // stride + 1, (shape[2] - k) // stride + 1
    G = G.reshape(B, shape[0], Ho, Wo)
    P = P.reshape(G.shape)
    dX = np.zeros(X.shape, dtype=G.dtype)
    free = np.ones(G.shape, dtype=bool)  # windows whose maximum is not yet found
    for i in range(k):
        for j in range(k):
            at = (slice(None), slice(None), slice(i, i + stride * (Ho - 1) + 1, stride),
                  slice(j, j + stride * (Wo - 1) + 1, stride))
            if every:
                dX[at] += G
                continue
            hit = (X[at] == P) & free
            free &= ~hit
            dX[at] += G * hit
    return dX.reshape(B, -1)
''',
    "_avgpool": '''\
def _avgpool(A, shape, k, stride):
    """The mean of each k×k window, taken at the stride: the k² strided views of A summed."""
    B = A.shape[0]
    X = A.reshape(B, *shape)
    Ho, Wo = (shape[1] - k) // stride + 1, (shape[2] - k) // stride + 1
    P = np.zeros((B, shape[0], Ho, Wo), dtype=A.dtype)
    for i in range(k):
        for j in range(k):
            P += X[:, :, i:i + stride * (Ho - 1) + 1:stride, j:j + stride * (Wo - 1) + 1:stride]
    return (P / (k * k)).reshape(B, -1)
''',
    "_avgpool_dx": '''\
def _avgpool_dx(G, shape, k, stride, divide=True):
    """∂L/∂A: each window's gradient shared by its k² entries, summed where windows overlap."""
    B = G.shape[0]
    C, H, W = shape
    Ho, Wo = (H - k) // stride + 1, (W - k) // stride + 1
    share = G.reshape(B, C, Ho, Wo) / (k * k) if divide else G.reshape(B, C, Ho, Wo)
    dX = np.zeros((B, C, H, W), dtype=G.dtype)
    for i in range(k):
        for j in range(k):
            dX[:, :, i:i + stride * (Ho - 1) + 1:stride,
               j:j + stride * (Wo - 1) + 1:stride] += share
    return dX.reshape(B, -1)
''',
}

__all__ = [
    "AvgPool2dOp", "AvgPoolGrad", "ChannelSum", "Conv2dOp", "ConvInputGrad", "ConvWeightGrad",
    "Geometry", "HELPERS", "MaxPool2dOp", "MaxPoolGrad", "avgpool", "avgpool_vjp", "conv2d",
    "conv2d_vjp", "maxpool", "maxpool_vjp",
]

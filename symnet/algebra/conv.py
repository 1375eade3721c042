"""Convolution: PyTorch's Conv2d as matrix nodes, and its backward rules.

Images, weights and the nodes' common plumbing are described in `windows`. The rules (each
checked against `sympy.diff` in proofs/conv.py), with ⋆ the cross-correlation PyTorch's Conv2d
computes, s the stride and p the padding:

    Z = pad_p(A) ⋆_s W + b       Z[n,o,y,x] = b[o] + Σ_cij Ap[n,c,sy+i,sx+j] W[o,c,i,j]
    ∂L/∂W = pad_p(A) ⋆ ins_s(δ)  the input correlated with δ (zeros inserted for the stride)
    ∂L/∂b = Σ_{n,y,x} δ          b is added at every position of its channel
    ∂L/∂A = crop_p(full(ins_s(δ)) ⋆ rot180(W)): the full convolution of δ with the kernel

ins_s puts s − 1 zeros between neighbouring entries (a stride-s layer only saw every s-th
position), full(·) pads by k − 1 on every side, rot180 flips the kernel in both spatial axes
and swaps its in/out channels, crop_p removes the padding the forward pass added.
"""

from __future__ import annotations

import sympy as sp

from .conv_numpy import HELPERS
from .windows import Geometry, Windowed, applied, grouped, image, kernel, rows, star


class Conv2dOp(Windowed):
    """Z = pad_p(A) ⋆_s W + b: PyTorch's Conv2d (a cross-correlation), bias at every position."""

    def __new__(cls, A, W, b, geometry):
        return cls._new(A, W, b, geometry=geometry)

    def _text(self, p, latex):
        A, W, b = (p._print(a) for a in self.operands)
        g = self.geometry
        if g.padding:
            A = applied("pad", g.padding, A, latex)
        return f"{A} {star(g.stride, latex)} {W} + {b}"

    def _numpycode(self, p):
        g = self.geometry
        p.helper("_conv2d", HELPERS["_conv2d"])
        A, W, b = self._codes(p)
        return f"_conv2d({A}, {W}, {b}, {g.shape}, {g.stride}, {g.padding})"

    def _exact_value(self, ev, batch):
        A, Wm, b = (ev(a) for a in self.operands)
        g = self.geometry
        w = kernel(Wm, g)

        def z(n, o, y, x):
            img = image(A, n, g.shape, g.padding)
            return b[o, 0] + sum(img(c, g.stride * y + i, g.stride * x + j) * w(o, c, i, j)
                                 for c in range(g.C) for i in range(g.kh) for j in range(g.kw))
        return rows(batch, g.out_shape, z)


class ConvInputGrad(Windowed):
    """∂L/∂A = crop_p(full(ins_s(G)) ⋆ rot180(W)): the full convolution of G with the kernel.

    Flags: `flip` (rot180 applied), `dilate` (zeros inserted for the stride), `crop` (the
    padding removed from the centre; 0: the top-left H×W kept)."""

    nflags = 3
    of_input = True

    def __new__(cls, G, W, flip, dilate, crop, geometry):
        return cls._new(G, W, flags=(flip, dilate, crop), geometry=geometry)

    def _text(self, p, latex):
        G, W = (p._print(a) for a in self.operands)
        flip, dilate, crop = self.flags
        g = self.geometry
        inner = applied("ins", g.stride, G, latex) if dilate and g.stride > 1 else G
        K = applied("rot180", "", W, latex) if flip else W
        body = f"{applied('full', '', inner, latex)} {star(1, latex)} {K}"
        if g.padding:
            body = applied("crop" if crop else "corner", g.padding, body, latex)
        return body

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
        w = kernel(Wm, g)
        Hp, Wp = g.H + 2 * g.padding, g.W + 2 * g.padding
        step = g.stride if dilate else 1

        def d(n, o, u, v):  # full(ins_s(G)): G at (kh−1 + step·y, kw−1 + step·x), else 0
            u, v = u - (g.kh - 1), v - (g.kw - 1)
            if u < 0 or v < 0 or u % step or v % step:
                return sp.S.Zero
            y, x = u // step, v // step
            return G[n, (o * g.Ho + y) * g.Wo + x] if y < g.Ho and x < g.Wo else sp.S.Zero

        def rot(o, c, i, j):  # the kernel the rule reads: rot180(W), or W itself (flip 0)
            return w(o, c, g.kh - 1 - i, g.kw - 1 - j) if flip else w(o, c, i, j)

        def dx(n, c, h, x):  # the padded gradient at (h + p, x + p), or the corner's at (h, x)
            u, v = (h + g.padding, x + g.padding) if crop else (h, x)
            assert u < Hp and v < Wp
            return sum(d(n, o, u + i, v + j) * rot(o, c, i, j)
                       for o in range(g.O) for i in range(g.kh) for j in range(g.kw))
        return rows(batch, g.shape, dx)

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


class ConvWeightGrad(Windowed):
    """∂L/∂W = pad_p(A) ⋆ ins_s(G): the input correlated with δ. Flag `dilate` 0: the windows
    taken at stride 1 (the stride ignored)."""

    nflags = 1
    ndim = 4

    def __new__(cls, A, G, dilate, geometry):
        return cls._new(A, G, flags=(dilate,), geometry=geometry)

    @property
    def shape(self):
        g = self.geometry
        return (g.O, g.C * g.kh * g.kw)

    def _text(self, p, latex):
        A, G = (p._print(a) for a in self.operands)
        g = self.geometry
        if g.padding:
            A = applied("pad", g.padding, A, latex)
        if g.stride > 1 and self.flags[0]:
            G = applied("ins", g.stride, G, latex)
        return f"{A} {star(1, latex)} {G}"

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
                       * image(A, n, g.shape, g.padding)(c, step * y + i, step * x + j)
                       for n in range(batch) for y in range(g.Ho) for x in range(g.Wo))
        return sp.ImmutableMatrix(g.O, g.C * g.kh * g.kw, lambda o, r: dw(
            o, r // (g.kh * g.kw), (r // g.kw) % g.kh, r % g.kw))

    def mutations(self):
        if self.geometry.stride > 1:
            yield ("stride", f"the stride {self.geometry.stride} is ignored in ∂L/∂W: the "
                             "input's windows are taken at stride 1",
                   self.with_flags(0))


class ChannelSum(Windowed):
    """∂L/∂b = Σ_{n,y,x} G: each output channel's entries summed over the batch and the
    positions (b is added at every position). An (O, 1) column; 1-D in NumPy."""

    ndim = 1

    def __new__(cls, G, geometry):
        return cls._new(G, geometry=geometry)

    @property
    def shape(self):
        return (self.geometry.O, 1)

    def _text(self, p, latex):
        G = grouped(self.operands[0], p._print(self.operands[0]), latex)
        return rf"\sum_{{n,y,x}} {G}" if latex else f"Σ_(n,y,x) {G}"

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


__all__ = ["ChannelSum", "Conv2dOp", "ConvInputGrad", "ConvWeightGrad", "Geometry", "conv2d",
           "conv2d_vjp"]

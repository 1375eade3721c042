"""Pooling: PyTorch's MaxPool2d and AvgPool2d as matrix nodes, and their backward rules.

Images and the nodes' common plumbing are described in `windows`. The rules (each checked
against `sympy.diff` in proofs/conv.py), with k the window and G the upstream gradient:

    P = maxpool_k(A)             ∂L/∂A = route_k(G → max A): G to each window's maximum
    P = avgpool_k(A)             ∂L/∂A = up_k(G) / k²: G/k² to every entry of the window

Max-pool ties: the gradient goes to one maximum, the first in the window in row-major order (as
PyTorch's CPU kernel does); at a tie the max is not differentiable, so `kink_distance` tells the
checker how far each window is from one.
"""

from __future__ import annotations

import itertools

import numpy as np
import sympy as sp

from .conv_numpy import HELPERS
from .windows import Geometry, Windowed, applied, image, rows


def _window(g: Geometry):
    """The subscript of a pooling operator: k, or k,s when the stride is not the window."""
    return g.kh if g.stride == g.kh else f"{g.kh},{g.stride}"


def _summed(batch, g: Geometry, sums: dict):
    """The (batch, C·H·W) input gradient from {(n, c, h, w): sum of what reached that entry}."""
    return rows(batch, g.shape, lambda n, c, h, w: sums.get((n, c, h, w), sp.S.Zero))


class _Pool(Windowed):
    word = ""

    def __new__(cls, A, geometry):
        return cls._new(A, geometry=geometry)

    def _text(self, p, latex):
        return applied(self.word, _window(self.geometry), p._print(self.operands[0]), latex)

    def _numpycode(self, p):
        g = self.geometry
        name = f"_{self.word}"
        p.helper(name, HELPERS[name])
        return f"{name}({self._codes(p)[0]}, {g.shape}, {g.kh}, {g.stride})"

    def _windows(self, A, n, c, y, x):
        g = self.geometry
        img = image(A, n, g.shape)
        return [img(c, g.stride * y + i, g.stride * x + j)
                for i in range(g.kh) for j in range(g.kw)]

    def _exact_value(self, ev, batch):
        A = ev(self.operands[0])
        g = self.geometry
        return rows(batch, g.out_shape, lambda n, c, y, x: self.reduce(
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


class MaxPoolGrad(Windowed):
    """∂L/∂A = route_k(G → max A): each window's gradient to the (first) maximum of A's window,
    summed where windows overlap; P, the forward output, is an operand for the code only. Flag
    `every` 0; 1 is the mistake of sending it to every entry of the window."""

    nflags = 1
    of_input = True

    def __new__(cls, G, A, P, every, geometry):
        return cls._new(G, A, P, flags=(every,), geometry=geometry)

    def _text(self, p, latex):
        G, A = (p._print(a) for a in self.operands[:2])
        sub = _window(self.geometry)
        if self.flags[0]:
            return applied("up", sub, G, latex)
        return applied("route", sub, rf"{G} \to \max {A}" if latex else f"{G} → max {A}", latex)

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
        return _summed(batch, g, out)

    def mutations(self):
        yield ("every", "the max-pool gradient is sent to every entry of the window, not only "
                        "to its maximum", self.with_flags(1))


def _first_max(values) -> int:
    best = 0
    for i, v in enumerate(values):
        if bool(v > values[best]):
            best = i
    return best


class AvgPoolGrad(Windowed):
    """∂L/∂A = up_k(G) / k²: each window's gradient shared equally by its k² entries. Flag
    `divide` 0: the mistake of not dividing by the window size."""

    nflags = 1
    of_input = True

    def __new__(cls, G, divide, geometry):
        return cls._new(G, flags=(divide,), geometry=geometry)

    def _text(self, p, latex):
        g = self.geometry
        up = applied("up", _window(g), p._print(self.operands[0]), latex)
        if not self.flags[0]:
            return up
        return rf"\frac{{1}}{{{g.kh * g.kw}}} {up}" if latex else f"{up} / {g.kh * g.kw}"

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
        return _summed(batch, g, out)

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


__all__ = ["AvgPool2dOp", "AvgPoolGrad", "MaxPool2dOp", "MaxPoolGrad", "avgpool", "avgpool_vjp",
           "maxpool", "maxpool_vjp"]

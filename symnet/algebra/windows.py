"""Sliding windows over image batches: what convolution (`conv`) and pooling (`pool`) share.

Symbolically an image batch is a (B, C·H·W) matrix, one sample per row in PyTorch's flattening
order (channel, then row, then column); a convolution weight W is an (O, C·kh·kw) matrix
(NumPy shape (O, C, kh, kw)) and its bias b an (O, 1) column. Each operation is a `Windowed`
`Op` (see `matexpr.Op`): its arguments are its operands, its integer flags and its `Geometry`;
it prints itself as a textbook does, generates a call of one vectorized NumPy helper
(`conv_numpy.HELPERS`), and computes its exact value by its definition, entry by entry
(`_exact_value`, with the helpers at the end of this module).

A node's integer flags (`flip`, `dilate`, `crop`, `every`, `divide`) are 1 in the derived
rules; `mutations()` yields the classic hand-written mistakes (kernel not flipped, stride
ignored, padding not removed, pooling gradient to every entry, average not divided by k²) as
the same node with one flag changed, for `checking.mutants`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy import Basic, Integer, Tuple

from .matexpr import Op

_SUB = str.maketrans("0123456789,", "₀₁₂₃₄₅₆₇₈₉,")


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


class Windowed(Op):
    """An Op whose last argument is its Geometry, with its `nflags` flags just before it.

    A subclass builds its arguments with `_new`, prints itself by `_text(printer, latex)` (one
    method for both printers), and by default is a batch of images: the output's, or the
    input's when it is a gradient with respect to the input (`of_input`)."""

    nflags = 0
    of_input = False

    @classmethod
    def _new(cls, *operands, flags=(), geometry):
        # geometry: a Geometry from the caller, or the Tuple SymPy passes back when it rebuilds
        g = geometry.tuple() if isinstance(geometry, Geometry) else geometry
        return Basic.__new__(cls, *operands, *(Integer(int(f)) for f in flags), g)

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

    @property
    def shape(self):
        C, H, W = self.geometry.shape if self.of_input else self.geometry.out_shape
        return (self.args[0].shape[0], C * H * W)

    def _sympystr(self, p):
        return self._text(p, latex=False)

    def _latex(self, p):
        return self._text(p, latex=True)

    def _codes(self, printer):
        return [printer._print(a) for a in self.operands]

    def mutations(self):
        return ()


# ── printing: the textbook's operators ────────────────────────────────────────────────────


def subscript(*values) -> str:
    """1, 2 → ₁,₂."""
    return ",".join(str(v) for v in values).translate(_SUB)


def applied(name, sub, arg, latex) -> str:
    """An operator with an optional subscript applied to printed text: pad₁(A), or
    \\operatorname{pad}_{1}\\left(A\\right) in LaTeX."""
    if latex:
        s = f"_{{{sub}}}" if sub != "" else ""
        return rf"\operatorname{{{name}}}{s}\left({arg}\right)"
    return f"{name}{subscript(sub) if sub != '' else ''}({arg})"


def star(stride, latex) -> str:
    """The cross-correlation ⋆, with its stride when not 1: ⋆₂."""
    if latex:
        return r"\star" if stride == 1 else rf"\star_{{{stride}}}"
    return "⋆" if stride == 1 else f"⋆{subscript(stride)}"


def grouped(expr, text, latex=False):
    """`text` (the printed `expr`) in parentheses unless `expr` is a name: Σ (C1 ⊙ C1)."""
    if isinstance(expr, sp.MatrixSymbol):
        return text
    return rf"\left({text}\right)" if latex else f"({text})"


# ── exact values: the definitions, entry by entry ──────────────────────────────────────────


def image(M, n, shape, padding=0):
    """Sample n of the (B, C·H·W) matrix M as a function (c, h, w) → entry, 0 outside (the
    zero padding)."""
    C, H, W = shape

    def at(c, h, w):
        h, w = h - padding, w - padding
        if 0 <= h < H and 0 <= w < W:
            return M[n, (c * H + h) * W + w]
        return sp.S.Zero
    return at


def rows(batch, shape, value):
    """A (batch, C·H·W) ImmutableMatrix whose entry (n, c, h, w) is value(n, c, h, w)."""
    C, H, W = shape
    return sp.ImmutableMatrix(batch, C * H * W, lambda n, j: value(n, j // (H * W),
                                                                  (j // W) % H, j % W))


def kernel(Wm, g: Geometry):
    """W[o, c, i, j] from the (O, C·kh·kw) matrix."""
    return lambda o, c, i, j: Wm[o, (c * g.kh + i) * g.kw + j]


__all__ = ["Geometry", "Windowed", "applied", "grouped", "image", "kernel", "rows", "star",
           "subscript"]

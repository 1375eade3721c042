"""Statistics per channel of an image batch: the axis BatchNorm2d normalizes along.

An image batch is a (B, C·H·W) matrix (see `windows`); BatchNorm2d keeps one statistic per channel
c, taken over the batch and the positions: μ[c] = (1/(B·H·W)) Σ_(n,y,x) Z[n, c, y, x]. Two
operations express every step of it, as 𝟙vᵀ and Mᵀ𝟙 express BatchNorm over the batch:

    Σ_(n,y,x) M    a (C, 1) column: each channel's entries summed (`conv.ChannelSum`, the sum
                   a convolution's bias gradient is)
    v[c]           the (B, C·H·W) matrix holding v[c] at every entry of channel c
                   (`ChannelSpread`): a statistic spread back over (n, y, x)

and they are each other's transposes, so the VJP of one is the other. `Channels(C, H, W)` is
the axis object the normalization rules in `rules.py` take as `over`, beside "batch" and
"features": it answers their questions (mean, spread, unspread, count) with these operations,
and m, the number of entries each statistic averages, is B·H·W.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy import Basic, HadamardProduct, MatMul, Tuple

from .conv import ChannelSum
from .matexpr import B, Op
from .windows import Geometry, grouped


class ChannelSpread(Op):
    """v[c]: a (C, 1) column spread over the (B, C·H·W) batch, v[c] at each entry of channel
    c. NumPy: the (C·H·W,) row `np.repeat(v, H·W)`, which broadcasts over the batch."""

    ndim = 1

    def __new__(cls, v, shape):
        return Basic.__new__(cls, v, shape if isinstance(shape, Tuple) else Tuple(*shape))

    @property
    def image(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.args[1])

    @property
    def shape(self):
        C, H, W = self.image
        return (B, C * H * W)

    def _sympystr(self, p):
        return f"{grouped(self.args[0], p._print(self.args[0]))}[c]"

    def _latex(self, p):
        return rf"{grouped(self.args[0], p._print(self.args[0]), latex=True)}[c]"

    def _numpycode(self, p):
        _, H, W = self.image
        return f"np.repeat({p._print(self.args[0])}, {H * W})"

    def _exact_value(self, ev, batch):
        v = ev(self.args[0])
        C, H, W = self.image
        return sp.ImmutableMatrix(batch, C * H * W, lambda n, j: v[j // (H * W), 0])


@dataclass(frozen=True)
class Channels:
    """The axis of BatchNorm2d's statistics: one per channel of (C, H, W) images, over (n, y, x).
    The normalization rules (`rules.mean`, `rules.spread`, …) ask it how to average, spread and
    sum along it."""

    C: int
    H: int
    W: int

    @property
    def geometry(self) -> Geometry:
        # A 1×1 "window" at stride 1: ChannelSum then sums the C channels of an H×W image.
        return Geometry(self.C, self.H, self.W, 1, 1, 1, 0, self.C)

    @property
    def count(self):
        """m = B·H·W, the entries each statistic averages."""
        return B * self.H * self.W

    def sum(self, M):
        return ChannelSum(M, self.geometry)

    def mean(self, M):
        return MatMul(1 / self.count, self.sum(M))

    def spread(self, v):
        return ChannelSpread(v, (self.C, self.H, self.W))

    def unspread(self, G):
        return self.sum(G)

    def sum_spread(self, M):
        return self.spread(self.sum(M))

    def affine(self, N, gamma, beta):
        """H = N ⊙ γ[c] + β[c]: a learned scale and shift per channel."""
        return sp.MatAdd(HadamardProduct(N, self.spread(gamma)), self.spread(beta))

    def affine_vjp(self, G, N, gamma):
        """(∂L/∂N, ∂L/∂γ, ∂L/∂β) = (G ⊙ γ[c], Σ_(n,y,x) G ⊙ N, Σ_(n,y,x) G)."""
        return HadamardProduct(G, self.spread(gamma)), self.sum(HadamardProduct(G, N)), self.sum(G)

    def words(self) -> str:
        return f"channel, over the batch and the {self.H}×{self.W} positions"

    def m_text(self) -> str:
        return f"B·{self.H}·{self.W}"


__all__ = ["ChannelSpread", "Channels"]

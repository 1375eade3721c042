"""Embeddings: integer inputs looked up in a learned table.

`Embedding(vocab, d)` reads X of shape (B, T), whose entries are integers 0 … vocab − 1 (token
ids), and records

    Zk = Ek[X]            row i: the rows Ek[X[i, 0]], …, Ek[X[i, T − 1]] side by side (T·d)

with the table Ek of shape (vocab, d). Its gradient is a scatter-add: row v of Ek was copied
into every position whose index is v, so ∂L/∂Ek = scatter_add(X, δk) sums their gradients
(`merge.embedding_vjp`, generated as one `np.bincount`, the fast form of `np.add.at`). The
indices are data and have no gradient. An Embedding reads the network's input, so it comes
first (in the functional API: it is called on `sn.Input(T)`).
"""

from __future__ import annotations

import math

from ..algebra import merge
from ..errors import ShapeError, SpecError
from .layer import Layer


class Embedding(Layer):
    """A table of `vocab` rows of `dim` learned numbers, PyTorch's `nn.Embedding(vocab, dim)`;
    see the module docstring. Initialized N(0, 1) as PyTorch does."""

    numbered = True
    reads_indices = True
    name = "embedding"

    def __init__(self, vocab: int, dim: int):
        for what, n in (("vocab", vocab), ("dim", dim)):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ShapeError(f"Embedding {what} must be a positive integer, got {n!r}")
        self.vocab, self.dim = vocab, dim

    def __repr__(self):
        return f"Embedding({self.vocab}, {self.dim})"

    def __eq__(self, other):
        return type(other) is Embedding and (self.vocab, self.dim) == (other.vocab, other.dim)

    def __hash__(self):
        return hash(("Embedding", self.vocab, self.dim))

    def out_shape(self, in_shape):
        if len(in_shape) != 1:
            raise ShapeError(f"{self!r} reads a row of T indices per sample, got samples of "
                             f"shape {in_shape}")
        return (math.prod(in_shape) * self.dim,)

    def inits(self, k: int) -> dict[str, str]:
        return {f"E{k}": "normal"}

    def record(self, tape, A, k: int):
        if A != tape.X:
            raise SpecError(f"{self!r} reads the integer indices X: it must be the first layer")
        E = tape.param(f"E{k}", self.vocab, self.dim, decays=True)
        why = (f"Z{k} = E{k}[X] copies row X[i, t] of E{k} into block t of row i, so row v of "
               f"E{k} receives the sum of the gradient blocks of every position whose index is "
               f"v: ∂L/∂E{k} = scatter_add(X, δ{k}). The indices X are integers: no gradient.")
        return tape.record(f"Z{k}", merge.embedding(E, A), (E, A),
                           lambda G, out: (merge.embedding_vjp(G, E, A), None), why=why, layer=k)


def index_vocab(net) -> int | None:
    """The vocabulary size when the network's input holds indices (it feeds an Embedding)."""
    sizes = [la.vocab for la in net.layers if getattr(la, "reads_indices", False)]
    return min(sizes) if sizes else None


__all__ = ["Embedding", "index_vocab"]

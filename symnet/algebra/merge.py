"""Primitives beyond a stack: sums and concatenations of branches, dropout, embedding lookup.

One primitive, one block: its forward expression and its vector-Jacobian product (VJP), as in
`rules.py`. The three operations SymPy has no node for are `Op`s (see `matexpr.Op`), which
carry their own printing, NumPy code and exact value:

    Concat(A, B)          [A  B], the columns of A then those of B
    Columns(G, a, b)      G[:, a:b], the columns a … b−1 of G (0-based, as NumPy slices)
    Gather(E, X)          E[X]: row i is the rows E[X[i, 0]], E[X[i, 1]], … side by side
    ScatterAdd(G, X, n)   scatter_add(X, G): the (n, d) matrix whose row v sums every d-wide
                          block of G whose index in X is v; the transpose of Gather

Each rule is proved in `proofs/merge.py` against `sympy.diff` of the entries.
"""

from __future__ import annotations

import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul

from .matexpr import Op

# ── sum of branches: S = A₁ + A₂ + … (a residual connection) ───────────────────────────────


def add(*As):
    return MatAdd(*As)


def add_vjp(G, n: int):
    """∂L/∂Aᵢ = G for every summand: addition passes the gradient to each branch unchanged."""
    return (G,) * n


# ── concatenation of branches: C = [A₁ A₂ …] ───────────────────────────────────────────────


class Concat(Op):
    """[A₁ A₂ …]: the operands' columns side by side (one sample per row)."""

    def __new__(cls, *mats):
        rows = mats[0].shape[0]
        for m in mats[1:]:
            if m.shape[0] != rows:
                raise ValueError(f"Concat operands differ in rows: {rows} and {m.shape[0]}")
        return sp.Basic.__new__(cls, *mats)

    @property
    def shape(self):
        return (self.args[0].shape[0], sum(m.shape[1] for m in self.args))

    def _sympystr(self, printer):
        return "[" + "  ".join(printer._print(m) for m in self.args) + "]"

    def _latex(self, printer):
        return r"\left[" + r" \;\; ".join(printer._print(m) for m in self.args) + r"\right]"

    def _numpycode(self, printer):
        return "np.concatenate((" + ", ".join(printer._print(m) for m in self.args) + "), axis=1)"

    def _exact_value(self, ev, batch):
        return sp.ImmutableMatrix(sp.Matrix.hstack(*(ev(m) for m in self.args)))


class Columns(Op):
    """G[:, a:b]: the columns a, …, b−1 of G."""

    def __new__(cls, G, start, stop):
        return sp.Basic.__new__(cls, G, sp.Integer(start), sp.Integer(stop))

    G = property(lambda self: self.args[0])
    start = property(lambda self: int(self.args[1]))
    stop = property(lambda self: int(self.args[2]))

    @property
    def shape(self):
        return (self.G.shape[0], self.stop - self.start)

    def _operand(self, printer):
        text = printer._print(self.G)
        return text if isinstance(self.G, sp.MatrixSymbol) else f"({text})"

    def _sympystr(self, printer):
        return f"{self._operand(printer)}[:, {self.start}:{self.stop}]"

    def _latex(self, printer):
        text = printer._print(self.G)
        if not isinstance(self.G, sp.MatrixSymbol):
            text = rf"\left({text}\right)"
        return rf"{{{text}}}_{{[:,\, {self.start}:{self.stop}]}}"

    def _numpycode(self, printer):
        text = printer._print(self.G)
        text = text if text.isidentifier() else f"({text})"
        return f"{text}[:, {self.start}:{self.stop}]"

    def _exact_value(self, ev, batch):
        return ev(self.G)[:, self.start:self.stop]


def concat(*As):
    return Concat(*As)


def concat_vjp(G, widths):
    """∂L/∂Aᵢ = G[:, oᵢ:oᵢ + nᵢ]: each branch receives the columns of G it supplied."""
    out, start = [], 0
    for n in widths:
        out.append(Columns(G, start, start + n))
        start += n
    return tuple(out)


# ── inverted dropout: D = (A ⊙ M) / (1 − p), M a 0/1 mask (data, not a parameter) ──────────


def dropout(A, M, p):
    return MatMul(1 / (1 - p), HadamardProduct(A, M))


def dropout_vjp(G, M, p):
    """∂L/∂A = (G ⊙ M) / (1 − p): the same mask and the same rescaling as the forward pass."""
    return MatMul(1 / (1 - p), HadamardProduct(G, M))


# ── embedding lookup: Z = E[X], X a (B, T) matrix of row indices into E (vocab, d) ──────────


def _index(v) -> int:
    return int(v)  # exact integers, or floats holding them


class Gather(Op):
    """E[X]: sample i's row is E[X[i, 0]], …, E[X[i, T−1]] side by side, T·d columns."""

    def __new__(cls, E, X):
        return sp.Basic.__new__(cls, E, X)

    E = property(lambda self: self.args[0])
    X = property(lambda self: self.args[1])

    @property
    def shape(self):
        return (self.X.shape[0], self.X.shape[1] * self.E.shape[1])

    def _sympystr(self, printer):
        return f"{printer._print(self.E)}[{printer._print(self.X)}]"

    def _latex(self, printer):
        return rf"{printer._print(self.E)}\left[{printer._print(self.X)}\right]"

    def _numpycode(self, printer):
        E, X = printer._print(self.E), printer._print(self.X)
        return f"{E}[{X}.astype(np.intp)].reshape({X}.shape[0], -1)"

    def _exact_value(self, ev, batch):
        E, X = ev(self.E), ev(self.X)
        rows = [[v for t in range(X.cols) for v in E.row(_index(X[i, t]))]
                for i in range(X.rows)]
        return sp.ImmutableMatrix(rows)


class ScatterAdd(Op):
    """scatter_add(X, G): an (n, d) matrix, row v the sum of G's d-wide blocks G[i, t·d:(t+1)·d]
    over every (i, t) with X[i, t] = v; rows no index names stay 0."""

    def __new__(cls, G, X, rows):
        return sp.Basic.__new__(cls, G, X, sp.Integer(rows))

    G = property(lambda self: self.args[0])
    X = property(lambda self: self.args[1])
    rows = property(lambda self: int(self.args[2]))

    @property
    def shape(self):
        return (self.rows, self.G.shape[1] // self.X.shape[1])

    def _sympystr(self, printer):
        return f"scatter_add({printer._print(self.X)}, {printer._print(self.G)})"

    def _latex(self, printer):
        return (rf"\operatorname{{scatter\_add}}\left({printer._print(self.X)}, "
                rf"{printer._print(self.G)}\right)")

    def _numpycode(self, printer):
        # np.add.at(dE, X, G) as one expression, and faster: a single bincount over the flat
        # indices X[i, t]·d + j (accumulated in float64, then cast to G's dtype).
        G, X = printer._print(self.G), printer._print(self.X)
        G = G if G.isidentifier() else f"({G})"
        n, d = self.shape
        return (f"np.bincount(({X}.astype(np.intp)[:, :, None] * {d} + np.arange({d})).ravel(), "
                f"weights={G}.ravel(), minlength={n * d}).reshape({n}, {d}).astype({G}.dtype)")

    def _exact_value(self, ev, batch):
        G, X = ev(self.G), ev(self.X)
        n, d = self.shape
        out = sp.zeros(n, d)
        for i in range(X.rows):
            for t in range(X.cols):
                v = _index(X[i, t])
                for j in range(d):
                    out[v, j] += G[i, t * d + j]
        return sp.ImmutableMatrix(out)


def embedding(E, X):
    return Gather(E, X)


def embedding_vjp(G, E, X):
    """∂L/∂E = scatter_add(X, G): row v of E was copied into every block whose index is v, so
    it receives the sum of their gradients; the integer indices X have none."""
    return ScatterAdd(G, X, E.shape[0])


__all__ = ["Columns", "Concat", "Gather", "ScatterAdd", "add", "add_vjp", "concat",
           "concat_vjp", "dropout", "dropout_vjp", "embedding", "embedding_vjp"]

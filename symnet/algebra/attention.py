"""Self-attention, per sequence: products of each sample's matrices, and a row-wise softmax.

A sample's (T, d) sequence is a row of T·d entries (time-major, `sequence`); these nodes
reshape each row back to its matrix, so that for every sequence s of the batch

    SeqMatMul(A, B)    c · A_s B_s  (either operand transposed per sample)
    SeqSoftmax(E)      each row of E_s (T × T) through softmax; `causal` masks entries j > i
    SeqSoftmaxBackward(G, P)   P_s ⊙ (G_s − (G_s ⊙ P_s) 𝟙𝟙ᵀ): the softmax rule per row

Printed as `[…]ₛ` (s: each sequence of the batch), generated as batched `np.matmul` (no loop),
evaluated exactly per sample.
"""

from __future__ import annotations

import sympy as sp

from .sequence import SeqOp, code


def _sample(M, s, rows, cols):
    """Sample s's (rows, cols) matrix from an explicit (B, rows·cols) matrix."""
    return sp.Matrix(rows, cols, list(M.row(s)))


def _rows(samples) -> sp.ImmutableMatrix:
    return sp.ImmutableMatrix([list(m.reshape(1, m.rows * m.cols)) for m in samples])


class SeqMatMul(SeqOp):
    """c · op(A_s) op(B_s) per sequence s, op a transpose where `ta`/`tb` say; A_s is
    (ar, ac) and B_s (br, bc) before transposing."""

    def __new__(cls, A, Bm, a_shape, b_shape, ta=0, tb=0, scale=sp.S.One):
        return super().__new__(cls, A, Bm, *a_shape, *b_shape, int(ta), int(tb),
                               sp.sympify(scale))

    A = property(lambda self: self.args[0])
    Bm = property(lambda self: self.args[1])
    a_shape = property(lambda self: (self._int(2), self._int(3)))
    b_shape = property(lambda self: (self._int(4), self._int(5)))
    ta = property(lambda self: bool(self._int(6)))
    tb = property(lambda self: bool(self._int(7)))
    scale = property(lambda self: self.args[8])

    def _dims(self):
        (ar, ac), (br, bc) = self.a_shape, self.b_shape
        return (ac if self.ta else ar), (br if self.tb else bc)

    @property
    def shape(self):
        r, c = self._dims()
        return (self.A.shape[0], r * c)

    def with_scale(self, scale):
        return SeqMatMul(self.A, self.Bm, self.a_shape, self.b_shape, self.ta, self.tb, scale)

    def _factors(self, p, transpose, latex=False):
        def one(M, t):
            text = p._print(M)
            if not isinstance(M, sp.MatrixSymbol):
                text = rf"\left({text}\right)" if latex else f"({text})"
            return text + ((r"^{\top}" if latex else "ᵀ") if t else "")
        return f"{one(self.A, self.ta)} {one(self.Bm, self.tb)}"

    def _root(self):
        """d when the scale is 1/√d (attention's), else None."""
        d = 1 / self.scale**2
        return int(d) if d.is_Integer and d != 1 else None

    def _sympystr(self, p):
        body = self._factors(p, True)
        if self._root():
            body = f"{body}/√{self._root()}"
        elif self.scale != 1:
            body = f"({p._print(self.scale)})·{body}"
        return f"[{body}]ₛ"

    def _latex(self, p):
        body = self._factors(p, True, latex=True)
        if self._root():
            body = rf"\frac{{{body}}}{{\sqrt{{{self._root()}}}}}"
        elif self.scale != 1:
            body = rf"{p._print(self.scale)} {body}"
        return rf"\left[{body}\right]_{{s}}"

    def _numpycode(self, p):
        (ar, ac), (br, bc) = self.a_shape, self.b_shape
        a = f"{code(p, self.A)}.reshape(-1, {ar}, {ac})"
        b = f"{code(p, self.Bm)}.reshape(-1, {br}, {bc})"
        a += ".transpose(0, 2, 1)" if self.ta else ""
        b += ".transpose(0, 2, 1)" if self.tb else ""
        r, c = self._dims()
        product = f"np.matmul({a}, {b}).reshape(-1, {r * c})"
        if self.scale == 1:
            return product
        return f"{float(self.scale)!r} * {product}"

    def _exact_value(self, ev, batch):
        A, Bm = ev(self.A), ev(self.Bm)
        out = []
        for s in range(A.rows):
            a, b = _sample(A, s, *self.a_shape), _sample(Bm, s, *self.b_shape)
            out.append(self.scale * (a.T if self.ta else a) * (b.T if self.tb else b))
        return _rows(out)


class SeqSoftmax(SeqOp):
    """Each row of each sequence's (T, T) scores through softmax; with `causal`, step i sees
    only steps j ≤ i (the others get probability 0)."""

    def __new__(cls, E, T: int, causal: int = 0):
        return super().__new__(cls, E, T, int(causal))

    E = property(lambda self: self.args[0])
    T = property(lambda self: self._int(1))
    causal = property(lambda self: bool(self._int(2)))

    @property
    def shape(self):
        return self.E.shape

    def _sympystr(self, p):
        mask = " (causal: entries j > i masked to 0)" if self.causal else ""
        return f"[softmax of each row of {p._print(self.E)}]ₛ{mask}"

    def _latex(self, p):
        mask = r"\ (j \le i)" if self.causal else ""
        return rf"\left[\operatorname{{softmax}}_{{\text{{rows}}}}\left({p._print(self.E)}\right)" \
               rf"{mask}\right]_{{s}}"

    def _numpycode(self, p):
        T = self.T
        E = f"{code(p, self.E)}.reshape(-1, {T}, {T})"
        if self.causal:
            E = f"np.where(np.tri({T}, dtype=bool), {E}, -np.inf)"
        name = p.block.let(E)
        m = p.block.let(f"{name}.max(axis=2, keepdims=True)")
        e = p.block.let(f"np.exp({name} - {m})")
        return f"({e} / {e}.sum(axis=2, keepdims=True)).reshape(-1, {T * T})"

    def _exact_value(self, ev, batch):
        E, T = ev(self.E), self.T
        out = []
        for s in range(E.rows):
            e = _sample(E, s, T, T)
            rows = []
            for i in range(T):
                seen = range(i + 1) if self.causal else range(T)
                exps = [sp.exp(e[i, j]) if j in seen else sp.S.Zero for j in range(T)]
                total = sum(exps)
                rows.append([v / total for v in exps])
            out.append(sp.Matrix(rows))
        return _rows(out)


class SeqSoftmaxBackward(SeqOp):
    """∂L/∂E = P ⊙ (G − (G ⊙ P) 𝟙𝟙ᵀ) per sequence: row i's Jacobian is diag(pᵢ) − pᵢpᵢᵀ
    (masked entries have p = 0 and get no gradient). `form` is "full"; mutants use "diagonal"
    (P ⊙ G, the −ppᵀ part dropped) and "identity" (G itself)."""

    def __new__(cls, G, P, T: int, form: str = "full"):
        return super().__new__(cls, G, P, T, form)

    G = property(lambda self: self.args[0])
    P = property(lambda self: self.args[1])
    T = property(lambda self: self._int(2))
    form = property(lambda self: self._str(3))

    @property
    def shape(self):
        return self.P.shape

    def _sympystr(self, p):
        G, P = p._print(self.G), p._print(self.P)
        body = {"full": f"{P} ⊙ ({G} − ({G} ⊙ {P}) 𝟙𝟙ᵀ)", "diagonal": f"{P} ⊙ {G}",
                "identity": G}[self.form]
        return f"[{body}]ₛ"

    def _latex(self, p):
        G, P = p._print(self.G), p._print(self.P)
        body = {"full": rf"{P} \odot \left({G} - \left({G} \odot {P}\right) \mathbb{{1}}"
                        r"\mathbb{1}^{\top}\right)",
                "diagonal": rf"{P} \odot {G}", "identity": G}[self.form]
        return rf"\left[{body}\right]_{{s}}"

    def _numpycode(self, p):
        G, P, T = code(p, self.G), code(p, self.P), self.T
        if self.form == "identity":
            return G
        if self.form == "diagonal":
            return f"{P} * {G}"
        GP = p.block.let(f"({G} * {P}).reshape(-1, {T}, {T})")
        centred = f"{G}.reshape(-1, {T}, {T}) - {GP}.sum(axis=2, keepdims=True)"
        return f"{P} * ({centred}).reshape(-1, {T * T})"

    def _exact_value(self, ev, batch):
        G, P = ev(self.G), ev(self.P)
        if self.form == "identity":
            return G
        if self.form == "diagonal":
            return sp.ImmutableMatrix(P.multiply_elementwise(G))
        T, out = self.T, []
        for s in range(G.rows):
            g, q = _sample(G, s, T, T), _sample(P, s, T, T)
            gp = g.multiply_elementwise(q) * sp.ones(T, 1) * sp.ones(1, T)
            out.append(q.multiply_elementwise(g - gp))
        return _rows(out)


__all__ = ["SeqMatMul", "SeqSoftmax", "SeqSoftmaxBackward"]

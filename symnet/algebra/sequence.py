"""Sequences on the tape: a sample's (T, n) sequence is a row of T·n entries, time-major.

Block t of a row (entries (t−1)·n … t·n − 1) is the sample's vector at time t; `M[t]` below is
the (B, n) matrix of those blocks. The operations here are the per-time-step pieces that
recurrent and attention layers are built from, each a SymPy node (`matexpr.Op`) that prints
itself with a time index t, so a derivation reads the same for any T:

    TimeStep(M, T, t)     M[t]                                 (B, n): one step (the last state)
    AtTimeStep(G, T, t)   G at step t, 0 at the others         (B, T·n): TimeStep's VJP
    PerStep(M, W, T)      [M[t] W]ₜ                            (B, T·m): a dense map per step
    TimeSum(P, Q, T, s)   Σₜ P[t−s]ᵀ Q[t]   (t = 1+s … T)      (p, q): a weight shared over time
    TimeSumBias(Q, T)     Σₜ Q[t]ᵀ 𝟙                           (q, 1): a bias shared over time
    ToSteps(M, T)         [M[t]]ₜ as rows                      (B·T, n): one row per step
    FromSteps(M, T)       rows back as sequences               (B, T·n): ToSteps' inverse

Each also gives its NumPy code (vectorized over batch and time: reshapes and one product) and
its exact value (`derivation.evaluate`). `exact_blocks`/`exact_join` are the exact helpers the
recurrent and attention nodes share.
"""

from __future__ import annotations

import sympy as sp
from sympy import Basic, Integer
from sympy.core.symbol import Str

from .matexpr import Op

# ── shared helpers ─────────────────────────────────────────────────────────────────────────


def exact_blocks(M, T: int) -> list:
    """The T column blocks of an explicit matrix: [M[1], …, M[T]]."""
    width = M.cols // T
    return [M[:, t * width:(t + 1) * width] for t in range(T)]


def exact_matmul(A, B) -> sp.ImmutableMatrix:
    """A B of explicit matrices, entry by entry. SymPy's own product multiplies 0 by every
    entry to catch 0·∞, and on nested sigmoids the assumptions that asks for take minutes (a
    GRU's bounded proof: 43 s for one product at T = 2); zero terms are simply left out here."""
    return sp.ImmutableMatrix(A.rows, B.cols, lambda i, j: sp.Add(
        *(A[i, k] * B[k, j] for k in range(A.cols) if A[i, k] != 0 and B[k, j] != 0)))


def exact_join(blocks) -> sp.ImmutableMatrix:
    out = blocks[0]
    for b in blocks[1:]:
        out = out.row_join(b)
    return sp.ImmutableMatrix(out)


def at(printer, M, t: str) -> str:
    """`M[t]` as `printer` prints it (parenthesized when M is not a name)."""
    text = printer._print(M)
    if not isinstance(M, sp.MatrixSymbol):
        text = f"({text})"
    return f"{text}[{t}]"


def latex_at(printer, M, t: str) -> str:
    text = printer._print(M)
    if not isinstance(M, sp.MatrixSymbol):
        text = rf"\left({text}\right)"
    return f"{text}[{t}]"


def code(printer, M) -> str:
    """An operand's NumPy code, parenthesized for a method call."""
    text = printer._print(M)
    return text if text.isidentifier() else f"({text})"


def operand(i: int) -> property:
    """A node's i-th argument, a matrix (`M = operand(0)`)."""
    return property(lambda self: self.args[i])


def integer(i: int) -> property:
    """A node's i-th argument as a Python int (`T = integer(1)`)."""
    return property(lambda self: int(self.args[i]))


def step_name(t: int, T: int) -> str:
    """How step t prints: "T" for the last step (so a derivation reads the same for any T)."""
    return "T" if t == T else str(t)


class SeqOp(Op):
    """An `Op` on sequences: operands first, then integers (T, …) and strings, all SymPy
    arguments so that hashing and `xreplace` see them.

    A node is built with its arguments in order (`TimeStep(M, T, t)`) and names them in one
    line, `M, T, t = operand(0), integer(1), integer(2)`; it defines `__new__` only to fill
    in defaults."""

    def __new__(cls, *args):
        args = [Integer(a) if isinstance(a, int) else Str(a) if isinstance(a, str) else a
                for a in args]
        return Basic.__new__(cls, *args)

    def _int(self, i) -> int:
        return int(self.args[i])

    def _str(self, i) -> str:
        return self.args[i].name


# ── one step, and its VJP ──────────────────────────────────────────────────────────────────


class TimeStep(SeqOp):
    """M[t]: step t (1-based) of a sequence M of T steps."""

    M, T, t = operand(0), integer(1), integer(2)

    @property
    def shape(self):
        return (self.M.shape[0], self.M.shape[1] // self.T)

    def _sympystr(self, printer):
        return at(printer, self.M, step_name(self.t, self.T))

    def _latex(self, printer):
        return latex_at(printer, self.M, step_name(self.t, self.T))

    def _numpycode(self, printer):
        n = self.shape[1]
        return f"{code(printer, self.M)}[:, {(self.t - 1) * n}:{self.t * n}]"

    def _exact_value(self, ev, batch):
        return exact_blocks(ev(self.M), self.T)[self.t - 1]


class AtTimeStep(SeqOp):
    """G placed at step t of a T-step sequence, zeros at the other steps (TimeStep's VJP)."""

    G, T, t = operand(0), integer(1), integer(2)

    @property
    def shape(self):
        return (self.G.shape[0], self.G.shape[1] * self.T)

    def _sympystr(self, printer):
        return f"[{printer._print(self.G)} if t = {step_name(self.t, self.T)}, else 0]ₜ"

    def _latex(self, printer):
        return (rf"\left[{printer._print(self.G)} \text{{ if }} t = {step_name(self.t, self.T)}"
                r"\text{, else } 0\right]_{t}")

    def _numpycode(self, printer):
        n = self.G.shape[1]
        printer.context.define("_at_time_step", AT_TIME_STEP)
        return f"_at_time_step({printer._print(self.G)}, {(self.t - 1) * n}, {self.T * n})"

    def _exact_value(self, ev, batch):
        G = ev(self.G)
        zero = sp.zeros(G.rows, G.cols)
        return exact_join([G if s == self.t - 1 else zero for s in range(self.T)])


AT_TIME_STEP = '''\
def _at_time_step(G, start, width):
    """G in columns start… of a zero (B, width) array (np.pad does the same with ~20× more
    Python overhead, which shows at small sizes)."""
    out = np.zeros((G.shape[0], width), dtype=G.dtype)
    out[:, start:start + G.shape[1]] = G
    return out
'''


# ── a weight applied at every step, and its gradients: sums over time ──────────────────────


class PerStep(SeqOp):
    """[M[t] W]ₜ: the same (n, m) matrix applied at each of T steps."""

    M, W, T = operand(0), operand(1), integer(2)

    @property
    def shape(self):
        return (self.M.shape[0], self.T * self.W.shape[1])

    def _sympystr(self, printer):
        return f"[{at(printer, self.M, 't')} {printer._print(self.W)}]ₜ"

    def _latex(self, printer):
        return rf"\left[{latex_at(printer, self.M, 't')} {printer._print(self.W)}\right]_{{t}}"

    def _numpycode(self, printer):
        n, m = (int(d) for d in self.W.shape)
        M, W = code(printer, self.M), code(printer, self.W)
        return f"({M}.reshape(-1, {n}) @ {W}).reshape({M}.shape[0], {self.T * m})"

    def _exact_value(self, ev, batch):
        W = ev(self.W)
        return exact_join([blk * W for blk in exact_blocks(ev(self.M), self.T)])


class TimeSum(SeqOp):
    """Σₜ P[t−s]ᵀ Q[t] over t = first … T: the gradient of a weight used at every step (s = 1
    for a weight that reads the previous step's state). `first` is 1 + s unless a mutant
    truncates the sum."""

    def __new__(cls, P, Q, T: int, shift: int = 0, first: int | None = None):
        return super().__new__(cls, P, Q, T, shift, 1 + shift if first is None else first)

    P, Q, T, shift, first = operand(0), operand(1), integer(2), integer(3), integer(4)

    @property
    def shape(self):
        return (self.P.shape[1] // self.T, self.Q.shape[1] // self.T)

    def _range(self):
        truncated = self.first == self.T and self.first != 1 + self.shift
        first = "T" if truncated else str(self.first)
        return first, ("t" if not self.shift else f"t−{self.shift}")

    def _sympystr(self, printer):
        first, before = self._range()
        return (f"Σ[t={first}…T] {at(printer, self.P, before)}ᵀ "
                f"{at(printer, self.Q, 't')}")

    def _latex(self, printer):
        first, before = self._range()
        return (rf"\sum_{{t={first}}}^{{T}} {latex_at(printer, self.P, before.replace('−', '-'))}"
                rf"^{{\top}} {latex_at(printer, self.Q, 't')}")

    def _numpycode(self, printer):
        p, q = self.shape
        T, s, a = self.T, self.shift, self.first - 1
        P, Q = code(printer, self.P), code(printer, self.Q)
        left = f"{P}.reshape(-1, {T}, {p})[:, {a - s}:{T - s}].reshape(-1, {p})"
        right = f"{Q}.reshape(-1, {T}, {q})[:, {a}:].reshape(-1, {q})"
        return f"{left}.T @ {right}"

    def _exact_value(self, ev, batch):
        P, Q = exact_blocks(ev(self.P), self.T), exact_blocks(ev(self.Q), self.T)
        p, q = self.shape
        total = sp.zeros(p, q)
        for t in range(self.first - 1, self.T):
            total += exact_matmul(P[t - self.shift].T, Q[t])
        return sp.ImmutableMatrix(total)


class TimeSumBias(SeqOp):
    """Σₜ Q[t]ᵀ 𝟙 over t = first … T: a bias added at every step sums its δ over batch and
    time."""

    def __new__(cls, Q, T: int, first: int = 1):
        return super().__new__(cls, Q, T, first)

    Q, T, first = operand(0), integer(1), integer(2)

    @property
    def shape(self):
        return (self.Q.shape[1] // self.T, 1)

    ndim = 1  # a bias gradient is 1-D, like b

    def _first(self):
        return "T" if self.first == self.T and self.first != 1 else str(self.first)

    def _sympystr(self, printer):
        return f"Σ[t={self._first()}…T] {at(printer, self.Q, 't')}ᵀ 𝟙"

    def _latex(self, printer):
        return (rf"\sum_{{t={self._first()}}}^{{T}} {latex_at(printer, self.Q, 't')}^{{\top}}"
                r" \mathbb{1}")

    def _numpycode(self, printer):
        q = self.shape[0]
        Q = code(printer, self.Q)
        return f"{Q}.reshape(-1, {self.T}, {q})[:, {self.first - 1}:].sum(axis=(0, 1))"

    def _exact_value(self, ev, batch):
        Q = exact_blocks(ev(self.Q), self.T)
        total = sp.zeros(self.shape[0], 1)
        for t in range(self.first - 1, self.T):
            total += Q[t].T * sp.ones(Q[t].rows, 1)
        return sp.ImmutableMatrix(total)


# ── a sequence as one row per time step, and back (LayerNorm of each step) ─────────────────


class _Regrouped(SeqOp):
    """A sequence's entries, unchanged and in order, in rows of another width: a reshape."""

    M, T = operand(0), integer(1)

    def _numpycode(self, printer):
        return f"{code(printer, self.M)}.reshape(-1, {self.shape[1]})"


class ToSteps(_Regrouped):
    """The (B, T·d) rows of sequences as (B·T, d): one row per time step of every sample."""

    @property
    def shape(self):
        return (self.M.shape[0] * self.T, self.M.shape[1] // self.T)

    def _sympystr(self, printer):
        return f"[{at(printer, self.M, 't')}]ₜ as rows"

    def _latex(self, printer):
        return rf"\left[{latex_at(printer, self.M, 't')}\right]_{{t}}\ \text{{as rows}}"

    def _exact_value(self, ev, batch):
        M = ev(self.M)
        return sp.ImmutableMatrix(M.reshape(M.rows * self.T, M.cols // self.T))


class FromSteps(_Regrouped):
    """(B·T, d) rows, one per time step, back as (B, T·d) sequences (ToSteps' inverse)."""

    @property
    def shape(self):
        return (self.M.shape[0] / self.T, self.M.shape[1] * self.T)

    def _sympystr(self, printer):
        return f"{printer._print(self.M)} as sequences"

    def _latex(self, printer):
        return rf"{printer._print(self.M)}\ \text{{as sequences}}"

    def _exact_value(self, ev, batch):
        M = ev(self.M)
        return sp.ImmutableMatrix(M.reshape(M.rows // self.T, M.cols * self.T))


__all__ = ["AtTimeStep", "FromSteps", "PerStep", "SeqOp", "TimeStep", "TimeSum", "TimeSumBias",
           "ToSteps", "exact_blocks", "exact_join", "exact_matmul", "integer", "operand",
           "step_name"]

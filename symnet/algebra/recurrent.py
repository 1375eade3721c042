"""Recurrences: the forward loop of an RNN or LSTM and backpropagation through time (BPTT).

A recurrent layer k is two steps on the tape (`symnet.nn.recurrent`):

    Zk = [X[t] Wxk + Sk[t−1] Whk + 𝟙bkᵀ]ₜ,  Sk[0] = 0          `Recurrence`: pre-activations
    Sk = tanh(Zk)   (RNN)   or   Sk = LSTM cell of Zk           the states h[t]

Zk's step treats Sk[t−1] as given: with δk = ∂L/∂Zk the *total* derivative (every path through
later steps included) its VJP is a dense layer's, summed over time (`sequence.TimeSum`):
∂L/∂Wxk = Σₜ X[t]ᵀ δk[t], ∂L/∂Whk = Σₜ Sk[t−1]ᵀ δk[t], ∂L/∂bk = Σₜ δk[t]ᵀ𝟙, ∂L/∂X[t] = δk[t] Wxkᵀ.
Sk's step carries the recurrence: its VJP gives that total δk from ∂L/∂Sk by running backwards
in time (`RNNBackward`, `LSTMBackward`): for the RNN

    δk[t] = (∂L/∂Sk[t] + δk[t+1] Whkᵀ) ⊙ tanh′(Zk[t]),   t = T … 1,  δk[T+1] = 0,

∂L/∂Sk[t] being the direct contribution of h[t] (the output's) and δk[t+1] Whkᵀ the recurrent
one. proofs/recurrent.py checks these against `sympy.diff` of the unrolled network (T ≤ 3).

Each node prints as its recurrence in t (one line for any T), generates one NumPy loop over
time whose steps are vectorized over the batch (a helper function in the generated module,
registered with the printer's context), and evaluates exactly through SymPy.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import sympy as sp

from .cells import entrywise, hadamard, mapped, sigmoid, sigmoid_prime, tanh_prime
from .gru import GRUBackward, GRUHidden, GRUStates
from .loops import emit
from .matexpr import Elementwise
from .notation import display_name
from .sequence import AtTimeStep, SeqOp, at, code, exact_blocks, exact_join, latex_at

CELLS = ("rnn", "lstm")
# An LSTM's pre-activations hold four gates per unit, in PyTorch's order (i, f, g, o).
GATES = {"rnn": 1, "lstm": 4}


# ── the forward pass ───────────────────────────────────────────────────────────────────────


class Recurrence(SeqOp):
    """Z = [X[t] Wx + S[t−1] Wh + 𝟙bᵀ]ₜ with S[0] = 0 and S = cell(Z) (tanh, or the LSTM's
    gates and memory): the pre-activations of every step. `names` are those of Z and S, for
    printing the recurrence."""

    def __new__(cls, X, Wx, Wh, b, T: int, cell: str, Z: str, S: str):
        return super().__new__(cls, X, Wx, Wh, b, T, cell, Z, S)

    X, Wx, Wh, b = (property(lambda self, i=i: self.args[i]) for i in range(4))
    T = property(lambda self: self._int(4))
    cell = property(lambda self: self._str(5))

    @property
    def shape(self):
        return (self.X.shape[0], self.T * self.Wx.shape[1])

    def _sympystr(self, p):
        S = display_name(self._str(7))
        return (f"[{at(p, self.X, 't')} {p._print(self.Wx)} + {S}[t−1] {p._print(self.Wh)} + "
                f"𝟙{p._print(self.b)}ᵀ]ₜ,  {S}[0] = 0")

    def _latex(self, p):
        S = display_name(self._str(7))
        return (rf"\left[{latex_at(p, self.X, 't')} {p._print(self.Wx)} + {S}[t-1] "
                rf"{p._print(self.Wh)} + \mathbb{{1}} {p._print(self.b)}^{{\top}}\right]_{{t}},"
                rf"\ {S}[0] = 0")

    def loop(self, p) -> str:
        """The name of a temporary holding (Z, S) from the generated forward loop, which
        computes both: Z's code takes [0], and S's code ([1], `LoopStates`) reuses the states
        the loop needed anyway instead of applying tanh (or the LSTM cell) to Z once more. An
        LSTM's loop also keeps its gates and memories ([2]) for BPTT (`LoopBackward`)."""
        name = emit(p.context, f"_{self.cell}_forward")
        args = ", ".join(p._print(a) for a in (self.X, self.Wx, self.Wh, self.b))
        # one temporary per call text: S's code finds the same one (Block.let is by code)
        return p.block.let(f"{name}({args})", f"{self._str(6)}_loop")

    def _numpycode(self, p):
        return f"{self.loop(p)}[0]"

    def _exact_value(self, ev, batch):
        X, Wx, Wh, b = (ev(a) for a in (self.X, self.Wx, self.Wh, self.b))
        xs = exact_blocks(X, self.T)
        h = Wh.rows
        bias = sp.ones(X.rows, 1) * b.T
        state = sp.zeros(X.rows, h)
        c = sp.zeros(X.rows, h)
        out = []
        for x in xs:
            z = sp.ImmutableMatrix(x * Wx + state * Wh + bias)
            out.append(z)
            if self.cell == "rnn":
                state = mapped(z, sp.tanh)
            else:
                state, c = _lstm_step(z, c, h)
        return exact_join(out)


def _gates(z, h):
    """i, f, g, o of one step's pre-activations, exactly."""
    i, f, g, o = (z[:, k * h:(k + 1) * h] for k in range(4))
    return mapped(i, sigmoid), mapped(f, sigmoid), mapped(g, sp.tanh), mapped(o, sigmoid)


def _lstm_step(z, c, h):
    i, f, g, o = _gates(z, h)
    c = sp.ImmutableMatrix(hadamard(f, c) + hadamard(i, g))
    return hadamard(o, mapped(c, sp.tanh)), c


class LSTMStates(SeqOp):
    """S = [o[t] ⊙ tanh(c[t])]ₜ with (i, f, g, o)[t] = (σ, σ, tanh, σ)(Z[t]) and
    c[t] = f[t] ⊙ c[t−1] + i[t] ⊙ g[t], c[0] = 0 (PyTorch's LSTM cell)."""

    def __new__(cls, Z, T: int):
        return super().__new__(cls, Z, T)

    Z = property(lambda self: self.args[0])
    T = property(lambda self: self._int(1))

    @property
    def shape(self):
        return (self.Z.shape[0], self.Z.shape[1] // 4)

    def _sympystr(self, p):
        z = at(p, self.Z, "t")
        return (f"[o[t] ⊙ tanh(c[t])]ₜ,  (i, f, g, o)[t] = (σ, σ, tanh, σ)({z}),  "
                "c[t] = f[t] ⊙ c[t−1] + i[t] ⊙ g[t],  c[0] = 0")

    def _latex(self, p):
        z = latex_at(p, self.Z, "t")
        return (r"\left[o[t] \odot \tanh(c[t])\right]_{t},\ (i, f, g, o)[t] = "
                rf"(\sigma, \sigma, \tanh, \sigma)({z}),\ c[t] = f[t] \odot c[t-1] + i[t] "
                r"\odot g[t],\ c[0] = 0")

    def _numpycode(self, p):
        return f"{emit(p.context, '_lstm_states')}({p._print(self.Z)}, {self.T})"

    def _exact_value(self, ev, batch):
        zs = exact_blocks(ev(self.Z), self.T)
        h = zs[0].cols // 4
        c, out = sp.zeros(zs[0].rows, h), []
        for z in zs:
            s, c = _lstm_step(z, c, h)
            out.append(s)
        return exact_join(out)


# ── code generation: the states from the forward loop ──────────────────────────────────────


class LoopStates(SeqOp):
    """S = cell(Z) for code generation only: `states` (tanh(Z) or LSTMStates(Z)) printed as
    itself, computed by taking the states the loop of `recurrence` (Z's own expression) kept.
    The forward loop must compute every state to compute Z, so applying the cell to Z again
    would double the forward pass's cost (tanh dominates an RNN step in NumPy)."""

    def __new__(cls, states, recurrence):
        return super().__new__(cls, states, recurrence)

    states, recurrence = (property(lambda self, i=i: self.args[i]) for i in range(2))

    @property
    def shape(self):
        return self.states.shape

    def _sympystr(self, p):
        return p._print(self.states)

    def _latex(self, p):
        return p._print(self.states)

    def _numpycode(self, p):
        return f"{self.recurrence.loop(p)}[1]"

    def _exact_value(self, ev, batch):
        return ev(self.states)


def recurrent_code(forward, backward) -> tuple[list, list]:
    """The forward and backward equations as code generation computes them: each recurrent
    layer's S = cell(Z) read from the loop that computed Z (`LoopStates`), and its BPTT run
    from what that loop kept and, where ∂L/∂S is zero but at step T, from ∂L/∂S[T] alone
    (`LoopBackward`). Printed forms and values are unchanged; only the code is cheaper."""
    return _loop_states(forward), _loop_backward(forward, backward)


def _loops(forward) -> dict:
    """{Z (or a GRU's H): the Recurrence (GRUHidden) whose forward loop computes it}."""
    return {eq.lhs: eq.rhs for eq in forward if isinstance(eq.rhs, Recurrence | GRUHidden)}


def _loop_states(equations) -> list:
    loops = _loops(equations)
    out = []
    for eq in equations:
        rhs = eq.rhs
        # the array the loop computed, and the cell that these states apply
        key, cell = ((rhs.Z, "lstm") if isinstance(rhs, LSTMStates) else
                     (rhs.H, "gru") if isinstance(rhs, GRUStates) else
                     (rhs.operands[0], "rnn") if isinstance(rhs, Elementwise)
                     and rhs.fn.name == "tanh" and len(rhs.operands) == 1 else (None, None))
        if key in loops and loops[key].cell == cell:
            eq = replace(eq, rhs=LoopStates(rhs, loops[key]))
        out.append(eq)
    return out


class LoopBackward(SeqOp):
    """δ = `backward` (RNNBackward, LSTMBackward or GRUBackward) for code generation only:
    printed as `backward`, computed from what `loop` kept (the LSTM's Recurrence or the GRU's
    GRUHidden whose forward loop computed the gates and memories; 0 for an RNN, or where no
    loop did) instead of applying σ and tanh again, and, where ∂L/∂S is [g if t = T, else 0]ₜ,
    from `g` (B, h) alone (else 0) instead of a (B, T·h) array of zeros that each step adds."""

    def __new__(cls, backward, loop, g):
        return super().__new__(cls, backward, loop, g)

    backward, loop, g = (property(lambda self, i=i: self.args[i]) for i in range(3))

    @property
    def shape(self):
        return self.backward.shape

    def _sympystr(self, p):
        return p._print(self.backward)

    def _latex(self, p):
        return p._print(self.backward)

    def _numpycode(self, p):
        kept = f"{self.loop.loop(p)}[2]" if isinstance(self.loop, Recurrence | GRUHidden) else None
        last = self.g != 0
        return self.backward._call(p, self.g if last else self.backward.G, last, kept)

    def _exact_value(self, ev, batch):
        return ev(self.backward)


def _loop_backward(forward, backward) -> list:
    """Each BPTT node δ = …Backward(∂L/∂S, …) becomes LoopBackward(δ, loop, g): `loop` the
    forward loop of its LSTM or GRU, `g` where ∂L/∂S is defined as AtTimeStep(g, T, T) and read
    by this layer's BPTT alone (∂L/∂S's own equation is then left out)."""
    loops = _loops(forward)
    defined = {eq.lhs: eq.rhs for eq in backward}
    reads = Counter(s for eq in backward for s in eq.rhs.atoms(sp.MatrixSymbol))
    bptt = (RNNBackward, LSTMBackward, GRUBackward)
    by_bptt = Counter(eq.rhs.G for eq in backward if isinstance(eq.rhs, bptt))
    dropped, out = set(), []
    for eq in backward:
        rhs = eq.rhs
        if isinstance(rhs, bptt):
            at_last = defined.get(rhs.G)
            g = 0
            if (isinstance(at_last, AtTimeStep) and at_last.t == at_last.T
                    and reads[rhs.G] == by_bptt[rhs.G]):
                g = at_last.G
                dropped.add(rhs.G)
            cell = "gru" if isinstance(rhs, GRUBackward) else "lstm"
            loop = loops.get(rhs.H if cell == "gru" else rhs.Z)
            if isinstance(rhs, RNNBackward) or loop is None or loop.cell != cell:
                loop = 0
            eq = replace(eq, rhs=LoopBackward(rhs, loop, g))
        out.append(eq)
    return [eq for eq in out if eq.lhs not in dropped]


# ── backpropagation through time ───────────────────────────────────────────────────────────


class _Backward(SeqOp):
    """δ = ∂L/∂Z from G = ∂L/∂S (the direct contributions), backwards in time. `recurrent`
    is 1; a mutant sets it to 0 to drop the δ[t+1] Whᵀ term (the classic BPTT mistake)."""

    def __new__(cls, G, Z, S, Wh, T: int, recurrent: int = 1):
        return super().__new__(cls, G, Z, S, Wh, T, recurrent)

    G, Z, S, Wh = (property(lambda self, i=i: self.args[i]) for i in range(4))
    T = property(lambda self: self._int(4))
    recurrent = property(lambda self: bool(self._int(5)))

    @property
    def shape(self):
        return self.Z.shape

    def _delta(self):
        return display_name("d" + self.Z.name)

    def _dh(self, p, latex=False):
        """∂L/∂h[t]: the direct contribution, plus the recurrent one."""
        G = (latex_at if latex else at)(p, self.G, "t")
        if not self.recurrent:
            return G
        d = r"\delta" + "_{" + self.Z.name[1:] + "}" if latex else self._delta()
        return f"{G} + {d}[t+1] {p._print(sp.Transpose(self.Wh))}"


class RNNBackward(_Backward):
    """δ[t] = (∂L/∂S[t] + δ[t+1] Whᵀ) ⊙ tanh′(Z[t]) for t = T … 1, δ[T+1] = 0, with
    tanh′(Z[t]) computed as 1 − S[t]² from the states (as 4σ′(2Z[t]) where that cancels)."""

    def _sympystr(self, p):
        return (f"[({self._dh(p)}) ⊙ tanh′({at(p, self.Z, 't')})]ₜ₌T…₁,  "
                f"{self._delta()}[T+1] = 0")

    def _latex(self, p):
        d = r"\delta_{" + self.Z.name[1:] + "}"
        return (rf"\left[\left({self._dh(p, True)}\right) \odot \tanh'"
                rf"\left({latex_at(p, self.Z, 't')}\right)\right]_{{t=T}}^{{1}},\ d[T+1] = 0"
                .replace("d[T+1]", f"{d}[T+1]"))

    def _numpycode(self, p):
        return self._call(p, self.G, False)

    def _call(self, p, G, last: bool, kept=None) -> str:
        """The call of the BPTT loop with ∂L/∂S = G (∂L/∂S[T] alone if `last`); an RNN's loop
        needs nothing `kept` besides the states S."""
        args = ", ".join(code(p, a) for a in (G, self.Z, self.S, self.Wh))
        return (f"{emit(p.context, '_rnn_backward')}({args}, {self.recurrent}"
                + (", last=True)" if last else ")"))

    def _exact_value(self, ev, batch):
        G, S, Wh = exact_blocks(ev(self.G), self.T), exact_blocks(ev(self.S), self.T), ev(self.Wh)
        Z = exact_blocks(ev(self.Z), self.T)
        d = sp.zeros(G[0].rows, G[0].cols)
        out = []
        for t in reversed(range(self.T)):
            dh = G[t] + (d * Wh.T if self.recurrent else sp.zeros(*d.shape))
            d = hadamard(dh, entrywise(tanh_prime, Z[t], S[t]))
            out.append(d)
        return exact_join(out[::-1])


class LSTMBackward(_Backward):
    """δ[t] for an LSTM: ∂L/∂h[t] = ∂L/∂S[t] + δ[t+1] Whᵀ, ∂L/∂c[t] = ∂L/∂h[t] ⊙ o[t] ⊙
    tanh′(c[t]) + ∂L/∂c[t+1] ⊙ f[t+1], and the four gates' blocks of δ[t]:
    (∂L/∂c[t] ⊙ g[t] ⊙ σ′, ∂L/∂c[t] ⊙ c[t−1] ⊙ σ′, ∂L/∂c[t] ⊙ i[t] ⊙ tanh′, ∂L/∂h[t] ⊙
    tanh(c[t]) ⊙ σ′), each derivative at its gate's pre-activation."""

    def _sympystr(self, p):
        d = self._delta()
        return (f"[(dc[t] ⊙ g[t] ⊙ σ′(i), dc[t] ⊙ c[t−1] ⊙ σ′(f), dc[t] ⊙ i[t] ⊙ tanh′(g), "
                f"dh[t] ⊙ tanh(c[t]) ⊙ σ′(o))]ₜ₌T…₁,  dh[t] = {self._dh(p)},  "
                f"dc[t] = dh[t] ⊙ o[t] ⊙ tanh′(c[t]) + dc[t+1] ⊙ f[t+1],  "
                f"{d}[T+1] = dc[T+1] = 0,  gates of {at(p, self.Z, 't')} as in {p._print(self.S)}")

    def _latex(self, p):
        return (r"\left[\left(dc \odot g \odot \sigma'(i),\ dc \odot c[t-1] \odot \sigma'(f),"
                r"\ dc \odot i \odot \tanh'(g),\ dh \odot \tanh(c) \odot \sigma'(o)\right)[t]"
                rf"\right]_{{t=T}}^{{1}},\ dh[t] = {self._dh(p, True)},\ dc[t] = dh[t] \odot "
                r"o[t] \odot \tanh'(c[t]) + dc[t+1] \odot f[t+1]")

    def _numpycode(self, p):
        return self._call(p, self.G, False)

    def _call(self, p, G, last: bool, kept=None) -> str:
        """The call of the BPTT loop with ∂L/∂S = G (∂L/∂S[T] alone if `last`), from the gates
        and memories the forward loop `kept` (code text), or else recomputed from Z."""
        args = ", ".join(code(p, a) for a in (G, self.Z, self.Wh))
        return (f"{emit(p.context, '_lstm_backward')}({args}, {kept}, {self.recurrent}"
                + (", last=True)" if last else ")"))

    def _exact_value(self, ev, batch):
        G, Z, Wh = exact_blocks(ev(self.G), self.T), exact_blocks(ev(self.Z), self.T), ev(self.Wh)
        h = Wh.rows
        rows = G[0].rows
        gates, cells, c = [], [], sp.zeros(rows, h)
        for z in Z:
            i, f, g, o = _gates(z, h)
            c = sp.ImmutableMatrix(hadamard(f, c) + hadamard(i, g))
            gates.append((i, f, g, o))
            cells.append(c)
        dz, dc_next, out = sp.zeros(rows, 4 * h), sp.zeros(rows, h), []
        for t in reversed(range(self.T)):
            i, f, g, o = gates[t]
            zi, zf, zg, zo = (Z[t][:, k * h:(k + 1) * h] for k in range(4))
            dh = G[t] + (dz * Wh.T if self.recurrent else sp.zeros(rows, h))
            tc = mapped(cells[t], sp.tanh)
            dc = sp.ImmutableMatrix(hadamard(dh, o, entrywise(tanh_prime, cells[t], tc)) + dc_next)
            c_prev = cells[t - 1] if t else sp.zeros(rows, h)
            dsig = [entrywise(sigmoid_prime, *zv) for zv in ((zi, i), (zf, f), (zo, o))]
            dg = entrywise(tanh_prime, zg, g)
            dz = exact_join([hadamard(dc, g, dsig[0]), hadamard(dc, c_prev, dsig[1]),
                             hadamard(dc, i, dg), hadamard(dh, tc, dsig[2])])
            out.append(dz)
            dc_next = hadamard(dc, f)
        return exact_join(out[::-1])


__all__ = ["CELLS", "GATES", "LSTMBackward", "LSTMStates", "LoopBackward", "LoopStates",
           "RNNBackward", "Recurrence", "recurrent_code"]

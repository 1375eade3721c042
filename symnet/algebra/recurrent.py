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

from .gru import GRUHidden, GRUStates
from .matexpr import Elementwise
from .notation import display_name
from .sequence import AtTimeStep, SeqOp, at, code, exact_blocks, exact_join, latex_at

CELLS = ("rnn", "lstm")
# An LSTM's pre-activations hold four gates per unit, in PyTorch's order (i, f, g, o).
GATES = {"rnn": 1, "lstm": 4}


def _sigmoid(v):
    return 1 / (1 + sp.exp(-v))


def _map(M, fn):
    return sp.ImmutableMatrix(M.applyfunc(fn))


def _mul(*Ms):
    out = Ms[0]
    for M in Ms[1:]:
        out = out.multiply_elementwise(M)
    return sp.ImmutableMatrix(out)


def _tanh_prime(z, s):
    """tanh′(z) with s = tanh(z): 1 − s² exactly, but sech²(z) for a floating z (evaluation at
    50 digits), where 1 − s² would cancel to nothing once |z| ≳ 58 (tanh′ < 10⁻⁵⁰)."""
    return 1 / sp.cosh(z) ** 2 if isinstance(z, sp.Float) else 1 - s**2


def _one_minus(M):
    return sp.ImmutableMatrix(M.applyfunc(lambda v: 1 - v))


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
        the loop needed anyway instead of applying tanh (or the LSTM cell) to Z once more."""
        name = f"_{self.cell}_forward"
        p.context.define(name, FORWARD[self.cell])
        if self.cell == "lstm":
            p.context.helpers.add("_sigmoid")
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
                state = _map(z, sp.tanh)
            else:
                state, c = _lstm_step(z, c, h)
        return exact_join(out)


def _gates(z, h):
    """i, f, g, o of one step's pre-activations, exactly."""
    i, f, g, o = (z[:, k * h:(k + 1) * h] for k in range(4))
    return _map(i, _sigmoid), _map(f, _sigmoid), _map(g, sp.tanh), _map(o, _sigmoid)


def _lstm_step(z, c, h):
    i, f, g, o = _gates(z, h)
    c = sp.ImmutableMatrix(_mul(f, c) + _mul(i, g))
    return _mul(o, _map(c, sp.tanh)), c


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
        p.context.define("_lstm_states", LSTM_STATES)
        p.context.helpers.add("_sigmoid")
        return f"_lstm_states({p._print(self.Z)}, {self.T})"

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
    layer's S = cell(Z) read from the loop that computed Z (`LoopStates`), and an RNN's BPTT
    fed ∂L/∂S[T] alone where ∂L/∂S is zero at the other steps (`FromLastStep`). Printed
    forms and values are unchanged; only the code is cheaper."""
    return _loop_states(forward), _from_last_step(backward)


def _loop_states(equations) -> list:
    loops = {eq.lhs: eq.rhs for eq in equations if isinstance(eq.rhs, Recurrence | GRUHidden)}
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


class FromLastStep(SeqOp):
    """An RNN's δ = `backward` (RNNBackward) for code generation only, where its ∂L/∂S is
    [g if t = T, else 0]ₜ: printed as `backward`, computed from g alone (B, h) instead of a
    (B, T·h) array of zeros that each step would add."""

    def __new__(cls, backward, g):
        return super().__new__(cls, backward, g)

    backward, g = (property(lambda self, i=i: self.args[i]) for i in range(2))

    @property
    def shape(self):
        return self.backward.shape

    def _sympystr(self, p):
        return p._print(self.backward)

    def _latex(self, p):
        return p._print(self.backward)

    def _numpycode(self, p):
        return self.backward._call(p, self.g, True)

    def _exact_value(self, ev, batch):
        return ev(self.backward)


def _from_last_step(equations) -> list:
    """Each δ = RNNBackward(∂L/∂S, …) whose ∂L/∂S is defined as AtTimeStep(g, T, T) and used
    nowhere else becomes FromLastStep(δ, g), and ∂L/∂S's own equation is left out."""
    defined = {eq.lhs: eq.rhs for eq in equations}
    reads = Counter(s for eq in equations for s in eq.rhs.atoms(sp.MatrixSymbol))
    dropped, out = set(), []
    for eq in equations:
        rhs = eq.rhs
        G = getattr(rhs, "G", None) if isinstance(rhs, RNNBackward) else None
        at_last = defined.get(G)
        if isinstance(at_last, AtTimeStep) and at_last.t == at_last.T and reads[G] == 1:
            eq = replace(eq, rhs=FromLastStep(rhs, at_last.G))
            dropped.add(G)
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

    def _call(self, p, G, last: bool) -> str:
        p.context.define("_rnn_backward", RNN_BACKWARD)
        p.context.helpers.add("_sigmoid_prime")
        args = ", ".join(code(p, a) for a in (G, self.Z, self.S, self.Wh))
        return f"_rnn_backward({args}, {self.recurrent}" + (", last=True)" if last else ")")

    def _exact_value(self, ev, batch):
        G, S, Wh = exact_blocks(ev(self.G), self.T), exact_blocks(ev(self.S), self.T), ev(self.Wh)
        Z = exact_blocks(ev(self.Z), self.T)
        d = sp.zeros(G[0].rows, G[0].cols)
        out = []
        for t in reversed(range(self.T)):
            dh = G[t] + (d * Wh.T if self.recurrent else sp.zeros(*d.shape))
            z, s = Z[t], S[t]
            d = _mul(dh, sp.ImmutableMatrix(z.rows, z.cols,
                                            lambda i, j, z=z, s=s: _tanh_prime(z[i, j], s[i, j])))
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
        p.context.define("_lstm_backward", LSTM_BACKWARD)
        p.context.helpers.add("_sigmoid")
        args = ", ".join(code(p, a) for a in (self.G, self.Z, self.Wh))
        return f"_lstm_backward({args}, {self.recurrent})"

    def _exact_value(self, ev, batch):
        G, Z, Wh = exact_blocks(ev(self.G), self.T), exact_blocks(ev(self.Z), self.T), ev(self.Wh)
        h = Wh.rows
        rows = G[0].rows
        gates, cells, c = [], [], sp.zeros(rows, h)
        for z in Z:
            i, f, g, o = _gates(z, h)
            c = sp.ImmutableMatrix(_mul(f, c) + _mul(i, g))
            gates.append((i, f, g, o))
            cells.append(c)
        dz, dc_next, out = sp.zeros(rows, 4 * h), sp.zeros(rows, h), []
        for t in reversed(range(self.T)):
            i, f, g, o = gates[t]
            dh = G[t] + (dz * Wh.T if self.recurrent else sp.zeros(rows, h))
            tc = _map(cells[t], sp.tanh)
            dc = sp.ImmutableMatrix(_mul(dh, o, _one_minus(_mul(tc, tc))) + dc_next)
            c_prev = cells[t - 1] if t else sp.zeros(rows, h)
            dsig = [_mul(v, _one_minus(v)) for v in (i, f, o)]
            dz = exact_join([_mul(dc, g, dsig[0]), _mul(dc, c_prev, dsig[1]),
                             _mul(dc, i, _one_minus(_mul(g, g))), _mul(dh, tc, dsig[2])])
            out.append(dz)
            dc_next = _mul(dc, f)
        return exact_join(out[::-1])


# ── the generated module's loops (helper functions, emitted when used) ─────────────────────

FORWARD = {
    "rnn": '''\
def _rnn_forward(X, Wx, Wh, b):
    """(Z, S): Z[t] = X[t] Wx + S[t−1] Wh + b and S[t] = tanh(Z[t]) for t = 1…T, S[0] = 0:
    every step's input term in one product, then one loop over time, each step vectorized
    over the batch. S is returned too: it is the layer's output, and tanh is the costly part."""
    n, h = Wx.shape
    B, T = X.shape[0], X.shape[1] // n
    Z = (X.reshape(B * T, n) @ Wx + b).reshape(B, T, h)
    S = np.empty_like(Z)
    s = S[:, 0] = np.tanh(Z[:, 0])
    for t in range(1, T):
        z = s @ Wh
        z += Z[:, t]
        Z[:, t] = z
        s = S[:, t] = np.tanh(z)  # of a contiguous z: NumPy's SIMD tanh needs one
    return Z.reshape(B, T * h), S.reshape(B, T * h)
''',
    "lstm": '''\
def _lstm_forward(X, Wx, Wh, b):
    """(Z, S): Z[t] = X[t] Wx + S[t−1] Wh + b, S[t] = o ⊙ tanh(c[t]), c[t] = f ⊙ c[t−1] +
    i ⊙ g with (i, f, g, o) = (σ, σ, tanh, σ)(Z[t]) (PyTorch's gate order): one loop over
    time, the states returned with the pre-activations."""
    n, h4 = Wx.shape
    h = h4 // 4
    B, T = X.shape[0], X.shape[1] // n
    Z = (X.reshape(B * T, n) @ Wx + b).reshape(B, T, h4)
    S = np.empty((B, T, h), dtype=Z.dtype)
    c = np.zeros((B, h), dtype=Z.dtype)
    for t in range(T):
        if t:
            Z[:, t] += S[:, t - 1] @ Wh
        z = Z[:, t]
        c = _sigmoid(z[:, h:2 * h]) * c + _sigmoid(z[:, :h]) * np.tanh(z[:, 2 * h:3 * h])
        S[:, t] = _sigmoid(z[:, 3 * h:]) * np.tanh(c)
    return Z.reshape(B, T * h4), S.reshape(B, T * h)
''',
}

LSTM_STATES = '''\
def _lstm_states(Z, T):
    """S[t] = o[t] ⊙ tanh(c[t]) from the gate pre-activations Z (one loop over time)."""
    B, h = Z.shape[0], Z.shape[1] // (4 * T)
    Z = Z.reshape(B, T, 4 * h)
    I, F, O = _sigmoid(Z[..., :h]), _sigmoid(Z[..., h:2 * h]), _sigmoid(Z[..., 3 * h:])
    Gg = np.tanh(Z[..., 2 * h:3 * h])
    S = np.empty((B, T, h), dtype=Z.dtype)
    c = np.zeros((B, h), dtype=Z.dtype)
    for t in range(T):
        c = F[:, t] * c + I[:, t] * Gg[:, t]
        S[:, t] = O[:, t] * np.tanh(c)
    return S.reshape(B, T * h)
'''

RNN_BACKWARD = '''\
def _rnn_backward(G, Z, S, Wh, recurrent=True, last=False):
    """δ[t] = (G[t] + δ[t+1] Whᵀ) ⊙ tanh′(Z[t]) for t = T…1, δ[T+1] = 0: backpropagation
    through time, one loop, each step vectorized over the batch and written in place into
    the array of tanh′ (three NumPy calls a step: at small sizes their overhead is the cost).
    G = ∂L/∂S, or with last=True ∂L/∂S[T] alone (B, h), the other steps' being 0 (a layer
    that returns its last state): then no zeros are made or added.
    tanh′ is 1 − S[t]² from the states, except where that cancels (|S| near 1, where S is
    rounded and 1 − S² loses its digits, 0 once tanh rounds to ±1): there it is 4σ′(2Z), the
    form symnet's tanh′ takes elsewhere."""
    h = Wh.shape[0]
    B, T = S.shape[0], S.shape[1] // h
    shape = (B, h) if last else S.shape
    if np.shape(G) != shape:
        G = np.broadcast_to(G, shape)
    if not last:
        G = G.reshape(B, T, h)
    G_T = G if last else G[:, T - 1]
    D = S.reshape(B, T, h) ** 2
    np.subtract(1, D, out=D)
    # S² is within a few roundings of tanh(Z)² (tanh's own and the square's), so where
    # 1 − S² ≥ 1/16 it is tanh′ to within ~100 roundings relatively (6e-6 in float32, 2e-14
    # in float64: tests/test_recurrent.py measures it); below 1/16 it is computed from Z.
    steep = D < 0.0625
    if steep.any():
        D[steep] = 4 * _sigmoid_prime(2 * Z.reshape(B, T, h)[steep])
    d = np.multiply(G_T, D[:, T - 1], out=D[:, T - 1])
    if not recurrent:  # a mutant's BPTT without δ[t+1] Whᵀ: each step only its own G[t]
        if last:
            D[:, :T - 1] = 0
        else:
            D[:, :T - 1] *= G[:, :T - 1]
        return D.reshape(B, T * h)
    for t in range(T - 2, -1, -1):
        e = d @ Wh.T
        if not last:
            e += G[:, t]
        d = np.multiply(e, D[:, t], out=D[:, t])
    return D.reshape(B, T * h)
'''

LSTM_BACKWARD = '''\
def _lstm_backward(G, Z, Wh, recurrent=True):
    """δ[t] of an LSTM for t = T…1 from G = ∂L/∂S: dh = G[t] + δ[t+1] Whᵀ, dc = dh ⊙ o ⊙
    (1 − tanh²c[t]) + dc[t+1] ⊙ f[t+1], then each gate's derivative (one loop over time)."""
    h = Wh.shape[0]
    B, T = Z.shape[0], Z.shape[1] // (4 * h)
    Z = Z.reshape(B, T, 4 * h)
    G = np.broadcast_to(G, (B, T * h)).reshape(B, T, h)
    I, F, O = _sigmoid(Z[..., :h]), _sigmoid(Z[..., h:2 * h]), _sigmoid(Z[..., 3 * h:])
    Gg = np.tanh(Z[..., 2 * h:3 * h])
    C = np.empty((B, T, h), dtype=Z.dtype)
    c = np.zeros((B, h), dtype=Z.dtype)
    for t in range(T):
        c = C[:, t] = F[:, t] * c + I[:, t] * Gg[:, t]
    D = np.empty_like(Z)
    dz = np.zeros((B, 4 * h), dtype=Z.dtype)
    dc_next = np.zeros((B, h), dtype=Z.dtype)
    for t in range(T - 1, -1, -1):
        dh = G[:, t] + dz @ Wh.T if recurrent else G[:, t]
        tc = np.tanh(C[:, t])
        dc = dh * O[:, t] * (1 - tc * tc) + dc_next
        c_prev = C[:, t - 1] if t else 0
        i, f, g, o = I[:, t], F[:, t], Gg[:, t], O[:, t]
        dz = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                             dc * i * (1 - g * g), dh * tc * o * (1 - o)], axis=1)
        D[:, t] = dz
        dc_next = dc * f
    return D.reshape(B, T * 4 * h)
'''

__all__ = ["CELLS", "GATES", "FromLastStep", "LSTMBackward", "LSTMStates", "LoopStates",
           "RNNBackward", "Recurrence", "recurrent_code"]

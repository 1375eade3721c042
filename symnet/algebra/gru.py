"""The GRU (PyTorch's nn.GRU cell) and its backpropagation through time.

A GRU layer k is three steps on the tape (`symnet.nn.recurrent.GRU`), PyTorch's own split of
the pre-activations into an input part and a hidden part (the hidden part of n is gated by r,
so the two cannot be summed as an RNN's or LSTM's are):

    Zk = [X[t] Wxk + 𝟙bkᵀ]ₜ                            `StepDense`: the input part, (B, T·3h)
    Hk = [Sk[t−1] Whk + 𝟙bhkᵀ]ₜ,  Sk[0] = 0            `GRUHidden`: the hidden part, (B, T·3h)
    Sk = [(1 − u[t]) ⊙ n[t] + u[t] ⊙ Sk[t−1]]ₜ          `GRUStates`, the states, (B, T·h)

with the gates r = σ(Zᵣ + Hᵣ), u = σ(Z_z + H_z) (PyTorch's z; u here, as Z names the
pre-activations) and n = tanh(Zₙ + r ⊙ Hₙ), the 3h columns of each step in PyTorch's order
(r, z, n). Zk's VJP is a dense layer's summed over time; Hk's (with δHk = ∂L/∂Hk, every later
step included) gives ∂L/∂Whk = Σₜ Sk[t−1]ᵀ δHk[t] and ∂L/∂bhk = Σₜ δHk[t]ᵀ𝟙; Sk's VJP runs
backwards in time (`GRUBackward`), from ∂L/∂h[t] = ∂L/∂Sk[t] + δHk[t+1] Whkᵀ + ∂L/∂h[t+1] ⊙
u[t+1] (through Whk, and directly through the update gate):

    dn = ∂L/∂h ⊙ (1 − u) ⊙ tanh′,  du = ∂L/∂h ⊙ (Sk[t−1] − n) ⊙ σ′,  dr = dn ⊙ Hₙ ⊙ σ′,
    δZk[t] = (dr, du, dn),  δHk[t] = (dr, du, dn ⊙ r).

Generated code (`loops.py`): Hk's loop computes the states too (`recurrent.LoopStates` takes
them) and keeps the gates, from which the one backward loop gives δZk and δHk together
(`recurrent.LoopBackward`).
"""

from __future__ import annotations

import sympy as sp

from .cells import complement, entrywise, hadamard, mapped, sigmoid, sigmoid_prime, tanh_prime
from .loops import emit
from .notation import display_name
from .sequence import SeqOp, at, code, exact_blocks, exact_join, exact_matmul, latex_at


def _thirds(M, h):
    return [M[:, k * h:(k + 1) * h] for k in range(3)]


def _cell(z, hid, s, h):
    """(r, u, n, s′, (r, u, n)'s pre-activations, 1 − u) of one step, exactly: z and hid the
    step's input and hidden parts (1 − u as σ(−·) at a working precision, `cells`)."""
    (zr, zu, zn), (hr, hu, hn) = _thirds(z, h), _thirds(hid, h)
    pre_r, pre_u = sp.ImmutableMatrix(zr + hr), sp.ImmutableMatrix(zu + hu)
    r, u = mapped(pre_r, sigmoid), mapped(pre_u, sigmoid)
    pre_n = sp.ImmutableMatrix(zn + hadamard(r, hn))
    n = mapped(pre_n, sp.tanh)
    ubar = entrywise(complement, pre_u, u)
    return (r, u, n, sp.ImmutableMatrix(hadamard(ubar, n) + hadamard(u, s)),
            (pre_r, pre_u, pre_n), ubar)


class StepDense(SeqOp):
    """[X[t] W + 𝟙bᵀ]ₜ: a dense layer applied at every step (a GRU's input part)."""

    def __new__(cls, X, W, b, T: int):
        return super().__new__(cls, X, W, b, T)

    X, W, b = (property(lambda self, i=i: self.args[i]) for i in range(3))
    T = property(lambda self: self._int(3))

    @property
    def shape(self):
        return (self.X.shape[0], self.T * self.W.shape[1])

    def _sympystr(self, p):
        return f"[{at(p, self.X, 't')} {p._print(self.W)} + 𝟙{p._print(self.b)}ᵀ]ₜ"

    def _latex(self, p):
        return (rf"\left[{latex_at(p, self.X, 't')} {p._print(self.W)} + \mathbb{{1}} "
                rf"{p._print(self.b)}^{{\top}}\right]_{{t}}")

    def _numpycode(self, p):
        n, m = (int(d) for d in self.W.shape)
        X = code(p, self.X)
        return (f"({X}.reshape(-1, {n}) @ {code(p, self.W)} + {code(p, self.b)})"
                f".reshape({X}.shape[0], {self.T * m})")

    def _exact_value(self, ev, batch):
        W, b = ev(self.W), ev(self.b)
        X = ev(self.X)
        bias = sp.ones(X.rows, 1) * b.T
        return exact_join([x * W + bias for x in exact_blocks(X, self.T)])


class GRUHidden(SeqOp):
    """H = [S[t−1] Wh + 𝟙bhᵀ]ₜ, S[0] = 0, S the GRU's states of input part Z: the hidden
    part of every step, computed by running the cell forward. `names`: H's and S's."""

    def __new__(cls, Z, Wh, bh, T: int, H: str, S: str):
        return super().__new__(cls, Z, Wh, bh, T, H, S)

    Z, Wh, bh = (property(lambda self, i=i: self.args[i]) for i in range(3))
    T = property(lambda self: self._int(3))
    cell = "gru"

    @property
    def shape(self):
        return self.Z.shape

    def _sympystr(self, p):
        S = display_name(self._str(5))
        return f"[{S}[t−1] {p._print(self.Wh)} + 𝟙{p._print(self.bh)}ᵀ]ₜ,  {S}[0] = 0"

    def _latex(self, p):
        S = display_name(self._str(5))
        return (rf"\left[{S}[t-1] {p._print(self.Wh)} + \mathbb{{1}} {p._print(self.bh)}"
                rf"^{{\top}}\right]_{{t}},\ {S}[0] = 0")

    def loop(self, p) -> str:
        """The temporary holding (H, S, kept) from the generated forward loop (see
        `recurrent.Recurrence.loop`): S's code takes [1], BPTT's the gates kept, [2]."""
        args = ", ".join(code(p, a) for a in (self.Z, self.Wh, self.bh))
        return p.block.let(f"{emit(p.context, '_gru_forward')}({args})", f"{self._str(4)}_loop")

    def _numpycode(self, p):
        return f"{self.loop(p)}[0]"

    def _exact_value(self, ev, batch):
        Wh, bh = ev(self.Wh), ev(self.bh)
        zs = exact_blocks(ev(self.Z), self.T)
        h = Wh.rows
        bias = sp.ones(zs[0].rows, 1) * bh.T
        s, out = sp.zeros(zs[0].rows, h), []
        for z in zs:
            hid = sp.ImmutableMatrix(s * Wh + bias)
            out.append(hid)
            s = _cell(z, hid, s, h)[3]
        return exact_join(out)


class GRUStates(SeqOp):
    """S = [(1 − u[t]) ⊙ n[t] + u[t] ⊙ S[t−1]]ₜ, S[0] = 0, from the input and hidden parts Z
    and H: r = σ(Zᵣ + Hᵣ), u = σ(Z_z + H_z), n = tanh(Zₙ + r ⊙ Hₙ) (PyTorch's GRU cell)."""

    def __new__(cls, Z, H, T: int):
        return super().__new__(cls, Z, H, T)

    Z, H = (property(lambda self, i=i: self.args[i]) for i in range(2))
    T = property(lambda self: self._int(2))

    @property
    def shape(self):
        return (self.Z.shape[0], self.Z.shape[1] // 3)

    def _gates(self, p, latex=False):
        z, hid = ((latex_at if latex else at)(p, M, "t") for M in (self.Z, self.H))
        if latex:
            return (rf"(r, u)[t] = \sigma({z} + {hid})_{{r, z}},\ n[t] = \tanh({z}_n + r[t] "
                    rf"\odot {hid}_n)")
        return f"(r, u)[t] = σ({z} + {hid})ᵣ,z,  n[t] = tanh({z}ₙ + r[t] ⊙ {hid}ₙ)"

    def _sympystr(self, p):
        return f"[(1 − u[t]) ⊙ n[t] + u[t] ⊙ h[t−1]]ₜ,  {self._gates(p)},  h[0] = 0"

    def _latex(self, p):
        return (r"\left[(1 - u[t]) \odot n[t] + u[t] \odot h[t-1]\right]_{t},\ "
                rf"{self._gates(p, True)},\ h[0] = 0")

    def _numpycode(self, p):
        return f"{emit(p.context, '_gru_states')}({code(p, self.Z)}, {code(p, self.H)})"

    def _exact_value(self, ev, batch):
        zs, hs = exact_blocks(ev(self.Z), self.T), exact_blocks(ev(self.H), self.T)
        h = zs[0].cols // 3
        s, out = sp.zeros(zs[0].rows, h), []
        for z, hid in zip(zs, hs):
            s = _cell(z, hid, s, h)[3]
            out.append(s)
        return exact_join(out)


class GRUBackward(SeqOp):
    """δZ (part 0) or δH (part 1) of a GRU from G = ∂L/∂S, backwards in time; see the module
    docstring. `recurrent` is 1; a mutant sets it to 0 to drop both recurrent paths (δH[t+1]
    Whᵀ and ∂L/∂h[t+1] ⊙ u[t+1]): each step's gradient only from its own output."""

    def __new__(cls, G, Z, H, S, Wh, T: int, part: int, recurrent: int = 1):
        return super().__new__(cls, G, Z, H, S, Wh, T, part, recurrent)

    G, Z, H, S, Wh = (property(lambda self, i=i: self.args[i]) for i in range(5))
    T = property(lambda self: self._int(5))
    part = property(lambda self: self._int(6))
    recurrent = property(lambda self: bool(self._int(7)))

    @property
    def shape(self):
        return self.Z.shape

    def _dh(self, p, latex=False):
        G = (latex_at if latex else at)(p, self.G, "t")
        if not self.recurrent:
            return G
        name = display_name(self.H.name)
        dH = rf"\partial L/\partial {name}" if latex else f"∂L/∂{name}"
        Wh = p._print(sp.Transpose(self.Wh))
        return (rf"{G} + {dH}[t+1] {Wh} + dh[t+1] \odot u[t+1]" if latex
                else f"{G} + {dH}[t+1] {Wh} + dh[t+1] ⊙ u[t+1]")

    def _sympystr(self, p):
        last = "dn" if self.part == 0 else "dn ⊙ r"
        return (f"[(dr, du, {last})[t]]ₜ₌T…₁,  dh[t] = {self._dh(p)},  dn = dh ⊙ (1 − u) ⊙ "
                f"tanh′,  du = dh ⊙ (h[t−1] − n) ⊙ σ′,  dr = dn ⊙ {at(p, self.H, 't')}ₙ ⊙ σ′,  "
                f"gates as in S")

    def _latex(self, p):
        last = "dn" if self.part == 0 else r"dn \odot r"
        return (rf"\left[(dr, du, {last})[t]\right]_{{t=T}}^{{1}},\ dh[t] = {self._dh(p, True)}"
                r",\ dn = dh \odot (1 - u) \odot \tanh',\ du = dh \odot (h[t-1] - n) \odot "
                rf"\sigma',\ dr = dn \odot {latex_at(p, self.H, 't')}_n \odot \sigma'")

    def _numpycode(self, p):
        return self._call(p, self.G, False)

    def _call(self, p, G, last: bool, kept=None) -> str:
        """The call of the BPTT loop with ∂L/∂S = G (∂L/∂S[T] alone if `last`), from the gates
        the forward loop `kept` (code text), or else recomputed from Z and H."""
        args = ", ".join(code(p, a) for a in (G, self.Z, self.H, self.S, self.Wh))
        call = (f"{emit(p.context, '_gru_backward')}({args}, {kept}, {self.recurrent}"
                + (", last=True)" if last else ")"))
        # one loop gives both parts: δZ's and δH's code share the temporary (Block.let)
        return f"{p.block.let(call, f'd{self.S.name}_loop')}[{self.part}]"

    def _exact_value(self, ev, batch):
        T = self.T
        G, Z, H, S = (exact_blocks(ev(a), T) for a in (self.G, self.Z, self.H, self.S))
        Wh = ev(self.Wh)
        rows, h = G[0].rows, Wh.rows
        out = []
        dH_next, carry = sp.zeros(rows, 3 * h), sp.zeros(rows, h)
        for t in reversed(range(T)):
            s_prev = S[t - 1] if t else sp.zeros(rows, h)
            r, u, n, _, (pre_r, pre_u, pre_n), ubar = _cell(Z[t], H[t], s_prev, h)
            dh = G[t] + (exact_matmul(dH_next, Wh.T) + carry if self.recurrent
                         else sp.zeros(rows, h))
            dn = hadamard(dh, ubar, entrywise(tanh_prime, pre_n, n))
            du = hadamard(dh, sp.ImmutableMatrix(s_prev - n), entrywise(sigmoid_prime, pre_u, u))
            dr = hadamard(dn, _thirds(H[t], h)[2], entrywise(sigmoid_prime, pre_r, r))
            dH_next = exact_join([dr, du, hadamard(dn, r)])
            out.append(exact_join([dr, du, dn]) if self.part == 0 else dH_next)
            carry = hadamard(dh, u)
        return exact_join(out[::-1])


__all__ = ["GRUBackward", "GRUHidden", "GRUStates", "StepDense"]

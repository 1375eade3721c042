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

Generated code: Hk's loop computes the states too (`recurrent.LoopStates` takes them), and the
one backward loop gives δZk and δHk together.
"""

from __future__ import annotations

import sympy as sp

from .notation import display_name
from .sequence import SeqOp, at, code, exact_blocks, exact_join, exact_matmul, latex_at


def _sigmoid(v):
    return 1 / (1 + sp.exp(-v))


def _map(M, fn):
    return sp.ImmutableMatrix(M.applyfunc(fn))


def _mul(*Ms):
    out = Ms[0]
    for M in Ms[1:]:
        out = out.multiply_elementwise(M)
    return sp.ImmutableMatrix(out)


def _one_minus(M):
    return sp.ImmutableMatrix(M.applyfunc(lambda v: 1 - v))


def _thirds(M, h):
    return [M[:, k * h:(k + 1) * h] for k in range(3)]


def _cell(z, hid, s, h):
    """(r, u, n, s′) of one step, exactly: z and hid the step's input and hidden parts."""
    (zr, zu, zn), (hr, hu, hn) = _thirds(z, h), _thirds(hid, h)
    r, u = _map(zr + hr, _sigmoid), _map(zu + hu, _sigmoid)
    n = _map(zn + _mul(r, hn), sp.tanh)
    return r, u, n, sp.ImmutableMatrix(_mul(_one_minus(u), n) + _mul(u, s))


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
        """The temporary holding (H, S) from the generated forward loop (see
        `recurrent.Recurrence.loop`): S's code takes [1]."""
        p.context.define("_gru_forward", GRU_FORWARD)
        p.context.helpers.add("_sigmoid")
        args = ", ".join(code(p, a) for a in (self.Z, self.Wh, self.bh))
        return p.block.let(f"_gru_forward({args})", f"{self._str(4)}_loop")

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
        p.context.define("_gru_states", GRU_STATES)
        p.context.helpers.add("_sigmoid")
        return f"_gru_states({code(p, self.Z)}, {code(p, self.H)})"

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
        p.context.define("_gru_backward", GRU_BACKWARD)
        p.context.helpers.add("_sigmoid")
        args = ", ".join(code(p, a) for a in (self.G, self.Z, self.H, self.S, self.Wh))
        # one loop gives both parts: δZ's and δH's code share the temporary (Block.let)
        pair = p.block.let(f"_gru_backward({args}, {self.recurrent})",
                           f"d{self.S.name}_loop")
        return f"{pair}[{self.part}]"

    def _exact_value(self, ev, batch):
        T = self.T
        G, Z, H, S = (exact_blocks(ev(a), T) for a in (self.G, self.Z, self.H, self.S))
        Wh = ev(self.Wh)
        rows, h = G[0].rows, Wh.rows
        out = []
        dH_next, carry = sp.zeros(rows, 3 * h), sp.zeros(rows, h)
        for t in reversed(range(T)):
            s_prev = S[t - 1] if t else sp.zeros(rows, h)
            r, u, n, _ = _cell(Z[t], H[t], s_prev, h)
            dh = G[t] + (exact_matmul(dH_next, Wh.T) + carry if self.recurrent
                         else sp.zeros(rows, h))
            dn = _mul(dh, _one_minus(u), _one_minus(_mul(n, n)))
            du = _mul(dh, sp.ImmutableMatrix(s_prev - n), u, _one_minus(u))
            dr = _mul(dn, _thirds(H[t], h)[2], r, _one_minus(r))
            dH_next = exact_join([dr, du, _mul(dn, r)])
            out.append(exact_join([dr, du, dn]) if self.part == 0 else dH_next)
            carry = _mul(dh, u)
        return exact_join(out[::-1])


# ── the generated module's loops ───────────────────────────────────────────────────────────

GRU_FORWARD = '''\
def _gru_forward(Z, Wh, bh):
    """(H, S): H[t] = S[t−1] Wh + bh and S[t] = (1 − u) ⊙ n + u ⊙ S[t−1] with r = σ(Zr + Hr),
    u = σ(Zz + Hz), n = tanh(Zn + r ⊙ Hn) (PyTorch's GRU), S[0] = 0: one loop over time."""
    h = Wh.shape[0]
    B, T = Z.shape[0], Z.shape[1] // (3 * h)
    Z = Z.reshape(B, T, 3 * h)
    H = np.empty_like(Z)
    S = np.empty((B, T, h), dtype=Z.dtype)
    s = np.zeros((B, h), dtype=Z.dtype)
    for t in range(T):
        Ht = H[:, t] = s @ Wh + bh
        z = Z[:, t]
        r = _sigmoid(z[:, :h] + Ht[:, :h])
        u = _sigmoid(z[:, h:2 * h] + Ht[:, h:2 * h])
        n = np.tanh(z[:, 2 * h:] + r * Ht[:, 2 * h:])
        s = S[:, t] = (1 - u) * n + u * s
    return H.reshape(B, T * 3 * h), S.reshape(B, T * h)
'''

GRU_STATES = '''\
def _gru_states(Z, H):
    """S from the input and hidden parts Z, H of a GRU (one loop over time)."""
    B, h = Z.shape[0], H.shape[1] // 3
    T = Z.shape[1] // (3 * h)
    Z, H = Z.reshape(B, T, 3 * h), H.reshape(B, T, 3 * h)
    R = _sigmoid(Z[..., :h] + H[..., :h])
    U = _sigmoid(Z[..., h:2 * h] + H[..., h:2 * h])
    N = np.tanh(Z[..., 2 * h:] + R * H[..., 2 * h:])
    S = np.empty((B, T, h), dtype=Z.dtype)
    s = np.zeros((B, h), dtype=Z.dtype)
    for t in range(T):
        s = S[:, t] = (1 - U[:, t]) * N[:, t] + U[:, t] * s
    return S.reshape(B, T * h)
'''

GRU_BACKWARD = '''\
def _gru_backward(G, Z, H, S, Wh, recurrent=True):
    """(δZ, δH) of a GRU for t = T…1 from G = ∂L/∂S: dh = G[t] + δH[t+1] Whᵀ + dh[t+1] ⊙
    u[t+1], then dn = dh ⊙ (1 − u) ⊙ (1 − n²), du = dh ⊙ (S[t−1] − n) ⊙ u(1 − u), dr = dn ⊙
    Hn ⊙ r(1 − r); δZ[t] = (dr, du, dn), δH[t] = (dr, du, dn ⊙ r). One loop over time."""
    h = Wh.shape[0]
    B, T = S.shape[0], S.shape[1] // h
    G = np.broadcast_to(G, S.shape).reshape(B, T, h)
    Z, H, S = Z.reshape(B, T, 3 * h), H.reshape(B, T, 3 * h), S.reshape(B, T, h)
    R = _sigmoid(Z[..., :h] + H[..., :h])
    U = _sigmoid(Z[..., h:2 * h] + H[..., h:2 * h])
    N = np.tanh(Z[..., 2 * h:] + R * H[..., 2 * h:])
    DZ, DH = np.empty_like(Z), np.empty_like(H)
    dH = np.zeros((B, 3 * h), dtype=Z.dtype)
    carry = np.zeros((B, h), dtype=Z.dtype)
    for t in range(T - 1, -1, -1):
        dh = G[:, t] + dH @ Wh.T + carry if recurrent else G[:, t]
        r, u, n = R[:, t], U[:, t], N[:, t]
        s_prev = S[:, t - 1] if t else 0
        dn = dh * (1 - u) * (1 - n * n)
        DZ[:, t, :h] = DH[:, t, :h] = dn * H[:, t, 2 * h:] * r * (1 - r)
        DZ[:, t, h:2 * h] = DH[:, t, h:2 * h] = dh * (s_prev - n) * u * (1 - u)
        DZ[:, t, 2 * h:] = dn
        DH[:, t, 2 * h:] = dn * r
        dH = DH[:, t]
        carry = dh * u
    return DZ.reshape(B, T * 3 * h), DH.reshape(B, T * 3 * h)
'''

__all__ = ["GRUBackward", "GRUHidden", "GRUStates", "StepDense"]

"""The loops over time of the generated modules, as source text: one helper function each,
emitted by the recurrent nodes (`recurrent`, `gru`) when a network uses them.

Each forward loop returns the pre-activations and the states, and (LSTM, GRU) what
backpropagation through time needs besides: every gate's value σ(z) (tanh(z) for g and n),
σ(−z) = 1 − σ(z) computed as itself, and an LSTM's memories c and tanh(c). BPTT then applies no
σ or tanh again (they are most of a step's cost in NumPy), and its derivatives need no
subtraction that cancels:

    σ′(z) = σ(z) σ(−z)             accurate everywhere (y·(1 − y) is 0 once y rounds to 1, where
                                   σ′(z) ≈ e^(−z): relative accuracy lost from y ≈ 15/16 on)
    tanh′(z) = 1 − tanh(z)²        where that is ≥ 1/16, else 4σ′(2z) from z (as the RNN's)

`_sigmoids` computes σ(z) and σ(−z) from one exponential, e = e^z clipped below overflow:
σ(−z) = 1/(1 + e), σ(z) = e·σ(−z), each within a few roundings of its value relatively (the clip
at ⌊ln max⌋ only changes σ(−z) where it is below the least normal number anyway). The derivation
prints σ′ = σ(1 − σ) and tanh′ = 1 − tanh²: these are the same functions, computed without
cancellation (`codegen/stable.py` does the same for element-wise formulas).
"""

SIGMOIDS = '''\
def _sigmoids(a, y, ybar):
    """σ(a) into y and σ(−a) = 1 − σ(a) into ybar, both accurate relatively (1 − σ(a) would
    cancel to 0 where σ(a) rounds to 1), from one exponential: e = e^a, clipped at ⌊ln max⌋ where
    σ(−a) < e^(−⌊ln max⌋) is below the least normal float anyway; σ(−a) = 1/(1 + e), σ(a) =
    e·σ(−a). `y` may be `a` itself."""
    np.minimum(a, 88.0 if a.dtype == np.float32 else 709.0, out=y)
    np.exp(y, out=y)
    np.add(y, 1, out=ybar)
    np.reciprocal(ybar, out=ybar)
    np.multiply(y, ybar, out=y)
'''

# ── RNN ────────────────────────────────────────────────────────────────────────────────────

RNN_FORWARD = '''\
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

# ── LSTM ───────────────────────────────────────────────────────────────────────────────────
# Kept for BPTT, time-major with one block per gate (each step's (B, h) slices contiguous: NumPy
# runs a strided slice row by row, 3–5× slower on cheap operations): A (T, 4, B, h) the gates
# (i, f, g, o), Abar (T, 3, B, h) σ(−z) of i, f, o, C and TC (T, B, h) the memories and tanh(c).

LSTM_FORWARD = '''\
def _lstm_forward(X, Wx, Wh, b):
    """(Z, S, kept): Z[t] = X[t] Wx + S[t−1] Wh + b, S[t] = o ⊙ tanh(c[t]), c[t] = f ⊙ c[t−1] +
    i ⊙ g with (i, f, g, o) = (σ, σ, tanh, σ)(Z[t]) (PyTorch's gate order): one loop over time,
    each gate computed in its own contiguous block. kept = (A, Abar, C, TC) for BPTT."""
    n, h4 = Wx.shape
    h = h4 // 4
    B, T = X.shape[0], X.shape[1] // n
    Z = (X.reshape(B * T, n) @ Wx + b).reshape(B, T, 4, h)
    Wh4 = Wh.reshape(h, 4, h).transpose(1, 0, 2)  # (4, h, h): each gate's columns
    A, Abar = np.empty((T, 4, B, h), dtype=Z.dtype), np.empty((T, 3, B, h), dtype=Z.dtype)
    C, TC = np.empty((T, B, h), dtype=Z.dtype), np.empty((T, B, h), dtype=Z.dtype)
    S = np.empty((B, T, h), dtype=Z.dtype)
    for t in range(T):
        z = Z[:, t].transpose(1, 0, 2)  # (4, B, h)
        if t:
            z = np.matmul(s, Wh4)
            z += Z[:, t].transpose(1, 0, 2)
            Z[:, t] = z.transpose(1, 0, 2)
        a, abar = A[t], Abar[t]
        _sigmoids(z[:2], a[:2], abar[:2])  # i, f
        _sigmoids(z[3], a[3], abar[2])  # o
        np.tanh(z[2], out=a[2])
        c = np.multiply(a[0], a[2], out=C[t])
        if t:
            c += a[1] * C[t - 1]
        s = a[3] * np.tanh(c, out=TC[t])
        S[:, t] = s
    return Z.reshape(B, T * h4), S.reshape(B, T * h), (A, Abar, C, TC)
'''

LSTM_CELLS = '''\
def _lstm_cells(Z, h):
    """What `_lstm_forward` keeps for BPTT, (A, Abar, C, TC), from the pre-activations Z alone:
    the gates of every step at once, then one loop over time for the memories."""
    B, T = Z.shape[0], Z.shape[1] // (4 * h)
    Z = Z.reshape(B, T, 4, h).transpose(1, 2, 0, 3)  # (T, 4, B, h)
    A, Abar = np.empty((T, 4, B, h), dtype=Z.dtype), np.empty((T, 3, B, h), dtype=Z.dtype)
    _sigmoids(Z[:, :2], A[:, :2], Abar[:, :2])
    _sigmoids(Z[:, 3], A[:, 3], Abar[:, 2])
    np.tanh(Z[:, 2], out=A[:, 2])
    C = np.empty((T, B, h), dtype=Z.dtype)
    for t in range(T):
        np.multiply(A[t, 0], A[t, 2], out=C[t])
        if t:
            C[t] += A[t, 1] * C[t - 1]
    return A, Abar, C, np.tanh(C)
'''

LSTM_STATES = '''\
def _lstm_states(Z, T):
    """S[t] = o[t] ⊙ tanh(c[t]) from the gate pre-activations Z (one loop over time)."""
    B, h = Z.shape[0], Z.shape[1] // (4 * T)
    A, _, _, TC = _lstm_cells(Z, h)
    return (A[:, 3] * TC).transpose(1, 0, 2).reshape(B, T * h)
'''

LSTM_BACKWARD = '''\
def _lstm_backward(G, Z, Wh, kept=None, recurrent=True, last=False):
    """δ[t] of an LSTM for t = T…1 from G = ∂L/∂S (with last=True ∂L/∂S[T] alone, (B, h), the
    other steps' being 0) and what the forward loop kept (`_lstm_forward`; computed from Z when
    None): dh = G[t] + δ[t+1] Whᵀ, dc = dh ⊙ o ⊙ tanh′(c[t]) + dc[t+1] ⊙ f[t+1], and
    δ[t] = (dc ⊙ g ⊙ σ′(i), dc ⊙ c[t−1] ⊙ σ′(f), dc ⊙ i ⊙ tanh′(g), dh ⊙ tanh(c[t]) ⊙ σ′(o)),
    one loop over time on contiguous (B, h) blocks. σ′ = σ(z)σ(−z); tanh′ = 1 − y² where that
    is ≥ 1/16, else 4σ′(2z) (`_tanh_prime`)."""
    h = Wh.shape[0]
    B, T = Z.shape[0], Z.shape[1] // (4 * h)
    A, Abar, C, TC = kept if kept is not None else _lstm_cells(Z, h)
    Zg = Z.reshape(B, T, 4, h)[:, :, 2]  # g's pre-activations, where 1 − g² cancels
    shape = (B, h) if last else (B, T * h)
    if np.shape(G) != shape:
        G = np.broadcast_to(G, shape)
    if not last:
        G = G.reshape(B, T, h)
    D = np.empty((B, T, 4, h), dtype=Z.dtype)
    x = np.empty((B, h), dtype=Z.dtype)
    for t in range(T - 1, -1, -1):
        if t == T - 1:
            dh = G if last else G[:, t]
        elif recurrent:
            dh = D[:, t + 1].reshape(B, 4 * h) @ Wh.T
            if not last:
                dh += G[:, t]
        else:  # a mutant's BPTT without δ[t+1] Whᵀ
            dh = np.zeros_like(x) if last else G[:, t]
        (i, f, g, o), (ibar, fbar, obar), tc, d = A[t], Abar[t], TC[t], D[:, t]
        dc = dh * o
        dc *= _tanh_prime(tc, lambda m: C[t][m])
        if t < T - 1:
            dc += dcf
        np.multiply(dh, tc, out=x)
        x *= o
        np.multiply(x, obar, out=d[:, 3])
        np.multiply(dc, g, out=x)
        x *= i
        np.multiply(x, ibar, out=d[:, 0])
        np.multiply(dc, i, out=x)
        np.multiply(x, _tanh_prime(g, lambda m: Zg[:, t][m]), out=d[:, 2])
        if t:
            np.multiply(dc, C[t - 1], out=x)
            x *= f
            np.multiply(x, fbar, out=d[:, 1])
            dcf = dc * f
        else:
            d[:, 1] = 0  # c[0] = 0
    return D.reshape(B, T * 4 * h)
'''

TANH_PRIME = '''\
def _tanh_prime(Y, Z, out=None):
    """tanh′(Z) from Y = tanh(Z): 1 − Y² where that is ≥ 1/16 (Y² is within a few roundings
    of tanh(Z)², so there 1 − Y² is tanh′ to ~100 roundings relatively: 6e-6 in float32, 2e-14
    in float64), else 4σ′(2Z) from Z (1 − Y² cancels as |Y| nears 1, to 0 once Y rounds to
    ±1, where tanh′(Z) ≈ 4e^(−2|Z|)). Z may be a function giving Z[mask] (computed where
    needed only)."""
    D = np.multiply(Y, Y, out=out)
    np.subtract(1, D, out=D)
    steep = D < 0.0625
    if steep.any():
        D[steep] = 4 * _sigmoid_prime(2 * (Z(steep) if callable(Z) else Z[steep]))
    return D
'''

# ── GRU ────────────────────────────────────────────────────────────────────────────────────
# Kept for BPTT, time-major with one block per gate (as the LSTM's): A (T, 3, B, h) the gates
# (r, u, n), Abar (T, 2, B, h) σ(−·) of r and u.

GRU_FORWARD = '''\
def _gru_forward(Z, Wh, bh):
    """(H, S, kept): H[t] = S[t−1] Wh + bh and S[t] = (1 − u) ⊙ n + u ⊙ S[t−1] with r = σ(Zr +
    Hr), u = σ(Zz + Hz), n = tanh(Zn + r ⊙ Hn) (PyTorch's GRU), S[0] = 0: one loop over time,
    each gate in its own contiguous block. kept = (A, Abar) for BPTT; 1 − u is σ(−·) in S too
    (it is e^(−z) where u rounds to 1)."""
    h = Wh.shape[0]
    B, T = Z.shape[0], Z.shape[1] // (3 * h)
    Z = Z.reshape(B, T, 3, h)
    Wh3, bh3 = Wh.reshape(h, 3, h).transpose(1, 0, 2), bh.reshape(3, 1, h)
    H = np.empty((B, T, 3, h), dtype=Z.dtype)
    A, Abar = np.empty((T, 3, B, h), dtype=Z.dtype), np.empty((T, 2, B, h), dtype=Z.dtype)
    S = np.empty((B, T, h), dtype=Z.dtype)
    for t in range(T):
        if t:
            q = np.matmul(s, Wh3)
            q += bh3
        else:
            q = np.broadcast_to(bh3, (3, B, h))
        H[:, t] = q.transpose(1, 0, 2)
        a, abar, z = A[t], Abar[t], Z[:, t].transpose(1, 0, 2)
        ru = np.add(z[:2], q[:2], out=a[:2])
        _sigmoids(ru, ru, abar)
        n = np.multiply(a[0], q[2], out=a[2])
        n += z[2]
        np.tanh(n, out=n)
        if t:
            s_new = abar[1] * n
            s_new += a[1] * s
            s = s_new
        else:
            s = abar[1] * n
        S[:, t] = s
    return H.reshape(B, T * 3 * h), S.reshape(B, T * h), (A, Abar)
'''

GRU_GATES = '''\
def _gru_gates(Z, H, h):
    """What `_gru_forward` keeps for BPTT, (A, Abar), from the input and hidden parts Z, H:
    every step at once (the hidden part carries the recurrence)."""
    B, T = Z.shape[0], Z.shape[1] // (3 * h)
    Z, H = (M.reshape(B, T, 3, h).transpose(1, 2, 0, 3) for M in (Z, H))  # (T, 3, B, h)
    A, Abar = np.empty((T, 3, B, h), dtype=Z.dtype), np.empty((T, 2, B, h), dtype=Z.dtype)
    ru = np.add(Z[:, :2], H[:, :2], out=A[:, :2])
    _sigmoids(ru, ru, Abar)
    n = np.multiply(A[:, 0], H[:, 2], out=A[:, 2])
    n += Z[:, 2]
    np.tanh(n, out=n)
    return A, Abar
'''

GRU_STATES = '''\
def _gru_states(Z, H):
    """S from the input and hidden parts Z, H of a GRU (one loop over time)."""
    B, h = Z.shape[0], H.shape[1] // 3
    T = Z.shape[1] // (3 * h)
    A, Abar = _gru_gates(Z, H, h)
    S = np.empty((T, B, h), dtype=Z.dtype)
    for t in range(T):
        np.multiply(Abar[t, 1], A[t, 2], out=S[t])
        if t:
            S[t] += A[t, 1] * S[t - 1]
    return S.transpose(1, 0, 2).reshape(B, T * h)
'''

GRU_BACKWARD = '''\
def _gru_backward(G, Z, H, S, Wh, kept=None, recurrent=True, last=False):
    """(δZ, δH) of a GRU for t = T…1 from G = ∂L/∂S (with last=True ∂L/∂S[T] alone, (B, h))
    and what the forward loop kept (`_gru_forward`; computed from Z, H when None): dh = G[t] +
    δH[t+1] Whᵀ + dh[t+1] ⊙ u[t+1], then dn = dh ⊙ (1 − u) ⊙ tanh′, du = dh ⊙ (S[t−1] − n) ⊙
    σ′(u), dr = dn ⊙ Hn ⊙ σ′(r); δZ[t] = (dr, du, dn), δH[t] = (dr, du, dn ⊙ r). One loop over
    time on contiguous (B, h) blocks. σ′ = σ(z)σ(−z), 1 − u as σ(−·), tanh′ = 1 − n² where
    ≥ 1/16, else 4σ′(2z) (`_tanh_prime`)."""
    h = Wh.shape[0]
    B, T = S.shape[0], S.shape[1] // h
    A, Abar = kept if kept is not None else _gru_gates(Z, H, h)
    Zn, Hn = Z.reshape(B, T, 3, h)[:, :, 2], H.reshape(B, T, 3, h)[:, :, 2]
    S = S.reshape(B, T, h)
    shape = (B, h) if last else (B, T * h)
    if np.shape(G) != shape:
        G = np.broadcast_to(G, shape)
    if not last:
        G = G.reshape(B, T, h)
    DZ, DH = np.empty((B, T, 3, h), dtype=Z.dtype), np.empty((B, T, 3, h), dtype=Z.dtype)
    x = np.empty((B, h), dtype=Z.dtype)
    for t in range(T - 1, -1, -1):
        if t == T - 1:
            dh = G if last else G[:, t]
        elif recurrent:
            dh = DH[:, t + 1].reshape(B, 3 * h) @ Wh.T
            dh += carry
            if not last:
                dh += G[:, t]
        else:  # a mutant's BPTT without δH[t+1] Whᵀ and dh[t+1] ⊙ u[t+1]
            dh = np.zeros_like(x) if last else G[:, t]
        (r, u, n), (rbar, ubar), dz, dH = A[t], Abar[t], DZ[:, t], DH[:, t]
        dn = dh * ubar
        dn *= _tanh_prime(n, lambda m: Zn[:, t][m] + r[m] * Hn[:, t][m])
        dz[:, 2] = dn
        np.multiply(dn, r, out=dH[:, 2])
        np.multiply(dn, Hn[:, t], out=x)
        x *= r
        np.multiply(x, rbar, out=dH[:, 0])
        if t:
            np.subtract(S[:, t - 1], n, out=x)
        else:
            np.negative(n, out=x)  # S[0] = 0
        x *= dh
        x *= u
        np.multiply(x, ubar, out=dH[:, 1])
        dz[:, :2] = dH[:, :2]
        carry = dh * u
    return DZ.reshape(B, T * 3 * h), DH.reshape(B, T * 3 * h)
'''

# name: (source, what it calls: other loops, or the printer's helpers in codegen/helpers.py)
LOOPS = {
    "_sigmoids": (SIGMOIDS, ()),
    "_tanh_prime": (TANH_PRIME, ("_sigmoid_prime",)),
    "_rnn_forward": (RNN_FORWARD, ()),
    "_rnn_backward": (RNN_BACKWARD, ("_sigmoid_prime",)),
    "_lstm_forward": (LSTM_FORWARD, ("_sigmoids",)),
    "_lstm_cells": (LSTM_CELLS, ("_sigmoids",)),
    "_lstm_states": (LSTM_STATES, ("_lstm_cells",)),
    "_lstm_backward": (LSTM_BACKWARD, ("_lstm_cells", "_tanh_prime")),
    "_gru_forward": (GRU_FORWARD, ("_sigmoids",)),
    "_gru_gates": (GRU_GATES, ("_sigmoids",)),
    "_gru_states": (GRU_STATES, ("_gru_gates",)),
    "_gru_backward": (GRU_BACKWARD, ("_gru_gates", "_tanh_prime")),
}


def emit(context, name: str) -> str:
    """Define loop `name` in the generated module of the printer context `context`, with every
    function it calls; returns `name`."""
    source, calls = LOOPS[name]
    context.define(name, source)
    for called in calls:
        if called in LOOPS:
            emit(context, called)
        else:
            context.helpers.add(called)
    return name


__all__ = ["LOOPS", "emit"]

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

LSTM_FORWARD = '''\
def _lstm_forward(X, Wx, Wh, b):
    """(Z, S, kept): Z[t] = X[t] Wx + S[t−1] Wh + b, S[t] = o ⊙ tanh(c[t]), c[t] = f ⊙ c[t−1] +
    i ⊙ g with (i, f, g, o) = (σ, σ, tanh, σ)(Z[t]) (PyTorch's gate order): one loop over time.
    kept = (A, Abar, C, TC) for BPTT: the gates (i, f, g, o), σ(−z) of the σ gates (Abar's g
    block unused), the memories c and tanh(c), all (B, T, ·)."""
    n, h4 = Wx.shape
    h = h4 // 4
    B, T = X.shape[0], X.shape[1] // n
    Z = (X.reshape(B * T, n) @ Wx + b).reshape(B, T, h4)
    A, Abar = np.empty_like(Z), np.empty_like(Z)
    C, TC, S = (np.empty((B, T, h), dtype=Z.dtype) for _ in range(3))
    for t in range(T):
        z, a, abar = Z[:, t], A[:, t], Abar[:, t]
        if t:
            z += S[:, t - 1] @ Wh
        _sigmoids(z[:, :2 * h], a[:, :2 * h], abar[:, :2 * h])  # i, f
        _sigmoids(z[:, 3 * h:], a[:, 3 * h:], abar[:, 3 * h:])  # o
        g = np.tanh(z[:, 2 * h:3 * h], out=a[:, 2 * h:3 * h])
        c = np.multiply(a[:, :h], g, out=C[:, t])
        if t:
            c += a[:, h:2 * h] * C[:, t - 1]
        np.multiply(a[:, 3 * h:], np.tanh(c, out=TC[:, t]), out=S[:, t])
    return Z.reshape(B, T * h4), S.reshape(B, T * h), (A, Abar, C, TC)
'''

LSTM_CELLS = '''\
def _lstm_cells(Z, h):
    """What `_lstm_forward` keeps for BPTT, (A, Abar, C, TC), from the pre-activations Z alone:
    the gates of every step at once, then one loop over time for the memories."""
    B, T = Z.shape[0], Z.shape[1] // (4 * h)
    Z = Z.reshape(B, T, 4 * h)
    A, Abar = np.empty_like(Z), np.empty_like(Z)
    _sigmoids(Z, A, Abar)  # the g block's are overwritten and unused
    np.tanh(Z[..., 2 * h:3 * h], out=A[..., 2 * h:3 * h])
    C = np.empty((B, T, h), dtype=Z.dtype)
    for t in range(T):
        C[:, t] = A[:, t, :h] * A[:, t, 2 * h:3 * h]
        if t:
            C[:, t] += A[:, t, h:2 * h] * C[:, t - 1]
    return A, Abar, C, np.tanh(C)
'''

LSTM_STATES = '''\
def _lstm_states(Z, T):
    """S[t] = o[t] ⊙ tanh(c[t]) from the gate pre-activations Z (one loop over time)."""
    B, h = Z.shape[0], Z.shape[1] // (4 * T)
    A, _, _, TC = _lstm_cells(Z, h)
    return (A[..., 3 * h:] * TC).reshape(B, T * h)
'''

LSTM_BACKWARD = '''\
def _lstm_backward(G, Z, Wh, kept=None, recurrent=True, last=False):
    """δ[t] of an LSTM for t = T…1 from G = ∂L/∂S (with last=True ∂L/∂S[T] alone, (B, h), the
    other steps' being 0) and what the forward loop kept (`_lstm_forward`; computed from Z when
    None): dh = G[t] + δ[t+1] Whᵀ, dc = dh ⊙ o ⊙ tanh′(c[t]) + dc[t+1] ⊙ f[t+1], and
    δ[t] = (dc ⊙ g ⊙ σ′(i), dc ⊙ c[t−1] ⊙ σ′(f), dc ⊙ i ⊙ tanh′(g), dh ⊙ tanh(c[t]) ⊙ σ′(o)).
    Every factor but dc and dh is known before the loop: computed for all steps at once (K,
    Kc), so that a step is a product and five NumPy calls. σ′ = σ(z)σ(−z); tanh′ = 1 − y²
    where ≥ 1/16, else 4σ′(2z) (see `_tanh_prime`)."""
    h = Wh.shape[0]
    B, T = Z.shape[0], Z.shape[1] // (4 * h)
    A, Abar, C, TC = kept if kept is not None else _lstm_cells(Z, h)
    A, Abar, Z = (M.reshape(B, T, 4, h) for M in (A, Abar, Z))
    K = A * Abar  # σ′(z) = σ(z)σ(−z) of each σ gate; the g block is overwritten:
    _tanh_prime(A[:, :, 2], Z[:, :, 2], out=K[:, :, 2])
    K[:, :, 0] *= A[:, :, 2]  # g ⊙ σ′(i)
    K[:, 0, 1] = 0  # c[0] = 0
    K[:, 1:, 1] *= C[:, :-1]  # c[t−1] ⊙ σ′(f)
    K[:, :, 2] *= A[:, :, 0]  # i ⊙ tanh′(g)
    K[:, :, 3] *= TC  # tanh(c) ⊙ σ′(o)
    Kc = _tanh_prime(TC, C)
    Kc *= A[:, :, 3]  # o ⊙ tanh′(c)
    F = A[:, :, 1]
    shape = (B, h) if last else (B, T * h)
    if np.shape(G) != shape:
        G = np.broadcast_to(G, shape)
    if not last:
        G = G.reshape(B, T, h)
    D = K  # δ[t] = K[t] ⊙ (dc, dc, dc, dh), written over K, t = T…1
    dh = G if last else G[:, T - 1]
    dc = dh * Kc[:, T - 1]
    for t in range(T - 1, -1, -1):
        if t < T - 1:
            if recurrent:
                dh = D[:, t + 1].reshape(B, 4 * h) @ Wh.T
                if not last:
                    dh += G[:, t]
            else:  # a mutant's BPTT without δ[t+1] Whᵀ
                dh = np.zeros_like(dc) if last else G[:, t]
            dc *= F[:, t + 1]
            dc += dh * Kc[:, t]
        d = D[:, t]
        d[:, :3] *= dc[:, None]
        d[:, 3] *= dh
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

GRU_FORWARD = '''\
def _gru_forward(Z, Wh, bh):
    """(H, S, kept): H[t] = S[t−1] Wh + bh and S[t] = (1 − u) ⊙ n + u ⊙ S[t−1] with r = σ(Zr +
    Hr), u = σ(Zz + Hz), n = tanh(Zn + r ⊙ Hn) (PyTorch's GRU), S[0] = 0: one loop over time.
    kept = (A, Abar) for BPTT: the gates (r, u, n) (B, T, 3h) and σ(−·) of r and u (B, T, 2h),
    1 − u computed as σ(−·) also in S (it is e^(−z) where u rounds to 1)."""
    h = Wh.shape[0]
    B, T = Z.shape[0], Z.shape[1] // (3 * h)
    Z = Z.reshape(B, T, 3 * h)
    H, A = np.empty_like(Z), np.empty_like(Z)
    Abar = np.empty((B, T, 2 * h), dtype=Z.dtype)
    S = np.empty((B, T, h), dtype=Z.dtype)
    for t in range(T):
        if t:
            q = S[:, t - 1] @ Wh
            q += bh
        else:
            q = np.broadcast_to(bh, (B, 3 * h))
        H[:, t] = q
        a, abar = A[:, t], Abar[:, t]
        ru = np.add(Z[:, t, :2 * h], q[:, :2 * h], out=a[:, :2 * h])
        _sigmoids(ru, ru, abar)
        n = np.multiply(a[:, :h], q[:, 2 * h:], out=a[:, 2 * h:])
        n += Z[:, t, 2 * h:]
        np.tanh(n, out=n)
        s = np.multiply(abar[:, h:], n, out=S[:, t])
        if t:
            s += a[:, h:2 * h] * S[:, t - 1]
    return H.reshape(B, T * 3 * h), S.reshape(B, T * h), (A, Abar)
'''

GRU_GATES = '''\
def _gru_gates(Z, H, h):
    """What `_gru_forward` keeps for BPTT, (A, Abar), from the input and hidden parts Z, H:
    every step at once (the hidden part carries the recurrence)."""
    B, T = Z.shape[0], Z.shape[1] // (3 * h)
    Z, H = Z.reshape(B, T, 3 * h), H.reshape(B, T, 3 * h)
    A = np.empty_like(Z)
    Abar = np.empty((B, T, 2 * h), dtype=Z.dtype)
    ru = np.add(Z[..., :2 * h], H[..., :2 * h], out=A[..., :2 * h])
    _sigmoids(ru, ru, Abar)
    n = np.multiply(A[..., :h], H[..., 2 * h:], out=A[..., 2 * h:])
    n += Z[..., 2 * h:]
    np.tanh(n, out=n)
    return A, Abar
'''

GRU_STATES = '''\
def _gru_states(Z, H):
    """S from the input and hidden parts Z, H of a GRU (one loop over time)."""
    B, h = Z.shape[0], H.shape[1] // 3
    T = Z.shape[1] // (3 * h)
    A, Abar = _gru_gates(Z, H, h)
    S = np.empty((B, T, h), dtype=Z.dtype)
    for t in range(T):
        S[:, t] = Abar[:, t, h:] * A[:, t, 2 * h:]
        if t:
            S[:, t] += A[:, t, h:2 * h] * S[:, t - 1]
    return S.reshape(B, T * h)
'''

GRU_BACKWARD = '''\
def _gru_backward(G, Z, H, S, Wh, kept=None, recurrent=True, last=False):
    """(δZ, δH) of a GRU for t = T…1 from G = ∂L/∂S (with last=True ∂L/∂S[T] alone, (B, h))
    and what the forward loop kept (`_gru_forward`; computed from Z, H when None): dh = G[t] +
    δH[t+1] Whᵀ + dh[t+1] ⊙ u[t+1], then dn = dh ⊙ (1 − u) ⊙ tanh′, du = dh ⊙ (S[t−1] − n) ⊙
    σ′(u), dr = dn ⊙ Hn ⊙ σ′(r); δZ[t] = (dr, du, dn), δH[t] = (dr, du, dn ⊙ r). The factors
    Kn, Ku, Kr of dh and dn are computed for all steps before the loop. σ′ = σ(z)σ(−z), 1 − u
    as σ(−z), tanh′ = 1 − n² where ≥ 1/16, else 4σ′(2z) (`_tanh_prime`)."""
    h = Wh.shape[0]
    B, T = S.shape[0], S.shape[1] // h
    A, Abar = kept if kept is not None else _gru_gates(Z, H, h)
    Z, H, S = Z.reshape(B, T, 3 * h), H.reshape(B, T, 3 * h), S.reshape(B, T, h)
    A, Abar = A.reshape(B, T, 3, h), Abar.reshape(B, T, 2, h)
    R, U, N = A[:, :, 0], A[:, :, 1], A[:, :, 2]
    Zn, Hn = Z[..., 2 * h:], H[..., 2 * h:]
    Kn = _tanh_prime(N, lambda m: Zn[m] + R[m] * Hn[m])  # n's pre-activation where needed
    Kn *= Abar[:, :, 1]  # (1 − u) ⊙ tanh′(n)
    Kr = R * Abar[:, :, 0]
    Kr *= Hn  # σ′(r) ⊙ Hn
    Ku = U * Abar[:, :, 1]
    Ku[:, 0] *= -N[:, 0]  # S[0] = 0
    Ku[:, 1:] *= S[:, :-1] - N[:, 1:]  # σ′(u) ⊙ (S[t−1] − n)
    shape = (B, h) if last else (B, T * h)
    if np.shape(G) != shape:
        G = np.broadcast_to(G, shape)
    if not last:
        G = G.reshape(B, T, h)
    DZ, DH = np.empty_like(Z), np.empty_like(Z)
    for t in range(T - 1, -1, -1):
        if t == T - 1:
            dh = G if last else G[:, t]
        elif recurrent:
            dh = DH[:, t + 1] @ Wh.T
            dh += carry
            if not last:
                dh += G[:, t]
        else:  # a mutant's BPTT without δH[t+1] Whᵀ and dh[t+1] ⊙ u[t+1]
            dh = np.zeros_like(carry) if last else G[:, t]
        dn = np.multiply(dh, Kn[:, t], out=DZ[:, t, 2 * h:])
        np.multiply(dn, Kr[:, t], out=DH[:, t, :h])
        np.multiply(dh, Ku[:, t], out=DH[:, t, h:2 * h])
        np.multiply(dn, R[:, t], out=DH[:, t, 2 * h:])
        carry = dh * U[:, t]
    DZ[..., :2 * h] = DH[..., :2 * h]
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

"""Recurrent and attention layers: backpropagation through time and the attention rules,
against `sympy.diff` of the unrolled network (bounded: T ≤ 3, tiny widths, one sample).

For each case a network is derived by `symnet.derive` (RNN, LSTM or SelfAttention, then a
dense layer and a generic loss ℓ), every equation is evaluated on explicit matrices whose
entries are their own symbols (`_explicit.evaluate`), and two things are checked:

- the forward pass symnet records equals the layer's definition written out here, unrolled
  (h[t] = tanh(x[t] Wx + h[t−1] Wh + b); PyTorch's LSTM cell; softmax(Q Kᵀ/√d) V);
- every entry of every gradient symnet derives (∂L/∂Wx = Σₜ X[t]ᵀ δ[t] with δ from the BPTT
  recurrence, ∂L/∂Wq through the softmax rule and the 1/√d, …) equals `sympy.diff` of the
  expanded loss with respect to that entry.

The recurrence is the same for every T, but SymPy can only unroll a given T: the proof is
bounded, as the normalization proofs are.

Gated cells (LSTM, GRU) nest sigmoids inside sigmoids, and `simplify` takes minutes to cancel
them (181 s for an LSTM at T = 1). There both sides are first written in σ and tanh as opaque
functions (`Sigma`, `Tanh`) that know only their derivative rules, σ′ = σ(1 − σ) and tanh′ =
1 − tanh² (each proved by the activation theorems): `sympy.diff` of the unrolled loss is then
a polynomial in the applications σ(a), tanh(a), ℓ, ∂ℓ/∂x, and so is symnet's gradient, and
`expand` decides their equality in seconds. Equal polynomials are equal for the true σ and tanh
(substituting them is a ring homomorphism), so this is still an exact proof.
"""

from __future__ import annotations

import itertools

import sympy as sp

from symnet import Dense, Flatten, Network, derive
from symnet.nn.attention import SelfAttention
from symnet.nn.recurrent import GRU, LSTM, RNN
from symnet.prove import Theorem

from ._explicit import evaluate
from ._generic import GenericLoss

RNN_CASES = [(T, h) for T in (1, 2, 3) for h in (1, 2) if T * h <= 4]  # (steps, hidden)
LSTM_CASES = [(1, 1), (2, 1)]
GRU_CASES = [(1, 1), (2, 1)]
ATTENTION_CASES = [(2, 1, False), (2, 2, False), (3, 1, False), (3, 1, True)]  # (T, d, causal)


def theorems():
    yield Theorem("RNN: backpropagation through time, δ[t] = (∂L/∂S[t] + δ[t+1] Whᵀ) ⊙ tanh′",
                  rnn, f"T ≤ 3, h ≤ 2, n_in = 1, B = 1 ({len(RNN_CASES)} cases)")
    yield Theorem("LSTM: backpropagation through time through the memory and the four gates",
                  lstm, f"T ≤ 2, h = 1, n_in = 1, B = 1 ({len(LSTM_CASES)} cases), σ and tanh "
                        f"as functions with their derivative rules")
    yield Theorem("GRU: backpropagation through time, input part, hidden part and update gate",
                  gru, f"T ≤ 2, h = 1, n_in = 1, B = 1 ({len(GRU_CASES)} cases), σ and tanh as "
                       f"functions with their derivative rules")
    yield Theorem("self-attention: the softmax rule per row and the 1/√d in ∂L/∂Q, ∂L/∂K",
                  attention, f"T ≤ 3, d_model ≤ 2, d_head = 1, B = 1, causal or not "
                             f"({len(ATTENTION_CASES)} cases)")


def _sigmoid(v):
    return 1 / (1 + sp.exp(-v))


class Sigma(sp.Function):
    """σ known only by its derivative rule σ′ = σ(1 − σ)."""

    def fdiff(self, argindex=1):
        return self * (1 - self)

    def _latex(self, printer, exp=None):
        power = f"^{{{printer._print(exp)}}}" if exp is not None else ""
        return rf"\sigma\left({printer._print(self.args[0])}\right){power}"


class Tanh(sp.Function):
    """tanh known only by its derivative rule tanh′ = 1 − tanh²."""

    def fdiff(self, argindex=1):
        return 1 - self**2

    def _latex(self, printer, exp=None):
        power = f"^{{{printer._print(exp)}}}" if exp is not None else ""
        return rf"\tanh\left({printer._print(self.args[0])}\right){power}"


def _is_sigmoid_power(e) -> bool:
    """(1 + e^(−a))^k, k a negative integer: σ(a)^(−k) as SymPy writes 1/(1 + e^(−a))."""
    if not (isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp < 0):
        return False
    base = e.base
    return (isinstance(base, sp.Add) and len(base.args) == 2 and sp.S.One in base.args
            and any(isinstance(a, sp.exp) for a in base.args))


def _opaque_cells(expr):
    """`expr` with every σ(a) = 1/(1 + e^(−a)) and tanh(a) written as Sigma(a), Tanh(a)."""
    def sigma(e):
        a = next(t for t in e.base.args if isinstance(t, sp.exp)).args[0]
        return Sigma(-a) ** (-e.exp)

    expr = sp.sympify(expr).replace(sp.tanh, Tanh)
    return expr.replace(_is_sigmoid_power, sigma)


def _steps(M, T):
    width = M.cols // T
    return [M[:, t * width:(t + 1) * width] for t in range(T)]


def _check(proof, d, case, definition, opaque=False):
    """`opaque`: σ and tanh as `Sigma`, `Tanh` on both sides (see the module docstring)."""
    form = _opaque_cells if opaque else (lambda e: e)
    env, inputs = evaluate(d, 1)
    states = next(eq.lhs for eq in d.forward if eq.name in ("S1", "O1"))
    proof.equal(form(env[states]), form(definition(inputs, d)),
                f"{case}: the forward pass is the definition", show=False)
    L = form(env[d.loss.lhs])
    if opaque and L.has(sp.exp, sp.tanh):
        proof.cannot(f"{case}: σ or tanh left outside Sigma, Tanh in the loss")
    for p in d.params.values():
        gradient = env[d.equation(f"d{p.name}").lhs]
        for v, g in zip(inputs[p], gradient):
            proof.equal(form(g), sp.diff(L, v), f"{case}: ∂L/∂{v}", show=False)


def _network(layer, T, n_in, width):
    tail = [Flatten(), Dense(width, 1)] if isinstance(layer, SelfAttention) else [Dense(width, 1)]
    return Network([layer, *tail], GenericLoss(), input_shape=(T, n_in))


def _rnn_definition(inputs, d):
    p = {k.name: v for k, v in inputs.items()}
    Wx, Wh, b = p["Wx1"], p["Wh1"], p["b1"]
    xs = _steps(p["X"], d.network.input_shape[0])
    h, out = sp.zeros(1, Wh.rows), []
    for x in xs:
        h = (x * Wx + h * Wh + b.T).applyfunc(sp.tanh)
        out.append(h)
    return sp.Matrix.hstack(*out)


def rnn(proof):
    proof.states(r"h[t] = \tanh(x[t] W_x + h[t-1] W_h + b),\ h[0] = 0 \implies "
                 r"\frac{\partial L}{\partial W_h} = \sum_{t=2}^{T} h[t-1]^{\top} \delta[t],\ "
                 r"\delta[t] = \left(\frac{\partial L}{\partial h[t]} + \delta[t+1] W_h^{\top}"
                 r"\right) \odot \tanh'(a[t])")
    for T, h in RNN_CASES:
        _check(proof, derive(_network(RNN(1, h), T, 1, h)), f"RNN(1, {h}), T = {T}",
               _rnn_definition)
    proof.step(f"{len(RNN_CASES)} (T, h) cases: every gradient entry equals sympy.diff of the "
               "unrolled loss, and the forward pass is the definition")


def _lstm_definition(inputs, d):
    p = {k.name: v for k, v in inputs.items()}
    Wx, Wh, b = p["Wx1"], p["Wh1"], p["b1"]
    n = Wh.rows
    h, c, out = sp.zeros(1, n), sp.zeros(1, n), []
    for x in _steps(p["X"], d.network.input_shape[0]):
        z = x * Wx + h * Wh + b.T
        i, f, g, o = (z[:, k * n:(k + 1) * n] for k in range(4))
        i, f, o = (m.applyfunc(_sigmoid) for m in (i, f, o))
        g = g.applyfunc(sp.tanh)
        c = f.multiply_elementwise(c) + i.multiply_elementwise(g)
        h = o.multiply_elementwise(c.applyfunc(sp.tanh))
        out.append(h)
    return sp.Matrix.hstack(*out)


def _gated(proof, cell, cases, definition, gates, thetas):
    """The theorem of a gated cell: symnet's BPTT against sympy.diff of PyTorch's equations."""
    proof.states(rf"\text{{PyTorch's {cell.__name__} cell (gates }} {gates}\text{{)}} \implies "
                 r"\text{symnet's BPTT gives } \frac{\partial L}{\partial \theta} "
                 rf"\text{{ for }} \theta = {thetas}")
    for T, h in cases:
        _check(proof, derive(_network(cell(1, h), T, 1, h)), f"{cell.__name__}(1, {h}), T = {T}",
               definition, opaque=True)
    proof.step(f"{len(cases)} cases: every gradient entry equals sympy.diff (σ, tanh "
               "opaque with their derivative rules)")


def lstm(proof):
    _gated(proof, LSTM, LSTM_CASES, _lstm_definition, "i, f, g, o", "W_x, W_h, b")


def _gru_definition(inputs, d):
    """PyTorch's GRU: gi = x W_ih + b_ih, gh = h W_hh + b_hh, r = σ(giᵣ + ghᵣ), z = σ(gi_z +
    gh_z), n = tanh(giₙ + r ⊙ ghₙ), h′ = (1 − z) ⊙ n + z ⊙ h."""
    p = {k.name: v for k, v in inputs.items()}
    Wx, Wh, b, bh = p["Wx1"], p["Wh1"], p["b1"], p["bh1"]
    n = Wh.rows
    h, out = sp.zeros(1, n), []
    for x in _steps(p["X"], d.network.input_shape[0]):
        gi, gh = x * Wx + b.T, h * Wh + bh.T
        r = (gi[:, :n] + gh[:, :n]).applyfunc(_sigmoid)
        z = (gi[:, n:2 * n] + gh[:, n:2 * n]).applyfunc(_sigmoid)
        cand = (gi[:, 2 * n:] + r.multiply_elementwise(gh[:, 2 * n:])).applyfunc(sp.tanh)
        h = z.applyfunc(lambda v: 1 - v).multiply_elementwise(cand) + z.multiply_elementwise(h)
        out.append(h)
    return sp.Matrix.hstack(*out)


def gru(proof):
    _gated(proof, GRU, GRU_CASES, _gru_definition, "r, z, n", "W_x, W_h, b, b_h")


def _attention_definition(inputs, d):
    p = {k.name: v for k, v in inputs.items()}
    layer = d.network.layers[0]
    T, dm = d.network.input_shape
    X = sp.Matrix(T, dm, list(p["X"]))
    Q, K, V = X * p["Wq1"], X * p["Wk1"], X * p["Wv1"]
    E = Q * K.T / sp.sqrt(layer.d_head)
    P = sp.zeros(T, T)
    for i, j in itertools.product(range(T), range(T)):
        seen = range(i + 1) if layer.causal else range(T)
        if j in seen:
            P[i, j] = sp.exp(E[i, j]) / sum(sp.exp(E[i, k]) for k in seen)
    O = P * V
    return O.reshape(1, T * layer.d_head)


def attention(proof):
    proof.states(r"O = \operatorname{softmax}\left(\frac{Q K^{\top}}{\sqrt{d}}\right) V,\ "
                 r"Q, K, V = X W_q, X W_k, X W_v \implies \text{symnet's rules give } "
                 r"\frac{\partial L}{\partial W_q}, \frac{\partial L}{\partial W_k}, "
                 r"\frac{\partial L}{\partial W_v}")
    for T, dm, causal in ATTENTION_CASES:
        layer = SelfAttention(dm, 1, causal=causal)
        _check(proof, derive(_network(layer, T, dm, T)), f"{layer!r}, T = {T}",
               _attention_definition)
    proof.step(f"{len(ATTENTION_CASES)} (T, d, causal) cases: every gradient entry equals "
               "sympy.diff of the expanded loss")

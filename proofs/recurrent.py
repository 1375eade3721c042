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
"""

from __future__ import annotations

import itertools

import sympy as sp

from symnet import Dense, Flatten, Network, derive
from symnet.nn.attention import SelfAttention
from symnet.nn.recurrent import LSTM, RNN
from symnet.prove import Theorem

from ._explicit import evaluate
from ._generic import GenericLoss

RNN_CASES = [(T, h) for T in (1, 2, 3) for h in (1, 2) if T * h <= 4]  # (steps, hidden)
LSTM_CASES = [(1, 1), (2, 1)]
ATTENTION_CASES = [(2, 1, False), (2, 2, False), (3, 1, False), (3, 1, True)]  # (T, d, causal)


def theorems():
    yield Theorem("RNN: backpropagation through time, δ[t] = (∂L/∂S[t] + δ[t+1] Whᵀ) ⊙ tanh′",
                  rnn, f"T ≤ 3, h ≤ 2, n_in = 1, B = 1 ({len(RNN_CASES)} cases)")
    # The LSTM's theorem (`lstm` below) holds but SymPy needs minutes to decide even T = 1
    # (simplify of nested sigmoids); it is not run by default. The LSTM is checked against an
    # independent NumPy BPTT, finite differences and exact evaluation in tests/test_recurrent.py.
    yield Theorem("self-attention: the softmax rule per row and the 1/√d in ∂L/∂Q, ∂L/∂K",
                  attention, f"T ≤ 3, d_model ≤ 2, d_head = 1, B = 1, causal or not "
                             f"({len(ATTENTION_CASES)} cases)")


def _sigmoid(v):
    return 1 / (1 + sp.exp(-v))


def _steps(M, T):
    width = M.cols // T
    return [M[:, t * width:(t + 1) * width] for t in range(T)]


def _check(proof, d, case, definition):
    env, inputs = evaluate(d, 1)
    states = next(eq.lhs for eq in d.forward if eq.name in ("S1", "O1"))
    proof.equal(env[states], definition(inputs, d), f"{case}: the forward pass is the definition",
                show=False)
    L = env[d.loss.lhs]
    for p in d.params.values():
        gradient = env[d.equation(f"d{p.name}").lhs]
        for v, g in zip(inputs[p], gradient):
            proof.equal(g, sp.diff(L, v), f"{case}: ∂L/∂{v}", show=False)


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


def lstm(proof):
    proof.states(r"\text{PyTorch's LSTM cell (gates } i, f, g, o\text{)} \implies "
                 r"\text{symnet's BPTT gives } \frac{\partial L}{\partial \theta} "
                 r"\text{ for } \theta = W_x, W_h, b")
    for T, h in LSTM_CASES:
        _check(proof, derive(_network(LSTM(1, h), T, 1, h)), f"LSTM(1, {h}), T = {T}",
               _lstm_definition)
    proof.step(f"{len(LSTM_CASES)} cases: every gradient entry equals sympy.diff")


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

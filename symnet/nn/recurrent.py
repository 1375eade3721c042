"""Recurrent layers: `RNN` (tanh), `LSTM` and `GRU`, on sequences (B, T, n) held as (B, T·n) rows.

Layer k records two steps (the algebra and the rules are in `symnet.algebra.recurrent`):

    Zk = [X[t] Wxk + Sk[t−1] Whk + 𝟙bkᵀ]ₜ,  Sk[0] = 0     pre-activations, (B, T·h) (LSTM: T·4h)
    Sk = tanh(Zk)  or  the LSTM cell of Zk                 the hidden states h[t], (B, T·h)
    hTk = Sk[T]                                            the last state, unless
                                                           return_sequences=True

Parameters (symnet's (in, out) layout, one bias):

- RNN(n_in, n_hidden): `Wx{k}` (n_in, h), `Wh{k}` (h, h), `b{k}` (h,). PyTorch's nn.RNN holds
  weight_ih = Wxᵀ, weight_hh = Whᵀ and two biases whose sum is b.
- LSTM(n_in, n_hidden): `Wx{k}` (n_in, 4h), `Wh{k}` (h, 4h), `b{k}` (4h,), the four gates'
  columns in PyTorch's order i, f, g, o: i = σ(z[:h]), f = σ(z[h:2h]), g = tanh(z[2h:3h]),
  o = σ(z[3h:]), c[t] = f ⊙ c[t−1] + i ⊙ g, h[t] = o ⊙ tanh(c[t]), h[0] = c[0] = 0.
  PyTorch's weight_ih_l0 = Wxᵀ, weight_hh_l0 = Whᵀ, bias_ih_l0 + bias_hh_l0 = b.
- GRU(n_in, n_hidden): `Wx{k}` (n_in, 3h), `Wh{k}` (h, 3h), `b{k}` (3h,), `bh{k}` (3h,), the
  three gates' columns in PyTorch's order r, z, n: r = σ(x Wxᵣ + bᵣ + h Whᵣ + bhᵣ), z (u in
  the printed equations, Z naming pre-activations) alike, n = tanh(x Wxₙ + bₙ + r ⊙ (h Whₙ +
  bhₙ)), h[t] = (1 − z) ⊙ n + z ⊙ h[t−1], h[0] = 0. Two biases, as PyTorch has: the hidden
  bias of n sits inside r ⊙ (…), so it cannot be merged into b (those of r and z could; they
  are kept, like PyTorch's, and get equal gradients). PyTorch's weight_ih_l0 = Wxᵀ,
  weight_hh_l0 = Whᵀ, bias_ih_l0 = b, bias_hh_l0 = bh. Three steps on the tape: Zk (the input
  part), Hk (the hidden part), Sk (the states); see `symnet.algebra.gru`.
"""

from __future__ import annotations

import math

import sympy as sp

from ..algebra.gru import GRUBackward, GRUHidden, GRUStates, StepDense
from ..algebra.recurrent import LSTMBackward, LSTMStates, Recurrence, RNNBackward
from ..algebra.rules import elementwise
from ..algebra.sequence import AtTimeStep, PerStep, TimeStep, TimeSum, TimeSumBias
from ..errors import ShapeError, SpecError
from .layer import Layer
from .layers import Tanh


def positive(what: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ShapeError(f"{what} must be a positive integer, got {n!r}")
    return n


def sequence_shape(layer, in_shape) -> tuple[int, int]:
    """(T, n) of a sequence input, or a ShapeError naming the layer and both shapes."""
    if len(in_shape) != 2:
        raise ShapeError(f"{layer!r} takes sequences (B, T, {layer.n_in}), but the layer before "
                         f"it gives (B, {', '.join(map(str, in_shape))}); say "
                         f"input_shape=(T, {layer.n_in}) for a network that starts with it")
    if in_shape[1] != layer.n_in:
        raise ShapeError(f"{layer!r} expects {layer.n_in} features per step, but the layer "
                         f"before it gives (B, {in_shape[0]}, {in_shape[1]})")
    return in_shape


class _Recurrent(Layer):
    numbered = True
    cell = "rnn"
    gates = 1

    def __init__(self, n_in: int, n_hidden: int, return_sequences: bool = False):
        self.n_in = positive(f"{type(self).__name__} n_in", n_in)
        self.n_hidden = positive(f"{type(self).__name__} n_hidden", n_hidden)
        if not isinstance(return_sequences, bool):
            raise SpecError(f"return_sequences must be True or False, got {return_sequences!r}")
        self.return_sequences = return_sequences

    def __repr__(self):
        extra = ", return_sequences=True" if self.return_sequences else ""
        return f"{type(self).__name__}({self.n_in}, {self.n_hidden}{extra})"

    def __eq__(self, other):
        return type(other) is type(self) and (self.n_in, self.n_hidden, self.return_sequences) \
            == (other.n_in, other.n_hidden, other.return_sequences)

    def __hash__(self):
        return hash((type(self).__name__, self.n_in, self.n_hidden, self.return_sequences))

    def out_shape(self, in_shape):
        T, _ = sequence_shape(self, in_shape)
        return (T, self.n_hidden) if self.return_sequences else (self.n_hidden,)

    def init_code(self, k: int) -> dict[str, str]:
        """PyTorch's initialization: every weight and bias U(−1/√h, 1/√h)."""
        limit = 1 / math.sqrt(self.n_hidden)
        return {name: f"rng.uniform(-{limit!r}, {limit!r}, size={shape})"
                for name, shape in self.shapes(k).items()}

    def shapes(self, k: int) -> dict[str, tuple[int, ...]]:
        g = self.gates * self.n_hidden
        return {f"Wx{k}": (self.n_in, g), f"Wh{k}": (self.n_hidden, g), f"b{k}": (g,)}

    def record(self, tape, A, k: int):
        T, n = sequence_shape(self, tape.sample_shapes.get(A, (A.shape[1],)))
        h, g = self.n_hidden, self.gates * self.n_hidden
        Wx = tape.param(f"Wx{k}", n, g, decays=True)
        Wh = tape.param(f"Wh{k}", h, g, decays=True)
        b = tape.param(f"b{k}", g)
        Zn, Sn = f"Z{k}", f"S{k}"
        S_symbol = sp.MatrixSymbol(Sn, A.shape[0], T * h)  # defined by the next step

        def z_vjp(G, Z):
            return (PerStep(G, Wx.T, T), TimeSum(A, G, T), TimeSum(S_symbol, G, T, 1),
                    TimeSumBias(G, T))

        Z = tape.record(
            Zn, Recurrence(A, Wx, Wh, b, T, self.cell, Zn, Sn), (A, Wx, Wh, b), z_vjp,
            why=(f"{Zn}[t] = {A.name}[t] Wx{k} + {Sn}[t−1] Wh{k} + 𝟙b{k}ᵀ is a dense layer at "
                 f"every step, its weights shared over time: with δ{k} = ∂L/∂{Zn} the total "
                 f"derivative (later steps included), each weight's gradient is the dense rule "
                 f"summed over t: ∂L/∂Wx{k} = Σₜ {A.name}[t]ᵀ δ{k}[t], ∂L/∂Wh{k} = "
                 f"Σₜ {Sn}[t−1]ᵀ δ{k}[t] (from t = 2, as {Sn}[0] = 0), ∂L/∂b{k} = Σₜ δ{k}[t]ᵀ𝟙, "
                 f"and ∂L/∂{A.name}[t] = δ{k}[t] Wx{k}ᵀ."),
            layer=k)
        S = self._states(tape, Z, Sn, Wh, T, k, S_symbol)
        return self._output(tape, S, T, k)

    def _output(self, tape, S, T, k):
        """Every state (B, T·h), or the last one through the step hTk = Sk[T]."""
        Sn = S.name
        if self.return_sequences:
            tape.sample_shapes[S] = (T, self.n_hidden)
            return S
        return tape.record(
            f"hT{k}", TimeStep(S, T, T), (S,), lambda G, out: (AtTimeStep(G, T, T),),
            why=(f"hT{k} = {Sn}[T] is the last state: ∂L/∂{Sn} is ∂L/∂hT{k} at step T and 0 "
                 f"at the others (the earlier states reach L only through the recurrence)."),
            layer=k)


class RNN(_Recurrent):
    """h[t] = tanh(x[t] Wx + h[t−1] Wh + b), h[0] = 0 (PyTorch's nn.RNN, tanh, batch_first):
    the last state (B, h), or every state (B, T, h) with `return_sequences=True`."""

    def _states(self, tape, Z, Sn, Wh, T, k, S_symbol):
        def vjp(G, S):
            return (RNNBackward(G, Z, S, Wh, T),)

        return tape.record(
            Sn, elementwise(Tanh().fn, Z), (Z,), vjp,
            why=(f"{Sn}[t] = tanh({Z.name}[t]) reaches L directly (∂L/∂{Sn}[t], the output's "
                 f"contribution) and through {Z.name}[t+1] = … + {Sn}[t] Wh{k} (the recurrent "
                 f"one), so backwards in time δ{k}[t] = (∂L/∂{Sn}[t] + δ{k}[t+1] Wh{k}ᵀ) ⊙ "
                 f"tanh′({Z.name}[t]), from t = T (where δ{k}[T+1] = 0) down to 1; "
                 f"tanh′ = 1 − {Sn}[t]²."),
            layer=k)


class LSTM(_Recurrent):
    """PyTorch's nn.LSTM (one layer, batch_first) in symnet's (in, out) layout; see the module
    docstring for the gate order and parameter names."""

    cell, gates = "lstm", 4

    def _states(self, tape, Z, Sn, Wh, T, k, S_symbol):
        def vjp(G, S):
            return (LSTMBackward(G, Z, S, Wh, T),)

        return tape.record(
            Sn, LSTMStates(Z, T), (Z,), vjp,
            why=(f"{Sn}[t] = o[t] ⊙ tanh(c[t]) reaches L directly and through {Z.name}[t+1] "
                 f"(via Wh{k}), and the memory c[t] reaches c[t+1] through the forget gate: "
                 f"backwards in time ∂L/∂h[t] = ∂L/∂{Sn}[t] + δ{k}[t+1] Wh{k}ᵀ, ∂L/∂c[t] = "
                 f"∂L/∂h[t] ⊙ o[t] ⊙ tanh′(c[t]) + ∂L/∂c[t+1] ⊙ f[t+1], and each gate's block "
                 f"of δ{k}[t] is the product rule at that gate times its σ′ or tanh′."),
            layer=k)


class GRU(_Recurrent):
    """PyTorch's nn.GRU (one layer, batch_first) in symnet's (in, out) layout; see the module
    docstring for the gate order and parameter names."""

    cell, gates = "gru", 3

    def shapes(self, k: int) -> dict[str, tuple[int, ...]]:
        g = 3 * self.n_hidden
        return {f"Wx{k}": (self.n_in, g), f"Wh{k}": (self.n_hidden, g), f"b{k}": (g,),
                f"bh{k}": (g,)}

    def record(self, tape, A, k: int):
        T, n = sequence_shape(self, tape.sample_shapes.get(A, (A.shape[1],)))
        h, g = self.n_hidden, 3 * self.n_hidden
        Wx = tape.param(f"Wx{k}", n, g, decays=True)
        Wh = tape.param(f"Wh{k}", h, g, decays=True)
        b, bh = tape.param(f"b{k}", g), tape.param(f"bh{k}", g)
        Zn, Hn, Sn = f"Z{k}", f"H{k}", f"S{k}"
        S_symbol = sp.MatrixSymbol(Sn, A.shape[0], T * h)  # defined by the third step
        Z = tape.record(
            Zn, StepDense(A, Wx, b, T), (A, Wx, b),
            lambda G, Z: (PerStep(G, Wx.T, T), TimeSum(A, G, T), TimeSumBias(G, T)),
            why=(f"{Zn}[t] = {A.name}[t] Wx{k} + 𝟙b{k}ᵀ, the input part of every gate, is a "
                 f"dense layer at every step: ∂L/∂Wx{k} = Σₜ {A.name}[t]ᵀ δ{k}[t], ∂L/∂b{k} = "
                 f"Σₜ δ{k}[t]ᵀ𝟙, ∂L/∂{A.name}[t] = δ{k}[t] Wx{k}ᵀ."),
            layer=k)
        H = tape.record(
            Hn, GRUHidden(Z, Wh, bh, T, Hn, Sn), (Wh, bh),
            lambda G, H: (TimeSum(S_symbol, G, T, 1), TimeSumBias(G, T)),
            why=(f"{Hn}[t] = {Sn}[t−1] Wh{k} + 𝟙bh{k}ᵀ, the hidden part, is a dense layer of "
                 f"the previous state with weights shared over time: with ∂L/∂{Hn} the total "
                 f"derivative (later steps included), ∂L/∂Wh{k} = Σₜ {Sn}[t−1]ᵀ ∂L/∂{Hn}[t] "
                 f"(from t = 2, as {Sn}[0] = 0) and ∂L/∂bh{k} = Σₜ ∂L/∂{Hn}[t]ᵀ𝟙."),
            layer=k)

        def vjp(G, S):
            return (GRUBackward(G, Z, H, S, Wh, T, 0), GRUBackward(G, Z, H, S, Wh, T, 1))

        S = tape.record(
            Sn, GRUStates(Z, H, T), (Z, H), vjp,
            why=(f"{Sn}[t] = (1 − u) ⊙ n + u ⊙ {Sn}[t−1] reaches L directly, through "
                 f"{Hn}[t+1] (via Wh{k}) and through {Sn}[t+1] itself (the update gate's "
                 f"u ⊙ h term): backwards in time ∂L/∂h[t] = ∂L/∂{Sn}[t] + ∂L/∂{Hn}[t+1] "
                 f"Wh{k}ᵀ + ∂L/∂h[t+1] ⊙ u[t+1], and each gate's block is the product rule "
                 f"at that gate times its σ′ or tanh′; n's hidden part is gated by r, so "
                 f"∂L/∂{Hn} has dn ⊙ r where δ{k} has dn."),
            layer=k)
        return self._output(tape, S, T, k)


__all__ = ["GRU", "LSTM", "RNN"]

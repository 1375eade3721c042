"""`SelfAttention(d_model, d_head, causal=False)`: one head of scaled dot-product attention.

For each sequence X_s (T, d_model) of the batch, layer k records

    Qk = [X[t] Wqk]ₜ,  Kk = [X[t] Wkk]ₜ,  Valk = [X[t] Wvk]ₜ     (T, d_head) per sequence
    Ek = [Qk Kkᵀ/√d_head]ₛ                                     scores (T, T)
    Pk = [softmax of each row of Ek]ₛ                          attention weights (causal: j ≤ i)
    Ok = [Pk Valk]ₛ                                            the output (T, d_head)

Parameters `Wq{k}`, `Wk{k}`, `Wv{k}`, each (d_model, d_head), no biases. The values are named
`Val{k}`, not V{k}: a LayerNorm after the layer shares its k and names its variance V{k}.
The backward rules: ∂L/∂P = [∂L/∂O Valᵀ]ₛ, ∂L/∂Val = [Pᵀ ∂L/∂O]ₛ, the softmax's per row,
∂L/∂Q = [∂L/∂E K]ₛ/√d, ∂L/∂K = [∂L/∂Eᵀ Q]ₛ/√d, and the three projections' dense rules summed
over time (`sequence.TimeSum`); ∂L/∂X sums the three paths.
"""

from __future__ import annotations

import sympy as sp

from ..algebra.attention import SeqMatMul, SeqSoftmax, SeqSoftmaxBackward
from ..algebra.sequence import PerStep, TimeSum
from ..errors import SpecError
from .layer import Layer
from .recurrent import positive, sequence_shape


class SelfAttention(Layer):
    """Single-head self-attention over a sequence (B, T, d_model) → (B, T, d_head)."""

    numbered = True

    def __init__(self, d_model: int, d_head: int, causal: bool = False):
        self.n_in = self.d_model = positive("SelfAttention d_model", d_model)
        self.d_head = positive("SelfAttention d_head", d_head)
        if not isinstance(causal, bool):
            raise SpecError(f"causal must be True or False, got {causal!r}")
        self.causal = causal

    def __repr__(self):
        return f"SelfAttention({self.d_model}, {self.d_head}{', causal=True' * self.causal})"

    def __eq__(self, other):
        return type(other) is SelfAttention and (self.d_model, self.d_head, self.causal) == (
            other.d_model, other.d_head, other.causal)

    def __hash__(self):
        return hash(("SelfAttention", self.d_model, self.d_head, self.causal))

    def out_shape(self, in_shape):
        T, _ = sequence_shape(self, in_shape)
        return (T, self.d_head)

    def init_code(self, k: int) -> dict[str, str]:
        """Glorot-uniform projections."""
        limit = (6 / (self.d_model + self.d_head)) ** 0.5
        shape = (self.d_model, self.d_head)
        return {f"W{w}{k}": f"rng.uniform(-{limit!r}, {limit!r}, size={shape})" for w in "qkv"}

    def record(self, tape, X, k: int):
        T, d = sequence_shape(self, tape.sample_shapes.get(X, (X.shape[1],)))
        h = self.d_head
        scale = 1 / sp.sqrt(h)
        W = {w: tape.param(f"W{w}{k}", d, h, decays=True) for w in "qkv"}
        seq, scores = (T, h), (T, T)

        def project(name, w):
            return tape.record(
                name, PerStep(X, W[w], T), (X, W[w]),
                lambda G, out: (PerStep(G, W[w].T, T), TimeSum(X, G, T)),
                why=(f"{name}[t] = {X.name}[t] W{w}{k} at every step: ∂L/∂W{w}{k} = "
                     f"Σₜ {X.name}[t]ᵀ ∂L/∂{name}[t] and ∂L/∂{X.name}[t] gains "
                     f"∂L/∂{name}[t] W{w}{k}ᵀ."),
                layer=k)

        Q, K, V = project(f"Q{k}", "q"), project(f"K{k}", "k"), project(f"Val{k}", "v")
        E = tape.record(
            f"E{k}", SeqMatMul(Q, K, seq, seq, tb=1, scale=scale), (Q, K),
            lambda G, out: (SeqMatMul(G, K, scores, seq, scale=scale),
                            SeqMatMul(G, Q, scores, seq, ta=1, scale=scale)),
            why=(f"E{k} = Q{k} K{k}ᵀ/√{h} per sequence is a product: ∂L/∂Q{k} = ∂L/∂E{k} "
                 f"K{k}/√{h} and ∂L/∂K{k} = ∂L/∂E{k}ᵀ Q{k}/√{h} (the 1/√{h} in both)."),
            layer=k)
        P = tape.record(
            f"P{k}", SeqSoftmax(E, T, self.causal), (E,),
            lambda G, out: (SeqSoftmaxBackward(G, out, T),),
            why=(f"each row of P{k} is the softmax of a row of E{k}, whose Jacobian is "
                 f"diag(p) − p pᵀ: ∂L/∂E{k} = P{k} ⊙ (G − (G ⊙ P{k}) 𝟙𝟙ᵀ) with G = ∂L/∂P{k}"
                 + (" (masked entries have p = 0, so no gradient)." if self.causal else ".")),
            layer=k)
        O = tape.record(
            f"O{k}", SeqMatMul(P, V, scores, seq), (P, V),
            lambda G, out: (SeqMatMul(G, V, seq, seq, tb=1), SeqMatMul(P, G, scores, seq, ta=1)),
            why=(f"O{k} = P{k} Val{k} per sequence: ∂L/∂P{k} = ∂L/∂O{k} Val{k}ᵀ and "
                 f"∂L/∂Val{k} = P{k}ᵀ ∂L/∂O{k}."),
            layer=k)
        tape.sample_shapes[O] = (T, h)
        return O


__all__ = ["SelfAttention"]

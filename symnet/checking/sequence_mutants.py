"""Mutants of recurrent and attention layers: the hand-written BPTT and attention mistakes.

Each function takes a Derivation and yields (title, {equation name: new right-hand side}), as
the functions in `mutants.py` do (that table includes these):

- the recurrent term δ[t+1] Whᵀ dropped from BPTT (each step's δ only from its own output; a
  GRU's two recurrent paths, through Wh and through the update gate, together);
- a weight's sum over time truncated to the last step (Σₜ₌T…T: only the final step counted);
- the attention softmax Jacobian wrong: only its diagonal (P ⊙ G) or none (G used as ∂L/∂E);
- the 1/√d of the attention scores missing from ∂L/∂Q or ∂L/∂K.
"""

from __future__ import annotations

import sympy as sp

from ..algebra.attention import SeqMatMul, SeqSoftmaxBackward
from ..algebra.gru import GRUBackward
from ..algebra.notation import unicode_expr
from ..algebra.recurrent import LSTMBackward, RNNBackward
from ..algebra.sequence import TimeSum, TimeSumBias


def _nodes(d, kinds):
    for eq in d.backward:
        for node in sp.preorder_traversal(eq.rhs):
            if isinstance(node, kinds):
                yield eq, node


def recurrent_term_dropped(d):
    for eq, node in _nodes(d, (RNNBackward, LSTMBackward)):
        if node.recurrent:
            dropped = type(node)(*node.args[:5], 0)
            yield (f"the recurrent term {unicode_expr(eq.lhs)}[t+1] {unicode_expr(node.Wh)}ᵀ is "
                   f"missing from backpropagation through time: each step's "
                   f"{unicode_expr(eq.lhs)}[t] sees only its own output's gradient",
                   {eq.name: eq.rhs.xreplace({node: dropped})})
    # A GRU's δ and ∂L/∂H come from one backward loop: both lose the recurrence together.
    gru = [(eq, node) for eq, node in _nodes(d, GRUBackward) if node.recurrent]
    for S in dict.fromkeys(node.S for _, node in gru):
        edits = {eq.name: eq.rhs.xreplace({node: GRUBackward(*node.args[:7], 0)})
                 for eq, node in gru if node.S == S}
        H = next(node.H for _, node in gru if node.S == S)
        yield (f"the recurrent paths ∂L/∂{unicode_expr(H)}[t+1] Whᵀ and ∂L/∂h[t+1] ⊙ u[t+1] are "
               f"missing from the GRU's backpropagation through time: each step's gradient "
               f"sees only its own output", edits)


def time_sum_truncated(d):
    for eq, node in _nodes(d, (TimeSum, TimeSumBias)):
        if node.first < node.T:
            if isinstance(node, TimeSum):
                last = TimeSum(node.P, node.Q, node.T, node.shift, node.T)
            else:
                last = TimeSumBias(node.Q, node.T, node.T)
            yield (f"the sum over time in {unicode_expr(eq.lhs)} is truncated to the last step "
                   f"t = T: the weight is shared by every step, and each step adds its term",
                   {eq.name: eq.rhs.xreplace({node: last})})


def attention_softmax_wrong(d):
    for eq, node in _nodes(d, SeqSoftmaxBackward):
        if node.form == "full":
            for form, what in (("diagonal", "only the diagonal diag(p) of the softmax Jacobian "
                                            "is kept, without −p pᵀ"),
                               ("identity", "the softmax Jacobian is dropped: ∂L/∂P is used as "
                                            "∂L/∂E")):
                yield (f"attention: {what} in {unicode_expr(eq.lhs)}",
                       {eq.name: eq.rhs.xreplace({node: SeqSoftmaxBackward(*node.args[:3],
                                                                           form)})})


def attention_scale_missing(d):
    edits = {}
    for eq, node in _nodes(d, SeqMatMul):
        if node.scale != 1:
            edits[eq.name] = eq.rhs.xreplace({node: node.with_scale(sp.S.One)})
            yield (f"the 1/√d of the attention scores is missing from {unicode_expr(eq.lhs)}",
                   {eq.name: edits[eq.name]})
    if len(edits) > 1:  # left out of ∂L/∂E itself: both ∂L/∂Q and ∂L/∂K lack it
        yield "the 1/√d of the attention scores is missing from the backward pass", edits


KIND_OF = {
    "recurrent_term_dropped": "recurrence_wrong",
    "time_sum_truncated": "recurrence_wrong",
    "attention_softmax_wrong": "attention_wrong",
    "attention_scale_missing": "attention_wrong",
}

MUTANTS = (recurrent_term_dropped, time_sum_truncated, attention_softmax_wrong,
           attention_scale_missing)

__all__ = ["KIND_OF", "MUTANTS"]

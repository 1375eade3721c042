"""Inverted dropout: during training each entry is kept with probability 1 − p and rescaled.

After layer k, `Dropout(p)` records

    Dk = (Ak ⊙ Mk) / (1 − p)

where the mask Mk (B × n, entries 0 or 1) is data in the derivation, like X and Y: the
backward pass multiplies by the same mask and the same 1/(1 − p) (`merge.dropout_vjp`). Where
the mask comes from is the caller's: generated training code samples a fresh one per step
(each entry 1 with probability 1 − p), `check` and `verify` fix one so that gradients are
deterministic, and evaluation mode (`forward` without masks) leaves dropout out, Dk = Ak, which
the rescaling makes right on average.
"""

from __future__ import annotations

import sympy as sp

from ..algebra import merge
from ..errors import SpecError
from .layer import Layer, exact


class Dropout(Layer):
    """Inverted dropout with rate p (PyTorch's `nn.Dropout(p)`); see the module docstring."""

    name = "dropout"

    def __init__(self, p=0.5):
        self.p = exact(p, "Dropout p")
        if not 0 <= self.p < 1:
            raise SpecError(f"Dropout p is the probability of dropping an entry, 0 ≤ p < 1; "
                            f"got {p!r}")

    def __repr__(self):
        return f"Dropout({float(self.p):g})"

    def __eq__(self, other):
        return type(other) is Dropout and other.p == self.p

    def __hash__(self):
        return hash(("Dropout", self.p))

    def record(self, tape, A, k: int):
        name = f"M{k}"
        tape._claim(name)  # the mask is a name of the pass, as a parameter is
        M = sp.MatrixSymbol(name, *A.shape)
        tape.masks[M] = self.p
        p = self.p
        scale = 1 / (1 - p)
        why = (f"D{k} = ({A.name} ⊙ M{k})/(1 − p) with the 0/1 mask M{k} fixed (p = {p}): "
               f"entry by entry, ∂L/∂{A.name} = (∂L/∂D{k} ⊙ M{k})/(1 − p) = {scale}·(∂L/∂D{k} "
               f"⊙ M{k}): the dropped entries get no gradient, the kept ones the same rescaling "
               f"as in the forward pass.")
        return tape.record(f"D{k}", merge.dropout(A, M, p), (A, M),
                           lambda G, out: (merge.dropout_vjp(G, M, p), None),
                           why=why, layer=k, inline=True)


def masks_of(tape) -> dict:
    """{mask name: p} of a tape, in forward order."""
    return {str(M.name): p for M, p in tape.masks.items()}


__all__ = ["Dropout", "masks_of"]

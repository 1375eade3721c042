"""The forward tape: named symbolic intermediates, each with the rule that produced it.

Layers write to the tape (`Z1 = X W1 + 𝟙b1ᵀ`, `A1 = σ(Z1)`, …, `L = …`); `derivation.py`
reads it backwards. Every intermediate is a `MatrixSymbol` with its real shape (the batch is the
symbol `B`), so each equation refers to the previous ones by name and the derivation grows
linearly with depth and not at all with width.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sympy as sp

from ..errors import SpecError
from .matexpr import B


@dataclass(frozen=True)
class Step:
    output: sp.Basic  # the MatrixSymbol (or the scalar L) this step defines
    value: sp.Basic  # its forward expression, in terms of `inputs`
    inputs: tuple  # the symbols `value` reads
    vjp: Callable  # G -> one gradient expression per input (None where not needed)
    why: str  # the chain-rule reasoning, in words, for the Markdown derivation
    layer: int  # 1-based index of the dense layer this step belongs to
    # Element-wise steps fold their upstream gradient into the next equation, so the printout
    # reads δ1 = (δ2 W2ᵀ) ⊙ σ′(Z1) rather than naming ∂L/∂A1 separately.
    inline: bool = False


@dataclass
class Tape:
    X: sp.MatrixSymbol
    Y: sp.MatrixSymbol
    steps: list[Step] = field(default_factory=list)
    params: dict[str, sp.MatrixSymbol] = field(default_factory=dict)
    weights: list[str] = field(default_factory=list)  # the params that L2 weight decay applies to
    shapes: dict[str, tuple] = field(default_factory=dict)  # each param's NumPy shape
    names: set[str] = field(default_factory=set)  # every name defined so far
    # Each intermediate's per-sample shape where it is not flat: an image (C, H, W) is a
    # (B, C·H·W) matrix on the tape, and its layers read (C, H, W) here.
    sample_shapes: dict = field(default_factory=dict)
    # The shapes a Flatten took away (the next layers must see a row; views of the graph still
    # show what the layer before it produced).
    flattened: dict = field(default_factory=dict)
    # Data the pass reads besides X and Y: each dropout mask's symbol (M1, …) → its rate p.
    masks: dict = field(default_factory=dict)

    @classmethod
    def start(cls, n_in: int, n_out: int) -> Tape:
        return cls(X=sp.MatrixSymbol("X", B, n_in), Y=sp.MatrixSymbol("Y", B, n_out))

    def param(self, name: str, rows: int, cols: int | None = None, *, decays: bool = False,
              shape: tuple | None = None):
        """A weight matrix (rows, cols), or a vector (rows,) when cols is None. Vectors are
        columns symbolically, so that 𝟙bᵀ is a matrix product, and 1-D arrays in NumPy.
        `shape`: the NumPy shape where it is not the matrix's (a conv kernel (O, C, kh, kw)
        is the (O, C·kh·kw) matrix of its rows)."""
        self._claim(name)
        self.params[name] = sp.MatrixSymbol(name, rows, 1 if cols is None else cols)
        self.shapes[name] = shape or ((rows,) if cols is None else (rows, cols))
        if decays:
            self.weights.append(name)
        return self.params[name]

    def record(self, name, value, inputs, vjp, *, why, layer, inline=False):
        """Append `name = value` and return the new symbol."""
        self._claim(name)
        out = sp.Symbol(name) if name == "L" else sp.MatrixSymbol(name, *value.shape)
        self.steps.append(Step(out, value, tuple(inputs), vjp, why, layer, inline))
        return out

    def _claim(self, name: str):
        # One name, one quantity: a second A1 (two activations after one dense layer) or a
        # second beta1 (LayerNorm and a learned β after the same layer) would alias the first.
        if name in self.names:
            raise SpecError(
                f"{name} is defined twice: two layers after one dense layer give it the same "
                "name. Use at most one activation per dense layer, and name a custom "
                "activation's learned scalars apart from W, b and a normalization's gamma and "
                "beta (e.g. params={'theta': 1.0} rather than beta after a BatchNorm)"
            )
        self.names.add(name)

    @property
    def loss(self) -> Step:
        return self.steps[-1]

"""The record every corpus entry is: a hand-written (loss, grads) pair and what is wrong with it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

KINDS = (
    "transposed", "scaled", "sign", "bias_not_summed", "activation_derivative_missing",
    "activation_derivative_at_output", "activation_derivative_wrong", "wrong_layer_input",
    "l2_missing", "l2_wrong", "partial", "loss_gradient_wrong", "normalization_wrong", "zero",
    "other",
)


@dataclass
class Case:
    name: str
    style: str
    make: Callable  # make(seed) -> (params, X, Y)
    loss: Callable  # loss(params, X, Y) -> float
    grads: Callable  # grads(params, X, Y) -> {name: array}
    buggy_params: frozenset = frozenset()  # parameters whose gradient is wrong
    kind: str | None = None  # one of KINDS; None for a correct case
    notes: str = ""
    # Optional refinements, used by measure.py:
    says: str | None = None  # regex a *precise* diagnosis of the buggy params would match
    weight_decay: float | None = None  # the λ a user would pass to verify(weight_decay=)
    truth_loss: Callable | None = None  # float64 twin of a loss that forces float32 inside

    def __post_init__(self):
        self.buggy_params = frozenset(self.buggy_params)
        assert (self.kind is None) == (not self.buggy_params), self.name
        assert self.kind is None or self.kind in KINDS, (self.name, self.kind)

    @property
    def correct(self) -> bool:
        return not self.buggy_params

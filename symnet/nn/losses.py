"""Losses, defined as PyTorch defines them so that any result can be compared with PyTorch.

| symnet               | PyTorch                          | mean over          |
|----------------------|----------------------------------|--------------------|
| `MSE`                | `MSELoss`                        | all B·n entries    |
| `BinaryCrossEntropy` | `BCELoss` (on probabilities)     | all B·n entries    |
| `BCEWithLogits`      | `BCEWithLogitsLoss`              | all B·n entries    |
| `SoftmaxCrossEntropy`| `CrossEntropyLoss` (on logits)   | the B samples      |
| `CrossEntropy`       | `NLLLoss` of `log(p)` (on probabilities) | the B samples |

`reduction="sum"` drops the mean; `scale=c` multiplies the data loss by c (½Σ(a − y)² is `mse`
with reduction="sum", scale=1/2). `weight_decay=λ` adds (λ/2) Σ‖W‖² over the dense weights
only, so that ∂L/∂W gains λW and the biases are not decayed (the usual L2 regularization);
`decay="all"` adds it over every parameter (biases, γ, β, learned scalars too), which is what
PyTorch's optimizers' `weight_decay` does to every parameter they are given. Element-wise
losses are declared by their formula ℓ(x, y) (x the prediction, y the target); ∂ℓ/∂x is derived.

`bce` and `ce` are printed on probabilities, but the generated code computes them from the
logits (symnet.codegen.logits): the values equal the exact ones everywhere. Unlike
`torch.nn.BCELoss(torch.sigmoid(z))`, which clamps log at −100 once σ(z) rounds to 0 or 1
(|z| > 36.7 in float64, 16.6 in float32), the loss does not saturate at 100; it matches
`BCEWithLogitsLoss` there.
"""

from __future__ import annotations

from functools import cached_property

import sympy as sp

from ..algebra import rules
from ..algebra.functions import cheapest_form, softplus, x, y
from ..algebra.matexpr import B, ScalarFn
from ..errors import SpecError
from .layer import exact


class Loss:
    name = "loss"  # word in specs
    label = "ℓ"
    needs_probabilities = False  # True: the network must end in a layer whose output is in (0, 1)

    def __init__(self, reduction: str = "mean", weight_decay=0, decay: str = "weights", scale=1):
        if reduction not in ("mean", "sum"):
            raise SpecError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        if decay not in ("weights", "all"):
            raise SpecError(f"decay must be 'weights' (the dense weights W only) or 'all' (every "
                            f"parameter, as PyTorch's optimizers), got {decay!r}")
        self.reduction = reduction
        self.weight_decay = exact(weight_decay, "weight_decay")
        if self.weight_decay < 0:
            raise SpecError(f"weight_decay must be ≥ 0, got {weight_decay!r}")
        # Other people's conventions in one number: ½Σ(a − y)² is mse with scale=1/2 and
        # reduction=sum, "sum over outputs, mean over the batch" is mse with scale=n_out.
        self.factor = exact(scale, "scale")
        if self.factor <= 0:
            raise SpecError(f"scale must be > 0, got {scale!r}")
        self.decay = decay

    def __repr__(self):
        extras = [f"reduction={self.reduction!r}"] if self.reduction != "mean" else []
        if self.weight_decay:
            extras.append(f"weight_decay={self.weight_decay}")
        if self.factor != 1:
            extras.append(f"scale={self.factor}")
        if self.decay != "weights":
            extras.append(f"decay={self.decay!r}")
        return f"{type(self).__name__}({', '.join(extras)})"

    def __eq__(self, other):
        return type(other) is type(self) and self._fields() == other._fields()

    def _fields(self) -> dict:
        """What defines the loss: its attributes, less the values cached from them."""
        cls = type(self)
        return {k: v for k, v in vars(self).items()
                if not isinstance(getattr(cls, k, None), cached_property)}

    def scale(self, n_out: int):
        """c in L = c Σ …: 1/(B·n) for a mean over all entries, 1 for a sum (times `scale=`)."""
        return self.factor * (sp.S.One if self.reduction == "sum" else 1 / (B * n_out))

    def value(self, A, Y, c):
        raise NotImplementedError

    def vjp(self, A, Y, c):
        raise NotImplementedError

    def why(self, A) -> str:
        raise NotImplementedError

    def record(self, tape, A):
        c = self.scale(A.shape[1])
        lam = self.weight_decay
        names = tape.weights if self.decay == "weights" else list(tape.params)
        decayed = [tape.params[name] for name in names] if lam else []
        value = self.value(A, tape.Y, c) + sum(rules.l2_penalty(W, lam) for W in decayed)
        if self.decay == "weights":
            l2 = (" The L2 term (λ/2)Σ‖W‖² over the dense weights only (not the biases; "
                  "decay=all decays every parameter, as PyTorch's optimizers do) adds λW to "
                  "each ∂L/∂W.")
        else:
            l2 = (" The L2 term (λ/2)Σ‖θ‖² over every parameter (decay=all, as PyTorch's "
                  "optimizers' weight_decay) adds λθ to each ∂L/∂θ.")
        why = self.why(A) + (l2 if lam else "")
        return tape.record(
            "L",
            value,
            (A, *decayed),
            lambda G, L: (self.vjp(A, tape.Y, c), *(rules.l2_penalty_vjp(W, lam) for W in decayed)),
            why=why,
            layer=0,
        )


class ElementwiseLoss(Loss):
    """L = c Σᵢⱼ ℓ(Aᵢⱼ, Yᵢⱼ), with ℓ declared by `formula()` in x (prediction) and y (target)."""

    points = (sp.Rational(-17, 10), sp.Rational(-3, 10), sp.Rational(9, 20), sp.Rational(11, 5))

    def formula(self) -> sp.Expr:
        raise NotImplementedError

    @cached_property
    def ell(self) -> ScalarFn:
        return ScalarFn(self.name, self.label, sp.Lambda((x, y), self.formula()))

    @cached_property
    def ell_prime(self) -> ScalarFn:
        # symnet's losses: no time limit, so the code never depends on the machine's load
        form = cheapest_form(sp.diff(self.formula(), x), points=self.points, budget=None)
        return ScalarFn(f"d_{self.name}", f"∂{self.label}/∂x", sp.Lambda((x, y), form))

    def value(self, A, Y, c):
        return rules.elementwise_loss(self.ell, A, Y, c)

    def vjp(self, A, Y, c):
        return rules.elementwise_loss_vjp(self.ell_prime, A, Y, c)

    def why(self, A):
        return (
            f"L = c Σ ℓ(A, Y) sums one term per entry, so ∂L/∂{A.name} = c ∂ℓ/∂a({A.name}, Y) "
            f"entry by entry, with c = {self.reduction_words()}."
        )

    def reduction_words(self):
        return "1 (sum)" if self.reduction == "sum" else "1/(B·n), the mean over all entries"


class MSE(ElementwiseLoss):
    name, label = "mse", "ℓ_mse"

    def formula(self):
        return (x - y) ** 2


class BinaryCrossEntropy(ElementwiseLoss):
    name, label = "bce", "ℓ_bce"
    needs_probabilities = True
    probabilities_from, logits_loss = "sigmoid", "bce_logits"  # the layer it needs, the fused loss
    points = (sp.Rational(1, 10), sp.Rational(1, 3), sp.Rational(3, 5), sp.Rational(9, 10))

    def formula(self):
        return -(y * sp.log(x) + (1 - y) * sp.log(1 - x))


class BCEWithLogits(ElementwiseLoss):
    name, label = "bce_logits", "ℓ_bcel"

    def formula(self):
        # log(1 + e^x) − y·x = −[y log σ(x) + (1 − y) log(1 − σ(x))], without overflow.
        return softplus(x) - y * x


class SoftmaxCrossEntropy(Loss):
    """Cross-entropy of softmax(Z) against one-hot (or probability) rows of Y, from logits Z.

    Integer class labels are turned into one-hot rows by the data layer."""

    name, label = "softmax_ce", "CE"

    def scale(self, n_out: int):
        return self.factor * (sp.S.One if self.reduction == "sum" else 1 / B)

    def value(self, A, Y, c):
        return rules.softmax_cross_entropy(A, Y, c)

    def vjp(self, A, Y, c):
        return rules.softmax_cross_entropy_vjp(A, Y, c)

    def why(self, A):
        mean = "1" if self.reduction == "sum" else "1/B"
        return (
            f"L = c Σᵢ (log Σₖ exp({A.name}ᵢₖ) − Σₖ Yᵢₖ {A.name}ᵢₖ) with c = {mean}; the "
            f"derivative of log-sum-exp is softmax, so ∂L/∂{A.name} = c (softmax({A.name}) − Y), "
            "using that each row of Y sums to 1."
        )


class CrossEntropy(ElementwiseLoss):
    """L = −(1/B) Σᵢₖ Yᵢₖ log Pᵢₖ on probabilities P, the output of a `Softmax` layer: PyTorch's
    `NLLLoss(log(P), labels)` for one-hot Y.

    The fused `SoftmaxCrossEntropy` on logits is simpler and the better choice for training.
    Here the chain rule takes two steps: ∂L/∂P = −(1/B) Y ⊘ P, then softmax's matrix rule
    δ = P ⊙ (G − (G ⊙ P) 𝟙𝟙ᵀ), which collapses to (P − Y)/B only after using that each row of Y
    sums to 1. The fused loss is that collapsed form from the start: δ = (softmax(Z) − Y)/B,
    one subtraction, with no division by P (which underflows to 0 for confident wrong
    predictions) and no log of a rounded probability."""

    name, label = "ce", "ℓ_ce"
    needs_probabilities = True
    probabilities_from, logits_loss = "softmax", "softmax_ce"
    points = (sp.Rational(1, 10), sp.Rational(1, 3), sp.Rational(3, 5), sp.Rational(9, 10))

    def formula(self):
        return -y * sp.log(x)

    def scale(self, n_out: int):
        return self.factor * (sp.S.One if self.reduction == "sum" else 1 / B)

    def reduction_words(self):
        return "1 (sum)" if self.reduction == "sum" else "1/B, the mean over the samples"


LOSSES = {cls.name: cls for cls in (MSE, BinaryCrossEntropy, BCEWithLogits, SoftmaxCrossEntropy,
                                     CrossEntropy)}

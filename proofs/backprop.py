"""The four backpropagation equations, as `symnet.derive` produces them for whole networks.

For a network of dense layers, each followed by an activation f, with loss L:

    δ_L = ∂L/∂A_L ⊙ f′(Z_L)             (output error)
    δ_k = (δ_{k+1} W_{k+1}ᵀ) ⊙ f′(Z_k)   (error recursion)
    ∂L/∂b_k = δ_kᵀ 𝟙                     (bias gradient)
    ∂L/∂W_k = A_{k−1}ᵀ δ_k (+ λ W_k)     (weight gradient, with L2 decay)

With softmax cross-entropy on logits the output layer has no activation and the output error
is δ_L = c (softmax(Z_L) − Y) instead.

Bounded: for every depth, every width of every layer, and every batch size within the bounds
of each `Family` below, a network is built from symnet's layers (`Dense`, a generic activation
f, a generic loss ℓ, L2 decay λ = 1/10) and derived by `symnet.derive`, the real code path.
Every input, target and parameter entry is its own symbol; the derivation's equations are
evaluated on them with `symnet.derivation.evaluate.interpret`; and each entry of every δ_k and every
parameter gradient is compared with `sympy.diff` of the fully expanded scalar loss. f and ℓ are
undefined functions (see `_generic`), so the check holds for every activation and element-wise
loss at once.

δ_k = ∂L/∂Z_k is differentiated by cutting the forward pass at Z_k: Z_k's entries become fresh
symbols ζ, the rest of the forward pass and the loss are evaluated from them, and ∂L/∂ζ is
taken at ζ = Z_k.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import sympy as sp

from symnet import Dense, Network, SoftmaxCrossEntropy, derive
from symnet.derivation.evaluate import interpret
from symnet.prove import Theorem

from ._explicit import evaluate, symbols
from ._generic import GenericActivation, GenericLoss

DECAY = sp.Rational(1, 10)


@dataclass(frozen=True)
class Family:
    """The networks one theorem enumerates: every depth, every width of every layer (inputs
    included), every batch size in the bounds; the output layer ends in f unless `logits`."""

    loss: Callable  # () -> a symnet Loss
    depths: tuple
    widths: tuple
    batches: tuple
    logits: bool = False

    @property
    def bound(self) -> str:
        return (f"depth ≤ {max(self.depths)}, widths ≤ {max(self.widths)}, "
                f"B ≤ {max(self.batches)}, generic f" + ("" if self.logits else " and ℓ"))

    def networks(self):
        for depth in self.depths:
            for widths in itertools.product(self.widths, repeat=depth + 1):
                layers = []
                for n_in, n_out in zip(widths, widths[1:]):
                    layers += [Dense(n_in, n_out), GenericActivation()]
                yield Network(layers[:-1] if self.logits else layers, self.loss())


ELEMENTWISE = Family(lambda: GenericLoss(weight_decay=DECAY), (1, 2, 3), (1, 2), (1, 2))
SOFTMAX_CE = Family(SoftmaxCrossEntropy, (1, 2), (1, 2), (1, 2), logits=True)


def theorems():
    yield Theorem("backpropagation: the four equations of derive()",
                  partial(four_equations, ELEMENTWISE), ELEMENTWISE.bound)
    yield Theorem("backpropagation into softmax cross-entropy on logits",
                  partial(four_equations, SOFTMAX_CE), SOFTMAX_CE.bound)


def four_equations(family, proof):
    output = (r"\delta_{L} = c \left(\operatorname{softmax}(Z_{L}) - Y\right)" if family.logits
              else r"\delta_{L} = \frac{\partial L}{\partial A_{L}} \odot f'(Z_{L})")
    decay = "" if family.logits else r" + \lambda W_{k}"
    proof.states(
        output + r",\ \delta_{k} = \left(\delta_{k+1} W_{k+1}^{\top}\right) \odot f'(Z_{k}),\ "
        r"\frac{\partial L}{\partial b_{k}} = \delta_{k}^{\top} \mathbb{1},\ "
        rf"\frac{{\partial L}}{{\partial W_{{k}}}} = A_{{k-1}}^{{\top}} \delta_{{k}}{decay}"
    )
    deepest, cases = None, 0
    for net in family.networks():
        d = derive(net)
        deepest = d
        for batch in family.batches:
            _check(proof, d, batch)
            cases += 1
    for eq in deepest.backward:  # what was checked, shown for the last (deepest) network
        proof.step(f"derive() gives {eq.name}", (eq.lhs, eq.rhs))
    proof.step(f"{cases} (network, batch size) cases: every entry of every δ_k, ∂L/∂W_k and "
               "∂L/∂b_k equals the derivative of the fully expanded loss")


def _check(proof, d, batch):
    env, inputs = evaluate(d, batch)
    L = env[d.loss.lhs]
    for symbol in d.params.values():
        _compare(proof, L, env[symbol], env[_gradient(d, symbol)], symbol.name)
    for eq in d.forward:
        if eq.name.startswith("Z"):
            zeta = symbols(sp.MatrixSymbol(f"zeta_{eq.name}", *eq.lhs.shape), batch)
            cut = {**inputs, eq.lhs: zeta}
            for later in (*d.forward, d.loss):
                if later.lhs not in cut:
                    cut[later.lhs] = interpret(later.rhs, cut, batch)
            at = dict(zip(zeta, env[eq.lhs]))
            _compare(proof, cut[d.loss.lhs], zeta, env[_gradient(d, eq.lhs)], eq.name, at)


def _compare(proof, L, variables, gradient, name, at=None):
    for v, g in zip(variables, gradient):
        truth = sp.diff(L, v)
        proof.equal(g, truth.xreplace(at) if at else truth, f"d{name} at {v}", show=False)


def _gradient(d, symbol):
    return d.equation(f"d{symbol.name}").lhs

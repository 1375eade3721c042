"""Activations with learned scalars: A = f(Z, θ₁, …, θₚ) entry by entry, each θ a (1, 1)
parameter (swish's β in x·σ(βx), say), gives

    ∂L/∂Z = G ⊙ ∂f/∂x(Z, θ),    ∂L/∂θᵣ = 𝟙ᵀ (G ⊙ ∂f/∂θᵣ(Z, θ)) 𝟙    (G = ∂L/∂A),

`rules.parametric_vjp`: θ touches every entry of A, so its gradient sums over all of them.

General: for a generic f of x and two scalars (any differentiable function; one scalar is the
same with the other unused), Z and G of symbolic shape B × n, by index calculus as in `dense`,
with each partial derivative in either form `custom.CustomActivation` may hand the rule: in
(x, θ), or in (x, θ, y) with y = f(x, θ) the layer's output.

Each partial derivative of an actual activation is derived from its formula and reduced to its
cheapest form (`functions.cheapest_form`), which keeps a form only if it agrees at sample
points; the theorems `custom activation …` prove those forms exactly, for the examples and
tests' activations, against `sympy.diff` of the formula rewritten in exp.
"""

from __future__ import annotations

from functools import partial

import sympy as sp

from symnet.algebra import rules
from symnet.algebra.functions import x, y
from symnet.algebra.matexpr import B, ScalarFn
from symnet.algebra.notation import GREEK, latex_expr, latex_label
from symnet.nn.activation import CustomActivation
from symnet.prove import Theorem

from ._generic import _Named
from ._index import entry, k, l, n, pullback

a, b = sp.symbols("alpha beta")  # the generic f's two scalars

# The learned-scalar activations symnet's examples and tests use, by formula.
EXAMPLES = (
    ("swish", "x * sigmoid(beta * x)", {"beta": 1.0}),
    ("scaled_tanh", "alpha * tanh(beta * x)", {"alpha": 1.0, "beta": 0.5}),
    ("learned_softplus", "softplus(beta * x) / beta", {"beta": 1.0}),
)


class f_x(_Named):  # noqa: N801 - ∂f/∂x, arbitrary
    nargs, tex = 3, r"\partial_x f"


class f_a(_Named):  # noqa: N801 - ∂f/∂α, arbitrary
    nargs, tex = 3, r"\partial_\alpha f"


class f_b(_Named):  # noqa: N801 - ∂f/∂β, arbitrary
    nargs, tex = 3, r"\partial_\beta f"


class f(_Named):  # noqa: N801 - an arbitrary differentiable f(x, α, β)
    nargs, tex = 3, "f"

    def fdiff(self, argindex=1):
        return (f_x, f_a, f_b)[argindex - 1](*self.args)


class h(_Named):  # noqa: N801 - a partial derivative written in (x, α, β, y), arbitrary
    nargs, tex = 4, "h"


def theorems():
    yield Theorem("element-wise layer with learned scalars: ∂L/∂θ = 𝟙ᵀ(G ⊙ ∂f/∂θ)𝟙",
                  parametric_rule)
    for name, formula, params in EXAMPLES:
        act = CustomActivation(name, formula, params)
        wrt = ", ".join(f"∂/∂{GREEK.get(p, p)}" for p in ("x", *params))
        yield Theorem(f"custom activation {name}: {wrt} in symnet's form",
                      partial(partials_are_exact, act))


def parametric_rule(proof):
    Z, G = sp.MatrixSymbol("Z", B, n), sp.MatrixSymbol("G", B, n)
    thetas = (sp.MatrixSymbol("alpha", 1, 1), sp.MatrixSymbol("beta", 1, 1))
    fn = ScalarFn("f", "f", sp.Lambda((x, a, b), f(x, a, b)))
    A = rules.parametric(fn, Z, thetas)
    proof.states(r"A = f(Z, \alpha, \beta),\ G = \frac{\partial L}{\partial A} \implies "
                 r"\frac{\partial L}{\partial Z} = G \odot \partial_x f,\ "
                 r"\frac{\partial L}{\partial \alpha} = \mathbb{1}^{\top} (G \odot "
                 r"\partial_\alpha f) \mathbb{1},\ \frac{\partial L}{\partial \beta} = "
                 r"\mathbb{1}^{\top} (G \odot \partial_\beta f) \mathbb{1}"
                 r" \quad \text{for } Z, G \in \mathbb{R}^{B \times n}")
    proof.step("entry (k, l) of rules.parametric", (sp.Symbol("A_{k,l}"), entry(A, k, l)))
    truths = [pullback(G, A, Z, k, l)] + [pullback(G, A, t, 0, 0) for t in thetas]
    at = [(k, l), (0, 0), (0, 0)]
    names = ["Zₖₗ", "α", "β"]
    for name, tex, truth in zip(names, ("Z_{k,l}", r"\alpha", r"\beta"), truths):
        proof.step(f"chain rule for ∂L/∂{name}, deltas summed",
                   (sp.Symbol(rf"\frac{{\partial L}}{{\partial {tex}}}"), truth))

    in_x = [ScalarFn(f"d{i}", "∂f", sp.Lambda((x, a, b), d(x, a, b))) for i, d in
            enumerate((f_x, f_a, f_b))]
    vjp = rules.parametric_vjp(G, in_x[0], in_x[1:], Z, A, thetas, (a, b))
    for name, rule, (r, c), truth in zip(names, vjp, at, truths):
        proof.equal(entry(rule, r, c), truth, f"rules.parametric_vjp's ∂L/∂{name}, "
                    "derivatives in (x, α, β)")

    # The same with each partial derivative written h(x, α, β, y), y = f(x, α, β): the rule
    # must hand h the layer's output as y. Hypothesis: ∂f/∂v(x, α, β) = h(x, α, β, f(x, α, β)).
    in_y = ScalarFn("dy", "∂f", sp.Lambda((x, a, b, y), h(x, a, b, y)), shown=3)
    vjp = rules.parametric_vjp(G, in_y, [in_y, in_y], Z, A, thetas, (a, b))
    hypothesis = sp.Lambda((x, a, b), h(x, a, b, f(x, a, b)))
    for name, rule, (r, c), truth in zip(names, vjp, at, truths):
        assumed = truth.replace(f_x, hypothesis).replace(f_a, hypothesis).replace(f_b, hypothesis)
        proof.equal(entry(rule, r, c), assumed, f"rules.parametric_vjp's ∂L/∂{name}, "
                    "derivatives in (x, α, β, y)")


def partials_are_exact(act, proof):
    formula = act.formula()
    proof.states(rf"f(x, {', '.join(map(latex_expr, act.symbols))}) = {latex_expr(formula)}"
                 r" \implies " + r",\ ".join(
                     rf"{latex_label(d.label)} = {latex_expr(d.lam.expr)}"
                     for d in (act.dfdx, *act.dfdthetas))
                 + (r" \quad (y = f)" if any(d.lam.expr.has(y) for d in (act.dfdx, *act.dfdthetas))
                    else "") + r" \quad \text{for all real } x \text{ and scalars}")
    if act.kinks:
        proof.cannot("a formula with kinks: its partial derivatives are proved only for "
                     "built-in activations")
    in_exp = formula.rewrite(sp.exp)
    proof.step("f rewritten in exp", in_exp)
    for v, d in zip((x, *act.symbols), (act.dfdx, *act.dfdthetas)):
        values = {x: x, y: formula} | {s: s for s in act.symbols}
        form = d.lam(*(values[u] for u in d.variables))
        truth = sp.diff(in_exp, v)
        proof.equal(form, truth, f"symnet's {d.label}, with y = f, equals d/d{v} of it")

"""The chain rule at matrix level: walk the forward tape backwards, one VJP rule per step.

`derive(net)` returns a `Derivation`: the forward equations (Z1 = X W1 + 𝟙b1ᵀ, A1 = σ(Z1), …),
the loss, and the backward equations in the order they are computed (δ2, ∂L/∂W2, ∂L/∂b2, δ1,
…). Each backward equation refers to earlier ones by name, so the derivation of an L-layer
network has O(L) equations of constant size. Printing, exact evaluation, code generation and the
checker all consume this one object.

SymPy's `MatrixExpr.diff` is not used: through element-wise functions it can return wrongly
shaped terms (SymPy 1.14). The rules in `rules.py` are applied instead, each proved in `proofs/`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import sympy as sp

from ..algebra.matexpr import Elementwise, ScalarFn
from ..nn.spec import network_from
from . import text
from .evaluate import evaluate


@dataclass(frozen=True)
class Equation:
    lhs: sp.Basic  # a MatrixSymbol (Z1, dZ1, dW1, …) or the scalar L
    rhs: sp.Basic
    kind: str  # "forward", "loss", "delta" (δ = ∂L/∂Z), "gradient" (a parameter's), "backward"
    why: tuple[str, ...] = ()  # the chain-rule steps that produced it, in words
    layer: int = 0

    @property
    def name(self) -> str:
        return str(self.lhs.name)


def gradient_name(symbol) -> str:
    """The name of ∂L/∂`symbol` in equations and generated code: dZ1, dW1, db1, dA1."""
    return f"d{symbol.name}"


class Derivation:
    """The ordered equations of a network's forward and backward pass."""

    def __init__(self, network, tape, forward, loss, backward):
        self.network, self.tape = network, tape
        self.forward: tuple[Equation, ...] = tuple(forward)
        self.loss: Equation = loss
        self.backward: tuple[Equation, ...] = tuple(backward)

    # ── what it holds ──
    @property
    def X(self):
        return self.tape.X

    @property
    def Y(self):
        return self.tape.Y

    @property
    def params(self) -> dict[str, sp.MatrixSymbol]:
        return dict(self.tape.params)

    @property
    def equations(self) -> tuple[Equation, ...]:
        return (*self.forward, self.loss, *self.backward)

    def equation(self, name: str) -> Equation:
        for eq in self.equations:
            if eq.name == name:
                return eq
        raise KeyError(f"no equation defines {name!r}; names: {[e.name for e in self.equations]}")

    def gradient(self, name: str, *, expand: bool = False) -> sp.Basic:
        """∂L/∂`name` as a SymPy matrix expression: in terms of the named intermediates (Z1,
        A1, δ2, …), or with `expand=True` in terms of X, Y and the parameters alone."""
        if name not in self.tape.params:
            raise KeyError(f"{name!r} is not a parameter; parameters: {list(self.tape.params)}")
        expr = self.equation(gradient_name(self.tape.params[name])).rhs
        if expand:
            for eq in reversed(self.equations[:-1]):  # later names refer only to earlier ones
                expr = expr.xreplace({eq.lhs: eq.rhs})
        return expr

    def functions(self) -> list[ScalarFn]:
        """The scalar functions the equations apply entry by entry, each once, in order."""
        seen: dict[ScalarFn, None] = {}
        for eq in self.equations:
            for node in sp.preorder_traversal(eq.rhs):
                if isinstance(node, Elementwise):
                    seen.setdefault(node.fn)
        return list(seen)

    def count_nodes(self) -> int:
        """Total expression-tree size of all equations: grows linearly with depth."""
        return sum(sum(1 for _ in sp.preorder_traversal(eq.rhs)) for eq in self.equations)

    # ── what it does ──
    def evaluate(self, params, X, Y, **options):
        """(loss, {name: gradient}) evaluated through SymPy; see `evaluate.evaluate`."""
        return evaluate(self, params, X, Y, **options)

    def unicode(self) -> str:
        return text.unicode(self)

    def latex(self) -> str:
        return text.latex(self)

    def markdown(self) -> str:
        return text.markdown(self)

    def __str__(self):
        return self.unicode()

    # Jupyter shows the LaTeX (or the Markdown derivation); sympy.latex(d) is d.latex().
    def _repr_latex_(self) -> str:
        return "$$\n" + self.latex() + "\n$$"

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def _latex(self, printer=None) -> str:
        return self.latex()

    def __repr__(self):
        return f"<Derivation of {self.network!r}: {len(self.equations)} equations>"


def derive(network, *, input_gradient: bool = False) -> Derivation:
    """Apply the chain rule to `network` (a Network, a spec string or a TOML path, as
    `compile` and `check` take): one VJP per tape step, from the loss back to X. With
    `input_gradient=True` the walk continues to X itself: ∂L/∂X is equation dX."""
    network = network_from(network)
    tape = network.record()
    forward = [Equation(s.output, s.value, "forward", (s.why,), s.layer) for s in tape.steps[:-1]]
    loss_step = tape.loss
    loss = Equation(loss_step.output, loss_step.value, "loss", (loss_step.why,))

    data = {tape.Y} if input_gradient else {tape.X, tape.Y}  # no gradient for the data
    uses = Counter(inp for step in tape.steps for inp in step.inputs if inp not in data)
    unseen = Counter(uses)  # uses of each symbol the backward walk has not reached yet
    params = set(tape.params.values())
    pending: dict[sp.Basic, list[tuple[sp.Basic, tuple[str, ...]]]] = {}
    backward: list[Equation] = []

    for step in reversed(tape.steps):
        if step is loss_step:
            G, why = sp.S.One, ()
        elif step.output not in pending:
            continue  # forward-only (statistics a fused rule already differentiates through)
        else:
            G, why = _total(pending.pop(step.output))
            if not (step.inline and uses[step.output] == 1):
                kind = "delta" if step.output.name.startswith("Z") else "backward"
                G, why = _name(backward, step.output, G, why, step.layer, kind), ()
        for inp, g in zip(step.inputs, step.vjp(G, step.output)):
            if inp in data or g is None:
                continue
            pending.setdefault(inp, []).append((g, (*why, step.why)))
            unseen[inp] -= 1
            if inp in params and unseen[inp] == 0:  # every use seen: the gradient is complete
                _name(backward, inp, *_total(pending.pop(inp)), step.layer, "gradient")
            elif inp == tape.X and unseen[inp] == 0:  # every use of X seen: ∂L/∂X is complete
                _name(backward, tape.X, *_total(pending.pop(tape.X)), 1, "input")
    return Derivation(network, tape, forward, loss, backward)


def _total(parts):
    """The sum of a symbol's gradient contributions, and the reasons for each."""
    exprs = [g for g, _ in parts]
    why = tuple(dict.fromkeys(w for _, ws in parts for w in ws))
    if len(exprs) > 1:  # a symbol read by several steps (a skip connection, a branch)
        why += (f"It feeds {len(exprs)} steps, so L depends on it along {len(exprs)} paths: "
                "by the multivariable chain rule its gradient is the sum of one term per path.",)
    return (exprs[0] if len(exprs) == 1 else sp.MatAdd(*exprs)), why


def _name(backward, symbol, G, why, layer, kind):
    lhs = sp.MatrixSymbol(gradient_name(symbol), *symbol.shape)
    backward.append(Equation(lhs, G, kind, why, layer))
    return lhs


def derivation_of(net) -> Derivation:
    """A Derivation from a Network, a Derivation, a spec string or a TOML path."""
    if isinstance(net, Derivation):
        return net
    if isinstance(net, str):
        net = network_from(net)
    return derive(net)

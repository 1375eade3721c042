"""Activations: the `Activation` base (an element-wise layer declared by its formula alone) and
custom activations, from a formula string or from a Python function building SymPy.

    swish = Activation("swish", "x * sigmoid(beta * x)", params={"beta": 1.0})
    cube = Activation.from_function("cube", lambda x: x**3)

An activation is one line: its formula in `x`. Its derivative is derived by `sympy.diff` and
reduced to its cheapest form by `functions.cheapest_form` (σ′ becomes A ⊙ (1 − A), from the
output the forward pass already holds). Kinks (points where the formula is not differentiable)
are declared beside the formula so that checkers know where a gradient is only a convention.

A formula is read by `symnet.algebra.formula` (never evaluated). Declared parameters are learned
scalars: after dense layer k the parameter `beta` is `beta{k}`, a (1,)-shaped array, and
`params` gives its initial value. A parameter's gradient is Σ G ⊙ ∂f/∂β, since β touches every
entry (`rules.parametric_vjp`). The built-in activations (ReLU, σ, …) live in `layers.py`.
"""

from __future__ import annotations

import keyword
import re
from functools import cached_property

import numpy as np
import sympy as sp

from ..algebra import rules
from ..algebra.formula import FUNCTIONS, check_differentiable, parameter_symbol, parse_formula
from ..algebra.functions import cheapest_form, x, y
from ..algebra.matexpr import ScalarFn
from ..algebra.notation import GREEK
from ..errors import SpecError
from .layer import Layer, derivative_fn, exact


class Activation(Layer):
    """An element-wise activation, declared by `formula()`: an expression in `x`.

    `Activation(name, formula, params=…)` (or `Activation.from_formula`) makes one from a
    formula string, `Activation.from_function(name, fn)` from a Python function of x; see
    `CustomActivation` below."""

    name = "activation"  # identifier in specs and generated code
    label = "f"  # symbol in printouts
    kinks: tuple = ()  # x values where the formula is not differentiable
    builtin: dict[str, type[Activation]] = {}  # spec word → class, filled by `builtin=True`

    def __init_subclass__(cls, builtin: bool = False, **kwargs):
        super().__init_subclass__(**kwargs)
        if builtin:  # symnet's own activations (layers.py); their names are reserved
            Activation.builtin[cls.name] = cls

    def __new__(cls, *args, **kwargs):
        # `Activation` itself is abstract: called with a name and a formula it builds a
        # CustomActivation (whose __init__ then receives the arguments).
        if cls is Activation:
            return super().__new__(CustomActivation)
        if (args or kwargs) and cls.__init__ is object.__init__:
            raise TypeError(f"{cls.__name__}() takes no arguments")
        return super().__new__(cls)

    @classmethod
    def from_formula(cls, name: str, formula: str, params=None) -> Activation:
        """An activation from a formula string in x, e.g. `"x * sigmoid(beta * x)"` with
        `params={"beta": 1.0}` (learned scalars and their initial values)."""
        return CustomActivation(name, formula, params)

    @classmethod
    def from_function(cls, name: str, fn, params=None) -> Activation:
        """An activation from a Python function building a SymPy expression of `x` (and of
        each parameter, passed by keyword): `from_function("cube", lambda x: x**3)`."""
        return CustomActivation.from_function(name, fn, params)

    def formula(self) -> sp.Expr:
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"

    def __eq__(self, other):
        return type(other) is type(self) and self.formula() == other.formula()

    def __hash__(self):
        return hash((type(self).__name__, self.formula()))

    @cached_property
    def fn(self) -> ScalarFn:
        return ScalarFn(self.name, self.label, sp.Lambda(x, self.formula()))

    @cached_property
    def derivative(self) -> ScalarFn:
        """f′ in its cheapest form: a `Lambda` of x, or of (x, y) with y = f(x) the output."""
        builtin = Activation.builtin.get(self.name) is type(self)
        return derivative_fn(self.name, self.label, self.formula(), builtin)

    def record(self, tape, Z, k: int):
        why = (
            f"{self.label} acts entry by entry, so the chain rule multiplies entry by entry: "
            f"∂L/∂{Z.name} = ∂L/∂A{k} ⊙ {self.label}′({Z.name})."
        )
        return tape.record(
            f"A{k}",
            rules.elementwise(self.fn, Z),
            (Z,),
            lambda G, A: (rules.elementwise_vjp(G, self.derivative, Z, A),),
            why=why,
            layer=k,
            inline=True,
        )


_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
# Names that mean something else in specs or in generated code.
RESERVED = {*FUNCTIONS, "softmax", "layernorm", "batchnorm", "divide", "pi"}


def _check_name(name) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or keyword.iskeyword(name):
        raise SpecError(
            f"an activation name is a lowercase identifier (letters, digits, _), got {name!r}"
        )
    if name in RESERVED or name in Activation.builtin:
        raise SpecError(f"{name!r} is already a symnet name; choose another activation name")
    return name


def _check_label(label) -> str:
    """A printout symbol: short, printable, no quotes or backslashes. It reaches comments and
    docstrings of generated code, where a line break would end the comment (issue 13)."""
    if (not isinstance(label, str) or not 0 < len(label) <= 32 or not label.isprintable()
            or any(c in label for c in "\\\"'")):
        raise SpecError(f"an activation label is 1 to 32 printable characters without quotes or "
                        f"backslashes, got {label!r}")
    return label


class CustomActivation(Activation):
    """An element-wise activation f(x, θ…) with optional learned scalars θ."""

    def __init__(self, name: str, formula, params=None, *, label: str | None = None):
        self.name = _check_name(name)
        self.label = name if label is None else _check_label(label)
        if params is not None and not isinstance(params, dict):
            raise SpecError(f"params must be a dict {{name: initial value}}, got {params!r}")
        params = dict(params or {})
        if isinstance(formula, str):
            parsed = parse_formula(formula, list(params))
            self.text, self._expr, self.symbols = formula, parsed.expr, parsed.params
        elif isinstance(formula, sp.Expr):  # from_function: already checked
            self.text, self._expr = None, formula
            self.symbols = tuple(parameter_symbol(p) for p in params)
        else:
            raise SpecError(f"a formula is a string, got {type(formula).__name__}")
        self.params = {p: exact(v, f"initial value of {p}") for p, v in params.items()}
        self.kinks = _kinks(self._expr)

    @classmethod
    def from_function(cls, name, fn, params=None) -> CustomActivation:
        params = dict(params or {})
        symbols = {p: parameter_symbol(p) for p in params}
        expr = fn(x, **symbols)
        if isinstance(expr, str):
            raise SpecError(f"{name}: the function returned text; use Activation.from_formula")
        if isinstance(expr, int | float) and not isinstance(expr, bool):
            expr = exact(expr, f"{name}'s value")
        if not isinstance(expr, sp.Expr) or isinstance(expr, sp.MatrixExpr):
            raise SpecError(f"{name}: the function must return a SymPy expression of x, "
                            f"got {type(expr).__name__}")
        strangers = sorted(str(s) for s in expr.free_symbols - {x, *symbols.values()})
        if strangers:
            raise SpecError(f"{name}: the expression uses {strangers}, which are neither the x "
                            f"passed in nor declared parameters {list(params)}")
        if not expr.has(x):
            raise SpecError(f"{name}: the expression does not use x, so its gradient is zero")
        check_differentiable(expr, (x, *symbols.values()), name)
        return cls(name, expr, params)

    def formula(self) -> sp.Expr:
        return self._expr

    def __repr__(self):
        body = repr(self.text) if self.text is not None else f"<{self._expr}>"
        extra = f", params={ {p: float(v) for p, v in self.params.items()} }" if self.params else ""
        return f"Activation({self.name!r}, {body}{extra})"

    def __eq__(self, other):
        return type(other) is CustomActivation and (self._expr, self.params) == (
            other._expr, other.params)

    def __hash__(self):
        return hash(("CustomActivation", self._expr, tuple(self.params.items())))

    def initial(self, k: int) -> dict[str, np.ndarray]:
        return {f"{p}{k}": np.array([float(v)]) for p, v in self.params.items()}

    # ── with learned scalars: f(x, θ…) and one derivative per variable ──
    @cached_property
    def fn(self) -> ScalarFn:
        return ScalarFn(self.name, self.label, sp.Lambda((x, *self.symbols), self._expr))

    def _partial(self, v, name, label) -> ScalarFn:
        form = cheapest_form(sp.diff(self._expr, v), formula=self._expr)
        variables = (x, *self.symbols) + ((y,) if form.has(y) else ())
        # Shown: x and the θs; y (the layer's output) is an input the printout leaves out.
        return ScalarFn(name, label, sp.Lambda(variables, form), shown=1 + len(self.symbols))

    @cached_property
    def dfdx(self) -> ScalarFn:
        return self._partial(x, f"d_{self.name}", f"{self.label}′")

    @cached_property
    def dfdthetas(self) -> tuple[ScalarFn, ...]:
        return tuple(
            self._partial(s, f"d_{self.name}_{s.name}",
                          f"∂{self.label}/∂{GREEK.get(s.name, s.name)}")
            for s in self.symbols
        )

    def record(self, tape, Z, k: int):
        if not self.symbols:
            return super().record(tape, Z, k)
        thetas = [tape.param(f"{s.name}{k}", 1) for s in self.symbols]
        names = ", ".join(t.name for t in thetas)
        why = (
            f"{self.label} acts entry by entry with the learned scalar(s) {names}: "
            f"∂L/∂{Z.name} = ∂L/∂A{k} ⊙ ∂{self.label}/∂x, and each scalar touches every entry, "
            f"so its gradient sums ∂L/∂A{k} ⊙ ∂{self.label}/∂θ over all of them."
        )
        return tape.record(
            f"A{k}",
            rules.parametric(self.fn, Z, thetas),
            (Z, *thetas),
            lambda G, A: rules.parametric_vjp(G, self.dfdx, self.dfdthetas, Z, A, thetas,
                                              self.symbols),
            why=why,
            layer=k,
        )


def _kinks(expr) -> tuple:
    """The x where `expr` has a kink (abs, max, min, a Piecewise boundary), where SymPy finds
    them as the real roots of a polynomial in x alone; others stay undeclared."""
    if expr.has(sp.Max, sp.Min):  # nested ones (min(max(x, −1), 1)) tie where they switch
        expr = sp.piecewise_fold(expr.rewrite(sp.Piecewise))
    ties = []
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.Abs):
            ties.append(node.args[0])
        elif isinstance(node, sp.Piecewise):
            ties += [r.lhs - r.rhs for _, c in node.args
                     for r in getattr(c, "atoms", lambda _: ())(sp.core.relational.Relational)]
    points = set()
    for g in ties:
        if g.free_symbols == {x} and g.is_polynomial(x) and sp.degree(g, x) <= 2:
            points |= {r for r in sp.solve(g, x) if r.is_real}
    return tuple(sorted(points))

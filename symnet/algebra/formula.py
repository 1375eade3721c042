"""Formulas for custom activations, read by symnet's own parser: never `eval`-ed, never sympified.

A formula is arithmetic in `x` (the pre-activation), numbers, the constant `pi`, the scalar
parameters the caller declares, and a fixed list of functions:

    expr   := term (('+' | '-') term)*
    term   := unary (('*' | '/') unary)*
    unary  := ('-' | '+') unary | power
    power  := atom (('^' | '**') unary)?         right-associative: x^y^z = x^(y^z), -x^2 = -(x^2)
    atom   := NUMBER | NAME | FUNCTION '(' expr (',' expr)* ')' | '(' expr ')'

The parser builds the SymPy expression node by node from SymPy constructors, so nothing in the
text can reach Python: `__import__`, attributes, lambdas, subscripts and calls of anything but
the listed functions are errors that name their position. Limits keep hostile input cheap:
at most `MAX_LENGTH` characters, `MAX_DEPTH` levels of nesting (so no recursion error, however
many parentheses), numeric exponents of magnitude at most `MAX_POWER`, and every constant a
finite real number that fits a float64.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp
from sympy.logic.boolalg import ITE

from ..errors import SpecError
from .functions import sigmoid, softplus, x

MAX_LENGTH = 500
MAX_DEPTH = 50
MAX_POWER = 16
_MAX_CONSTANT = sp.Integer(10) ** 300  # float64 holds up to ~1.8e308


def _plain_conditions(expr):
    """SymPy folds a nested Piecewise's test into `ITE(c, a, b)`; write it with And/Or/Not,
    which the printer and the code validator know."""
    return expr.replace(lambda e: isinstance(e, ITE), lambda e: e.to_nnf())


def _max(a, b):
    # Written like ReLU (`x > 0` strictly), so at a tie the derivative is the second
    # argument's: max(x, 0) has relu′(0) = 0, as torch.relu does. torch.maximum instead splits
    # the gradient half and half at a tie; both are valid subgradients, and `check` treats ties
    # as kinks. For PyTorch's split, write max(a, b) as (a + b + abs(a - b))/2.
    return _plain_conditions(sp.Piecewise((a, a > b), (b, True)))


def _min(a, b):
    return _plain_conditions(sp.Piecewise((a, a < b), (b, True)))


# name: (number of arguments, builder). Each is differentiable wherever it is smooth; abs, max
# and min have kinks where their arguments tie.
FUNCTIONS = {
    "exp": (1, sp.exp),
    "log": (1, sp.log),
    "sqrt": (1, sp.sqrt),
    "tanh": (1, sp.tanh),
    "sigmoid": (1, sigmoid),
    "softplus": (1, softplus),
    "erf": (1, sp.erf),
    "abs": (1, sp.Abs),
    "max": (2, _max),
    "min": (2, _min),
}
CONSTANTS = {"pi": sp.pi}

_TOKEN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
    r"|(?P<op>\*\*|[-+*/^(),])"
)
PARAMETER_NAME = re.compile(r"[A-Za-z]{1,16}")


_SPEC_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
FLOAT_MAX = Fraction(1.7976931348623157e308)
FLOAT_TINY = Fraction(2.2250738585072014e-308)  # the smallest normal float64


def exact_number(text: str, what: str) -> sp.Rational:
    """A decimal number's exact value; SpecError, decided before any big-integer work, for a
    number that is not a finite float64 (beyond ±1.8e308, or nonzero and below 2.2e-308)."""
    if not isinstance(text, str) or not _SPEC_NUMBER.fullmatch(text):
        raise SpecError(f"{what} must be a number like 0.1 or 1e-3, got {text!r}")
    mantissa, _, exponent = text.lower().lstrip("+-").partition("e")
    if len(mantissa) > 40 or (exponent and abs(int(exponent)) > 400):
        raise SpecError(f"{what} {text} is too long or too large for a float64")
    value = Fraction(text)
    if value and not FLOAT_TINY <= abs(value) <= FLOAT_MAX:
        raise SpecError(f"{what} {text} is outside the float64 range (about 2.2e-308 to "
                        "1.8e308 in magnitude)")
    return sp.Rational(value.numerator, value.denominator)


@dataclass(frozen=True)
class Formula:
    """A parsed formula: its text, its SymPy expression in `x` and its parameters' symbols."""

    text: str
    expr: sp.Expr
    params: tuple[sp.Symbol, ...]


def parameter_symbol(name: str) -> sp.Symbol:
    """The SymPy symbol of a declared scalar parameter; SpecError for a name that cannot be one."""
    if not isinstance(name, str) or not PARAMETER_NAME.fullmatch(name):
        raise SpecError(f"a parameter name is 1 to 16 letters, got {name!r}")
    if name in ("x", "y") or name in FUNCTIONS or name in CONSTANTS:  # y: the layer output
        raise SpecError(f"{name!r} cannot name a parameter: it already means something in formulas")
    if name.startswith("d"):  # d<name> is the name of a gradient (dW1, dbeta1): no dd…
        raise SpecError(f"a parameter name may not start with 'd' (gradients are d…), got {name!r}")
    return sp.Symbol(name, real=True)


def parse_formula(text: str, params=()) -> Formula:
    """Parse `text` with the declared parameter names `params`; SpecError on anything else."""
    if not isinstance(text, str):
        raise SpecError(f"a formula is a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise SpecError(f"formula is {len(text)} characters long; the limit is {MAX_LENGTH}")
    symbols = {name: parameter_symbol(name) for name in params}
    expr = _Parser(text, symbols).parse()
    if not expr.has(x):
        raise SpecError(f"formula {text!r} does not use x, so its gradient is zero everywhere")
    unused = [name for name, s in symbols.items() if not expr.has(s)]
    if unused:
        raise SpecError(f"formula {text!r} does not use its parameter(s) {unused}")
    check_real(expr, text)
    check_differentiable(expr, (x, *symbols.values()), text)
    return Formula(text, expr, tuple(symbols.values()))


def check_real(expr: sp.Expr, what: str) -> None:
    """SpecError unless `expr` is real for every real x (and parameter): an activation takes
    any real pre-activation. Decided structurally by SymPy's assumptions; undecided is refused,
    with a hint (log(x) → log(abs(x)) or softplus)."""
    for node in sp.preorder_traversal(expr):
        # a ≥ 0 suffices: log 0 = −∞ and 0^(−p) = ∞ are overflows, not complex values
        if isinstance(node, sp.log):
            arg = node.args[0]
        elif isinstance(node, sp.Pow) and not node.exp.is_integer:
            arg = node.base
        else:
            continue
        need = "nonnegative"
        if not getattr(arg, f"is_{need}"):
            raise SpecError(
                f"{what!r} is not real for every real x: {sp.sstr(node)} needs {sp.sstr(arg)} "
                f"{'> 0' if need == 'positive' else '≥ 0'}, which symnet cannot show. An "
                "activation must be real on all of ℝ: use abs(…), softplus(…) or exp(…) inside")


def check_differentiable(expr: sp.Expr, variables, what: str) -> None:
    """SpecError unless SymPy differentiates `expr` in closed form by every variable."""
    for v in variables:
        d = sp.diff(expr, v)
        if d.has(sp.Derivative, sp.Subs, sp.nan, sp.zoo, sp.oo, -sp.oo):
            raise SpecError(f"{what!r} has no closed-form derivative in {v}: got {d}")


def _tokens(text: str):
    """(kind, text, 1-based position) for each token, then ('end', '', len + 1)."""
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise _error(text, pos + 1, f"unexpected character {text[pos]!r}")
        if m.lastgroup != "space":
            yield m.lastgroup, m.group(), pos + 1
        pos = m.end()
    yield "end", "", len(text) + 1


def _error(text: str, pos: int, message: str, hint: str = "") -> SpecError:
    return SpecError(f"{message} at position {pos} of formula {text!r}{hint}")


class _Parser:
    def __init__(self, text: str, params: dict[str, sp.Symbol]):
        self.text, self.params = text, params
        self.tokens = list(_tokens(text))
        self.i = 0
        self.depth = 0

    # ── the token stream ──
    @property
    def kind(self):
        return self.tokens[self.i][0]

    @property
    def token(self):
        return self.tokens[self.i][1]

    @property
    def pos(self):
        return self.tokens[self.i][2]

    def error(self, message, pos=None, hint=""):
        return _error(self.text, self.pos if pos is None else pos, message, hint)

    def take(self, op: str) -> bool:
        if self.kind == "op" and self.token == op:
            self.i += 1
            return True
        return False

    def expect(self, op: str, context: str):
        if not self.take(op):
            found = "the end" if self.kind == "end" else repr(self.token)
            raise self.error(f"expected {op!r} {context}, found {found}")

    def nest(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"formula nests deeper than {MAX_DEPTH} levels")

    # ── the grammar ──
    def parse(self) -> sp.Expr:
        expr = self.expr()
        if self.kind != "end":
            what = "a call needs a function name" if self.token == "(" else "expected an operator"
            raise self.error(f"unexpected {self.token!r}: {what}")
        return expr

    def expr(self):
        value = self.term()
        while self.kind == "op" and self.token in "+-":
            op, pos = self.token, self.pos
            self.i += 1
            rhs = self.term()
            value = self.checked(value + rhs if op == "+" else value - rhs, pos)
        return value

    def term(self):
        value = self.unary()
        while self.kind == "op" and self.token in ("*", "/"):
            op, pos = self.token, self.pos
            self.i += 1
            rhs = self.unary()
            value = self.checked(value * rhs if op == "*" else value / rhs, pos)
        return value

    def unary(self):
        if self.kind == "op" and self.token in "+-":
            op = self.token
            self.i += 1
            self.nest()
            value = self.unary()
            self.depth -= 1
            return -value if op == "-" else value
        return self.power()

    def power(self):
        base = self.atom()
        if self.kind == "op" and self.token in ("^", "**"):
            pos = self.pos
            self.i += 1
            self.nest()
            exponent = self.unary()
            self.depth -= 1
            return self.checked(self.pow(base, exponent, pos), pos)
        return base

    def pow(self, base, exponent, pos):
        if exponent.is_number:
            if not exponent.is_real:
                raise self.error("the exponent is not a real number", pos)
            if abs(exponent) > MAX_POWER:
                raise self.error(f"exponent {exponent} is beyond ±{MAX_POWER}", pos)
            if base.is_number and base != 0:
                # |base|^p must stay within float range: decide by logarithms before computing.
                magnitude = float(exponent) * math.log10(abs(float(base.evalf(15))))
                if abs(magnitude) > 300:
                    raise self.error(f"the power is about 10^{magnitude:.0f}, not finite", pos)
        return sp.Pow(base, exponent)

    def atom(self):
        kind, token, pos = self.tokens[self.i]
        if kind == "number":
            self.i += 1
            return self.number(token, pos)
        if kind == "name":
            self.i += 1
            if token in FUNCTIONS:
                return self.call(token, pos)
            if token == "x":
                return x
            if token in self.params:
                return self.params[token]
            if token in CONSTANTS:
                return CONSTANTS[token]
            allowed = ", ".join(["x", *self.params, *CONSTANTS, *FUNCTIONS])
            raise self.error(f"unknown name {token!r}", pos, f"; allowed: {allowed}")
        if self.take("("):
            self.nest()
            value = self.expr()
            self.expect(")", f"to close the '(' at position {pos}")
            self.depth -= 1
            return value
        found = "the end of the formula" if kind == "end" else repr(token)
        raise self.error(f"expected a number, x, a parameter, a function or '(', found {found}")

    def call(self, name, pos):
        arity, build = FUNCTIONS[name]
        self.expect("(", f"after the function {name}")
        self.nest()
        args = [self.expr()]
        while self.take(","):
            args.append(self.expr())
        self.expect(")", f"to close the call of {name} at position {pos}")
        self.depth -= 1
        if len(args) != arity:
            raise self.error(f"{name} takes {arity} argument(s), got {len(args)}", pos)
        return self.checked(build(*args), pos)

    def number(self, token, pos):
        try:
            return exact_number(token, "number")
        except SpecError as e:
            raise self.error(str(e).removesuffix(" for a float64"), pos) from None

    def checked(self, value, pos):
        """`value`, unless it is an infinite, undefined, complex or out-of-range constant."""
        if value.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
            raise self.error("this operation is not finite (a division by zero?)", pos)
        if value.is_number:  # a constant: it must be a real number that fits a float64
            approx = value.evalf(15)
            if approx.has(sp.I) or not approx.is_real:
                raise self.error("this operation is not a real number", pos)
            if abs(approx) > _MAX_CONSTANT:
                raise self.error("this constant is too large to be a finite float", pos)
        return value

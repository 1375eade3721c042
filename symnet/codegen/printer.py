"""NumPy code from a derivation: one printer, one block of statements per function.

`NumPyCodePrinter` extends SymPy's `NumPyPrinter` by one `_print_<ClassName>` method per node,
so a new node (LayerNorm, …) needs one method here and nothing else:

    MatMul → `@`   HadamardProduct → `*`   Transpose → `.T`   𝟙bᵀ → `b` (broadcast, b is 1-D)
    Gᵀ𝟙 → `G.sum(axis=0)`   c·𝟙 → `c`   SumEntries → `.sum()`   Softmax, LogSumExp → shifted by
    the row max   Elementwise → the function's formula with the operand arrays substituted.

A formula prints as NumPy arithmetic: σ and softplus call overflow-free helpers, a Piecewise is
`np.maximum`, a comparison, or `np.where` with each branch evaluated only where it cannot
overflow (ELU's e^x sees min(x, 0)). A probability loss that the logit rewrite
(`codegen.logits`) does not reach is clamped as PyTorch clamps it: log ≥ −100, and the
derivative's denominator x(x − 1) kept 1e-12 away from 0; the generated modules of bce and ce
networks compute from the logits instead and agree with the exact values when saturated.
Constants print as Python numbers, which NumPy never lets upcast a float32 array.

Each function is printed twice. The first pass counts how often each sub-expression is printed
(not descending into repeats); the second names every repeated one once (`t1 = Z1 > 0`), so
common sub-expressions are computed once, also across equations (softmax and log-sum-exp share
their row max and exponentials; MSE and its derivative share A − Y). Statements are then
followed by `del` of every array at its last use, so a training step keeps only what the
backward pass still needs.

Each element-wise formula is printed from its *code form* (`stable.stable_form`): the
derivation's formula itself, or an equal one that keeps its accuracy in floats where that one
does not (σ′ = y·(1 − y) becomes `_sigmoid_prime(Z)`, exact where 1 − y rounds to 0; a sigmoid
layer then keeps Z for the backward pass, beside A when the next layer's ∂L/∂W needs it).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul, MatrixSymbol, OneMatrix, Transpose
from sympy.core.relational import Relational
from sympy.printing.numpy import NumPyPrinter

from ..algebra.matexpr import B, Elementwise
from ..algebra.notation import unicode_expr
from ..errors import SpecError
from .backends import backend_of
from .stable import stable_form

DENOMINATOR_FLOOR = 1e-12  # PyTorch's BCELoss backward: grad = (x − y) / max(x(1 − x), 1e-12)


class Expm1(sp.Function):
    """e^a − 1, printed as np.expm1 (exact for tiny a, where e^a − 1 cancels to 0)."""

    nargs = 1


def _with_expm1(expr):
    """Each e^a − 1 (times a constant) in `expr` as Expm1(a)."""
    def is_match(e):
        return (isinstance(e, sp.Add) and len(e.args) == 2 and sp.S.NegativeOne in e.args
                and any(isinstance(t, sp.exp) for t in e.args))
    return expr.replace(is_match, lambda e: Expm1(next(t for t in e.args if t != -1).args[0]))


class ClampedLog(sp.Function):
    """log, printed as `_log` (clamped at −100) inside losses on probabilities."""

    nargs = 1


# ── parenthesizing printed code by Python's own precedence ─────────────────────────────────

_PRECEDENCE = {
    ast.Lambda: 0, ast.IfExp: 1, ast.BoolOp: 2, ast.Compare: 5, ast.BinOp: 10, ast.UnaryOp: 12,
}
_BINOP = {ast.Add: 10, ast.Sub: 10, ast.Mult: 11, ast.MatMult: 11, ast.Div: 11, ast.Pow: 13,
          ast.BitAnd: 8, ast.BitXor: 7, ast.BitOr: 6}
ATOM, POWER, UNARY, PRODUCT, SUM, COMPARISON = 15, 13, 12, 11, 10, 5
# SymPy's precedence levels (sympy.printing.precedence) → the Python level code must have
_SYMPY_TO_PYTHON = ((60, POWER), (50, PRODUCT), (40, SUM), (35, COMPARISON))


def _enclosed(code: str) -> bool:
    """Whether `code` is one parenthesized group, `(…)`."""
    if not code.startswith("("):
        return False
    depth = 0
    for i, ch in enumerate(code):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            return i == len(code) - 1
    return False


def _precedence(code: str) -> int:
    if _enclosed(code):
        return ATOM
    node = ast.parse(code, mode="eval").body
    if isinstance(node, ast.BinOp):
        return _BINOP.get(type(node.op), 10)
    return _PRECEDENCE.get(type(node), ATOM)


def wrap(code: str, level: int = UNARY) -> str:
    """`code` in parentheses unless it binds at least as tightly as `level`."""
    return code if _precedence(code) >= level else f"({code})"


def comment_text(text: str) -> str:
    """`text` safe inside a `#` comment or a docstring: every character that is not printable
    (line breaks of any kind, NUL, …) as its \\u escape, so no text can end the comment."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


# ── statements of one generated function ───────────────────────────────────────────────────


@dataclass
class Statement:
    target: str
    code: str
    comment: str | None = None


class Block:
    """The statements of one function body, in order; `let` names a temporary once per code."""

    def __init__(self, reserved=()):
        self.statements: list[Statement] = []
        self._by_code: dict[str, str] = {}
        self._taken = set(reserved)

    def fresh(self, hint: str | None = None) -> str:
        if hint and hint.isidentifier() and hint not in self._taken:
            name = hint
        else:
            n = 1
            while f"t{n}" in self._taken:
                n += 1
            name = f"t{n}"
        self._taken.add(name)
        return name

    def let(self, code: str, hint: str | None = None) -> str:
        if code not in self._by_code:
            name = self.fresh(hint)
            self.statements.append(Statement(name, code))
            self._by_code[code] = name
        return self._by_code[code]

    def assign(self, target: str, code: str, comment: str | None = None):
        self._taken.add(target)
        self.statements.append(Statement(target, code, comment))

    def lines(self, keep=()) -> list[str]:
        """The statements, each array deleted right after its last use (unless kept)."""
        targets = {s.target for s in self.statements}
        last_use = {}
        for i, s in enumerate(self.statements):
            for name in re.findall(r"[A-Za-z_]\w*", s.code):
                if name in targets:
                    last_use[name] = i
        out = []
        for i, s in enumerate(self.statements):
            if s.comment:
                out.append(f"# {comment_text(s.comment)}")
            out.append(f"{s.target} = {s.code}")
            dead = [n for n, j in last_use.items() if j == i and n not in keep]
            if dead:
                out.append("del " + ", ".join(dead))
        return out


# ── the printer ────────────────────────────────────────────────────────────────────────────


@dataclass
class Printed:
    """One formula as the printer emitted it: the derivation's `body` (SymPy, in operand
    placeholders) was printed as `code` (from its code form, `stable.stable_form`), whose
    operands print as `operands` and whose temporaries `t…` live in `block`. `given` maps
    each placeholder of a layer's output y to its formula f(x) (σ′ = y·(1 − y) with y = σ(x)),
    which the code may compute from x instead."""

    fn: str
    body: sp.Expr
    code: str
    operands: dict
    block: Block
    given: dict = field(default_factory=dict)


class Context:
    """What the printers of one module share: operand placeholders and the helpers used.
    `definitions` maps each array defined element-wise (A1 = σ(Z1)) to its Elementwise."""

    def __init__(self, guarded=(), ndims=None, definitions=None, backend="numpy"):
        self.backend = backend_of(backend)  # the array library printed for (backends.py)
        self.guarded = frozenset(guarded)  # ScalarFn names whose first argument is a probability
        self.known: dict[str, int] = dict(ndims or {})  # ndim of each named array (b1: 1)
        self.definitions = dict(definitions or {})
        self.ndims: dict[sp.Basic, int] = {}
        self.placeholders: dict[sp.Basic, sp.Dummy] = {}
        self.operands: dict[sp.Dummy, sp.Basic] = {}
        self.helpers: set[str] = set()
        # Helper functions a layer family's `Op` defines (a loop over time, …): {name: source}
        self.sources: dict[str, str] = {}
        self.printed: list[Printed] = []  # every formula as emitted, for `validate`
        self._bodies: dict[sp.Basic, tuple] = {}

    def define(self, name: str, source: str):
        """Emit the helper function `source` (named `name`) in the generated module: how an
        `Op` prints code that needs statements, such as a loop over time."""
        self.sources.setdefault(name, source)

    def helper_functions(self) -> list[str]:
        """The source of every helper the printed code calls: the backend's (σ, softplus, …,
        in a fixed order) and the Ops' own (convolution, loops over time)."""
        table = self.backend.helpers
        used = [table[h] for h in table if h in self.helpers]
        return used + [self.sources[h] for h in sorted(self.sources)]

    def placeholder(self, operand) -> sp.Dummy:
        if operand not in self.placeholders:
            d = sp.Dummy(f"op{len(self.placeholders)}", real=True)
            self.placeholders[operand], self.operands[d] = d, operand
        return self.placeholders[operand]

    def _formula(self, e) -> sp.Expr:
        args = [self.placeholder(op) for op in e.operands]
        body = e.fn.lam(*args)
        if e.fn.name in self.guarded:
            body = _guard(body, args)
        return _with_expm1(sp.factor_terms(_fold_constants(body)))

    def _forms(self, e) -> tuple:
        """(the derivation's formula, its code form, given) of Elementwise `e`."""
        if e not in self._bodies:
            body = self._formula(e)
            given = {}
            for op in e.operands[1:]:  # an output y = f(x, θ…) beside its own operands
                d = self.definitions.get(op)
                if isinstance(d, Elementwise) and set(d.operands) <= set(e.operands):
                    given[self.placeholder(op)] = self._formula(d)
            x = self.placeholder(e.operands[0])
            code = (body if e.fn.name in self.guarded
                    else stable_form(body, given, x, scalar_code))
            self._bodies[e] = (body, code, given)
        return self._bodies[e]

    def body(self, e) -> sp.Expr:
        """The scalar formula of Elementwise `e` in placeholders for its operand arrays."""
        return self._forms(e)[0]

    def code(self, e) -> sp.Expr:
        """What the code computes for `e`: its formula in a form accurate in floats."""
        return self._forms(e)[1]

    def given(self, e) -> dict:
        return self._forms(e)[2]


def _fold_constants(expr):
    """Every non-integer constant (√2/√π, 8943/200000) as one float: fewer operations."""
    return expr.replace(
        lambda e: e.is_number and not (e.is_Integer or e.is_Float) and isinstance(e, sp.Expr),
        lambda e: sp.Float(e.evalf(20), 20),
    )


def _guard(body, args):
    """BCE as PyTorch computes it: log clamped at −100, denominators kept away from 0 with the
    sign they have inside the domain (x = y = 1/2)."""
    body = body.replace(sp.log, ClampedLog)
    num, den = sp.fraction(sp.together(body))
    if den.is_number:
        return body
    sign = den.subs({a: sp.Rational(1, 2) for a in args})
    floor = sp.Float(DENOMINATOR_FLOOR)
    return num / (sp.Min(den, -floor) if sign < 0 else sp.Max(den, floor))


def _has_batch(dim) -> bool:
    return sp.sympify(dim).has(B)


def _ones(m, rows=None, cols=None) -> bool:
    """Whether `m` is 𝟙 with `rows` rows or `cols` columns (whichever is given)."""
    return isinstance(m, OneMatrix) and (rows is None or m.shape[0] == rows) and (
        cols is None or m.shape[1] == cols)


def _worth_naming(expr) -> bool:
    """Whether a repeated `expr` should be computed once: array-valued and not a bare name."""
    if isinstance(expr, sp.Atom | MatrixSymbol | OneMatrix) or not isinstance(
        expr, sp.Expr | Relational
    ):
        return False
    if isinstance(expr, Transpose) and isinstance(expr.arg, MatrixSymbol):
        return False  # W.T is a view: free
    if isinstance(expr, sp.Mul) and len(expr.args) == 2 and expr.args[0] == -1:
        return False  # −x: naming it saves nothing
    return bool(expr.free_symbols - {B})


class NumPyCodePrinter(NumPyPrinter):
    """Prints symnet's matrix expressions as NumPy code; see the module docstring."""

    def __init__(self, context: Context, block: Block, *, counts=None, shared=frozenset()):
        super().__init__({"fully_qualified_modules": True, "inline": True})
        self.context, self.block = context, block
        self.counts = counts  # first pass: {expr: times printed}
        self.shared = shared  # second pass: the expressions printed more than once
        self.named: dict[sp.Basic, str] = {}
        self.xp = context.backend

    def _print(self, expr, **kwargs):
        if not _worth_naming(expr):
            return super()._print(expr, **kwargs)
        if self.counts is not None:
            seen = self.counts.get(expr, 0)
            self.counts[expr] = seen + 1
            return "_" if seen else super()._print(expr, **kwargs)
        if expr in self.shared:
            if expr not in self.named:
                code = super()._print(expr, **kwargs)
                self.named[expr] = code if code.isidentifier() else self.block.let(code)
            return self.named[expr]
        return super()._print(expr, **kwargs)

    def parenthesize(self, item, level, strict=False):
        """`item`'s code, parenthesized by the Python precedence of the printed text (never by
        SymPy's precedence of the node: a Piecewise can print as a comparison)."""
        code = self._print(item)  # printed once: the first pass counts every print
        needed = next((py for sym, py in _SYMPY_TO_PYTHON if level >= sym), 0)
        return wrap(code, needed + (0 if strict else 1))

    def _module_format(self, fqn, register=True):
        return self.xp.fn(fqn[len("numpy."):]) if fqn.startswith("numpy.") else fqn

    def emptyPrinter(self, expr):  # noqa: N802 - SymPy's name
        raise SpecError(
            f"cannot generate NumPy code for {expr}: symnet.codegen.NumPyCodePrinter has no "
            f"_print_{type(expr).__name__} method"
        )

    def helper(self, name: str, source: str):
        """Use the helper function `name` (defined by `source`) in the generated code: how an
        `Op` (convolution, pooling, …) brings the NumPy function its code calls."""
        self.context.define(name, source)

    # ── names and numbers ──
    def _print_MatrixSymbol(self, e):
        return e.name

    def _print_Symbol(self, e):
        return e.name

    def _print_Dummy(self, e):
        if e in self.context.operands:  # an operand of an Elementwise: an array
            return wrap(self._print(self.context.operands[e]), ATOM)
        return super()._print_Dummy(e)

    def _print_Integer(self, e):
        return str(int(e))

    def _print_Float(self, e):
        return repr(float(e))

    def _print_Rational(self, e):
        return repr(float(e))

    def _print_NumberSymbol(self, e):
        return repr(float(e))

    _print_Exp1 = _print_Pi = _print_NumberSymbol

    # ── matrix nodes ──
    def _print_OneMatrix(self, e):
        return "1"  # broadcasts

    def _print_Transpose(self, e):
        code = self._print(e.arg)
        if self.ndim(e.arg) < 2:
            return code  # a 1-D array is its own transpose
        return wrap(code, ATOM) + ".T"

    def _print_MatMul(self, e):
        coeff, rest = e.as_coeff_mmul()
        mats = []
        for m in rest.args:  # 𝟙(a×b) = 𝟙(a×1) 𝟙(1×b); 𝟙(1×a) 𝟙(a×1) = a, a scalar
            if isinstance(m, OneMatrix):
                r, c = m.shape
                parts = [OneMatrix(r, 1)] * (r != 1) + [OneMatrix(1, c)] * (c != 1)
                for part in parts:
                    if mats and _ones(mats[-1], rows=1) and _ones(part, cols=1):
                        coeff *= mats.pop().shape[1]
                    else:
                        mats.append(part)
            else:
                mats.append(m)
        if all(isinstance(m, OneMatrix) for m in mats):
            self.context.ndims[e] = 0
            return self._print(coeff)  # c·𝟙: the scalar broadcasts
        if len(mats) == 1 and isinstance(mats[0], Elementwise):  # c·f(…): one formula
            self.context.ndims[e] = self.ndim(mats[0])
            return self._print(_fold_constants(coeff * self.context.code(mats[0])))
        code, self.context.ndims[e] = self._product(mats)
        return self._scaled(coeff, code)

    def _product(self, mats) -> tuple[str, int]:
        """Code and NumPy ndim of a product in which 𝟙 factors are sums and broadcasts, not
        matmuls. Sums over the batch or within a row of numbered width are 1-D (biases and
        their gradients, per-feature statistics); sums along a batch-sized axis keep it."""
        first, last = mats[0], mats[-1]
        if len(mats) == 1:
            return self._print(first), self.ndim(first)
        if len(mats) == 3 and _ones(first, rows=1) and _ones(last, cols=1):
            return wrap(self._print(mats[1]), ATOM) + ".sum().reshape(1)", 1  # 𝟙ᵀ M 𝟙
        if _ones(first, cols=1):  # 𝟙 r: a row copied into every row (broadcasting)
            return self._product(mats[1:])
        if _ones(last, cols=1):  # M 𝟙: row sums
            rest = mats[:-1]
            rows = rest[0].shape[0]
            if (len(rest) == 1 and isinstance(rest[0], Transpose) and not _has_batch(rows)
                    and self.ndim(rest[0].arg) == 2):
                return wrap(self._print(rest[0].arg), ATOM) + ".sum(axis=0)", 1  # Gᵀ 𝟙
            code, nd = self._product(rest)
            code = wrap(code, ATOM)
            if nd < 2:  # a row, 1-D: its total, as a 1-element array
                return self.xp.total_1d(code), 1
            if _has_batch(rows):
                return code + ".sum(axis=1, keepdims=True)", 2
            return code + ".sum(axis=1)", 1
        if _ones(last, rows=1):  # c 𝟙ᵀ: a column copied into every column
            code, nd = self._product(mats[:-1])
            if nd == 2 or first.shape[0] == 1:
                return code, nd
            return wrap(code, ATOM) + "[:, None]", 2
        if _ones(first, rows=1):  # 𝟙ᵀ M: column sums
            code, nd = self._product(mats[1:])
            code = wrap(code, ATOM)
            if nd < 2:
                return self.xp.total_1d(code), 1
            if _has_batch(last.shape[1]):
                return code + ".sum(axis=0, keepdims=True)", 2
            return code + ".sum(axis=0)", 1
        if len(mats) == 2 and all(self.ndim(m) == 2 for m in mats):
            bare = [m.arg if isinstance(m, Transpose) else m for m in mats]
            code = self.xp.matmul_transposed(
                *(self._print(m) for m in bare), *(isinstance(m, Transpose) for m in mats))
            if code is not None:
                return code, 2
        return " @ ".join(wrap(self._print(m), UNARY) for m in mats), 2

    def ndim(self, e) -> int:
        """The ndim of the NumPy array printed for `e` (0 for 𝟙, which prints as 1)."""
        memo = self.context.ndims
        if e not in memo:
            if isinstance(e, MatrixSymbol):
                return self.context.known.get(e.name, 2)
            if isinstance(e, OneMatrix):
                memo[e] = 0
            elif isinstance(e, Transpose):
                memo[e] = self.ndim(e.arg)
            elif isinstance(e, MatMul):
                NumPyCodePrinter(self.context, Block())._print_MatMul(e)  # records it
            elif isinstance(e, MatAdd | HadamardProduct | Elementwise):
                ops = e.operands if isinstance(e, Elementwise) else e.args
                memo[e] = max(self.ndim(a) for a in ops if a.is_Matrix)
            else:
                memo[e] = getattr(e, "ndim", 2)  # an `Op` may print as another ndim
        return memo[e]

    def _scaled(self, coeff, product: str) -> str:
        if coeff == 1:
            return product
        if coeff == -1:
            return "-" + wrap(product, UNARY)
        num, den = sp.fraction(coeff)
        if num == 1:
            return f"{wrap(product, PRODUCT)} / {wrap(self._print(den), UNARY)}"
        return f"{wrap(self._print(coeff), UNARY)} * {wrap(product, UNARY)}"

    def _print_MatAdd(self, e):
        plus, minus = [], []
        for term in e.args:
            coeff, rest = term.as_coeff_mmul() if isinstance(term, MatMul) else (sp.S.One, term)
            if coeff.is_number and coeff < 0:
                mats = rest.args
                minus.append(MatMul(-coeff, *mats) if coeff != -1 else
                             (mats[0] if len(mats) == 1 else MatMul(*mats)))
            else:
                plus.append(term)
        text = " + ".join(wrap(self._print(t), SUM) for t in plus) or "0"
        for t in minus:
            text += " - " + wrap(self._print(t), PRODUCT)
        return text

    def _print_HadamardProduct(self, e):
        return " * ".join(wrap(self._print(a), UNARY) for a in e.args)

    def _print_SumEntries(self, e):
        if isinstance(e.arg, HadamardProduct) and len(e.arg.args) == 2:
            a, b = (self._print(m) for m in e.arg.args)
            return self.xp.dot_all(a, b)  # Σ A ⊙ B without the temporary A ⊙ B
        return wrap(self._print(e.arg), ATOM) + ".sum()"

    def _row_exp(self, Z):
        """Row max m, e^(Z − m) and its row sums: shared by softmax and log-sum-exp of Z."""
        z = self._print(Z)
        hint = z if z.isidentifier() else None
        m = self.block.let(self.xp.row_max(wrap(z, ATOM)), hint and hint + "_max")
        E = self.block.let(f"{self.xp.fn('exp')}({wrap(z, PRODUCT)} - {m})", hint and hint + "_exp")
        S = self.block.let(f"{E}.sum(axis=1, keepdims=True)", hint and hint + "_sum")
        return m, E, S

    def _print_LogSumExp(self, e):
        m, _, S = self._row_exp(e.arg)
        return f"{self.xp.fn('log')}({S}) + {m}"

    def _print_Softmax(self, e):
        _, E, S = self._row_exp(e.arg)
        return f"{E} / {S}"

    def _print_Elementwise(self, e):
        code = self._print(self.context.code(e))
        if self.counts is None:  # the emitted pass: recorded for translation validation
            operands = {self.context.placeholder(op): wrap(self._print(op), ATOM)
                        for op in e.operands}
            self.context.printed.append(Printed(e.fn.name, self.context.body(e), code, operands,
                                                self.block, self.context.given(e)))
        return code

    # ── scalar formulas, applied to whole arrays ──
    def _helper(self, name, arg):
        self.context.helpers.add(name)
        return f"{name}({self._print(arg)})"

    def _print_sigmoid(self, e):
        return self._helper("_sigmoid", e.args[0])

    def _print_softplus(self, e):
        return self._helper("_softplus", e.args[0])

    def _print_SigmoidPrime(self, e):
        return self._helper("_sigmoid_prime", e.args[0])

    def _print_erf(self, e):
        return self._helper("_erf", e.args[0])

    def _print_Expm1(self, e):
        return f"{self.xp.fn('expm1')}({self._print(e.args[0])})"

    def _print_ClampedLog(self, e):
        return self._helper("_log", e.args[0])

    def _print_Min(self, e):
        return self._binary_fold("min", e.args)

    def _print_Max(self, e):
        return self._binary_fold("max", e.args)

    def _binary_fold(self, which, args):
        # Array first, so that the constant adopts the array's dtype.
        args = sorted(args, key=lambda a: a.is_number)
        code = self._print(args[0])
        for a in args[1:]:
            code = self.xp.clamp(which, code, self._print(a), bool(a.is_number))
        return code

    def _print_Mul(self, e):
        if len(e.args) == 2 and e.args[0] == -1 and _is_indicator(e.args[1]):
            # −(x > k): NumPy cannot negate a boolean array, so {−1 if x > k; 0 otherwise}
            (_, cond), _ = e.args[1].args
            return self._print(sp.Piecewise((-1, cond), (0, True)))
        return super()._print_Mul(e)

    def _print_Relational(self, e):
        op = {"==": "==", "!=": "!="}.get(e.rel_op, e.rel_op)
        return f"{wrap(self._print(e.lhs), SUM)} {op} {wrap(self._print(e.rhs), SUM)}"

    # boolean conditions (nested max/min): NumPy's element-wise &, |, ~ on boolean arrays
    def _print_And(self, e):
        return " & ".join(wrap(self._print(a), ATOM) for a in e.args)

    def _print_Or(self, e):
        return " | ".join(wrap(self._print(a), ATOM) for a in e.args)

    def _print_Not(self, e):
        return "~" + wrap(self._print(e.args[0]), ATOM)

    def _print_BooleanTrue(self, e):
        return "True"

    def _print_BooleanFalse(self, e):
        return "False"

    def _print_Pow(self, e, rational=False):
        base, exp = e.base, e.exp
        if exp.is_Float and exp == int(exp):
            exp = sp.Integer(int(exp))
        if exp.is_number and abs(float(exp)) == 0.5:
            root = f"{self.xp.fn('sqrt')}({self._print(base)})"
            return root if exp > 0 else f"(1 / {root})"
        if exp.is_Integer and exp < 0:
            return f"(1 / {wrap(self._print(base ** -exp), UNARY)})"
        if exp.is_Integer:
            return f"{self.parenthesize(base, 60)}**{int(exp)}"
        return f"{self.parenthesize(base, 60)}**{wrap(self._print(exp), UNARY)}"

    def _print_Piecewise(self, e):
        pieces = [(p.expr, p.cond) for p in e.args]
        if len(pieces) != 2 or pieces[1][1] is not sp.true:
            return self._print_select(pieces)
        (a, cond), (b, _) = pieces
        if isinstance(cond, sp.StrictGreaterThan | sp.GreaterThan) and (a, b) == cond.args:
            return self._binary_fold("max", [a, b])  # {v if v > k; k otherwise}
        if (a, b) == (1, 0):
            return wrap(self._print(cond), ATOM)  # a boolean array: NumPy multiplies it as 0/1
        a, b = _clip_branches(cond, a, b)
        if a.is_number and b.is_number:  # both constants: take the dtype of the array tested
            tested = cond.lhs if isinstance(cond, Relational) else min(cond.free_symbols, key=str)
            ref = wrap(self._print(tested), ATOM)
            integers = a.is_Integer and b.is_Integer
            a, b = (self.xp.constant_like(ref, self._print(v)) if not v.is_Integer
                    else self._print(v) for v in (a, b))
            if integers:  # np.where of two ints would make an int64 array
                a = self.xp.constant_like(ref, a)
            return f"{self.xp.fn('where')}({self._print(cond)}, {a}, {b})"
        return f"{self.xp.fn('where')}({self._print(cond)}, {self._print(a)}, {self._print(b)})"

    def _print_select(self, pieces):
        conds = [self._print(c) for _, c in pieces[:-1]]
        values = [self._print(v) for v, _ in pieces[:-1]]
        return self.xp.select(conds, values, self._print(pieces[-1][0]))


def _is_indicator(e) -> bool:
    """Whether `e` is {1 if c; 0 otherwise}, printed as the boolean array c."""
    return (isinstance(e, sp.Piecewise) and len(e.args) == 2 and e.args[1].cond is sp.true
            and (e.args[0].expr, e.args[1].expr) == (1, 0))


_ORDER = (sp.StrictGreaterThan, sp.GreaterThan, sp.StrictLessThan, sp.LessThan)


def _clip_branches(cond, a, b):
    """In {a if x > k; b otherwise}, evaluate b at min(x, k) and a at max(x, k) (when they are
    not polynomials): np.where computes both branches everywhere, and e^x must not overflow
    where it is not used."""
    if not (isinstance(cond, _ORDER) and cond.lhs.is_Symbol and cond.rhs.is_number
            and isinstance(a, sp.Expr) and isinstance(b, sp.Expr)):
        return a, b  # Eq/Ne have no side above or below; boolean branches are not clipped
    x, k = cond.lhs, cond.rhs
    above, below = (a, b) if isinstance(cond, sp.StrictGreaterThan | sp.GreaterThan) else (b, a)
    if not above.is_polynomial(x):
        above = above.xreplace({x: sp.Max(x, k)})
    if not below.is_polynomial(x):
        below = below.xreplace({x: sp.Min(x, k)})
    return (above, below) if isinstance(cond, sp.StrictGreaterThan | sp.GreaterThan) else (
        below, above)


def scalar_code(expr) -> str:
    """The code the printer writes for scalar formula `expr` on its own (symbols by name)."""
    return NumPyCodePrinter(Context(), Block())._print(expr)


# ── functions and modules ──────────────────────────────────────────────────────────────────


def print_function(context: Context, equations, reserved=()) -> Block:
    """The statements computing `equations` in order, common sub-expressions once."""
    counts: dict = {}
    scratch = NumPyCodePrinter(context, Block(reserved), counts=counts)
    for eq in equations:
        scratch.doprint(eq.rhs)
        if eq.rhs.is_Matrix:
            context.known[eq.name] = scratch.ndim(eq.rhs)
    shared = frozenset(e for e, n in counts.items() if n > 1)
    block = Block({*reserved, *(eq.name for eq in equations)})
    printer = NumPyCodePrinter(context, block, shared=shared)
    for eq in equations:
        code = printer.doprint(eq.rhs)
        block.assign(eq.name, code, f"{unicode_expr(eq.lhs)} = {unicode_expr(eq.rhs)}")
        if eq.rhs.is_Matrix:
            context.known[eq.name] = printer.ndim(eq.rhs)
    return block


__all__ = ["NumPyCodePrinter", "Block", "Context", "print_function", "wrap"]

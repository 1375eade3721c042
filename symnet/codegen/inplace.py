"""The fused training step: the printed statements computed into preallocated arrays.

`train_step(params, X, Y, lr)` computes forward, loss, backward and the SGD update in one
function. For NumPy and CuPy its body is the very statements that `loss_and_grads` prints (the
same text, read back with `ast`), each computed into an array allocated once per batch size and
dtype and reused at every call (`out=`):

    Z1 = X @ W1 + b1          →   Z1 = _b0
                                  np.dot(X, W1, out=Z1)
                                  np.add(Z1, b1, out=Z1)

An expression tree is computed bottom-up: an operand that is itself an array-valued operation is
computed into the destination when it has the destination's shape (element-wise operations may
write over their own input), else into a scratch array; sums along one axis of a matrix are
products with a column of ones, and a total a dot product with ones (BLAS: NumPy's reductions
cost more than the arithmetic on small arrays); names, constants, `W.T` and `b[:, None]` are
used as they are, except the scalar operands of NumPy's element-wise functions (below). A
buffer is reused by a later statement once no live name
refers to it (a name computed by anything this module does not lower, or as a view, keeps every
buffer its code mentions). What is not lowered (helpers such as σ, `.sum().reshape(1)`) runs as
printed, allocating as before: slower, never wrong.

A Python number passed to a NumPy ufunc is converted to an array at every call, which costs
more than the arithmetic on a small array (`np.maximum(Z1, 0, out=A1)` at 32 × 32 float32: about
2.5 µs against 1.1 µs with a 0-d array). So for NumPy, a numeric literal operand is a 0-d array
of the step's dtype filled once when the buffers are allocated (`np.full((), 0, dtype)`), and a
scalar computed from `lr` and `B` alone is written into a 0-d array right before the call that
reads it (`_b16[()] = lr / B`). The numbers are those the ufunc would use: NumPy converts a
Python number to the array's dtype (NEP 50), and `lr`, were it a float64 NumPy scalar, would
otherwise promote a float32 step's product to float64 and back.

Softmax and log-sum-exp subtract the row maximum m from the logits so that e^(z − m) cannot
overflow. For NumPy, where m is used only that way (`shift_only_maxima`), the step computes m
only when some |z| may reach the edge of the dtype's range: one dot product Σz² against a bound
T² (`_exp_bound`) decides, and below it m is a 0-d zero: the numbers are those of the shifted
form up to rounding, since every e^z and row sum is then a normal number
(`Lowering._shift_when_needed`).

The learning rate is folded into the backward pass: every backward quantity is linear in the
seed ∂L/∂L = 1, so the equations computed from no other backward quantity (δ of the last layer)
are multiplied by lr (`x / B` becomes `x * (lr / B)`: no extra pass) and each parameter is then
updated by `np.subtract(W, dW, out=W)`, right after its last use. Where some backward equation
is not homogeneous in the backward quantities (weight decay adds λW to ∂L/∂W), the gradients
are computed unscaled and multiplied by lr in place instead.

tests/test_train_step.py runs the step against `loss_and_grads` + `sgd_step` for every
activation, loss and layer (equal to rounding: lr·(AᵀD) and Aᵀ(lr·D) round differently).
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass, field

from .printer import ATOM, comment_text, wrap

_UFUNC1 = {"exp", "log", "tanh", "cosh", "sinh", "sqrt", "abs", "absolute", "sign", "expm1",
           "log1p", "sin", "cos", "tan", "arctan", "square", "reciprocal", "negative"}
_UFUNC2 = {"maximum", "minimum", "logaddexp", "power", "arctan2"}
_BINOP = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide",
          ast.Pow: "power"}
_COMPARE = {ast.Gt: "greater", ast.GtE: "greater_equal", ast.Lt: "less", ast.LtE: "less_equal",
            ast.Eq: "equal", ast.NotEq: "not_equal"}
_LOGIC = {ast.BitAnd: "logical_and", ast.BitOr: "logical_or"}
_IDENT = re.compile(r"[A-Za-z_]\w*")
_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
               ast.Div: operator.truediv}


class _Opaque(Exception):
    """A node this module does not lower: it runs as printed."""


@dataclass
class Info:
    shape: tuple | None  # () for scalars; dims are ints or "B"; None when unknown
    kind: str  # "f" float array or scalar, "b" boolean, "s" a Python/NumPy scalar


def _broadcast(*shapes):
    ndim = max(len(s) for s in shapes)
    out = []
    for i in range(ndim):
        dims = {s[len(s) - ndim + i] for s in shapes if len(s) - ndim + i >= 0} - {1}
        if len(dims) > 1:
            raise _Opaque
        out.append(dims.pop() if dims else 1)
    return tuple(out)


@dataclass(eq=False)  # identity: two buffers of one shape are still two buffers
class _Buffer:
    name: str
    shape: tuple
    # as Info's, or "1" ones, "0" a 0-d scalar (`value`: its literal, or None), "T" the bound
    # of _shift_when_needed (`value`: the row width)
    kind: str
    value: int | float | None = None


@dataclass
class Lowered:
    """The body lines of the step and the arrays it needs, in the order of `_b0, _b1, …`."""

    lines: list[str]
    buffers: list[_Buffer] = field(default_factory=list)


class Lowering:
    """Lowers statements one by one (see the module docstring); `xp` the namespace (np, cp)."""

    def __init__(self, xp: str, env: dict[str, Info], exact: bool = False):
        self.xp = xp
        # NumPy's dot (BLAS, for 2-D and 1-D operands into a C-contiguous `out` of the exact
        # dtype, which every buffer is) dispatches faster than the matmul ufunc and makes the
        # same BLAS call. `exact`: the printed statements' very numbers (loss_and_grads_into):
        # sums stay NumPy's add.reduce, computed into buffers, and dot replaces `@` only when
        # both operands are C-contiguous and aligned (a buffer, or a name in `behaved`, or
        # their transposes): for other layouts `@` may run its own loop (NumPy 2.0), whose
        # sums round differently from BLAS. Otherwise sums may be BLAS products with ones.
        self.exact = exact
        self.behaved: set[str] = set()  # names known to be C-contiguous, aligned arrays
        self.matmul = "np.dot" if xp == "np" else f"{xp}.matmul"
        self.env = dict(env)  # name → Info
        self.buffers: list[_Buffer] = []
        self.free: list[_Buffer] = []
        self.pins: dict[str, set[str]] = {}  # name → the buffers its value may live in
        self._pinned: dict[str, int] = {}  # buffer name → how many live names pin it
        self._by_name: dict[str, _Buffer] = {}
        self._free_names: set[str] = set()
        self.lines: list[str] = []
        self._scratch: list[_Buffer] = []
        # row maxima (`M = Z.max(axis=1, keepdims=True)`) that are only ever added to or
        # subtracted from arrays: NumPy computes them only when needed (_shift_when_needed)
        self.unshifted: set[str] = set()

    # ── buffers ──
    def take(self, shape, kind) -> _Buffer:
        for i, b in enumerate(self.free):
            if b.shape == shape and b.kind == kind:
                del self.free[i]
                self._free_names.discard(b.name)
                return b
        b = _Buffer(f"_b{len(self.buffers)}", shape, kind)
        self.buffers.append(b)
        self._by_name[b.name] = b
        return b

    def ones(self, shape) -> str:
        """A buffer of ones of `shape` (filled once, when allocated; never written)."""
        for b in self.buffers:
            if b.kind == "1" and b.shape == shape:
                return b.name
        b = _Buffer(f"_b{len(self.buffers)}", shape, "1")
        self.buffers.append(b)
        self._by_name[b.name] = b
        return b.name

    def scalar(self, value=None) -> str:
        """A 0-d array of the step's dtype: holding the literal `value`, filled once when
        allocated and never written (shared), or with value None one written at each use."""
        if value is not None:
            for b in self.buffers:
                if b.kind == "0" and b.value is not None and repr(b.value) == repr(value):
                    return b.name
        b = _Buffer(f"_b{len(self.buffers)}", (), "0", value)
        self.buffers.append(b)
        self._by_name[b.name] = b
        return b.name

    def scratch(self, shape, kind) -> str:
        b = self.take(shape, kind)
        self._scratch.append(b)
        return b.name

    def pin(self, name: str, buffers: set[str]):
        """`name`'s value may live in `buffers`: they stay taken while `name` is live."""
        self.pins[name] = buffers
        for b in buffers:
            self._pinned[b] = self._pinned.get(b, 0) + 1

    def release(self, names):
        """Names that are dead: their buffers return to the pool if no live name pins them;
        so do this statement's scratch buffers."""
        for n in names:
            for b in self.pins.pop(n, ()):
                self._pinned[b] -= 1
                if not self._pinned[b]:
                    del self._pinned[b]
                    self._give_back(self._by_name[b])
        for b in self._scratch:
            if b.name not in self._pinned:
                self._give_back(b)
        self._scratch = []

    def _give_back(self, b: _Buffer):
        if b.kind not in "10T" and b.name not in self._free_names:
            self.free.append(b)
            self._free_names.add(b.name)

    def mentioned_buffers(self, text: str) -> set[str]:
        out = set()
        for tok in _IDENT.findall(text):
            if tok in self.pins:
                out |= self.pins[tok]
            elif tok.startswith("_b") and tok[2:].isdigit():
                out.add(tok)
        return out

    # ── shapes ──
    def info(self, n) -> Info | None:
        try:
            return self._info(n)
        except _Opaque:
            return None

    def _info(self, n) -> Info:
        if isinstance(n, ast.Constant):
            if isinstance(n.value, bool) or not isinstance(n.value, int | float):
                raise _Opaque
            return Info((), "s")
        if isinstance(n, ast.Name):
            if n.id not in self.env or self.env[n.id].shape is None:
                raise _Opaque
            return self.env[n.id]
        if isinstance(n, ast.UnaryOp):
            i = self._info(n.operand)
            if isinstance(n.op, ast.Invert):
                if i.kind != "b":
                    raise _Opaque
                return i
            if i.kind == "b":
                raise _Opaque
            return i
        if isinstance(n, ast.BinOp):
            a, b = self._info(n.left), self._info(n.right)
            if isinstance(n.op, ast.MatMult):
                if len(a.shape) != 2 or len(b.shape) != 2 or a.shape[1] != b.shape[0]:
                    raise _Opaque
                return Info((a.shape[0], b.shape[1]), "f")
            if type(n.op) in _LOGIC:
                if a.kind != "b" or b.kind != "b":
                    raise _Opaque
                return Info(_broadcast(a.shape, b.shape), "b")
            if type(n.op) not in _BINOP or (a.kind == "b" and b.kind in "bs") or (
                    b.kind == "b" and a.kind == "s"):
                raise _Opaque  # bool + bool, 2 * bool: NumPy's own rules; run as printed
            shape = _broadcast(a.shape, b.shape)
            return Info(shape, "s" if a.kind == b.kind == "s" else "f")
        if isinstance(n, ast.Compare):
            if len(n.ops) != 1 or type(n.ops[0]) not in _COMPARE:
                raise _Opaque
            a, b = self._info(n.left), self._info(n.comparators[0])
            return Info(_broadcast(a.shape, b.shape), "b")
        if isinstance(n, ast.Attribute) and n.attr == "T":
            i = self._info(n.value)
            return Info(tuple(reversed(i.shape)), i.kind)
        if isinstance(n, ast.Subscript):
            i = self._info(n.value)
            if ast.unparse(n.slice) == "(:, None)" and len(i.shape) == 1:
                return Info((i.shape[0], 1), i.kind)
            raise _Opaque
        if isinstance(n, ast.Call):
            return self._call_info(n)
        raise _Opaque

    def _call_info(self, n) -> Info:
        f = n.func
        if isinstance(f, ast.Attribute) and f.attr == "type" and ast.unparse(f).endswith(
                ".dtype.type"):
            return Info((), "s")
        if isinstance(f, ast.Attribute) and f.attr in ("sum", "max") and not n.args:
            i = self._info(f.value)
            kw = {k.arg: k.value for k in n.keywords}
            if set(kw) - {"axis", "keepdims"}:
                raise _Opaque
            if "axis" not in kw:
                if "keepdims" in kw:
                    raise _Opaque
                return Info((), "f")
            axis = kw["axis"]
            keep = kw.get("keepdims")
            if not (isinstance(axis, ast.Constant) and isinstance(axis.value, int)) or (
                    keep is not None and not isinstance(keep, ast.Constant)):
                raise _Opaque
            ax = axis.value % len(i.shape)
            if keep is not None and keep.value:
                shape = tuple(1 if k == ax else d for k, d in enumerate(i.shape))
            else:
                shape = tuple(d for k, d in enumerate(i.shape) if k != ax)
            return Info(shape, "f")
        name = ast.unparse(f)
        args = [self._info(a) for a in n.args]
        if n.keywords:
            raise _Opaque
        short = name.split(".", 1)[1] if name.startswith(self.xp + ".") else None
        if name in ("_sigmoid", "_sigmoid_prime", "_softplus", "_erf", "_log") and len(args) == 1:
            return Info(args[0].shape, "f")
        if short in _UFUNC1 and len(args) == 1:
            return Info(args[0].shape, "s" if args[0].kind == "s" else "f")
        if short in _UFUNC2 and len(args) == 2:
            return Info(_broadcast(args[0].shape, args[1].shape),
                        "s" if args[0].kind == args[1].kind == "s" else "f")
        if short == "vdot" and len(args) == 2:
            return Info((), "f")
        if short == "where" and len(args) == 3 and args[0].kind == "b":
            return Info(_broadcast(*(a.shape for a in args)), "f")
        raise _Opaque

    # ── code ──
    def simple(self, n) -> bool:
        """Used as written: a name, a number, a scalar expression, W.T, b[:, None]."""
        i = self.info(n)
        if i is None:
            return False
        if isinstance(n, ast.Name | ast.Constant) or i.kind == "s":
            return True
        if isinstance(n, ast.Attribute | ast.Subscript):
            return isinstance(n.value, ast.Name)
        return False

    def rebuild(self, n) -> str:
        """`n` as code, each of its array-valued operands lowered first."""
        if self.simple(n) or isinstance(n, ast.Name | ast.Constant):
            return ast.unparse(n)
        clone = _Replace(self).visit(ast.parse(ast.unparse(n), mode="eval").body)
        return ast.unparse(clone)

    def value(self, n, dest: str | None = None) -> str:
        """Code for `n`'s value after emitting the lines that compute it (into `dest` if
        given and possible: the caller compares the result with `dest`)."""
        i = self.info(n)
        if (i is not None and i.shape == () and isinstance(n, ast.Call) and not n.args
                and not n.keywords and isinstance(n.func, ast.Attribute)
                and n.func.attr == "sum"):
            si = self.info(n.func.value)
            if si is not None and si.kind == "f" and si.shape and (
                    not self.exact or self.xp == "np"):
                total = self.value(n.func.value)
                if self.exact:  # x.sum() itself, without ndarray.sum's Python wrapper
                    return f"np.add.reduce({total}, axis=None)"
                # a dot product with ones (BLAS), cheaper than a reduction for small arrays
                return f"{self.xp}.vdot({total}, {self.ones(si.shape)})"
        if i is None or i.shape == () or i.kind == "s" or self.simple(n):
            return self.rebuild(n)
        out = dest
        try:
            return self._emit(n, i, out)
        except _Opaque:
            return self.rebuild(n)

    def _operand(self, child, out_info: Info | None = None, out: str | None = None) -> str:
        """An operand of an element-wise NumPy call: a scalar as a 0-d array (see the module
        docstring), anything else computed (into `out` when it may go there)."""
        if self.xp == "np":
            i = self.info(child)
            if i is not None and i.shape == () and i.kind == "s":
                number = _number(child)
                if number is not None:
                    return self.scalar(number)
                if names_in(ast.unparse(child)) <= {"lr", "B"}:
                    b = self.scalar()
                    self.lines.append(f"{b}[()] = {ast.unparse(child)}")
                    return b
        if out is None:
            return self.value(child)
        return self._into(child, out_info, out)

    def _into(self, child, out_info: Info, out: str) -> str:
        """Compute `child` into `out` when it may go there, else wherever it goes."""
        ci = self.info(child)
        if (ci is not None and not self.simple(child) and ci.shape == out_info.shape
                and ci.kind == out_info.kind):
            return self.value(child, out)
        return self.value(child)

    def _emit(self, n, i: Info, out: str | None) -> str:
        xp = self.xp

        def target():
            return out if out is not None else self.scratch(i.shape, i.kind)

        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.MatMult):
            a, b = self.value(n.left), self.value(n.right)
            o = target()
            product = self.matmul
            if self.exact and not (self._behaved(a) and self._behaved(b)):
                product = "np.matmul"  # `@` itself: dot may round differently (see __init__)
            self.lines.append(f"{product}({a}, {b}, out={o})")
            return o
        if isinstance(n, ast.BinOp):
            fn = _BINOP.get(type(n.op)) or _LOGIC[type(n.op)]
            if fn == "power" and isinstance(n.right, ast.Constant) and n.right.value == 2:
                return self._unary("square", n.left, i, target())
            o = target()
            a = self._operand(n.left, i, o)
            b = self._operand(n.right) if a == o else self._operand(n.right, i, o)
            self.lines.append(f"{xp}.{fn}({wrap(a, ATOM)}, {wrap(b, ATOM)}, out={o})")
            return o
        if isinstance(n, ast.UnaryOp):
            fn = "logical_not" if isinstance(n.op, ast.Invert) else (
                "negative" if isinstance(n.op, ast.USub) else "positive")
            return self._unary(fn, n.operand, i, target())
        if isinstance(n, ast.Compare):
            o = target()
            a, b = self._operand(n.left), self._operand(n.comparators[0])
            self.lines.append(f"{xp}.{_COMPARE[type(n.ops[0])]}({wrap(a, ATOM)}, "
                              f"{wrap(b, ATOM)}, out={o})")
            return o
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in (
                "sum", "max"):
            kw = {k.arg: ast.unparse(k.value) for k in n.keywords}
            src = self.value(n.func.value)
            o = target()
            keep = kw.get("keepdims", "False")
            si = self.info(n.func.value)
            if (n.func.attr == "sum" and not self.exact and si is not None and si.kind == "f"
                    and len(si.shape) == 2):
                # Sums along an axis of a matrix as a product with a column of ones (BLAS): for
                # small arrays NumPy's reduction machinery costs more than the arithmetic.
                if kw["axis"] == "0" and keep == "False":
                    ones = self.ones((si.shape[0],))
                    self.lines.append(f"{self.matmul}({ones}, {src}, out={o})")
                    return o
                if kw["axis"] == "1" and keep == "True":
                    ones = self.ones((si.shape[1], 1))
                    self.lines.append(f"{self.matmul}({src}, {ones}, out={o})")
                    return o
            if xp == "np":
                ufunc = "add" if n.func.attr == "sum" else "maximum"
                self.lines.append(f"np.{ufunc}.reduce({src}, axis={kw['axis']}, out={o}, "
                                  f"keepdims={keep})")
            else:
                fn = "sum" if n.func.attr == "sum" else "amax"
                self.lines.append(f"{xp}.{fn}({src}, axis={kw['axis']}, out={o}, "
                                  f"keepdims={keep})")
            return o
        if isinstance(n, ast.Call):
            name = ast.unparse(n.func)
            short = name.split(".", 1)[1] if name.startswith(xp + ".") else None
            if short in _UFUNC1:
                return self._unary(short, n.args[0], i, target())
            if short in _UFUNC2:
                o = target()
                a = self._operand(n.args[0], i, o)
                b = self._operand(n.args[1]) if a == o else self._operand(n.args[1], i, o)
                self.lines.append(f"{xp}.{short}({a}, {b}, out={o})")
                return o
            if short == "where":
                cond, yes, no = n.args
                o = target()
                c = self.value(cond)
                other = self._operand(no, i, o)
                if other != o:
                    self.lines.append(f"{xp}.copyto({o}, {other})")
                a = self._operand(yes)
                self.lines.append(f"{xp}.copyto({o}, {a}, where={c})")
                return o
        raise _Opaque

    def _behaved(self, text: str) -> bool:
        """Whether operand `text` is a C-contiguous aligned array or its transpose."""
        name = text[:-2] if text.endswith(".T") else text
        return name in self.behaved or (name in self._by_name and self._by_name[name].kind
                                        not in "0T")

    def _unary(self, fn, operand, i, o) -> str:
        a = self._into(operand, i, o)
        self.lines.append(f"{self.xp}.{fn}({a}, out={o})")
        return o

    # ── statements ──
    def statement(self, target: str, code: str, comment: str | None, dead=(),
                  fresh: bool = False):
        """`target = code`, lowered; then the names in `dead` are released. `fresh`: the value
        is returned to the caller, so it goes into a new array, never a kept buffer."""
        if comment:
            self.lines.append(f"# {comment_text(comment)}")
        node = ast.parse(code, mode="eval").body
        i = self.info(node)
        lowered = False
        if i is not None and i.shape and i.kind != "s" and not self.simple(node):
            if fresh:
                buf = None
                shape = ", ".join(str(d) for d in i.shape) + ("," if len(i.shape) == 1 else "")
                kind = "bool" if i.kind == "b" else "X.dtype"
                self.lines.append(f"{target} = {self.xp}.empty(({shape}), {kind})")
            else:
                buf = self.take(i.shape, i.kind)
                self.lines.append(f"{target} = {buf.name}")
            mark = len(self.lines)
            try:
                text = self._emit(node, i, target)
                lowered = text == target
            except _Opaque:
                lowered = False
            if lowered:
                self.behaved.add(target)  # a buffer, or np.empty's new array
            if lowered and buf is not None:
                self.pin(target, {buf.name})
                if target in self.unshifted:
                    self._shift_when_needed(target, node, mark - 1)
            elif not lowered:
                del self.lines[mark - 1:]
                if buf is not None:
                    self._give_back(buf)
        if not lowered:
            text = self.rebuild(node)
            if fresh and self.mentioned_buffers(text):  # might be a view of a kept buffer
                text = f"{self.xp}.array({text}, copy=True)"
            self.lines.append(f"{target} = {text}")
            self.pin(target, self.mentioned_buffers(text))
        self.env[target] = i if i is not None else Info(None, "f")
        self.release(dead)

    def _shift_when_needed(self, target: str, node, start: int):
        """The row maximum `target` of Z, printed to shift softmax and log-sum-exp, computed
        only when some e^z could leave the normal range: when Σz² < T² (`_exp_bound`, per
        dtype and row width) every |z| < T, so every e^z and row sum is a normal number and
        e^(z − 0) is as accurate as e^(z − max); then `target` is a 0-d zero. One dot product
        against a row reduction and two broadcasts (measured: 10–15 % of a 64-32-10 step)."""
        z = ast.unparse(node.func.value)
        width = self.env[z].shape[1]
        bound = _Buffer(f"_b{len(self.buffers)}", (), "T", width)
        self.buffers.append(bound)
        self._by_name[bound.name] = bound
        computed = self.lines[start:]
        self.lines[start:] = [
            f"if np.vdot({z}, {z}) < {bound.name}:  # all |z| < T: no shift by the row max",
            f"    {target} = {self.scalar(0)}",
            "else:",
            *(f"    {line}" for line in computed)]

    def line(self, text: str, dead=()):
        self.lines.append(text)
        self.release(dead)


class _Replace(ast.NodeTransformer):
    """Replaces each array-valued child of the visited node by its lowered value."""

    def __init__(self, lowering: Lowering):
        self.lowering = lowering
        self.depth = 0

    def generic_visit(self, node):
        if self.depth and isinstance(node, ast.expr):
            text = self.lowering.value(node)
            return ast.Name(id=text if text.isidentifier() else wrap(text, ATOM))
        self.depth += 1
        try:
            return super().generic_visit(node)
        finally:
            self.depth -= 1

    def visit_Attribute(self, node):  # noqa: N802 - ast's name
        if self.depth:
            return self.generic_visit(node)
        node.value = self._child(node.value)
        return node

    def visit_Subscript(self, node):  # noqa: N802 - ast's name
        if self.depth:
            return self.generic_visit(node)
        node.value = self._child(node.value)
        return node

    def visit_Call(self, node):  # noqa: N802
        if self.depth:
            return self.generic_visit(node)
        if isinstance(node.func, ast.Attribute):  # a method: lower its receiver
            node.func.value = self._child(node.func.value)
        node.args = [self._child(a) for a in node.args]
        return node

    def _child(self, node):
        self.depth += 1
        try:
            return self.visit(node)
        finally:
            self.depth -= 1


def shift_only_maxima(statements, used_elsewhere: set[str]) -> set[str]:
    """The targets of `statements` (objects with .target, .code) that are row maxima
    `M = Z.max(axis=1, keepdims=True)` of a name Z, used by the later statements only as an
    operand of + or − (the shift of softmax and log-sum-exp) and not in `used_elsewhere`: for
    those, a 0-d zero in place of M gives the same numbers up to rounding
    (Lowering._shift_when_needed)."""
    out = set()
    for k, s in enumerate(statements):
        n = ast.parse(s.code, mode="eval").body
        if not (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                and n.func.attr == "max" and isinstance(n.func.value, ast.Name) and not n.args
                and {kw.arg: ast.unparse(kw.value) for kw in n.keywords}
                == {"axis": "1", "keepdims": "True"}) or s.target in used_elsewhere:
            continue
        names = shifts = 0
        for t in statements[k + 1:]:
            for m in ast.walk(ast.parse(t.code, mode="eval")):
                names += isinstance(m, ast.Name) and m.id == s.target
                shifts += isinstance(m, ast.BinOp) and isinstance(m.op, ast.Add | ast.Sub) and (
                    sum(isinstance(x, ast.Name) and x.id == s.target for x in (m.left, m.right)))
        if names and names == shifts:
            out.add(s.target)
    return out


def seed_scaled(code: str, lowering: Lowering) -> str:
    """The code of a seed of the backward pass, multiplied by lr: `x / s` → `x * (lr / s)`,
    `s * x` → `x * (lr * s)` for a scalar s, anything else `(…) * lr`."""
    n = ast.parse(code, mode="eval").body

    def scalar(e):
        i = lowering.info(e)
        return i is not None and (i.shape == () or i.kind == "s")

    if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div) and scalar(n.right):
        return f"{wrap(ast.unparse(n.left), 11)} * (lr / {wrap(ast.unparse(n.right), ATOM)})"
    if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Mult):
        if scalar(n.left):
            return f"{wrap(ast.unparse(n.right), 12)} * (lr * {wrap(ast.unparse(n.left), ATOM)})"
        if scalar(n.right):
            return f"{wrap(ast.unparse(n.left), 12)} * (lr * {wrap(ast.unparse(n.right), ATOM)})"
    return f"{wrap(code, 11)} * lr"


def _number(n) -> int | float | None:
    """The value of a numeric literal (`0`, `-1`, `1e-05`, `(1 / 2)`) as Python computes it, or
    None."""
    if isinstance(n, ast.Constant):
        ok = isinstance(n.value, int | float) and not isinstance(n.value, bool)
        return n.value if ok else None
    if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub | ast.UAdd):
        v = _number(n.operand)
        return None if v is None else (-v if isinstance(n.op, ast.USub) else v)
    if isinstance(n, ast.BinOp) and type(n.op) in _ARITHMETIC:
        a, b = _number(n.left), _number(n.right)
        if a is None or b is None or (isinstance(n.op, ast.Div) and b == 0):
            return None
        return _ARITHMETIC[type(n.op)](a, b)
    return None


def names_in(code: str) -> set[str]:
    return set(_IDENT.findall(code))


__all__ = ["Info", "Lowered", "Lowering", "names_in", "seed_scaled", "shift_only_maxima"]

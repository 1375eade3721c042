"""Translation validation of the NumPy printer: the generated code is read back and proved.

The derivation proves formulas; the printer then writes them as Python text, and a printing bug
(a lost parenthesis, a comparison chain, an `Eq` clipped like `>`) would run silently wrong. So
every element-wise formula the printer emits (each activation f, each derivative form f′ or
∂f/∂θ, each loss ℓ and ∂ℓ/∂x) is checked twice:

1. Symbolically (`validate`). The emitted text is parsed with `ast` and translated back into
   SymPy by a whitelist: + − * / **, unary −, one comparison (a chained comparison is an error
   by itself), & | ~ on conditions, finite int/float constants (exactly: the float's own
   rational value), the operand arrays, the block's temporaries `t…` (expanded), and calls of
   a fixed table (np.exp, np.log, np.tanh, np.cosh, np.sqrt, abs, np.sign, np.expm1,
   np.log1p, np.maximum, np.minimum, np.where, np.logaddexp, _sigmoid, _sigmoid_prime,
   _softplus, _erf, _log, `a.dtype.type(c)`). Nothing is evaluated; anything else is an
   `UntranslatableCode` failure.
   Then translated = body, with each non-integer constant of the body rounded to the float64
   the printer writes, is decided piece by piece between and at the kinks of the formula.
   A formula computed from a layer's output y = f(x) (σ′ = y·(1 − y)) may be printed from x
   instead (`stable.stable_form`: σ′(x) as `_sigmoid_prime(x)`, exact where 1 − y cancels):
   y = f(x) is substituted on both sides first. Where the code clips its input to [−T, T]
   (GELU, whose x³ overflows), the unclipped code is proved equal to the formula as above, and
   beyond ±T `stable.saturation_holds` proves by interval arithmetic, up to the largest
   float64, that clipping changes the value by less than 2⁻⁶⁰ of it (or that both are 0 in
   float64).
2. Numerically (`numeric_check`): a 1-wide network's generated forward and gradient against
   exact evaluation (the derivation's own, at 50 digits) at points that exercise every branch
   (each kink and both sides of it, 0, tiny and huge magnitudes), in float32 and float64.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy.core.relational import Relational
from sympy.logic.boolalg import BooleanAtom, BooleanFunction

from ..algebra.functions import sigmoid, softplus
from ..algebra.identities import cancellation_free
from ..derivation.chain import derivation_of
from ..errors import SpecError
from ..nn.layers import Dense
from ..nn.losses import MSE
from ..nn.network import Network
from .module import module_source, printed_blocks
from .printer import ClampedLog, Expm1
from .stable import SigmoidPrime, saturation_holds


class UntranslatableCode(Exception):
    """Generated code outside the whitelist the validator reads."""


_CALLS1 = {
    "np.exp": sp.exp, "np.log": sp.log, "np.tanh": sp.tanh, "np.cosh": sp.cosh,
    "np.sqrt": sp.sqrt, "np.abs": sp.Abs, "abs": sp.Abs, "np.sign": sp.sign,
    "np.expm1": Expm1, "np.log1p": lambda a: sp.log(1 + a),
    "_sigmoid": sigmoid, "_sigmoid_prime": SigmoidPrime, "_softplus": softplus, "_erf": sp.erf,
    "_log": ClampedLog,
}
_CALLS2 = {"np.maximum": sp.Max, "np.minimum": sp.Min,
           "np.logaddexp": lambda a, b: sp.log(sp.exp(a) + sp.exp(b))}
_COMPARE = {ast.Gt: sp.StrictGreaterThan, ast.GtE: sp.GreaterThan, ast.Lt: sp.StrictLessThan,
            ast.LtE: sp.LessThan, ast.Eq: sp.Eq, ast.NotEq: sp.Ne}
_ARITHMETIC = {ast.Add: lambda p, q: p + q, ast.Sub: lambda p, q: p - q,
               ast.Mult: lambda p, q: p * q, ast.Div: lambda p, q: p / q, ast.Pow: sp.Pow}
_LOGIC = {ast.BitAnd: sp.And, ast.BitOr: sp.Or}


def _dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return _dotted(node.value) + "." + node.attr
    raise UntranslatableCode(f"callee {ast.unparse(node)}")


def _is_condition(e) -> bool:
    return isinstance(e, Relational | BooleanFunction | BooleanAtom)


def _number(e):
    """A boolean array in arithmetic is 0/1, as NumPy multiplies it."""
    return sp.Piecewise((1, e), (0, True)) if _is_condition(e) else e


class Translator:
    """Generated code → SymPy. `operands` maps the ast.dump of each operand's printed code to
    its placeholder; `lets` maps each temporary's name to its code (translated on demand)."""

    def __init__(self, operands: dict[str, sp.Symbol], lets: dict[str, str]):
        self.operands, self.lets, self.memo = operands, lets, {}

    def code(self, text: str):
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as e:
            raise UntranslatableCode(f"not an expression: {e}") from None
        return self.node(tree.body)

    def node(self, n):  # noqa: C901 - one branch per node type of the whitelist
        key = ast.dump(n)
        if key in self.operands:
            return self.operands[key]
        if isinstance(n, ast.Constant):
            v = n.value
            if isinstance(v, bool):
                return sp.true if v else sp.false
            if not isinstance(v, int | float) or not math.isfinite(v):
                raise UntranslatableCode(f"constant {v!r}")
            return sp.Integer(v) if isinstance(v, int) else sp.Rational(v)
        if isinstance(n, ast.Name):
            if n.id in self.lets:
                if n.id not in self.memo:
                    self.memo[n.id] = self.code(self.lets[n.id])
                return self.memo[n.id]
            raise UntranslatableCode(f"free name {n.id!r}")
        if isinstance(n, ast.UnaryOp):
            v = self.node(n.operand)
            if isinstance(n.op, ast.Invert) and _is_condition(v):
                return sp.Not(v)
            if isinstance(n.op, ast.USub | ast.UAdd) and not _is_condition(v):
                return -v if isinstance(n.op, ast.USub) else v
            raise UntranslatableCode(f"unary {type(n.op).__name__} of {ast.unparse(n.operand)}")
        if isinstance(n, ast.BinOp):
            a, b = self.node(n.left), self.node(n.right)
            if type(n.op) in _LOGIC and _is_condition(a) and _is_condition(b):
                return _LOGIC[type(n.op)](a, b)
            if type(n.op) not in _ARITHMETIC:
                raise UntranslatableCode(f"operator {type(n.op).__name__} in a scalar formula")
            return _ARITHMETIC[type(n.op)](_number(a), _number(b))
        if isinstance(n, ast.Compare):
            if len(n.ops) != 1:
                raise UntranslatableCode("chained comparison " + ast.unparse(n))
            a, b = self.node(n.left), self.node(n.comparators[0])
            if _is_condition(a) or _is_condition(b):
                raise UntranslatableCode("comparison of a condition " + ast.unparse(n))
            return _COMPARE[type(n.ops[0])](a, b)
        if isinstance(n, ast.Call):
            name = _dotted(n.func)
            if n.keywords:
                raise UntranslatableCode(f"keywords in a call of {name}")
            args = [self.node(a) for a in n.args]
            if name == "np.where" and len(args) == 3 and _is_condition(args[0]):
                return sp.Piecewise((_number(args[1]), args[0]), (_number(args[2]), True))
            if name.endswith(".dtype.type") and len(args) == 1 and args[0].is_number:
                return args[0]  # the constant c in the dtype of the array tested
            if name in _CALLS1 and len(args) == 1:
                return _CALLS1[name](_number(args[0]))
            if name in _CALLS2 and len(args) == 2:
                return _CALLS2[name](*map(_number, args))
            raise UntranslatableCode(f"call of {name} with {len(args)} argument(s)")
        raise UntranslatableCode(f"syntax {type(n).__name__}: {ast.unparse(n)}")


def rounded(expr):
    """`expr` with every non-integer number (π, √2/√π, 0.1) replaced by the exact value of the
    float64 the printer writes for it (`repr(float(c))`)."""
    def double(a):
        return sp.Rational(float(a))
    consts = [a for a in expr.atoms(sp.Number, sp.NumberSymbol) if not a.is_Integer]
    return expr.xreplace({a: double(a) for a in consts})


@dataclass
class Check:
    """One emitted formula: its function, the verdict, and why."""

    fn: str
    status: str  # "proved", "failed" or "open"
    detail: str
    code: str
    body: sp.Expr


def translated(p):
    """The SymPy reading of printed formula `p` (a `printer.Printed`)."""
    operands = {ast.dump(ast.parse(code, mode="eval").body): d for d, code in p.operands.items()}
    lets = {s.target: s.code for s in p.block.statements}
    return _number(Translator(operands, lets).code(p.code))


def clips(expr) -> dict:
    """{clip node: (v, T)} for each min(max(v, −T), T) in `expr`, v a placeholder, T > 0."""
    out = {}
    for m in expr.atoms(sp.Min):
        inner = [a for a in m.args if isinstance(a, sp.Max)]
        bound = [a for a in m.args if a.is_number]
        if len(m.args) != 2 or len(inner) != 1 or len(bound) != 1 or not bound[0].is_positive:
            continue
        T = bound[0]
        args = set(inner[0].args)
        v = next((a for a in args if isinstance(a, sp.Dummy)), None)
        if v is not None and args == {v, -T}:
            out[m] = (v, T)
    return out


def obligations(p):
    """What proving printed formula `p` takes: (identities, saturations). Identities are
    (where, code, formula) pieces to decide; saturations are (code, unclipped, v, sign, T),
    each a tail beyond a clip at ±T for `stable.saturation_holds`. The output placeholders of
    `p.given` are replaced by their formulas on both sides."""
    given = {k: rounded(v) for k, v in p.given.items()}
    code = translated(p).xreplace(given)
    body = p.body.xreplace(p.given)
    cut = clips(code)
    unclipped = code.xreplace({m: v for m, (v, _T) in cut.items()})
    identities = list(pieces(unclipped, body))
    saturations = []
    for m, (v, T) in cut.items():
        for sign in (1, -1):
            tail = code.xreplace({m: sign * T})
            saturations.append((tail, unclipped, v, sign, T))
    return identities, saturations


def _kinks(expr, v) -> list:
    """Each k where `expr` may switch branch in v (polynomial conditions, max/min/abs/sign)."""
    roots = set()
    gaps = [r.lhs - r.rhs for r in expr.atoms(Relational)]
    for m in expr.atoms(sp.Max, sp.Min):
        for a in m.args:
            for b in m.args:
                if a != b:  # a max/min inside a gap: each of its arguments in turn
                    gaps += _unnest(a - b)
    gaps += [m.args[0] for m in expr.atoms(sp.Abs, sp.sign)]
    for g in gaps:
        if g.free_symbols == {v} and g.is_polynomial(v) and sp.degree(g, v) <= 6:
            roots |= {r for r in sp.Poly(g, v).real_roots()}
    return sorted(roots)


def _unnest(g) -> list:
    inner = next(iter(g.atoms(sp.Max, sp.Min)), None)
    if inner is None:
        return [g]
    return [h for a in inner.args for h in _unnest(g.xreplace({inner: a}))]


def pieces(code_expr, body):
    """(where, code side, formula side) on each piece on which neither side branches in its
    first operand x: x = k₁ − p left of the first kink, between kinks, at each kink, and
    x = kₙ + p right of the last, with p > 0."""
    lhs, rhs = code_expr, rounded(body)
    both = sp.Tuple(lhs, rhs)
    ph = sorted((s for s in both.free_symbols if isinstance(s, sp.Dummy)), key=str)
    if not ph or not both.has(sp.Piecewise, sp.Max, sp.Min, sp.Abs, sp.sign):
        yield "everywhere", lhs, rhs
        return
    v = ph[0]
    ks = _kinks(both, v) or [sp.Integer(0)]
    p = sp.Symbol("p", positive=True)
    at = [ks[0] - p, ks[-1] + p, *ks] + [a + (b - a) * p / (1 + p) for a, b in zip(ks, ks[1:])]
    for point in at:
        a = sp.piecewise_fold(lhs.xreplace({v: point}))
        b = sp.piecewise_fold(rhs.xreplace({v: point}))
        yield f"x = {point}", a, b


def _decide(a, b) -> tuple[bool | None, str]:
    """(True, "") if a = b is shown, (False, where) if a sample point separates them, else
    (None, why). Small and bounded; `symnet prove` uses its own `decide` instead."""
    if a == b:
        return True, ""
    gap = a - b
    if gap == 0 or (sp.count_ops(gap) < 200 and sp.expand(gap) == 0):
        return True, ""
    free = sorted(gap.free_symbols, key=str)
    for t in (sp.Rational(3, 7), sp.Rational(13, 10), sp.Rational(-5, 3)):
        at = {s: t + sp.Rational(j, 11) for j, s in enumerate(free)}
        if any(s.is_positive for s in free):
            at = {s: abs(v) + sp.Rational(1, 5) if s.is_positive else v for s, v in at.items()}
        va, vb = sp.N(a.subs(at), 30), sp.N(b.subs(at), 30)
        if va.is_number and vb.is_number and va.is_finite and vb.is_finite and abs(
                va - vb) > 1e-12 * max(1, abs(vb)):
            return False, f"at {at}: code gives {va:.12g}, the formula {vb:.12g}"
    if _by_identities(a, b):
        return True, ""
    if _exp_rational_zero(gap):
        return True, ""
    if sp.count_ops(gap) < 60 and sp.simplify(gap.rewrite(sp.exp)) == 0:
        return True, ""
    return None, "equal at the sample points; no symbolic proof found"


def _by_identities(code, formula) -> bool:
    """Whether the code is the formula rewritten by the identities of `algebra.identities`
    (σ(a)·(1 − σ(a)) = σ′(a), 1 − tanh(a)² = 4σ′(2a), …, each proved as a lemma in
    proofs/identities.py), up to expansion. Instant, where simplify() takes seconds to minutes
    on nested forms (tanh(tanh(tanh(x²))))."""
    try:
        rewritten = cancellation_free(formula)
        return rewritten != formula and (rewritten == code or sp.expand(rewritten - code) == 0)
    except (TypeError, ValueError):
        return False


def _exp_rational_zero(gap) -> bool:
    """Whether `gap`, rewritten in exponentials (tanh, σ, σ′ by their definitions), is 0 as a
    rational function of x and of one positive w per family of exponentials whose arguments
    are rational multiples of each other (e^(2u), e^(−2u) → w², w⁻²): exact, and bounded where
    simplify is not."""
    try:
        g = gap.rewrite(sp.exp)
        groups: list[tuple] = []
        for e in g.atoms(sp.exp):
            a = e.args[0]
            for base, members in groups:
                r = sp.cancel(a / base)
                if r.is_Rational:
                    members.append((e, r))
                    break
            else:
                groups.append((a, [(e, sp.Integer(1))]))
        subs = {}
        for i, (_base, members) in enumerate(groups):
            q = sp.ilcm(*[r.q for _, r in members])
            w = sp.Symbol(f"_w{i}", positive=True)
            subs |= {e: w ** (r * q) for e, r in members}
        h = g.xreplace(subs)
        if h.has(sp.exp) or sp.count_ops(h) > 400:
            return False
        num, _den = sp.fraction(sp.cancel(sp.together(h)))
        return sp.expand(num) == 0
    except (TypeError, ValueError, sp.PolynomialError):
        return False


def printed_formulas(net) -> list:
    """Every element-wise formula (`printer.Printed`) the generated module for `net` emits."""
    context, _blocks = printed_blocks(derivation_of(net))
    return context.printed


def check_printed(p, decide=_decide) -> Check:
    """The verdict on one printed formula `p` (a `printer.Printed`)."""
    try:
        identities, saturations = obligations(p)
        verdicts = [(where, *decide(a, b)) for where, a, b in identities]
        for tail, unclipped, v, sign, T in saturations:
            held = saturation_holds(tail, unclipped, v, sign, T) or None  # not refuted
            verdicts.append((f"x {'>' if sign > 0 else '<'} {sign * T} (clipped)", held,
                             "" if held else "clipping changes the value by more than "
                             "2^-60 of it, or interval arithmetic could not show less"))
    except UntranslatableCode as e:
        return Check(p.fn, "failed", f"untranslatable generated code: {e}", p.code, p.body)
    except Exception as e:  # noqa: BLE001 - SymPy could not compare: not proved
        return Check(p.fn, "open", f"SymPy raised {type(e).__name__}: {e}", p.code, p.body)
    bad = next((v for v in verdicts if v[1] is False), None) or next(
        (v for v in verdicts if v[1] is None), None)
    status = "proved" if bad is None else ("failed" if bad[1] is False else "open")
    detail = "" if bad is None else f"with {bad[0]}: {bad[2]}"
    return Check(p.fn, status, detail, p.code, p.body)


def validate(net, decide=_decide) -> list[Check]:
    """One `Check` per distinct formula the generated module for `net` computes."""
    out, seen = [], set()
    for p in printed_formulas(net):
        key = (p.fn, p.code, tuple(s.code for s in p.block.statements if s.target in p.code))
        if key in seen:
            continue
        seen.add(key)
        out.append(check_printed(p, decide))
    return out


# ── what `symnet.compile` checks: the formulas of custom activations, each once ─────────────

_CANONICAL = [sp.Dummy(f"v{i}", real=True) for i in range(64)]
_VERDICTS: dict = {}  # canonical (code, formula, given) → Check


def _key(p):
    """p's translated code, formula and given, in placeholders numbered by operand position:
    the same formula after another dense layer (Z2 for Z1) is the same key."""
    rename = {d: _CANONICAL[i] for i, d in enumerate(p.operands)}
    given = tuple(sorted(((str(rename[k]), sp.srepr(v.xreplace(rename)))
                          for k, v in p.given.items())))
    return (sp.srepr(translated(p).xreplace(rename)), sp.srepr(p.body.xreplace(rename)), given)


def check_custom(printed, layers) -> None:
    """Raise SpecError unless every formula in `printed` computed for one of the custom
    activations `layers` (f, f′ and each ∂f/∂θ) is proved equal to its generated code, or,
    where SymPy can neither prove nor refute that, agrees with exact evaluation at the
    activation's branch points (`numeric_check`). Each distinct formula is checked once per
    process."""
    names = {n for a in layers for n in (a.name, f"d_{a.name}",
                                         *(f"d_{a.name}_{s.name}" for s in a.symbols))}
    for p in printed:
        if p.fn not in names:
            continue
        try:
            key = _key(p)
        except UntranslatableCode as e:
            raise SpecError(f"the generated code for {p.fn} is outside what symnet can check "
                            f"(`{p.code}`: {e}); please report this") from None
        if key not in _VERDICTS:
            _VERDICTS[key] = check_printed(p)
        c = _VERDICTS[key]
        if c.status == "failed":
            raise SpecError(f"the generated code for {p.fn}, `{c.code}`, does not equal its "
                            f"formula {c.body} ({c.detail}); this is a symnet bug, please report "
                            "it")
        if c.status == "open" and key not in _CONFIRMED:
            bad = _numeric_for(p.fn, layers)
            if bad:
                raise SpecError(f"the generated code for {p.fn}, `{c.code}`, differs from its "
                                f"formula at x = {bad[0][0]!r} ({bad[0][1]}); SymPy could not "
                                f"prove it equal either ({c.detail})")
            _CONFIRMED.add(key)


_CONFIRMED: set = set()  # formulas not proved, but confirmed at their branch points


def _numeric_for(fn, layers) -> list:
    """`numeric_check` (float64, branch points) of the custom activation computing `fn`."""
    act = next(a for a in layers
               if fn in (a.name, f"d_{a.name}") or fn.startswith(f"d_{a.name}_"))
    return numeric_check(Network([Dense(1, 1), act], MSE()))


# ── numeric validation at branch-exercising points ──────────────────────────────────────────


def branch_points(kinks=()) -> list[float]:
    """0, ±0.5, ±3, tiny and huge magnitudes, and each kink with both sides of it."""
    pts = {0.0, 0.5, -0.5, 3.0, -3.0, 1e-30, -1e-30, 1e3, -1e3, 1e20, -1e20}
    for k in kinks:
        k = float(k)
        for step in (0.0, 1e-9, -1e-9, 1e-3, -1e-3, 1.0, -1.0):
            pts.add(k + step * max(1.0, abs(k)))
    return sorted(pts)


def numeric_check(net, dtype=np.float64, points=None, rel=None) -> list[tuple[float, str]]:
    """(x, what went wrong) wherever a 1-input network's generated forward output or bias
    gradient (W1 = 1, b1 = 0, Y = 0) differs from exact evaluation by more than `rel`, or is
    not finite where the exact value is a finite float of `dtype`."""
    d = derivation_of(net)
    module: dict = {}
    exec(compile(module_source(d, np.dtype(dtype)), "<symnet-validate>", "exec"), module)
    kinks = [k for la in d.network.layers for k in getattr(la, "kinks", ())]
    rel = rel or (1e-9 if np.dtype(dtype) == np.float64 else 1e-4)
    info = np.finfo(dtype)
    bad = []
    for xv in points or branch_points(kinks):
        if abs(xv) > float(info.max) or (xv and abs(xv) < float(info.tiny)):
            continue
        p = module["init_params"](0)
        p["W1"][...] = 1
        p["b1"][...] = 0
        X, Y = np.array([[xv]], dtype), np.zeros((1, d.network.n_out), dtype)
        with np.errstate(all="ignore"):
            _L, g = module["loss_and_grads"](p, X, Y)
        try:
            _Le, ge = d.evaluate({k: v.astype(np.float64) for k, v in p.items()},
                                 X.astype(np.float64), Y.astype(np.float64))
            want = float(ge["b1"][0])
        except (TypeError, ValueError, ArithmeticError) as e:
            bad.append((xv, f"exact evaluation failed: {type(e).__name__}"))
            continue
        got = float(g["b1"][0])
        if not math.isfinite(want) or abs(want) > float(info.max):
            continue  # beyond the dtype: an overflow there is honest
        if not math.isfinite(got) or abs(got - want) > rel * abs(want) + float(info.tiny):
            bad.append((xv, f"db1: generated {got!r}, exact {want!r}"))
    return bad


__all__ = ["Check", "Translator", "UntranslatableCode", "branch_points", "clips", "numeric_check",
           "obligations", "pieces", "printed_formulas", "rounded", "translated", "validate"]

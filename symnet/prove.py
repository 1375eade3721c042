"""`symnet prove`: run the machine-checked proofs in `proofs/` and report on every theorem.

A proof module is any `proofs/*.py` whose name does not start with `_`. It defines
`theorems()`, yielding `Theorem`s; a theorem's `run(proof)` states its claim
(`proof.states`), shows its derivation (`proof.step`) and checks each equality it relies on
with `proof.equal`, which SymPy must decide. The verdict is honest:

- **proved**: every check was shown symbolically (expand, simplify, or simplify after
  rewriting in exp), with at least one check made;
- **failed**: a check is false (SymPy found values where the two sides differ, and the report
  shows them), or the code under proof raised;
- **open**: a check SymPy could neither prove nor refute (the sides agree at every sample
  point), or a proof that gave up (`proof.cannot`). Never reported as proved.

The method is *general* (holds for every value of the symbols, dimensions included) unless the
theorem declares a `bound`: then it was checked exhaustively for every case within that bound.

Proofs import the rules they prove from `symnet` and never restate them, so a wrong rule fails
its proof. They live in the source tree beside the package (not in the installed wheel) and are
loaded by file path; `--proofs DIR` or $SYMNET_PROOFS point elsewhere.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.matrices.expressions.matexpr import MatrixElement

from .errors import SymnetError

# ── what a proof module declares ────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Theorem:
    title: str  # one line for the table
    run: Callable  # run(proof): states the claim, shows the steps, makes the checks
    bound: str = ""  # "" for a general proof; else what was enumerated ("depth ≤ 3, B ≤ 2")

    @property
    def method(self) -> str:
        return f"bounded: {self.bound}" if self.bound else "general"


class Disproved(Exception):
    """A check is false."""


class Open(Exception):
    """The proof cannot be completed."""


@dataclass(frozen=True)
class Step:
    words: str
    latex: str = ""
    mark: str = ""  # "" for a step shown, "✓" / "✗" / "?" for a check proved / false / open


class Proof:
    """What a theorem's `run` writes as it goes: the statement, the steps and the checks."""

    def __init__(self):
        self.statement = ""
        self.steps: list[Step] = []
        self.checks = 0
        self.undecided: list[str] = []

    def states(self, latex: str):
        """The claim, in LaTeX."""
        self.statement = latex

    def step(self, words: str, expr=None):
        """A derivation step: words, and optionally an expression or an (lhs, rhs) pair."""
        self.steps.append(Step(words, _latex(expr)))

    def equal(self, lhs, rhs, words: str | None = None, *, show: bool = True):
        """Check lhs = rhs (scalars or explicit matrices). Raises `Disproved` when false; an
        undecided check makes the theorem open. With `words` (and `show`) the check is shown as
        a step; a check that is not proved is always shown."""
        self.checks += 1
        verdict, note = decide(lhs, rhs)
        if (words and show) or verdict is not True:
            mark = {True: "✓", False: "✗", None: "?"}[verdict]
            text = words or f"check {self.checks}"
            shown = _latex((lhs, rhs))
            shown = shown if len(shown) <= _LATEX_LIMIT else ""  # a page of formula helps no one
            self.steps.append(Step(text + (f" ({note})" if note else ""), shown, mark))
        if verdict is False:
            raise Disproved(f"{words or f'check {self.checks}'}: {note}")
        if verdict is None:
            self.undecided.append(f"{words or f'check {self.checks}'}: {note}")

    def cannot(self, reason: str):
        """Give up: the theorem is reported open, with `reason`."""
        raise Open(reason)


# ── deciding an equality ────────────────────────────────────────────────────────────────────

_LATEX_LIMIT = 3000  # characters of a check's formula worth showing in the document

# simplify() can run for minutes on a large expression; GELU's derivative, the largest proved
# here, is about 760 operations and takes a second or two.
_SIMPLIFY_LIMIT = 1000
_SIZE = 3  # symbolic dimensions take this value in a counterexample search; indices run below it
_REALS = (sp.Rational(-17, 10), sp.Rational(9, 20), sp.Rational(-3, 10), sp.Rational(11, 5))
_POSITIVE = (sp.Rational(3, 10), sp.Rational(7, 5), sp.Rational(5, 2), sp.Rational(2, 9))


def decide(lhs, rhs) -> tuple[bool | None, str]:
    """(True, "") when SymPy shows lhs = rhs, (False, where) when they differ somewhere,
    (None, why) when neither could be shown."""
    lhs, rhs = sp.sympify(lhs), sp.sympify(rhs)
    if isinstance(lhs, sp.MatrixBase) or isinstance(rhs, sp.MatrixBase):
        shapes = getattr(lhs, "shape", ()), getattr(rhs, "shape", ())
        if shapes[0] != shapes[1]:
            return False, f"shapes differ: {shapes[0]} and {shapes[1]}"
        verdicts = [decide(a, b) for a, b in zip(lhs, rhs)]
        for verdict in (False, None):
            hit = next((note for v, note in verdicts if v is verdict), None)
            if hit is not None:
                return verdict, hit
        return True, ""
    d = lhs - rhs
    if d.has(sp.Sum):
        d = _rename_bound(_tidy_sums(sp.expand(_tidy_sums(sp.expand(d)))))
    if sp.expand(d) == 0:
        return True, ""
    where = _counterexample(lhs, rhs)  # before simplify, which can take long on a false claim
    if where:
        return False, where
    if sp.count_ops(d) > _SIMPLIFY_LIMIT:
        return None, "equal at every sample point; too large for simplify to try"
    for form in (lambda e: e.rewrite(sp.exp), lambda e: e):
        if sp.simplify(form(d)) == 0:
            return True, ""
    return None, "equal at every sample point, but SymPy found no symbolic proof"


def _tidy_sums(expr):
    """Finite sums in one shape, by identities that hold for every finite sum: factors that do
    not involve the indices moved out, Σₐ Σᵦ g as one Σ over (β, α), an index the summand does
    not use replaced by its count, and, where no bound depends on another index, the indices
    ordered by range."""
    if not expr.args or isinstance(expr, MatrixElement):
        return expr
    expr = expr.func(*(_tidy_sums(a) for a in expr.args))
    if not isinstance(expr, sp.Sum):
        return expr
    limits, body = list(expr.limits), expr.function
    outside = sp.S.One
    while True:
        indices = {v for v, _, _ in limits}
        factors = sp.Mul.make_args(body)
        free = [f for f in factors if not f.free_symbols & indices]
        outside *= sp.Mul(*free)
        body = sp.Mul(*(f for f in factors if f.free_symbols & indices))
        if not isinstance(body, sp.Sum):
            break
        limits, body = list(body.limits) + limits, body.function
    bound = set().union(*(lo.free_symbols | hi.free_symbols for _, lo, hi in limits))
    kept = []
    for v, lo, hi in limits:
        if v in body.free_symbols or v in bound:
            kept.append((v, lo, hi))
        else:
            outside *= hi - lo + 1
    if not bound & {v for v, _, _ in kept}:
        kept.sort(key=lambda lim: (str(lim[1]), str(lim[2])))
    return outside * (sp.Sum(body, *kept) if kept else body)


def _rename_bound(expr, depth=0):
    """Summation indices renamed _s0, _s1, … by nesting depth, so that Σₜ f(t) and Σᵤ f(u)
    are the same expression (α-renaming, which changes no value)."""
    if isinstance(expr, sp.Sum):
        body, limits = expr.function, []
        for offset, (v, lo, hi) in enumerate(expr.limits):
            new = sp.Symbol(f"_s{depth + offset}", integer=True)
            body = body.xreplace({v: new})
            limits = [(w, a.xreplace({v: new}), b.xreplace({v: new})) for w, a, b in limits]
            limits.append((new, lo, hi))
        return sp.Sum(_rename_bound(body, depth + len(limits)), *limits)
    if not expr.args or isinstance(expr, MatrixElement):
        return expr
    return expr.func(*(_rename_bound(a, depth) for a in expr.args))


def _counterexample(lhs, rhs, tries: int = 4) -> str:
    """Where lhs and rhs differ, found by giving every symbol a value: sizes 3, indices below
    3, matrix entries in (0, 1), reals from a fixed list, undefined functions polynomials."""
    for t in range(tries):
        try:
            pair, shown = _instantiate(sp.Tuple(lhs, rhs), t)
            a, b = (sp.N(side, 30) for side in pair)
            if not (a.is_number and b.is_number) or a.has(sp.nan, sp.zoo) or b.has(sp.nan, sp.zoo):
                continue
            if abs(a - b) > sp.Float(1e-20) * max(1, abs(a)):
                return f"at {shown or 'the sample point'}: {sp.N(a, 8)} ≠ {sp.N(b, 8)}"
        except (TypeError, ValueError, ZeroDivisionError, NotImplementedError):
            continue
    return ""


def _instantiate(expr, t: int):
    symbols = sorted((s for s in expr.free_symbols if isinstance(s, sp.Symbol)), key=str)
    values = {}
    for q, s in enumerate(symbols):
        if s.is_integer:
            values[s] = _SIZE if s.is_positive else (q + t) % _SIZE
        else:
            values[s] = (_POSITIVE if s.is_positive else _REALS)[(q + t) % 4]
    expr = expr.xreplace(values).doit()
    entries = sorted(expr.atoms(MatrixElement), key=str)
    expr = expr.xreplace({e: sp.Rational(1 + (5 * q + 3 * t) % 11, 13)
                          for q, e in enumerate(entries)})
    names = sorted({type(e).__name__ for e in expr.atoms(sp.Function) if _opaque(e)})

    def polynomial(e):
        c = names.index(type(e).__name__) + t + 2
        terms = ((r + c) * a**2 / (c + 1) - a / c for r, a in enumerate(e.args))
        return sum(terms) + sp.Rational(1, c)

    expr = expr.replace(lambda e: isinstance(e, sp.Function) and _opaque(e), polynomial)
    shown = ", ".join(f"{s} = {v}" for s, v in values.items() if not str(s).startswith("_"))
    return expr, shown + (", undefined functions as polynomials" if names else "")


def _opaque(e) -> bool:
    """An applied function with no numeric value: `Function("f")`, or a proof's generic f
    (a Function subclass outside SymPy that does not say how to evaluate itself)."""
    cls = type(e)
    return isinstance(e, AppliedUndef) or (
        not cls.__module__.startswith("sympy.") and cls._eval_evalf is sp.Function._eval_evalf
    )


def _latex(expr) -> str:
    from .algebra.notation import latex_expr

    if expr is None:
        return ""
    if isinstance(expr, str):
        return expr
    if isinstance(expr, tuple):
        return " = ".join(_latex(side) for side in expr)
    return latex_expr(expr)


# ── running ─────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Result:
    title: str
    method: str
    status: str  # "proved", "failed" or "open"
    seconds: float
    module: str = ""
    statement: str = ""
    steps: tuple[Step, ...] = ()
    checks: int = 0
    detail: str = ""  # why it failed or is open

    @property
    def proved(self) -> bool:
        return self.status == "proved"


def run(theorem: Theorem, module: str = "") -> Result:
    proof, start = Proof(), time.perf_counter()
    try:
        theorem.run(proof)
        if proof.undecided:
            status, detail = "open", "; ".join(proof.undecided)
        elif not proof.checks:
            status, detail = "open", "the proof made no checks"
        else:
            status, detail = "proved", ""
    except Disproved as e:
        status, detail = "failed", str(e)
    except Open as e:
        status, detail = "open", str(e)
    except Exception as e:  # noqa: BLE001 - a proof that crashes proves nothing
        status, detail = "failed", f"raised {type(e).__name__}: {e}"
    return Result(theorem.title, theorem.method, status, time.perf_counter() - start, module,
                  proof.statement, tuple(proof.steps), proof.checks, detail)


def proofs_directory(directory=None) -> Path:
    """The proofs to run: `directory`, else $SYMNET_PROOFS, else the copy installed with the
    package (`symnet/_proofs`, put there by the wheel build), else `proofs/` of a checkout."""
    where = directory or os.environ.get("SYMNET_PROOFS")
    package = Path(__file__).resolve().parent
    if where:
        path = Path(where)
    elif (package / "_proofs" / "__init__.py").is_file():
        path = package / "_proofs"
    else:
        path = package.parent / "proofs"
    if not (path / "__init__.py").is_file():
        raise SymnetError(f"no proofs package at {path} (a folder with an __init__.py and the "
                          "proof modules); pass --proofs DIR or set $SYMNET_PROOFS")
    return path


def discover(directory=None, network=None) -> list[tuple[str, Iterable[Theorem] | Exception]]:
    """(module name, its theorems or the error that stopped it loading), in the order the
    package's ORDER lists them, then any other module alphabetically. With a `network`, a
    module's `theorems_for(network)` (where it has one) adds the theorems that network needs
    beyond symnet's own: its custom activations' derivatives, say."""
    path = proofs_directory(directory)
    name = "_symnet_proofs_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, path / "__init__.py", submodule_search_locations=[str(path)]
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules[name] = package
        try:
            spec.loader.exec_module(package)
        except Exception as e:
            del sys.modules[name]
            why = f"{type(e).__name__}: {e}"
            raise SymnetError(f"{path / '__init__.py'} did not load: {why}") from e
    order = list(getattr(sys.modules[name], "ORDER", ()))
    stems = sorted(p.stem for p in path.glob("*.py") if not p.stem.startswith("_"))
    stems = [s for s in order if s in stems] + [s for s in stems if s not in order]
    found = []
    for stem in stems:
        try:
            module = importlib.import_module(f"{name}.{stem}")
            theorems = list(module.theorems())
            if network is not None and hasattr(module, "theorems_for"):
                theorems += list(module.theorems_for(network))
            found.append((stem, theorems))
        except Exception as e:  # noqa: BLE001 - reported as a failed result
            found.append((stem, e))
    return found


def prove(directory=None, *, only: str | None = None, on_result=None,
          network=None) -> list[Result]:
    """Run every theorem (those whose title contains `only`, if given) and return the results;
    `on_result(result)` is called as each one finishes. `network` (a Network or spec) adds the
    theorems its own layers need: the derivative of each custom activation, in the form symnet
    generates for it."""
    if network is not None and not hasattr(network, "layers"):
        from .nn.spec import network_from

        network = network_from(network)
    results = []
    for module, theorems in discover(directory, network):
        if isinstance(theorems, Exception):
            detail = f"proofs/{module}.py did not load: {type(theorems).__name__}: {theorems}"
            outcome = [Result(f"proofs/{module}.py", "—", "failed", 0.0, module, detail=detail)]
        else:
            outcome = (run(th, module) for th in theorems
                       if only is None or only.lower() in th.title.lower())
        for result in outcome:
            results.append(result)
            if on_result:
                on_result(result)
    return results


# ── reporting ───────────────────────────────────────────────────────────────────────────────

_HEADER = ("theorem", "method", "status", "time")


def _row(r: Result) -> tuple[str, str, str, str]:
    return r.title, r.method, r.status, f"{r.seconds:.2f} s"


def summary(results) -> str:
    counts = {s: sum(r.status == s for r in results) for s in ("proved", "failed", "open")}
    total = sum(r.seconds for r in results)
    parts = ", ".join(f"{n} {s}" for s, n in counts.items() if n or s == "proved")
    return f"{len(results)} theorems: {parts} in {total:.1f} s"


def table(results) -> str:
    rows = [_HEADER, *(_row(r) for r in results)]
    widths = [max(len(row[c]) for row in rows) for c in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("─" * w for w in widths))
    for r in results:
        if r.detail:
            lines.append(f"{r.status}: {r.title}: {r.detail}")
    lines.append(summary(results))
    return "\n".join(lines)


def markdown(results) -> str:
    out = ["# symnet: proofs of the backpropagation rules", "",
           "Each theorem below is checked by SymPy against the rule symnet's derivations "
           "actually use (imported from `symnet`, never restated). *General* proofs hold for "
           "every value of the symbols, dimensions included; *bounded* ones were checked for "
           "every case within the stated bound. Generated by `symnet prove --markdown`.", "",
           "| theorem | method | status | time |", "|---|---|---|---|"]
    out += ["| " + " | ".join(cell.replace("|", r"\|") for cell in _row(r)) + " |" for r in results]
    out += ["", summary(results) + ".", ""]
    for number, r in enumerate(results, 1):
        out += [f"## {number}. {r.title}", ""]
        if r.statement:
            out += ["**Statement.**", "", f"$$ {r.statement} $$", ""]
        out += [f"**Method.** {r.method}.", ""]
        if r.steps:
            out += ["**Derivation.**", ""]
            for s in r.steps:
                mark = f"{s.mark} " if s.mark else ""
                out.append(f"1. {mark}{s.words}" + (f": ${s.latex}$" if s.latex else ""))
            out.append("")
        checks = f"{r.checks} check" + ("" if r.checks == 1 else "s")
        verdict = f"**{r.status}**: {checks}, {r.seconds:.2f} s"
        out += [f"**Verdict.** {verdict}" + (f". {r.detail}" if r.detail else "."), ""]
    return "\n".join(out)


__all__ = ["Theorem", "Proof", "Result", "Step", "decide", "discover", "prove", "run",
           "proofs_directory", "table", "markdown", "summary"]

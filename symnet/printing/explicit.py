"""Explicit scalar mode: every weight its own symbol, one formula per weight, textbook style.

`explicit(net, batch=1)` evaluates the matrix derivation on matrices of scalar symbols and names
every entry it computes (z¹ⱼ, a¹ⱼ, δ¹ⱼ, ∂L/∂w¹ᵢⱼ), so each formula refers to the quantities
before it, exactly as a textbook writes backpropagation for a 2-3-1 network:

    δ¹₂ = δ²₁·w²₂₁·a¹₂·(1 - a¹₂)
    ∂L/∂w¹₁₂ = x₁·δ¹₂

Repeated sub-expressions that remain are named by `sympy.cse` (u₁, u₂, …).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from ..algebra.matexpr import B, Op
from ..algebra.notation import GREEK, SymnetLatexPrinter, UnicodePrinter
from ..derivation.chain import derive
from ..derivation.evaluate import interpret
from ..errors import SpecError

MAX_SCALARS = 20_000  # beyond this the printout is unreadable and SymPy slow: use derive()

_SUB = str.maketrans("0123456789(),", "₀₁₂₃₄₅₆₇₈₉₍₎,")
_SUP = str.maketrans("0123456789()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾")
_UNSUB = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
_GREEK = {name: (letter, "\\" + name) for name, letter in GREEK.items()}  # γ, β, μ, σ, θ, …


@dataclass(frozen=True)
class ScalarEquation:
    lhs: sp.Symbol
    rhs: sp.Expr
    kind: str  # "forward", "loss", "backward", "gradient", "shared"


class Explicit:
    """Per-entry equations of a network's forward and backward pass for a fixed batch size."""

    def __init__(self, network, batch, equations, latex_names):
        self.network, self.batch = network, batch
        self.equations: tuple[ScalarEquation, ...] = tuple(equations)
        self._latex_names = latex_names

    def gradient(self, name: str) -> dict[tuple[int, ...], sp.Expr]:
        """{index: formula} for each entry of ∂L/∂`name` (0-based NumPy indices)."""
        grads = {eq.lhs: eq.rhs for eq in self.equations if eq.kind == "gradient"}
        shape = self.network.parameters[name]
        out = {}
        for index in _indices(shape):
            out[index] = grads[_entry_symbol(f"d{name}", index, shape, self.batch)[0]]
        return out

    def __str__(self):
        return self.unicode()

    # Jupyter: LaTeX, or the Unicode equations in a code block; sympy.latex(e) is e.latex().
    def _repr_latex_(self) -> str:
        return "$$\n" + self.latex() + "\n$$"

    def _repr_markdown_(self) -> str:
        return "```text\n" + self.unicode() + "\n```"

    def _latex(self, printer=None) -> str:
        return self.latex()

    def unicode(self) -> str:
        printer = UnicodePrinter()
        titles = {"forward": "Forward", "loss": "Loss", "shared": "Backward",
                  "backward": "Backward", "gradient": "Backward"}
        lines, title = [], None
        for eq in self.equations:
            if titles[eq.kind] != title:
                title = titles[eq.kind]
                lines.append(f"{title}:")
            lines.append(f"  {printer.doprint(eq.lhs)} = {printer.doprint(eq.rhs)}")
        return "\n".join(lines)

    def latex(self) -> str:
        printer = SymnetLatexPrinter({"symbol_names": self._latex_names})
        rows = [f"{printer.doprint(eq.lhs)} &= {printer.doprint(eq.rhs)}" for eq in self.equations]
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


def _indices(shape):
    if len(shape) == 1:
        return [(i,) for i in range(shape[0])]
    return [(i, j) for i in range(shape[0]) for j in range(shape[1])]


def _entry_symbol(name: str, index, shape, batch):
    """The scalar symbol for entry `index` of the matrix called `name`, and its LaTeX."""
    grad = name.startswith("d") and len(name) > 1
    base_name = name[1:] if grad else name
    m = re.fullmatch(r"([A-Za-z]+?)(\d*)", base_name)
    letters, layer = (m.group(1), m.group(2)) if m else (base_name, "")
    uni, tex = _GREEK.get(letters, (letters.lower(), letters.lower()))
    if grad and letters == "Z":
        uni, tex, grad = "δ", r"\delta", False
    sample, units = "", [i + 1 for i in index]
    if len(index) == 2 and _is_batch_matrix(letters):
        s, units = index[0] + 1, [index[1] + 1]
        sample = f"({s})" if batch > 1 else ""
    sub = ",".join(str(u) for u in units) if any(u > 9 for u in units) else "".join(map(str, units))
    text = uni + (layer + sample).translate(_SUP) if layer or sample else uni
    text += sub.translate(_SUB)
    latex = f"{tex}^{{{layer}{sample}}}_{{{sub}}}" if layer or sample else f"{tex}_{{{sub}}}"
    if grad:
        text, latex = f"∂L/∂{text}", rf"\frac{{\partial L}}{{\partial {latex}}}"
    return sp.Symbol(text, real=True), latex


def _is_batch_matrix(letters: str) -> bool:
    # X, Y and every intermediate are (B, n): one row per sample. Parameters are not.
    return letters not in ("W", "b", "gamma", "beta")


def explicit(network, batch: int = 1) -> Explicit:
    """Per-weight scalar formulas for `network` (a Network, spec string or TOML path) with
    `batch` samples (see the module doc)."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise SpecError(f"batch must be a positive integer, got {batch!r}")
    d = derive(network)
    network = d.network
    ops = {type(n).__name__ for eq in d.equations for n in sp.preorder_traversal(eq.rhs)
           if isinstance(n, Op)}
    if ops:  # convolution, pooling, …: their entries are sums over windows, not written out
        raise SpecError(f"explicit mode writes dense and element-wise layers entry by entry; "
                        f"this network has {', '.join(sorted(ops))}: use `symnet derive` (or "
                        "sn.derive) for its equations")

    def shape_of(M):
        return tuple(int(sp.sympify(n).xreplace({B: batch})) for n in M.shape)

    size = sum(r * c for r, c in (shape_of(eq.lhs) for eq in (*d.forward, *d.backward)))
    if size > MAX_SCALARS:
        raise SpecError(
            f"explicit mode would write {size} scalar formulas (limit {MAX_SCALARS}); "
            "use `symnet derive` for the matrix form, or a smaller network or batch"
        )
    latex_names: dict[sp.Symbol, str] = {}

    def vector_or_matrix(M, rows, cols):
        # Per-feature statistics (BatchNorm's μ, σ: one per column, shape (n, 1)) are vectors
        # indexed by feature; everything else with B rows has one row per sample.
        return (rows,) if cols == 1 and M.shape[0] != B else (rows, cols)

    def symbols(name, rows, cols, numpy_shape):
        entries = []
        for i in range(rows):
            for j in range(cols):
                index = (i,) if len(numpy_shape) == 1 else (i, j)
                sym, tex = _entry_symbol(name, index, numpy_shape, batch)
                latex_names[sym] = tex
                entries.append(sym)
        return sp.ImmutableMatrix(rows, cols, entries)

    env = {
        d.X: symbols("X", batch, network.n_in, (batch, network.n_in)),
        d.Y: symbols("Y", batch, network.n_out, (batch, network.n_out)),
    }
    for name, M in d.params.items():
        env[M] = symbols(name, *shape_of(M), network.parameters[name])

    equations: list[ScalarEquation] = []
    for eq in d.forward:
        rows, cols = shape_of(eq.lhs)
        value = interpret(eq.rhs, env, batch)
        env[eq.lhs] = symbols(eq.name, rows, cols, vector_or_matrix(eq.lhs, rows, cols))
        equations += [ScalarEquation(s, v, "forward") for s, v in zip(env[eq.lhs], value)]
    L = sp.Symbol("L")
    equations.append(ScalarEquation(L, interpret(d.loss.rhs, env, batch), "loss"))
    env[d.loss.lhs] = L
    counter = iter(range(1, 10**6))
    for eq in d.backward:
        rows, cols = shape_of(eq.lhs)
        value = interpret(eq.rhs, env, batch).applyfunc(sp.piecewise_fold)
        param = eq.name[1:] if eq.kind == "gradient" else None
        numpy_shape = network.parameters[param] if param else vector_or_matrix(eq.lhs, rows, cols)
        env[eq.lhs] = symbols(eq.name, rows, cols, numpy_shape)
        shared, value = _share(list(value), counter, latex_names)
        equations += shared
        kind = "gradient" if param else "backward"
        equations += [ScalarEquation(s, v, kind) for s, v in zip(env[eq.lhs], value)]
    return Explicit(network, batch, equations, latex_names)


def _share(values, counter, latex_names):
    """Name the sub-expressions that the entries of one matrix equation repeat (u₁, u₂, …),
    e.g. the exponentials a softmax row shares. Entries never refer to each other, so the
    shared names can go right before them."""
    names = (sp.Symbol(f"u{str(i).translate(_SUB)}", real=True) for i in counter)
    replacements, reduced = sp.cse(values, symbols=names)
    shared = []
    for sym, value in replacements:
        latex_names[sym] = f"u_{{{sym.name[1:].translate(_UNSUB)}}}"
        shared.append(ScalarEquation(sym, value, "shared"))
    return shared, reduced

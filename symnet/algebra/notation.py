"""Notation: how symnet's matrix expressions print, in Unicode and in LaTeX.

Both printers extend SymPy's by `_print_<ClassName>` methods and recurse with `self._print`,
so a new node needs one method here and nothing else changes. Names follow one rule: the
gradient of a pre-activation Zk prints as δk, of a parameter W as ∂L/∂W, of anything else V
as ∂L/∂V; the symbol itself (dZ1, dW1) is the variable name in generated code.
"""

from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
# Spelled-out Greek names (gamma1, mu2, a learned beta) print as letters. Not delta: δ means ∂L/∂Z.
GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "mu": "μ", "sigma": "σ", "theta": "θ",
         "tau": "τ", "kappa": "κ", "epsilon": "ε"}
# Element-wise functions printed as infix operators: N = C ⊘ 𝟙σᵀ rather than ⊘(C, 𝟙σᵀ).
INFIX = {"divide": ("⊘", r"\oslash")}


def _greek(name: str) -> str:
    m = re.fullmatch(r"([A-Za-z]+?)(\d*)", name)
    return GREEK.get(m.group(1), m.group(1)) + m.group(2) if m else name


def display_name(name: str) -> str:
    """dZ2 → δ2, dW2 → ∂L/∂W2, W2 → W2, dgamma1 → ∂L/∂γ1."""
    if name.startswith("dZ"):
        return "δ" + name[2:]
    if name.startswith("d") and len(name) > 1:
        return "∂L/∂" + _greek(name[1:])
    return _greek(name)


# 𝟙 is a column of ones; a row is 𝟙ᵀ, and a full matrix of ones 𝟙𝟙ᵀ.
_ONES = {"column": ("𝟙", r"\mathbb{1}"), "row": ("𝟙ᵀ", r"\mathbb{1}^{\top}"),
         "full": ("𝟙𝟙ᵀ", r"\mathbb{1}\mathbb{1}^{\top}")}


def _ones_kind(e) -> str:
    rows, cols = e.shape
    if cols == 1:
        return "column"
    return "row" if rows == 1 else "full"


def _is_infix(e) -> bool:
    return isinstance(e, sp.MatrixExpr) and getattr(getattr(e, "fn", None), "name", "") in INFIX


def broadcast_scalar(M):
    """θ when M is 𝟙θ𝟙ᵀ, a (1, 1) matrix spread over a whole matrix (a learned scalar); else
    None. Printouts show the scalar alone: swish(Z1, β1)."""
    if isinstance(M, sp.MatMul) and len(M.args) == 3:
        left, mid, right = M.args
        if (isinstance(left, sp.OneMatrix) and isinstance(right, sp.OneMatrix)
                and isinstance(mid, sp.MatrixSymbol) and mid.shape == (1, 1)):
            return mid
    return None


class _MatrixSums:
    """MatMul and MatAdd as both printers write them: terms in the order written, and without
    negating terms (SymPy's printers negate a term by rebuilding it, which merges 𝟙 𝟙ᵀ and
    reorders); a printer supplies `minus` (how a negated term starts), `_paren` and `_scaled`."""

    minus = "−"

    def _print_MatMul(self, e):
        coeff, mats = e.as_coeff_mmul()
        # (C ⊙ C) 𝟙, not C ⊙ C 𝟙; but −N ⊙ M needs no parentheses.
        alone = len(mats.args) == 1 and coeff in (1, -1)
        parts = [self._paren(self._print(a)) if isinstance(a, sp.MatAdd) or (
                 not alone and (isinstance(a, sp.HadamardProduct) or _is_infix(a)))
                 else self._print(a) for a in mats.args]
        body = " ".join(parts)
        if coeff == 1:
            return body
        if coeff == -1:
            return self.minus + body
        return self._scaled(coeff, body)

    def _print_MatAdd(self, e):
        out, sign = "", self.minus.strip()
        for i, term in enumerate(e.args):
            text = self._print(term)
            if text.startswith(self.minus):
                out += (f" {sign} " if i else self.minus) + text[len(self.minus):]
            else:
                out += (" + " if i else "") + text
        return out


class UnicodePrinter(_MatrixSums, StrPrinter):
    def _print_MatrixSymbol(self, e):
        return display_name(e.name)

    def _print_Symbol(self, e):
        return GREEK.get(e.name, e.name)

    def _needs_parens(self, arg, inside_hadamard=False):
        kinds = (sp.MatAdd,) + ((sp.MatMul,) if inside_hadamard else ())
        return isinstance(arg, kinds) or (
            isinstance(arg, sp.MatMul) and not arg.args[0].is_Matrix and inside_hadamard
        )

    def _paren(self, text):
        return f"({text})"

    def _scaled(self, coeff, body):
        c = self._print(coeff)
        return f"{c}·{body}" if coeff.is_Integer or coeff.is_Symbol else f"({c})·{body}"

    def _print_HadamardProduct(self, e):
        return " ⊙ ".join(
            f"({self._print(a)})" if self._needs_parens(a, True) else self._print(a)
            for a in e.args
        )

    def _print_Transpose(self, e):
        inner = self._print(e.arg)
        bare = isinstance(e.arg, sp.MatrixSymbol) and not inner.startswith("∂")  # (∂L/∂H)ᵀ
        return (inner if bare else f"({inner})") + "ᵀ"

    def _print_OneMatrix(self, e):
        return _ONES[_ones_kind(e)][0]

    def _print_Elementwise(self, e):
        if e.fn.name in INFIX:
            return f" {INFIX[e.fn.name][0]} ".join(
                f"({self._print(a)})" if self._needs_parens(a, True) else self._print(a)
                for a in e.operands
            )
        shown = ", ".join(self._print(broadcast_scalar(op) or op)
                          for op in e.operands[: e.fn.shown])
        return f"{e.fn.label}({shown})"

    def _print_SumEntries(self, e):
        inner = self._print(e.arg)
        return f"Σ {inner}" if isinstance(e.arg, sp.MatrixSymbol | sp.MatrixExpr) and not (
            isinstance(e.arg, sp.HadamardProduct)) else f"Σ({inner})"

    def _print_Piecewise(self, e):
        cases = [f"{self._print(v)} if {self._print(c)}" for v, c in e.args[:-1]]
        return "{" + "; ".join(cases + [f"{self._print(e.args[-1][0])} otherwise"]) + "}"

    def _print_Softmax(self, e):
        return f"softmax({self._print(e.arg)})"

    def _print_LogSumExp(self, e):
        return f"LSE({self._print(e.arg)})"

    def _print_sigmoid(self, e):
        return f"σ({self._print(e.args[0])})"

    def _print_Mul(self, e):
        return super()._print_Mul(e).replace("*", "·")

    def _print_Pow(self, e, rational=False):
        if e.exp.is_Integer and e.exp > 1:
            return self.parenthesize(e.base, PRECEDENCE["Pow"]) + str(e.exp).translate(_SUPERSCRIPT)
        return super()._print_Pow(e, rational).replace("**", "^")


_LATEX_LABEL = {"σ": r"\sigma", "ℓ": r"\ell", "∂": r"\partial ", "′": "'", "Σ": r"\Sigma",
                "√": r"\surd ", **{v: "\\" + k + " " for k, v in GREEK.items() if k != "sigma"}}


def latex_label(label: str) -> str:
    """σ′ → \\sigma', relu′ → \\operatorname{relu}', ℓ_mse → \\ell_{\\text{mse}},
    ∂swish/∂β → \\partial \\operatorname{swish}/\\partial \\beta."""
    out = "".join(_LATEX_LABEL.get(ch, ch) for ch in label)
    out = re.sub(r"_(\w+)", r"_{\\text{\1}}", out)
    # Words (not commands such as \partial, nor \text{…} contents) are operator names.
    return re.sub(r"(?<![\\{A-Za-z])([a-z]{2,})", r"\\operatorname{\1}", out).rstrip()


def _latex_name(name: str) -> str:
    m = re.fullmatch(r"([A-Za-z]+?)(\d+)", name)
    base, sub = (m.group(1), m.group(2)) if m else (name, "")
    base = "\\" + base if base in GREEK else base
    return f"{base}_{{{sub}}}" if sub else base


class SymnetLatexPrinter(_MatrixSums, LatexPrinter):
    minus = "- "

    def _print_MatrixSymbol(self, e):
        name = e.name
        if name.startswith("dZ"):
            return rf"\delta_{{{name[2:]}}}"
        if name.startswith("d") and len(name) > 1:
            return rf"\frac{{\partial L}}{{\partial {_latex_name(name[1:])}}}"
        return _latex_name(name)

    def _print_OneMatrix(self, e):
        return _ONES[_ones_kind(e)][1]

    def _paren(self, text):
        return rf"\left({text}\right)"

    def _scaled(self, coeff, body):
        c = self._print(coeff) if coeff.is_Rational else self.parenthesize(coeff, PRECEDENCE["Mul"])
        return f"{c} {body}"

    def _print_HadamardProduct(self, e):
        return r" \odot ".join(
            rf"\left({self._print(a)}\right)" if isinstance(a, sp.MatMul | sp.MatAdd)
            else self._print(a)
            for a in e.args
        )

    def _print_Transpose(self, e):
        if isinstance(e.arg, sp.MatrixSymbol) and display_name(e.arg.name).startswith("∂"):
            return rf"\left({self._print(e.arg)}\right)^{{\top}}"  # (∂L/∂H)ᵀ, not ∂L/∂Hᵀ
        return self.parenthesize(e.arg, PRECEDENCE["Pow"], strict=True) + r"^{\top}"

    def _print_Elementwise(self, e):
        if e.fn.name in INFIX:
            return f" {INFIX[e.fn.name][1]} ".join(
                rf"\left({self._print(a)}\right)" if isinstance(a, sp.MatMul | sp.MatAdd)
                else self._print(a)
                for a in e.operands
            )
        shown = ", ".join(self._print(broadcast_scalar(op) or op)
                          for op in e.operands[: e.fn.shown])
        return rf"{latex_label(e.fn.label)}\left({shown}\right)"

    def _print_SumEntries(self, e):
        return rf"\sum {self.parenthesize(e.arg, PRECEDENCE['Mul'], strict=True)}"

    def _print_Softmax(self, e):
        return rf"\operatorname{{softmax}}\left({self._print(e.arg)}\right)"

    def _print_LogSumExp(self, e):
        return rf"\operatorname{{LSE}}\left({self._print(e.arg)}\right)"

    def _print_sigmoid(self, e, exp=None):
        return rf"\sigma\left({self._print(e.args[0])}\right)"

    def _print_softplus(self, e, exp=None):
        return rf"\operatorname{{softplus}}\left({self._print(e.args[0])}\right)"


def unicode_expr(expr) -> str:
    return UnicodePrinter().doprint(expr)


def latex_expr(expr) -> str:
    return SymnetLatexPrinter().doprint(expr)


__all__ = ["GREEK", "display_name", "latex_expr", "unicode_expr"]

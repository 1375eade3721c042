"""A derivation as text: one equation a line in Unicode, an `aligned` LaTeX block, and a
step-by-step Markdown derivation that says which chain-rule step produced each equation."""

from __future__ import annotations

from ..algebra.functions import NAMED, x
from ..algebra.notation import INFIX, latex_expr, latex_label, unicode_expr
from ..nn.spec import describe


def legend(derivation) -> list[tuple[str, str]]:
    """(label, definition) for each scalar function the equations use, in Unicode."""
    rows = []
    for fn in derivation.functions():
        if fn.name in INFIX:
            continue  # an operator, explained in the closing line
        body = fn.body
        for named in NAMED:  # σ(x) is defined by its formula, not by itself
            if body == named(x):
                body = named.definition(x)
        args = ", ".join(unicode_expr(v) for v in fn.variables)
        text = unicode_expr(body)
        if fn.shown < len(fn.variables):  # the last variable, y, is the layer's output
            args = ", ".join(unicode_expr(v) for v in fn.variables[: fn.shown])
            own = fn.label.rstrip("′").split("/∂")[0].lstrip("∂")
            text += f", with y = {own}({args}) the layer's output"
        rows.append((f"{fn.label}({args})", text))
    return rows


def unicode(derivation) -> str:
    lines = [f"Forward ({_describe(derivation)}):"]
    lines += [f"  {unicode_expr(eq.lhs)} = {unicode_expr(eq.rhs)}" for eq in derivation.forward]
    lines.append(f"  L = {unicode_expr(derivation.loss.rhs)}")
    lines.append("Backward (chain rule, in the order computed):")
    lines += [f"  {unicode_expr(eq.lhs)} = {unicode_expr(eq.rhs)}" for eq in derivation.backward]
    lines.append("where")
    lines += [f"  {label} = {text}" for label, text in legend(derivation)]
    lines.append("  𝟙 is a column of ones, ⊙ the entry-by-entry product, B the batch size")
    if any(fn.name in INFIX for fn in derivation.functions()):
        lines.append("  ⊘ divides entry by entry")
    lines += [f"  {line}" for line in _data_notes(derivation)]
    return "\n".join(lines)


def _data_notes(derivation) -> list[str]:
    """What the dropout masks, the index lookups and column slices in the equations mean."""
    notes = [f"{M.name} is dropout's 0/1 mask (data: drawn fresh in training, fixed by check "
             f"and verify), each entry 0 with probability p = {p}"
             for M, p in derivation.tape.masks.items()]
    text = " ".join(unicode_expr(eq.rhs) for eq in derivation.equations)
    if "scatter_add(" in text:
        notes.append("E[X] puts the rows of E named by the indices X side by side; "
                     "scatter_add(X, G) adds each block of G into the row its index names")
    if "[:, " in text:
        notes.append("G[:, a:b] is the columns a … b−1 of G (those a concatenated input "
                     "supplied)")
    return notes


def latex(derivation) -> str:
    rows = [
        rf"{latex_expr(eq.lhs)} &= {latex_expr(eq.rhs)}"
        for eq in (*derivation.forward, derivation.loss, *derivation.backward)
    ]
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


def markdown(derivation) -> str:
    out = [f"# Backpropagation for `{_describe(derivation)}`", ""]
    out += ["## Forward pass", ""]
    for eq in derivation.forward:
        out += [f"$$ {latex_expr(eq.lhs)} = {latex_expr(eq.rhs)} $$", ""]
    out += ["## Loss", "", f"$$ L = {latex_expr(derivation.loss.rhs)} $$", ""]
    out += ["## Backward pass", "", "Each step applies the chain rule to one forward equation, "
            "from the loss back to the first layer.", ""]
    for eq in derivation.backward:
        out.append(f"### {unicode_expr(eq.lhs)}")
        out.append("")
        out += [f"- {why}" for why in eq.why]
        out += ["", f"$$ {latex_expr(eq.lhs)} = {latex_expr(eq.rhs)} $$", ""]
    out += ["## Functions", ""]
    for fn in derivation.functions():
        if fn.name in INFIX:
            continue
        body = next((n.definition(x) for n in NAMED if fn.body == n(x)), fn.body)
        variables = fn.variables[: fn.shown]
        shown_args = ", ".join(latex_expr(v) for v in variables)
        own = fn.label.rstrip("′").split("/∂")[0].lstrip("∂")
        note = "" if variables == fn.variables else (
            rf", \quad y = {latex_label(own)}({shown_args})")
        args = ", ".join(latex_expr(v) for v in variables)
        out += [f"$$ {latex_label(fn.label)}({args}) = {latex_expr(body)}{note} $$", ""]
    out.append(r"$\mathbb{1}$ is a column of ones, $\odot$ the entry-by-entry product, "
               "$B$ the batch size.")
    out += ["", *(f"{n}." for n in _data_notes(derivation))] if _data_notes(derivation) else []
    return "\n".join(out) + "\n"


def _describe(derivation) -> str:
    return describe(derivation.network)


__all__ = ["legend", "latex", "markdown", "unicode"]

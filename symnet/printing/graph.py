"""A picture of a derivation: its computation graph, forward and backward, as Graphviz DOT.

    from symnet.printing.graph import dot, render
    text = dot("2-3-1 sigmoid sigmoid mse")     # or a Network or a Derivation
    render(text, "net.png")                     # needs Graphviz's `dot` program

or from the shell: `symnet graph "2-3-1 sigmoid sigmoid mse" -o net.png`.

Nodes are the named quantities of the derivation: the data X and Y (grey boxes), the
parameters (blue boxes), the forward intermediates Z1, A1, … (white), the loss L (orange) and
the backward quantities δ2, ∂L/∂W2, … (red outline; parameter gradients filled), each with
its shape (images of a CNN as B×C×H×W, conv kernels as O×C×kh×kw). Edges:

    solid black     forward: an input of a forward equation → what it defines
    dashed red      backward: the gradient flowing from L through δ2 to δ1 and ∂L/∂W1
    dotted grey     a forward value (or parameter) the backward pass reads: what must be kept

The picture is read left to right for the forward pass and right to left for the backward one:
gradient edges are written against the ranking (`dir=back`), so δ1 sits under Z1 and ∂L/∂W1
in the column of W1. Edges that only read saved values do not constrain the layout.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import sympy as sp

from ..algebra.notation import display_name, unicode_expr
from ..errors import DataError
from ..files import check_output, write_output

FORMATS = ("png", "svg", "pdf")  # rendered by `dot -T…`; .dot and .gv are written as text

_STYLE = {  # node kind → DOT attributes
    "data": 'shape=box, style=filled, fillcolor="#e0e0e0"',
    "param": 'shape=box, style="rounded,filled", fillcolor="#cfe2f3"',
    "forward": "shape=ellipse",
    "loss": 'shape=doublecircle, style=filled, fillcolor="#fce5cd"',
    "backward": 'shape=ellipse, color="#cc0000", fontcolor="#990000"',
    "gradient": 'shape=box, style="rounded,filled", color="#cc0000", fillcolor="#f4cccc"',
}
_FORWARD = "color=black"
_BACKWARD = 'style=dashed, color="#cc0000", penwidth=1.4'
_READS = 'style=dotted, color="#999999", arrowsize=0.6, constraint=false'


def dot(net, *, equations: bool = False, reads: bool = True) -> str:
    """Graphviz DOT text of `net`'s computation graph (a Network, Derivation or spec string).

    equations: label each computed node with its equation, not just its name and shape.
    reads: draw the dotted edges from saved forward values into the backward pass."""
    from ..derivation.chain import derivation_of
    from ..nn.spec import describe

    d = derivation_of(net)
    shapes = {**_image_shapes(d), **d.tape.shapes}  # NumPy shapes: (3,) rather than 3×1
    gradients = {eq.lhs for eq in d.backward}
    legend = "forward (solid), backward (dashed)" + (
        ", values the backward pass reads (dotted)" if reads else "")
    lines = [
        "digraph symnet {",
        f"  label={_quote(f'{describe(d.network)}: {legend}')};",
        '  labelloc=t; fontname="DejaVu Sans"; rankdir=LR; newrank=true; nodesep=0.25;',
        '  node [fontname="DejaVu Sans", fontsize=11, height=0.3];',
        '  edge [fontname="DejaVu Sans", fontsize=9, arrowsize=0.7];',
    ]

    def node(symbol, kind, eq=None):
        name = str(symbol.name)
        label = display_name(name)
        if equations and eq is not None:
            label = f"{unicode_expr(eq.lhs)} = {unicode_expr(eq.rhs)}"
        if name != "L":  # a gradient has its parameter's shape
            label += "\n" + _shape(name[1:] if kind == "gradient" else name, symbol, shapes)
        tooltip = f"{unicode_expr(eq.lhs)} = {unicode_expr(eq.rhs)}" if eq is not None else label
        style = _STYLE[kind]
        if kind == "loss" and equations:  # the loss formula is too wide for a circle
            style = style.replace("doublecircle", "box, peripheries=2")
        lines.append(f"  {_quote(name)} [label={_quote(label)}, tooltip={_quote(tooltip)}, "
                     f"{style}];")

    lines.append("  // data and parameters")
    node(d.X, "data")
    node(d.Y, "data")
    for p in d.tape.params.values():
        node(p, "param")
    lines.append("  // forward pass")
    for eq in d.forward:
        node(eq.lhs, "forward", eq)
    node(d.loss.lhs, "loss", d.loss)
    lines.append("  // backward pass")
    for eq in d.backward:
        node(eq.lhs, "gradient" if eq.kind == "gradient" else "backward", eq)

    lines.append("  // forward edges: input → output")
    for step in d.tape.steps:
        for inp in dict.fromkeys([*step.inputs, *_symbols(step.value)]):  # L reads Y too
            lines.append(f"  {_quote(inp.name)} -> {_quote(step.output.name)} [{_FORWARD}];")

    lines.append("  // backward edges: written head → tail with dir=back, so the backward")
    lines.append("  // pass runs right to left under the forward one")
    for eq in d.backward:
        used = _symbols(eq.rhs)
        upstream = [s for s in used if s in gradients]
        for s in upstream or [d.loss.lhs]:  # the first δ comes straight from L: ∂L/∂L = 1
            lines.append(f"  {_quote(eq.name)} -> {_quote(s.name)} [dir=back, {_BACKWARD}];")
        if reads:
            for s in used:
                if s not in gradients:
                    lines.append(f"  {_quote(s.name)} -> {_quote(eq.name)} [{_READS}];")

    lines.append("  // each parameter in one column with its gradient")
    for name in d.tape.params:
        grad = f"d{name}"
        if any(eq.name == grad for eq in d.backward):
            lines.append(f"  {{rank=same; {_quote(name)}; {_quote(grad)};}}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(text: str, path, *, force: bool = True) -> Path:
    """Render DOT `text` to `path` (.png, .svg or .pdf) with Graphviz's `dot` program."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise DataError(f"cannot render {path.name}: give a .png, .svg or .pdf file name "
                        "(or .dot for the DOT text)")
    check_output(path, force=force)
    exe = shutil.which("dot")
    if exe is None:
        raise DataError(f"rendering {path.name} needs Graphviz's `dot` program, which is not "
                        "installed (apt-get install graphviz, brew install graphviz, or conda "
                        "install graphviz); or write the DOT text with -o FILE.dot and render "
                        "it elsewhere")
    done = subprocess.run([exe, f"-T{fmt}"], input=text.encode(), capture_output=True,
                          check=False)
    if done.returncode != 0:
        raise DataError(f"dot failed to render {path}: {done.stderr.decode(errors='replace')}")
    path = write_output(path, done.stdout, force=force)  # atomic: a temporary file, renamed
    return path


def _symbols(expr) -> list:
    """The MatrixSymbols `expr` reads, in a stable order (first appearance, depth first)."""
    seen: dict[sp.Basic, None] = {}
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.MatrixSymbol):
            seen.setdefault(node)
    return list(seen)


def _image_shapes(d) -> dict[str, tuple]:
    """{name: ("B", C, H, W)} for the image-valued quantities of a CNN (and their gradients,
    d + name): those the tape records as images, and forward values computed from one with
    the same width (C1 = Z1 − μ1[c] is an image too)."""
    produced = {**d.tape.flattened, **d.tape.sample_shapes}  # as each layer produced it
    images = {str(s.name): shape for s, shape in produced.items()}
    for eq in d.forward:
        if str(eq.lhs.name) not in images:
            for s in _symbols(eq.rhs):
                shape = images.get(str(s.name))
                if shape and s.shape[1] == eq.lhs.shape[1] and len(shape) == 3:
                    images[str(eq.lhs.name)] = shape
                    break
    out = {}
    for name, shape in images.items():
        if len(shape) > 1:
            out[name] = out[f"d{name}"] = ("B", *shape)
    return out


def _shape(name, symbol, shapes) -> str:
    """A parameter's (or its gradient's) NumPy shape, 2×3 or (3,); B×3 for the others, and
    B×C×H×W for images."""
    if name in shapes:
        shape = shapes[name]
        return "×".join(map(str, shape)) if len(shape) > 1 else f"({shape[0]},)"
    rows, cols = symbol.shape
    return f"{rows}×{cols}"


def _quote(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, newlines as \\n."""
    text = re.sub(r'(["\\])', r"\\\1", text)
    return '"' + text.replace("\n", "\\n") + '"'

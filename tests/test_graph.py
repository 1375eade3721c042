"""symnet.printing.graph: the DOT text of a derivation's computation graph, and `symnet graph`.

The DOT text is parsed back here (nodes, edges and their attributes) so that the tests state
what the picture shows: every quantity is a node, forward edges are solid, backward edges dashed
and red and reach every gradient from L. Nothing here needs Graphviz's `dot` program, except the
one rendering test, which is skipped without it.
"""

import re
import shutil

import pytest

import symnet as sn
from symnet.cli import main
from symnet.errors import DataError
from symnet.printing import graph

SPEC = "2-3-1 sigmoid sigmoid mse"
_NODE = re.compile(r'^  "(\w+)" \[(.*)\];$')
_EDGE = re.compile(r'^  "(\w+)" -> "(\w+)" \[(.*)\];$')


def parse(text):
    """({node: attributes}, [(tail, head, attributes)]) with edges in drawn direction:
    an edge written with dir=back is turned around, as Graphviz draws it."""
    nodes, edges = {}, []
    for line in text.splitlines():
        if m := _EDGE.match(line):
            tail, head, attrs = m.groups()
            edges.append((head, tail, attrs) if "dir=back" in attrs else (tail, head, attrs))
        elif m := _NODE.match(line):
            nodes[m.group(1)] = m.group(2)
    return nodes, edges


def label(attrs):
    return re.search(r'label="((?:[^"\\]|\\.)*)"', attrs).group(1)


def test_every_quantity_is_a_node_with_its_shape():
    d = sn.derive(sn.parse(SPEC))
    nodes, _ = parse(graph.dot(d))
    assert set(nodes) == {"X", "Y", *d.params, *(eq.name for eq in d.equations)}
    assert label(nodes["Z1"]) == r"Z1\nB×3"
    assert label(nodes["dZ1"]) == r"δ1\nB×3"
    assert label(nodes["b1"]) == label(nodes["db1"]).replace("∂L/∂", "") == r"b1\n(3,)"
    assert label(nodes["dW2"]) == r"∂L/∂W2\n3×1"


def test_cnn_graph_shows_images_and_reaches_every_gradient():
    net = sn.Network([sn.Conv2d(1, 2, 3, padding=1), sn.BatchNorm2d(2), sn.ReLU(),
                      sn.MaxPool2d(2), sn.Flatten(), sn.Dense(8, 3)],
                     loss=sn.SoftmaxCrossEntropy(), input_shape=(1, 4, 4))
    d = sn.derive(net)
    nodes, edges = parse(graph.dot(d, equations=True))
    assert set(nodes) == {"X", "Y", *d.params, *(eq.name for eq in d.equations)}
    assert label(nodes["X"]) == r"X\nB×1×4×4" and label(nodes["W1"]) == r"W1\n2×1×3×3"
    assert label(nodes["Z1"]).endswith(r"\nB×2×4×4") and "⋆" in label(nodes["Z1"])
    assert label(nodes["N1"]).endswith(r"\nB×2×4×4") and label(nodes["P1"]).endswith("×2×2×2")
    assert label(nodes["dgamma1"]).endswith(r"\n(2,)") and "route₂" in label(nodes["dH1"])
    backward = [(a, b) for a, b, attrs in edges if "dashed" in attrs]
    reached, frontier = {"L"}, ["L"]
    while frontier:
        here = frontier.pop()
        for a, b in backward:
            if a == here and b not in reached:
                reached.add(b)
                frontier.append(b)
    assert reached == {"L", *(eq.name for eq in d.backward)}


def test_forward_edges_are_solid_and_follow_the_equations():
    _, edges = parse(graph.dot(SPEC))
    forward = {(a, b) for a, b, attrs in edges if attrs == "color=black"}
    assert forward == {("X", "Z1"), ("W1", "Z1"), ("b1", "Z1"), ("Z1", "A1"), ("A1", "Z2"),
                       ("W2", "Z2"), ("b2", "Z2"), ("Z2", "A2"), ("A2", "L"), ("Y", "L")}


def test_backward_edges_are_dashed_red_and_reach_every_gradient_from_L():
    d = sn.derive(sn.parse("4-5-5-3 relu softmax_ce"))
    _, edges = parse(graph.dot(d))
    backward = [(a, b) for a, b, attrs in edges if "dashed" in attrs]
    assert all('color="#cc0000"' in attrs for _, _, attrs in edges if "dashed" in attrs)
    assert ("L", "dZ3") in backward and ("dZ3", "dZ2") in backward and ("dZ2", "dW2") in backward
    reached, frontier = {"L"}, ["L"]
    while frontier:
        here = frontier.pop()
        for a, b in backward:
            if a == here and b not in reached:
                reached.add(b)
                frontier.append(b)
    assert reached == {"L", *(eq.name for eq in d.backward)}


def test_reads_are_dotted_and_do_not_constrain_the_layout():
    _, edges = parse(graph.dot(SPEC))
    reads = {(a, b) for a, b, attrs in edges if "dotted" in attrs}
    # ∂L/∂W2 = A1ᵀ δ2 keeps A1; δ1 = (δ2 W2ᵀ) ⊙ σ′(Z1) reads W2
    assert {("A1", "dW2"), ("W2", "dZ1"), ("X", "dW1")} <= reads
    assert all("constraint=false" in attrs for _, _, attrs in edges if "dotted" in attrs)
    _, edges = parse(graph.dot(SPEC, reads=False))
    assert not any("dotted" in attrs for _, _, attrs in edges)


def test_drawn_graph_is_acyclic():
    _, edges = parse(graph.dot("3-4-4-2 tanh sigmoid bce"))
    succ = {}
    for a, b, _ in edges:
        succ.setdefault(a, set()).add(b)
    state = {}

    def visit(n):  # depth-first; a node met again while on the stack closes a cycle
        state[n] = "open"
        for m in succ.get(n, ()):
            assert state.get(m) != "open", f"cycle through {n} → {m}"
            if m not in state:
                visit(m)
        state[n] = "done"

    for n in list(succ):
        if n not in state:
            visit(n)


def test_each_parameter_shares_a_column_with_its_gradient():
    text = graph.dot(SPEC)
    for name in ("W1", "b1", "W2", "b2"):
        assert f'{{rank=same; "{name}"; "d{name}";}}' in text


def test_equation_labels_and_quoting():
    nodes, _ = parse(graph.dot(SPEC, equations=True))
    assert label(nodes["dW1"]) == r"∂L/∂W1 = Xᵀ δ1\n2×3"
    assert "peripheries=2" in nodes["L"]  # a wide loss label gets a box, not a circle
    assert graph._quote('a "b" \\ c\nd') == r'"a \"b\" \\ c\nd"'


def test_render_refuses_unknown_formats_and_a_missing_dot(tmp_path, monkeypatch):
    with pytest.raises(DataError, match=r"\.png, \.svg or \.pdf"):
        graph.render(graph.dot(SPEC), tmp_path / "net.jpg")
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    with pytest.raises(DataError, match="Graphviz"):
        graph.render(graph.dot(SPEC), tmp_path / "net.png")


def test_cli_prints_writes_and_explains(tmp_path, monkeypatch, capsys):
    assert main(["graph", SPEC]) == 0
    assert capsys.readouterr().out.startswith("digraph symnet {")
    out = tmp_path / "net.dot"
    assert main(["graph", SPEC, "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == graph.dot(SPEC)
    assert main(["graph", SPEC, "-o", str(out)]) == 2  # exists: needs --force
    assert "--force" in capsys.readouterr().err
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    assert main(["graph", SPEC, "-o", str(tmp_path / "net.png")]) == 2
    assert "needs Graphviz's `dot` program" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_renders_svg_with_dot(tmp_path):
    path = graph.render(graph.dot(SPEC), tmp_path / "net.svg")
    svg = path.read_text(encoding="utf-8")
    assert "<svg" in svg and "∂L/∂W1" in svg

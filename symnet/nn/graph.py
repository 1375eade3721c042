"""Networks beyond a stack: the functional API (Keras style) for skip connections and branches.

    x = sn.Input(4)
    h1 = sn.ReLU()(sn.Dense(4, 8)(x))
    h2 = sn.ReLU()(sn.Dense(8, 8)(h1))
    out = sn.Dense(8, 3)(sn.Add()(h1, h2))            # a residual connection
    net = sn.Network(inputs=x, outputs=out, loss=sn.SoftmaxCrossEntropy())

Calling a layer on tensors gives a new tensor; nothing is computed until the network records
its tape. Layers with weights are numbered in the order they are called (W1, b1, W2, …: the
order of the forward pass); a layer without weights takes the number of the tensor it is
applied to (A1 = relu(Z1)), and a merge the highest number of its branches. A merge's output
is named by its own count: `S1 = A1 + A2` (Add), `Cat1 = [A1  A2]` (Concat).

The tape is then a DAG: A1 above is read by Z2 and by S1, so the chain rule sums ∂L/∂A1 over
both paths (`derivation.chain` counts each symbol's uses); nothing else in symnet changes.
"""

from __future__ import annotations

import itertools
import math

from ..algebra import merge
from ..algebra.tape import Tape
from ..errors import ShapeError, SpecError
from .layer import Layer
from .layers import Identity
from .losses import Loss
from .network import Network
from .tensor import Input, Tensor, apply

# ── merges ─────────────────────────────────────────────────────────────────────────────────


class _Merge(Layer):
    merges = True
    letter = "?"

    def __repr__(self):
        return f"{type(self).__name__}()"

    def __eq__(self, other):
        return type(other) is type(self)

    def __hash__(self):
        return hash(type(self).__name__)

    def record(self, tape, A, k: int):
        raise SpecError(f"{self!r} merges tensors: use it in the functional API, "
                        f"{self!r}(a, b), and make the network with Network(inputs=…, "
                        "outputs=…)")


class Add(_Merge):
    """The sum of same-shaped tensors: a residual (skip) connection, `Add()(x, f(x))`."""

    letter = "S"

    def merged_shape(self, shapes):
        if any(s != shapes[0] for s in shapes):
            raise ShapeError(f"Add() sums tensors of one shape, got shapes "
                             f"{', '.join(str(s) for s in shapes)}")
        return shapes[0]

    def record_merge(self, tape, As, k: int, j: int):
        names = " + ".join(str(A.name) for A in As)
        why = (f"S{j} = {names} is a sum: each summand receives ∂L/∂S{j} unchanged, so the "
               f"gradient flows back along every branch (the skip path included).")
        return tape.record(f"S{j}", merge.add(*As), As,
                           lambda G, out: merge.add_vjp(G, len(As)), why=why, layer=k)


class Concat(_Merge):
    """Tensors side by side, their features (or an image's channels) concatenated."""

    letter = "Cat"

    def merged_shape(self, shapes):
        if all(len(s) == 1 for s in shapes):
            return (sum(s[0] for s in shapes),)
        if all(len(s) == len(shapes[0]) and s[1:] == shapes[0][1:] for s in shapes):
            return (sum(s[0] for s in shapes), *shapes[0][1:])  # channels: C·H·W blocks
        raise ShapeError(f"Concat() joins vectors, or images of one height and width, got "
                         f"shapes {', '.join(str(s) for s in shapes)}")

    def record_merge(self, tape, As, k: int, j: int):
        widths = [int(A.shape[1]) for A in As]
        parts = ", ".join(f"{A.name} to columns {o}:{o + w}" for A, w, o in
                          zip(As, widths, itertools.accumulate([0, *widths])))
        why = (f"Cat{j} puts its inputs side by side ({parts}): each input receives the "
               f"columns of ∂L/∂Cat{j} it supplied.")
        return tape.record(f"Cat{j}", merge.concat(*As), As,
                           lambda G, out: merge.concat_vjp(G, widths), why=why, layer=k)


# ── the network ────────────────────────────────────────────────────────────────────────────


def _tensor(value, what):
    if isinstance(value, list | tuple):
        if len(value) != 1:
            raise SpecError(f"{what}: symnet networks have one input and one output (a loss "
                            f"takes one output), got {len(value)} tensors")
        value = value[0]
    if not isinstance(value, Tensor):
        raise SpecError(f"{what} must be a tensor of the functional API, got {value!r}")
    return value


def _has_weights(layer) -> bool:
    # Dense, Embedding, …; a normalization's γ and β; a custom activation's learned scalars
    return layer.numbered or hasattr(layer, "eps") or bool(getattr(layer, "params", None))


class GraphNetwork(Network):
    """A network made by the functional API; see the module docstring. It is a `Network`:
    `layers` lists its layers in forward order (a merge among them), `numbers` each one's k."""

    def __init__(self, layers=None, loss=None, input_shape=None, *, inputs=None, outputs=None):
        if layers is not None or input_shape is not None:
            raise SpecError("give a network either a list of layers or inputs= and outputs=, "
                            "not both")
        x, out = _tensor(inputs, "inputs"), _tensor(outputs, "outputs")
        if x.layer is not None:
            raise SpecError(f"inputs must be sn.Input(…), got {x!r}")
        if not isinstance(loss, Loss):
            raise SpecError(f"loss must be a symnet loss such as MSE(), got {loss!r}")
        nodes = _ancestors(out, x)
        self.input, self.output, self.loss, self.nodes = x, out, loss, tuple(nodes)
        self.layers = tuple(t.layer for t in nodes)
        self.input_shape = x.shape
        self.n_in, self.n_out = math.prod(x.shape), math.prod(out.shape)
        self._numbers, self._merges = _numbering(nodes, x)
        _check_loss(loss, out)
        try:
            self.record()
        except SpecError as e:
            raise SpecError(f"{e}. In a graph a layer without weights takes the number of the "
                            "tensor it is applied to, and a merge the highest of its branches'")\
                from None

    @property
    def numbers(self) -> tuple[int, ...]:
        return self._numbers

    def record(self) -> Tape:
        tape = Tape.start(self.n_in, self.n_out)
        if len(self.input_shape) != 1:
            tape.sample_shapes[tape.X] = self.input_shape
        values = {id(self.input): tape.X}
        names = []
        for t, k, j in zip(self.nodes, self._numbers, self._merges):
            As = [values[id(i)] for i in t.inputs]
            # a merge (j its count) reads all its inputs; any other layer its one input
            out = t.layer.record_merge(tape, As, k, j) if j else t.layer.record(tape, As[0], k)
            if len(t.shape) != 1:
                tape.sample_shapes[out] = t.shape
            values[id(t)] = out
            names.append((str(out.name), [str(A.name) for A in As]))
        self.loss.record(tape, values[id(self.output)])
        self._names = names
        return tape

    def __repr__(self):
        steps = "; ".join(f"{out} = {t.layer!r}({', '.join(ins)})"
                          for t, (out, ins) in zip(self.nodes, self._names)
                          if out not in ins)  # Identity computes nothing
        shape = ", ".join(map(str, self.input_shape))
        return f"Network(X = Input({shape}); {steps}; loss={self.loss!r})"

    def __eq__(self, other):
        return isinstance(other, GraphNetwork) and repr(self) == repr(other)

    __hash__ = None


Network.graph_class = GraphNetwork  # Network(inputs=…, outputs=…) makes a GraphNetwork


def _ancestors(out: Tensor, x: Tensor) -> list[Tensor]:
    """The tensors `out` is computed from, `x` excluded, in the order they were made."""
    seen, stack = {}, [out]
    while stack:
        t = stack.pop()
        if id(t) in seen or t is x:
            continue
        if t.layer is None:
            raise SpecError(f"the output depends on {t!r}, which is not the network's input: "
                            "a network has one input")
        seen[id(t)] = t
        stack.extend(t.inputs)
    if out is x:
        raise SpecError("the output is the input itself: a network needs at least one layer")
    nodes = sorted(seen.values(), key=lambda t: t.order)
    if not any(x in t.inputs for t in nodes):
        raise SpecError("the output does not depend on the network's input")
    return nodes


def _numbering(nodes, x):
    """Each node's number k, and each merge's own count j (0 for other layers)."""
    k_of, numbers, merges = {id(x): 0}, [], []
    counts: dict[str, int] = {}
    k, used = 0, set()
    for t in nodes:
        layer = t.layer
        if _has_weights(layer):
            if id(layer) in used:
                raise SpecError(f"{layer!r} is called twice: its weights would be shared, "
                                "which symnet does not support; make a second layer")
            used.add(id(layer))
        if getattr(layer, "reads_indices", False) and t.inputs[0] is not x:
            raise SpecError(f"{layer!r} reads integer indices: call it on the network's input")
        if x in t.inputs and not getattr(layer, "reads_indices", False) and any(
                getattr(o.layer, "reads_indices", False) for o in nodes if x in o.inputs):
            raise SpecError(f"the input holds integer indices (it feeds an Embedding), so "
                            f"{layer!r} cannot read it")
        if layer.numbered:
            k += 1
            numbers.append(k)
            merges.append(0)
        elif getattr(layer, "merges", False):
            numbers.append(max(k_of[id(i)] for i in t.inputs))
            counts[layer.letter] = counts.get(layer.letter, 0) + 1
            merges.append(counts[layer.letter])
        else:
            numbers.append(k_of[id(t.inputs[0])])
            merges.append(0)
        k_of[id(t)] = numbers[-1]
    return tuple(numbers), tuple(merges)


def _check_loss(loss, out):
    layer = out.layer
    while isinstance(layer, Identity):
        out = out.inputs[0]
        layer = out.layer
    name = getattr(layer, "name", None)
    if loss.needs_probabilities and name != loss.probabilities_from:
        raise SpecError(f"{loss.name} takes probabilities: end the network with a "
                        f"{loss.probabilities_from}, or use {loss.logits_loss} on a linear output")
    if loss.name == "softmax_ce" and name == "softmax":
        raise SpecError("softmax_ce applies the softmax itself (it takes logits): drop the final "
                        "softmax layer, or use ce for a loss on probabilities")


__all__ = ["Add", "Concat", "GraphNetwork", "Input", "Tensor", "apply"]

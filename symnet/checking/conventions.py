"""Other people's conventions, met by the checker: array layouts and loss forms.

symnet lays a batch out one sample per row (X: (B, n_in)), W as (n_in, n_out) and b as
(n_out,). Much hand-written backprop does otherwise: samples as columns (X: (n_in, B), W:
(n_out, n_in), b: (n_out, 1), as in Nielsen's `network.py` and many courses), or biases as
(1, n). `Layout` finds the user's layout from the shapes (or is told it: `layout="columns"`)
and translates arrays both ways, so that symnet's reference gradients can be compared with the
user's in the user's own layout.

Loss forms differ too (½Σ(a − y)², MSE summed over the outputs, L2 as λ/(2B)‖W‖², …).
`loss_mismatch` says which common convention turns symnet's loss into the user's, so that a
different convention is reported as what it is, never as wrong gradients.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError

LAYOUTS = ("rows", "columns")  # samples as rows (symnet's) or as columns


class Layout:
    """How the user's arrays relate to the network's: per parameter 'same', 'T' (transposed)
    or a reshape of a vector ((1, n) or (n, 1) for (n,)); X and Y as rows or as columns."""

    def __init__(self, ops: dict[str, str], samples: str, user_shapes: dict, names=None):
        """ops and user_shapes keyed by the network's names; `names`: the user's name of each
        network parameter where they differ ({"w1": "W1", …}, user → network)."""
        self.ops, self.samples, self.user_shapes = ops, samples, user_shapes
        self.net_name = dict(names or {})
        self.user_name = {v: k for k, v in self.net_name.items()}

    @property
    def is_symnet(self) -> bool:
        return (self.samples == "rows" and all(op == "same" for op in self.ops.values())
                and all(k == v for k, v in self.net_name.items()))

    @classmethod
    def detect(cls, shapes: dict, params: dict, X, Y, n_in: int, layout: str | None = None):
        """The layout of `params`, X and Y against the network's parameter `shapes`."""
        if layout is not None and layout not in LAYOUTS:
            raise ShapeError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        X = np.asarray(X)
        if layout is None:
            as_rows = X.ndim == 2 and X.shape[1] == n_in
            as_cols = X.ndim == 2 and X.shape[0] == n_in
            layout = "columns" if as_cols and not as_rows else "rows"
            if as_rows and as_cols:  # B = n_in: the weights decide, where they are not square
                layout = "columns" if any(
                    len(s) == 2 and s[0] != s[1] and np.shape(params.get(k)) == s[::-1]
                    for k, s in shapes.items()) else "rows"
        ops = {}
        for name, shape in shapes.items():
            got = tuple(np.shape(params[name])) if name in params else shape
            ops[name] = _op(name, got, shape, layout)
        user = {name: tuple(np.shape(params[name])) for name in shapes if name in params}
        return cls(ops, layout, user)

    # parameters and gradients (arrays keyed by the user's names ↔ by the network's)
    def to_network(self, name, a):
        """The user's array `name` (a network name) in the network's layout."""
        a = np.asarray(a)
        op = self.ops.get(name, "same")
        if op == "T":
            return a.T
        if op == "column":  # a weight vector of one output unit: W as (n_in, 1)
            return a.reshape(-1, 1)
        return a.reshape(-1) if op == "vector" else a

    def to_user(self, name, a):
        """The network's array `name` (a network name) in the user's layout."""
        a = np.asarray(a)
        op = self.ops.get(name, "same")
        if op == "T":
            return a.T
        return a.reshape(self.user_shapes[name]) if op in ("vector", "column") else a

    def params_to_network(self, params):
        out = {}
        for k, v in params.items():
            net = self.net_name.get(k, k)
            out[net] = self.to_network(net, v)
        return out

    def grads_to_user(self, grads):
        return {self.user_name.get(k, k): self.to_user(k, v) for k, v in grads.items()}

    def grads_to_network(self, grads):
        """The user's gradients in the network's names and layout (where their shape fits)."""
        out = {}
        for k, v in grads.items():
            net = self.net_name.get(k, k)
            fits = net in self.ops and np.shape(v) == self.user_shapes.get(net)
            out[net] = self.to_network(net, v) if fits else v
        return out

    def network_name(self, user_name: str) -> str:
        return self.net_name.get(user_name, user_name)

    # data
    def data_to_network(self, X, Y):
        if self.samples == "rows":
            return X, Y
        Y = np.asarray(Y)
        return np.asarray(X).T, (Y.T if Y.ndim == 2 else Y)

    def describe(self) -> str:
        if self.is_symnet:
            return ""
        moved = [f"{k} {self.user_shapes[k]}" for k, op in self.ops.items() if op != "same"]
        return (f"your layout: samples as {self.samples}"
                + (f", {', '.join(moved)} (symnet's shapes transposed or reshaped)" if moved
                   else "") + "; compared in your layout")


def _op(name, got, shape, samples) -> str:
    if got == shape and not (samples == "columns" and len(shape) == 2 and shape[0] == shape[1]):
        return "same"
    if len(shape) == 2 and got == shape[::-1]:
        return "T"
    if len(shape) == 1 and got in ((1, shape[0]), (shape[0], 1)):
        return "vector"
    if got == shape:  # a square W with samples as columns: stored as (out, in)
        return "T"
    return "same"  # no layout explains it: check_params names the tensor and both shapes


def loss_mismatch(user: float, data: float, l2: float, l2_all: float, lam: float, B: int,
                  n_out: int, tol: float) -> str:
    """Why the user's loss value differs from the network's, in words: the first common
    convention that turns the network's data loss `data` and L2 sums (`l2` = Σ‖W‖², `l2_all`
    with the biases) into `user`; "" when none does. λ = `lam` (0: no decay in the network)."""
    scales = [(1.0, ""), (0.5, "½ × "), (2.0, "2 × "), (float(n_out), f"n_out = {n_out} × "),
              (n_out / 2, f"n_out/2 = {n_out / 2:g} × "), (float(B), f"B = {B} × "),
              (1.0 / n_out, f"1/n_out = 1/{n_out} × "), (1.0 / B, f"1/B = 1/{B} × ")]
    meaning = {
        "½ × ": "½Σ(a − y)²-style: a ½ in front of the loss",
        "2 × ": "twice the network's loss",
        f"n_out = {n_out} × ": "summed over the outputs and averaged over the batch (symnet's "
                               "mse/bce average over all B·n entries, as PyTorch does)",
        f"n_out/2 = {n_out / 2:g} × ": "½ Σ over the outputs, averaged over the batch",
        f"B = {B} × ": "summed over the batch (reduction='sum' in symnet)",
        f"1/n_out = 1/{n_out} × ": "averaged over the outputs where the network sums",
        f"1/B = 1/{B} × ": "averaged over the batch where the network sums",
    }
    penalties = [(lam / 2 * l2, "")] if lam else [(0.0, "")]
    if lam:
        penalties += [(0.0, "without the L2 term"), (lam / (2 * B) * l2, "with L2 as λ/(2B)·Σ‖W‖²"),
                      (lam * l2, "with L2 as λ·Σ‖W‖² (no ½)"),
                      (lam / 2 * l2_all, "with L2 on the biases too")]
    for penalty, l2_words in penalties:
        for c, words in scales:
            if abs(user - (c * data + penalty)) <= tol * max(1.0, abs(user)):
                if not words and not l2_words:
                    return ""
                parts = [meaning[words]] if words else []
                return "your loss is " + (words or "") + "the network's data loss" + (
                    f" ({'; '.join(parts)})" if parts else "") + (f", {l2_words}" if l2_words
                                                                   else "")
    return ""

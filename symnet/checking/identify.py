"""Which network does the user's loss compute? Found from the loss alone, to name mistakes.

Black-box verify knows *that* a gradient is wrong and where; to say *what* mistake it is (f′
missing, f′ taken at the output, the wrong layer's input, …), it needs the network. This
module searches the dense networks symnet can express for one whose loss equals the user's at
a few points:

- the layers, from the parameters' shapes (weights 2-D; biases (n,), (1, n) or (n, 1); paired
  by the number in their names, else by order), in the user's layout: W as (n_in, n_out) or
  (n_out, n_in), samples as rows or as columns;
- an activation per hidden layer and an output head (identity, σ, tanh, softmax) with a loss
  (mse, bce, bce_logits, softmax_ce, ce);
- the loss's scale c and an L2 coefficient κ, fitted: L_user = c·Σℓ + κ·Σ‖W‖², so that every
  reduction and penalty convention (½Σ, a mean over all entries or over the batch only,
  λ/(2B)‖W‖²) is met by the numbers rather than by a list of names.

The candidates are evaluated by a small NumPy forward pass (no SymPy), at the point and at
three random points nearby: four equations for two unknowns, so a match is no coincidence. The
match becomes a symnet Network, and reference mode's mutants name the mistake.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy as sp

from ..nn.layers import ACTIVATIONS, Dense, Softmax
from ..nn.losses import LOSSES
from ..nn.network import Network
from .conventions import Layout

HIDDEN = ("sigmoid", "tanh", "relu", "identity", "leaky_relu", "softplus", "elu")
HEADS = (("identity", "mse"), ("sigmoid", "bce"), ("identity", "softmax_ce"),
         ("identity", "bce_logits"), ("sigmoid", "mse"), ("softmax", "ce"), ("tanh", "mse"),
         ("softmax", "mse"))
MAX_LAYERS = 4  # 7³ hidden choices × 8 heads: still milliseconds of NumPy
POINTS = 3  # random points besides the user's


def _act(name):
    return {
        "sigmoid": lambda z: 0.5 * (1 + np.tanh(z / 2)),
        "tanh": np.tanh,
        "relu": lambda z: np.maximum(z, 0.0),
        "identity": lambda z: z,
        "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
        "softplus": lambda z: np.logaddexp(0.0, z),
        "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0))),
        "softmax": lambda z: np.exp(z - z.max(1, keepdims=True)) / np.exp(
            z - z.max(1, keepdims=True)).sum(1, keepdims=True),
    }[name]


def _total(loss, A, Y):
    """Σ over all entries of the per-entry loss (the unscaled sum)."""
    with np.errstate(all="ignore"):
        if loss == "mse":
            return float(np.sum((A - Y) ** 2))
        if loss == "bce":
            return float(-np.sum(Y * np.log(A) + (1 - Y) * np.log1p(-A)))
        if loss == "bce_logits":
            return float(np.sum(np.logaddexp(0.0, A) - Y * A))
        if loss == "softmax_ce":
            m = A.max(1, keepdims=True)
            return float(np.sum(m[:, 0] + np.log(np.exp(A - m).sum(1))) - np.sum(Y * A))
        return float(-np.sum(Y * np.log(A)))  # ce on probabilities


@dataclass
class Identified:
    network: Network  # in symnet's layout and names
    names: dict  # user parameter name → network name (W1, b1, …)
    layout: Layout  # keyed by network names
    description: str


def _number(name):
    m = re.search(r"(\d+)\D*$", name)
    return int(m.group(1)) if m else None


def _is_bias(name, a):
    lower = name.lower().split(".")[-1]
    if lower.startswith(("w", "theta")):  # a weight, even as a vector (one output unit)
        return False
    return (lower.startswith("b") and not lower.startswith("beta")) or a.ndim <= 1


def _is_weight(name, a):
    return not _is_bias(name, a) and (a.ndim == 2 or (a.ndim == 1 and name.lower().split(
        ".")[-1].startswith(("w", "theta"))))


def pair_layers(params):
    """[(weight name, bias name)] in forward order, or None when the params are not a plain
    stack of dense layers (normalization parameters, other tensors)."""
    weights = [k for k, v in params.items() if _is_weight(k, v)]
    biases = [k for k, v in params.items() if _is_bias(k, v) and v.ndim <= 2]
    if not weights or len(biases) != len(weights) or len(weights) + len(biases) != len(params):
        return None
    if all(_number(k) is not None for k in weights + biases):
        weights.sort(key=_number)
        biases.sort(key=_number)
        if [_number(k) for k in weights] != [_number(k) for k in biases]:
            return None
    return list(zip(weights, biases))


def _chain(params, layers, n_in, samples):
    """The widths [n_in, n1, …] and per-parameter layout ops, or None if shapes do not chain."""
    widths, ops = [n_in], {}
    for w, b in layers:
        W, bias = params[w], params[b]
        cur = widths[-1]
        prefer_T = samples == "columns"
        if W.ndim == 1:  # one output unit: W as a vector of the inputs' weights
            if W.shape[0] != cur:
                return None
            ops[w], out = "column", 1
        elif W.shape[1] == cur and (prefer_T or W.shape[0] != cur):
            ops[w], out = "T", W.shape[0]
        elif W.shape[0] == cur:
            ops[w], out = "same", W.shape[1]
        else:
            return None
        if bias.size != out or bias.shape not in ((out,), (1, out), (out, 1), () if out == 1
                                                  else (out,)):
            return None
        ops[b] = "same" if bias.shape == (out,) else "vector"
        widths.append(out)
    return widths, ops


def identify(lossf, params, X, Y, rng) -> Identified | None:
    """The symnet network whose loss is the user's (up to c and κ), or None."""
    layers = pair_layers(params)
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    if not layers or len(layers) > MAX_LAYERS or X.ndim != 2:
        return None
    for samples in ("rows", "columns"):
        Xs = X if samples == "rows" else X.T
        chained = _chain(params, layers, Xs.shape[1], samples)
        if chained is None:
            continue
        Ys = _targets(Y, samples, chained[0][-1])
        if Ys is None or Ys.shape != (Xs.shape[0], chained[0][-1]):
            continue
        found = _search(lossf, params, layers, chained, Xs, Ys, rng)
        if found is not None:
            return _build(found, layers, chained, samples, params, Xs.shape[0])
    return None


def _targets(Y, samples, n_out):
    """Y as (B, n_out) rows: integer class labels become one-hot rows."""
    if Y.ndim == 1:
        if n_out == 1:
            return Y.reshape(-1, 1)
        labels = Y.astype(np.int64)
        if np.all(labels == Y) and labels.min() >= 0 and labels.max() < n_out:
            return np.eye(n_out)[labels]
        return None
    return Y if samples == "rows" else Y.T


def _points(lossf, params, rng):
    """The user's point and POINTS random ones near it, with the user's loss at each."""
    points = [params]
    for _ in range(POINTS):
        points.append({k: v + 0.1 * max(1e-3, float(np.sqrt(np.mean(np.square(
            v, dtype=np.float64))))) * rng.standard_normal(v.shape).astype(v.dtype)
            for k, v in params.items()})
    values = [lossf.f0] + [lossf(p) for p in points[1:]]
    return points, np.array(values)


def _search(lossf, params, layers, chained, X, Y, rng):
    widths, ops = chained
    points, user = _points(lossf, params, rng)
    nets = [[(_in_network(p[w], ops[w]), _in_network(p[b], ops[b]).reshape(-1))
             for w, b in layers] for p in points]
    l2 = np.array([sum(float(np.sum(W ** 2)) for W, _ in net) for net in nets])
    l2_all = l2 + np.array([sum(float(np.sum(b ** 2)) for _, b in net) for net in nets])
    tol = 1e2 * lossf.noise + 1e-9 * float(np.max(np.abs(user)))
    labels = Y.shape[1] > 1 and np.all((Y == 0) | (Y == 1)) and np.all(Y.sum(1) == 1)
    binary = np.all((Y >= 0) & (Y <= 1))
    for hidden in itertools.product(HIDDEN, repeat=len(layers) - 1):
        pre = [_hidden_output(net, hidden, X) for net in nets]
        for head, loss in HEADS:
            if loss in ("softmax_ce", "ce") and not labels:
                continue
            if loss in ("bce", "bce_logits") and not binary:
                continue
            totals = np.array([_total(loss, _act(head)(z), Y) for z in pre])
            if not np.all(np.isfinite(totals)):
                continue
            # The penalty on the weights alone, or on the biases too (decay="all")
            for penalty, on_biases in ((l2, False), (l2_all, True)):
                fit = _fit(totals, penalty, user, tol)
                if fit is not None:
                    return hidden, head, loss, fit, on_biases, max(1e-9, 1e2 * lossf.eps)
    return None


def _hidden_output(net, hidden, X):
    """The output layer's pre-activation Z_L of a candidate (hidden activations applied)."""
    A = X
    for k, (W, b) in enumerate(net):
        Z = A @ W + b
        A = _act(hidden[k])(Z) if k < len(hidden) else Z
    return A


def _fit(totals, penalty, user, tol):
    """(c, κ) with user ≈ c·totals + κ·penalty at every point, c > 0, κ ≥ 0; else None."""
    M = np.stack([totals, penalty], axis=1)
    (c, kappa), *_ = np.linalg.lstsq(M, user, rcond=None)
    if abs(kappa) * float(np.max(penalty)) <= tol:  # no penalty: fit c alone
        kappa = 0.0
        den = float(totals @ totals)
        c = float(totals @ user) / den if den else 0.0
    if c <= 0 or kappa < 0 or np.max(np.abs(c * totals + kappa * penalty - user)) > tol:
        return None
    return c, kappa


def _in_network(a, op):
    a = np.asarray(a, dtype=np.float64)
    return a.T if op == "T" else a.reshape(-1, 1) if op == "column" else a


def _build(found, layers, chained, samples, params, B) -> Identified:
    hidden, head, loss, (c, kappa), on_biases, precision = found
    widths, ops = chained
    net_layers = []
    for k in range(len(widths) - 1):
        net_layers.append(Dense(widths[k], widths[k + 1]))
        word = hidden[k] if k < len(hidden) else head
        if word == "softmax":
            net_layers.append(Softmax())
        elif word != "identity" or k < len(hidden):
            net_layers.append(ACTIVATIONS[word]())
    decay = _rational(2 * kappa, precision) if kappa else 0
    # A mean keeps B in the derivation (so that "the 1/B is missing" can be named): c as a
    # multiple of the mean's own 1/(B·n) (or 1/B), unless the loss is a plain sum.
    per = B * (1 if loss in ("softmax_ce", "ce") else widths[-1])
    decays = "all" if on_biases and kappa else "weights"
    if abs(c - 1) <= precision:
        loss_obj = LOSSES[loss](reduction="sum", weight_decay=decay, decay=decays)
    else:
        loss_obj = LOSSES[loss](weight_decay=decay, decay=decays,
                                scale=_rational(c * per, precision))
    network = Network(net_layers, loss_obj)
    names, net_ops, shapes = {}, {}, {}
    for k, (w, b) in enumerate(layers, start=1):
        names[w], names[b] = f"W{k}", f"b{k}"
        net_ops[f"W{k}"], net_ops[f"b{k}"] = ops[w], ops[b]
        shapes[f"W{k}"], shapes[f"b{k}"] = params[w].shape, params[b].shape
    layout = Layout(net_ops, samples, shapes, names)
    words = [*hidden, head, loss]
    text = (f"your loss is that of a dense {'-'.join(map(str, widths))} network with "
            f"{', '.join(words[:-1])} and {loss}, L = {_fmt(c)}·Σℓ"
            + (f" + {_fmt(kappa)}·Σ‖θ‖² (biases too)" if kappa and on_biases else
               f" + {_fmt(kappa)}·Σ‖W‖²" if kappa else ""))
    return Identified(network, names, layout, text)


def _rational(value, precision=1e-9):
    """A fitted number as an exact fraction, to the loss's precision: 0.0625 → 1/16."""
    f = Fraction(value).limit_denominator(10**6)
    f = f if abs(float(f) - value) <= precision * abs(value) else Fraction(value)
    return sp.Rational(f.numerator, f.denominator)


def _fmt(value) -> str:
    f = Fraction(value).limit_denominator(1000)
    return str(f) if abs(float(f) - value) <= 1e-9 * abs(value) else f"{value:.6g}"

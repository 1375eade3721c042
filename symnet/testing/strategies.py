"""Hypothesis strategies for networks and the data to evaluate them on.

    from symnet.testing.strategies import networks, cases

    @given(networks(max_depth=3), st.data())
    def test_something(net, data):
        params, X, Y = data.draw(cases(net, exact=True))

The strategies read the declarations that come with each layer and loss: BCE needs a sigmoid
output and targets in [0, 1], cross-entropy a Softmax layer, and both cross-entropies one-hot
rows. Exact cases use small
Rationals, so SymPy evaluates them exactly and quickly.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

from symnet.nn.layers import ACTIVATIONS, Dense, Softmax
from symnet.nn.losses import LOSSES
from symnet.nn.network import Network


@st.composite
def networks(draw, *, max_depth=4, max_width=4, activations=None, losses=None):
    """Dense networks of 1..max_depth layers, widths 1..max_width, any activation and loss."""
    names = sorted(activations or ACTIVATIONS)
    loss_name = draw(st.sampled_from(sorted(losses or _buildable_losses())))
    need = _needs(loss_name)
    depth = draw(st.integers(1, max_depth))
    widths = draw(st.lists(st.integers(1, max_width), min_size=depth + 1, max_size=depth + 1))
    hidden = ACTIVATIONS[draw(st.sampled_from(names))]()
    output_name = need or draw(st.sampled_from(names))
    layers = []
    for k, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        layers.append(Dense(n_in, n_out))
        layers.append(hidden if k < depth - 1 else _layer(output_name))
    reduction = draw(st.sampled_from(["mean", "sum"]))
    decay = draw(st.sampled_from([0, Fraction(1, 10)]))
    return Network(layers, LOSSES[loss_name](reduction=reduction, weight_decay=decay))


def _needs(loss_name):
    """The activation a loss on probabilities needs at the output (sigmoid for bce), or None."""
    loss = LOSSES[loss_name]
    return getattr(loss, "probabilities_from", "sigmoid") if loss.needs_probabilities else None


def _layer(name):
    return Softmax() if name == "softmax" else ACTIVATIONS[name]()


def _buildable_losses():
    # Losses whose required output layer is one this strategy can place.
    return [name for name in LOSSES if _needs(name) in (None, "softmax", *ACTIVATIONS)]


def _rationals(low=-2, high=2, denominator=4):
    return st.integers(low * denominator, high * denominator).map(
        lambda n: Fraction(n, denominator)
    )


def _floats(low=-2.0, high=2.0):
    return st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)


def _array(draw, shape, elements, exact):
    values = draw(st.lists(elements, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    return np.array(values, dtype=object if exact else np.float64).reshape(shape)


@st.composite
def cases(draw, net: Network, *, max_batch=3, exact=False):
    """(params, X, Y) for `net`: Fractions when `exact`, float64 otherwise."""
    number = _rationals() if exact else _floats()
    unit = _rationals(0, 1) if exact else _floats(0.0, 1.0)
    batch = draw(st.integers(1, max_batch))
    params = {name: _array(draw, shape, number, exact) for name, shape in net.parameters.items()}
    X = _array(draw, (batch, net.n_in), number, exact)
    if net.loss.name in ("softmax_ce", "ce"):
        labels = draw(st.lists(st.integers(0, net.n_out - 1), min_size=batch, max_size=batch))
        Y = np.eye(net.n_out, dtype=int)[labels]
        Y = Y.astype(object) if exact else Y.astype(np.float64)
    elif net.loss.name in ("bce", "bce_logits"):
        Y = _array(draw, (batch, net.n_out), unit, exact)
    else:
        Y = _array(draw, (batch, net.n_out), number, exact)
    return params, X, Y

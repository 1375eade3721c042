"""verify_layer: one layer's hand-written backward pass, checked the way courses write layers.

    out, cache = affine_forward(x, w, b)                 # cs231n: forward returns (out, cache)
    report = verify_layer(affine_forward, affine_backward, x, w, b)
    report["w"].kind                                     # 'transposed'

A layer check is a whole-network check (`verify`'s pipeline) of one scalar function: the loss

    L(x, w, b) = ⟨forward(x, w, b), dout⟩ = Σ out ⊙ dout

for a fixed random `dout`, whose gradient with respect to each argument is exactly what the
layer's backward pass returns for that dout (dx, dw, db). Finite differences of L (or symnet's
own rule, `reference=`) are the truth; the probes cost a handful of forward calls per argument
whatever its size, and only a failing argument is localized. Wrong gradients are then named
without any network (`layer_naming`): transposed, scaled, sign, partial, the mean or variance
term of a normalization, routing (max-pool), the upstream gradient ignored, …

Conventions (`UserLayer` tells them apart; `convention=` forces one):

- "cache": `forward(*args, **kwargs) -> (out, cache)`, `backward(dout, cache) -> (dx, dw, …)`,
  one gradient per floating-point array argument in order (cs231n). Several outputs:
  `forward -> (out1, out2, cache)`, `backward(dout1, dout2, cache)`.
- "args": `forward(*args) -> out` and `backward(dout, *args, **kwargs) -> (dx, dw, …)`.
- "loss": `backward=None`, `forward(*args) -> (loss, grads)`: a loss layer such as
  `softmax_loss(x, y) -> (loss, dx)`; its `dout` is 1.
- "object": a layer object with `.forward(*args)` and `.backward(dout)`: the inputs' gradients
  are what backward returns, the parameters are the object's floating-point array attributes
  (or its `params` dict or list), and their gradients the matching `dW`, `grad_W`, `W_grad`
  attribute (or `grads` entry), as from-scratch frameworks store them.

Non-array arguments (`conv_param`, `bn_param`, labels, modes) pass through untouched: each call
gets a deep copy, so a forward that writes running statistics into `bn_param` changes nothing
of the next call's.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..nn.data import check_seed
from .finite_diff import Loss
from .report import Report
from .user_layer import UserLayer, is_layer_object
from .verify import _gradients, check_all

CONVENTIONS = ("cache", "args", "loss", "object")


def verify_layer(forward, *args, dout=None, reference=None, wrt=None, convention=None, seed=0,
                 rtol=None, n_directions=3, **kwargs) -> Report:
    """Check a layer's backward pass against its forward pass; see the module docstring.

    `verify_layer(forward, backward, *args, **kwargs)` for a pair of functions (`backward`
    None for a loss layer returning (loss, grads)), or `verify_layer(layer, *args, **kwargs)`
    for an object with `.forward` and `.backward`. Results are named after forward's
    parameters (x, w, b) and, for an object, its parameter attributes (W, b).

    dout: the upstream gradient (an array, or a tuple with one per output); drawn from
    N(0, 1) when not given. reference: a symnet layer (`sn.Dense(4, 3)`, `sn.ReLU()`,
    `sn.BatchNorm(3, eps=1e-5)`, …) whose exact rule is the truth instead of finite
    differences (`layer_reference`); the arguments are its input and parameters in order.
    wrt: the names of the arguments to check (default: every floating-point array).
    convention: "cache", "args", "loss" or "object" where the shapes of the calls cannot tell.
    seed: of dout and the probe directions; rtol: extra relative tolerance."""
    from .layer_naming import name_layer_mistakes

    if convention is not None and convention not in CONVENTIONS:
        raise DataError(f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    if convention == "object" or (convention is None and is_layer_object(forward)):
        layer = UserLayer(forward, None, args, kwargs, convention="object", wrt=wrt)
    else:
        if not args:
            raise TypeError("verify_layer(forward, backward, *args): give the backward function "
                            "(None for a loss layer that returns (loss, grads)), then the inputs")
        backward, *rest = args
        layer = UserLayer(forward, backward, tuple(rest), kwargs, convention=convention, wrt=wrt)
    return check_layer(layer, seed, dout=dout, reference=reference, rtol=rtol,
                       n_directions=n_directions, namer=name_layer_mistakes)


def streams(seed):
    """(dout's generator, the probes' generator) for `seed`: streams of their own, apart from
    default_rng(seed), so that a dout or a direction never equals an input drawn by the
    user's own default_rng(seed) (dout = x would make ⟨BatchNorm(x), dout⟩ nearly flat)."""
    seed = check_seed(seed)
    return (np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(15, 1))),
            np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(15, 2))))


def check_layer(layer, seed, *, dout=None, reference=None, rtol=None, n_directions=3,
                namer=None) -> Report:
    """verify's pipeline on ⟨forward, dout⟩ (also used by verify_function)."""
    dout_rng, rng = streams(seed)
    try:
        layer.start(dout_rng, dout)
        params = dict(layer.point)
        what = layer.describe_backward()
        g = _gradients(layer.grads, params, None, None, what=what, label=str)
        lossf = Loss(layer.loss, params, None, None, rng, what=layer.describe_forward(),
                     label=str)
        ref = None
        if reference is not None:
            from .layer_reference import LayerReference

            ref = LayerReference(reference, layer, params)
            layer.notes.append(f"reference: symnet's rule for {ref.layer!r}, with L = ⟨out, "
                               f"dout⟩: {ref.describe()}")
        B = layer.batch
        facts = {"weight_decay": None, "B": B, "n_out": None}
        run = check_all(layer.grads, g, lossf, params, None, None, rng=rng, facts=facts,
                        batch_sizes={B} if B else set(), reference=ref, rtol=rtol,
                        n_directions=n_directions)
        notes = run.notes()
        if namer is not None and any(r.verdict == "wrong" for r in run.ordered()):
            namer(layer, run, notes)
        notes += layer.notes
        mode = "reference" if ref is not None else "finite differences"
        report = run.report(mode, notes, subject=layer.subject, calls="forward calls",
                            entries="entries in the checked arguments")
        report.n_loss_evals = layer.n_forward
        return report
    finally:
        layer.restore()


__all__ = ["CONVENTIONS", "check_layer", "streams", "verify_layer"]

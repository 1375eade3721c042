"""A file of layers for `symnet verify layers.py`: which pairs to check, at which inputs.

The file defines its layers as it would anyway (cs231n's `affine_forward`/`affine_backward`,
`conv_forward_naive`/`conv_backward_naive`, `softmax_loss`, layer classes) and one more name:

    CASES = {
        "affine_forward": (x, w, b),                          # positional arguments
        "conv_forward_naive": (x, w, b, {"stride": 2, "pad": 1}),
        "softmax_loss": (scores, y),                          # a loss layer: no backward
        "batchnorm_forward": {"args": (x, gamma, beta, {"mode": "train"}),
                              "reference": "batchnorm"},      # or any keys below
        "Affine": {"layer": Affine(W, b), "args": (x,)},      # a layer object
    }

or `make_cases()` returning that dict (so the inputs are made when the check runs). A key
names a forward function of the file; its backward is the function named with "forward"
replaced by "backward" (conv_forward_naive → conv_backward_naive), and a key without a
backward (softmax_loss) is a loss layer returning (loss, grads). A value is the positional
arguments (tuple or list), a callable returning the case, or a dict with any of: "args",
"kwargs", "forward", "backward" (a name or a function; None for a loss layer), "layer" (an
object with .forward/.backward), "dout", "wrt", "convention", "reference" (a symnet layer, or
one of "dense", "relu", "sigmoid", "tanh", "softmax", "batchnorm", "layernorm": sized from the
arguments).
"""

from __future__ import annotations

from ..errors import DataError, SymnetError
from .layer import verify_layer

KEYS = ("args", "kwargs", "forward", "backward", "layer", "dout", "wrt", "convention",
        "reference", "seed")


def cases_of(module, path) -> dict:
    """The file's CASES (or make_cases()), as {label: case dict}."""
    if callable(getattr(module, "make_cases", None)):
        try:
            cases = module.make_cases()
        except (Exception, SystemExit) as e:  # noqa: BLE001 - the user's code
            raise DataError(f"make_cases() raised {type(e).__name__}: {e}") from None
    else:
        cases = getattr(module, "CASES", None)
    if not isinstance(cases, dict) or not cases:
        raise DataError(f"{path}: CASES (or make_cases()) must be a non-empty dict "
                        "{forward function name: its arguments}")
    return {str(k): v for k, v in cases.items()}


def run_case(module, label, value, seed=0):
    """The Report of one case (a DataError for a case that cannot run)."""
    if callable(value) and not isinstance(value, type):
        try:
            value = value()
        except (Exception, SystemExit) as e:  # noqa: BLE001 - the user's code
            raise DataError(f"CASES[{label!r}]() raised {type(e).__name__}: {e}") from None
    case = {"args": tuple(value)} if isinstance(value, tuple | list) else value
    if not isinstance(case, dict):
        raise DataError(f"CASES[{label!r}] must be the arguments (a tuple), a dict or a "
                        f"callable returning one, got {type(value).__name__}")
    unknown = set(case) - set(KEYS)
    if unknown:
        raise DataError(f"CASES[{label!r}] has unknown keys {sorted(unknown)}; known: "
                        f"{', '.join(KEYS)}")
    args = tuple(case.get("args", ()))
    kwargs = dict(case.get("kwargs", {}))
    options = {k: case[k] for k in ("dout", "wrt", "convention") if k in case}
    options["seed"] = case.get("seed", seed)
    reference = case.get("reference")
    if "layer" in case:
        target, rest = case["layer"], args
    else:
        forward = _function(module, case.get("forward", label), label)
        if "backward" in case:
            backward = case["backward"]
            backward = None if backward is None else _function(module, backward, label)
        else:
            name = getattr(forward, "__name__", label)
            partner = name.replace("forward", "backward") if "forward" in name else None
            backward = getattr(module, partner, None) if partner else None
            if partner and not callable(backward):
                raise DataError(f"CASES[{label!r}]: {name} has no {partner} in the file (name "
                                "it with 'backward': ...)")
        target, rest = forward, (backward, *args)
    if isinstance(reference, str):
        reference = _reference_named(reference, args)
    if reference is not None:
        options["reference"] = reference
    return verify_layer(target, *rest, **options, **kwargs)


def _function(module, what, label):
    if callable(what):
        return what
    fn = getattr(module, str(what), None)
    if not callable(fn):
        raise DataError(f"CASES[{label!r}]: the file defines no function {what!r}")
    return fn


def _reference_named(word, args):
    """A symnet layer from a word, sized from the arguments (x, then w or gamma)."""
    import numpy as np

    from ..nn.layers import Dense, Softmax
    from ..nn.normalization import BatchNorm, LayerNorm

    arrays = [a for a in args if isinstance(a, np.ndarray)]
    word = word.lower()
    if word == "dense":
        if len(arrays) < 2:
            raise DataError("reference 'dense' needs x and w among the arguments")
        w = arrays[1]
        return Dense(int(w.shape[0]), int(w.shape[1]), bias=len(arrays) > 2)
    if word in ("batchnorm", "layernorm"):
        n = int(arrays[0].shape[-1])
        eps = next((a.get("eps") for a in args if isinstance(a, dict) and "eps" in a), 1e-5)
        return (BatchNorm if word == "batchnorm" else LayerNorm)(n, eps=eps)
    if word == "softmax":
        return Softmax()
    from ..nn.layers import ReLU, Sigmoid, Tanh

    named = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}
    if word in named:
        return named[word]()
    raise DataError(f"unknown reference {word!r}: dense, relu, sigmoid, tanh, softmax, "
                    "batchnorm or layernorm (or give a symnet layer)")


def check_file(module, path, seed=0):
    """[(label, Report or the SymnetError it raised)] for every case of the file."""
    out = []
    for label, value in cases_of(module, path).items():
        try:
            out.append((label, run_case(module, label, value, seed)))
        except SymnetError as e:
            out.append((label, e))
    return out


__all__ = ["check_file", "cases_of", "run_case"]

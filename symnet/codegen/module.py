"""The text of a generated module: a network's training functions in plain NumPy.

`module_source(net, dtype)` prints the derivation's equations with `codegen.NumPyCodePrinter`
into six functions that need only NumPy:

    init_params(seed)              He-normal W before ReLU-like activations, Glorot otherwise
    forward(params, X)             the network's output (logits for bce_logits, softmax_ce)
    loss(params, X, Y)             L, a NumPy scalar of the arrays' dtype
    loss_and_grads(params, X, Y)   L and {name: ∂L/∂name}, forward intermediates reused
    sgd_step(params, grads, lr)    θ ← θ − lr ∂L/∂θ in place
    train(params, X, Y, …)         minibatch SGD, shuffled each epoch

Each equation's Unicode form is the comment above the line computing it, and the module's
docstring is the whole derivation. `symnet.compile` executes exactly this text.
"""

from __future__ import annotations

import re

import numpy as np

from .._version import __version__
from ..derivation.chain import derivation_of
from ..errors import DataError
from ..nn.layers import Activation, Dense
from ..nn.spec import describe
from .printer import HELPERS, Context, comment_text, print_function

# Activations after which a layer's weights start He-normal (variance 2/n_in) rather than
# Glorot-uniform: those that zero (or nearly zero) half their input, as ReLU does.
RELU_LIKE = {"relu", "leaky_relu", "elu", "gelu", "silu"}


def probability_fns(net) -> set[str]:
    """Names of the scalar functions whose first argument is a probability (BCE's ℓ and ∂ℓ)."""
    loss = net.loss
    if not getattr(loss, "needs_probabilities", False):
        return set()
    return {loss.ell.name, loss.ell_prime.name}


def init_scheme(net) -> dict[str, str]:
    """{W name: "he" or "glorot"}, by the activation that follows each dense layer."""
    schemes, k = {}, 0
    for i, layer in enumerate(net.layers):
        if isinstance(layer, Dense):
            k += 1
            after = net.layers[i + 1] if i + 1 < len(net.layers) else None
            name = after.name if isinstance(after, Activation) else None
            schemes[f"W{k}"] = "he" if name in RELU_LIKE else "glorot"
    return schemes


def _initial_values(net) -> dict[str, list[float]]:
    """Learned scalars' declared starting values (custom activations' θ), by name."""
    values, k = {}, 0
    for layer in net.layers:
        k += isinstance(layer, Dense)
        if hasattr(layer, "initial"):
            values.update({n: [float(v) for v in np.ravel(a)] for n, a in layer.initial(k).items()})
    return values


def _function(name, args, doc, block, returns, params, keep=()):
    body = block.lines(keep={*keep, *re.findall(r"[A-Za-z_]\w*", returns)})
    used = set(re.findall(r"[A-Za-z_]\w*", "\n".join([*body, returns])))
    head = [f'{p} = params["{p}"]' for p in params if p in used]
    if "B" in used:
        head.append("B = X.shape[0]")
    lines = [f"def {name}({args}):", f'    """{doc}"""']
    lines += [f"    {line}" for line in [*head, *body, f"return {returns}"]]
    return "\n".join(lines)


def _init_function(net, shapes, dtype_name) -> str:
    schemes, initial = init_scheme(net), _initial_values(net)
    lines = [
        "def init_params(seed=0):",
        '    """Fresh parameters: W He-normal (std √(2/n_in)) before ReLU-like activations,',
        '    Glorot-uniform (limit √(6/(n_in + n_out))) otherwise; biases 0, normalization',
        '    scales γ 1, learned scalars their declared starting value."""',
        "    rng = np.random.default_rng(seed)",
        "    return {",
    ]
    for name, shape in shapes.items():
        if name in schemes:
            n_in, n_out = shape
            if schemes[name] == "he":
                value = f"rng.normal(0.0, np.sqrt(2 / {n_in}), size={shape})"
            else:
                limit = f"np.sqrt(6 / ({n_in} + {n_out}))"
                value = f"rng.uniform(-{limit}, {limit}, size={shape})"
            value += ".astype(DTYPE)"
        elif name in initial:
            value = f"np.array({initial[name]}, dtype=DTYPE)"
        elif name.startswith("gamma"):
            value = f"np.ones({shape}, dtype=DTYPE)"
        else:
            value = f"np.zeros({shape}, dtype=DTYPE)"
        lines.append(f'        "{name}": {value},')
    lines.append("    }")
    return "\n".join(lines)


def _sgd_function(params) -> str:
    lines = [
        "def sgd_step(params, grads, lr):",
        '    """One gradient-descent step, in place: θ ← θ − lr ∂L/∂θ for every parameter."""',
    ]
    lines += [f'    params["{p}"] -= lr * grads["{p}"]' for p in params]
    return "\n".join(lines)


def _train_function(net) -> str:
    if net.loss.name in ("softmax_ce", "ce"):
        targets = ["if Y.ndim == 1:  # class labels → one-hot rows",
                   f"    Y = np.eye({net.n_out}, dtype=DTYPE)[Y.astype(np.intp)]"]
    else:
        targets = ["Y = Y.reshape(len(Y), -1)"]
    per_batch = ("total += float(L) * len(batch)" if net.loss.reduction == "mean"
                 else "total += float(L)")
    epoch = "total / len(X)" if net.loss.reduction == "mean" else "total"
    body = [
        "X = np.asarray(X, dtype=DTYPE)",
        "Y = np.asarray(Y, dtype=DTYPE)",
        *targets,
        "rng = np.random.default_rng(seed)",
        "history = []",
        "for _ in range(epochs):",
        "    order = rng.permutation(len(X))",
        "    total = 0.0",
        "    for start in range(0, len(X), batch_size):",
        "        batch = order[start:start + batch_size]",
        "        L, grads = loss_and_grads(params, X[batch], Y[batch])",
        "        sgd_step(params, grads, lr)",
        f"        {per_batch}",
        f"    history.append({epoch})",
        "return history",
    ]
    doc = ('    """Minibatch SGD on (X, Y), shuffled each epoch; updates `params` in place and '
           'returns\n    the loss of each epoch (the mean of its minibatch losses)."""')
    return "\n".join(["def train(params, X, Y, epochs=10, lr=0.1, batch_size=32, seed=0):", doc,
                      *(f"    {line}" for line in body)])


def _docstring_text(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return "\n".join(comment_text(line) for line in escaped.split("\n"))


def printed_blocks(d):
    """The context and the statement blocks of forward, loss and loss_and_grads for
    derivation `d` (what `module_source` prints, and what `validate` reads back)."""
    shapes = dict(d.tape.shapes)
    context = Context(probability_fns(d.network), {k: len(v) for k, v in shapes.items()})
    reserved = {"np", "params", "grads", "X", "Y", "B", "L", "DTYPE", "SHAPES", *d.params}
    fwd = print_function(context, d.forward, reserved)
    loss = print_function(context, (*d.forward, d.loss), reserved)
    full = print_function(context, d.equations, reserved)
    return context, (fwd, loss, full)


def module_source(net, dtype: np.dtype) -> str:
    """The generated module for `net` (Network, Derivation, spec or path), computing in
    arrays of `dtype` by default; see the module docstring."""
    d = derivation_of(net)
    net = d.network
    params = list(d.params)
    shapes = dict(d.tape.shapes)
    context, (fwd, loss, full) = printed_blocks(d)
    out = d.forward[-1].name if d.forward else "X"
    grads = "{" + ", ".join(f'"{p}": d{p}' for p in params) + "}"
    spec = describe(net)
    output_note = {"softmax_ce": " (logits: softmax gives the class probabilities)",
                   "bce_logits": " (logits: the sigmoid gives the probabilities)"}
    functions = [
        _init_function(net, shapes, np.dtype(dtype).name),
        _function("forward", "params, X",
                  f"The output {out} for a batch X of shape (B, {net.n_in})"
                  f"{output_note.get(net.loss.name, '')}.", fwd, out, params),
        _function("loss", "params, X, Y",
                  "The loss L of a batch: a NumPy scalar of the arrays' dtype.", loss, "L",
                  params),
        _function("loss_and_grads", "params, X, Y",
                  "L and {name: ∂L/∂name}, each gradient shaped like its parameter.", full,
                  f"L, {grads}", params),
        _sgd_function(params),
        _train_function(net),
    ]
    header = [
        f'"""Forward pass, loss and gradients of the network `{_docstring_text(spec)}`.',
        "",
        f"Generated by symnet {__version__} from the derivation below; needs only NumPy. Each",
        "line computing an equation has the equation above it as a comment.",
        "",
        "    params = init_params(seed=0)",
        f"    L, grads = loss_and_grads(params, X, Y)   # X: (B, {net.n_in}), "
        f"Y: (B, {net.n_out})",
        "    sgd_step(params, grads, lr=0.1)",
        "",
        _docstring_text(d.unicode()),
        '"""',
        "",
        "import numpy as np",
        "",
        f"DTYPE = np.{np.dtype(dtype).name}  # of the arrays init_params makes, train converts to",
        "SHAPES = {" + ", ".join(f'"{k}": {v}' for k, v in shapes.items()) + "}",
    ]
    helpers = [HELPERS[h] for h in HELPERS if h in context.helpers]
    text = "\n".join(header) + "\n\n\n"
    text += "\n\n".join(h.rstrip("\n") + "\n" for h in helpers) + ("\n\n" if helpers else "")
    text += "\n\n\n".join(functions) + "\n"
    return text


def dtype_of(dtype) -> np.dtype:
    """np.float32 or np.float64 (given as a type, dtype or name); DataError otherwise."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise DataError(f"dtype must be float32 or float64, got {dtype!r}")
    return dt


def codegen(net, dtype=np.float64) -> str:
    """The source of a standalone module (NumPy only) for `net` (a Network, Derivation, spec
    string or TOML path): init_params, forward, loss, loss_and_grads, sgd_step, train."""
    return module_source(net, dtype_of(dtype))

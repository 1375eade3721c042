"""The text of a generated module: a network's training functions in plain NumPy.

`module_source(net, dtype, backend)` prints the derivation's equations with
`codegen.NumPyCodePrinter` into functions that need only NumPy (or the backend's library):

    init_params(seed)              He-normal W before ReLU-like activations, Glorot otherwise
    init_state()                   BatchNorm's running statistics ({} without BatchNorm)
    forward(params, X, state=None) the network's output (logits for bce_logits, softmax_ce);
                                   with a state, BatchNorm in evaluation mode
    loss(params, X, Y)             L, a NumPy scalar of the arrays' dtype
    loss_and_grads(params, X, Y, state=None)
                                   L and {name: ∂L/∂name}, forward intermediates reused; with
                                   a state, BatchNorm's running statistics are updated
    loss_and_grads_into(params, X, Y)
                                   NumPy, without BatchNorm, dropout or Embedding: the same
                                   statements and numbers (bit for bit), computed into arrays
                                   kept between calls (per thread); what the checked API runs
    _targets(X, Y)                 Y as (B, n_out): 1-D targets, class labels; else ValueError
    sgd_step(params, grads, lr)    θ ← θ − lr ∂L/∂θ in place (JAX: returns the new params)
    train_step(params, X, Y, lr)   forward, loss, backward and update in one function: L, with
                                   params updated in place (NumPy, CuPy: into preallocated
                                   arrays, codegen.inplace; PyTorch: sub_; JAX: jax.jit, pure,
                                   returns (new params, L))
    train(params, X, Y, …)         minibatch SGD (train_step), shuffled each epoch
    draw_masks(B, dtype, rng)      with Dropout only: fresh 0/1 masks; forward, loss and
                                   loss_and_grads then take masks= (fresh ones when not given;
                                   forward without masks is evaluation mode, dropout left out)

With `input_gradient=True`, loss_and_grads also returns ∂L/∂X under the key "X".
`backend` ("numpy", "jax", "torch", "cupy"; codegen.backends) prints the same equations for
another array library (Dense stacks with activations, normalization and the losses; the layer
families with their own operations — convolution, pooling, recurrent, attention, embedding —
and dropout are generated for NumPy only).

Each equation's Unicode form is the comment above the line computing it, and the module's
docstring is the whole derivation. `symnet.compile` executes exactly this text.
"""

from __future__ import annotations

import re

import numpy as np

from .._version import __version__
from ..algebra.matexpr import Elementwise, Op
from ..algebra.recurrent import recurrent_code
from ..derivation.chain import derivation_of, derive
from ..errors import DataError, SpecError
from ..nn.layers import Activation, Dense
from ..nn.normalization import BatchNorm, LayerNorm
from ..nn.spec import describe
from .backends import asarray_function, backend_of, targets_function
from .logits import logit_domain
from .printer import Context, comment_text, print_function
from .train_step import grads_into_function, train_step_function

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
    """{W name: "he" or "glorot"}, by the activation that follows each dense or conv layer (in
    a graph: the first activation of its number); other tables as their layer says (`inits`)."""
    schemes = {}
    layers = list(zip(net.layers, net.numbers))
    for i, (layer, k) in enumerate(layers):
        if isinstance(layer, Dense) or type(layer).__name__ == "Conv2d":
            after = next((la for la, j in layers[i + 1:] if j == k), None)
            name = after.name if isinstance(after, Activation) else None
            schemes[f"W{k}"] = "he" if name in RELU_LIKE else "glorot"
        elif hasattr(layer, "inits"):  # an Embedding's table: N(0, 1)
            schemes.update(layer.inits(k))
    return schemes


def _initial_values(net) -> dict[str, list[float]]:
    """Learned scalars' declared starting values (custom activations' θ), by name."""
    values = {}
    for layer, k in zip(net.layers, net.numbers):
        if hasattr(layer, "initial"):
            values.update({n: [float(v) for v in np.ravel(a)] for n, a in layer.initial(k).items()})
    return values


def _targets_function(net) -> str:
    """`_targets(X, Y)`: Y as (B, n_out), or a ValueError; never a silent broadcast."""
    n, classes = net.n_out, net.loss.name in ("softmax_ce", "ce")
    lines = [
        "def _targets(X, Y):",
        f'    """Y as (B, {n}): ' + ("class labels 0..n−1 become one-hot rows"
                                    if classes else "a 1-D Y becomes a column")
        + "; any other shape is a ValueError,",
        '    never a broadcast. The data\'s checks are the caller\'s (symnet.compile does '
        'them)."""',
        "    B = X.shape[0]",
        f"    if getattr(Y, \"shape\", None) == (B, {n}):",
        "        return Y",
        "    Y = np.asarray(Y)",
    ]
    if classes:
        lines += [
            "    labels = Y.dtype.kind in \"iu\" or (Y.dtype.kind == \"f\" and Y.ndim == 1 and "
            "np.all(Y == np.round(Y)))",
            "    if Y.shape == (B,) and labels:",
            "        lo, hi = Y.min(), Y.max()",
            f"        if lo < 0 or hi > {n - 1}:",
            f'            raise ValueError(f"class labels must lie in 0..{n - 1}, "',
            '                             f"got {lo:g}..{hi:g}")',
            f"        return np.eye({n}, dtype=X.dtype)[Y.astype(np.intp)]",
        ]
    elif n == 1:
        lines += [
            "    if Y.shape == (B,):",
            "        return Y.reshape(B, 1).astype(X.dtype, copy=False)",
        ]
    also = " or class labels of shape (B,)" if classes else " or (B,)" if n == 1 else ""
    lines += [f'    raise ValueError(f"Y has shape {{Y.shape}}, the network needs ({{B}}, {n})"',
              f'                     "{also}")']
    return "\n".join(lines)


def _batch_guard(net) -> list[str]:
    """Training-mode BatchNorm normalizes over the batch: one sample would give a constant."""
    if not any(type(layer).__name__ == "BatchNorm" for layer in net.layers):
        return []
    return ["if X.shape[0] < 2:",
            "    raise ValueError(\"BatchNorm normalizes over the batch in training mode and \"",
            "                     \"needs at least 2 samples, got 1\")"]


MOMENTUM = 0.1  # PyTorch's BatchNorm1d default: running = (1 − m)·running + m·batch statistic


def batchnorms(net) -> list[tuple[int, int, float, int]]:
    """(k, width, eps, positions) of each layer with running statistics (BatchNorm,
    BatchNorm2d), k the layer it follows; positions: H·W per channel for BatchNorm2d, else 1."""
    out, shape = [], net.input_shape
    for layer, k in zip(net.layers, net.numbers):
        if getattr(layer, "running_statistics", False):
            positions = shape[1] * shape[2] if len(shape) == 3 else 1
            out.append((k, layer.n, float(layer.eps), positions))
        shape = tuple(layer.out_shape(shape))
    return out


def _state_update(norms) -> list[str]:
    """Training mode with a state: the running statistics updated in place, as PyTorch does
    (the variance unbiased by m/(m − 1), m = B·positions: Vk holds the biased one plus ε)."""
    lines = ["if state is not None:  # running statistics, momentum 0.1 (PyTorch's)"]
    for k, _, eps, positions in norms:
        m, v = f'state["running_mean{k}"]', f'state["running_var{k}"]'
        count = "B" if positions == 1 else f"B * {positions}"
        lines += [f"    {m} *= {1 - MOMENTUM!r}",
                  f"    {m} += {MOMENTUM!r} * mu{k}",
                  f"    {v} *= {1 - MOMENTUM!r}",
                  f"    {v} += {MOMENTUM!r} * (V{k} - {eps!r}) * ({count} / ({count} - 1))"]
    return lines


def _eval_forward(context, forward, reserved, norms, out, params, drop=None,
                  mask_lines=()) -> str:
    """Evaluation mode: the forward pass with each BatchNorm's batch statistics replaced by
    the running ones (μk = running_meank, Vk = running_vark + ε); any batch size."""
    block = print_function(context, forward, reserved)
    if drop is not None:
        drop(block)
    replace = {}
    for k, _, eps, _ in norms:
        replace[f"mu{k}"] = (f'state["running_mean{k}"]', f"μ{k} = running_mean{k}")
        replace[f"V{k}"] = (f'state["running_var{k}"] + {eps!r}', f"V{k} = running_var{k} + ε")
    for st in block.statements:
        if st.target in replace:
            st.code, st.comment = replace[st.target]
    return _function("_eval_forward", "params, X, state" + (", masks=None" if mask_lines else ""),
                     "Evaluation mode (BatchNorm with running statistics): any batch size.",
                     block, out, params, pre=list(mask_lines))


# ── dropout: masks are data, drawn fresh in training, left out in evaluation ───────────────


def dropout_masks(d) -> dict[str, tuple[int, float]]:
    """{mask name: (width, p)} of the derivation's dropout layers, in forward order."""
    return {str(M.name): (int(M.shape[1]), float(p)) for M, p in d.tape.masks.items()}


def _dropout_off(d, masks):
    """A function editing a forward block so that, without masks, each dropout step is the
    identity: `D2 = A2 if M2 is None else …` (evaluation mode)."""
    inputs = {str(s.output.name): s.inputs[0] for s in d.tape.steps
              if any(str(getattr(i, "name", "")) in masks for i in s.inputs)}

    def edit(block):
        for st in block.statements:
            if st.target in inputs:
                mask = next(str(i.name) for s in d.tape.steps if str(s.output.name) == st.target
                            for i in s.inputs if str(getattr(i, "name", "")) in masks)
                st.code = f"{inputs[st.target].name} if {mask} is None else {st.code}"
    return edit


def _draw_masks_function(d, masks) -> str:
    lines = ["def draw_masks(B, dtype=DTYPE, rng=None):",
             '    """Fresh dropout masks for a batch of B samples: each entry 1 (kept) with '
             'probability',
             '    1 − p, else 0. `rng`: a NumPy Generator (default: the module\'s own)."""',
             "    rng = _RNG if rng is None else rng",
             "    return {"]
    lines += [f'        "{m}": (rng.random((B, {w})) >= {p!r}).astype(dtype),'
              for m, (w, p) in masks.items()]
    lines.append("    }")
    return "\n".join(lines)


def _function(name, args, doc, block, returns, params, keep=(), pre=(), post=()):
    """A generated function: `pre` (guards, target conversion) first, then the parameters it
    reads, then the equations."""
    body = block.lines(keep={*keep, *re.findall(r"[A-Za-z_]\w*", returns)})
    used = set(re.findall(r"[A-Za-z_]\w*", "\n".join([*body, *post, returns])))
    head = [f'{p} = params["{p}"]' for p in params if p in used]
    if "B" in used:
        head.append("B = X.shape[0]")
    lines = [f"def {name}({args}):", f'    """{doc}"""']
    lines += [f"    {line}" for line in [*pre, *head, *body, *post, f"return {returns}"]]
    return "\n".join(lines)


def _init_function(net, shapes, dtype_name, xp) -> str:
    schemes, initial = init_scheme(net), _initial_values(net)
    custom = {}  # layers that say how their weights start (RNN: PyTorch's uniform)
    for layer, k in zip(net.layers, net.numbers):
        if hasattr(layer, "init_code"):
            custom.update(layer.init_code(k))
    device = xp.name in ("jax", "torch", "cupy")
    lines = [
        "def init_params(seed=0" + (", device=None" if device else "") + "):",
        '    """Fresh parameters: W He-normal (std √(2/n_in)) before ReLU-like activations,',
        '    Glorot-uniform (limit √(6/(n_in + n_out))) otherwise; biases 0, normalization',
        '    scales γ 1, learned scalars their declared starting value.'
        + ('\n    Drawn by NumPy (the same values for every backend), then placed on `device`.'
           if device else "") + '"""',
        "    rng = np.random.default_rng(seed)",
        "    params = {" if device else "    return {",
    ]
    for name, shape in shapes.items():
        if name in custom:
            value = f"{custom[name]}.astype(DTYPE)"
        elif schemes.get(name) == "normal":
            value = f"rng.normal(0.0, 1.0, size={shape}).astype(DTYPE)"
        elif name in schemes:
            n_in, n_out = shape if len(shape) == 2 else (  # a conv kernel (out, in, kh, kw)
                shape[1] * shape[2] * shape[3], shape[0] * shape[2] * shape[3])
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
    if device:
        lines.append("    return {k: _asarray(v, device) for k, v in params.items()}")
    return "\n".join(lines)


def _state_function(norms, xp) -> str:
    device = xp.name in ("jax", "torch", "cupy")
    lines = ["def init_state(" + ("device=None" if device else "") + "):",
             '    """BatchNorm\'s running statistics (PyTorch\'s buffers), kept apart from '
             'params',
             '    so that no optimizer touches them: mean 0 and variance 1 to start."""',
             "    state = {" if device else "    return {"]
    for k, n, *_ in norms:
        lines += [f'        "running_mean{k}": np.zeros({n}, dtype=DTYPE),',
                  f'        "running_var{k}": np.ones({n}, dtype=DTYPE),']
    lines.append("    }")
    if device:
        lines.append("    return {k: _asarray(v, device) for k, v in state.items()}")
    return "\n".join(lines)


def _sgd_function(params, xp) -> str:
    if xp.functional:
        lines = [
            "def sgd_step(params, grads, lr):",
            '    """One gradient-descent step θ − lr ∂L/∂θ: the new parameters (JAX arrays are',
            '    immutable; `params` is left as it was)."""',
            "    return {",
            *(f'        "{p}": params["{p}"] - lr * grads["{p}"],' for p in params),
            "    }",
        ]
        return "\n".join(lines)
    lines = [
        *(["@torch.no_grad()"] if xp.name == "torch" else []),
        "def sgd_step(params, grads, lr):",
        '    """One gradient-descent step, in place: θ ← θ − lr ∂L/∂θ for every parameter."""',
    ]
    if xp.name == "torch":
        lines += [f'    params["{p}"].sub_(grads["{p}"], alpha=lr)' for p in params]
    else:
        lines += [f'    params["{p}"] -= lr * grads["{p}"]' for p in params]
    return "\n".join(lines)


def _train_function(net, xp) -> str:
    weight = " * len(batch)" if net.loss.reduction == "mean" else ""
    per_batch = f"total += float(L){weight}"
    epoch = "total / len(X)" if net.loss.reduction == "mean" else "total"
    if xp.name != "numpy":  # on a device: summed there, read once an epoch (not once a step)
        per_batch = f"total = total + L{weight}"
        epoch = f"float(total){epoch[len('total'):]}"
    if xp.name == "numpy":
        head = ["X = np.asarray(X, dtype=DTYPE)",
                *(["X = X.reshape(X.shape[0], -1)"] if len(net.input_shape) > 1 else []),
                "Y = _targets(X, np.asarray(Y)).astype(DTYPE, copy=False)"]
        index = "batch = order[start:start + batch_size]"
    else:
        head = ["like = next(iter(params.values()))",
                "X = _asarray(np.asarray(X, dtype=DTYPE), like)",
                "Y = np.asarray(Y)",
                "Y = _targets(X, _asarray(Y.astype(DTYPE) if Y.dtype.kind == \"f\" else Y, "
                "like))"]
        index = "batch = order[start:start + batch_size]"  # on the device: one copy an epoch
    if xp.functional:  # lr on the device once: a Python float is copied there at every call
        head.append("lr = _asarray(np.asarray(lr, dtype=DTYPE), like)")
    if xp.functional:
        step = ["new, L = train_step(params, X[batch], Y[batch], lr)[:2]",
                "params.update(new)"]
    else:
        step = ["L = train_step(params, X[batch], Y[batch], lr)"]
    body = [
        *head,
        "rng = np.random.default_rng(seed)",
        "history = []",
        "for _ in range(epochs):",
        "    order = rng.permutation(len(X))" if xp.name == "numpy" else
        "    order = _asarray(rng.permutation(len(X)), like)",
        "    total = 0.0",
        "    for start in range(0, len(X), batch_size):",
        f"        {index}",
        *(f"        {line}" for line in step),
        f"        {per_batch}",
        f"    history.append({epoch})",
        "return history",
    ]
    doc = ('    """Minibatch SGD on (X, Y), shuffled each epoch (`train_step`); updates `params` '
           'in place\n    and returns the loss of each epoch (the mean of its minibatch '
           'losses)."""')
    return "\n".join(["def train(params, X, Y, epochs=10, lr=0.1, batch_size=32, seed=0):", doc,
                      *(f"    {line}" for line in body)])


def _docstring_text(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return "\n".join(comment_text(line) for line in escaped.split("\n"))


RESERVED = {"np", "params", "grads", "X", "Y", "B", "L", "DTYPE", "SHAPES", "lr", "state",
            "jax", "jnp", "torch", "cp", "cupyx", "like", "new"}


def printed_blocks(d, backend="numpy"):
    """The context and the statement blocks of forward, loss and loss_and_grads for
    derivation `d` (what `module_source` prints, and what `validate` reads back). bce and ce
    are printed from the logits (`logits.logit_domain`): exact where σ or softmax saturate."""
    shapes = dict(d.tape.shapes)
    forward, loss_eq, backward = logit_domain(d)
    forward, backward = recurrent_code(forward, backward)  # loops over time share their work
    definitions = {eq.lhs: eq.rhs for eq in forward if isinstance(eq.rhs, Elementwise)}
    context = Context(probability_fns(d.network), {k: len(v) for k, v in shapes.items()},
                      definitions, backend)
    reserved = {*RESERVED, *d.params}
    fwd = print_function(context, forward, reserved)
    loss = print_function(context, (*forward, loss_eq), reserved)
    full = print_function(context, (*forward, loss_eq, *backward), reserved)
    return context, (fwd, loss, full)


def module_source(net, dtype: np.dtype, input_gradient: bool = False,
                  backend="numpy") -> str:
    """The generated module for `net` (Network, Derivation, spec or path), computing in
    arrays of `dtype` by default with the array library `backend`; see the module docstring.
    With `input_gradient`, the gradients loss_and_grads returns include "X": ∂L/∂X."""
    return generated(net, dtype, input_gradient, backend)[0]


def generated(net, dtype: np.dtype, input_gradient: bool = False,
              backend="numpy") -> tuple[str, list]:
    """(module_source's text, the element-wise formulas it prints: `printer.Printed`s)."""
    xp = backend_of(backend)
    d = derivation_of(net)
    if input_gradient and not any(eq.kind == "input" for eq in d.backward):
        d = derive(d.network, input_gradient=True)
    net = d.network
    if xp.name != "numpy":
        _check_backend_supports(d, xp)
    params = list(d.params)
    shapes = dict(d.tape.shapes)
    context, (fwd, loss, full) = printed_blocks(d, xp)
    out = d.forward[-1].name if d.forward else "X"
    names = [*params, *(["X"] if any(eq.kind == "input" for eq in d.backward) else [])]
    if input_gradient and "X" not in names:
        raise SpecError("the input X holds integer indices (it feeds an Embedding): it has no "
                        "gradient")
    grads = "{" + ", ".join(f'"{p}": d{p}' for p in names) + "}"
    masks = dropout_masks(d)
    drop = _dropout_off(d, masks)
    take = [f'{m} = masks["{m}"]' for m in masks]
    fresh = ["if masks is None:  # training: fresh dropout masks",
             "    masks = draw_masks(X.shape[0], X.dtype)", *take] if masks else []
    with_masks = ", masks=None" if masks else ""
    mask_doc = ("\n    Dropout is applied with `masks` (draw_masks(B)) and left out without them "
                "(evaluation mode)." if masks else "")
    spec = describe(net)
    output_note = {"softmax_ce": " (logits: softmax gives the class probabilities)",
                   "bce_logits": " (logits: the sigmoid gives the probabilities)"}
    guard = _batch_guard(net)
    if len(getattr(net, "input_shape", ())) > 1:  # (B, T, n) sequences, images: as rows
        guard = [*guard, "X = X.reshape(X.shape[0], -1)"]
    norms = batchnorms(net)
    evaluation = (["if state is not None:  # evaluation mode: the running statistics",
                   "    return _eval_forward(params, X, state"
                   + (", masks)" if masks else ")")] if norms else [])
    drop(fwd)
    forward_masks = [f'{m} = None if masks is None else masks["{m}"]' for m in masks]
    update = _state_update(norms) if norms else []
    kept = {n for k, *_ in norms for n in (f"mu{k}", f"V{k}")}
    state_doc = ("\n    With `state` (init_state()), BatchNorm uses its running statistics "
                 "(evaluation mode,\n    any batch size); without, the batch's (training mode)."
                 if norms else "\n    `state` is unused: the network has no BatchNorm.")
    grads_doc = ("\n    With `state`, BatchNorm's running statistics are updated in place "
                 "(momentum 0.1)." if norms else "")
    functions = [
        _init_function(net, shapes, np.dtype(dtype).name, xp),
        _state_function(norms, xp),
        _targets_function(net) if xp.name == "numpy" else targets_function(net, xp),
        *([_eval_forward(context, logit_domain(d)[0], {*RESERVED, *params}, norms, out,
                         params, drop, forward_masks)] if norms else []),
        *([_draw_masks_function(d, masks)] if masks else []),
        _function("forward", f"params, X, state=None{with_masks}",
                  f"The output {out} for a batch X of shape (B, {net.n_in})"
                  f"{output_note.get(net.loss.name, '')}.{state_doc}{mask_doc}", fwd, out,
                  params, pre=[*evaluation, *guard, *forward_masks]),
        _function("loss", f"params, X, Y{with_masks}",
                  "The loss L of a batch: a NumPy scalar of the arrays' dtype." + (
                      "\n    Without `masks`, fresh dropout masks are drawn." if masks else ""),
                  loss, "L", params, pre=[*guard, "Y = _targets(X, Y)", *fresh]),
        _function("loss_and_grads", f"params, X, Y, state=None{with_masks}",
                  f"L and {{name: ∂L/∂name}}, each gradient shaped like its parameter.{grads_doc}"
                  + ("\n    Without `masks`, fresh dropout masks are drawn." if masks else ""),
                  full, f"L, {grads}", params, keep=kept,
                  pre=[*guard, "Y = _targets(X, Y)", *fresh], post=update),
        _sgd_function(params, xp),
        train_step_function(d, full, params, xp, norms, guard, net, masks, update),
        _train_function(net, xp),
    ]
    into = grads_into_function(d, full, params, xp, norms, guard, net, masks)
    if into:  # after the functions a reader of the module looks for
        functions.append(into)
    if xp.name != "numpy":
        functions.insert(0, asarray_function(xp))
    library = {"numpy": "NumPy", "jax": "NumPy and JAX", "torch": "NumPy and PyTorch",
               "cupy": "NumPy and CuPy"}[xp.name]
    usage = (["    params = init_params(seed=0)",
              f"    params, L = train_step(params, X, Y, lr=0.1)[:2]   # X: (B, {net.n_in}), "
              f"Y: (B, {net.n_out})"] if xp.functional else
             ["    params = init_params(seed=0)",
              f"    L = train_step(params, X, Y, lr=0.1)   # X: (B, {net.n_in}), "
              f"Y: (B, {net.n_out}); params updated",
              "    L, grads = loss_and_grads(params, X, Y)   # or the gradients themselves"])
    header = [
        f'"""Forward pass, loss and gradients of the network `{_docstring_text(spec)}`.',
        "",
        f"Generated by symnet {__version__} from the derivation below; needs only {library}."
        + ("" if xp.name == "numpy" else f"\nThe {xp.name} backend: the same derivation and "
           "backward pass as the NumPy module (no autograd),\nprinted for another array "
           "library."),
        "Each line computing an equation has the equation above it as a comment.",
        "",
        *usage,
        "",
        _docstring_text(d.unicode()),
        '"""',
        "",
        *xp.imports,
        *(["from threading import get_ident"] if into else []),
        "",
        f"DTYPE = np.{np.dtype(dtype).name}  # of the arrays init_params makes, train converts to",
        "SHAPES = {" + ", ".join(f'"{k}": {v}' for k, v in shapes.items()) + "}",
        "STATE_SHAPES = {" + ", ".join(f'"running_{s}{k}": ({n},)' for k, n, *_ in norms
                                       for s in ("mean", "var")) + "}",
        *(["MASK_WIDTHS = {" + ", ".join(f'"{m}": {w}' for m, (w, _) in masks.items()) + "}",
           "_RNG = np.random.default_rng(0)  # draws dropout masks when none are given"]
          if masks else []),
    ]
    if xp.name == "jax" and np.dtype(dtype) == np.float64:
        header += ["", "# float64 arrays need JAX's 64-bit mode (off by default: JAX would make "
                   "them float32)", 'jax.config.update("jax_enable_x64", True)']
    helpers = context.helper_functions()
    text = "\n".join(header) + "\n\n\n"
    text += "\n\n".join(h.rstrip("\n") + "\n" for h in helpers) + ("\n\n" if helpers else "")
    text += "\n\n\n".join(functions) + "\n"
    return text, context.printed


def _check_backend_supports(d, xp):
    """SpecError unless every operation of derivation `d` can be printed for backend `xp`:
    the layer families with their own operations (`Op`: convolution, pooling, recurrences,
    attention, embedding's scatter-add) print NumPy code, and dropout draws NumPy masks."""
    ops = sorted({type(op).__name__ for eq in (*d.forward, *d.backward)
                  for op in eq.rhs.atoms(Op)})
    if not ops and not d.tape.masks:
        return
    covered = (Dense, Activation, BatchNorm, LayerNorm)
    layers = sorted({type(layer).__name__ for layer in d.network.layers
                     if not isinstance(layer, covered)})
    raise SpecError(f"backend {xp.name!r} cannot generate this network: its "
                    f"{', '.join(layers or ops)} layers are generated for NumPy only (the "
                    f"{xp.name} backend covers Dense layers, activations, BatchNorm/LayerNorm and "
                    "the losses); use backend=\"numpy\"")


def dtype_of(dtype) -> np.dtype:
    """np.float32 or np.float64 (given as a type, dtype or name); DataError otherwise."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise DataError(f"dtype must be float32 or float64, got {dtype!r}")
    return dt


def codegen(net, dtype=np.float64, *, input_gradient: bool = False, backend="numpy") -> str:
    """The source of a standalone module for `net` (a Network, Derivation, spec string or TOML
    path): init_params, forward, loss, loss_and_grads, sgd_step, train_step, train. With
    `input_gradient=True`, loss_and_grads also returns ∂L/∂X under the key "X". `backend`:
    the array library it computes with, "numpy" (the default: NumPy only), "jax", "torch" or
    "cupy" (the same derivation printed for that library; see codegen.backends)."""
    return module_source(net, dtype_of(dtype), input_gradient, backend_of(backend))

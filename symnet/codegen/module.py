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
    _targets(X, Y)                 Y as (B, n_out): 1-D targets, class labels; else ValueError
    sgd_step(params, grads, lr)    θ ← θ − lr ∂L/∂θ in place (JAX: returns the new params)
    train_step(params, X, Y, lr)   forward, loss, backward and update in one function: L, with
                                   params updated in place (NumPy, CuPy: into preallocated
                                   arrays, codegen.inplace; PyTorch: sub_; JAX: jax.jit, pure,
                                   returns (new params, L))
    train(params, X, Y, …)         minibatch SGD (train_step), shuffled each epoch

`backend` ("numpy", "jax", "torch", "cupy"; codegen.backends) prints the same equations for
another array library.

Each equation's Unicode form is the comment above the line computing it, and the module's
docstring is the whole derivation. `symnet.compile` executes exactly this text.
"""

from __future__ import annotations

import re

import numpy as np
import sympy as sp

from .._version import __version__
from ..algebra.matexpr import Elementwise, SumEntries
from ..derivation.chain import derivation_of
from ..errors import DataError
from ..nn.layers import Activation, Dense
from ..nn.spec import describe
from .backends import backend_of
from .inplace import Info, Lowering, names_in, seed_scaled
from .logits import logit_domain
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


def batchnorms(net) -> list[tuple[int, int, float]]:
    """(k, width, eps) of each BatchNorm layer, k the dense layer it follows."""
    out, k = [], 0
    for layer in net.layers:
        k += isinstance(layer, Dense)
        if type(layer).__name__ == "BatchNorm":
            out.append((k, layer.n, float(layer.eps)))
    return out


def _state_update(norms) -> list[str]:
    """Training mode with a state: the running statistics updated in place, as PyTorch does
    (the variance unbiased: Vk holds the biased one plus ε)."""
    lines = ["if state is not None:  # running statistics, momentum 0.1 (PyTorch's)"]
    for k, _, eps in norms:
        m, v = f'state["running_mean{k}"]', f'state["running_var{k}"]'
        lines += [f"    {m} *= {1 - MOMENTUM!r}",
                  f"    {m} += {MOMENTUM!r} * mu{k}",
                  f"    {v} *= {1 - MOMENTUM!r}",
                  f"    {v} += {MOMENTUM!r} * (V{k} - {eps!r}) * (B / (B - 1))"]
    return lines


def _eval_forward(context, forward, reserved, norms, out, params) -> str:
    """Evaluation mode: the forward pass with each BatchNorm's batch statistics replaced by
    the running ones (μk = running_meank, Vk = running_vark + ε); any batch size."""
    block = print_function(context, forward, reserved)
    replace = {}
    for k, _, eps in norms:
        replace[f"mu{k}"] = (f'state["running_mean{k}"]', f"μ{k} = running_mean{k}")
        replace[f"V{k}"] = (f'state["running_var{k}"] + {eps!r}', f"V{k} = running_var{k} + ε")
    for st in block.statements:
        if st.target in replace:
            st.code, st.comment = replace[st.target]
    return _function("_eval_forward", "params, X, state",
                     "Evaluation mode (BatchNorm with running statistics): any batch size.",
                     block, out, params)


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
    for k, n, _ in norms:
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
    per_batch = ("total += float(L) * len(batch)" if net.loss.reduction == "mean"
                 else "total += float(L)")
    epoch = "total / len(X)" if net.loss.reduction == "mean" else "total"
    if xp.name == "numpy":
        head = ["X = np.asarray(X, dtype=DTYPE)",
                "Y = _targets(X, np.asarray(Y)).astype(DTYPE, copy=False)"]
        index = "batch = order[start:start + batch_size]"
    else:
        head = ["like = next(iter(params.values()))",
                "X = _asarray(np.asarray(X, dtype=DTYPE), like)",
                "Y = np.asarray(Y)",
                "Y = _targets(X, _asarray(Y.astype(DTYPE) if Y.dtype.kind == \"f\" else Y, "
                "like))"]
        index = "batch = _asarray(order[start:start + batch_size], like)"
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
        "    order = rng.permutation(len(X))",
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
    context = Context(probability_fns(d.network), {k: len(v) for k, v in shapes.items()},
                      backend)
    reserved = {*RESERVED, *d.params}
    forward, loss_eq, backward = logit_domain(d)
    fwd = print_function(context, forward, reserved)
    loss = print_function(context, (*forward, loss_eq), reserved)
    full = print_function(context, (*forward, loss_eq, *backward), reserved)
    return context, (fwd, loss, full)


# ── the fused training step ────────────────────────────────────────────────────────────────


def _mentions(e, syms) -> bool:
    return bool(e.atoms(sp.MatrixSymbol) & syms)


def _linear(e, syms) -> bool:
    """Whether matrix expression `e` is a sum of terms each linear in exactly one of `syms`
    (so that scaling every one of them by lr scales `e` by lr)."""
    if e in syms:
        return True
    if not _mentions(e, syms):
        return False
    if isinstance(e, sp.MatAdd | sp.Add):
        return all(_linear(t, syms) for t in e.args)
    if isinstance(e, sp.MatMul | sp.HadamardProduct | sp.Mul):
        having = [a for a in e.args if _mentions(a, syms)]
        return len(having) == 1 and _linear(having[0], syms)
    if isinstance(e, sp.Transpose | SumEntries):
        return _linear(e.args[0], syms)
    if isinstance(e, Elementwise):
        having = [k for k, op in enumerate(e.operands) if _mentions(op, syms)]
        if len(having) != 1 or not _linear(e.operands[having[0]], syms):
            return False
        args = [sp.Dummy(f"a{k}", real=True) for k in range(len(e.operands))]
        body, a = e.fn.lam(*args), args[having[0]]
        return sp.simplify(body.subs(a, 0)) == 0 and sp.simplify(sp.diff(body, a, 2)) == 0
    return False


def _seeds(backward) -> tuple[set[str], bool]:
    """(names of the backward equations computed from no other backward quantity, whether
    every other backward equation is linear in the backward quantities)."""
    syms = {eq.lhs for eq in backward}
    seeds = {eq.name for eq in backward if not _mentions(eq.rhs, syms)}
    linear = all(_linear(eq.rhs, syms) for eq in backward if eq.name not in seeds)
    return seeds, linear


def _train_step_function(d, full, params, xp, norms, guard, net) -> str:
    """`train_step(params, X, Y, lr, state=None)`: see `codegen.inplace`."""
    shapes = dict(d.tape.shapes)
    _, _, backward = logit_domain(d)
    seeds, scaled = _seeds(backward)
    statements = list(full.statements)
    grad_of = {p: f"d{p}" for p in params}
    kept = {n for k, _, _ in norms for n in (f"mu{k}", f"V{k}")}
    update_post = _state_update(norms) if norms else []
    doc_state = ("\n    With `state`, BatchNorm's running statistics are updated in place "
                 "(momentum 0.1)." if norms else "")
    if xp.functional:
        return _functional_step(params, norms, doc_state)
    # where each parameter's update goes: after its gradient and its last use
    defined = {s.target: i for i, s in enumerate(statements)}
    last_read = {}
    for i, s in enumerate(statements):
        for name in names_in(s.code):
            last_read[name] = i
    at = {p: max(defined[grad_of[p]], last_read.get(p, -1)) for p in params}
    if xp.name == "torch":
        body = [f"# {comment_text(s.comment)}\n{s.target} = {s.code}" if s.comment
                else f"{s.target} = {s.code}" for s in statements]
        lines = "\n".join(body).split("\n")
        lines += [f"{p}.sub_(d{p}, alpha=lr)" for p in params]
        lines += update_post
        used = names_in("\n".join(lines))
        head = [f'{p} = params["{p}"]' for p in params]
        head += ["B = X.shape[0]"] if "B" in used else []
        return "\n".join([
            "@torch.no_grad()",
            "def train_step(params, X, Y, lr, state=None):",
            '    """One step of gradient descent, in place: L, and θ ← θ − lr ∂L/∂θ for every '
            'parameter\n    (forward, loss, backward and update in one function; no autograd).'
            f'{doc_state}"""',
            *(f"    {line}" for line in [*guard, "Y = _targets(X, Y)", *head, *lines,
                                         "return L"])])
    env = {"B": Info((), "s"), "lr": Info((), "s"), "X": Info(("B", net.n_in), "f"),
           "Y": Info(("B", net.n_out), "f")}
    env.update({p: Info(tuple(shapes[p]), "f") for p in params})
    low = Lowering(xp.prefix, env)
    # liveness over the items: statements, then the post lines (state update) and the return
    reads = [names_in(s.code) for s in statements]
    updates_after = {}
    for p, i in at.items():
        updates_after.setdefault(i, []).append(p)
    last_use = {}
    for i, r in enumerate(reads):
        for n in r:
            last_use[n] = i
    for i, ps in updates_after.items():
        for p in ps:
            last_use[grad_of[p]] = max(last_use.get(grad_of[p], i), i)
    end = len(statements)
    for n in names_in("\n".join(update_post)) | {"L"} | kept:
        if n in defined:
            last_use[n] = end
    dying = {}
    for n, j in last_use.items():
        if n not in grad_of.values():
            dying.setdefault(j, []).append(n)
    for i, s in enumerate(statements):
        code = s.code
        if scaled and s.target in seeds:
            code = seed_scaled(code, low)
        dead = dying.get(i, [])
        low.statement(s.target, code, s.comment, dead)
        for p in updates_after.get(i, ()):
            g = grad_of[p]
            if scaled:
                low.line(f"{xp.prefix}.subtract({p}, {g}, out={p})", dead=[g])
            elif low.pins.get(g) and len(low.pins[g]) == 1 and all(
                    g not in names_in(t.code) for t in statements[i + 1:]):
                low.line(f"{xp.prefix}.multiply({g}, lr, out={g})")
                low.line(f"{xp.prefix}.subtract({p}, {g}, out={p})", dead=[g])
            else:
                low.line(f"{xp.prefix}.subtract({p}, lr * {g}, out={p})", dead=[g])
    body = low.lines + update_post + ["return L"]
    used = names_in("\n".join(body))
    head = [f'{p} = params["{p}"]' for p in params if p in used]
    head.append("B = X.shape[0]")
    head += [f"if getattr(Y, \"shape\", None) != (B, {net.n_out}):",
             "    Y = _targets(X, Y)"]
    if low.buffers:
        names = ", ".join(b.name for b in low.buffers) + ("," if len(low.buffers) == 1 else "")
        head.append(f"{names} = _BUFFERS.get((B, X.dtype)) or _buffers(B, X.dtype)")
    allocate = _buffers_function(low.buffers, xp)
    how = ("the SGD\n    update folded into the backward pass (its seed multiplied by lr)"
           if scaled else "the\n    gradients multiplied by lr in place")
    step = "\n".join([
        "def train_step(params, X, Y, lr, state=None):",
        '    """One step of gradient descent, in place: returns L and sets θ ← θ − lr ∂L/∂θ for '
        'every\n    parameter. Forward, loss, backward and update in one function, computed into '
        'arrays\n    allocated once per batch size and dtype (`_buffers`), ' + how + '.'
        '\n    The statements are those of loss_and_grads; not reentrant (one call at a time: '
        'the\n    buffers are shared).'
        f'{doc_state}"""',
        *(f"    {line}" for line in [*guard, *head, *body])])
    return allocate + "\n\n\n" + step


def _buffers_function(buffers, xp) -> str:
    dims = {"B": "B"}
    shapes = []
    for b in buffers:
        shape = "(" + ", ".join(dims.get(d, str(d)) if isinstance(d, str) else str(d)
                                for d in b.shape) + ("," if len(b.shape) == 1 else "") + ")"
        kind = "bool" if b.kind == "b" else "dtype"
        make = "ones" if b.kind == "1" else "empty"
        shapes.append(f"        {xp.prefix}.{make}({shape}, {kind}),")
    key = "(B, dtype)"
    return "\n".join([
        "_BUFFERS = {}  # (batch size, dtype) → the arrays train_step computes into",
        "",
        "",
        "def _buffers(B, dtype):",
        '    """The arrays of train_step for batch size B, allocated once and reused."""',
        "    if len(_BUFFERS) >= 8:",
        "        _BUFFERS.clear()",
        f"    buffers = _BUFFERS[{key}] = (",
        *shapes,
        "    )",
        "    return buffers",
    ])


def _functional_step(params, norms, doc_state) -> str:
    """JAX: a pure step compiled by jax.jit, returning the new parameters."""
    if norms:
        ret, doc = ("return sgd_step(params, grads, lr), L, state",
                    "(new params, L, new state)")
        inner = ["state = dict(state) if state is not None else None",
                 "L, grads = loss_and_grads(params, X, Y, state=state)"]
    else:
        ret, doc = "return sgd_step(params, grads, lr), L", "(new params, L)"
        inner = ["L, grads = loss_and_grads(params, X, Y)"]
    return "\n".join([
        "@jax.jit",
        "def train_step(params, X, Y, lr, state=None):",
        f'    """One step of gradient descent, compiled by jax.jit: {doc}, the new params',
        '    θ − lr ∂L/∂θ (forward, loss, backward and update in one XLA computation; the',
        '    backward pass is symnet\'s, not jax.grad). Pure: `params` is left as it was."""',
        *(f"    {line}" for line in [*inner, ret])])


# ── backend glue: placing arrays, targets ──────────────────────────────────────────────────


def _asarray_function(xp) -> str:
    if xp.name == "torch":
        body = ['    """`a` as a tensor on `where` (a device, or an array whose device to use)."""',
                "    device = getattr(where, \"device\", where)",
                "    return torch.as_tensor(a, device=device)"]
    elif xp.name == "jax":
        body = ['    """`a` as a JAX array on `where` (a device, or an array whose device to '
                'use)."""',
                "    if hasattr(where, \"devices\"):",
                "        where = next(iter(where.devices()))",
                "    return jax.device_put(jnp.asarray(a), where)"]
    else:
        body = ['    """`a` as a CuPy array on `where` (a device id, or an array whose device to '
                'use)."""',
                "    device = getattr(where, \"device\", where)",
                "    if device is None:",
                "        return cp.asarray(a)",
                "    with cp.cuda.Device(getattr(device, \"id\", device)):",
                "        return cp.asarray(a)"]
    return "\n".join(["def _asarray(a, where=None):", *body])


def _backend_targets_function(net, xp) -> str:
    """`_targets(X, Y)` for arrays of a backend: Y as (B, n_out) on X's device."""
    n, classes = net.n_out, net.loss.name in ("softmax_ce", "ce")
    lines = ["def _targets(X, Y):",
             f'    """Y as (B, {n}): ' + ("integer class labels become one-hot rows"
                                        if classes else "a 1-D Y becomes a column")
             + '; any other shape is a ValueError."""',
             "    B = X.shape[0]",
             f"    if tuple(Y.shape) == (B, {n}):",
             "        return Y"]
    if classes:
        eye = {"torch": f"torch.eye({n}, dtype=X.dtype, device=X.device)[Y.long()]",
               "jax": f"jnp.eye({n}, dtype=X.dtype)[Y.astype(jnp.int32)]",
               "cupy": f"cp.eye({n}, dtype=X.dtype)[Y.astype(np.intp)]"}[xp.name]
        lines += ["    if tuple(Y.shape) == (B,):", f"        return {eye}"]
    elif n == 1:
        cast = "Y.reshape(B, 1).to(X.dtype)" if xp.name == "torch" else \
            "Y.reshape(B, 1).astype(X.dtype)"
        lines += ["    if tuple(Y.shape) == (B,):", f"        return {cast}"]
    lines += [f'    raise ValueError(f"Y has shape {{tuple(Y.shape)}}, the network needs ({{B}}, '
              f'{n})")']
    return "\n".join(lines)


def module_source(net, dtype: np.dtype, backend="numpy") -> str:
    """The generated module for `net` (Network, Derivation, spec or path), computing in
    arrays of `dtype` by default with the array library `backend`; see the module docstring."""
    xp = backend_of(backend)
    d = derivation_of(net)
    net = d.network
    params = list(d.params)
    shapes = dict(d.tape.shapes)
    context, (fwd, loss, full) = printed_blocks(d, xp)
    out = d.forward[-1].name if d.forward else "X"
    grads = "{" + ", ".join(f'"{p}": d{p}' for p in params) + "}"
    spec = describe(net)
    output_note = {"softmax_ce": " (logits: softmax gives the class probabilities)",
                   "bce_logits": " (logits: the sigmoid gives the probabilities)"}
    guard = _batch_guard(net)
    norms = batchnorms(net)
    evaluation = (["if state is not None:  # evaluation mode: the running statistics",
                   "    return _eval_forward(params, X, state)"] if norms else [])
    update = _state_update(norms) if norms else []
    kept = {n for k, _, _ in norms for n in (f"mu{k}", f"V{k}")}
    state_doc = ("\n    With `state` (init_state()), BatchNorm uses its running statistics "
                 "(evaluation mode,\n    any batch size); without, the batch's (training mode)."
                 if norms else "\n    `state` is unused: the network has no BatchNorm.")
    grads_doc = ("\n    With `state`, BatchNorm's running statistics are updated in place "
                 "(momentum 0.1)." if norms else "")
    functions = [
        _init_function(net, shapes, np.dtype(dtype).name, xp),
        _state_function(norms, xp),
        _targets_function(net) if xp.name == "numpy" else _backend_targets_function(net, xp),
        *([_eval_forward(context, logit_domain(d)[0], {*RESERVED, *params}, norms, out,
                         params)] if norms else []),
        _function("forward", "params, X, state=None",
                  f"The output {out} for a batch X of shape (B, {net.n_in})"
                  f"{output_note.get(net.loss.name, '')}.{state_doc}", fwd, out, params,
                  pre=[*evaluation, *guard]),
        _function("loss", "params, X, Y",
                  "The loss L of a batch: a scalar of the arrays' dtype.", loss, "L",
                  params, pre=[*guard, "Y = _targets(X, Y)"]),
        _function("loss_and_grads", "params, X, Y, state=None",
                  f"L and {{name: ∂L/∂name}}, each gradient shaped like its parameter.{grads_doc}",
                  full, f"L, {grads}", params, keep=kept, pre=[*guard, "Y = _targets(X, Y)"],
                  post=update),
        _sgd_function(params, xp),
        _train_step_function(d, full, params, xp, norms, guard, net),
        _train_function(net, xp),
    ]
    if xp.name != "numpy":
        functions.insert(0, _asarray_function(xp))
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
        "",
        f"DTYPE = np.{np.dtype(dtype).name}  # of the arrays init_params makes, train converts to",
        "SHAPES = {" + ", ".join(f'"{k}": {v}' for k, v in shapes.items()) + "}",
        "STATE_SHAPES = {" + ", ".join(f'"running_{s}{k}": ({n},)' for k, n, _ in norms
                                       for s in ("mean", "var")) + "}",
    ]
    if xp.name == "jax" and np.dtype(dtype) == np.float64:
        header += ["", "# float64 arrays need JAX's 64-bit mode (off by default: JAX would make "
                   "them float32)", 'jax.config.update("jax_enable_x64", True)']
    helpers = [xp.helpers[h] for h in HELPERS if h in context.helpers]
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


def codegen(net, dtype=np.float64, backend="numpy") -> str:
    """The source of a standalone module for `net` (a Network, Derivation, spec string or TOML
    path): init_params, forward, loss, loss_and_grads, sgd_step, train_step, train. `backend`:
    the array library it computes with, "numpy" (the default: NumPy only), "jax", "torch" or
    "cupy" (the same derivation printed for that library; see codegen.backends)."""
    return module_source(net, dtype_of(dtype), backend_of(backend))

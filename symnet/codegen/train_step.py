"""The generated `train_step(params, X, Y, lr, state=None)`: forward, loss, backward and the
SGD update in one function; and `loss_and_grads_into(params, X, Y)`, loss_and_grads' own
numbers computed into kept arrays (`grads_into_function`).

NumPy and CuPy: the statements of loss_and_grads computed into preallocated buffers
(`codegen.inplace`), the learning rate folded into the backward seed where every backward
equation is linear in it (`_seeds`); PyTorch: the same statements under `torch.no_grad()` and
`p.sub_(dp, alpha=lr)`; JAX: a pure function compiled by `jax.jit` that returns the new
parameters. With dropout the step is loss_and_grads (which draws the masks) then sgd_step.
"""

from __future__ import annotations

import ast

import sympy as sp

from ..algebra.matexpr import Elementwise, SumEntries
from ..algebra.recurrent import recurrent_code
from ..nn.embedding import index_vocab
from .inplace import Info, Lowering, names_in, seed_scaled, shift_only_maxima
from .logits import logit_domain
from .printer import comment_text


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


def train_step_function(d, full, params, xp, norms, guard, net, masks, update_post) -> str:
    """`train_step(params, X, Y, lr, state=None)`: see the module docstring. `full` is the
    printed block of loss_and_grads, `update_post` its lines updating BatchNorm's running
    statistics."""
    if masks:  # dropout: loss_and_grads draws the masks (or takes them), then the update
        return "\n".join([
            "def train_step(params, X, Y, lr, state=None, masks=None):",
            '    """One step of gradient descent, in place: returns L and sets θ ← θ − lr ∂L/∂θ '
            'for\n    every parameter (with dropout: loss_and_grads, then sgd_step; fresh masks '
            'unless given)."""',
            "    L, grads = loss_and_grads(params, X, Y, state=state, masks=masks)",
            "    sgd_step(params, grads, lr)",
            "    return L"])
    shapes = dict(d.tape.shapes)
    forward, _, backward = logit_domain(d)
    _, backward = recurrent_code(forward, backward)  # the equations `full` printed
    seeds, scaled = _seeds(backward)
    # ∂L/∂X, when the derivation has it, updates nothing: the step leaves it out
    inputs = {eq.name for eq in backward if eq.kind == "input"}
    statements = [s for s in full.statements if s.target not in inputs]
    grad_of = {p: f"d{p}" for p in params}
    kept = {n for k, *_ in norms for n in (f"mu{k}", f"V{k}")}
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
    if xp.prefix == "np":  # (CuPy: the comparison would wait for the device at every step)
        low.unshifted = shift_only_maxima(statements, names_in("\n".join(update_post)) | kept)
    # liveness over the items: statements, then the post lines (state update) and the return
    updates_after = {}
    for p, i in at.items():
        updates_after.setdefault(i, []).append(p)
    dying = _dying(statements, names_in("\n".join(update_post)) | {"L"} | kept,
                   read_at={grad_of[p]: i for p, i in at.items()}, never=set(grad_of.values()))
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


_EXP_BOUND = '''\
def _exp_bound(dtype, n):
    """T² for rows of n logits: where Σz² < T², every e^z and every row's sum of n of them is a
    normal number of `dtype` (1 to spare), so softmax and log-sum-exp need no shift by the
    row maximum."""
    info = np.finfo(dtype)
    T = min(np.log(info.max / n), -np.log(info.tiny)) - 1
    return float(T * T)

'''


def grads_into_function(d, full, params, xp, norms, guard, net, masks) -> str:
    """`loss_and_grads_into(params, X, Y)`: the statements of loss_and_grads computed into
    arrays kept between calls (per thread, batch size and dtype), in `Lowering`'s exact mode:
    the same numbers bit for bit, each gradient a new array. What `Model.loss_and_grads` runs
    after its checks. NumPy only, and not with BatchNorm (state), dropout (masks) or Embedding
    (integer X): then ""."""
    if xp.name != "numpy" or norms or masks or index_vocab(net):
        return ""
    shapes = dict(d.tape.shapes)
    names = [*params, *(["X"] if any(s.target == "dX" for s in full.statements) else [])]
    returned = {f"d{p}" for p in names}
    env = {"B": Info((), "s"), "X": Info(("B", net.n_in), "f"),
           "Y": Info(("B", net.n_out), "f")}
    env.update({p: Info(tuple(shapes[p]), "f") for p in params})
    low = Lowering(xp.prefix, env, exact=True)
    # X and the parameters multiplied by `@`: checked C-contiguous and aligned at the start
    # (else loss_and_grads runs), so that dot may replace `@` (Lowering.__init__)
    multiplied = _matmul_operands(full.statements) & {"X", *params}
    low.behaved |= multiplied
    dying = _dying(full.statements, returned | {"L"})
    for i, s in enumerate(full.statements):
        low.statement(s.target, s.code, s.comment, dying.get(i, []), fresh=s.target in returned)
    grads = "{" + ", ".join(f'"{p}": d{p}' for p in names) + "}"
    body = [*low.lines, f"return L, {grads}"]
    used = names_in("\n".join(body))
    head = [f'{p} = params["{p}"]' for p in params if p in used]
    if multiplied:
        behaved = " and ".join(f"{a}.flags.carray" for a in sorted(multiplied))
        head += [f"if not ({behaved}):", "    return loss_and_grads(params, X, Y)"]
    head += ["B = X.shape[0]", f"if getattr(Y, \"shape\", None) != (B, {net.n_out}):",
             "    Y = _targets(X, Y)"]
    if low.buffers:
        listed = ", ".join(b.name for b in low.buffers) + ("," if len(low.buffers) == 1 else "")
        head += ["thread = get_ident()",
                 f"{listed} = (_BUFFERS_INTO.get((B, X.dtype, thread))"
                 " or _buffers_into(B, X.dtype, thread))"]
    allocate = _buffers_function(low.buffers, xp, into=True)
    function = "\n".join([
        "def loss_and_grads_into(params, X, Y):",
        '    """loss_and_grads(params, X, Y) computed into arrays kept between calls (per thread,',
        "    batch size and dtype): the same statements and numbers, each gradient a new array,",
        '    without allocating the intermediate ones. What symnet\'s checked API calls."""',
        *(f"    {line}" for line in [*guard, *head, *body])])
    return allocate + "\n\n\n" + function


def _dying(statements, live_to_end, read_at=None, never=()) -> dict[int, list[str]]:
    """{i: the names whose last use is statement i}: each name's last read among `statements`,
    or later where `read_at` (name → index) says; the names of `live_to_end` that a statement
    defines are used after the last one, those in `never` never die."""
    last_use = {}
    for i, s in enumerate(statements):
        for n in names_in(s.code):
            last_use[n] = i
    for n, i in (read_at or {}).items():
        last_use[n] = max(last_use.get(n, i), i)
    defined = {s.target for s in statements}
    for n in live_to_end & defined:
        last_use[n] = len(statements)
    dying = {}
    for n, j in last_use.items():
        if n not in never:
            dying.setdefault(j, []).append(n)
    return dying


def _matmul_operands(statements) -> set[str]:
    """The names that are an operand of `@` in `statements`, as themselves or transposed."""
    out = set()
    for s in statements:
        for n in ast.walk(ast.parse(s.code, mode="eval")):
            if isinstance(n, ast.BinOp) and isinstance(n.op, ast.MatMult):
                for side in (n.left, n.right):
                    if isinstance(side, ast.Attribute) and side.attr == "T":
                        side = side.value
                    if isinstance(side, ast.Name):
                        out.add(side.id)
    return out


def _buffers_function(buffers, xp, into: bool = False) -> str:
    dims = {"B": "B"}
    shapes = []
    for b in buffers:
        shape = "(" + ", ".join(dims.get(d, str(d)) if isinstance(d, str) else str(d)
                                for d in b.shape) + ("," if len(b.shape) == 1 else "") + ")"
        kind = "bool" if b.kind == "b" else "dtype"
        if b.kind == "0" and b.value is not None:
            shapes.append(f"        {xp.prefix}.full((), {b.value!r}, dtype),")
            continue
        if b.kind == "T":
            shapes.append(f"        _exp_bound(dtype, {b.value}),")
            continue
        make = "ones" if b.kind == "1" else "empty"
        shapes.append(f"        {xp.prefix}.{make}({shape}, {kind}),")
    bound = [_EXP_BOUND] if any(b.kind == "T" for b in buffers) else []
    if into:
        table, name, args, key = "_BUFFERS_INTO", "_buffers_into", "B, dtype, thread", \
            "(B, dtype, thread)"
        what = ("(batch size, dtype, thread) → the arrays loss_and_grads_into computes into",
                "The arrays of loss_and_grads_into (batch size B, one thread)")
    else:
        table, name, args, key = "_BUFFERS", "_buffers", "B, dtype", "(B, dtype)"
        what = ("(batch size, dtype) → the arrays train_step computes into",
                "The arrays of train_step for batch size B")
    return "\n".join([
        *bound,
        f"{table} = {{}}  # {what[0]}",
        "",
        "",
        f"def {name}({args}):",
        f'    """{what[1]}, allocated once and reused."""',
        f"    if len({table}) >= 8:",
        f"        {table}.clear()",
        f"    buffers = {table}[{key}] = (",
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


__all__ = ["grads_into_function", "train_step_function"]

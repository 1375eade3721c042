"""The user's layer (`verify_layer`'s subject) as functions of its floating-point array
arguments, in any of the conventions `layer` describes: which convention a pair of functions
follows, how it is called at a point, what its backward returns, and by which name.

Object layers (`.forward`/`.backward`, parameters as attributes) add `layer_object`'s
parameter access.
"""

from __future__ import annotations

import copy
import inspect

import numpy as np

from ..errors import DataError
from .finite_diff import call_user
from .layer_object import ObjectParameters, is_float_array


def is_layer_object(obj) -> bool:
    return (not inspect.isroutine(obj) and not inspect.isclass(obj)
            and callable(getattr(obj, "forward", None))
            and callable(getattr(obj, "backward", None)))


def _name_of(fn) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__


def _n_positional(fn):
    """(least, most) positional arguments `fn` takes; most is None for *args, and both are
    None where the signature is unknown."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None, None
    least = most = 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return least, None
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            most += 1
            least += p.default is p.empty
    return least, most


def _takes(fn, n) -> bool | None:
    """Can `fn` take n positional arguments? None where its signature is unknown."""
    least, most = _n_positional(fn)
    if least is None:
        return None
    return least <= n and (most is None or n <= most)


def _slot_names(fn, args, kwargs):
    """A name for each positional argument of the call fn(*args, **kwargs): the parameter it
    binds to, `rest[i]` for one gathered by *rest, `arg{i}` where the signature is unknown."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return [f"arg{i}" for i in range(len(args))]
    names, i = [], 0
    for p in params:
        if i >= len(args):
            break
        if p.kind == p.VAR_POSITIONAL:
            names += [f"{p.name}[{j}]" for j in range(len(args) - i)]
            i = len(args)
            break
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
            i += 1
    names += [f"arg{j}" for j in range(i, len(args))]  # more than the signature takes
    return names


class UserLayer(ObjectParameters):
    """The user's layer as functions of its floating-point array arguments: `loss(point)` is
    ⟨forward, dout⟩ and `grads(point)` what the backward pass returns, by argument name. Every
    call is counted (`n_forward`) and gets copies, so nothing the user's code does to its
    inputs carries over."""

    def __init__(self, forward, backward, args, kwargs, *, convention=None, wrt=None,
                 forward_name=None, backward_name=None, slot_names=None):
        self.forward, self.backward = forward, backward
        self.args, self.kwargs = tuple(args), dict(kwargs)
        self.convention = convention
        self.notes: list[str] = []
        self.n_forward = 0
        self.n_backward = 0
        self._restore = []
        self.obj = forward if convention == "object" else None
        if self.obj is not None:
            self.forward, self.backward = self.obj.forward, self.obj.backward
            forward_name = forward_name or f"{type(self.obj).__name__}.forward"
            backward_name = backward_name or f"{type(self.obj).__name__}.backward"
        elif backward is None and convention in (None, "loss"):
            self.convention = "loss"
        self.forward_name = forward_name or _name_of(self.forward)
        self.backward_name = backward_name or (_name_of(self.backward) if self.backward else "")
        self.subject = (f"{self.forward_name}/{self.backward_name}" if self.backward_name
                        and self.obj is None else self.forward_name.replace(".forward", "")
                        if self.obj is not None else self.forward_name)
        slots = list(slot_names) if slot_names else _slot_names(self.forward, self.args,
                                                                   self.kwargs)
        self.slots = list(zip(slots, self.args))  # (name, value) of each positional argument
        if len(set(slots) | set(self.kwargs)) < len(slots) + len(self.kwargs):
            raise DataError(f"{self.forward_name} got an argument twice (positionally and by "
                            "keyword)")
        floats = [(n, v) for n, v in [*self.slots, *self.kwargs.items()] if is_float_array(v)]
        self.float_args = [n for n, _ in floats]  # what the backward returns gradients for
        self.point = {n: v for n, v in floats}
        self.param_access = {}  # object layers: name → (get, set) of each parameter
        if self.obj is not None:
            self._find_parameters()
        names = [*self.float_args, *self.param_access]
        if wrt is not None:
            wrt = [wrt] if isinstance(wrt, str) else list(wrt)
            unknown = [w for w in wrt if w not in names]
            if unknown:
                raise DataError(f"wrt names {unknown}, which are not floating-point array "
                                f"arguments of {self.forward_name}; those are {names}")
            names = wrt
        if not names:
            raise DataError(f"{self.forward_name} has no floating-point array argument to check "
                            "(convert lists with np.asarray, framework tensors with "
                            "verify_function)")
        self.names = names
        self.point = {n: (self.point[n] if n in self.point else self.param_access[n][0]())
                      for n in names}
        first = self.point[names[0]] if names[0] in self.float_args else next(
            (v for n, v in self.point.items() if n in self.float_args), None)
        self.batch = int(first.shape[0]) if first is not None and first.ndim >= 1 else None
        for n, v in self.point.items():
            if not np.all(np.isfinite(v)):
                raise DataError(f"{n} contains NaN/inf; verify_layer needs finite inputs")

    def point_value(self, name):
        """The value the user gave for argument `name` (checked or not)."""
        if name in self.point:
            return self.point[name]
        return dict([*self.slots, *self.kwargs.items()])[name]

    # ── how it is named in messages ──
    def describe_forward(self) -> str:
        args = ", ".join([n for n, _ in self.slots] + [f"{k}=…" for k in self.kwargs])
        return f"{self.forward_name}({args})"

    def describe_backward(self) -> str:
        if self.convention == "loss":
            return f"{self.forward_name} (its gradients)"
        if self.convention == "object":
            return f"{self.backward_name}(dout)"
        if self.convention == "args":
            return f"{self.backward_name}(dout, …)"
        return f"{self.backward_name}(dout, cache)"

    # ── the call at a point ──
    def _call_args(self, point):
        args = [point[n] if n in point and n in self.float_args else copy.deepcopy(v)
                for n, v in self.slots]
        kwargs = {k: point[k] if k in point and k in self.float_args else copy.deepcopy(v)
                  for k, v in self.kwargs.items()}
        return args, kwargs

    def _run_forward(self, point):
        """The raw result of forward at `point` (object layers: parameters set first)."""
        self.n_forward += 1
        if self.obj is not None:
            for n, (_, put) in self.param_access.items():
                if n in point:
                    put(point[n])
        args, kwargs = self._call_args(point)
        return call_user(self.forward, self.describe_forward(), *args, **kwargs)

    def start(self, rng, dout=None):
        """Find the convention and the outputs from a first call, and draw dout."""
        r = self._run_forward(self.point)
        if self.convention is None:
            self.convention = self._convention_of(r)
        outs = self._outputs_of(r, first=True)
        self.out_shapes = [np.shape(o) for o in outs]
        if self.convention == "loss":
            if dout is not None:
                raise DataError("a loss layer (backward=None) has no dout: its gradients are "
                                "those of the loss itself")
            self.douts = (np.float64(1.0),)
            return
        if dout is None:
            self.douts = tuple(rng.standard_normal(np.shape(o)).astype(o.dtype) for o in outs)
        else:
            self.douts = self._given_douts(dout, outs)
        if self.obj is not None:  # which array attributes are parameters: those with a gradient
            self.settle_parameters(self.grads(self.point))

    def _given_douts(self, dout, outs):
        given = tuple(dout) if isinstance(dout, tuple | list) else (dout,)
        if len(given) != len(outs):
            raise DataError(f"dout has {len(given)} arrays but {self.forward_name} returns "
                            f"{len(outs)} outputs")
        douts = []
        for i, (d, o) in enumerate(zip(given, outs)):
            d = np.asarray(d)
            if d.shape != np.shape(o):
                raise DataError(f"dout{'' if len(outs) == 1 else f'[{i}]'} has shape {d.shape}, "
                                f"the output has shape {np.shape(o)}")
            douts.append(d.astype(o.dtype))
        return tuple(douts)

    def _convention_of(self, r) -> str:
        if not isinstance(r, tuple | list):
            return "args"
        takes = _takes(self.backward, len(r))
        if takes:
            return "cache"
        if _takes(self.backward, 1 + len(self.args)) and all(is_float_array(o) for o in r):
            return "args"
        if takes is None and len(r) >= 2:
            return "cache"
        least, most = _n_positional(self.backward)
        n = str(least) if least == most else f"{least} to {most if most is not None else 'any'}"
        raise DataError(
            f"{self.forward_name} returns {len(r)} values and {self.backward_name} takes "
            f"{n} arguments, which fits no convention: forward(*args) -> (out, cache) with "
            "backward(dout, cache) (cs231n), or forward(*args) -> out with backward(dout, "
            "*args); say which with convention='cache' or 'args'")

    def _outputs_of(self, r, first=False):
        """The outputs (a tuple of arrays) in a raw forward result; the cache is kept aside."""
        what = self.describe_forward()
        if self.convention == "cache":
            if not isinstance(r, tuple | list) or len(r) < 2:
                raise DataError(f"{what} returned {type(r).__name__}; in the cs231n convention "
                                "it returns (out, cache)")
            outs, self._cache = tuple(r[:-1]), r[-1]
        elif self.convention == "loss":
            if not isinstance(r, tuple | list) or len(r) != 2:
                raise DataError(f"{what} returned {type(r).__name__}; a loss layer "
                                "(backward=None) returns (loss, grads)")
            outs, self._grads = (r[0],), r[1]
            value = np.asarray(r[0])
            if value.size != 1:
                raise DataError(f"{what} returned a loss of shape {value.shape}; a loss layer "
                                "(backward=None) returns (scalar loss, grads)")
        else:
            outs = tuple(r) if isinstance(r, tuple | list) else (r,)
        arrays = []
        for i, o in enumerate(outs):
            if o is None:
                raise DataError(f"{what} returned None as output {i} (not implemented yet?)")
            a = np.asarray(o)
            if a.dtype == object or not np.issubdtype(a.dtype, np.number):
                raise DataError(f"{what} returned a {type(o).__name__} as output {i}: outputs "
                                "must be numeric arrays")
            if not first and a.shape != self.out_shapes[i]:
                raise DataError(f"{what} returned an output of shape {a.shape} at one point "
                                f"and {self.out_shapes[i]} at another")
            arrays.append(a)
        if first:
            for i, a in enumerate(arrays):
                if not np.issubdtype(a.dtype, np.floating) and self.convention != "loss":
                    raise DataError(f"output {i} of {what} has dtype {a.dtype}: a layer's "
                                    "outputs must be floating point to have a gradient")
        return tuple(arrays)

    def outputs(self, point):
        return self._outputs_of(self._run_forward(point))

    def loss(self, point, X=None, Y=None):
        """⟨forward(point), dout⟩: the scalar whose gradient the backward pass computes."""
        outs = self.outputs(point)
        if self.convention == "loss":
            return np.asarray(outs[0]).reshape(())
        return sum(np.sum(o * d) for o, d in zip(outs, self.douts))

    def grads(self, point, X=None, Y=None, douts=None):
        """{name: gradient} from the user's backward at `point` (for `douts`, default the
        drawn ones), called on copies."""
        douts = self.douts if douts is None else douts
        r = self._run_forward(point)
        self._outputs_of(r)
        what = self.describe_backward()
        self.n_backward += 1
        d = [np.array(x, copy=True) for x in douts]
        if self.convention == "loss":
            returned = self._grads
            return self._assign(returned, what)
        if self.convention == "cache":
            returned = call_user(self.backward, what, *d, self._cache)
            return self._assign(returned, what)
        if self.convention == "args":
            args, kwargs = self._call_args(point)
            returned = call_user(self.backward, what, d[0] if len(d) == 1 else tuple(d),
                                 *args, **kwargs)
            return self._assign(returned, what)
        for n in self.param_access:  # object: fresh gradient slots
            self._zero_grad(n)
        returned = call_user(self.backward, what, d[0] if len(d) == 1 else tuple(d))
        g = self._assign(returned, what, allow_none=True) if returned is not None else {}
        for n in self.param_access:
            if n in self.names:
                value = self._grad_of(n)
                if value is not None:
                    g[n] = np.array(value, copy=True)
        return g

    def _assign(self, returned, what, allow_none=False) -> dict:
        """The backward's result as {name: gradient}: a tuple in the order of the floating-
        point arguments (or of all positional arguments), one array for one argument, or a
        dict keyed by the arguments' names (or by 'd' + name)."""
        floats = self.float_args
        if isinstance(returned, dict):
            out = {}
            for n in floats:
                for key in (n, f"d{n}", f"d_{n}", f"grad_{n}"):
                    if key in returned:
                        out[n] = returned[key]
                        break
            return {n: v for n, v in out.items() if n in self.names and v is not None}
        if isinstance(returned, tuple | list):
            values = list(returned)
            if len(values) == len(floats):
                pairs = zip(floats, values)
            elif len(values) == len(self.slots) + len(self.kwargs):
                pairs = [(n, v) for (n, _), v in zip([*self.slots, *self.kwargs.items()], values)
                         if n in floats]
            else:
                raise DataError(
                    f"{what} returned {len(values)} values; it must return one gradient per "
                    f"floating-point array argument of {self.forward_name}, in order: "
                    f"{', '.join('d' + n for n in floats)}")
        elif len(floats) == 1 or (self.obj is not None and floats):
            pairs = [(floats[0], returned)]
        else:
            raise DataError(f"{what} returned a {type(returned).__name__}; it must return one "
                            f"gradient per floating-point array argument, in order: "
                            f"({', '.join('d' + n for n in floats)})")
        return {n: v for n, v in pairs if n in self.names and v is not None}

    def restore(self):
        for undo in self._restore:
            undo()


__all__ = ["UserLayer", "is_layer_object"]

"""A layer object's parameters: the arrays `verify_layer` checks beside the inputs when the
layer is an object with `.forward(*args)` and `.backward(dout)` (the "object" convention).

Its parameters are found as from-scratch frameworks store them: a `params` dict or list with
`grads` beside it, floating-point array attributes with a gradient attribute (dW, grad_W,
W_grad) after a backward pass, or objects with `.data` and `.grad`. `ObjectParameters` is the
part of `user_layer.UserLayer` that reads and sets them.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError


def is_float_array(v) -> bool:
    return isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating)


class ObjectParameters:
    """UserLayer's access to an object layer's parameters: `param_access` ({name: (get,
    set)}), their gradients after a backward pass, and their original values put back at the
    end (`_restore`). Uses UserLayer's `obj`, `slots`, `float_args`, `names`, `point` and
    `notes`."""

    GRAD_NAMES = ("d{}", "d_{}", "grad_{}", "{}_grad", "grad{}", "g{}")

    def _find_parameters(self):
        """The parameters of a layer object, with a getter and a setter each: its `params`
        dict or list (with `grads` beside it), or its floating-point array attributes that
        have a gradient attribute (dW, grad_W, W_grad) after a backward pass, or objects with
        `.data` and `.grad` (from-scratch frameworks' Parameter)."""
        obj = self.obj
        taken = set(self.float_args) | {n for n, _ in self.slots}
        params = getattr(obj, "params", None)
        access = {}
        if isinstance(params, dict):
            for k, v in params.items():
                if is_float_array(v) and k not in taken:
                    access[k] = (lambda k=k: params[k], lambda a, k=k: params.__setitem__(k, a))
            self._grad_source = "dict"
        elif isinstance(params, list):
            for i, v in enumerate(params):
                if is_float_array(v):
                    access[f"params[{i}]"] = (lambda i=i: params[i],
                                              lambda a, i=i: params.__setitem__(i, a))
            self._grad_source = "list"
        else:
            self._grad_source = "attr"
            attrs = vars(obj) if hasattr(obj, "__dict__") else {}
            plain = {k for k, v in attrs.items() if is_float_array(v)}
            grads = {f.format(k) for k in plain for f in self.GRAD_NAMES}
            for k, v in attrs.items():
                if k.startswith("_") or k in taken or k in grads:
                    continue
                if is_float_array(v):
                    access[k] = (lambda k=k: getattr(obj, k),
                                 lambda a, k=k: setattr(obj, k, a))
                elif is_float_array(getattr(v, "data", None)) and hasattr(v, "grad"):
                    access[k] = (lambda v=v: v.data, lambda a, v=v: setattr(v, "data", a))
        self._originals = {k: get() for k, (get, _) in access.items()}
        self._restore.append(self._put_back)
        self.param_access = access
        # Only those with a gradient after a backward pass are parameters (running
        # statistics, masks and caches are arrays too): `settle_parameters` keeps those.

    def _put_back(self):
        for k, (_, put) in self.param_access.items():
            put(self._originals[k])

    def _grad_of(self, name):
        obj = self.obj
        if self._grad_source in ("dict", "list"):
            grads = getattr(obj, "grads", None)
            if self._grad_source == "list":
                i = int(name[len("params["):-1])
                return grads[i] if isinstance(grads, list | tuple) and i < len(grads) else None
            if isinstance(grads, dict):
                for key in (name, f"d{name}"):
                    if key in grads:
                        return grads[key]
            return None
        v = getattr(obj, name, None)
        if hasattr(v, "grad") and is_float_array(getattr(v, "data", None)):
            return v.grad
        grads = getattr(obj, "grads", None)
        if isinstance(grads, dict):
            for key in (name, f"d{name}"):
                if key in grads:
                    return grads[key]
        for f in self.GRAD_NAMES:
            g = getattr(obj, f.format(name), None)
            if g is not None and np.ndim(g) == np.ndim(self._originals[name]):
                return g
        return None

    def _zero_grad(self, name):
        v = getattr(self.obj, name, None) if self._grad_source == "attr" else None
        if hasattr(v, "grad") and is_float_array(getattr(v, "data", None)):
            v.grad = np.zeros_like(v.data)

    def settle_parameters(self, g):
        """After the first backward of an object layer: keep as parameters only the arrays
        that got a gradient."""
        dropped = [n for n in self.param_access if n not in g]
        unreturned = [n for n in self.names if n in self.float_args and n not in g]
        for n in unreturned:  # backward returned nothing for this input (None: a first layer)
            self.names = [m for m in self.names if m != n]
            self.point.pop(n, None)
        if unreturned:
            self.notes.append(f"{', '.join(unreturned)}: {self.backward_name} returned no "
                              "gradient for this input, not checked")
        for n in dropped:
            self.param_access.pop(n)
            self.names = [m for m in self.names if m != n]
            self.point.pop(n, None)
        if dropped:
            self.notes.append(f"{', '.join(dropped)}: array attributes with no gradient after "
                              "backward (buffers or caches), not checked")
        if not self.names:
            raise DataError(f"{self.forward_name}: nothing to check (no input gradient returned "
                            "by backward, and no parameter with a gradient)")


__all__ = ["ObjectParameters", "is_float_array"]

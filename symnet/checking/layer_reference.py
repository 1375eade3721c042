"""The truth of `verify_layer(…, reference=layer)`: symnet's own rule for one layer it knows.

The layer is derived as a one-layer network whose loss is ⟨out, dout⟩ (`Inner`, an
element-wise loss with ℓ(x, y) = x·y summed, so ∂L/∂out = dout exactly), with the input
gradient asked for (`derive(…, input_gradient=True)`: the equation dX, kind "input"). A Dense
layer is the network itself; an activation, a softmax or a normalization comes after a Dense
layer fixed at W = I, b = 0, which passes X through unchanged, and ∂L/∂X through as well.
The derivation is generated into NumPy by the code generator that `sn.compile` uses, and run
in float64, as `verify(net=…)` runs its reference.

The user's floating-point arguments are, in order, the layer's input and its parameters
(x, w, b for Dense; x, gamma, beta for BatchNorm and LayerNorm; x alone for an activation);
x of more than two axes is flattened as cs231n's affine layer flattens it (LayerNorm: over the
last axis). The user's forward must compute the same function: it is compared with the
layer's own at the point, so a different eps is an error that says so, not a wrong gradient.
"""

from __future__ import annotations

import numpy as np

from ..algebra.functions import x, y
from ..derivation.chain import derive
from ..errors import DataError
from ..nn.activation import Activation
from ..nn.layers import Dense, Softmax
from ..nn.losses import ElementwiseLoss
from ..nn.network import Network
from ..nn.normalization import _Normalization


class Inner(ElementwiseLoss):
    """L = Σ A ⊙ Y: the pairing ⟨out, dout⟩ of a layer check, with Y = dout."""

    name, label = "inner", "⟨·,·⟩"

    def __init__(self):
        super().__init__(reduction="sum")

    def formula(self):
        return x * y


KNOWN = "Dense, an activation (ReLU(), Sigmoid(), …), Softmax(), BatchNorm(n) or LayerNorm(n)"


class LayerReference:
    """Callable (params, X, Y) -> (L, {name: exact gradient}) for the user's names."""

    def __init__(self, layer, user, params):
        if isinstance(layer, type):
            try:
                layer = layer()
            except TypeError:
                raise DataError(f"reference={layer.__name__} needs its sizes: e.g. "
                                f"{layer.__name__}(n)") from None
        self.layer, self.user = layer, user
        self.names = list(user.float_args)  # input, then parameters, in forward's order
        if user.convention == "loss" or len(user.out_shapes) != 1:
            raise DataError("reference= checks a layer with one output against symnet's rule; "
                            f"{user.forward_name} is a loss or has several outputs")
        x0 = np.asarray(params.get(self.names[0], user.point.get(self.names[0])))
        self.x_shape = x0.shape
        self.network, self.fixed = self._network(layer, x0)
        self.derivation = derive(self.network, input_gradient=True)
        self._fn = _generated(self.derivation)
        self._compare(params)

    # ── the network around the layer ──
    def _network(self, layer, x0):
        given = self.names[1:]
        if isinstance(layer, Dense):
            want = 2 if layer.bias else 1
            if len(given) != want:
                raise DataError(f"reference={layer!r} takes x, w{', b' if layer.bias else ''}; "
                                f"{self.user.forward_name} has floating-point arguments "
                                f"{self.names}")
            w = self.user.point.get(given[0]) if given[0] in self.user.point else None
            n_in = int(np.prod(x0.shape[1:]))
            if n_in != layer.n_in or (w is not None and np.shape(w) != (layer.n_in, layer.n_out)):
                raise DataError(f"reference={layer!r} expects x with {layer.n_in} features and "
                                f"w of shape ({layer.n_in}, {layer.n_out}); got x {x0.shape}"
                                + (f", w {np.shape(w)}" if w is not None else ""))
            return Network([layer], loss=Inner()), {}
        if isinstance(layer, _Normalization):
            if len(given) != 2:
                raise DataError(f"reference={layer!r} takes x, gamma, beta; "
                                f"{self.user.forward_name} has floating-point arguments "
                                f"{self.names}")
            n = layer.n
            if x0.shape[-1] != n or (layer.over == "batch" and x0.ndim != 2):
                raise DataError(f"reference={layer!r} normalizes {n} features of x shaped "
                                f"(N, {n}); got x {x0.shape}")
        elif isinstance(layer, Activation | Softmax):
            if given:
                raise DataError(f"reference={layer!r} takes x alone; {self.user.forward_name} "
                                f"has floating-point arguments {self.names}")
            if getattr(layer, "symbols", ()):
                raise DataError("reference= takes activations without learned scalars")
            if isinstance(layer, Softmax) and x0.ndim != 2:
                raise DataError(f"reference=Softmax() takes x shaped (N, D); got {x0.shape}")
            n = int(np.prod(x0.shape[1:])) if x0.ndim > 1 else 1
        else:
            raise DataError(f"reference= must be a symnet layer: {KNOWN}; got {layer!r}")
        net = Network([Dense(n, n), layer], loss=Inner())
        return net, {"W1": np.eye(n), "b1": np.zeros(n)}

    def _rows(self, a):
        """x (or dout) as the 2-D matrix the network takes."""
        a = np.asarray(a, dtype=np.float64)
        if isinstance(self.layer, _Normalization) and self.layer.over == "features":
            return a.reshape(-1, a.shape[-1])
        return a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(-1, 1)

    def _net_params(self, params):
        p = dict(self.fixed)
        names = list(self.derivation.params)
        values = [params[n] if n in params else self.user.point_value(n) for n in self.names[1:]]
        for net_name, v in zip([n for n in names if n not in self.fixed], values):
            p[net_name] = np.asarray(v, dtype=np.float64)
        return p

    def evaluate(self, params):
        X = self._rows(params[self.names[0]] if self.names[0] in params
                       else self.user.point_value(self.names[0]))
        Y = self._rows(self.user.douts[0])
        return self._fn(self._net_params(params), X, Y)

    def __call__(self, params, X=None, Y=None):
        L, _, grads = self.evaluate(params)
        out = {self.names[0]: grads.pop("X").reshape(self.x_shape)}
        free = [n for n in self.derivation.params if n not in self.fixed]
        for user_name, net_name in zip(self.names[1:], free):
            out[user_name] = grads[net_name]
        return float(L), {k: v for k, v in out.items() if k in params}

    def _compare(self, params):
        """The user's forward against the layer's own at the point: a different layer (or
        eps) is an error, before any gradient is judged."""
        _, out, _ = self.evaluate(params)
        point = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
        mine = np.asarray(self.user.outputs(point)[0], dtype=np.float64)
        mine = self._rows(mine) if mine.size == out.size else mine
        if mine.shape != out.shape:
            raise DataError(f"{self.user.forward_name} returns shape "
                            f"{self.user.out_shapes[0]}; {self.layer!r} gives {out.shape}")
        err = np.abs(mine - out)
        tol = 1e-9 * (np.abs(out) + np.mean(np.abs(out))) + 1e-12
        if np.any(err > tol):
            i = np.unravel_index(int(np.argmax(err / tol)), err.shape)
            raise DataError(
                f"{self.user.forward_name} is not {self.layer!r} at this point: its output "
                f"differs by up to {float(err.max()):.3g} (at {tuple(map(int, i))}: "
                f"{mine[i]:.10g} vs {out[i]:.10g}). Give the reference the same layer "
                "(sizes, eps) that your forward computes.")

    def describe(self) -> str:
        """The layer's backward equations as symnet derives them, with ∂L/∂out = dout (for
        the report's notes)."""
        from sympy import MatrixSymbol, preorder_traversal

        from ..algebra.matexpr import Elementwise
        from ..algebra.notation import unicode_expr

        d = self.derivation
        upstream = {node: MatrixSymbol("dout", *node.shape)
                    for eq in d.backward for node in preorder_traversal(eq.rhs)
                    if isinstance(node, Elementwise) and node.fn == self.network.loss.ell_prime}
        lines = []
        for eq in d.backward:
            if self.fixed and eq.name in ("dW1", "db1"):
                continue  # the fixed W = I, b = 0 in front of the layer
            rhs = eq.rhs.xreplace(upstream)
            if self.fixed and eq.kind == "input":  # δ1 W1ᵀ with W1 = I
                rhs = MatrixSymbol("dZ1", *eq.lhs.shape)
            lines.append(f"{unicode_expr(eq.lhs)} = {unicode_expr(rhs)}")
        return "; ".join(lines)


def _generated(d):
    """A NumPy function (params, X, Y) -> (L, output, {"X": dX, name: dname}) printed from
    derivation `d` by the code generator."""
    from ..codegen.loader import load_source
    from ..codegen.module import RESERVED, _function, probability_fns
    from ..codegen.printer import Context, print_function

    shapes = dict(d.tape.shapes)
    context = Context(probability_fns(d.network), {k: len(v) for k, v in shapes.items()})
    params = list(d.params)
    block = print_function(context, (*d.forward, d.loss, *d.backward), {*RESERVED, *params})
    out = d.forward[-1].name
    grads = ", ".join(['"X": dX', *(f'"{p}": d{p}' for p in params)])
    function = _function("reference", "params, X, Y", "L, the layer's output, the gradients.",
                         block, f"L, {out}, {{{grads}}}", params)
    helpers = "".join(h.rstrip("\n") + "\n\n\n" for h in context.helper_functions())
    module = load_source(f"import numpy as np\n\n\n{helpers}{function}\n", "symnet_layer_ref")
    return module.reference


__all__ = ["Inner", "LayerReference"]

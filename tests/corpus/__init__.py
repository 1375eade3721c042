"""The corpus: hand-written backprop implementations, correct and buggy, each with what a checker
must say about it. `CORRECT` must pass; each `BUGGY` case must fail on exactly `wrong` (verdict
per parameter) with a diagnosis containing `says` (when given)."""

from dataclasses import dataclass, field

import numpy as np

from .mlp import make_data, make_mlp


@dataclass
class Case:
    id: str
    mlp: dict = field(default_factory=dict)  # make_mlp options
    data: dict = field(default_factory=dict)  # make_data options
    wrong: dict = field(default_factory=dict)  # {param: verdict}; the rest must pass
    says: str = ""  # substring of every wrong parameter's diagnosis
    kinks: tuple = ()  # parameters expected to get verdict "kink"

    def reference(self):
        """The correct implementation of the same network, as a `reference=` callable."""
        opts = {k: v for k, v in self.mlp.items() if k != "bug"}
        if opts.get("act") == "relu_ge":
            opts["act"] = "relu"
        loss, grads = make_mlp(**opts)
        return lambda params, X, Y: (loss(params, X, Y), grads(params, X, Y))

    def build(self):
        loss, grads = make_mlp(**self.mlp)
        kw = {"layout": self.mlp.get("layout", "in_out"), "loss": self.mlp.get("loss", "mse")}
        params, X, Y = make_data(**kw, **self.data)
        return grads, loss, params, X, Y


F32 = {"dtype": np.float32}
CORRECT = [
    Case("tanh-mse-mean"),
    Case("tanh-mse-sum", {"reduction": "sum"}),
    Case("sigmoid-ce-mean", {"act": "sigmoid", "loss": "ce"}),
    Case("sigmoid-ce-sum-torch", {"act": "sigmoid", "loss": "ce", "reduction": "sum",
                                  "layout": "torch"}),
    Case("tanh-mse-torch", {"layout": "torch"}),
    Case("relu-mse", {"act": "relu"}),
    Case("relu-ce-torch", {"act": "relu", "loss": "ce", "layout": "torch"}),
    Case("tanh-mse-l2", {"wd": 0.1}),
    Case("tanh-mse-f32", {}, F32),
    Case("sigmoid-ce-f32-torch", {"act": "sigmoid", "loss": "ce", "layout": "torch"}, F32),
    Case("relu-ce-f32", {"act": "relu", "loss": "ce"}, F32),
    Case("relu-kinks", {"act": "relu"}, {"zero_rows": 3, "zero_bias": True}, kinks=("b1",)),
    Case("relu-kinks-f32", {"act": "relu", "loss": "ce"},
         {"zero_rows": 2, "zero_bias": True, **F32}, kinks=("b1",)),
    Case("relu-kinks-other-convention", {"act": "relu_ge"}, {"zero_rows": 3, "zero_bias": True},
         kinks=("b1",)),
    Case("wide-tanh", {}, {"n_in": 20, "n_h": 40, "n_out": 10, "B": 16}),
]

ALL = {"W1": "wrong", "b1": "wrong", "W2": "wrong", "b2": "wrong"}
WIDE = {"n_in": 20, "n_h": 30, "n_out": 10, "B": 16}  # > 64 entries: localized by bisection
BUGGY = [
    Case("transposed-dW2-square", {"bug": "transposed_dW2"}, {"n_out": 6}, {"W2": "wrong"},
         "transposed"),
    Case("transposed-dW2-shape", {"bug": "transposed_dW2"}, {}, {"W2": "shape"}, "transpose"),
    Case("sum-not-mean", {"bug": "sum_not_mean"}, {}, ALL, "times too large"),
    Case("sum-not-mean-wide", {"bug": "sum_not_mean"}, WIDE, ALL, "times too large"),
    Case("B-minus-1", {"bug": "B_minus_1"}, {}, ALL, "B − 1"),
    Case("B-minus-1-f32", {"bug": "B_minus_1", "loss": "ce"}, F32, ALL, "B − 1"),
    Case("mse-missing-2", {"bug": "mse_no_2"}, {}, ALL, "factor 2 is missing"),
    Case("sign", {"bug": "sign", "loss": "ce", "act": "sigmoid"}, {}, ALL, "wrong sign"),
    Case("sign-wide", {"bug": "sign"}, WIDE, ALL, "wrong sign"),
    Case("zero-dW1", {"bug": "zero_dW1"}, {}, {"W1": "wrong"}, "all zeros"),
    Case("wrong-column", {"bug": "wrong_column"}, {}, {"W2": "wrong"}, "column(s) 1"),
    Case("wrong-column-wide", {"bug": "wrong_column"}, WIDE, {"W2": "wrong"}, "column(s) 1"),
    Case("bias-not-summed", {"bug": "bias_not_summed"}, {}, {"b2": "shape"}, "summed"),
    Case("l2-missing", {"bug": "l2_missing", "wd": 0.1}, {}, {"W1": "wrong", "W2": "wrong"},
         "L2 term is missing"),
    Case("l2-doubled", {"bug": "l2_doubled", "wd": 0.1}, WIDE, {"W1": "wrong", "W2": "wrong"},
         "counted twice"),
    Case("no-act-deriv", {"bug": "no_act_deriv"}, {}, {"W1": "wrong", "b1": "wrong"}),
    Case("act-deriv-of-A", {"bug": "act_deriv_of_A", "act": "sigmoid"}, {},
         {"W1": "wrong", "b1": "wrong"}),
    Case("act-deriv-of-A-f32", {"bug": "act_deriv_of_A", "loss": "ce"}, F32,
         {"W1": "wrong", "b1": "wrong"}),
    Case("relu-no-act-deriv", {"bug": "no_act_deriv", "act": "relu"}, WIDE,
         {"W1": "wrong", "b1": "wrong"}),
]

"""Two-class softmax heads (logits of width 2): the output bias has two entries whose true
gradient is antisymmetric, (a, −a), since softmax probabilities sum to 1."""

import numpy as np

from .case import Case
from .common import log_softmax, softmax

STYLE = "twoclass"


def two_class(bug=None, act="tanh"):
    def forward(p, X):
        z = X @ p["W1"] + p["b1"]
        h = np.tanh(z) if act == "tanh" else np.maximum(z, 0)
        return z, h, h @ p["W2"] + p["b2"]

    def loss(p, X, y):
        logits = forward(p, X)[2]
        return -np.mean(log_softmax(logits)[np.arange(len(y)), y])

    def grads(p, X, y):
        z, h, logits = forward(p, X)
        B = len(y)
        Y = np.eye(2)[y]
        if bug == "classes_swapped":
            Y = np.eye(2)[1 - y]  # BUG: label encoding flipped in the backward pass only
        dl = softmax(logits) - Y
        if bug == "forgot_minus_Y":
            dl = softmax(logits)  # BUG: − Y forgotten
        dW2 = h.T @ dl / B
        db2 = dl.sum(axis=0) / B
        if bug == "db2_no_1_over_B":
            db2 = dl.sum(axis=0)  # BUG: the /B written for dW2 only
        if bug == "db2_sign":
            db2 = -dl.sum(axis=0) / B  # BUG: sign, in the bias line only
        if bug == "last_class_skipped":
            dW2, db2 = np.zeros_like(dW2), np.zeros_like(db2)
            for k in range(1):  # BUG: range(n_classes − 1), "the last class is redundant"
                dW2[:, k] = h.T @ dl[:, k] / B
                db2[k] = dl[:, k].sum() / B
        dh = dl @ p["W2"].T / B
        if act == "tanh":
            dz = dh * (1 - h ** 2)
            if bug == "no_tanh_prime":
                dz = dh  # BUG
        else:
            dz = dh * (z > 0)
        return {"W1": X.T @ dz, "b1": dz.sum(axis=0), "W2": dW2, "b2": db2}

    return loss, grads


def make(seed, n_in=3, n_h=4, B=7):
    rng = np.random.default_rng(seed)
    p = {"W1": rng.standard_normal((n_in, n_h)), "b1": 0.1 * rng.standard_normal(n_h),
         "W2": rng.standard_normal((n_h, 2)), "b2": 0.1 * rng.standard_normal(2)}
    return p, rng.standard_normal((B, n_in)), rng.integers(0, 2, B)


def _case(name, bug=None, buggy=(), kind=None, notes="", says=None, act="tanh"):
    loss, grads = two_class(bug, act)
    return Case(name, STYLE, make, loss, grads, frozenset(buggy), kind, notes, says=says)


ALL = ("W1", "b1", "W2", "b2")
CASES = [
    _case("two_softmax"),
    _case("two_softmax_relu", act="relu"),
    _case("two_softmax_db2_no_1_over_B", "db2_no_1_over_B", {"b2"}, "scaled",
          "2-entry bias, B = 7", says="B = 7 times too large"),
    _case("two_softmax_db2_sign", "db2_sign", {"b2"}, "sign", "2-entry bias: −t = t reversed",
          says="wrong sign"),
    _case("two_softmax_forgot_minus_Y", "forgot_minus_Y", ALL, "loss_gradient_wrong"),
    _case("two_softmax_classes_swapped", "classes_swapped", ALL, "loss_gradient_wrong",
          "odd B, so the classes are never balanced (b2 would then be right)"),
    _case("two_softmax_no_tanh_prime", "no_tanh_prime", {"W1", "b1"},
          "activation_derivative_missing"),
    _case("two_softmax_last_class_skipped", "last_class_skipped", {"W2", "b2"}, "partial",
          "the second logit's column and bias entry stay 0",
          says=r"column\(s\) 1|entries 1"),
]

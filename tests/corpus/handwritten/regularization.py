"""L2 weight decay in the conventions people use: λ/2·‖W‖², λ/(2B)·‖W‖², λ·‖W‖², written as
np.sum(W**2) or as np.linalg.norm(W)**2, on all weights or on the last layer only. Biases are never
penalized. The net: tanh hidden layer, softmax cross-entropy, X (B, n_in), W (n_in, n_out)."""

import numpy as np

from .case import Case
from .common import log_softmax, softmax

STYLE = "regularization"


def l2_net(lam=0.05, convention="half", bug=None, which=("W1", "W2"), norm=False):
    """convention: "half" λ/2·‖W‖², "half_B" λ/(2B)·‖W‖², "full" λ·‖W‖²."""

    def penalty(p, B):
        sq = sum((np.linalg.norm(p[k]) ** 2 if norm else np.sum(p[k] * p[k])) for k in which)
        return {"half": lam / 2, "half_B": lam / (2 * B), "full": lam}[convention] * sq

    def forward(p, X):
        H = np.tanh(X @ p["W1"] + p["b1"])
        return H, H @ p["W2"] + p["b2"]

    def loss(p, X, Y):
        S = forward(p, X)[1]
        return -np.sum(Y * log_softmax(S)) / len(X) + penalty(p, len(X))

    def grads(p, X, Y):
        B = len(X)
        H, S = forward(p, X)
        dS = (softmax(S) - Y) / B
        dH = dS @ p["W2"].T * (1 - H ** 2)
        g = {"W1": X.T @ dH, "b1": dH.sum(0), "W2": H.T @ dS, "b2": dS.sum(0)}
        coef = {"half": lam, "half_B": lam / B, "full": 2 * lam}[convention]
        if bug == "grad_lambda":
            coef = lam  # BUG: λ·W although the penalty is λ/(2B)·‖W‖²
        if bug == "grad_half":
            coef = lam / 2  # BUG: (λ/2)·W for (λ/2)·‖W‖²
        if bug == "no_2":
            coef = lam  # BUG: λ·W for λ·‖W‖² (d/dW W² = 2W)
        for k in which:
            if bug == "missing_W1" and k == "W1":
                continue  # BUG: forgot W1's decay term
            if bug == "missing":
                continue  # BUG: forgot the decay term altogether
            g[k] = g[k] + coef * p[k]
        return g

    return loss, grads


def make(seed, n_in=4, n_h=6, n_cls=3, B=8):
    rng = np.random.default_rng(seed)
    p = {"W1": rng.standard_normal((n_in, n_h)) * 0.8, "b1": 0.1 * rng.standard_normal(n_h),
         "W2": rng.standard_normal((n_h, n_cls)) * 0.8, "b2": 0.1 * rng.standard_normal(n_cls)}
    return p, rng.standard_normal((B, n_in)), np.eye(n_cls)[rng.integers(0, n_cls, B)]


def _case(name, buggy=(), kind=None, notes="", says=None, wd=None, **kw):
    loss, grads = l2_net(**kw)
    return Case(name, STYLE, make, loss, grads, frozenset(buggy), kind, notes, says=says,
                weight_decay=wd)


LAM, B = 0.05, 8
W = ("W1", "W2")
CASES = [
    _case("l2_half", wd=LAM),
    _case("l2_half_grad_half", W, "l2_wrong", "(λ/2)·W for (λ/2)·‖W‖²", wd=LAM, bug="grad_half"),
    _case("l2_half_missing_W1", {"W1"}, "l2_missing", says="L2 term is missing", wd=LAM,
          bug="missing_W1"),
    _case("l2_half_B", wd=LAM / B, convention="half_B",
          notes="weight_decay passed as λ/B, symnet's (λ/2)‖W‖² convention"),
    _case("l2_half_B_grad_lambda", W, "l2_wrong", "λ·W for λ/(2B)·‖W‖²", wd=LAM / B,
          convention="half_B", bug="grad_lambda"),
    _case("l2_full", wd=2 * LAM, convention="full", notes="λ·‖W‖², gradient 2λ·W"),
    _case("l2_full_grad_lambda", W, "l2_wrong", "λ·W for λ·‖W‖² (the 2 forgotten)", wd=2 * LAM,
          convention="full", bug="no_2"),
    _case("l2_norm_all", wd=LAM, norm=True, notes="penalty via np.linalg.norm(W)**2"),
    _case("l2_norm_all_missing", W, "l2_missing", "np.linalg.norm penalty, decay forgotten",
          says="L2 term is missing", wd=LAM, norm=True, bug="missing"),
    _case("l2_norm_last_layer", wd=LAM, norm=True, which=("W2",),
          notes="only the output layer is decayed, via np.linalg.norm"),
    _case("l2_norm_last_layer_missing", {"W2"}, "l2_missing",
          "np.linalg.norm is not complex-step safe; W1 (checked first) does not see the penalty",
          says="L2 term is missing", wd=LAM, norm=True, which=("W2",), bug="missing"),
]

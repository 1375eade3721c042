"""BatchNorm and LayerNorm written out step by step through the computational graph (the
"understanding the backward pass through BatchNorm" blog-post way), batch-first. The net:
Z = X·W1 (+ b1 for LayerNorm) → norm(γ, β) → ReLU → ·W2 + b2 → softmax cross-entropy."""

import numpy as np

from .case import Case
from .common import log_softmax, softmax

STYLE = "norm"
EPS = 1e-5


def bn_net(bug=None, dtype=None):
    def cast(a):
        return a if dtype is None else np.asarray(a).astype(dtype)

    def forward(p, X):
        W1, gamma, beta, W2, b2 = (cast(p[k]) for k in ("W1", "gamma", "beta", "W2", "b2"))
        X = cast(X)
        h = X @ W1
        N = h.shape[0]
        mu = 1.0 / N * np.sum(h, axis=0)
        xmu = h - mu
        sq = xmu ** 2
        var = 1.0 / N * np.sum(sq, axis=0)
        sqrtvar = np.sqrt(var + EPS)
        ivar = 1.0 / sqrtvar
        xhat = xmu * ivar
        bn = gamma * xhat + beta
        a = np.maximum(bn, 0)
        s = a @ W2 + b2
        return X, W2, gamma, h, xmu, var, sqrtvar, ivar, xhat, bn, a, s

    def loss(p, X, Y):
        s = forward(p, X)[-1]
        return -np.sum(cast(Y) * log_softmax(s)) / len(X)

    def grads(p, X, Y):
        X, W2, gamma, h, xmu, var, sqrtvar, ivar, xhat, bn, a, s = forward(p, X)
        N = X.shape[0]
        ds = (softmax(s) - cast(Y)) / N
        dW2, db2 = a.T @ ds, ds.sum(axis=0)
        dbn = (ds @ W2.T) * (bn > 0)
        dbeta = np.sum(dbn, axis=0)
        dgamma = np.sum(dbn * xhat, axis=0)
        dxhat = dbn * gamma
        divar = np.sum(dxhat * xmu, axis=0)
        dxmu1 = dxhat * ivar
        if bug == "eps_mismatch":
            dxmu1 = dxhat / np.sqrt(var)  # BUG: ε left out of the backward pass only
        dsqrtvar = -1.0 / (sqrtvar ** 2) * divar
        dvar = 0.5 * 1.0 / np.sqrt(var + EPS) * dsqrtvar
        if bug == "var_const":
            dvar = 0 * dvar  # BUG: the variance treated as a constant (its branch dropped)
        dsq = 1.0 / N * np.ones_like(dbn) * dvar
        if bug == "unbiased_var":
            dsq = 1.0 / (N - 1) * np.ones_like(dbn) * dvar  # BUG: forward uses the biased var
        dxmu2 = 2 * xmu * dsq
        dx1 = dxmu1 + dxmu2
        dmu = -1 * np.sum(dx1, axis=0)
        if bug == "dmu_without_dvar_term":
            dmu = -np.sum(dxmu1, axis=0)  # the dvar·(−2/N)Σ(x−μ) term is exactly 0: still right
        dx2 = 1.0 / N * np.ones_like(dbn) * dmu
        dh = dx1 + dx2
        return {"W1": X.T @ dh, "gamma": dgamma, "beta": dbeta, "W2": dW2, "b2": db2}

    return loss, grads


def ln_net(bug=None, dtype=None):
    def cast(a):
        return a if dtype is None else np.asarray(a).astype(dtype)

    def forward(p, X):
        W1, b1, g, be, W2, b2 = (cast(p[k]) for k in ("W1", "b1", "gamma", "beta", "W2", "b2"))
        X = cast(X)
        h = X @ W1 + b1
        mu = h.mean(axis=1, keepdims=True)
        var = ((h - mu) ** 2).mean(axis=1, keepdims=True)
        rstd = 1.0 / np.sqrt(var + EPS)
        xhat = (h - mu) * rstd
        y = xhat * g + be
        a = np.maximum(y, 0)
        return X, W2, g, rstd, xhat, y, a, a @ W2 + b2

    def loss(p, X, Y):
        s = forward(p, X)[-1]
        return -np.sum(cast(Y) * log_softmax(s)) / len(X)

    def grads(p, X, Y):
        X, W2, g, rstd, xhat, y, a, s = forward(p, X)
        ds = (softmax(s) - cast(Y)) / len(X)
        dy = (ds @ W2.T) * (y > 0)
        dgamma = (dy * xhat).sum(axis=0)
        if bug == "dgamma_not_summed":
            dgamma = dy * xhat  # BUG: per-sample γ gradients
        dxhat = dy * g
        D = xhat.shape[1]
        dh = rstd * (dxhat - dxhat.mean(axis=1, keepdims=True)
                     - xhat * (dxhat * xhat).mean(axis=1, keepdims=True))
        if bug == "no_xhat_term":
            dh = rstd * (dxhat - dxhat.sum(axis=1, keepdims=True) / D)  # BUG: variance path lost
        return {"W1": X.T @ dh, "b1": dh.sum(0), "gamma": dgamma, "beta": dy.sum(0),
                "W2": a.T @ ds, "b2": ds.sum(0)}

    return loss, grads


def make_norm(with_b1=False, dtype=np.float64, n_in=4, H=6, C=3, B=10):
    def make(seed):
        rng = np.random.default_rng(seed)
        p = {"W1": rng.standard_normal((n_in, H)) * 0.6}
        if with_b1:
            p["b1"] = 0.2 * rng.standard_normal(H)
        p.update({"gamma": 1 + 0.2 * rng.standard_normal(H), "beta": 0.2 * rng.standard_normal(H),
                  "W2": rng.standard_normal((H, C)) * 0.6, "b2": np.zeros(C)})
        X = rng.standard_normal((B, n_in))
        Y = np.eye(C)[rng.integers(0, C, B)]
        return ({k: v.astype(dtype) for k, v in p.items()}, X.astype(dtype), Y.astype(dtype))
    return make


def _case(name, net, make, bug=None, buggy=(), kind=None, notes="", says=None, f32=False):
    loss, grads = net(bug, np.float32 if f32 else None)
    truth = net(None, np.float64)[0] if f32 else None
    return Case(name, STYLE, make, loss, grads, frozenset(buggy), kind, notes, says=says,
                truth_loss=truth)


BN, LN = make_norm(), make_norm(with_b1=True)
BN32, LN32 = make_norm(dtype=np.float32), make_norm(with_b1=True, dtype=np.float32)
CASES = [
    _case("bn_steps", bn_net, BN),
    _case("bn_steps_dmu_without_dvar_term", bn_net, BN, "dmu_without_dvar_term",
          notes="drops a term that is exactly zero: correct"),
    _case("bn_steps_var_const", bn_net, BN, "var_const", {"W1"}, "normalization_wrong",
          "BatchNorm backward without the variance term"),
    _case("bn_steps_unbiased_var", bn_net, BN, "unbiased_var", {"W1"}, "normalization_wrong",
          "1/(N − 1) in the backward of a biased variance"),
    _case("bn_steps_eps_mismatch", bn_net, BN, "eps_mismatch", {"W1"}, "normalization_wrong",
          "1/√var instead of 1/√(var + ε) in one place: a small error"),
    _case("bn_steps_f32", bn_net, BN32, f32=True, notes="forced float32"),
    _case("bn_steps_f32_var_const", bn_net, BN32, "var_const", {"W1"}, "normalization_wrong",
          f32=True),
    _case("ln_steps", ln_net, LN),
    _case("ln_steps_dgamma_not_summed", ln_net, LN, "dgamma_not_summed", {"gamma"},
          "bias_not_summed", "γ's per-sample gradients not summed (a shape error)",
          says="summed over the batch"),
    _case("ln_steps_no_xhat_term", ln_net, LN, "no_xhat_term", {"W1", "b1"},
          "normalization_wrong"),
    _case("ln_steps_f32", ln_net, LN32, f32=True, notes="forced float32"),
    _case("ln_steps_f32_no_xhat_term", ln_net, LN32, "no_xhat_term", {"W1", "b1"},
          "normalization_wrong", f32=True),
]

"""cs231n-style layer functions: each layer has a `*_forward(x, ...) -> (out, cache)` and a
`*_backward(dout, cache) -> dx, dw, ...`, and the net composes them. Buggy variants are separate
layer functions swapped in for the right ones (the way a bug in an assignment's layers.py
spreads to every net that uses it)."""

import numpy as np

from .case import Case

STYLE = "layers_cs231n"


# -- the layers --------------------------------------------------------------------------------

def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1).dot(w) + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def affine_backward_db_axis1(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=1)  # BUG: summed over the features instead of the batch
    return dx, dw, db


def affine_backward_w_not_T(dout, cache):
    x, w, b = cache
    dx = dout.dot(w).reshape(x.shape)  # BUG: w where wᵀ belongs (runs because w is square)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    x = cache
    dx = dout.copy()
    dx[x <= 0] = 0
    return dx


def relu_backward_noop(dout, cache):
    return dout  # BUG: "relu is linear where it is on", the mask is never applied


def softmax_loss(x, y):
    shifted = x - np.max(x, axis=1, keepdims=True)
    Z = np.sum(np.exp(shifted), axis=1, keepdims=True)
    log_probs = shifted - np.log(Z)
    probs = np.exp(log_probs)
    N = x.shape[0]
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx


def softmax_loss_no_N(x, y):
    loss, dx = softmax_loss(x, y)
    return loss, dx * x.shape[0]  # BUG: forgot `dx /= N`


def softmax_loss_no_minus_one(x, y):
    loss, dx = softmax_loss(x, y)
    dx[np.arange(x.shape[0]), y] += 1.0 / x.shape[0]  # BUG: `dx[range(N), y] -= 1` missing
    return loss, dx


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=0)
    xmu = x - mu
    var = np.mean(xmu ** 2, axis=0)
    sqrtvar = np.sqrt(var + eps)
    ivar = 1.0 / sqrtvar
    xhat = xmu * ivar
    out = gamma * xhat + beta
    return out, (xhat, gamma, xmu, ivar, sqrtvar, var, eps)


def batchnorm_backward(dout, cache):
    """Staged, through the computational graph (as the assignment suggests)."""
    xhat, gamma, xmu, ivar, sqrtvar, var, eps = cache
    N = dout.shape[0]
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    dxhat = dout * gamma
    divar = np.sum(dxhat * xmu, axis=0)
    dxmu1 = dxhat * ivar
    dsqrtvar = -1.0 / (sqrtvar ** 2) * divar
    dvar = 0.5 * 1.0 / np.sqrt(var + eps) * dsqrtvar
    dsq = 1.0 / N * np.ones_like(dout) * dvar
    dxmu2 = 2 * xmu * dsq
    dx1 = dxmu1 + dxmu2
    dmu = -1 * np.sum(dx1, axis=0)
    dx2 = 1.0 / N * np.ones_like(dout) * dmu
    return dx1 + dx2, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    """The simplified one-line formula."""
    xhat, gamma, xmu, ivar, sqrtvar, var, eps = cache
    N = dout.shape[0]
    dxhat = dout * gamma
    dx = (1.0 / N) * ivar * (N * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
    return dx, np.sum(dout * xhat, axis=0), np.sum(dout, axis=0)


def batchnorm_backward_alt_no_var(dout, cache):
    xhat, gamma, xmu, ivar, sqrtvar, var, eps = cache
    N = dout.shape[0]
    dxhat = dout * gamma
    dx = (1.0 / N) * ivar * (N * dxhat - dxhat.sum(axis=0))  # BUG: the variance term dropped
    return dx, np.sum(dout * xhat, axis=0), np.sum(dout, axis=0)


def batchnorm_backward_stats_const(dout, cache):
    xhat, gamma, xmu, ivar, sqrtvar, var, eps = cache
    dx = dout * gamma * ivar  # BUG: mean and variance treated as constants
    return dx, np.sum(dout * xhat, axis=0), np.sum(dout, axis=0)


def batchnorm_backward_dgamma_plain(dout, cache):
    dx, _, dbeta = batchnorm_backward(dout, cache)
    return dx, np.sum(dout, axis=0), dbeta  # BUG: dgamma needs dout ⊙ x̂


def layernorm_forward(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    std = np.sqrt(var + eps)
    xhat = (x - mu) / std
    return gamma * xhat + beta, (xhat, gamma, std)


def layernorm_backward(dout, cache):
    xhat, gamma, std = cache
    D = dout.shape[1]
    dxhat = dout * gamma
    dx = (D * dxhat - dxhat.sum(axis=1, keepdims=True)
          - xhat * (dxhat * xhat).sum(axis=1, keepdims=True)) / (D * std)
    return dx, np.sum(dout * xhat, axis=0), np.sum(dout, axis=0)


def layernorm_backward_batch_axis(dout, cache):
    xhat, gamma, std = cache
    N = dout.shape[0]
    dxhat = dout * gamma
    # BUG: batchnorm's formula pasted, sums over axis 0 (the batch) instead of the features
    dx = (N * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)) / (N * std)
    return dx, np.sum(dout * xhat, axis=0), np.sum(dout, axis=0)


# -- nets composed of the layers ---------------------------------------------------------------

def two_layer(reg=0.0, affine_bw=affine_backward, relu_bw=relu_backward, loss_fn=softmax_loss,
              reg_grad=lambda W, reg: reg * W, reg_b=0.0):
    """affine - relu - affine - softmax, L2 as 0.5·reg·Σ W² (the assignment's convention)."""

    def loss(params, X, y):
        h, _ = relu_forward(affine_forward(X, params["W1"], params["b1"])[0])
        scores, _ = affine_forward(h, params["W2"], params["b2"])
        data_loss, _ = softmax_loss(scores, y)
        return data_loss + 0.5 * reg * (np.sum(params["W1"] * params["W1"])
                                        + np.sum(params["W2"] * params["W2"]))

    def grads(params, X, y):
        a1, fc1 = affine_forward(X, params["W1"], params["b1"])
        h, r1 = relu_forward(a1)
        scores, fc2 = affine_forward(h, params["W2"], params["b2"])
        _, dscores = loss_fn(scores, y)
        g = {}
        dh, g["W2"], g["b2"] = affine_bw(dscores, fc2)
        da1 = relu_bw(dh, r1)
        _, g["W1"], g["b1"] = affine_bw(da1, fc1)
        g["W1"] = g["W1"] + reg_grad(params["W1"], reg)
        g["W2"] = g["W2"] + reg * params["W2"]
        if reg_b:
            g["b1"] = g["b1"] + reg_b * params["b1"]  # BUG: biases are not in the loss
            g["b2"] = g["b2"] + reg_b * params["b2"]
        return {k: g[k] for k in ("W1", "b1", "W2", "b2")}

    return loss, grads


def two_layer_w2_reg_missing(reg):
    loss, grads = two_layer(reg)

    def buggy(params, X, y):
        g = grads(params, X, y)
        g["W2"] = g["W2"] - reg * params["W2"]  # (equivalent to) BUG: `dW2 += reg * W2` left out
        return g
    return loss, buggy


def make_two(D=5, H=7, C=3, N=10, b_std=0.0):
    """b_std > 0: biases as after some training (zero at init, where L2 on them is invisible)."""
    def make(seed):
        rng = np.random.default_rng(seed)
        p = {"W1": 0.5 * rng.standard_normal((D, H)), "b1": b_std * rng.standard_normal(H),
             "W2": 0.5 * rng.standard_normal((H, C)), "b2": b_std * rng.standard_normal(C)}
        return p, rng.standard_normal((N, D)), rng.integers(C, size=N)
    return make


def three_layer(relu_cache_mixup=False, affine_bw_mid=affine_backward):
    """affine - relu - affine - relu - affine - softmax, hidden widths equal."""

    def forward(P, X):
        a1, fc1 = affine_forward(X, P["W1"], P["b1"])
        h1, r1 = relu_forward(a1)
        a2, fc2 = affine_forward(h1, P["W2"], P["b2"])
        h2, r2 = relu_forward(a2)
        scores, fc3 = affine_forward(h2, P["W3"], P["b3"])
        return scores, (fc1, r1, fc2, r2, fc3)

    def loss(P, X, y):
        return softmax_loss(forward(P, X)[0], y)[0]

    def grads(P, X, y):
        scores, (fc1, r1, fc2, r2, fc3) = forward(P, X)
        _, d = softmax_loss(scores, y)
        g = {}
        d, g["W3"], g["b3"] = affine_backward(d, fc3)
        d = relu_backward(d, r1 if relu_cache_mixup else r2)  # BUG if mixup: layer 1's cache
        d, g["W2"], g["b2"] = affine_bw_mid(d, fc2)
        d = relu_backward(d, r1)
        _, g["W1"], g["b1"] = affine_backward(d, fc1)
        return {k: g[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3")}

    return loss, grads


def make_three(D=4, H=6, C=3, N=12):
    def make(seed):
        rng = np.random.default_rng(seed)
        P = {"W1": rng.standard_normal((D, H)) * np.sqrt(2.0 / D), "b1": 0.1 * rng.random(H),
             "W2": rng.standard_normal((H, H)) * np.sqrt(2.0 / H), "b2": 0.1 * rng.random(H),
             "W3": rng.standard_normal((H, C)) * np.sqrt(2.0 / H), "b3": np.zeros(C)}
        return P, rng.standard_normal((N, D)), rng.integers(C, size=N)
    return make


def norm_net(kind="bn", norm_bw=None):
    """affine - {batch,layer}norm - relu - affine - softmax."""
    fw = batchnorm_forward if kind == "bn" else layernorm_forward
    bw = norm_bw or (batchnorm_backward if kind == "bn" else layernorm_backward)

    def forward(P, X):
        a, fc1 = affine_forward(X, P["W1"], P["b1"])
        n, nc = fw(a, P["gamma1"], P["beta1"])
        h, r = relu_forward(n)
        scores, fc2 = affine_forward(h, P["W2"], P["b2"])
        return scores, (fc1, nc, r, fc2)

    def loss(P, X, y):
        return softmax_loss(forward(P, X)[0], y)[0]

    def grads(P, X, y):
        scores, (fc1, nc, r, fc2) = forward(P, X)
        _, d = softmax_loss(scores, y)
        g = {}
        d, g["W2"], g["b2"] = affine_backward(d, fc2)
        d = relu_backward(d, r)
        d, g["gamma1"], g["beta1"] = bw(d, nc)
        _, g["W1"], g["b1"] = affine_backward(d, fc1)
        return g

    return loss, grads


def make_norm(D=4, H=5, C=3, N=8):
    def make(seed):
        rng = np.random.default_rng(seed)
        P = {"W1": rng.standard_normal((D, H)) * 0.5, "b1": 0.1 * rng.standard_normal(H),
             "gamma1": 1.0 + 0.1 * rng.standard_normal(H), "beta1": 0.1 * rng.standard_normal(H),
             "W2": rng.standard_normal((H, C)) * 0.5, "b2": np.zeros(C)}
        return P, rng.standard_normal((N, D)), rng.integers(C, size=N)
    return make


def _case(name, pair, make, buggy=(), kind=None, notes="", says=None, wd=None):
    loss, grads = pair
    return Case(name, STYLE, make, loss, grads, frozenset(buggy), kind, notes, says=says,
                weight_decay=wd)


REG = 0.1
CASES = [
    _case("cs_two_layer_reg", two_layer(REG), make_two(), wd=REG),
    _case("cs_two_layer_db_axis1", two_layer(REG, affine_bw=affine_backward_db_axis1), make_two(),
          {"b1", "b2"}, "bias_not_summed", "np.sum(dout, axis=1): shape (N,) instead of (H,)",
          says="summed over the batch", wd=REG),
    _case("cs_two_layer_relu_noop", two_layer(REG, relu_bw=relu_backward_noop), make_two(),
          {"W1", "b1"}, "activation_derivative_missing", wd=REG),
    _case("cs_two_layer_w2_reg_missing", two_layer_w2_reg_missing(REG), make_two(), {"W2"},
          "l2_missing", says="L2 term is missing", wd=REG),
    _case("cs_two_layer_reg_doubled", two_layer(REG, reg_grad=lambda W, r: 2 * r * W),
          make_two(), {"W1"}, "l2_wrong", "2·reg·W1 for 0.5·reg·ΣW1²", says="counted twice",
          wd=REG),
    _case("cs_two_layer_reg_on_biases", two_layer(REG, reg_b=REG), make_two(b_std=0.3),
          {"b1", "b2"},
          "l2_wrong", "the gradient decays the biases, the loss does not penalize them",
          says="counted twice", wd=REG),
    _case("cs_two_layer_softmax_no_N", two_layer(REG, loss_fn=softmax_loss_no_N), make_two(),
          {"W1", "b1", "W2", "b2"}, "scaled",
          "data gradient N× too large; the L2 part is right, so not an exact multiple", wd=REG),
    _case("cs_two_layer_softmax_no_minus_one", two_layer(0.0, loss_fn=softmax_loss_no_minus_one),
          make_two(), {"W1", "b1", "W2", "b2"}, "loss_gradient_wrong"),
    _case("cs_three_layer", three_layer(), make_three()),
    _case("cs_three_layer_relu_cache_mixup", three_layer(relu_cache_mixup=True), make_three(),
          {"W1", "b1", "W2", "b2"}, "activation_derivative_wrong",
          "relu_backward given layer 1's cache at layer 2"),
    _case("cs_three_layer_w_not_T", three_layer(affine_bw_mid=affine_backward_w_not_T),
          make_three(), {"W1", "b1"}, "transposed",
          "dx = dout·w instead of dout·wᵀ in a square layer (a weight transposed in the "
          "backward pass)"),
    _case("cs_batchnorm_graph", norm_net("bn"), make_norm(),
          notes="b1 feeds BatchNorm: its true gradient is 0, computed as rounding noise"),
    _case("cs_batchnorm_alt", norm_net("bn", batchnorm_backward_alt), make_norm()),
    _case("cs_batchnorm_no_var_term", norm_net("bn", batchnorm_backward_alt_no_var), make_norm(),
          {"W1"}, "normalization_wrong",
          "x̂·Σ(dx̂·x̂) term dropped; b1's gradient stays 0 as it should"),
    _case("cs_batchnorm_stats_const", norm_net("bn", batchnorm_backward_stats_const),
          make_norm(), {"W1", "b1"}, "normalization_wrong"),
    _case("cs_batchnorm_dgamma_plain", norm_net("bn", batchnorm_backward_dgamma_plain),
          make_norm(), {"gamma1"}, "normalization_wrong"),
    _case("cs_layernorm", norm_net("ln"), make_norm()),
    _case("cs_layernorm_batch_axis", norm_net("ln", layernorm_backward_batch_axis), make_norm(),
          {"W1", "b1"}, "normalization_wrong", "BatchNorm's backward formula used for LayerNorm"),
]

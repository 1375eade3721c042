"""cs231n-style layers, written for symnet's tests: each `*_forward(x, …) -> (out, cache)` has a
right `*_backward(dout, cache) -> (dx, dw, …)` and buggy variants with the classic mistake of
that layer. `BUGS` lists (case, buggy backward, argument it breaks, kind verify_layer names);
`make_cases()` makes this file a layer file for `symnet verify` (the right pairs, one bug)."""

import numpy as np

# ── affine ──────────────────────────────────────────────────────────────────────────────


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1).dot(w) + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def affine_backward_dw_transposed(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = dout.T.dot(x.reshape(x.shape[0], -1))  # BUG: δᵀx, the transpose of xᵀδ
    return dx, dw, np.sum(dout, axis=0)


def affine_backward_dx_w(dout, cache):
    x, w, b = cache
    dx = dout.dot(w).reshape(x.shape)  # BUG: w where wᵀ belongs (runs: w is square)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    return dx, dw, np.sum(dout, axis=0)


def affine_backward_db_axis1(dout, cache):
    x, w, b = cache
    dx, dw, _ = affine_backward(dout, cache)
    return dx, dw, np.sum(dout, axis=1)  # BUG: summed over the features, not the batch


def affine_backward_dx_sign(dout, cache):
    dx, dw, db = affine_backward(dout, cache)
    return -dx, dw, db  # BUG: the sign of dx


# ── ReLU, sigmoid ───────────────────────────────────────────────────────────────────────


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    dout[cache <= 0] = 0  # edits dout in place, as many solutions do: verify passes a copy
    return dout


def relu_backward_no_mask(dout, cache):
    return dout  # BUG: the mask is never applied


def relu_backward_mask_reversed(dout, cache):
    return dout * (cache < 0)  # BUG: the mask the wrong way round


def sigmoid_forward(x):
    out = 1 / (1 + np.exp(-x))
    return out, (x, out)


def sigmoid_backward(dout, cache):
    x, out = cache
    return dout * out * (1 - out)


def sigmoid_backward_of_x(dout, cache):
    x, out = cache
    return dout * x * (1 - x)  # BUG: σ′ = y(1 − y) applied to the input x


def sigmoid_backward_at_output(dout, cache):
    x, out = cache
    s = 1 / (1 + np.exp(-out))
    return dout * s * (1 - s)  # BUG: σ′ evaluated at the output


def sigmoid_backward_no_dout(dout, cache):
    x, out = cache
    return out * (1 - out)  # BUG: the upstream gradient is never multiplied in


# ── BatchNorm, LayerNorm ────────────────────────────────────────────────────────────────


def batchnorm_forward(x, gamma, beta, bn_param):
    eps = bn_param.get("eps", 1e-5)
    mu, var = x.mean(axis=0), x.var(axis=0)
    xhat = (x - mu) / np.sqrt(var + eps)
    out = gamma * xhat + beta
    momentum = bn_param.get("momentum", 0.9)  # written into bn_param, as cs231n does
    bn_param["running_mean"] = momentum * bn_param.get("running_mean", 0.0) + (1 - momentum) * mu
    return out, (xhat, gamma, var, eps)


def batchnorm_backward(dout, cache):
    xhat, gamma, var, eps = cache
    N = dout.shape[0]
    dgamma, dbeta = (dout * xhat).sum(axis=0), dout.sum(axis=0)
    dxhat = dout * gamma
    dx = (N * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
    return dx / (N * np.sqrt(var + eps)), dgamma, dbeta


def batchnorm_backward_no_variance_term(dout, cache):
    xhat, gamma, var, eps = cache
    N = dout.shape[0]
    dgamma, dbeta = (dout * xhat).sum(axis=0), dout.sum(axis=0)
    dxhat = dout * gamma
    dx = N * dxhat - dxhat.sum(axis=0)  # BUG: the path through the variance is dropped
    return dx / (N * np.sqrt(var + eps)), dgamma, dbeta


def batchnorm_backward_no_mean_term(dout, cache):
    xhat, gamma, var, eps = cache
    N = dout.shape[0]
    dgamma, dbeta = (dout * xhat).sum(axis=0), dout.sum(axis=0)
    dxhat = dout * gamma
    dx = N * dxhat - xhat * (dxhat * xhat).sum(axis=0)  # BUG: the path through μ is dropped
    return dx / (N * np.sqrt(var + eps)), dgamma, dbeta


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta, (xhat, gamma, var, eps)


def layernorm_backward(dout, cache):
    xhat, gamma, var, eps = cache
    D = dout.shape[1]
    dgamma, dbeta = (dout * xhat).sum(axis=0), dout.sum(axis=0)
    dxhat = dout * gamma
    dx = (D * dxhat - dxhat.sum(axis=1, keepdims=True)
          - xhat * (dxhat * xhat).sum(axis=1, keepdims=True))
    return dx / (D * np.sqrt(var + eps)), dgamma, dbeta


def layernorm_backward_batch_axis(dout, cache):
    xhat, gamma, var, eps = cache
    D = dout.shape[1]
    dgamma, dbeta = (dout * xhat).sum(axis=0), dout.sum(axis=0)
    dxhat = dout * gamma
    # BUG: batchnorm's code copied: the sums run over the batch (axis 0), not the features
    dx = D * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)
    return dx / (D * np.sqrt(var + eps)), dgamma, dbeta


# ── dropout (inverted, with a fixed seed) ───────────────────────────────────────────────


def dropout_forward(x, dropout_param):
    p = dropout_param["p"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    mask = (np.random.rand(*x.shape) < p) / p
    return x * mask, mask


def dropout_backward(dout, cache):
    return dout * cache


def dropout_backward_unscaled(dout, cache):
    return dout * (cache > 0)  # BUG: the 1/p of inverted dropout is dropped


# ── convolution (naive, with stride and padding), max-pool ──────────────────────────────


def conv_forward_naive(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, Ho, Wo), dtype=np.result_type(x, w))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, (x, w, b, conv_param)


def _conv_backward(dout, cache, flip_dx=False, flip_dw=False):
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    kernel = w[:, :, ::-1, ::-1] if flip_dx else w
    for n in range(N):
        for f in range(F):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    rows, cols = slice(i * stride, i * stride + HH), slice(j * stride,
                                                                           j * stride + WW)
                    dw[f] += xp[n, :, rows, cols] * dout[n, f, i, j]
                    dxp[n, :, rows, cols] += kernel[f] * dout[n, f, i, j]
    if flip_dw:
        dw = dw[:, :, ::-1, ::-1]
    return dxp[:, :, pad:pad + H, pad:pad + W], dw, dout.sum(axis=(0, 2, 3))


def conv_backward_naive(dout, cache):
    return _conv_backward(dout, cache)


def conv_backward_flipped_dx(dout, cache):
    return _conv_backward(dout, cache, flip_dx=True)  # BUG: the kernel flipped in dx


def conv_backward_flipped_dw(dout, cache):
    return _conv_backward(dout, cache, flip_dw=True)  # BUG: dw rotated by 180°


def max_pool_forward_naive(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    out = np.zeros((N, C, 1 + (H - ph) // s, 1 + (W - pw) // s), dtype=x.dtype)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, i * s:i * s + ph, j * s:j * s + pw].max(axis=(2, 3))
    return out, (x, pool_param)


def _max_pool_backward(dout, cache, every=False):
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    window = x[n, c, i * s:i * s + ph, j * s:j * s + pw]
                    if every:  # BUG: dout sent to every entry of the window
                        dx[n, c, i * s:i * s + ph, j * s:j * s + pw] += dout[n, c, i, j]
                        continue
                    k, m = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * s + k, j * s + m] += dout[n, c, i, j]
    return dx


def max_pool_backward_naive(dout, cache):
    return _max_pool_backward(dout, cache)


def max_pool_backward_every_entry(dout, cache):
    return _max_pool_backward(dout, cache, every=True)


# ── softmax loss (returns (loss, dx): no backward) ──────────────────────────────────────


def softmax_loss(x, y):
    shifted = x - np.max(x, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    N = x.shape[0]
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    return loss, dx / N


def softmax_loss_no_mean(x, y):
    loss, dx = softmax_loss(x, y)
    return loss, dx * x.shape[0]  # BUG: the 1/N of the mean forgotten in dx


def softmax_loss_no_minus_one(x, y):
    loss, dx = softmax_loss(x, y)
    dx[np.arange(x.shape[0]), y] += 1.0 / x.shape[0]  # BUG: the −1 at the true class missing
    return loss, dx


# ── a layer with two outputs (an LSTM-like step) ────────────────────────────────────────


def two_outputs_forward(x, w):
    a = x @ w
    c = np.tanh(a)
    return a, c, (x, w, c)


def two_outputs_backward(da, dc, cache):
    x, w, c = cache
    d = da + dc * (1 - c ** 2)
    return d @ w.T, x.T @ d


def two_outputs_backward_one_path(da, dc, cache):
    x, w, c = cache
    d = da + dc * (1 - c ** 2)
    return d @ w.T, x.T @ da  # BUG: dw takes the gradient through a only


# ── inputs ──────────────────────────────────────────────────────────────────────────────

CONV = {"stride": 2, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


def inputs(name, rng=None, dtype=np.float64):
    """Example arguments of each layer (a different stream from verify_layer's own)."""
    rng = rng or np.random.default_rng(2024)

    def r(*shape):
        return rng.standard_normal(shape).astype(dtype)

    return {
        "affine": lambda: (r(4, 5), r(5, 3), r(3)),
        "affine_4d": lambda: (r(3, 2, 2, 2), r(8, 4), r(4)),
        "affine_square": lambda: (r(4, 5), r(5, 5), r(5)),
        "relu": lambda: (r(4, 5),),
        "sigmoid": lambda: (r(4, 5),),
        "batchnorm": lambda: (r(6, 4), 1 + r(4), r(4), {"mode": "train"}),
        "layernorm": lambda: (r(4, 6), 1 + r(6), r(6), {}),
        "dropout": lambda: (r(4, 5), {"p": 0.6, "mode": "train", "seed": 7}),
        "conv": lambda: (r(2, 3, 5, 5), r(4, 3, 3, 3), r(4), CONV),
        "max_pool": lambda: (r(2, 2, 4, 4), POOL),
        "softmax_loss": lambda: (r(5, 4), rng.integers(0, 4, 5)),
        "two_outputs": lambda: (r(4, 3), r(3, 2)),
    }[name]()


# (case, forward, right backward): backward None for a loss layer
PAIRS = {
    "affine": (affine_forward, affine_backward),
    "affine_4d": (affine_forward, affine_backward),
    "affine_square": (affine_forward, affine_backward),
    "relu": (relu_forward, relu_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "batchnorm": (batchnorm_forward, batchnorm_backward),
    "layernorm": (layernorm_forward, layernorm_backward),
    "dropout": (dropout_forward, dropout_backward),
    "conv": (conv_forward_naive, conv_backward_naive),
    "max_pool": (max_pool_forward_naive, max_pool_backward_naive),
    "softmax_loss": (softmax_loss, None),
    "two_outputs": (two_outputs_forward, two_outputs_backward),
}

# (case, buggy backward (or buggy loss layer), the argument it breaks, the kind, words said)
BUGS = [
    ("affine", affine_backward_dw_transposed, "w", "transposed", "transpose"),
    ("affine_square", affine_backward_dx_w, "x", "transposed", "where wᵀ belongs"),
    ("affine", affine_backward_db_axis1, "b", "bias_not_summed", "per sample"),
    ("affine", affine_backward_dx_sign, "x", "sign", "−1"),
    ("relu", relu_backward_no_mask, "x", "activation_derivative_missing", "passed through"),
    ("relu", relu_backward_mask_reversed, "x", "routing", "does not depend on x"),
    ("sigmoid", sigmoid_backward_of_x, "x", "activation_derivative_at_input", "output form"),
    ("sigmoid", sigmoid_backward_at_output, "x", "activation_derivative_at_output", "output y"),
    ("sigmoid", sigmoid_backward_no_dout, "x", "upstream_ignored", "dout"),
    ("batchnorm", batchnorm_backward_no_variance_term, "x", "normalization_wrong",
     "variance term"),
    ("batchnorm", batchnorm_backward_no_mean_term, "x", "normalization_wrong", "mean term"),
    ("layernorm", layernorm_backward_batch_axis, "x", "normalization_wrong", "row"),
    ("dropout", dropout_backward_unscaled, "x", "scaled", "0.6"),
    ("conv", conv_backward_flipped_dx, "x", "transposed", "flipped"),
    ("conv", conv_backward_flipped_dw, "w", "transposed", "180°"),
    ("max_pool", max_pool_backward_every_entry, "x", "routing", "maximum of each window"),
    ("softmax_loss", softmax_loss_no_mean, "x", "scaled", "1/B is missing"),
    ("softmax_loss", softmax_loss_no_minus_one, "x", "loss_gradient_wrong", "sums to 0"),
    ("two_outputs", two_outputs_backward_one_path, "w", "upstream_ignored", "output 1"),
]


def make_cases():
    """This file as a layer file for `symnet verify` (the right pairs, and one bug)."""
    rng = np.random.default_rng(5)
    cases = {forward.__name__: inputs(case, rng)
             for case, (forward, _) in PAIRS.items() if case in ("affine", "relu", "conv",
                                                                  "softmax_loss")}
    cases["batchnorm_forward"] = {"args": inputs("batchnorm", rng), "reference": "batchnorm"}
    cases["affine with dw transposed"] = {"forward": "affine_forward",
                                          "backward": "affine_backward_dw_transposed",
                                          "args": inputs("affine", rng)}
    return cases

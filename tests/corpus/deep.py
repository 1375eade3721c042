"""A hand-written MLP of any depth in symnet's conventions, with the mistakes that
checking.mutants names, each switched on by `bug` (and `layer`, for mistakes made in one
layer) and marked `# BUG` beside the right line.

Conventions, as symnet (and PyTorch) define them: X is (B, n_in), W_k is (n_in, n_out);
"mse" averages over all B·n entries (MSELoss), "softmax_ce" is the cross-entropy of softmax(Z)
averaged over the batch (CrossEntropyLoss), "ce" is a softmax *layer* followed by −Σ Y log A / B;
`wd` adds (λ/2) Σ ‖W_k‖². The network is then `spec(...)`, for verify(net=…).
"""

import numpy as np


def _sigmoid(Z):
    return 1.0 / (1.0 + np.exp(-Z))


ACTIVATIONS = {  # f, f′
    "tanh": (np.tanh, lambda Z: 1.0 - np.tanh(Z) ** 2),
    "sigmoid": (_sigmoid, lambda Z: _sigmoid(Z) * (1.0 - _sigmoid(Z))),
    "relu": (lambda Z: np.maximum(Z, 0.0), lambda Z: (Z > 0).astype(Z.dtype)),
}


def _softmax(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def spec(sizes, act="tanh", loss="mse", reduction="mean", wd=0.0):
    words = ["-".join(map(str, sizes)), act] + (["softmax"] if loss == "ce" else []) + [loss]
    if reduction != "mean":
        words.append(f"reduction={reduction}")
    if wd:
        words.append(f"weight_decay={wd}")
    return " ".join(words)


def make_deep(sizes, act="tanh", loss="mse", reduction="mean", wd=0.0, bug=None, layer=1):
    f, df = ACTIVATIONS[act]
    n = len(sizes) - 1

    def forward(p, X):
        As, Zs = [X], []
        for k in range(1, n + 1):
            Zs.append(As[-1] @ p[f"W{k}"] + p[f"b{k}"])
            As.append(f(Zs[-1]) if k < n else _softmax(Zs[-1]) if loss == "ce" else Zs[-1])
        return As, Zs

    def loss_fn(p, X, Y):
        As, Zs = forward(p, X)
        if loss == "mse":
            total = np.sum((As[-1] - Y) ** 2) / (Y.size if reduction == "mean" else 1)
        else:
            Z = Zs[-1]
            logp = Z - Z.max(axis=1, keepdims=True)
            logp = logp - np.log(np.exp(logp).sum(axis=1, keepdims=True))
            total = -np.sum(Y * logp) / (len(X) if reduction == "mean" else 1)
        return total + wd / 2 * sum(np.sum(p[f"W{k}"] ** 2) for k in range(1, n + 1))

    def grads_fn(p, X, Y):
        As, Zs = forward(p, X)
        B = len(X)
        per = Y.shape[1] if loss == "mse" else 1  # entries averaged per sample
        c = 1.0 / (B * per) if reduction == "mean" else 1.0
        if bug == "sum_not_mean":
            c = 1.0 / per  # BUG: the 1/B of the mean is missing
        if bug == "B_minus_1":
            c = 1.0 / ((B - 1) * per)  # BUG: divided by B − 1
        if bug == "batch_only":
            c = 1.0 / B  # BUG: the mean over the batch only (the loss summed over outputs)
        if loss == "mse":
            dZ = 2 * c * (As[-1] - Y)
        elif loss == "softmax_ce":
            dZ = c * (_softmax(As[-1]) - Y)
        else:  # a softmax layer, then cross-entropy on its output
            A = As[-1]
            dA = -c * Y / A
            dZ = A * (dA - np.sum(dA * A, axis=1, keepdims=True))
            if bug == "softmax_jacobian_dropped":
                dZ = dA  # BUG: ∂L/∂A used as ∂L/∂Z
        if bug == "sign":
            dZ = -dZ  # BUG: the gradient of −L
        g = {}
        for k in range(n, 0, -1):
            here = bug if layer == k else None
            g[f"W{k}"] = As[k - 1].T @ dZ
            if here == "own_output":
                g[f"W{k}"] = As[k].T @ dZ  # BUG: the layer's output, not its input
            if here == "pre_activation_input":
                g[f"W{k}"] = Zs[k - 2].T @ dZ  # BUG: Z_{k−1} where A_{k−1} belongs
            if here == "transposed":
                g[f"W{k}"] = dZ.T @ As[k - 1]  # BUG: δᵀ A instead of Aᵀ δ
            decay = 0.0 if here == "l2_missing" else 2 * wd if here == "l2_doubled" else wd
            g[f"W{k}"] = g[f"W{k}"] + decay * (p[f"W{k}"].T if here == "transposed" else
                                               p[f"W{k}"])  # BUG (when decay ≠ wd)
            g[f"b{k}"] = dZ if here == "bias_not_summed" else dZ.sum(axis=0)  # BUG if dZ
            if k > 1:
                W = p[f"W{k}"]
                dA = dZ @ (W if bug == "W_not_T" and layer == k - 1 else W.T)  # BUG: W for Wᵀ
                below = bug if layer == k - 1 else None
                if below == "no_act_deriv":
                    dZ = dA  # BUG: f′(Z) forgotten
                elif below == "act_deriv_of_A":
                    dZ = dA * df(As[k - 1])  # BUG: f′ taken at the output A
                else:
                    dZ = dA * df(Zs[k - 2])
        return {name: g[name] for name in sorted(g, key=lambda s: (int(s[1:]), s[0] == "b"))}

    return loss_fn, grads_fn


def make_case(sizes, loss="mse", B=8, seed=0, dtype=np.float64, zero_rows=0):
    rng = np.random.default_rng(seed)
    params = {}
    for k, (a, b) in enumerate(zip(sizes, sizes[1:]), start=1):
        params[f"W{k}"] = rng.standard_normal((a, b)) / np.sqrt(a)
        params[f"b{k}"] = (0.0 if zero_rows else 0.1) * rng.standard_normal(b)
    X = rng.standard_normal((B, sizes[0]))
    X[:zero_rows] = 0.0  # with zero biases: pre-activations exactly 0, ReLU's kink
    if loss == "mse":
        Y = rng.standard_normal((B, sizes[-1]))
    else:
        Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], B)]
    return ({k: v.astype(dtype) for k, v in params.items()}, X.astype(dtype), Y.astype(dtype))

"""A hand-written two-layer MLP, loss and backprop, the way a student writes it, with switchable
mistakes. Each `bug` changes one or two lines, marked `# BUG`, so a reader can see exactly what
the mistake is next to the right line.

    Z1 = X W1 + b1,  A1 = act(Z1),  Z2 = A1 W2 + b2,  L = loss(Z2, Y) + (λ/2)(‖W1‖² + ‖W2‖²)

layout="torch" stores W as (n_out, n_in) and computes X W1ᵀ, as PyTorch's nn.Linear does.
"""

import numpy as np


def _sigmoid(Z):
    return 1.0 / (1.0 + np.exp(-Z))


ACTIVATIONS = {  # act(Z), act'(Z)
    "tanh": (np.tanh, lambda Z: 1.0 - np.tanh(Z) ** 2),
    "sigmoid": (_sigmoid, lambda Z: _sigmoid(Z) * (1.0 - _sigmoid(Z))),
    "relu": (lambda Z: np.maximum(Z, 0.0), lambda Z: (Z > 0).astype(Z.dtype)),
    # the other convention at the kink, relu'(0) = 1: just as valid a subgradient
    "relu_ge": (lambda Z: np.maximum(Z, 0.0), lambda Z: (Z >= 0).astype(Z.dtype)),
}


def make_mlp(act="tanh", loss="mse", reduction="mean", layout="in_out", wd=0.0, bug=None):
    f, df = ACTIVATIONS[act]

    def lin(A, W, b):
        return A @ (W.T if layout == "torch" else W) + b

    def forward(p, X):
        Z1 = lin(X, p["W1"], p["b1"])
        A1 = f(Z1)
        return Z1, A1, lin(A1, p["W2"], p["b2"])

    def loss_fn(p, X, Y):
        Z2 = forward(p, X)[2]
        if loss == "mse":
            per_sample = np.sum((Z2 - Y) ** 2, axis=1)
        else:  # softmax cross-entropy, from logits, stable
            m = np.max(Z2, axis=1, keepdims=True)
            logp = Z2 - m - np.log(np.sum(np.exp(Z2 - m), axis=1, keepdims=True))
            per_sample = -np.sum(Y * logp, axis=1)
        L = np.mean(per_sample) if reduction == "mean" else np.sum(per_sample)
        return L + wd / 2 * (np.sum(p["W1"] ** 2) + np.sum(p["W2"] ** 2))

    def grads_fn(p, X, Y):
        B = X.shape[0]
        Z1, A1, Z2 = forward(p, X)
        n = B if reduction == "mean" else 1
        if bug == "sum_not_mean":
            n = 1  # BUG: the 1/B of the mean is missing
        if bug == "B_minus_1":
            n = B - 1  # BUG: divides by B − 1
        if loss == "mse":
            dZ2 = 2 * (Z2 - Y) / n
            if bug == "mse_no_2":
                dZ2 = (Z2 - Y) / n  # BUG: the 2 from d/dx x² is missing
        else:
            E = np.exp(Z2 - np.max(Z2, axis=1, keepdims=True))
            dZ2 = (E / np.sum(E, axis=1, keepdims=True) - Y) / n
        if bug == "sign":
            dZ2 = -dZ2  # BUG: (Y − Ŷ) instead of (Ŷ − Y)
        W2 = p["W2"].T if layout == "torch" else p["W2"]
        dW2 = A1.T @ dZ2
        db2 = dZ2.sum(axis=0)
        if bug == "bias_not_summed":
            db2 = dZ2  # BUG: per-sample bias gradients, not summed over the batch
        dA1 = dZ2 @ W2.T
        dZ1 = dA1 * df(Z1)
        if bug == "no_act_deriv":
            dZ1 = dA1  # BUG: act'(Z1) forgotten
        if bug == "act_deriv_of_A":
            dZ1 = dA1 * df(A1)  # BUG: act' taken at the output A1 instead of Z1
        dW1 = X.T @ dZ1
        db1 = dZ1.sum(axis=0)
        if layout == "torch":
            dW1, dW2 = dW1.T, dW2.T
        decay = 0.0 if bug == "l2_missing" else 2 * wd if bug == "l2_doubled" else wd  # BUG
        dW1, dW2 = dW1 + decay * p["W1"], dW2 + decay * p["W2"]
        if bug == "transposed_dW2":
            dW2 = dW2.T  # BUG: δᵀ·A instead of Aᵀ·δ
        if bug == "wrong_column":
            dW2 = dW2.copy()
            dW2[:, 1] *= 3.0  # BUG: one output unit's column is off
        if bug == "zero_dW1":
            dW1 = np.zeros_like(dW1)  # BUG: never filled in
        return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}

    return loss_fn, grads_fn


def make_data(n_in=5, n_h=6, n_out=3, B=8, dtype=np.float64, layout="in_out", loss="mse",
              seed=0, zero_rows=0, zero_bias=False):
    rng = np.random.default_rng(seed)

    def W(a, b):
        shape = (b, a) if layout == "torch" else (a, b)
        return rng.standard_normal(shape) / np.sqrt(a)

    params = {"W1": W(n_in, n_h), "b1": 0.1 * rng.standard_normal(n_h),
              "W2": W(n_h, n_out), "b2": 0.1 * rng.standard_normal(n_out)}
    if zero_bias:
        params["b1"][:] = 0.0
    X = rng.standard_normal((B, n_in))
    X[:zero_rows] = 0.0  # pre-activations exactly 0 there when b1 = 0: ReLU kinks
    if loss == "mse":
        Y = rng.standard_normal((B, n_out))
    else:
        Y = np.eye(n_out)[rng.integers(0, n_out, B)]
    cast = {k: v.astype(dtype) for k, v in params.items()}
    return cast, X.astype(dtype), Y.astype(dtype)

"""float32 models. Two flavours:

- "natural": params, X and Y are float32 and the code just follows their dtype (so it computes in
  float64 when handed float64 arrays);
- "forced": the model casts everything to float32 itself (`.astype(np.float32)`, float32
  constants), computes in float32 and returns a float32 loss, like a port of a GPU model. Its
  float64 twin (`truth_loss`) is what validate.py differentiates."""

import numpy as np

from .case import Case

STYLE = "float32"
F32 = np.float32


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


# -- natural: tanh hidden layer, linear output, MSE summed over outputs and averaged over batch --

def natural_net(bug=None, lam=0.0):
    def loss(p, X, Y):
        out = np.tanh(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
        reg = 0.5 * lam * (np.sum(p["W1"] ** 2) + np.sum(p["W2"] ** 2))
        return np.sum((out - Y) ** 2) / X.shape[0] + reg

    def grads(p, X, Y):
        h = np.tanh(X @ p["W1"] + p["b1"])
        out = h @ p["W2"] + p["b2"]
        d_out = 2 * (out - Y) / X.shape[0]
        dh = (d_out @ p["W2"].T) * (1 - h * h)
        if bug == "rows_loop_short":
            dW1 = np.zeros_like(p["W1"])
            for i in range(p["W1"].shape[0] - 1):  # BUG: the last input's row is never filled
                dW1[i] = X[:, i] @ dh
        else:
            dW1 = X.T @ dh
        decay = 2 * lam if bug == "l2_doubled" else lam  # BUG (l2_doubled): 2λ for (λ/2)‖W‖²
        return {"W1": dW1 + decay * p["W1"], "b1": dh.sum(0),
                "W2": h.T @ d_out + decay * p["W2"], "b2": d_out.sum(0)}

    return loss, grads


def make_natural(n_in=5, n_h=8, n_out=3, B=16, y_shift=0.0, y_scale=1.0):
    def make(seed):
        rng = np.random.default_rng(seed)
        p = {"W1": (rng.standard_normal((n_in, n_h)) * 0.4).astype(F32),
             "b1": np.zeros(n_h, F32),
             "W2": (rng.standard_normal((n_h, n_out)) * 0.4).astype(F32),
             "b2": np.zeros(n_out, F32)}
        X = rng.standard_normal((B, n_in)).astype(F32)
        Y = (y_shift + y_scale * rng.standard_normal((B, n_out))).astype(F32)
        return p, X, Y
    return make


# -- forced: sigmoid (or relu) hidden layer, softmax cross-entropy, all in float32 ----------------

def forced_net(dtype=F32, bug=None, act="sigmoid"):
    def cast(a):
        return np.asarray(a).astype(dtype)

    def forward(p, X):
        W1, b1, W2, b2 = (cast(p[k]) for k in ("W1", "b1", "W2", "b2"))
        X = cast(X)
        z1 = X @ W1 + b1
        a1 = _sigmoid(z1) if act == "sigmoid" else np.maximum(z1, dtype(0))
        z2 = a1 @ W2 + b2
        z2 = z2 - z2.max(axis=1, keepdims=True)
        probs = np.exp(z2) / np.exp(z2).sum(axis=1, keepdims=True)
        return X, W1, W2, z1, a1, probs

    def loss(p, X, Y):
        probs = forward(p, X)[-1]
        return dtype(-np.sum(cast(Y) * np.log(probs)) / dtype(X.shape[0]))

    def grads(p, X, Y):
        X, W1, W2, z1, a1, probs = forward(p, X)
        B = X.shape[0]
        if bug == "skip_last":
            B_used = B - 1  # BUG: `for i in range(B - 1)` in the author's loop, vectorized here
            d2 = (probs[:B_used] - cast(Y)[:B_used]) / dtype(B)
            Xs, a1s, z1s = X[:B_used], a1[:B_used], z1[:B_used]
        else:
            d2 = (probs - cast(Y)) / dtype(B)
            Xs, a1s, z1s = X, a1, z1
        if bug == "no_1_over_B":
            d2 = d2 * dtype(B)  # BUG: the mean's 1/B forgotten
        if bug == "B_minus_1":
            d2 = (probs - cast(Y)) / dtype(B - 1)  # BUG: B − 1
        dW2 = a1s.T @ d2
        db2 = d2.sum(axis=0)
        if bug == "db2_mean":
            db2 = d2.mean(axis=0)  # BUG: mean of an already-averaged δ
        da1 = d2 @ W2.T
        if act == "relu":
            dz1 = da1 * (z1s > 0)
        elif bug == "sigmoid_prime_of_a":
            dz1 = da1 * _sigmoid(a1s) * (1 - _sigmoid(a1s))  # BUG: σ′ at a1 = σ(z1)
        else:
            dz1 = da1 * a1s * (1 - a1s)
        return {"W1": Xs.T @ dz1, "b1": dz1.sum(axis=0), "W2": dW2, "b2": db2}

    return loss, grads


def make_forced(n_in=6, n_h=8, n_cls=4, B=32):
    def make(seed):
        rng = np.random.default_rng(seed)
        p = {"W1": (rng.standard_normal((n_in, n_h)) / np.sqrt(n_in)).astype(F32),
             "b1": (0.1 * rng.standard_normal(n_h)).astype(F32),
             "W2": (rng.standard_normal((n_h, n_cls)) / np.sqrt(n_h)).astype(F32),
             "b2": np.zeros(n_cls, F32)}
        X = rng.standard_normal((B, n_in)).astype(F32)
        Y = np.eye(n_cls, dtype=F32)[rng.integers(0, n_cls, B)]
        return p, X, Y
    return make


def bce_forced(dtype=F32):
    """tanh hidden layer, one sigmoid output, BCE; big batch; all in `dtype`."""
    def loss(p, X, Y):
        W1, b1, w2, b2 = (np.asarray(p[k]).astype(dtype) for k in ("W1", "b1", "w2", "b2"))
        h = np.tanh(np.asarray(X).astype(dtype) @ W1 + b1)
        q = _sigmoid(h @ w2 + b2)
        Y = np.asarray(Y).astype(dtype)
        return dtype(-np.mean(Y * np.log(q) + (1 - Y) * np.log(1 - q)))

    def grads(p, X, Y):
        W1, b1, w2, b2 = (np.asarray(p[k]).astype(dtype) for k in ("W1", "b1", "w2", "b2"))
        X = np.asarray(X).astype(dtype)
        h = np.tanh(X @ W1 + b1)
        q = _sigmoid(h @ w2 + b2)
        e = (q - np.asarray(Y).astype(dtype)) / dtype(len(X))
        dz = np.outer(e, w2) * (1 - h * h)
        return {"W1": X.T @ dz, "b1": dz.sum(0), "w2": h.T @ e, "b2": e.sum(keepdims=True)}

    return loss, grads


def make_bce_big(n_in=10, n_h=16, B=256):
    def make(seed):
        rng = np.random.default_rng(seed)
        p = {"W1": (rng.standard_normal((n_in, n_h)) / np.sqrt(n_in)).astype(F32),
             "b1": np.zeros(n_h, F32), "w2": (rng.standard_normal(n_h) / 4).astype(F32),
             "b2": np.zeros(1, F32)}
        X = rng.standard_normal((B, n_in)).astype(F32)
        return p, X, (rng.random(B) < 0.5).astype(F32)
    return make


def _natural(name, make, bug=None, buggy=(), kind=None, notes="", says=None, lam=0.0):
    loss, grads = natural_net(bug, lam)
    return Case(name, STYLE, make, loss, grads, frozenset(buggy), kind, notes, says=says,
                weight_decay=lam or None)


def _forced(name, make, bug=None, buggy=(), kind=None, notes="", says=None, act="sigmoid"):
    loss, grads = forced_net(F32, bug, act)
    truth, _ = forced_net(np.float64, None, act)
    return Case(name, STYLE, make, loss, grads, frozenset(buggy), kind, notes, says=says,
                truth_loss=truth)


ALL = ("W1", "b1", "W2", "b2")
WIDE = make_forced(n_in=64, n_h=32, n_cls=10, B=64)
CASES = [
    _natural("f32_natural_tanh_mse", make_natural()),
    _natural("f32_natural_rows_loop_short", make_natural(), "rows_loop_short", {"W1"}, "partial",
             "dW1's last row is never filled (stays 0)", says=r"row\(s\) 4"),
    _natural("f32_natural_l2", make_natural(), lam=0.01),
    _natural("f32_natural_l2_doubled", make_natural(), "l2_doubled", {"W1", "W2"}, "l2_wrong",
             says="counted twice", lam=0.01),
    _natural("f32_natural_unscaled_targets", make_natural(y_shift=300.0, y_scale=100.0),
             notes="float32 regression, targets as they come (~300 ± 100)"),
    _forced("f32_forced_sigmoid_ce", make_forced()),
    Case("f32_forced_bce_batch256", STYLE, make_bce_big(), bce_forced()[0], bce_forced()[1],
         truth_loss=bce_forced(np.float64)[0], notes="batch of 256 in float32"),
    _forced("f32_forced_no_1_over_B", make_forced(), "no_1_over_B", ALL, "scaled",
            says="1/B is missing"),
    _forced("f32_forced_skip_last", make_forced(), "skip_last", ALL, "partial",
            "the last of 32 samples never contributes: a ~3% error"),
    _forced("f32_forced_sigmoid_prime_of_a", make_forced(), "sigmoid_prime_of_a", {"W1", "b1"},
            "activation_derivative_at_output"),
    _forced("f32_forced_db2_mean", make_forced(), "db2_mean", {"b2"}, "scaled",
            says="B = 32 times too small"),
    _forced("f32_forced_relu_wide", WIDE, act="relu",
            notes="64-32-10, batch 64: 2048-entry W1 in float32"),
    _forced("f32_forced_relu_wide_B_minus_1", WIDE, "B_minus_1", ALL, "scaled",
            "1/63 instead of 1/64: a 1.6% error", says="B − 1", act="relu"),
    _forced("f32_forced_relu_wide_skip_last", WIDE, "skip_last", ALL, "partial",
            "the last of 64 samples never contributes", act="relu"),
]

"""Batch-first vectorized MLPs, blog-post style: X is (B, n_in), W is (n_in, n_out), b is (n_out,).

Each network is written once, correct, with its buggy variants switched on by `bug` and marked
`# BUG` beside the line that is wrong."""

import numpy as np

from .case import Case
from .common import log_softmax, sigmoid, softmax

STYLE = "vectorized"


# -- 1. sigmoid hidden layer, linear output, MSE = np.mean over all B·n_out entries ---------------

def mse_net(bug=None):
    def forward(params, X):
        z1 = X @ params["W1"] + params["b1"]
        a1 = sigmoid(z1)
        out = a1 @ params["W2"] + params["b2"]
        return z1, a1, out

    def loss(params, X, Y):
        return np.mean((forward(params, X)[2] - Y) ** 2)

    def grads(params, X, Y):
        z1, a1, out = forward(params, X)
        B = X.shape[0]
        dout = 2 * (out - Y) / Y.size
        if bug == "factor2":
            dout = (out - Y) / Y.size  # BUG: d/dx x² = 2x
        if bug == "batch_only":
            dout = 2 * (out - Y) / B  # BUG: np.mean averages over the outputs too
        dW2 = a1.T @ dout
        if bug == "dW2_from_z1":
            dW2 = z1.T @ dout  # BUG: pre-activation where the activation belongs
        db2 = np.sum(dout, axis=0)
        da1 = dout @ params["W2"].T
        dz1 = da1 * a1 * (1 - a1)
        if bug == "sigmoid_prime_of_a":
            dz1 = da1 * sigmoid(a1) * (1 - sigmoid(a1))  # BUG: σ′ evaluated at the output a1
        if bug == "no_sigmoid_prime":
            dz1 = da1  # BUG: forgot the activation derivative
        dW1 = X.T @ dz1
        db1 = np.sum(dz1, axis=0)
        if bug == "db1_mean":
            db1 = np.mean(dz1, axis=0)  # BUG: dz1 already carries the 1/size
        return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}

    return loss, grads


def make_mse(n_in=4, n_h=5, n_out=3, B=10):
    def make(seed):
        rng = np.random.default_rng(seed)
        params = {"W1": rng.standard_normal((n_in, n_h)) * 0.5, "b1": np.zeros(n_h),
                  "W2": rng.standard_normal((n_h, n_out)) * 0.5, "b2": np.zeros(n_out)}
        X = rng.standard_normal((B, n_in))
        Y = rng.standard_normal((B, n_out))
        return params, X, Y
    return make


# -- 2. tanh hidden layer, softmax cross-entropy on one-hot Y, mean over the batch --------------

def ce_net(bug=None):
    def forward(p, X):
        h_pre = X.dot(p["W1"]) + p["b1"]
        h = np.tanh(h_pre)
        logits = h.dot(p["W2"]) + p["b2"]
        return h, logits

    def loss(p, X, Y):
        _, logits = forward(p, X)
        return -np.mean(np.sum(Y * log_softmax(logits), axis=1))

    def grads(p, X, Y):
        h, logits = forward(p, X)
        n = len(X)
        probs = softmax(logits)
        dlogits = (probs - Y) / n
        if bug == "no_1_over_B":
            dlogits = probs - Y  # BUG: the loss is a mean over the batch
        if bug == "forgot_minus_Y":
            dlogits = probs / n  # BUG: softmax-CE gradient is (p − y), not p
        if bug == "sign":
            dlogits = (Y - probs) / n  # BUG: y − p
        grads = {}
        grads["W2"] = h.T.dot(dlogits)
        grads["b2"] = dlogits.sum(axis=0)
        if bug == "db2_not_summed":
            grads["b2"] = dlogits  # BUG: per-sample bias gradients
        dh = dlogits.dot(p["W2"].T)
        dh_pre = dh * (1 - h ** 2)
        if bug == "tanh_prime_not_squared":
            dh_pre = dh * (1 - h)  # BUG: tanh′ = 1 − tanh², not 1 − tanh
        grads["W1"] = X.T.dot(dh_pre)
        if bug == "transposed_dW1":
            grads["W1"] = dh_pre.T.dot(X)  # BUG: δᵀX (W1 happens to be square)
        grads["b1"] = dh_pre.sum(axis=0)
        if bug == "zero_db1":
            grads["b1"] = np.zeros_like(p["b1"])  # BUG: never filled in
        return {k: grads[k] for k in ("W1", "b1", "W2", "b2")}

    return loss, grads


def make_ce(n_in=4, n_h=6, n_out=3, B=12):
    def make(seed):
        rng = np.random.default_rng(seed)
        p = {"W1": rng.standard_normal((n_in, n_h)) / np.sqrt(n_in), "b1": np.zeros(n_h),
             "W2": rng.standard_normal((n_h, n_out)) / np.sqrt(n_h), "b2": np.zeros(n_out)}
        X = rng.standard_normal((B, n_in))
        Y = np.eye(n_out)[rng.integers(0, n_out, size=B)]
        return p, X, Y
    return make


# -- 3. three ReLU layers, integer labels, softmax cross-entropy -----------------------------------

def relu3_net(bug=None):
    def forward(P, X):
        Z1 = X @ P["W1"] + P["b1"]
        A1 = np.maximum(0, Z1)
        Z2 = A1 @ P["W2"] + P["b2"]
        A2 = np.maximum(0, Z2)
        Z3 = A2 @ P["W3"] + P["b3"]
        return Z1, A1, Z2, A2, Z3

    def loss(P, X, y):
        Z3 = forward(P, X)[-1]
        return -np.mean(log_softmax(Z3)[np.arange(len(y)), y])

    def grads(P, X, y):
        Z1, A1, Z2, A2, Z3 = forward(P, X)
        N = X.shape[0]
        dZ3 = softmax(Z3)
        dZ3[np.arange(N), y] -= 1
        dZ3 /= N
        dW3 = A2.T @ dZ3
        if bug == "dW3_from_A1":
            dW3 = A1.T @ dZ3  # BUG: the activations of the layer below the right one
        db3 = dZ3.sum(0)
        dA2 = dZ3 @ P["W3"].T
        dZ2 = dA2 * (Z2 > 0)
        if bug == "mask_from_A":
            dZ2 = dA2 * (A2 > 0)  # same thing: relu(z) > 0 exactly when z > 0
        if bug == "mask_wrong_layer":
            dZ2 = dA2 * (Z1 > 0)  # BUG: layer 1's mask at layer 2 (same width)
        if bug == "no_relu_grad_2":
            dZ2 = dA2  # BUG: relu backward skipped at layer 2
        dW2 = A1.T @ dZ2
        db2 = dZ2.sum(0)
        dA1 = dZ2 @ P["W2"].T
        dZ1 = dA1 * (Z1 > 0)
        if bug == "mask_from_A":
            dZ1 = dA1 * (A1 > 0)
        dW1 = X.T @ dZ1
        db1 = dZ1.sum(0)
        return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "W3": dW3, "b3": db3}

    return loss, grads


def make_relu3(n_in=5, h=6, n_cls=4, B=16):
    def make(seed):
        rng = np.random.default_rng(seed)
        P = {"W1": rng.standard_normal((n_in, h)) * np.sqrt(2 / n_in), "b1": np.full(h, 0.01),
             "W2": rng.standard_normal((h, h)) * np.sqrt(2 / h), "b2": np.full(h, 0.01),
             "W3": rng.standard_normal((h, n_cls)) * np.sqrt(2 / h), "b3": np.zeros(n_cls)}
        X = rng.standard_normal((B, n_in))
        y = rng.integers(0, n_cls, size=B)
        return P, X, y
    return make


# -- 4. tanh hidden layer, one sigmoid output, binary cross-entropy -------------------------------

def bce_net(bug=None):
    def forward(p, X):
        a1 = np.tanh(X @ p["W1"] + p["b1"])
        yhat = sigmoid(a1 @ p["W2"] + p["b2"])
        return a1, yhat

    def loss(p, X, Y):
        _, yhat = forward(p, X)
        return -np.mean(Y * np.log(yhat) + (1 - Y) * np.log(1 - yhat))

    def grads(p, X, Y):
        a1, yhat = forward(p, X)
        m = X.shape[0]
        if bug == "longhand":  # correct, the long way: dL/dŷ · σ′
            dyhat = -(Y / yhat - (1 - Y) / (1 - yhat)) / m
            dz2 = dyhat * yhat * (1 - yhat)
        else:
            dz2 = (yhat - Y) / m
        if bug == "extra_sigmoid_prime":
            dz2 = (yhat - Y) * yhat * (1 - yhat) / m  # BUG: MSE-style delta for BCE
        dW2 = a1.T @ dz2
        db2 = dz2.sum(axis=0)
        dz1 = (dz2 @ p["W2"].T) * (1 - a1 ** 2)
        dW1 = X.T @ dz1
        db1 = dz1.sum(axis=0)
        return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}

    return loss, grads


def make_bce(n_in=3, n_h=5, B=14):
    def make(seed):
        rng = np.random.default_rng(seed)
        p = {"W1": rng.standard_normal((n_in, n_h)) * 0.7, "b1": np.zeros(n_h),
             "W2": rng.standard_normal((n_h, 1)) * 0.7, "b2": np.zeros(1)}
        X = rng.standard_normal((B, n_in))
        Y = (rng.random((B, 1)) < 0.5).astype(float)
        return p, X, Y
    return make


# -- 5. other activations, linear output, MSE summed over outputs / averaged over the batch -----

ACTS = {  # name: (f, f′(z)) the way people write them
    "leaky_relu": (lambda z: np.where(z > 0, z, 0.01 * z), lambda z: np.where(z > 0, 1.0, 0.01)),
    "softplus": (lambda z: np.log1p(np.exp(z)), lambda z: 1 / (1 + np.exp(-z))),
    "elu": (lambda z: np.where(z > 0, z, np.exp(z) - 1), lambda z: np.where(z > 0, 1.0, np.exp(z))),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0) * 1.0),
}


def act_net(act):
    f, df = ACTS[act]

    def loss(p, X, Y):
        out = f(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
        return np.sum((out - Y) ** 2) / X.shape[0]

    def grads(p, X, Y):
        z = X @ p["W1"] + p["b1"]
        a = f(z)
        out = a @ p["W2"] + p["b2"]
        d = 2 * (out - Y) / X.shape[0]
        dz = (d @ p["W2"].T) * df(z)
        return {"W1": X.T @ dz, "b1": dz.sum(0), "W2": a.T @ d, "b2": d.sum(0)}

    return loss, grads


def make_act(n_in=4, n_h=6, n_out=2, B=10, x_scale=1.0, y_scale=1.0, y_shift=0.0):
    def make(seed):
        rng = np.random.default_rng(seed)
        p = {"W1": rng.standard_normal((n_in, n_h)) / (np.sqrt(n_in) * x_scale),
             "b1": 0.1 * rng.standard_normal(n_h),
             "W2": rng.standard_normal((n_h, n_out)) / np.sqrt(n_h),
             "b2": np.zeros(n_out)}
        X = x_scale * rng.standard_normal((B, n_in))
        Y = y_shift + y_scale * rng.standard_normal((B, n_out))
        return p, X, Y
    return make


# -- 6. a sigmoid/BCE head whose loss clips the probabilities (inactive here) --------------------

def clip_bce_net():
    def loss(p, X, Y):
        h = np.maximum(X @ p["W1"] + p["b1"], 0)
        prob = sigmoid(h @ p["W2"] + p["b2"])
        prob = np.clip(prob, 1e-7, 1 - 1e-7)
        return -np.mean(Y * np.log(prob) + (1 - Y) * np.log(1 - prob))

    def grads(p, X, Y):
        z = X @ p["W1"] + p["b1"]
        h = np.maximum(z, 0)
        prob = sigmoid(h @ p["W2"] + p["b2"])
        dz2 = (prob - Y) / len(X)
        dz1 = (dz2 @ p["W2"].T) * (z > 0)
        return {"W1": X.T @ dz1, "b1": dz1.sum(0), "W2": h.T @ dz2, "b2": dz2.sum(0)}

    return loss, grads


# -- 7. an L-layer tanh net kept in lists, the loop written once --------------------------------

def deep_list_net(n_layers, bug=None):
    def forward(p, X):
        As, Zs = [X], []
        for l in range(n_layers):
            Zs.append(As[-1] @ p[f"W{l}"] + p[f"b{l}"])
            As.append(np.tanh(Zs[-1]) if l < n_layers - 1 else Zs[-1])
        return As, Zs

    def loss(p, X, Y):
        return 0.5 * np.mean(np.sum((forward(p, X)[0][-1] - Y) ** 2, axis=1))

    def grads(p, X, Y):
        As, Zs = forward(p, X)
        delta = (As[-1] - Y) / len(X)
        if bug == "output_fprime":
            delta = delta * (1 - As[-1] ** 2)  # BUG: tanh′ applied at the linear output too
        g = {}
        for l in reversed(range(n_layers)):
            g[f"W{l}"] = As[l].T @ delta
            g[f"b{l}"] = delta.sum(axis=0)
            if l > 0:
                delta = (delta @ p[f"W{l}"].T) * (1 - As[l] ** 2)
        return {k: g[k] for k in p}

    return loss, grads


def make_deep(sizes=(4, 6, 6, 6, 2), B=9):
    def make(seed):
        rng = np.random.default_rng(seed)
        p = {}
        for l, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            p[f"W{l}"] = rng.standard_normal((a, b)) / np.sqrt(a)
            p[f"b{l}"] = 0.1 * rng.standard_normal(b)
        return p, rng.standard_normal((B, sizes[0])), rng.standard_normal((B, sizes[-1]))
    return make


# -- 8. a tied-weight autoencoder: W is used by the encoder and (transposed) by the decoder -------

def tied_autoencoder(bug=None):
    def loss(p, X, Y):
        h = sigmoid(X @ p["W"] + p["b"])
        return 0.5 * np.sum((h @ p["W"].T + p["c"] - Y) ** 2) / len(X)

    def grads(p, X, Y):
        h = sigmoid(X @ p["W"] + p["b"])
        r = h @ p["W"].T + p["c"]
        dr = (r - Y) / len(X)
        dh = dr @ p["W"] * h * (1 - h)
        dW = X.T @ dh + dr.T @ h
        if bug == "decoder_term_missing":
            dW = X.T @ dh  # BUG: W is used twice; only the encoder's use is differentiated
        return {"W": dW, "b": dh.sum(0), "c": dr.sum(0)}

    return loss, grads


def make_ae(n=6, h=3, B=8):
    def make(seed):
        rng = np.random.default_rng(seed)
        p = {"W": rng.standard_normal((n, h)) * 0.5, "b": np.zeros(h), "c": np.zeros(n)}
        X = rng.random((B, n))
        return p, X, X.copy()
    return make


def _case(name, net, make, bug=None, buggy=(), kind=None, notes="", says=None):
    loss, grads = net(bug)
    return Case(name, STYLE, make, loss, grads, frozenset(buggy), kind, notes, says=says)


ALL4 = ("W1", "b1", "W2", "b2")
CASES = [
    _case("vec_sigmoid_mse", mse_net, make_mse()),
    _case("vec_sigmoid_mse_factor2", mse_net, make_mse(), "factor2", ALL4, "scaled",
          "MSE gradient without the 2", says="factor 2 is missing"),
    _case("vec_sigmoid_mse_batch_only", mse_net, make_mse(), "batch_only", ALL4, "scaled",
          "loss is np.mean over all entries, gradient divides by B only",
          says="n_out = 3 times too large"),
    _case("vec_sigmoid_mse_dW2_from_z1", mse_net, make_mse(), "dW2_from_z1", {"W2"},
          "wrong_layer_input", "dW2 = z1ᵀ·δ instead of a1ᵀ·δ"),
    _case("vec_sigmoid_mse_sigmoid_prime_of_a", mse_net, make_mse(), "sigmoid_prime_of_a",
          {"W1", "b1"}, "activation_derivative_at_output", "σ(a1)(1 − σ(a1)) with a1 = σ(z1)"),
    _case("vec_sigmoid_mse_no_sigmoid_prime", mse_net, make_mse(), "no_sigmoid_prime",
          {"W1", "b1"}, "activation_derivative_missing"),
    _case("vec_sigmoid_mse_db1_mean", mse_net, make_mse(), "db1_mean", {"b1"}, "scaled",
          "np.mean instead of np.sum for the bias", says="B = 10 times too small"),
    _case("vec_tanh_ce", ce_net, make_ce()),
    _case("vec_tanh_ce_no_1_over_B", ce_net, make_ce(), "no_1_over_B", ALL4, "scaled",
          says="1/B is missing"),
    _case("vec_tanh_ce_forgot_minus_Y", ce_net, make_ce(), "forgot_minus_Y", ALL4,
          "loss_gradient_wrong", "dlogits = softmax/B, the − Y forgotten"),
    _case("vec_tanh_ce_sign", ce_net, make_ce(), "sign", ALL4, "sign", says="wrong sign"),
    _case("vec_tanh_ce_db2_not_summed", ce_net, make_ce(), "db2_not_summed", {"b2"},
          "bias_not_summed", says="summed over the batch"),
    _case("vec_tanh_ce_tanh_prime_not_squared", ce_net, make_ce(), "tanh_prime_not_squared",
          {"W1", "b1"}, "activation_derivative_wrong"),
    _case("vec_tanh_ce_transposed_dW1", ce_net, make_ce(n_in=6, n_h=6), "transposed_dW1",
          {"W1"}, "transposed", "square W1 (6×6), so the shape is right", says="transposed"),
    _case("vec_tanh_ce_zero_db1", ce_net, make_ce(), "zero_db1", {"b1"}, "zero",
          says="all zeros"),
    _case("vec_tanh_ce_wide", ce_net, make_ce(n_in=20, n_h=30, n_out=10, B=16),
          notes="600- and 300-entry weights: directional checks, no entry-by-entry"),
    _case("vec_tanh_ce_wide_tanh_prime_not_squared", ce_net,
          make_ce(n_in=20, n_h=30, n_out=10, B=16), "tanh_prime_not_squared", {"W1", "b1"},
          "activation_derivative_wrong", "wide: localized by bisection"),
    _case("vec_tanh_ce_wide_sign", ce_net, make_ce(n_in=20, n_h=30, n_out=10, B=16), "sign",
          ALL4, "sign", says="wrong sign"),
    _case("vec_relu3_ce_int_labels", relu3_net, make_relu3()),
    _case("vec_relu3_mask_from_A", relu3_net, make_relu3(), "mask_from_A",
          notes="ReLU mask computed from the activation (A > 0): correct"),
    _case("vec_relu3_dW3_from_A1", relu3_net, make_relu3(), "dW3_from_A1", {"W3"},
          "wrong_layer_input", "A1ᵀ·δ3 instead of A2ᵀ·δ3 (equal hidden widths)"),
    _case("vec_relu3_mask_wrong_layer", relu3_net, make_relu3(), "mask_wrong_layer",
          {"W1", "b1", "W2", "b2"}, "activation_derivative_wrong",
          "layer 1's ReLU mask used at layer 2"),
    _case("vec_relu3_no_relu_grad_2", relu3_net, make_relu3(), "no_relu_grad_2",
          {"W1", "b1", "W2", "b2"}, "activation_derivative_missing"),
    _case("vec_tanh_sigmoid_bce", bce_net, make_bce()),
    _case("vec_tanh_sigmoid_bce_longhand", bce_net, make_bce(), "longhand",
          notes="dL/dŷ·σ′ written out: correct"),
    _case("vec_leaky_relu_mse", lambda b: act_net("leaky_relu"), make_act()),
    _case("vec_softplus_mse", lambda b: act_net("softplus"), make_act()),
    _case("vec_elu_mse", lambda b: act_net("elu"), make_act()),
    _case("vec_relu_mse_unscaled", lambda b: act_net("relu"),
          make_act(x_scale=50.0, y_scale=1000.0, y_shift=5000.0),
          notes="raw features (×50) and targets around 5000: a loss of ~10⁷"),
    _case("vec_relu_bce_clipped", lambda b: clip_bce_net(), make_bce(),
          notes="np.clip in the loss, inactive at this point"),
    _case("vec_deep_list", lambda b: deep_list_net(4, b), make_deep()),
    _case("vec_deep_list_output_fprime", lambda b: deep_list_net(4, b), make_deep(),
          "output_fprime", ("W0", "b0", "W1", "b1", "W2", "b2", "W3", "b3"),
          "loss_gradient_wrong", "tanh′ applied at the linear output layer: δ of the output is "
          "wrong, as with the extra σ′ of vec_tanh_sigmoid_bce_extra_sigmoid_prime"),
    _case("vec_tied_autoencoder", tied_autoencoder, make_ae()),
    _case("vec_tied_autoencoder_decoder_term_missing", tied_autoencoder, make_ae(),
          "decoder_term_missing", {"W"}, "other", "shared weight: one of its two uses dropped"),
    _case("vec_tanh_sigmoid_bce_extra_sigmoid_prime", bce_net, make_bce(), "extra_sigmoid_prime",
          ALL4, "loss_gradient_wrong", "(ŷ − y)·σ′ for BCE: σ′ counted although it cancels"),
]

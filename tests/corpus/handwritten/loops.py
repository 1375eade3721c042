"""Per-sample loops: forward and backward one example at a time (1-D vectors, np.outer),
gradients accumulated over the batch and averaged at the end, as in many tutorials."""

import numpy as np

from .case import Case
from .common import sigmoid, softmax

STYLE = "loops"


# -- A. sigmoid hidden, linear output, loss = (1/B) Σ_i ‖out_i − y_i‖² -----------------------------

def sigmoid_mse(bug=None):
    def loss(params, X, Y):
        W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
        total = 0.0
        for x, y in zip(X, Y):
            h = sigmoid(x @ W1 + b1)
            out = h @ W2 + b2
            total = total + np.sum((out - y) ** 2)
        return total / len(X)

    def grads(params, X, Y):
        W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
        dW1, db1 = np.zeros_like(W1), np.zeros_like(b1)
        dW2, db2 = np.zeros_like(W2), np.zeros_like(b2)
        B = len(X)
        n = B - 1 if bug == "skip_last" else B  # BUG (skip_last): range(len(X) - 1)
        for i in range(n):
            x, y = X[i], Y[i]
            z1 = x @ W1 + b1
            h = sigmoid(z1)
            out = h @ W2 + b2
            d_out = 2 * (out - y)
            if bug == "divide_twice":
                d_out = d_out / B  # BUG: divided here and again at the end
            if bug == "accumulate_into_copy":
                acc = dW2.copy()  # BUG: accumulates into a copy, dW2 itself stays 0
                acc += np.outer(h, d_out)
            elif bug == "dW2_from_x":
                dW2 += np.outer(x, d_out)  # BUG: the network input instead of h (n_in == n_h)
            else:
                dW2 += np.outer(h, d_out)
            db2 += d_out
            if bug == "hidden_loop_short":
                d_h = np.zeros_like(h)
                for j in range(len(h) - 1):  # BUG: the last hidden unit is never visited
                    d_h[j] = np.dot(W2[j, :], d_out)
            else:
                d_h = W2 @ d_out
            d_z1 = d_h * h * (1 - h)
            if bug == "sigmoid_prime_of_h":
                d_z1 = d_h * sigmoid(h) * (1 - sigmoid(h))  # BUG: σ′ at the output h
            if bug == "outer_swapped":
                dW1 += np.outer(d_z1, x)  # BUG: arguments of np.outer swapped (W1 square)
            elif bug == "overwrite_dW1":
                dW1 = np.outer(x, d_z1)  # BUG: = instead of +=, only the last sample stays
            else:
                dW1 += np.outer(x, d_z1)
            db1 += d_z1
        if bug == "no_divide":
            return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}  # BUG: never divided by B
        return {"W1": dW1 / B, "b1": db1 / B, "W2": dW2 / B, "b2": db2 / B}

    return loss, grads


def make_a(n_in=3, n_h=4, n_out=2, B=8):
    def make(seed):
        rng = np.random.default_rng(seed)
        params = {"W1": rng.uniform(-1, 1, (n_in, n_h)), "b1": rng.uniform(-0.1, 0.1, n_h),
                  "W2": rng.uniform(-1, 1, (n_h, n_out)), "b2": rng.uniform(-0.1, 0.1, n_out)}
        X = rng.uniform(-1, 1, (B, n_in))
        Y = rng.uniform(-1, 1, (B, n_out))
        return params, X, Y
    return make


# -- B. tanh hidden, softmax cross-entropy, integer labels; forward pass stored, then backward ----

def tanh_ce(bug=None):
    def forward_all(p, X):
        hs, probs = [], []
        for x in X:
            h = np.tanh(p["Wxh"] @ x + p["bh"])  # weights stored (n_out, n_in) here
            hs.append(h)
            probs.append(softmax(p["Why"] @ h + p["by"]))
        return hs, probs

    def loss(p, X, y):
        _, probs = forward_all(p, X)
        return -sum(np.log(pr[t]) for pr, t in zip(probs, y)) / len(X)

    def grads(p, X, y):
        hs, probs = forward_all(p, X)
        g = {k: np.zeros_like(v) for k, v in p.items()}
        for i in range(len(X)):
            dy = probs[i].copy()
            dy[y[i]] -= 1
            h_used = hs[i - 1] if bug == "off_by_one" else hs[i]  # BUG (off_by_one): hs[i − 1]
            g["Why"] += np.outer(dy, h_used)
            g["by"] += dy
            dh = p["Why"].T @ dy
            dz = (1 - hs[i] ** 2) * dh
            if bug == "tanh_prime_of_h":
                dz = (1 - np.tanh(hs[i]) ** 2) * dh  # BUG: tanh′ evaluated at h = tanh(z)
            g["Wxh"] += np.outer(dz, X[i])
            g["bh"] += dz
        return {k: v / len(X) for k, v in g.items()}

    return loss, grads


def make_b(n_in=4, n_h=5, n_cls=3, B=9):
    def make(seed):
        rng = np.random.default_rng(seed)
        p = {"Wxh": rng.standard_normal((n_h, n_in)) * 0.5, "bh": np.zeros(n_h),
             "Why": rng.standard_normal((n_cls, n_h)) * 0.5, "by": np.zeros(n_cls)}
        X = rng.standard_normal((B, n_in))
        y = rng.integers(0, n_cls, size=B)
        return p, X, y
    return make


# -- C. one sigmoid output, binary cross-entropy, per sample --------------------------------------

def bce_single(bug=None, act="tanh"):
    f = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0)}[act]

    def df(z):
        return 1 - np.tanh(z) ** 2 if act == "tanh" else (z > 0).astype(float)

    def loss(w, X, Y):
        L = 0.0
        for x, t in zip(X, Y):
            p = sigmoid(f(x @ w["W1"] + w["b1"]) @ w["w2"] + w["b2"])
            L -= t * np.log(p) + (1 - t) * np.log(1 - p)
        return L / len(X)

    def grads(w, X, Y):
        gW1, gb1 = np.zeros_like(w["W1"]), np.zeros_like(w["b1"])
        gw2, gb2 = np.zeros_like(w["w2"]), np.zeros_like(w["b2"])
        for x, t in zip(X, Y):
            z = x @ w["W1"] + w["b1"]
            a = f(z)
            p = sigmoid(a @ w["w2"] + w["b2"])
            e = p - t
            if bug == "extra_sigmoid_prime":
                e = (p - t) * p * (1 - p)  # BUG: σ′ although it cancels against BCE's 1/(p(1−p))
            gw2 += e * a
            gb2 += e
            dz = e * w["w2"] * df(z)
            gW1 += np.outer(x, dz)
            gb1 += dz
        m = len(X)
        return {"W1": gW1 / m, "b1": gb1 / m, "w2": gw2 / m, "b2": gb2 / m}

    return loss, grads


def make_c(n_in=3, n_h=4, B=10):
    def make(seed):
        rng = np.random.default_rng(seed)
        w = {"W1": rng.standard_normal((n_in, n_h)), "b1": 0.1 * np.ones(n_h),
             "w2": rng.standard_normal(n_h), "b2": np.zeros(1)}
        X = rng.standard_normal((B, n_in))
        Y = rng.integers(0, 2, size=B).astype(float)
        return w, X, Y
    return make


# -- D. logistic regression with the math module, one sample at a time ---------------------------

def logistic_math(bug=None):
    import math

    def loss(p, X, Y):
        total = 0.0
        for x, t in zip(X, Y):
            s = float(np.dot(p["w"], x) + p["b"])
            q = 1.0 / (1.0 + math.exp(-s))
            total -= t * math.log(q) + (1 - t) * math.log(1 - q)
        return total / len(X)

    def grads(p, X, Y):
        gw, gb = np.zeros_like(p["w"]), np.zeros_like(p["b"])
        for x, t in zip(X, Y):
            q = 1.0 / (1.0 + math.exp(-float(np.dot(p["w"], x) + p["b"])))
            gw += (q - t) * x
            if bug == "db_overwritten":
                gb = np.asarray(q - t, dtype=float)  # BUG: = instead of +=
            else:
                gb += q - t
        return {"w": gw / len(X), "b": gb / len(X)}

    return loss, grads


def make_d(n=5, B=12):
    def make(seed):
        rng = np.random.default_rng(seed)
        p = {"w": rng.standard_normal(n) * 0.5, "b": np.array(0.1)}  # b is a 0-d array
        X = rng.standard_normal((B, n))
        return p, X, (rng.random(B) < 0.5).astype(float)
    return make


def _case(name, factory, make, bug=None, buggy=(), kind=None, notes="", says=None, **kw):
    loss, grads = factory(bug, **kw)
    return Case(name, STYLE, make, loss, grads, frozenset(buggy), kind, notes, says=says)


ALL_A = ("W1", "b1", "W2", "b2")
CASES = [
    _case("loop_sigmoid_mse", sigmoid_mse, make_a()),
    _case("loop_sigmoid_mse_skip_last", sigmoid_mse, make_a(), "skip_last", ALL_A, "partial",
          "for i in range(len(X) − 1): the last sample never contributes"),
    _case("loop_sigmoid_mse_no_divide", sigmoid_mse, make_a(), "no_divide", ALL_A, "scaled",
          says="1/B is missing"),
    _case("loop_sigmoid_mse_divide_twice", sigmoid_mse, make_a(), "divide_twice", ALL_A,
          "scaled", says="B = 8 times too small"),
    _case("loop_sigmoid_mse_hidden_loop_short", sigmoid_mse, make_a(), "hidden_loop_short",
          {"W1", "b1"}, "partial", "δ of the last hidden unit stays 0: W1's last column, b1[-1]",
          says=r"column\(s\) 3|entries 3"),
    _case("loop_sigmoid_mse_sigmoid_prime_of_h", sigmoid_mse, make_a(), "sigmoid_prime_of_h",
          {"W1", "b1"}, "activation_derivative_at_output"),
    _case("loop_sigmoid_mse_outer_swapped", sigmoid_mse, make_a(n_in=4, n_h=4),
          "outer_swapped", {"W1"}, "transposed", "np.outer(δ, x) with W1 4×4",
          says="transposed"),
    _case("loop_sigmoid_mse_overwrite_dW1", sigmoid_mse, make_a(), "overwrite_dW1", {"W1"},
          "partial", "dW1 = … instead of dW1 += …: only the last sample (÷B) survives"),
    _case("loop_sigmoid_mse_accumulate_into_copy", sigmoid_mse, make_a(), "accumulate_into_copy",
          {"W2"}, "zero", says="all zeros"),
    _case("loop_sigmoid_mse_dW2_from_x", sigmoid_mse, make_a(n_in=4, n_h=4), "dW2_from_x",
          {"W2"}, "wrong_layer_input", "np.outer(x, δ2) with n_in = n_h = 4"),
    _case("loop_tanh_ce_labels", tanh_ce, make_b(),
          notes="weights stored (n_out, n_in), samples as 1-D vectors"),
    _case("loop_tanh_ce_off_by_one", tanh_ce, make_b(), "off_by_one", {"Why"}, "other",
          "hs[i − 1] in dWhy: another sample's hidden state"),
    _case("loop_tanh_ce_tanh_prime_of_h", tanh_ce, make_b(), "tanh_prime_of_h", {"Wxh", "bh"},
          "activation_derivative_at_output"),
    _case("loop_tanh_bce_single", bce_single, make_c(), notes="one output, b2 has one entry"),
    _case("loop_relu_bce_single", bce_single, make_c(), act="relu"),
    _case("loop_logistic_math", logistic_math, make_d(),
          notes="math.exp/math.log: a float loss, no complex step; b is a 0-d array"),
    _case("loop_logistic_math_db_overwritten", logistic_math, make_d(), "db_overwritten", {"b"},
          "partial", "only the last sample's error survives in db"),
    _case("loop_tanh_bce_extra_sigmoid_prime", bce_single, make_c(), "extra_sigmoid_prime",
          ("W1", "b1", "w2", "b2"), "loss_gradient_wrong"),
]

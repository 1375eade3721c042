"""Loss and layout conventions other than symnet's: ½-MSE, MSE summed over the batch, BCE summed
over outputs and averaged over the batch only (and PyTorch's mean over everything), and folded
biases (a ones column in X, the bias as a row or column of W), including Andrew Ng's ex4
convention (Θ of shape (n_out, n_in + 1), bias column unregularized)."""

import numpy as np

from .case import Case
from .common import sigmoid

STYLE = "conventions"


# -- ½-MSE and summed MSE, sigmoid hidden layer, linear output -------------------------------------

def mse_variants(reduction="half_mean", bug=None):
    """half_mean: ½Σ(a−y)²/B;  sum: Σ(a−y)² (no averaging at all)."""

    def forward(p, X):
        h = sigmoid(X @ p["W1"] + p["b1"])
        return h, h @ p["W2"] + p["b2"]

    def loss(p, X, Y):
        err = forward(p, X)[1] - Y
        if reduction == "half_mean":
            return 0.5 * np.sum(err ** 2) / len(X)
        return np.sum(err ** 2)

    def grads(p, X, Y):
        h, yhat = forward(p, X)
        if reduction == "half_mean":
            delta = (yhat - Y) / len(X)
            if bug == "extra_2":
                delta = 2 * (yhat - Y) / len(X)  # BUG: the ½ already cancels the 2
        else:
            delta = 2 * (yhat - Y)
            if bug == "divide_by_B":
                delta = 2 * (yhat - Y) / len(X)  # BUG: habit; this loss is a plain sum
        dh = delta @ p["W2"].T * h * (1 - h)
        return {"W1": X.T @ dh, "b1": dh.sum(axis=0), "W2": h.T @ delta, "b2": delta.sum(axis=0)}

    return loss, grads


def make_mse(n_in=3, n_h=6, n_out=2, B=7):
    def make(seed):
        rng = np.random.default_rng(seed)
        p = {"W1": rng.normal(0, 0.8, (n_in, n_h)), "b1": rng.normal(0, 0.1, n_h),
             "W2": rng.normal(0, 0.8, (n_h, n_out)), "b2": rng.normal(0, 0.1, n_out)}
        return p, rng.normal(size=(B, n_in)), rng.normal(size=(B, n_out))
    return make


# -- multi-label BCE on sigmoid outputs ------------------------------------------------------------

def bce_multilabel(reduction="batch", bug=None):
    """batch: −Σ[y log p + (1−y) log(1−p)]/B (summed over the outputs); all: the mean over all
    B·n_out entries (torch's BCELoss)."""

    def forward(p, X):
        h = np.tanh(X @ p["W1"] + p["b1"])
        return h, sigmoid(h @ p["W2"] + p["b2"])

    def loss(p, X, Y):
        P = forward(p, X)[1]
        total = -np.sum(Y * np.log(P) + (1 - Y) * np.log(1 - P))
        return total / (len(X) if reduction == "batch" else Y.size)

    def grads(p, X, Y):
        h, P = forward(p, X)
        dz = (P - Y) / (len(X) if reduction == "batch" else Y.size)
        if bug == "mean_all":
            dz = (P - Y) / Y.size  # BUG: torch's BCELoss convention, but this loss sums outputs
        if bug == "batch_only":
            dz = (P - Y) / len(X)  # BUG: this loss is the mean over all entries
        dh = (dz @ p["W2"].T) * (1 - h ** 2)
        return {"W1": X.T @ dh, "b1": dh.sum(0), "W2": h.T @ dz, "b2": dz.sum(0)}

    return loss, grads


def make_bce(n_in=4, n_h=5, n_out=3, B=9):
    def make(seed):
        rng = np.random.default_rng(seed)
        p = {"W1": rng.normal(0, 0.6, (n_in, n_h)), "b1": np.zeros(n_h),
             "W2": rng.normal(0, 0.6, (n_h, n_out)), "b2": np.zeros(n_out)}
        X = rng.normal(size=(B, n_in))
        Y = rng.integers(0, 2, (B, n_out)).astype(float)
        return p, X, Y
    return make


# -- folded bias, appended ones column: W1 is (n_in + 1, n_h), W2 is (n_h + 1, n_out) --------------

def folded_append(bug=None):
    def forward(p, X):
        X1 = np.c_[X, np.ones(len(X))]
        A1 = np.tanh(X1 @ p["W1"])
        A1b = np.c_[A1, np.ones(len(X))]
        return X1, A1, A1b, A1b @ p["W2"]

    def loss(p, X, Y):
        return np.mean(np.sum((forward(p, X)[3] - Y) ** 2, axis=1))

    def grads(p, X, Y):
        X1, A1, A1b, out = forward(p, X)
        d2 = 2 * (out - Y) / len(X)
        dW2 = A1b.T @ d2
        if bug == "bias_row_zero":
            dW2 = np.vstack([A1.T @ d2, np.zeros((1, d2.shape[1]))])  # BUG: bias row left at 0
        d1 = (d2 @ p["W2"][:-1].T) * (1 - A1 ** 2)  # drop the bias row before going down
        return {"W1": X1.T @ d1, "W2": dW2}

    return loss, grads


def make_folded(n_in=3, n_h=4, n_out=2, B=8):
    def make(seed):
        rng = np.random.default_rng(seed)
        p = {"W1": rng.normal(0, 0.7, (n_in + 1, n_h)), "W2": rng.normal(0, 0.7, (n_h + 1, n_out))}
        return p, rng.normal(size=(B, n_in)), rng.normal(size=(B, n_out))
    return make


# -- Andrew Ng's ex4: Θ (n_out, n_in + 1), prepended ones, sigmoid everywhere, λ/(2m) on Θ[:, 1:] --

def ng_ex4(lam=1.0, bug=None):
    def forward(p, X):
        m = X.shape[0]
        a1 = np.hstack([np.ones((m, 1)), X])
        z2 = a1 @ p["Theta1"].T
        a2 = np.hstack([np.ones((m, 1)), sigmoid(z2)])
        h = sigmoid(a2 @ p["Theta2"].T)
        return a1, z2, a2, h

    def loss(p, X, Y):
        m = X.shape[0]
        h = forward(p, X)[3]
        J = -np.sum(Y * np.log(h) + (1 - Y) * np.log(1 - h)) / m
        reg = lam / (2 * m) * (np.sum(p["Theta1"][:, 1:] ** 2) + np.sum(p["Theta2"][:, 1:] ** 2))
        return J + reg

    def grads(p, X, Y):
        m = X.shape[0]
        a1, z2, a2, h = forward(p, X)
        d3 = h - Y
        d2 = (d3 @ p["Theta2"])[:, 1:] * sigmoid(z2) * (1 - sigmoid(z2))
        if bug == "drop_last":
            d2 = (d3 @ p["Theta2"])[:, :-1] * sigmoid(z2) * (1 - sigmoid(z2))  # BUG: [:, :-1]
        if bug == "sigmoid_gradient_of_a":
            g = a2[:, 1:]
            d2 = (d3 @ p["Theta2"])[:, 1:] * sigmoid(g) * (1 - sigmoid(g))  # BUG: at a2, not z2
        Theta1_grad = d2.T @ a1 / m
        Theta2_grad = d3.T @ a2 / m
        if bug == "no_reg":
            return {"Theta1": Theta1_grad, "Theta2": Theta2_grad}  # BUG: regularization left out
        if bug == "reg_bias_column":
            Theta1_grad += lam / m * p["Theta1"]  # BUG: the bias column is not regularized
            Theta2_grad += lam / m * p["Theta2"]
        else:
            Theta1_grad[:, 1:] += lam / m * p["Theta1"][:, 1:]
            Theta2_grad[:, 1:] += lam / m * p["Theta2"][:, 1:]
        return {"Theta1": Theta1_grad, "Theta2": Theta2_grad}

    return loss, grads


def make_ng(n_in=4, n_h=5, K=3, m=10):
    def make(seed):
        rng = np.random.default_rng(seed)
        eps = 0.12 * 4  # randInitializeWeights' ε_init, larger so the bias column matters
        p = {"Theta1": rng.random((n_h, n_in + 1)) * 2 * eps - eps,
             "Theta2": rng.random((K, n_h + 1)) * 2 * eps - eps}
        X = rng.normal(size=(m, n_in))
        Y = np.eye(K)[rng.integers(0, K, m)]
        return p, X, Y
    return make


def _case(name, pair, make, buggy=(), kind=None, notes="", says=None, wd=None):
    loss, grads = pair
    return Case(name, STYLE, make, loss, grads, frozenset(buggy), kind, notes, says=says,
                weight_decay=wd)


ALL = ("W1", "b1", "W2", "b2")
NG_LAMBDA, NG_M = 1.0, 10
CASES = [
    _case("conv_half_mse", mse_variants("half_mean"), make_mse()),
    _case("conv_half_mse_extra_2", mse_variants("half_mean", "extra_2"), make_mse(), ALL,
          "scaled", "2(a − y) for ½(a − y)²", says="twice the true gradient"),
    _case("conv_mse_sum", mse_variants("sum"), make_mse()),
    _case("conv_mse_sum_divide_by_B", mse_variants("sum", "divide_by_B"), make_mse(), ALL,
          "scaled", says="B = 7 times too small"),
    _case("conv_bce_batch_only", bce_multilabel("batch"), make_bce()),
    _case("conv_bce_batch_only_grad_mean_all", bce_multilabel("batch", "mean_all"), make_bce(),
          ALL, "scaled", says="n_out = 3 times too small"),
    _case("conv_bce_mean_all", bce_multilabel("all"), make_bce()),
    _case("conv_bce_mean_all_grad_batch_only", bce_multilabel("all", "batch_only"), make_bce(),
          ALL, "scaled", says="n_out = 3 times too large"),
    _case("conv_folded_append", folded_append(), make_folded(),
          notes="bias as the last row of W, ones column appended"),
    _case("conv_folded_append_bias_row_zero", folded_append("bias_row_zero"), make_folded(),
          {"W2"}, "partial", "the bias row of dW2 is never filled", says=r"row\(s\) 4"),
    _case("ng_ex4", ng_ex4(NG_LAMBDA), make_ng(), wd=NG_LAMBDA / NG_M,
          notes="λ/(2m)·ΣΘ[:, 1:]²: bias column not regularized"),
    _case("ng_ex4_drop_last", ng_ex4(NG_LAMBDA, "drop_last"), make_ng(), {"Theta1"}, "other",
          "drops the last column of δ3·Θ2 instead of the bias column", wd=NG_LAMBDA / NG_M),
    _case("ng_ex4_sigmoid_gradient_of_a", ng_ex4(NG_LAMBDA, "sigmoid_gradient_of_a"), make_ng(),
          {"Theta1"}, "activation_derivative_at_output", wd=NG_LAMBDA / NG_M),
    _case("ng_ex4_no_reg", ng_ex4(NG_LAMBDA, "no_reg"), make_ng(), {"Theta1", "Theta2"},
          "l2_missing", "the missing term is λ/m·Θ with the bias column zeroed",
          says="L2 term is missing", wd=NG_LAMBDA / NG_M),
    _case("ng_ex4_reg_bias_column", ng_ex4(NG_LAMBDA, "reg_bias_column"), make_ng(),
          {"Theta1", "Theta2"}, "l2_wrong", "bias column regularized in the gradient only",
          says=r"column\(s\) 0", wd=NG_LAMBDA / NG_M),
]

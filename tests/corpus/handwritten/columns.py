"""Samples as columns, Nielsen style ("Neural Networks and Deep Learning", network.py and
network2.py): W is (n_out, n_in), b is (n_out, 1), X is (n_in, B), Y is (n_out, B); the params
dict lists the biases first, as `self.biases` comes before `self.weights`.

The costs are Nielsen's: QuadraticCost 0.5·‖a − y‖² and CrossEntropyCost with np.nan_to_num,
averaged over the n samples; network2's L2 term is 0.5·(λ/n)·Σ‖w‖², written with
np.linalg.norm."""

import numpy as np

from .case import Case
from .common import sigmoid

STYLE = "columns"


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


def unpack(params, L):
    return ([params[f"b{l}"] for l in range(1, L)], [params[f"w{l}"] for l in range(1, L)])


def pack(nabla_b, nabla_w):
    out = {f"b{l}": nb for l, nb in enumerate(nabla_b, start=1)}
    out.update({f"w{l}": nw for l, nw in enumerate(nabla_w, start=1)})
    return out


def quadratic_fn(a, y):
    return 0.5 * np.linalg.norm(a - y) ** 2


def cross_entropy_fn(a, y):
    return np.sum(np.nan_to_num(-y * np.log(a) - (1 - y) * np.log(1 - a)))


def network(sizes, cost="quadratic", lmbda=0.0, bug=None):
    L = len(sizes)

    def feedforward(biases, weights, a):
        for b, w in zip(biases, weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def total_cost(params, X, Y):
        biases, weights = unpack(params, L)
        n = X.shape[1]
        fn = quadratic_fn if cost == "quadratic" else cross_entropy_fn
        c = 0.0
        for j in range(n):
            a = feedforward(biases, weights, X[:, [j]])
            c += fn(a, Y[:, [j]]) / n
        c += 0.5 * (lmbda / n) * sum(np.linalg.norm(w) ** 2 for w in weights)
        return c

    def backprop(biases, weights, x, y):
        nabla_b = [np.zeros(b.shape) for b in biases]
        nabla_w = [np.zeros(w.shape) for w in weights]
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(biases, weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        if bug == "cost_derivative_sign":
            delta = (y - activations[-1]) * sigmoid_prime(zs[-1])  # BUG: (y − a), not (a − y)
        elif cost == "quadratic" or bug == "quadratic_delta":
            # BUG when cost is cross-entropy: the quadratic cost's delta
            delta = (activations[-1] - y) * sigmoid_prime(zs[-1])
        else:
            delta = activations[-1] - y  # CrossEntropyCost.delta
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for l in range(2, L):
            z = zs[-l]
            sp = sigmoid_prime(z)
            if bug == "sp_of_activation":
                sp = sigmoid_prime(activations[-l])  # BUG: σ′ at the activation, not at z
            delta = np.dot(weights[-l + 1].transpose(), delta) * sp
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return nabla_b, nabla_w

    def grads(params, X, Y):
        biases, weights = unpack(params, L)
        n = X.shape[1]
        nabla_b = [np.zeros(b.shape) for b in biases]
        nabla_w = [np.zeros(w.shape) for w in weights]
        for j in range(n):
            dnb, dnw = backprop(biases, weights, X[:, [j]], Y[:, [j]])
            nabla_b = [nb + d for nb, d in zip(nabla_b, dnb)]
            nabla_w = [nw + d for nw, d in zip(nabla_w, dnw)]
        if bug == "no_1_over_n":  # BUG: update_mini_batch divides by len(mini_batch); not here
            return pack(nabla_b, [nw + lmbda * w for nw, w in zip(nabla_w, weights)])
        nabla_b = [nb / n for nb in nabla_b]
        if bug == "l2_missing":
            nabla_w = [nw / n for nw in nabla_w]  # BUG: the (λ/n)·w of the L2 term forgotten
        elif bug == "l2_not_over_n":
            nabla_w = [nw / n + lmbda * w for nw, w in zip(nabla_w, weights)]  # BUG: λ·w
        else:
            nabla_w = [nw / n + (lmbda / n) * w for nw, w in zip(nabla_w, weights)]
        return pack(nabla_b, nabla_w)

    return total_cost, grads


def matrix_network(sizes, bug=None):
    """The whole mini-batch as one matrix (the exercise at the end of chapter 2)."""
    L = len(sizes)

    def cost(params, X, Y):
        biases, weights = unpack(params, L)
        A = X
        for b, w in zip(biases, weights):
            A = sigmoid(w @ A + b)
        return 0.5 * np.sum((A - Y) ** 2) / X.shape[1]

    def grads(params, X, Y):
        biases, weights = unpack(params, L)
        n = X.shape[1]
        activations, zs = [X], []
        for b, w in zip(biases, weights):
            zs.append(w @ activations[-1] + b)
            activations.append(sigmoid(zs[-1]))
        nabla_b, nabla_w = [None] * (L - 1), [None] * (L - 1)
        delta = (activations[-1] - Y) * sigmoid_prime(zs[-1])
        for l in range(1, L):
            if l > 1:
                delta = (weights[-l + 1].T @ delta) * sigmoid_prime(zs[-l])
            nabla_b[-l] = delta.sum(axis=1, keepdims=True) / n
            if bug == "bias_not_summed":
                nabla_b[-l] = delta / n  # BUG: one column per sample, never summed
            nabla_w[-l] = delta @ activations[-l - 1].T / n
            if bug == "transposed_w1" and l == L - 1:
                nabla_w[-l] = activations[-l - 1] @ delta.T / n  # BUG: a·δᵀ (w1 is square)
            if bug == "wrong_activation_index":
                nabla_w[-l] = delta @ activations[-l].T / n  # BUG: activations[-l], not [-l-1]
        return pack(nabla_b, nabla_w)

    return cost, grads


def make_cols(sizes, n=10, cost="quadratic", dtype=np.float64):
    def make(seed):
        rng = np.random.default_rng(seed)
        params = {f"b{l}": rng.standard_normal((y, 1)) for l, y in enumerate(sizes[1:], 1)}
        params.update({f"w{l}": rng.standard_normal((y, x)) / np.sqrt(x)
                       for l, (x, y) in enumerate(zip(sizes[:-1], sizes[1:]), 1)})
        X = rng.random((sizes[0], n))
        if cost == "quadratic":
            Y = rng.random((sizes[-1], n))
        else:  # one-hot columns, like Nielsen's vectorized_result
            Y = np.zeros((sizes[-1], n))
            Y[rng.integers(0, sizes[-1], n), np.arange(n)] = 1.0
        return {k: v.astype(dtype) for k, v in params.items()}, X.astype(dtype), Y.astype(dtype)
    return make


def _case(name, pair, make, buggy=(), kind=None, notes="", says=None, wd=None):
    loss, grads = pair
    return Case(name, STYLE, make, loss, grads, frozenset(buggy), kind, notes, says=says,
                weight_decay=wd)


Q, CE = [3, 4, 2], [4, 5, 3]
LMBDA, N = 0.5, 10
ALLQ = ("b1", "b2", "w1", "w2")
CASES = [
    _case("nielsen_quadratic", network(Q), make_cols(Q)),
    _case("nielsen_quadratic_sp_of_activation", network(Q, bug="sp_of_activation"),
          make_cols(Q), {"b1", "w1"}, "activation_derivative_at_output"),
    _case("nielsen_quadratic_sign", network(Q, bug="cost_derivative_sign"), make_cols(Q), ALLQ,
          "sign", "cost_derivative returns y − a", says="wrong sign"),
    _case("nielsen_quadratic_no_1_over_n", network(Q, bug="no_1_over_n"), make_cols(Q), ALLQ,
          "scaled", "returns the sums; Nielsen divides by len(mini_batch) in the update",
          says="1/B is missing"),
    _case("nielsen_ce_l2", network(CE, "ce", LMBDA), make_cols(CE, cost="ce"), wd=LMBDA / N,
          notes="L2 written 0.5·(λ/n)·Σ np.linalg.norm(w)**2"),
    _case("nielsen_ce_l2_missing", network(CE, "ce", LMBDA, bug="l2_missing"),
          make_cols(CE, cost="ce"), {"w1", "w2"}, "l2_missing",
          "np.linalg.norm in the loss is not complex-step safe", says="L2 term is missing",
          wd=LMBDA / N),
    _case("nielsen_ce_l2_not_over_n", network(CE, "ce", LMBDA, bug="l2_not_over_n"),
          make_cols(CE, cost="ce"), {"w1", "w2"}, "l2_wrong", "λ·w instead of (λ/n)·w",
          wd=LMBDA / N),
    _case("nielsen_ce_quadratic_delta", network(CE, "ce", LMBDA, bug="quadratic_delta"),
          make_cols(CE, cost="ce"), ALLQ, "loss_gradient_wrong",
          "(a − y)·σ′(z) with the cross-entropy cost", wd=LMBDA / N),
    _case("nielsen_matrix_quadratic", matrix_network([4, 4, 3]), make_cols([4, 4, 3])),
    _case("nielsen_matrix_bias_not_summed", matrix_network([4, 4, 3], "bias_not_summed"),
          make_cols([4, 4, 3]), {"b1", "b2"}, "bias_not_summed", "nabla_b shaped (n_out, B)",
          says="summed"),
    _case("nielsen_matrix_transposed_w1", matrix_network([4, 4, 3], "transposed_w1"),
          make_cols([4, 4, 3]), {"w1"}, "transposed", says="transposed"),
    _case("nielsen_matrix_f32", matrix_network([4, 4, 3]),
          make_cols([4, 4, 3], n=20, dtype=np.float32),
          notes="float32 arrays, dtype-following code"),
    _case("nielsen_matrix_deep", matrix_network([3, 5, 5, 2]), make_cols([3, 5, 5, 2])),
    _case("nielsen_matrix_deep_wrong_activation_index",
          matrix_network([3, 5, 5, 2], "wrong_activation_index"), make_cols([3, 5, 5, 2]),
          {"w1", "w2", "w3"}, "wrong_layer_input",
          "the layer's own output instead of its input; w2 keeps its shape, w1 and w3 do not"),
]

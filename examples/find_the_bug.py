"""A student's hand-written backprop, checked by symnet: what is wrong, where, and the fix.

    python examples/find_the_bug.py

The network is 2-8-1 with sigmoid activations and the mean squared error over a batch:

    Z1 = X W1 + b1,  A1 = σ(Z1),  Z2 = A1 W2 + b2,  A2 = σ(Z2),  L = (1/B) Σ (A2 − Y)²

The student's `grads` has two classic bugs. `sn.verify` checks it against finite differences of
the student's own `loss` (a black box: no symnet network is needed), says which tensors are
wrong and how, and passes the fixed version.
"""

import numpy as np

import symnet as sn


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def loss(p, X, Y):
    A1 = sigmoid(X @ p["W1"] + p["b1"])
    A2 = sigmoid(A1 @ p["W2"] + p["b2"])
    return np.sum((A2 - Y) ** 2) / len(X)


def student_grads(p, X, Y):
    """As handed in."""
    Z1 = X @ p["W1"] + p["b1"]
    A1 = sigmoid(Z1)
    Z2 = A1 @ p["W2"] + p["b2"]
    A2 = sigmoid(Z2)
    dZ2 = 2 * (A2 - Y) * A2 * (1 - A2)  # BUG: L is a mean, so this needs a 1/B
    dZ1 = (dZ2 @ p["W2"].T) * Z1 * (1 - Z1)  # BUG: σ′(Z1) = A1(1 − A1), not Z1(1 − Z1)
    return {"W1": X.T @ dZ1, "b1": dZ1.sum(axis=0), "W2": A1.T @ dZ2, "b2": dZ2.sum(axis=0)}


def fixed_grads(p, X, Y):
    """After reading the reports."""
    Z1 = X @ p["W1"] + p["b1"]
    A1 = sigmoid(Z1)
    Z2 = A1 @ p["W2"] + p["b2"]
    A2 = sigmoid(Z2)
    dZ2 = 2 * (A2 - Y) * A2 * (1 - A2) / len(X)
    dZ1 = (dZ2 @ p["W2"].T) * A1 * (1 - A1)
    return {"W1": X.T @ dZ1, "b1": dZ1.sum(axis=0), "W2": A1.T @ dZ2, "b2": dZ2.sum(axis=0)}


def halfway_grads(p, X, Y):
    """The first report's finding applied (the 1/B), the hidden layer's bug still there."""
    g = student_grads(p, X, Y)
    return {k: v / len(X) for k, v in g.items()}


def main():
    rng = np.random.default_rng(0)
    params = {"W1": rng.standard_normal((2, 8)), "b1": 0.1 * rng.standard_normal(8),
              "W2": rng.standard_normal((8, 1)), "b2": 0.1 * rng.standard_normal(1)}
    X = rng.standard_normal((16, 2))
    Y = (X[:, :1] * X[:, 1:] > 0).astype(float)  # XOR-like labels, B = 16

    for title, grads in [("the student's gradients", student_grads),
                         ("with the 1/B added", halfway_grads),
                         ("fixed", fixed_grads)]:
        report = sn.verify(grads, loss=loss, params=params, X=X, Y=Y)
        print(f"── {title} {'─' * (70 - len(title))}")
        print(report)
        print()
        if report.ok:
            continue
        right = [r.name for r in report.results if r.ok]
        print(f"→ right: {', '.join(right) or 'none'}; wrong: "
              f"{', '.join(r.name for r in report.failures)}")
        if right == ["W2", "b2"]:
            # The output layer is right and the hidden one wrong: the error enters in the step
            # from δ2 to δ1. symnet's derivation says what that step is:
            d = sn.derive(sn.parse("2-8-1 sigmoid sigmoid mse"))
            print("→ so the step from δ2 to δ1 is wrong. symnet derives it as")
            for line in str(d).splitlines():
                if line.lstrip().startswith(("δ1 =", "σ′(x) =")):
                    print(f"     {line.strip()}")
            print("  i.e. σ′(Z1) = A1·(1 − A1), where the student wrote Z1·(1 − Z1).")
        print()


if __name__ == "__main__":
    main()

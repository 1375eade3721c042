"""A custom activation with a learned parameter: swish, x·σ(βx), with β learned per layer.

    python examples/custom_activation.py

The activation is one formula string; symnet reads it (never evaluates it), derives both of its
derivatives with SymPy (∂/∂x for δ, ∂/∂β for β's own gradient), prints the backward pass,
generates the NumPy code, checks that code's gradients against finite differences, and trains
the network on the two-moons dataset, β included.
"""

import symnet as sn
from symnet.training import datasets

swish = sn.Activation.from_formula("swish", "x * sigmoid(beta * x)", params={"beta": 1.0})
net = sn.Network([sn.Dense(2, 8), swish, sn.Dense(8, 1)], loss=sn.BCEWithLogits())


def main():
    print("── the derivation " + "─" * 58)
    print(sn.derive(net))

    model = sn.compile(net)
    print("\n── the generated line for β1's gradient " + "─" * 36)
    lines = model.source.splitlines()
    i = next(i for i, line in enumerate(lines) if line.strip().startswith("dbeta1 ="))
    print("\n".join(lines[i - 1:i + 1]))

    data = datasets.moons(400, noise=0.2, seed=0)
    X, y, X_test, y_test = datasets.split(data, 0.25, seed=0)
    Y, Y_test = y.reshape(-1, 1).astype(float), y_test.reshape(-1, 1).astype(float)
    params = model.init(seed=0)

    print("\n── generated gradients vs finite differences " + "─" * 31)
    report = sn.verify(lambda p, X, Y: model.loss_and_grads(p, X, Y)[1], loss=model.loss,
                       params=params, X=X[:32], Y=Y[:32])
    print(report)

    print("\n── training on two moons (Adam) " + "─" * 44)
    print(f"β1 starts at {params['beta1'][0]:.3f}")
    history = sn.train(model, params, X, Y, epochs=150, lr=0.03, batch_size=32,
                       optimizer="adam", seed=0, progress=False, test=(X_test, Y_test))
    print(history.summary())
    print(f"β1 learned: {params['beta1'][0]:.3f}  (β → ∞ would make swish a ReLU, β = 0 "
          "a line x/2)")


if __name__ == "__main__":
    main()

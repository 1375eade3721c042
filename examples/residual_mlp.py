"""A residual MLP beside the plain stack, on the built-in spirals dataset.

    python examples/residual_mlp.py

The residual network is built with the functional API: its skip connection adds a block's input
to the block's output, so ∂L/∂(input) is the sum of two paths, and the printed derivation says
so. Both networks are checked three ways (exact, generated NumPy, finite differences), then
trained by their generated NumPy code with the same optimizer, epochs and seed.
"""

import numpy as np

import symnet as sn
from symnet.training.datasets import spirals

WIDTH, EPOCHS = 16, 150


def plain():
    return sn.Network([sn.Dense(2, WIDTH), sn.Tanh(), sn.Dense(WIDTH, WIDTH), sn.Tanh(),
                       sn.Dense(WIDTH, WIDTH), sn.Tanh(), sn.Dense(WIDTH, 3)],
                      loss=sn.SoftmaxCrossEntropy())


def residual():
    x = sn.Input(2)
    h = sn.Tanh()(sn.Dense(2, WIDTH)(x))
    for _ in range(2):  # two residual blocks: h + tanh(Dense(h))
        h = sn.Add()(h, sn.Tanh()(sn.Dense(WIDTH, WIDTH)(h)))
    return sn.Network(inputs=x, outputs=sn.Dense(WIDTH, 3)(h), loss=sn.SoftmaxCrossEntropy())


def banner(title):
    print(f"\n{'─' * 10} {title} {'─' * max(0, 68 - len(title))}\n")


def accuracy(model, params, X, y):
    return float(np.mean(np.argmax(model.forward(params, X), axis=1) == y))


def main():
    data = spirals(n=300, classes=3, noise=0.2, seed=0)
    X, y = data.X, data.y.astype(int)

    banner("the residual network's derivation")
    print(sn.derive(residual()))

    results = {}
    for name, net in (("plain stack", plain()), ("residual", residual())):
        report = sn.check(net, batch=3)
        model = sn.compile(net)
        params = model.init(seed=0)
        history = sn.train(model, params, X, y, epochs=EPOCHS, lr=0.05, optimizer="adam",
                           seed=0, progress=False)
        results[name] = (report.ok, history.loss[-1], accuracy(model, params, X, y))

    banner(f"trained {EPOCHS} epochs (Adam, lr 0.05) on spirals, 3 classes")
    for name, (ok, loss, acc) in results.items():
        print(f"{name:12s} check: {'ok' if ok else 'FAILED'}   final loss {loss:.4f}   "
              f"training accuracy {acc:.1%}")


if __name__ == "__main__":
    main()

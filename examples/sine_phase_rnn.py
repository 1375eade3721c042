"""An RNN learns whether a noisy sine leads or lags a reference, trained by generated NumPy code.

    python examples/sine_phase_rnn.py

Each sample is a sequence of T = 12 steps of two channels: a reference sin(ωt + θ) and a
second sine shifted by +φ (it leads) or −φ (it lags), both with noise. The label is which.
The network is `RNN(2, 8)` (tanh; its last state) then `Dense(8, 2)` with softmax
cross-entropy. The script prints the derivation, backpropagation through time written once as
a recurrence in t, checks it three ways, then trains with the generated module's own `train`
(one loop over time forward, one backwards, everything inside vectorized over the batch).
"""

import numpy as np

import symnet as sn

T = 12


def make_data(n, rng):
    """(X (n, T, 2), labels (n,)): label 1 when the second channel leads the reference."""
    t = np.arange(T)
    omega = rng.uniform(0.4, 0.8, (n, 1))
    theta = rng.uniform(0, 2 * np.pi, (n, 1))
    labels = rng.integers(0, 2, n)
    phi = np.where(labels == 1, 1.0, -1.0)[:, None] * rng.uniform(0.4, 1.2, (n, 1))
    reference = np.sin(omega * t + theta)
    shifted = np.sin(omega * t + theta + phi)
    X = np.stack([reference, shifted], axis=2) + 0.1 * rng.standard_normal((n, T, 2))
    return X, labels


def main():
    net = sn.Network([sn.RNN(2, 8), sn.Dense(8, 2)], loss=sn.SoftmaxCrossEntropy(),
                     input_shape=(T, 2))
    print(sn.derive(net))
    print()
    small = sn.Network([sn.RNN(2, 3), sn.Dense(3, 2)], loss=sn.SoftmaxCrossEntropy(),
                       input_shape=(3, 2))
    report = sn.check(small, batch=3)
    print(f"check of the same network at T = 3: {'ok' if report.ok else 'FAILED'}")
    print(report if not report.ok else "")

    rng = np.random.default_rng(0)
    X, y = make_data(2000, rng)
    X_test, y_test = make_data(500, rng)
    model = sn.compile(net)
    params = model.init(seed=0)
    history = model.module.train(params, X, y, epochs=15, lr=0.1, batch_size=32)
    logits = model.forward(params, X_test)
    accuracy = float(np.mean(logits.argmax(axis=1) == y_test))
    print(f"loss {history[0]:.3f} → {history[-1]:.3f} in {len(history)} epochs; "
          f"test accuracy after 15 epochs: {100 * accuracy:.1f}%")


if __name__ == "__main__":
    main()

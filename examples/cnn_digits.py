"""A small CNN on scikit-learn's 8×8 digits, trained by symnet's generated NumPy code.

    python examples/cnn_digits.py

The network, as PyTorch would write it:

    Conv2d(1, 16, 3, padding=1) → ReLU → MaxPool2d(2) → Flatten → Dense(16·4·4, 10),
    softmax cross-entropy

symnet derives its backward pass (printed below: ∂L/∂W1 is the input correlated with δ1, the
max-pool routes ∂L/∂P1 to each window's maximum), checks it three ways on a tiny batch, and
generates the NumPy training step that `model.module.train` runs (minibatch SGD). Images go in
as (B, 1, 8, 8). Prints the test accuracy (≥ 98% expected) and the training time.

Uses scikit-learn's bundled digits; without scikit-learn it says so and exits 0.
"""

import time

import numpy as np

import symnet as sn
from symnet.training import datasets

EPOCHS, LR, BATCH = 30, 0.3, 32


def main():
    try:
        data = datasets.digits()
    except sn.DataError as e:
        print(f"skipped: {e}")
        return
    net = sn.Network([sn.Conv2d(1, 16, 3, padding=1), sn.ReLU(), sn.MaxPool2d(2), sn.Flatten(),
                      sn.Dense(16 * 4 * 4, 10)], loss=sn.SoftmaxCrossEntropy(),
                     input_shape=(1, 8, 8))
    print(sn.derive(net))
    report = sn.check(net, batch=2, dtype=np.float32)
    print(f"\ncheck (float32, exact vs generated vs finite differences): "
          f"{'ok' if report.ok else 'FAILED'}")

    X, y, X_test, y_test = datasets.split(data, 0.25, seed=0)
    X = X.reshape(-1, 1, 8, 8).astype(np.float32)  # (B, C, H, W), as PyTorch takes them
    X_test = X_test.reshape(-1, 1, 8, 8).astype(np.float32)
    model = sn.compile(net, np.float32)
    params = model.init(seed=0)
    start = time.perf_counter()
    history = model.module.train(params, X, y, epochs=EPOCHS, lr=LR, batch_size=BATCH, seed=0)
    seconds = time.perf_counter() - start
    logits = model.forward(params, X_test)
    accuracy = float(np.mean(logits.argmax(axis=1) == y_test))
    print(f"trained {EPOCHS} epochs on {len(X)} images in {seconds:.1f} s "
          f"(loss {history[0]:.3f} → {history[-1]:.4f})")
    print(f"test accuracy: {100 * accuracy:.2f}% on {len(X_test)} held-out digits")


if __name__ == "__main__":
    main()

"""A digits classifier trained by a generated module that needs only NumPy.

    python examples/digits_standalone.py

symnet writes `digits_mlp.py` for "64-32-10 relu softmax_ce": forward pass, loss, gradients,
an SGD step and a training loop, as plain NumPy with each equation in a comment above its line.
The training half then runs in a fresh Python in which importing SymPy or symnet fails, to show
that the module stands alone: it imports the file, trains with the module's own `train` (which
calls its own `loss_and_grads` and `sgd_step`), and reports test accuracy.

Uses scikit-learn's bundled 8×8 digits; without scikit-learn it says so and exits 0.
"""

import os
import subprocess
import sys
import tempfile

import numpy as np

SPEC = "64-32-10 relu softmax_ce"


def generate_and_split(folder):
    """This process: symnet generates the module; the data is split and saved beside it."""
    import symnet as sn
    from symnet.training import datasets

    try:
        data = datasets.digits()
    except sn.DataError as e:
        print(f"skipped: {e}")
        return False
    source = sn.codegen(sn.parse(SPEC))
    with open(os.path.join(folder, "digits_mlp.py"), "w", encoding="utf-8") as f:
        f.write(source)
    X, y, X_test, y_test = datasets.split(data, 0.25, seed=0)
    np.savez(os.path.join(folder, "digits.npz"), X=X, y=y, X_test=X_test, y_test=y_test)
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    print(f"wrote digits_mlp.py: {source.count(chr(10))} lines, imports: {imports}")
    print(f"digits: {len(X)} images to train on, {len(X_test)} to test")
    return True


def train_standalone(folder):
    """A fresh process where SymPy and symnet cannot be imported: only the generated file."""
    sys.modules["sympy"] = sys.modules["symnet"] = None  # importing them now raises
    sys.path.insert(0, folder)
    import digits_mlp  # noqa: PLC0415 - the module just written

    d = np.load(os.path.join(folder, "digits.npz"))
    params = digits_mlp.init_params(seed=0)
    print(f"parameters: { {k: v.shape for k, v in params.items()} }")

    def accuracy(X, y):
        return np.mean(digits_mlp.forward(params, X).argmax(axis=1) == y)

    print(f"test accuracy before training: {accuracy(d['X_test'], d['y_test']):.1%}")
    losses = digits_mlp.train(params, d["X"], d["y"], epochs=30, lr=0.2, batch_size=32, seed=0)
    for epoch in (0, 4, 9, 19, 29):
        print(f"  epoch {epoch + 1:2d}: mean training loss {losses[epoch]:.4f}")
    print(f"test accuracy after 30 epochs of SGD: {accuracy(d['X_test'], d['y_test']):.1%}")
    try:
        import sympy  # noqa: F401
    except ImportError:
        print("(trained in a process that cannot import SymPy or symnet: NumPy alone)")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--train":
        train_standalone(sys.argv[2])
        return
    with tempfile.TemporaryDirectory() as folder:
        if not generate_and_split(folder):
            return
        subprocess.run([sys.executable, __file__, "--train", folder], check=True)


if __name__ == "__main__":
    main()

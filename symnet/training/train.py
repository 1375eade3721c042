"""Training a compiled model: shuffled minibatches and SGD, momentum or Adam.

    history = sn.train(model, params, X, Y, epochs=200, lr=0.1, batch_size=32,
                       optimizer="adam", seed=0)

The data is validated and converted to the parameters' dtype once (and, for another backend,
moved to its device once); the inner loop then calls the generated functions directly: with
plain SGD the fused `train_step` (forward, loss, backward and update in one function, into
preallocated arrays: codegen.inplace), with momentum or Adam `loss_and_grads` and the optimizer
below, updating the parameter arrays in place (float32 stays float32: every constant is a
Python number). JAX's arrays are immutable: its steps replace the dict's entries instead. The
history holds, per epoch, the mean minibatch loss and the accuracy on the training set (and on
`test=(X, Y)` when given) for classification targets.
"""

from __future__ import annotations

import math
import numbers
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError, SpecError
from ..nn.data import check_seed, has_batchnorm

OPTIMIZERS = ("sgd", "momentum", "adam")


@dataclass
class History:
    loss: list[float] = field(default_factory=list)
    accuracy: list[float | None] = field(default_factory=list)  # None: not a classification
    test_accuracy: list[float | None] = field(default_factory=list)
    seconds: float = 0.0
    params: dict = field(default_factory=dict, repr=False)  # the trained arrays
    state: dict = field(default_factory=dict, repr=False)  # BatchNorm's running statistics

    def __len__(self):
        return len(self.loss)

    def summary(self) -> str:
        parts = [f"loss {self.loss[-1]:.4g}"] if self.loss else []
        for what, values in (("accuracy", self.accuracy), ("test accuracy", self.test_accuracy)):
            if values and values[-1] is not None:
                parts.append(f"{what} {100 * values[-1]:.1f}%")
        return ", ".join(parts) + f" after {len(self)} epochs ({self.seconds:.2f} s)"


# ── optimizers: state in the parameters' dtype, updates in place ───────────────────────────


# With `functional` (JAX), each array is replaced in its dict instead of updated in place. The
# arithmetic is the operators of the arrays, so the same code runs on every backend.


class SGD:
    def __init__(self, params, lr, functional=False):
        self.lr, self.functional = lr, functional

    def step(self, params, grads):
        for k, p in params.items():
            if self.functional:
                params[k] = p - self.lr * grads[k]
            else:
                p -= self.lr * grads[k]


class Momentum:
    """PyTorch's SGD with momentum μ: v ← μv + g, θ ← θ − lr·v."""

    def __init__(self, params, lr, mu=0.9, functional=False):
        self.lr, self.mu, self.functional = lr, mu, functional
        self.v = {k: p * 0 for k, p in params.items()}

    def step(self, params, grads):
        for k, p in params.items():
            v = self.v[k]
            if self.functional:
                v = self.v[k] = self.mu * v + grads[k]
                params[k] = p - self.lr * v
                continue
            v *= self.mu
            v += grads[k]
            p -= self.lr * v


class Adam:
    """Adam as PyTorch computes it (β1 = 0.9, β2 = 0.999, ε = 1e-8, bias-corrected)."""

    def __init__(self, params, lr, beta1=0.9, beta2=0.999, eps=1e-8, functional=False):
        self.lr, self.beta1, self.beta2, self.eps, self.t = lr, beta1, beta2, eps, 0
        self.functional = functional
        self.m = {k: p * 0 for k, p in params.items()}
        self.v = {k: p * 0 for k, p in params.items()}

    def step(self, params, grads):
        self.t += 1
        c1, c2 = 1 - self.beta1**self.t, 1 - self.beta2**self.t
        for k, p in params.items():
            g, m, v = grads[k], self.m[k], self.v[k]
            if self.functional:
                m = self.m[k] = self.beta1 * m + (1 - self.beta1) * g
                v = self.v[k] = self.beta2 * v + (1 - self.beta2) * (g * g)
                params[k] = p - (self.lr / c1) * m / ((v ** 0.5) / math.sqrt(c2) + self.eps)
                continue
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * (g * g)
            p -= (self.lr / c1) * m / ((v ** 0.5) / math.sqrt(c2) + self.eps)


_OPTIMIZER = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


# ── accuracy ───────────────────────────────────────────────────────────────────────────────


def accuracy(net, output: np.ndarray, Y: np.ndarray) -> float | None:
    """The fraction of samples classified right, or None when Y is not a classification target.

    One-hot rows (softmax_ce, or MSE on one-hot targets): argmax. 0/1 targets: the output
    thresholded at 0 for logits (bce_logits), at 1/2 otherwise, entry by entry."""
    Y = np.asarray(Y)
    one_hot = Y.shape[1] > 1 and np.all((Y == 0) | (Y == 1)) and np.all(Y.sum(axis=1) == 1)
    if net.loss.name in ("softmax_ce", "ce") or one_hot:
        return float(np.mean(output.argmax(axis=1) == Y.argmax(axis=1)))
    if np.all((Y == 0) | (Y == 1)):
        threshold = 0.0 if net.loss.name == "bce_logits" else 0.5
        return float(np.mean((output > threshold) == (Y > 0.5)))
    return None


# ── the loop ───────────────────────────────────────────────────────────────────────────────


def _check_options(epochs, lr, batch_size, optimizer):
    for what, n in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise SpecError(f"{what} must be a positive integer, got {n!r}")
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not (0 < lr < math.inf):
        raise SpecError(f"lr must be a positive number, got {lr!r}")
    if optimizer not in _OPTIMIZER:
        raise SpecError(f"unknown optimizer {optimizer!r}; allowed: {', '.join(OPTIMIZERS)}")


def train(model, params, X, Y, epochs=100, lr=0.1, batch_size=32, optimizer="sgd", seed=0,
          progress=True, test=None) -> History:
    """Train `params` (updated in place) on (X, Y) with shuffled minibatches; see the module
    docstring. `test=(X_test, Y_test)` adds the test accuracy of each epoch to the history."""
    from ..codegen.build import compile
    from ..codegen.model import Model

    if not isinstance(model, Model):
        model = compile(model)
    _check_options(epochs, lr, batch_size, optimizer)
    seed = check_seed(seed)
    on_host = model.backend.name == "numpy"
    if on_host:
        params, X, Y = model.check(params, X, Y)
        Y_host = Y
        if test is not None:
            _, X_test, Y_test = model.check(params, *test)
    else:  # validated on the host by the NumPy rules, then moved to the device once
        from ..codegen.model import to_numpy

        checked, X, Y = model.check(params, to_numpy(X), to_numpy(Y))
        params.update(checked)
        Y_host = to_numpy(Y)
        if test is not None:
            _, X_test, Y_test = model.check(params, to_numpy(test[0]), to_numpy(test[1]))
            Y_test = to_numpy(Y_test)
    net, fn = model.network, model.module
    functional = model.backend.functional
    fused = optimizer == "sgd"  # the generated train_step: forward to update in one function
    opt = _OPTIMIZER[optimizer](params, float(lr), functional=functional)
    # JAX: lr placed on the device once (a Python float argument is copied there every step)
    step_lr = model.asarray(np.asarray(lr, model.dtype), X) if functional else float(lr)
    rng = np.random.default_rng(seed)
    mean = net.loss.reduction == "mean"
    # BatchNorm's training mode needs 2 samples: a last minibatch of one joins the one before
    merge_last = has_batchnorm(net)
    # Running statistics (BatchNorm, BatchNorm2d), evaluated as PyTorch's model.eval(); None
    # without them.
    state = model.init_state() or None
    if merge_last and len(X) % batch_size == 1 and len(X) > 1 and progress:
        print("note: the last minibatch would hold 1 sample, which BatchNorm cannot normalize; "
              "it joins the one before", file=sys.stderr)
    history = History(params=params, state=state or {})
    start = time.perf_counter()
    show = _Progress(epochs) if progress else None
    # A learning rate too large overflows: reported as divergence, not as NumPy warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(epochs):
            order = rng.permutation(len(X))
            total = 0.0
            batches = [order[i:i + batch_size] for i in range(0, len(X), batch_size)]
            if merge_last and len(batches) > 1 and len(batches[-1]) == 1:
                batches[-2:] = [np.concatenate(batches[-2:])]
            losses = []
            for batch in batches:
                if not on_host:
                    batch = model.asarray(batch, X)
                Xb, Yb = X[batch], Y[batch]
                if fused:
                    L = _fused_step(fn, params, Xb, Yb, step_lr, state, functional)
                else:
                    L, grads = (fn.loss_and_grads(params, Xb, Yb) if state is None else
                                fn.loss_and_grads(params, Xb, Yb, state=state))
                    opt.step(params, grads)
                losses.append((L, len(batch) if mean else 1))
            # one conversion per minibatch loss, after the epoch (a device would wait for each)
            total = sum(float(L) * n for L, n in losses)
            history.loss.append(total / len(X) if mean else total)
            if not math.isfinite(history.loss[-1]):
                if show:
                    show.done()
                raise SpecError(f"the loss diverged to {history.loss[-1]} at epoch {epoch + 1}: "
                                f"lower the learning rate (lr={lr})")
            history.accuracy.append(
                accuracy(net, model.to_numpy(fn.forward(params, X, state=state)), Y_host))
            if test is not None:
                history.test_accuracy.append(accuracy(
                    net, model.to_numpy(fn.forward(params, X_test, state=state)), Y_test))
            history.seconds = time.perf_counter() - start
            if show:
                show(epoch + 1, history)
    if show:
        show.done()
    return history


def _fused_step(fn, params, X, Y, lr, state, functional):
    """The generated train_step: L, with `params` (and BatchNorm's `state`) updated."""
    if not functional:
        if state is None:
            return fn.train_step(params, X, Y, lr)
        return fn.train_step(params, X, Y, lr, state=state)
    out = fn.train_step(params, X, Y, lr, state=state)
    params.update(out[0])
    if state is not None and len(out) > 2:
        state.update(out[2])
    return out[1]


class _Progress:
    """One status line on stderr: rewritten in place on a terminal, ~10 lines otherwise."""

    def __init__(self, epochs):
        self.epochs, self.tty = epochs, sys.stderr.isatty()
        self.every = max(1, epochs // 10)

    def __call__(self, epoch, history):
        if not (self.tty or epoch % self.every == 0 or epoch == self.epochs):
            return
        width = len(str(self.epochs))
        line = f"epoch {epoch:>{width}}/{self.epochs}  {history.summary().rsplit(' after', 1)[0]}"
        print(("\r" + line.ljust(70)) if self.tty else line, end="" if self.tty else "\n",
              file=sys.stderr, flush=True)

    def done(self):
        if self.tty:
            print(file=sys.stderr)


def plot(history: History, path, title: str, format: str | None = None):  # noqa: A002
    """Save the loss and accuracy curves of `history` as an image (needs matplotlib) to a path
    or a binary file object (then give `format`, e.g. "png")."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise DataError(
            "--plot needs matplotlib, which is not installed: pip install 'symnet[plot]'"
        ) from None
    epochs = np.arange(1, len(history) + 1)
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(epochs, history.loss, color="tab:blue", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (epoch mean)", color="tab:blue")
    if min(history.loss) > 0 and max(history.loss) / min(history.loss) > 100:
        ax.set_yscale("log")
    lines = ax.get_lines()
    if any(a is not None for a in history.accuracy):
        acc = ax.twinx()
        acc.plot(epochs, [100 * (a or 0) for a in history.accuracy], color="tab:orange",
                 label="training accuracy")
        if history.test_accuracy:
            acc.plot(epochs, [100 * (a or 0) for a in history.test_accuracy], color="tab:green",
                     linestyle="--", label="test accuracy")
        acc.set_ylabel("accuracy (%)")
        acc.set_ylim(0, 102)
        lines += acc.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], loc="center right")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    try:
        fig.savefig(path, dpi=120, format=format)
    except (OSError, ValueError) as e:
        raise DataError(f"cannot save the plot to {path}: {e}") from None

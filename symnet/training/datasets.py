"""Small datasets to train on: generated (xor, moons, spirals), bundled (digits), or a CSV file.

Every loader returns a `Dataset` with X (samples × features, float64) and y (one target per
row: integer class labels for the classification sets, floats from a CSV unless every target is
an integer). Generators take a seed; nothing is downloaded. `load("moons")` or
`load("data.csv", target="label")` picks one by name, and `split` makes a train/test split.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, ShapeError

NAMES = ("xor", "moons", "spirals", "digits")


@dataclass(frozen=True)
class Dataset:
    name: str
    X: np.ndarray
    y: np.ndarray

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    @property
    def classes(self) -> int | None:
        """How many classes the labels 0..k−1 name, or None for non-integer targets."""
        if self.y.dtype.kind not in "iu":
            return None
        return int(self.y.max()) + 1

    def __repr__(self):
        kind = f"{self.classes} classes" if self.classes else "real targets"
        return f"<Dataset {self.name}: {len(self.X)} samples, {self.n_features} features, {kind}>"

    def targets_for(self, net) -> np.ndarray:
        """y shaped for `net`: class labels become one-hot rows for a multi-output network that
        is not trained with softmax_ce (which takes the labels as they are)."""
        if self.classes and net.n_out > 1 and net.loss.name not in ("softmax_ce", "ce"):
            if self.classes > net.n_out:
                raise ShapeError(f"{self.name} has {self.classes} classes, the network has "
                                 f"{net.n_out} outputs")
            return np.eye(net.n_out)[self.y]
        return self.y


def xor(n: int = 4, noise: float = 0.0, seed: int = 0) -> Dataset:
    """The four corners of the unit square, labelled x₁ XOR x₂; n > 4 repeats them with
    Gaussian noise of standard deviation `noise`."""
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    idx = np.arange(n) % 4
    X = corners[idx] + np.random.default_rng(seed).normal(0, noise, (n, 2))
    return Dataset("xor", X, (corners[idx, 0] != corners[idx, 1]).astype(np.int64))


def moons(n: int = 200, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Two interleaving half circles (as scikit-learn's make_moons), labels 0 and 1."""
    rng = np.random.default_rng(seed)
    outer = n // 2
    t = np.concatenate([np.linspace(0, np.pi, outer), np.linspace(0, np.pi, n - outer)])
    X = np.where((np.arange(n) < outer)[:, None],
                 np.column_stack([np.cos(t), np.sin(t)]),
                 np.column_stack([1 - np.cos(t), 0.5 - np.sin(t)]))
    X = X + rng.normal(0, noise, X.shape)
    y = (np.arange(n) >= outer).astype(np.int64)
    order = rng.permutation(n)
    return Dataset("moons", X[order], y[order])


def spirals(n: int = 300, classes: int = 3, noise: float = 0.2, seed: int = 0) -> Dataset:
    """`classes` interleaved spiral arms (CS231n's toy set), n samples in all."""
    rng = np.random.default_rng(seed)
    per = np.full(classes, n // classes) + (np.arange(classes) < n % classes)
    X, y = [], []
    for k, m in enumerate(per):
        r = np.linspace(0.0, 1.0, m)
        t = np.linspace(4.0 * k, 4.0 * (k + 1), m) + rng.normal(0, noise, m)
        X.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
        y.append(np.full(m, k))
    order = rng.permutation(n)
    return Dataset("spirals", np.concatenate(X)[order], np.concatenate(y).astype(np.int64)[order])


def digits() -> Dataset:
    """scikit-learn's bundled 8×8 handwritten digits (1797 samples, 64 pixels scaled to
    [0, 1], labels 0–9); needs scikit-learn."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError(
            "the digits dataset comes with scikit-learn, which is not installed: "
            "pip install 'symnet[digits]'"
        ) from None
    data = load_digits()
    return Dataset("digits", data.data / 16.0, data.target.astype(np.int64))


def load_csv(path, target: str | None = None) -> Dataset:
    """A CSV file of numbers, one sample per row; the column named `target` (default: the last)
    holds the targets. A first row that is not all numbers is the header."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path} is not a readable CSV file: {e}") from None
    if not rows:
        raise DataError(f"{path} is empty")
    header = None if all(_is_number(c) for c in rows[0]) else [c.strip() for c in rows[0]]
    body = rows[1:] if header else rows
    width = len(header) if header else len(rows[0])
    names = header or [f"column {i + 1}" for i in range(width)]
    if width < 2:
        raise ShapeError(f"{path} has {width} column; it needs features and a target column")
    if not body:
        raise DataError(f"{path} has a header but no data rows")
    if target is None:
        t = width - 1
    elif header is None:
        raise DataError(f"{path} has no header row, so there is no column named {target!r}; "
                        "leave out --target to use the last column")
    elif target not in header:
        raise DataError(f"{path} has no column {target!r}; columns: {', '.join(header)}")
    else:
        t = header.index(target)
    values = np.empty((len(body), width))
    first = 2 if header else 1
    for i, row in enumerate(body):
        line = i + first
        if len(row) != width:
            raise ShapeError(f"{path}, row {line} has {len(row)} fields, expected {width}")
        for j, cell in enumerate(row):
            if not _is_number(cell):
                what = "is empty" if not cell.strip() else f"has {cell.strip()!r}, not a number"
                raise DataError(f"{path}, row {line}, {names[j]!r} {what}")
            v = float(cell)
            if not math.isfinite(v):
                raise DataError(f"{path}, row {line}, {names[j]!r} is {cell.strip()}: "
                                "NaN and infinity cannot be trained on")
            values[i, j] = v
    y = values[:, t]
    if np.all(y == np.round(y)) and np.all(np.abs(y) < 2**31):
        y = y.astype(np.int64)
    X = np.delete(values, t, axis=1)
    return Dataset(path.name, X, y)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def load(name, target: str | None = None, seed: int = 0) -> Dataset:
    """A dataset by name (xor, moons, spirals, digits) or a CSV file path."""
    generators = {"xor": lambda: xor(), "moons": lambda: moons(seed=seed),
                  "spirals": lambda: spirals(seed=seed), "digits": digits}
    if name in generators:
        if target is not None:
            raise DataError(f"--target names a CSV column; {name} has its own targets")
        return generators[name]()
    path = Path(name)
    if path.suffix.lower() == ".csv" or path.exists():
        if not path.exists():
            raise DataError(f"no such file: {path}")
        return load_csv(path, target)
    raise DataError(f"unknown dataset {name!r}; use one of {', '.join(NAMES)} or a CSV file path")


def split(data: Dataset, test_fraction: float = 0.2, seed: int = 0):
    """(X_train, y_train, X_test, y_test): a shuffled split, `test_fraction` of the rows held
    out (none when it is 0)."""
    if not (isinstance(test_fraction, int | float) and 0 <= test_fraction < 1):
        raise DataError(f"test fraction must lie in [0, 1), got {test_fraction!r}")
    n = len(data.X)
    n_test = round(n * test_fraction)
    if test_fraction and (n_test == 0 or n_test == n):
        raise DataError(f"{data.name} has {n} samples, too few to hold out {test_fraction:g}")
    order = np.random.default_rng(seed).permutation(n)
    test, train = order[:n_test], order[n_test:]
    return data.X[train], data.y[train], data.X[test], data.y[test]

"""Small datasets to train on: generated (xor, moons, spirals), bundled (digits), or a CSV file.

Every loader returns a `Dataset` with X (samples × features, float64) and y (one target per
row: integer class labels for the classification sets, floats from a CSV unless every target is
an integer). Generators take a seed; nothing is downloaded. `load("moons")` or
`load("data.csv", target="label")` picks one by name, and `split` makes a train/test split.
"""

from __future__ import annotations

import csv
import math
import warnings
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
    target: str | None = None  # the CSV column the targets come from

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    @property
    def classes(self) -> int | None:
        """How many classes the labels 0..k−1 name, or None for non-integer (or no) targets.
        Whether integers *are* classes is the loss's decision: see `is_classification`."""
        if self.y.dtype.kind not in "iu" or self.y.size == 0:
            return None
        return int(self.y.max()) + 1

    def __repr__(self):
        kind = f"{self.classes} classes" if self.classes else "real targets"
        return f"<Dataset {self.name}: {len(self.X)} samples, {self.n_features} features, {kind}>"

    def describe(self, net) -> str:
        """The data as `net`'s loss reads it: classes for a classification loss, real targets
        (with their range) for a regression loss, even when every target is a whole number."""
        head = f"{self.name}: {len(self.X)} samples, {self.n_features} features"
        if is_classification(net):
            return f"{head}, {self.classes or 0} classes"
        if self.y.size == 0:
            return f"{head}, real targets"
        return f"{head}, real targets (range {self.y.min():.4g}..{self.y.max():.4g})"

    def check_labels(self, net):
        """For a classification loss: every target is a class label 0..k−1 that the network's
        outputs can hold (checked on the whole set, before any split); DataError otherwise."""
        if not is_classification(net) or self.y.size == 0:
            return
        y = self.y
        if net.n_out == 1:  # bce / bce_logits: 0/1 targets (or probabilities in [0, 1])
            lo, hi = float(y.min()), float(y.max())
            if lo < 0 or hi > 1:
                raise DataError(f"{net.loss.name} targets must lie in [0, 1], got "
                                f"{lo:g}..{hi:g}")
            return
        if y.dtype.kind not in "iu":
            raise DataError(f"{net.loss.name} with {net.n_out} outputs needs integer class "
                            f"labels 0..{net.n_out - 1}; {self.name} has real-valued targets")
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi > net.n_out - 1:
            raise DataError(f"class labels must lie in 0..{net.n_out - 1}, got {lo}..{hi} (the "
                            f"data has {hi + 1} classes: make the network's last width "
                            f"{hi + 1})")

    def targets_for(self, net, classes: int | None = None) -> np.ndarray:
        """y shaped for `net`: class labels become one-hot rows for a multi-output network that
        is not trained with softmax_ce (which takes the labels as they are); for a regression
        loss the targets are real numbers (float64). `classes`: the class count of the whole
        dataset, when this is one split of it."""
        if not is_classification(net):
            return self.y.astype(np.float64)
        classes = self.classes if classes is None else classes
        if classes and net.n_out > 1 and net.loss.name not in ("softmax_ce", "ce"):
            if classes > net.n_out:
                raise ShapeError(f"{self.name} has {classes} classes, the network has "
                                 f"{net.n_out} outputs")
            return np.eye(net.n_out)[self.y]
        return self.y


def is_classification(net) -> bool:
    """The loss decides what a target is: the cross-entropies (bce, bce_logits, softmax_ce,
    ce) take classes; mse with several outputs takes class labels as one-hot rows; any other
    loss on one output takes real values."""
    name = net.loss.name
    return name in ("bce", "bce_logits", "softmax_ce", "ce") or net.n_out > 1


@dataclass(frozen=True)
class Standardization:
    """The affine maps `standardize` applied: x' = (x − mean)/std per feature, and for the
    target (regression only) y' = (y − y_mean)/y_std; `invert(y')` maps predictions back."""
    mean: np.ndarray
    std: np.ndarray
    y_mean: float | None = None
    y_std: float | None = None

    def apply(self, X, y=None):
        X = (np.asarray(X, dtype=float) - self.mean) / self.std
        if y is None or self.y_mean is None:
            return X, y
        return X, (np.asarray(y, dtype=float) - self.y_mean) / self.y_std

    def invert(self, y_pred):
        """Predictions in standardized units mapped back to the target's units."""
        if self.y_mean is None:
            return y_pred
        return np.asarray(y_pred) * self.y_std + self.y_mean

    def __str__(self):
        what = "features and target" if self.y_mean is not None else "features"
        extra = (f" (target mean {self.y_mean:.4g}, std {self.y_std:.4g}); losses are in "
                 "standardized units" if self.y_mean is not None else "")
        return f"standardized {what}{extra}"


def standardize(X, y=None):
    """(X', y', stats): X z-scored per feature (mean 0, std 1; a constant feature is only
    centred) and, when given, real-valued targets y too. Apply the same `stats` to test data
    with `stats.apply(X_test, y_test)`; `stats.invert(pred)` maps predictions back."""
    X = np.asarray(X, dtype=float)
    mean, std = X.mean(axis=0), X.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    y_mean = y_std = None
    if y is not None:
        y = np.asarray(y, dtype=float)
        y_mean, y_std = float(y.mean()), float(y.std()) or 1.0
    stats = Standardization(mean, std, y_mean, y_std)
    X, y = stats.apply(X, y)
    return X, y, stats


def scaling_advice(data: Dataset, net) -> str | None:
    """A note when unscaled data will train badly (|mean| or std above 10 in a feature, or in
    a regression target), or None."""
    big = lambda a: a.size and (np.abs(a.mean()) > 10 or a.std() > 10)  # noqa: E731
    if not is_classification(net) and big(data.y.astype(float)):
        lo, hi = data.y.min(), data.y.max()
        return (f"note: targets range {lo:.4g}..{hi:.4g}; {net.loss.name} on unscaled targets "
                "trains poorly: --standardize rescales features and target")
    if data.X.size and any(big(col) for col in data.X.T):
        return "note: some features have |mean| or std above 10: --standardize rescales them"
    return None


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
    holds the targets. The delimiter (`,` `;` tab or `|`) is detected. A first row with no
    number in it is the header; a first row mixing numbers and text is refused. The numbers are
    read by NumPy's streaming reader (memory about twice the resulting array)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            sample = f.read(65536)
            delimiter = _sniff(sample)
            f.seek(0)
            first, skip = None, 0
            for line in f:
                skip += 1
                if line.strip():
                    first = next(csv.reader([line], delimiter=delimiter))
                    break
            if first is None:
                raise DataError(f"{path} is empty")
            numbers = [_is_number(c) for c in first]
            if any(numbers) and not all(numbers):
                bad = next(c.strip() for c, n in zip(first, numbers) if not n)
                raise DataError(f"{path}, row 1 mixes numbers and text ({bad!r} is not a "
                                "number): a header row has names only")
            header = None if all(numbers) else [c.strip() for c in first]
            width = len(first)
            names = header or [f"column {i + 1}" for i in range(width)]
            if width < 2:
                raise ShapeError(f"{path} has {width} column; it needs features and a target "
                                 "column")
            if target is None:
                t = width - 1
            elif header is None:
                raise DataError(f"{path} has no header row, so there is no column named "
                                f"{target!r}; leave out --target to use the last column")
            elif target not in header:
                raise DataError(f"{path} has no column {target!r}; columns: {', '.join(header)}")
            else:
                t = header.index(target)
            f.seek(0)
            for _ in range(skip if header else skip - 1):
                f.readline()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # "input contained no data": said below
                    values = np.loadtxt(f, delimiter=delimiter, dtype=np.float64, ndmin=2,
                                        comments=None, quotechar='"')
            except ValueError:
                values = None
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path} is not a readable CSV file: {e}") from None
    if values is not None and values.size == 0:
        raise DataError(f"{path} has a header but no data rows")
    if values is None or values.shape[1] != width or not np.isfinite(values).all():
        _explain(path, delimiter, header is not None, width, names)
        raise DataError(f"{path} is not a CSV file of numbers")  # _explain found nothing
    y = values[:, t]
    if np.all(y == np.round(y)) and np.all(np.abs(y) < 2**31):
        y = y.astype(np.int64)
    X = np.delete(values, t, axis=1)
    return Dataset(path.name, X, y, target=names[t])


def _sniff(sample: str) -> str:
    """The delimiter of a CSV sample: `,` `;` tab or `|` (`,` when unsure)."""
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","
    first = next((ln for ln in sample.splitlines() if ln.strip()), "")
    return delimiter if delimiter in first else ","


def _explain(path, delimiter, has_header, width, names):
    """Rescan the file row by row (streaming) for the first bad row or cell, as a DataError."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = (row for row in csv.reader(f, delimiter=delimiter)
                if any(cell.strip() for cell in row))
        if has_header:
            next(rows, None)
        first = 2 if has_header else 1
        for i, row in enumerate(rows):
            line = i + first
            if len(row) != width:
                raise ShapeError(f"{path}, row {line} has {len(row)} fields, expected {width}")
            for j, cell in enumerate(row):
                if not _is_number(cell):
                    what = ("is empty" if not cell.strip()
                            else f"has {cell.strip()!r}, not a number")
                    if delimiter != "," and _is_number(cell.replace(",", ".")):
                        what += " (decimal commas are not read: use a decimal point)"
                    raise DataError(f"{path}, row {line}, {names[j]!r} {what}")
                if not math.isfinite(float(cell)):
                    raise DataError(f"{path}, row {line}, {names[j]!r} is {cell.strip()}: "
                                    "NaN and infinity cannot be trained on")


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

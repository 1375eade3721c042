"""Datasets: generated sets are reproducible, CSV files are read strictly, splits are clean."""

import sys

import numpy as np
import pytest

import symnet as sn
from symnet.training import datasets


def test_generated_sets():
    xor = datasets.xor()
    assert xor.X.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and xor.y.tolist() == [0, 1, 1, 0]
    noisy = datasets.xor(n=40, noise=0.1, seed=1)
    assert noisy.X.shape == (40, 2) and set(noisy.y) == {0, 1}
    moons = datasets.moons(n=101, seed=2)
    assert moons.X.shape == (101, 2) and np.bincount(moons.y).tolist() == [50, 51]
    spirals = datasets.spirals(n=100, classes=4, seed=3)
    assert spirals.X.shape == (100, 2) and spirals.classes == 4
    assert np.array_equal(datasets.moons(seed=2).X, datasets.moons(seed=2).X)
    assert not np.array_equal(datasets.moons(seed=2).X, datasets.moons(seed=3).X)
    assert "moons: 200 samples, 2 features, 2 classes" in repr(datasets.moons())


def test_digits():
    pytest.importorskip("sklearn", reason="the digits set comes with scikit-learn")
    digits = datasets.load("digits")
    assert digits.X.shape == (1797, 64) and digits.classes == 10
    assert digits.X.min() >= 0 and digits.X.max() <= 1


def test_digits_without_scikit_learn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(sn.DataError, match=r"scikit-learn.*pip install 'symnet\[digits\]'"):
        datasets.digits()


def test_unknown_dataset():
    with pytest.raises(sn.DataError, match="unknown dataset 'iris'; use one of xor, moons"):
        datasets.load("iris")
    with pytest.raises(sn.DataError, match="no such file"):
        datasets.load("missing.csv")
    with pytest.raises(sn.DataError, match="--target names a CSV column"):
        datasets.load("moons", target="y")


def write(tmp_path, text, name="d.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_header_and_target(tmp_path):
    path = write(tmp_path, "x1,label,x2\n1,0,2.5\n3,1,-4\n\n5,1,6e-1\n")
    data = datasets.load(str(path), target="label")
    assert data.X.tolist() == [[1, 2.5], [3, -4], [5, 0.6]] and data.y.tolist() == [0, 1, 1]
    assert data.y.dtype == np.int64  # whole numbers: class labels
    last = datasets.load_csv(path)  # default: the last column, here real-valued
    assert last.y.dtype == np.float64 and last.X.shape == (3, 2)


def test_csv_without_header(tmp_path):
    data = datasets.load_csv(write(tmp_path, "1,2,0\n3,4,1\n"))
    assert data.X.shape == (2, 2) and data.y.tolist() == [0, 1]
    with pytest.raises(sn.DataError, match="no header row"):
        datasets.load_csv(write(tmp_path, "1,2,0\n"), target="y")


@pytest.mark.parametrize("text,message", [
    ("a,b\n1,nan\n", r"row 2, 'b' is nan: NaN and infinity cannot be trained on"),
    ("a,b\n1,2\n-inf,3\n", r"row 3, 'a' is -inf"),
    ("a,b\n1,2\n3\n", r"row 3 has 1 fields, expected 2"),
    ("a,b\n1,two\n", r"row 2, 'b' has 'two', not a number"),
    ("a,b\n1,\n", r"row 2, 'b' is empty"),
    ("", r"is empty"),
    ("a,b\n", r"header but no data rows"),
    ("a\n1\n", r"1 column; it needs features and a target"),
])
def test_csv_refuses_bad_files(tmp_path, text, message):
    with pytest.raises(sn.SymnetError, match=message):
        datasets.load_csv(write(tmp_path, text))


def test_csv_unknown_target(tmp_path):
    with pytest.raises(sn.DataError, match="no column 'y'; columns: a, b"):
        datasets.load_csv(write(tmp_path, "a,b\n1,2\n"), target="y")


def test_split():
    data = datasets.moons(n=50)
    X, y, X_test, y_test = datasets.split(data, 0.2, seed=1)
    assert len(X) == 40 and len(X_test) == 10
    together = np.concatenate([X, X_test])
    assert sorted(map(tuple, together)) == sorted(map(tuple, data.X))  # a partition
    again = datasets.split(data, 0.2, seed=1)
    assert np.array_equal(again[2], X_test)
    assert len(datasets.split(data, 0, seed=1)[2]) == 0
    for bad in (1.0, -0.1, "half"):
        with pytest.raises(sn.DataError, match="test fraction"):
            datasets.split(data, bad)
    with pytest.raises(sn.DataError, match="too few"):
        datasets.split(datasets.xor(), 0.1)


def test_targets_for_a_network():
    spirals = datasets.spirals(n=30, classes=3)
    assert spirals.targets_for(sn.parse("2-4-3 relu softmax_ce")) is spirals.y  # labels as-is
    one_hot = spirals.targets_for(sn.parse("2-4-3 relu mse"))
    assert one_hot.shape == (30, 3) and np.all(one_hot.sum(axis=1) == 1)
    with pytest.raises(sn.ShapeError, match="3 classes, the network has 2 outputs"):
        spirals.targets_for(sn.parse("2-4-2 relu mse"))


# ── issue 14: delimiters, the header rule, label ranges, memory ────────────────────────────


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_csv_delimiter_is_detected(tmp_path, sep):
    text = sep.join("abc") + "\n" + f"1{sep}2{sep}0\n3{sep}4{sep}1\n"
    data = datasets.load_csv(write(tmp_path, text))
    assert data.X.tolist() == [[1, 2], [3, 4]] and data.target == "c"


def test_csv_decimal_commas_are_explained(tmp_path):
    with pytest.raises(sn.DataError, match="decimal commas"):
        datasets.load_csv(write(tmp_path, "a;b;c\n0,5;1;0\n1;2;1\n"))


def test_csv_first_row_with_a_non_number_among_numbers_is_not_a_header(tmp_path):
    with pytest.raises(sn.DataError, match="0x10"):
        datasets.load_csv(write(tmp_path, "0x10,1\n2,0\n3,1\n"))


@pytest.mark.parametrize("labels, shown", [([-1, 1], "got -1..1"), ([0, 5], "got 0..5"),
                                           ([0.0, 1e20], "1e+20")])
def test_label_range_errors_show_the_real_range(labels, shown):
    model = sn.compile("2-2 softmax_ce")
    with pytest.raises(sn.DataError) as e:
        model.loss(model.init(0), np.zeros((2, 2)), np.array(labels))
    assert shown in str(e.value) and "-9223372036854775808" not in str(e.value)


def test_the_loss_decides_what_a_target_is(tmp_path):
    prices = datasets.load_csv(write(tmp_path, "a,price\n1,200000\n2,310000\n"))
    regression = sn.parse("1-4-1 tanh mse")
    assert "real targets" in prices.describe(regression)
    assert prices.targets_for(regression).dtype == np.float64
    xor = datasets.xor()
    assert "2 classes" in xor.describe(sn.parse("2-4-1 tanh bce_logits"))
    empty = datasets.Dataset("none", np.zeros((0, 2)), np.zeros(0, dtype=np.int64))
    assert empty.classes is None  # no max of an empty split


def test_csv_loader_memory_is_a_small_multiple_of_the_file(tmp_path):
    import tracemalloc

    rng = np.random.default_rng(0)
    data = np.column_stack([rng.normal(size=(40_000, 10)), rng.integers(0, 2, 40_000)])
    path = tmp_path / "big.csv"
    np.savetxt(path, data, delimiter=",", fmt="%.6f")
    tracemalloc.start()
    d = datasets.load_csv(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert d.X.shape == (40_000, 10)
    assert peak < 4 * path.stat().st_size, f"peak {peak / 2**20:.0f} MiB"

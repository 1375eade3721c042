"""Training with the generated code: XOR, moons and digits reach their accuracy targets with
fixed seeds; optimizers, dtypes, progress, plots, the CLI and the demo."""

import os
import re
from pathlib import Path

import numpy as np
import pytest
from _cli import ROOT, cli, one_line_error

import symnet as sn
from symnet.cli import main
from symnet.codegen.build import compile
from symnet.training import datasets
from symnet.training.train import History, accuracy, plot


@pytest.fixture(scope="module")
def xor_model():
    return compile("2-3-1 sigmoid sigmoid mse")


def test_xor_reaches_100_percent(xor_model):
    data = datasets.xor()
    params = xor_model.init(seed=0)
    history = sn.train(xor_model, params, data.X, data.y, epochs=2000, lr=2.0, batch_size=4,
                       optimizer="sgd", seed=0, progress=False)
    assert history.accuracy[-1] == 1.0
    assert history.loss[-1] < 0.002 < history.loss[0]
    assert history.params["W1"] is params["W1"]  # updated in place


def test_moons_reaches_95_percent_on_held_out_data():
    model = compile("2-16-2 relu softmax_ce")
    X, y, X_test, y_test = datasets.split(datasets.moons(seed=0), 0.2, seed=0)
    history = sn.train(model, model.init(0), X, y, epochs=200, lr=0.01, batch_size=32,
                       optimizer="adam", seed=0, progress=False, test=(X_test, y_test))
    assert history.accuracy[-1] >= 0.97 and history.test_accuracy[-1] >= 0.95  # measured: 1.0, 1.0


def test_digits_reaches_95_percent_on_held_out_data():
    pytest.importorskip("sklearn", reason="the digits set comes with scikit-learn (extra 'digits')")
    model = compile("64-32-10 relu softmax_ce")
    X, y, X_test, y_test = datasets.split(datasets.digits(), 0.2, seed=0)
    history = sn.train(model, model.init(0), X, y, epochs=30, lr=0.01, batch_size=32,
                       optimizer="adam", seed=0, progress=False, test=(X_test, y_test))
    assert history.test_accuracy[-1] >= 0.95  # measured: 0.986


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.5), ("momentum", 0.1), ("adam", 0.02)])
def test_every_optimizer_learns_and_keeps_float32(optimizer, lr):
    model = compile("2-8-1 tanh bce_logits", dtype=np.float32)
    data = datasets.moons(n=64)
    params = model.init(1)
    history = sn.train(model, params, data.X, data.y, epochs=30, lr=lr, batch_size=16,
                       optimizer=optimizer, seed=1, progress=False)
    assert history.loss[-1] < 0.6 * history.loss[0]
    assert all(p.dtype == np.float32 for p in params.values())


def test_training_is_reproducible(xor_model):
    data = datasets.xor()
    runs = [sn.train(xor_model, xor_model.init(3), data.X, data.y, epochs=20, lr=1.0,
                     batch_size=2, seed=5, progress=False).loss for _ in range(2)]
    assert runs[0] == runs[1]


def test_reduction_sum_and_regression_targets():
    model = compile("1-8-1 tanh mse reduction=sum")
    X = np.linspace(-1, 1, 32).reshape(-1, 1)
    history = sn.train(model, model.init(0), X, np.sin(3 * X), epochs=50, lr=0.002,
                       batch_size=8, optimizer="momentum", progress=False)
    assert history.accuracy[-1] is None  # not a classification
    assert history.loss[-1] < 0.2 * history.loss[0]


def test_bad_options_and_divergence():
    model = compile("2-3-1 sigmoid mse")
    params, X, y = model.init(0), datasets.xor().X, datasets.xor().y
    for bad in (dict(lr=0), dict(lr=float("nan")), dict(epochs=0), dict(batch_size=1.5),
                dict(optimizer="rmsprop")):
        with pytest.raises(sn.SpecError):
            sn.train(model, params, X, y, progress=False, **bad)
    with pytest.raises(sn.DataError, match="NaN"):
        sn.train(model, params, np.full((4, 2), np.nan), y, progress=False)
    linear = compile("2-1 mse")
    with pytest.raises(sn.SpecError, match="diverged"):
        sn.train(linear, linear.init(0), X * 100, y, epochs=50, lr=10.0, progress=False)


def test_progress_line(xor_model, capsys):
    data = datasets.xor()
    sn.train(xor_model, xor_model.init(0), data.X, data.y, epochs=20, lr=1.0, progress=True)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 10 and err[-1].startswith("epoch 20/20  loss ")


def test_accuracy_rules():
    net = sn.parse("2-3 relu softmax_ce")
    assert accuracy(net, np.array([[0.0, 2, 1], [3, 0, 0]]), np.eye(3)[[1, 2]]) == 0.5
    logits = sn.parse("2-1 bce_logits")
    assert accuracy(logits, np.array([[-1.0], [2.0]]), np.array([[0.0], [0.0]])) == 0.5
    assert accuracy(sn.parse("2-1 mse"), np.zeros((2, 1)), np.array([[0.3], [1.0]])) is None


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib", reason="plots need matplotlib (extra 'plot')")
    history = History(loss=[1.0, 0.5, 0.1], accuracy=[0.5, 0.75, 1.0], test_accuracy=[0.5] * 3)
    plot(history, tmp_path / "loss.png", "title")
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib.figure", None)
    with pytest.raises(sn.DataError, match=r"pip install 'symnet\[plot\]'"):
        plot(History(loss=[1.0], accuracy=[None]), tmp_path / "x.png", "t")


def test_cli_train(tmp_path, capsys):
    code = main(["train", "2-16-2 relu softmax_ce", "--data", "moons", "--epochs", "60",
                 "--quiet", "--seed", "1"])
    out = capsys.readouterr().out
    assert code == 0 and "test accuracy" in out and "160 to train, 40 to test" in out
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,label\n" + "\n".join(f"{i % 2},{i % 3},{i % 2}" for i in range(20)))
    assert main(["train", "2-4-2 tanh softmax_ce", "--data", str(csv), "--target", "label",
                 "--epochs", "5", "--quiet", "--optimizer", "sgd"]) == 0


@pytest.mark.parametrize("argv,message", [
    (["--data", "nope"], "unknown dataset 'nope'"),
    (["--data", "spirals", "--epochs", "0"], "epochs must be a positive integer"),
    (["--data", "xor", "--test-fraction", "1.5"], "test fraction"),
])
def test_cli_train_errors_are_one_line(argv, message, capsys):
    assert main(["train", "2-3-3 relu softmax_ce", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("symnet: error: ") and message in err


def test_cli_train_refuses_a_network_of_the_wrong_width(capsys):
    assert main(["train", "3-4-2 relu softmax_ce", "--data", "moons"]) == 2
    assert "moons has 2 features, but the network takes 3 inputs" in capsys.readouterr().err


def test_demo(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "δ1 = (δ2 W2ᵀ) ⊙ σ′(Z1)" in out and "accuracy 100.0%" in out
    assert "agree to float64 rounding" in out


# ── the command line as a user meets it (issue 14) ─────────────────────────────────────────


def test_train_xor_runs():  # the class count came from the empty test split
    p = cli("train", "2-4-1 tanh bce_logits", "--data", "xor", "--epochs", "5", "--quiet")
    assert p.returncode == 0, p.stderr[-1500:]
    assert "after 5 epochs" in p.stdout


def test_train_test_fraction_zero_runs(capsys):
    assert main(["train", "2-4-1 tanh bce_logits", "--data", "moons", "--test-fraction", "0",
                 "--epochs", "2", "--quiet"]) == 0
    assert "0 to test" in capsys.readouterr().out


def _house_prices(path, n=300):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    price = np.round(200_000 + 50_000 * X[:, 0] + rng.normal(0, 10_000, n)).astype(int)
    lines = ["rooms,age,distance,price"] + [
        ",".join(f"{v:.4f}" for v in row) + f",{p}" for row, p in zip(X, price)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_regression_csv_is_not_reported_as_classes_and_scaling_is_advised(tmp_path, capsys):
    csv_path = _house_prices(tmp_path / "houses.csv")
    assert main(["train", "3-8-1 tanh mse", "--data", str(csv_path), "--epochs", "3",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "classes" not in out and "real targets" in out
    assert "--standardize" in out  # advised: targets of order 1e5 train unscaled otherwise


def test_regression_csv_standardize_option(tmp_path, capsys):
    csv_path = _house_prices(tmp_path / "houses.csv")
    assert main(["train", "3-8-1 tanh mse", "--data", str(csv_path), "--epochs", "30",
                 "--quiet", "--standardize"]) == 0
    out = capsys.readouterr().out
    assert "standardized features and target" in out  # said when applied
    loss = float(re.search(r"loss ([0-9.e+-]+)", out.splitlines()[-1]).group(1))
    assert loss < 10  # in standardized units, not 4e10


def test_standardize_in_the_library():
    X = np.array([[1.0, 100.0], [3.0, 300.0]])
    Xs, ys, stats = datasets.standardize(X, np.array([10.0, 30.0]))
    np.testing.assert_allclose(Xs, [[-1, -1], [1, 1]])
    np.testing.assert_allclose(stats.invert(ys), [10.0, 30.0])
    np.testing.assert_allclose(stats.apply(X[:1])[0], [[-1, -1]])


def test_plot_without_matplotlib_fails_before_training(tmp_path):
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "matplotlib.py").write_text("raise ImportError('no matplotlib here')\n")
    p = cli("train", "2-8-1 tanh bce_logits", "--data", "moons", "--epochs", "3", "--quiet",
            "--plot", str(tmp_path / "loss.png"),
            env={"PYTHONPATH": os.pathsep.join([str(shim), str(ROOT)])})
    one_line_error(p, "matplotlib")
    assert "after 3 epochs" not in p.stdout  # not trained first


def test_train_plot_refuses_to_overwrite_and_directories(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    keep = tmp_path / "keep.png"
    keep.write_bytes(b"keep")
    argv = ["train", "2-8-1 tanh bce_logits", "--data", "moons", "--epochs", "2", "--quiet"]
    assert main([*argv, "--plot", str(keep)]) == 2
    out, err = capsys.readouterr()
    assert "--force" in err and "after 2 epochs" not in out  # refused before training
    assert keep.read_bytes() == b"keep"
    folder = tmp_path / "out"
    folder.mkdir()
    assert main([*argv, "--plot", str(folder)]) == 2
    assert "directory" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()
    assert main([*argv, "--plot", str(keep), "--force"]) == 0
    assert keep.read_bytes()[:4] == b"\x89PNG"


def test_train_plot_prints_the_path_it_wrote(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    target = tmp_path / "curves"  # no suffix: written as curves.png, and said so
    assert main(["train", "2-8-1 tanh bce_logits", "--data", "moons", "--epochs", "2",
                 "--quiet", "--plot", str(target)]) == 0
    written = re.search(r"wrote (\S+)", capsys.readouterr().out).group(1)
    assert Path(written) == tmp_path / "curves.png" and Path(written).is_file()


def test_csv_semicolon_and_tab_delimiters(tmp_path, capsys):
    (tmp_path / "semi.csv").write_text("a;b;label\n0.1;0.2;0\n1;2;1\n3;4;0\n0.5;0.5;1\n1;1;0\n")
    (tmp_path / "tab.csv").write_text("a\tb\tlabel\n0.1\t0.2\t0\n1\t2\t1\n3\t4\t0\n0.5\t0.5\t1\n"
                                      "1\t1\t0\n")
    for name in ("semi.csv", "tab.csv"):
        assert main(["train", "2-4-1 tanh bce_logits", "--data", str(tmp_path / name),
                     "--epochs", "1", "--quiet"]) == 0, capsys.readouterr().err


def test_csv_says_which_column_is_the_target(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a,b,label\n0.1,0.2,0\n1,2,1\n3,4,0\n0.5,0.5,1\n1,1,0\n")
    assert main(["train", "2-4-1 tanh bce_logits", "--data", str(tmp_path / "d.csv"),
                 "--epochs", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "'label'" in out and "--target" in out


def test_csv_label_range_message_is_complete(tmp_path):
    (tmp_path / "three.csv").write_text("a,b,label\n0.1,0.2,0\n1,2,1\n3,4,2\n0.5,0.5,1\n1,1,0\n")
    p = cli("train", "2-4-2 tanh softmax_ce", "--data", str(tmp_path / "three.csv"), "--epochs",
            "1", "--quiet")
    one_line_error(p, "0..1", "got 0..2", "last width 3")


@pytest.mark.parametrize("command", [
    ["check", "2-3-1 tanh mse"],
    ["train", "2-3-1 tanh bce_logits", "--data", "moons", "--epochs", "1", "--quiet"],
])
def test_negative_seed_is_a_one_line_error(command):
    one_line_error(cli(*command, "--seed", "-1"), "seed")


def test_train_accepts_numpy_scalars():
    model = sn.compile("2-3-1 tanh mse")
    X, Y = np.random.default_rng(0).normal(size=(8, 2)), np.zeros(8)
    h = sn.train(model, model.init(0), X, Y, epochs=np.int64(2), lr=np.float32(0.1),
                 batch_size=np.int32(4), progress=False)
    assert len(h) == 2

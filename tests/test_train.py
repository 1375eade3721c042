"""Training with the generated code: XOR, moons and digits reach their accuracy targets with
fixed seeds; optimizers, dtypes, progress, plots, the CLI and the demo."""

import numpy as np
import pytest

import symnet as sn
from symnet.cli import main
from symnet.codegen.model import compile
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

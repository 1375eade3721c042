"""loss_and_grads_into: loss_and_grads' statements computed into arrays kept between calls,
which the checked API runs after its checks. It must give loss_and_grads' numbers bit for bit,
each gradient a new array, and keep one set of arrays per thread."""

import threading

import numpy as np
import pytest
from test_train_step import layer_families, networks, specs

import symnet as sn
from symnet.checking.check import draw


def assert_identical(a, b):
    (La, ga), (Lb, gb) = a, b
    assert La == Lb or (np.isnan(La) and np.isnan(Lb))
    assert ga.keys() == gb.keys()
    for k in ga:
        assert ga[k].dtype == gb[k].dtype and ga[k].shape == gb[k].shape, k
        assert np.array_equal(ga[k], gb[k], equal_nan=True), k


def cases():
    nets = {s: s for s in specs()}
    nets.update({f"net{k}": n for k, n in enumerate(networks())})
    nets.update(layer_families())
    nets["input gradient"] = "4-5-3 relu softmax_ce"
    nets["one output"] = "7-6-1 relu mse"
    nets["one input"] = "1-6-6-3 tanh softmax_ce"
    nets["learned scalar"] = "3-5-2 act(x*sigmoid(theta*x), theta=1) softmax_ce"
    return nets


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(cases()))
def test_the_same_numbers_bit_for_bit_as_loss_and_grads(name, dtype):
    net = cases()[name]
    model = sn.compile(net, dtype=dtype, input_gradient=name == "input gradient")
    into = getattr(model.module, "loss_and_grads_into", None)
    skipped = model.module.STATE_SHAPES or model.mask_widths or name == "embedding"
    assert (into is None) == bool(skipped)  # BatchNorm, dropout, Embedding: not generated
    if into is None:
        return
    for seed, batch in ((0, 5), (1, 5), (2, 3), (3, 1)):  # later calls reuse the arrays
        params, X, Y = draw(model.network, model, seed, batch)
        assert_identical(into(params, X, Y), model.module.loss_and_grads(params, X, Y))
    assert_identical(model.loss_and_grads(params, X, Y), into(params, X, Y))


def test_the_checked_api_runs_it_and_every_gradient_is_a_new_array():
    model = sn.compile("6-5-3 tanh softmax_ce")
    calls = []
    into = model.module.loss_and_grads_into

    def counting(*a):
        calls.append(1)
        return into(*a)

    model._loss_and_grads = counting
    params, X, Y = draw(model.network, model, 0, 4)
    L, first = model.loss_and_grads(params, X, Y)
    kept = {k: v.copy() for k, v in first.items()}
    model.loss_and_grads(params, 2 * X, Y)
    assert calls == [1, 1]
    for k in first:  # the second call wrote nothing into the first call's gradients
        assert np.array_equal(first[k], kept[k])
    arrays = list(first.values()) + list(params.values()) + [X, Y]
    assert not any(np.shares_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1:])


def test_with_fixed_dropout_masks_the_checked_api_keeps_them():
    model = sn.compile(sn.Network([sn.Dense(3, 8), sn.Dropout(0.5), sn.Dense(8, 1)],
                                  loss=sn.MSE()))
    params, X, Y = draw(model.network, model, 0, 6)
    fixed = model.with_masks(model.draw_masks(6, seed=1))
    assert_identical(fixed.loss_and_grads(params, X, Y), fixed.loss_and_grads(params, X, Y))


def test_each_thread_has_its_own_arrays():
    """Threads calling at once on batches of one size: each gets its own batch's numbers."""
    model = sn.compile("20-30-4 relu softmax_ce")
    params = model.init(0)
    batches = [draw(model.network, model, seed, 16)[1:] for seed in range(4)]
    expected = [model.module.loss_and_grads(params, X, Y) for X, Y in batches]
    failures = []
    start = threading.Barrier(len(batches))

    def work(k):
        X, Y = batches[k]
        start.wait()
        for _ in range(200):
            got = model.loss_and_grads(params, X, Y)
            if got[0] != expected[k][0] or not all(
                    np.array_equal(got[1][n], expected[k][1][n]) for n in got[1]):
                failures.append(k)
                return

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


@pytest.mark.parametrize("layout", ["W1 strided", "X in Fortran order", "X read-only",
                                    "W2 misaligned"])
def test_any_memory_layout_gives_the_same_numbers(layout):
    """NumPy's dot replaces `@` only for C-contiguous aligned operands: for other layouts `@`
    may run its own loop (NumPy 2.0), so loss_and_grads_into hands those to loss_and_grads."""
    model = sn.compile("6-5-3 relu softmax_ce")
    params, X, Y = draw(model.network, model, 0, 4)
    if layout == "W1 strided":
        big = np.zeros((6, 10))
        big[:, ::2] = params["W1"]
        params["W1"] = big[:, ::2]
    elif layout == "X in Fortran order":
        X = np.asfortranarray(X)
    elif layout == "X read-only":
        X.setflags(write=False)
    else:
        raw = np.zeros(params["W2"].nbytes + 1, np.uint8)[1:]
        params["W2"] = raw.view(np.float64).reshape(params["W2"].shape)
        params["W2"][...] = draw(model.network, model, 0, 4)[0]["W2"]
        assert not params["W2"].flags.aligned
    expected = model.module.loss_and_grads(params, X, Y)
    assert_identical(model.module.loss_and_grads_into(params, X, Y), expected)
    assert_identical(model.loss_and_grads(params, X, Y), expected)

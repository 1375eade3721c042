"""The checked API's fast path (symnet.codegen.guard) keeps every check on every call, and
gives exactly what the raw generated step gives (issue 14, "Speed of the documented API")."""

import numpy as np
import pytest

import symnet as sn
from symnet.codegen.guard import Guard
from symnet.nn.data import check_batch, check_params

DTYPES = [np.float32, np.float64]


def _setup(spec="3-4-2 tanh softmax_ce", dtype=np.float64, B=5):
    model = sn.compile(spec, dtype=dtype)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(B, model.network.n_in)).astype(dtype)
    labels = np.arange(B) % model.network.n_out
    Y = np.eye(model.network.n_out, dtype=dtype)[labels]
    return model, model.init(0), X, Y, labels


def _fast(model, params, X, Y):
    return Guard(model.module, model.network).check(params, X, Y)


def _full_error(model, params, X, Y) -> str:
    """The message of the full validation (symnet.nn.data), which the fast path defers to."""
    with pytest.raises(sn.SymnetError) as info:
        check_params(model.network, params)
        check_batch(model.network, X, Y)
    return str(info.value)


def _same(a, b):
    (La, ga), (Lb, gb) = a, b
    assert La == Lb and ga.keys() == gb.keys()
    for k in ga:
        assert ga[k].dtype == gb[k].dtype and np.array_equal(ga[k], gb[k])


# ── the parameters model.init() makes: views into one buffer, scanned at once ──


@pytest.mark.parametrize("dtype", DTYPES)
def test_init_gives_views_into_one_buffer_with_the_generated_values(dtype):
    model, params, *_ = _setup(dtype=dtype)
    buffer = params["W1"].base
    assert buffer.ndim == 1 and buffer.dtype == dtype
    assert all(p.base is buffer for p in params.values())
    assert buffer.size == sum(p.size for p in params.values())
    for k, v in model.module.init_params(0).items():
        assert np.array_equal(params[k], v) and params[k].dtype == v.dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_path_gives_exactly_the_raw_step(dtype):
    model, params, X, Y, labels = _setup(dtype=dtype)
    raw = model.module.loss_and_grads(params, X, Y)
    assert _fast(model, params, X, Y) is not None
    _same(model.loss_and_grads(params, X, Y), raw)
    assert _fast(model, params, X, labels) is not None
    _same(model.loss_and_grads(params, X, labels), raw)
    separate = {k: v.copy() for k, v in params.items()}  # a user's own dict of arrays
    assert _fast(model, separate, X, Y) is not None
    _same(model.loss_and_grads(separate, X, Y), raw)


# ── NaN/inf written in place between two calls: the same error as the full path ──


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("where", ["W1", "b1", "W2", "b2", "X", "Y"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("layout", ["buffer", "separate"])
def test_nan_or_inf_written_in_place_after_a_call_is_refused(dtype, where, bad, layout):
    model, params, X, Y, _ = _setup(dtype=dtype)
    if layout == "separate":
        params = {k: v.copy() for k, v in params.items()}
    model.loss_and_grads(params, X, Y)  # fine, and nothing remembered from it
    target = params[where] if where in params else {"X": X, "Y": Y}[where]
    target.flat[1] = bad
    expected = _full_error(model, params, X, Y)
    assert "NaN or infinity" in expected
    for f in (model.loss_and_grads, model.loss, model.check):
        with pytest.raises(sn.DataError) as info:
            f(params, X, Y)
        assert str(info.value) == expected


def test_an_inf_in_W1_under_tanh_is_refused_though_the_output_stays_finite():
    model, params, X, Y, _ = _setup("3-4-2 tanh softmax_ce")
    model.loss_and_grads(params, X, Y)
    params["W1"][0, 0] = np.inf  # as an in-place training update could leave it
    X[:, 0] = 1.0
    with np.errstate(invalid="ignore"):
        L, grads = model.module.loss_and_grads(params, X, Y)  # the raw step cannot tell
    assert np.isfinite(L) and np.isfinite(grads["W2"]).all()
    with pytest.raises(sn.DataError, match="parameter W1 contains NaN or infinity"):
        model.loss_and_grads(params, X, Y)


# ── the buffer layout tampered with: still checked, still the raw step's results ──


def test_a_parameter_replaced_by_a_copy_is_scanned_on_its_own():
    model, params, X, Y, _ = _setup()
    params["W2"] = params["W2"].copy()
    _same(model.loss_and_grads(params, X, Y), model.module.loss_and_grads(params, X, Y))
    params["W2"][0, 0] = np.nan  # the buffer's own W2 stays finite
    with pytest.raises(sn.DataError, match="parameter W2 contains NaN"):
        model.loss_and_grads(params, X, Y)


def test_a_reshaped_view_of_the_buffer_is_a_shape_error():
    model, params, X, Y, _ = _setup()
    params["W1"] = params["W1"].reshape(4, 3)  # still a view of the buffer
    assert params["W1"].base is params["b1"].base
    with pytest.raises(sn.ShapeError, match=r"parameter W1 has shape \(4, 3\)"):
        model.loss_and_grads(params, X, Y)
    params, _ = model.init(0), None
    params["W1"].shape = (4, 3)  # reshaped in place
    with pytest.raises(sn.ShapeError, match=r"parameter W1 has shape \(4, 3\)"):
        model.loss_and_grads(params, X, Y)


def test_a_non_contiguous_slice_and_a_view_of_a_bigger_array_work_and_are_checked():
    model, params, X, Y, _ = _setup()
    big = np.zeros((3, 8))
    big[:, ::2] = params["W1"]
    params["W1"] = big[:, ::2]  # strided, base `big`: not the buffer
    _same(model.loss_and_grads(params, X, Y), model.module.loss_and_grads(params, X, Y))
    big[2, 6] = np.inf
    with pytest.raises(sn.DataError, match="parameter W1 contains NaN"):
        model.loss_and_grads(params, X, Y)


def test_the_buffer_reshaped_in_place_or_views_of_another_dtype_fall_back_soundly():
    model, params, X, Y, _ = _setup()
    buffer = params["W1"].base
    buffer.shape = (1, buffer.size)  # no longer the flat buffer: each array scanned alone
    _same(model.loss_and_grads(params, X, Y), model.module.loss_and_grads(params, X, Y))
    params["b2"][0] = np.inf
    with pytest.raises(sn.DataError, match="parameter b2 contains NaN"):
        model.loss_and_grads(params, X, Y)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_misaligned_view_of_the_buffer_is_scanned_on_its_own():
    # a float32 view 2 bytes into the buffer reads the high half of one number and the low
    # half of the next: two finite numbers can make a NaN there
    model, params, X, Y, _ = _setup(dtype=np.float32)
    buffer = params["W1"].base
    buffer[:2] = np.array([0x3F800000, 0x3F807FC0], np.uint32).view(np.float32)  # 1.0, 1.004
    assert np.isfinite(buffer).all()
    n = params["b1"].size
    shifted = buffer.view(np.uint8)[2:2 + 4 * n].view(np.float32)
    assert shifted.base is buffer and not shifted.flags.aligned and np.isnan(shifted[0])
    params["b1"] = shifted
    with pytest.raises(sn.DataError, match="parameter b1 contains NaN"):
        model.loss_and_grads(params, X, Y)


def test_views_made_with_the_ndarray_constructor_are_covered_by_the_buffer_scan():
    model, params, X, Y, _ = _setup()
    buffer = params["W1"].base
    params["b2"] = np.ndarray((2,), buffer.dtype, buffer=buffer, offset=8 * (buffer.size - 2))
    assert params["b2"].base is buffer
    _same(model.loss_and_grads(params, X, Y), model.module.loss_and_grads(params, X, Y))
    buffer[-1] = np.nan
    with pytest.raises(sn.DataError, match="parameter b2 contains NaN"):
        model.loss_and_grads(params, X, Y)


# ── targets: the loss's domain on every call ──


@pytest.mark.parametrize("dtype", DTYPES)
def test_probability_rows_and_labels_of_any_integer_type(dtype):
    model, params, X, _, labels = _setup(dtype=dtype)
    logits = np.random.default_rng(1).normal(size=(5, 2)).astype(dtype)
    P = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)  # rows sum to 1 ± rounding
    assert _fast(model, params, X, P) is not None
    _same(model.loss_and_grads(params, X, P), model.module.loss_and_grads(params, X, P))
    raw = model.module.loss_and_grads(params, X, np.eye(2, dtype=dtype)[labels])
    for t in (np.int64, np.int32, np.uint8, np.int8):
        assert _fast(model, params, X, labels.astype(t)) is not None
        _same(model.loss_and_grads(params, X, labels.astype(t)), raw)


@pytest.mark.parametrize("Y, message", [
    (np.array([[0.6, 0.4], [0.5, 0.5], [1.0, 0.0], [0.0, 1.0], [0.5, 0.5001]]), "sum to 1"),
    (np.array([[1.5, -0.5], [0.5, 0.5], [1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]), "sum to 1"),
    (np.array([0, 1, 2, 1, 0]), r"lie in 0\.\.1, got 0\.\.2"),
    (np.array([0, 1, -1, 1, 0], np.int8), r"lie in 0\.\.1, got -1\.\.1"),
    (np.array([0, 1, 1, 1, 0]).astype(">i8"), None),  # big-endian labels: the full path's
])
def test_targets_outside_the_domain_get_the_full_paths_error(Y, message):
    model, params, X, *_ = _setup()
    if message is None:
        _same(model.loss_and_grads(params, X, Y),
              model.module.loss_and_grads(params, X, np.eye(2)[[0, 1, 1, 1, 0]]))
        return
    assert _fast(model, params, X, Y) is None
    with pytest.raises(sn.DataError, match=message):
        model.loss_and_grads(params, X, Y)


def test_negative_zero_in_one_hot_rows_is_accepted_as_the_full_path_accepts_it():
    model, params, X, Y, _ = _setup()
    Y[Y == 0] = -0.0
    _same(model.loss_and_grads(params, X, Y), model.module.loss_and_grads(params, X, Y))


@pytest.mark.parametrize("spec", ["3-4-1 tanh sigmoid bce", "3-4-1 tanh bce_logits",
                                  "3-4-1 tanh mse"])
def test_elementwise_losses_take_a_column_or_a_vector(spec):
    model, params, X, *_ = _setup(spec)
    y = np.array([0.0, 1.0, 1.0, 0.5, 0.0])
    raw = model.module.loss_and_grads(params, X, y[:, None])
    assert _fast(model, params, X, y) is not None
    _same(model.loss_and_grads(params, X, y), raw)
    _same(model.loss_and_grads(params, X, y[:, None]), raw)
    y[3] = 1.5
    if "mse" in spec:
        model.loss_and_grads(params, X, y)
    else:
        with pytest.raises(sn.DataError, match=r"lie in \[0, 1\]"):
            model.loss_and_grads(params, X, y)
    y[3] = np.inf
    with pytest.raises(sn.DataError, match="Y contains NaN or infinity"):
        model.loss_and_grads(params, X, y)


def test_many_classes_in_float32_sum_rows_in_float64():
    model, params, X, _, labels = _setup("3-40 softmax_ce", dtype=np.float32)
    Y = np.eye(40, dtype=np.float32)[labels]
    assert _fast(model, params, X, Y) is not None
    Y[0, :] = 1 / 40  # sums to 1 in float32 give or take 40 roundings
    model.loss_and_grads(params, X, Y)
    Y[0, 0] += 3e-5
    with pytest.raises(sn.DataError, match="sum to 1"):
        model.loss_and_grads(params, X, Y)


def test_inputs_the_fast_path_leaves_to_the_full_check_still_work():
    model, params, X, Y, labels = _setup(dtype=np.float32)
    raw = model.module.loss_and_grads(params, X, Y)
    for args in [(params, X.tolist(), Y), (params, X.astype(np.float64), Y),
                 (params, X, labels.tolist()), (params, X, labels.astype(float))]:
        assert _fast(model, *args) is None
        L, grads = model.loss_and_grads(*args)
        assert np.isclose(L, raw[0]) and grads["W1"].dtype == np.float32


@pytest.mark.parametrize("spec", ["3-4-2 tanh softmax_ce", "3-4-2 tanh sigmoid bce"])
@pytest.mark.parametrize("at", [0, 4, -1])  # where the NaN sits, before or after the minimum
@pytest.mark.parametrize("dtype", DTYPES)
def test_a_nan_anywhere_in_the_targets_is_refused(spec, at, dtype):
    """The fast path reads min and max at argmin/argmax, which point at the first NaN."""
    model, params, X, Y, _ = _setup(spec, dtype=dtype)
    Y = Y.copy()
    Y.flat[at] = np.nan
    assert _fast(model, params, X, Y) is None
    with pytest.raises(sn.DataError, match="NaN"):
        model.loss_and_grads(params, X, Y)

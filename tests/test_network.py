"""Network construction: numbering of layers with weights, per-sample input shapes."""

import pytest

import symnet as sn
from symnet.errors import ShapeError, SpecError


def test_layers_with_weights_take_the_next_number():
    net = sn.Network([sn.Dense(2, 3), sn.ReLU(), sn.Dense(3, 1)], loss=sn.MSE())
    assert net.numbers == (1, 1, 2)
    assert list(net.parameters) == ["W1", "b1", "W2", "b2"]


def test_input_shape_defaults_to_the_first_dense_layer():
    plain = sn.Network([sn.Dense(2, 1)], loss=sn.MSE())
    given = sn.Network([sn.Dense(2, 1)], loss=sn.MSE(), input_shape=(2,))
    assert plain.input_shape == (2,) and plain == given and repr(plain) == repr(given)


@pytest.mark.parametrize("bad", [(3,), (0,), (), "2", (2.0,), (True,)])
def test_a_wrong_input_shape_is_a_clear_error(bad):
    with pytest.raises(ShapeError, match="input_shape"):
        sn.Network([sn.Dense(2, 1)], loss=sn.MSE(), input_shape=bad)


def test_a_network_starts_with_a_layer_that_has_weights():
    with pytest.raises(SpecError, match="starts with a layer that has weights"):
        sn.Network([sn.ReLU(), sn.Dense(2, 1)], loss=sn.MSE())

"""Small helpers the hand-written models share (the kind of thing people paste at the top)."""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z, axis=-1):
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(z, axis=-1):
    m = np.max(z, axis=axis, keepdims=True)
    return z - m - np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))


def one_hot(labels, n):
    Y = np.zeros((len(labels), n))
    Y[np.arange(len(labels)), labels] = 1.0
    return Y


def glorot(rng, n_in, n_out, shape=None):
    return rng.standard_normal(shape or (n_in, n_out)) * np.sqrt(2.0 / (n_in + n_out))

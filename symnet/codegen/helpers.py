"""The helper functions generated modules may call, as source text (each emitted only when
used): overflow-free σ, σ′ and softplus, erf entry by entry, and BCELoss's clamped log."""

HELPERS = {
    "_sigmoid": '''\
def _sigmoid(x):
    """σ(x) = 1/(1 + e^(−x)), written with e^(−|x|) ≤ 1 so that nothing overflows."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, e) / (1 + e)
''',
    "_sigmoid_prime": '''\
def _sigmoid_prime(x):
    """σ′(x) = σ(x)·σ(−x) = e^(−|x|)/(1 + e^(−|x|))²: no cancellation (y·(1 − y) is 0 once
    y = σ(x) rounds to 1) and nothing overflows."""
    e = np.exp(-np.abs(x))
    return e / (1 + e) ** 2
''',
    "_softplus": '''\
def _softplus(x):
    """log(1 + e^x) = logaddexp(0, x), which never overflows."""
    return np.logaddexp(0, x)
''',
    "_erf": '''\
def _erf(x):
    """erf entry by entry: NumPy has none, and math.erf is right to the last bit (this one
    function loops in Python, over the entries)."""
    import math

    return np.frompyfunc(math.erf, 1, 1)(x).astype(x.dtype)
''',
    "_log": '''\
def _log(p):
    """log p clamped to ≥ −100, as PyTorch's BCELoss does (log 0 = −inf would poison L)."""
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(p), -100)
''',
}


__all__ = ["HELPERS"]

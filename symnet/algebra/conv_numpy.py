"""The NumPy the generated code calls for convolution and pooling: one helper per operation,
emitted into the generated module when a node (`conv`, `pool`) uses it.

Each is vectorized over the batch and the channels: `sliding_window_view` and `tensordot`, or
one strided view per window offset, never a loop over pixels.
"""

HELPERS = {
    "_conv2d": '''\
def _conv2d(A, W, b, shape, stride, padding):
    """Z = pad(A) ⋆ W + b, PyTorch's Conv2d (a cross-correlation): each window of the padded
    input (sliding_window_view, no copy) contracted with the kernel by one tensordot."""
    B = A.shape[0]
    X = A.reshape(B, *shape)
    if padding:
        X = np.pad(X, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = np.lib.stride_tricks.sliding_window_view(X, W.shape[2:], axis=(2, 3))
    win = win[:, :, ::stride, ::stride]  # (B, C, Ho, Wo, kh, kw)
    Z = np.tensordot(win, W, axes=((1, 4, 5), (1, 2, 3)))  # (B, Ho, Wo, O)
    Z += b
    return Z.transpose(0, 3, 1, 2).reshape(B, -1)
''',
    "_conv2d_dx": '''\
def _conv2d_dx(G, W, shape, stride, padding, flip=True, dilate=True, crop=True):
    """∂L/∂A = crop(full(ins(G)) ⋆ rot180(W)), computed as the scatter that sum is: each δ
    entry spreads over the window it came from, weighted by the kernel (col2im: one matrix
    product, then one strided add per kernel offset, never a loop over pixels)."""
    C, H, Wd = shape
    O, _, kh, kw = W.shape
    B = G.shape[0]
    Hp, Wp = H + 2 * padding, Wd + 2 * padding
    Ho, Wo = (Hp - kh) // stride + 1, (Wp - kw) // stride + 1
    step = stride if dilate else 1  # ins(G): δ's entries `stride` apart
    K = W if flip else W[:, :, ::-1, ::-1]  # ⋆ rot180(W) scatters W itself
    cols = np.tensordot(K, G.reshape(B, O, Ho, Wo), axes=(0, 1))  # (C, kh, kw, B, Ho, Wo)
    dX = np.zeros((C, B, max(Hp, step * (Ho - 1) + kh), max(Wp, step * (Wo - 1) + kw)),
                  dtype=G.dtype)
    for i in range(kh):
        for j in range(kw):
            dX[:, :, i:i + step * (Ho - 1) + 1:step,
               j:j + step * (Wo - 1) + 1:step] += cols[:, i, j]
    top = padding if crop else 0
    return dX[:, :, top:top + H, top:top + Wd].transpose(1, 0, 2, 3).reshape(B, -1)
''',
    "_conv2d_dw": '''\
def _conv2d_dw(A, G, shape, kernel, stride, padding, dilate=True):
    """∂L/∂W = pad(A) ⋆ ins(G): the input's windows (at the stride) contracted with δ over
    the batch and the positions, (O, C, kh, kw) like W."""
    B = A.shape[0]
    X = A.reshape(B, *shape)
    if padding:
        X = np.pad(X, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = np.lib.stride_tricks.sliding_window_view(X, kernel, axis=(2, 3))
    Ho, Wo = (X.shape[2] - kernel[0]) // stride + 1, (X.shape[3] - kernel[1]) // stride + 1
    step = stride if dilate else 1
    win = win[:, :, :step * (Ho - 1) + 1:step, :step * (Wo - 1) + 1:step]
    return np.tensordot(G.reshape(B, -1, Ho, Wo), win, axes=((0, 2, 3), (0, 2, 3)))
''',
    "_maxpool": '''\
def _maxpool(A, shape, k, stride):
    """The largest entry of each k×k window, taken at the stride: the maximum of the k² strided
    views of A, one per window offset."""
    B = A.shape[0]
    X = A.reshape(B, *shape)
    Ho, Wo = (shape[1] - k) // stride + 1, (shape[2] - k) // stride + 1
    P = None
    for i in range(k):
        for j in range(k):
            part = X[:, :, i:i + stride * (Ho - 1) + 1:stride, j:j + stride * (Wo - 1) + 1:stride]
            P = part.copy() if P is None else np.maximum(P, part, out=P)
    return P.reshape(B, -1)
''',
    "_maxpool_dx": '''\
def _maxpool_dx(G, A, P, shape, k, stride, every=False):
    """∂L/∂A: each window's gradient routed to its maximum P (the first in row-major order at
    a tie, as PyTorch does), summed where windows overlap; one pass per window offset."""
    B = A.shape[0]
    X = A.reshape(B, *shape)
    Ho, Wo = (shape[1] - k) // stride + 1, (shape[2] - k) // stride + 1
    G = G.reshape(B, shape[0], Ho, Wo)
    P = P.reshape(G.shape)
    dX = np.zeros(X.shape, dtype=G.dtype)
    free = np.ones(G.shape, dtype=bool)  # windows whose maximum is not yet found
    for i in range(k):
        for j in range(k):
            at = (slice(None), slice(None), slice(i, i + stride * (Ho - 1) + 1, stride),
                  slice(j, j + stride * (Wo - 1) + 1, stride))
            if every:
                dX[at] += G
                continue
            hit = (X[at] == P) & free
            free &= ~hit
            dX[at] += G * hit
    return dX.reshape(B, -1)
''',
    "_avgpool": '''\
def _avgpool(A, shape, k, stride):
    """The mean of each k×k window, taken at the stride: the k² strided views of A summed."""
    B = A.shape[0]
    X = A.reshape(B, *shape)
    Ho, Wo = (shape[1] - k) // stride + 1, (shape[2] - k) // stride + 1
    P = np.zeros((B, shape[0], Ho, Wo), dtype=A.dtype)
    for i in range(k):
        for j in range(k):
            P += X[:, :, i:i + stride * (Ho - 1) + 1:stride, j:j + stride * (Wo - 1) + 1:stride]
    return (P / (k * k)).reshape(B, -1)
''',
    "_avgpool_dx": '''\
def _avgpool_dx(G, shape, k, stride, divide=True):
    """∂L/∂A: each window's gradient shared by its k² entries, summed where windows overlap."""
    B = G.shape[0]
    C, H, W = shape
    Ho, Wo = (H - k) // stride + 1, (W - k) // stride + 1
    share = G.reshape(B, C, Ho, Wo) / (k * k) if divide else G.reshape(B, C, Ho, Wo)
    dX = np.zeros((B, C, H, W), dtype=G.dtype)
    for i in range(k):
        for j in range(k):
            dX[:, :, i:i + stride * (Ho - 1) + 1:stride,
               j:j + stride * (Wo - 1) + 1:stride] += share
    return dX.reshape(B, -1)
''',
}

__all__ = ["HELPERS"]

"""The algebra: symnet's mathematics, with no notion of a network.

Matrix nodes (`matexpr`), scalar functions and their cheapest derivative forms (`functions`),
the activation-formula parser (`formula`, never `eval`), one backward rule per primitive
(`rules`), convolution and pooling as nodes with their rules (`conv`, `pool`; what their
sliding windows share, `windows`; the NumPy they generate, `conv_numpy`), statistics per
channel for BatchNorm2d (`channels`), the tape a forward pass is recorded on (`tape`), and how
expressions print (`notation`).

May import: `symnet.errors` and SymPy/NumPy only.
"""

"""Training with generated code: minibatch SGD/Adam loops, and the built-in datasets.

`train` (sn.train, loss curves), `datasets` (XOR, moons, spirals, digits, CSV files).

May import: `symnet.codegen` and everything below it.
"""

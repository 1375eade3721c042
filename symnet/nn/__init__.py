"""Networks: the layers a forward pass is built from, the losses, and the spec language.

`layer` (the Layer interface), `activation` (the Activation base and custom activations from a
formula), `layers` (Dense, the built-in activations, Softmax), `normalization` (LayerNorm,
BatchNorm, BatchNorm2d), `conv` (Conv2d, MaxPool2d, AvgPool2d), `flatten` (Flatten),
`recurrent` (RNN, LSTM, GRU), `attention` (SelfAttention), `losses`, `network` (a stack of layers
plus a loss, recorded on a tape), `spec` (parse and describe spec text and TOML, never
`eval`), `data` (validation of user arrays), `tensor` and `graph` (the functional API: Input,
layers called on tensors, Add, Concat, and the network they make), `dropout` (inverted
dropout, its mask data), `embedding` (integer inputs looked up in a learned table).

May import: `symnet.algebra`, `symnet.errors`.
"""

"""Code generation: a derivation printed as NumPy source, and that source run.

`printer` (the NumPy expression printer: one `_print_<Node>` method per node, common
sub-expressions named once), `module` (the standalone module's text: init_params, forward,
loss, loss_and_grads, sgd_step, train), `model` (`compile`: executes exactly that text).

May import: `symnet.derivation` and everything below it.
"""

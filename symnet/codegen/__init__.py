"""Code generation: a derivation printed as NumPy source, checked, and that source run.

`printer` (the NumPy expression printer: one `_print_<Node>` method per node, common
sub-expressions named once), `logits` (bce and ce rewritten to be computed from the logits,
each rewrite confirmed by SymPy), `module` (the standalone module's text: init_params,
init_state, forward, loss, loss_and_grads, sgd_step, train), `validate` (translation
validation: the printed code read back into SymPy by a whitelist reader and proved equal to the
derivation, and compared numerically at every branch), `model` (`compile`: executes exactly the
module's text), `guard` (the checked API's fast path: every call's input checked in a few µs).

May import: `symnet.derivation` and everything below it.
"""

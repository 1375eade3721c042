"""Code generation: a derivation printed as NumPy source, checked, and that source run.

`printer` (the expression printer: one `_print_<Node>` method per node, common sub-expressions
named once), `backends` (the spellings that differ for JAX, PyTorch and CuPy: the same printer
prints for them), `logits` (bce and ce rewritten to be computed from the logits, each rewrite
confirmed by SymPy), `inplace` (the printed statements computed into preallocated arrays: the
fused training step, and loss_and_grads_into), `module` (the standalone module's text:
init_params, init_state, forward, loss, loss_and_grads, loss_and_grads_into, sgd_step,
train_step, train), `validate` (translation validation: the
printed NumPy code read back into SymPy by a whitelist reader and proved equal to the
derivation, and compared numerically at every branch), `train_step` (the fused training
step's text), `model` (`Model`: the checked methods around the loaded module;
`backend_model` for the other backends), `build` (`compile`: generates, validates and
executes exactly the module's text), `guard` (the checked API's fast path: every call's input
checked in a few µs), `loader` (generated text executed under a file name linecache knows).

May import: `symnet.derivation` and everything below it.
"""

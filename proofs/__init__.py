"""Machine-checked proofs of every rule symnet's chain rule relies on; run them with
`symnet prove` (or `symnet.prove.prove()`), which writes a table or, with `--markdown FILE`, a
document with each statement, its derivation and the verdict.

Each module here states its theorems as SymPy expressions about the rules *imported from
symnet* (never restated), and checks them:

- `named_functions`: σ′ and softplus′ as SymPy differentiates them (their `fdiff`), against
  their definitions differentiated in exp.
- `activations`: every activation's derivative, in the cheap form symnet generates; the
  convention at each kink.
- `elementwise`: the element-wise layer's rule δ = G ⊙ f′(Z), with f′ in x or in (x, y).
- `dense`: the dense layer's three products G Wᵀ, Xᵀ G, Gᵀ𝟙, for symbolic dimensions.
- `softmax`: the softmax layer's matrix rule A ⊙ (G − (G ⊙ A)𝟙𝟙ᵀ).
- `losses`: each loss's gradient for both reductions, softmax cross-entropy, L2 decay.
- `backprop`: the four backpropagation equations, as `derive` produces them for whole networks.
- `parametric`: activations with learned scalars (swish's β): the rule ∂L/∂θ = 𝟙ᵀ(G ⊙ ∂f/∂θ)𝟙
  for a generic f, and the partial derivatives of the example activations in symnet's form.
- `normalization`: LayerNorm and BatchNorm: each step's rule (general), the compact backward
  formula against `sympy.diff` (bounded), and whole networks through `derive` in both forms.
- `conv`: convolution and pooling (`symnet.algebra.conv`, `.pool`): each backward rule against
  `sympy.diff` for small images (bounded), stride 1 and 2, padding 0 and 1.
- `merge`: networks beyond a stack: sums and concatenations of branches, dropout, embedding
  lookups (scatter-add), and whole residual/branching graphs against `sympy.diff`.
- `network`: with `symnet prove --spec SPEC`, the derivatives of that network's custom
  activations.

To add a proof, add a module defining `theorems()`, which yields `symnet.prove.Theorem`s; the
runner finds it without further registration (modules not in ORDER run after those that are).
A module may also define `theorems_for(network)`, run when a network is given (`--spec`).
Helpers shared by several modules start with `_` and are not run.
"""

ORDER = ("named_functions", "activations", "elementwise", "dense", "softmax", "losses", "backprop",
         "parametric", "normalization", "conv", "merge", "network")

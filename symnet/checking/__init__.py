"""Checking gradients: symnet's own three ways must agree, and a user's must match the truth.

`verify` is a pipeline, one stage a module, low level first:

- truth: `finite_diff` (the user's loss, measured before it is trusted: pure, deterministic,
  its noise floor; directional central differences and the complex step, each with an error
  bound) or `reference` (symnet's own gradients of a stated network, in the user's layout:
  `conventions`);
- `probe`: every tensor along Gaussian directions (or entry by entry against a reference);
- `localize`: the failing ones, entry by entry when small, by bisection when large;
- `identify`: the network the user's loss computes, found from the loss alone;
- name the mistake: `diagnose` (transposed, a factor, L2, rows/columns), `mutants` (wrong
  variants of a derivation: a stack's in `mutants`, with the edits of `mutant_edits`; graphs,
  dropout and normalization in `graph_mutants`; recurrences and attention in
  `sequence_mutants`), `suspects` (which mutant a gradient matches), `naming` (all of these,
  once the network is known);
- `report`: ParamResult (with its `kind`) and Report; `kinks`: non-differentiable points.

`check` compares exact, generated and finite-difference gradients of symnet's own code.

May import: `symnet.codegen` and everything below it.
"""

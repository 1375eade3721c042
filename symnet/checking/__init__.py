"""Checking gradients: symnet's own three ways must agree, and a user's must match the truth.

A pipeline, low level first: `finite_diff` (directional central differences with an error
estimate, tolerances), `report` (ParamResult, Report), `kinks` (non-differentiable points),
`mutants` (wrong variants of a derivation, to name a mistake), `reference` (the truth of
`verify(net=…)`: symnet's generated code in float64), `diagnose` (what kind of mistake),
`verify` (a user's gradients against the truth), `check` (exact vs generated vs finite
differences).

May import: `symnet.codegen` and everything below it.
"""

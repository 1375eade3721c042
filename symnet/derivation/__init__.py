"""The derivation: the chain rule over a network's tape, and what a derivation can do itself.

`chain` (derive, Derivation, Equation: the backward equations, one VJP rule per tape step),
`evaluate` (exact or 50-digit evaluation through SymPy: the ground truth), `text` (a
derivation as Unicode, LaTeX and a step-by-step Markdown document).

May import: `symnet.nn`, `symnet.algebra`, `symnet.errors`.
"""

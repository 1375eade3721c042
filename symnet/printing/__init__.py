"""Other views of a derivation: one formula per weight, and the computation graph.

`explicit` (every weight its own symbol, textbook style), `graph` (Graphviz DOT and PNG,
forward and backward edges). The one-line Unicode/LaTeX/Markdown forms belong to the
derivation itself (`symnet.derivation.text`); expression notation is `symnet.algebra.notation`.

May import: `symnet.derivation` and everything below it.
"""

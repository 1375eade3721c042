"""Networks beyond a stack: the rules of `symnet.algebra.merge`, and the sum over paths.

- Add: S = A₁ + A₂ passes G = ∂L/∂S to each summand unchanged. General (index calculus).
- Dropout: D = (A ⊙ M)/(1 − p) gives ∂L/∂A = (G ⊙ M)/(1 − p), for a symbolic mask M and rate
  p. General.
- Concat and its columns: C = [A₁ A₂] gives ∂L/∂Aᵢ = G[:, oᵢ:oᵢ + nᵢ]. Bounded: every batch
  size and both widths up to 3, on explicit matrices of symbols (`Concat` and `Columns` are
  `Op`s, evaluated by their own exact value).
- Embedding: Z = E[X] gives ∂L/∂E = scatter_add(X, G). Bounded: vocabularies up to 3, B and T
  up to 2, width 2, and every index matrix X.
- Whole graphs: a residual network (a skip connection around two layers, with dropout on the
  branch) and a concatenation of two branches of the input, derived by `symnet.derive` with the
  input gradient, every entry of every parameter gradient and of ∂L/∂X compared with
  `sympy.diff` of the fully expanded loss. A symbol read along several paths gets the sum of
  their terms: the multivariable chain rule. f and ℓ are generic (see `_generic`).
"""

from __future__ import annotations

import itertools

import sympy as sp

from symnet import Add, Concat, Dense, Dropout, Input, Network, derive
from symnet.algebra import merge
from symnet.algebra.matexpr import B
from symnet.algebra.notation import latex_expr as tex
from symnet.derivation.evaluate import interpret
from symnet.prove import Theorem

from ._explicit import symbols
from ._generic import GenericActivation, GenericLoss
from ._index import entry, k, l, n, pullback


def theorems():
    yield Theorem("sum of branches: ∂L/∂Aᵢ = G for each summand", add_rule)
    yield Theorem("inverted dropout: ∂L/∂A = (G ⊙ M)/(1 − p)", dropout_rule)
    yield Theorem("concatenation: each input receives its columns of G", concat_rule,
                  "B ≤ 3, widths ≤ 3")
    yield Theorem("embedding: ∂L/∂E = scatter_add(X, G)", embedding_rule,
                  "vocab ≤ 3, B ≤ 2, T ≤ 2, d = 2, every index matrix")
    yield Theorem("graphs: residual and concatenated branches, the sum over paths", graphs,
                  "the two graphs below, B ≤ 2 (every dropout mask at B = 1), generic f and ℓ")


def add_rule(proof):
    A1, A2, G = (sp.MatrixSymbol(s, B, n) for s in ("A1", "A2", "G"))
    S = merge.add(A1, A2)
    grads = merge.add_vjp(G, 2)
    proof.states(r"S = A_{1} + A_{2} \implies \frac{\partial L}{\partial A_{i}} = "
                 rf"{tex(grads[0])} \quad \text{{for all }} B, n")
    for A, g in zip((A1, A2), grads):
        proof.equal(entry(g, k, l), pullback(G, S, A, k, l), f"entry of ∂L/∂{A.name}")


def dropout_rule(proof):
    p = sp.Symbol("p", positive=True)
    A, M, G = (sp.MatrixSymbol(s, B, n) for s in ("A", "M", "G"))
    D = merge.dropout(A, M, p)
    dA = merge.dropout_vjp(G, M, p)
    proof.states(rf"D = {tex(D)} \implies \frac{{\partial L}}{{\partial A}} = {tex(dA)}"
                 r" \quad \text{for all } B, n, p")
    proof.equal(entry(dA, k, l), pullback(G, D, A, k, l), "entry of merge.dropout_vjp")


def _explicit(name, rows, cols):
    return sp.ImmutableMatrix(rows, cols, lambda r, c: sp.Symbol(f"{name}_{r}{c}"))


def concat_rule(proof):
    proof.states(r"C = \left[A_{1} \;\; A_{2}\right] \implies \frac{\partial L}{\partial A_{1}}"
                 r" = G_{[:,\,0:n_{1}]},\ \frac{\partial L}{\partial A_{2}} = "
                 r"G_{[:,\,n_{1}:n_{1}+n_{2}]}")
    for batch, n1, n2 in itertools.product((1, 2, 3), repeat=3):
        A1, A2 = sp.MatrixSymbol("A1", B, n1), sp.MatrixSymbol("A2", B, n2)
        G = sp.MatrixSymbol("G", B, n1 + n2)
        env = {A1: _explicit("a", batch, n1), A2: _explicit("c", batch, n2),
               G: _explicit("g", batch, n1 + n2)}
        C = interpret(merge.concat(A1, A2), env, batch)
        L = sum(env[G].multiply_elementwise(C))  # L with ∂L/∂C = G
        for A, rule in zip((A1, A2), merge.concat_vjp(G, (n1, n2))):
            value = interpret(rule, env, batch)
            truth = env[A].applyfunc(lambda a, L=L: sp.diff(L, a))
            proof.equal(value, truth, show=False)
    proof.step("27 (B, n₁, n₂) cases: every entry of merge.concat_vjp equals ∂L/∂A of "
               "L = Σ G ⊙ [A₁ A₂]")


def embedding_rule(proof):
    proof.states(r"Z = E[X] \implies \frac{\partial L}{\partial E} = "
                 r"\operatorname{scatter\_add}(X, G)")
    d, cases = 2, 0
    for vocab, batch, T in itertools.product((1, 2, 3), (1, 2), (1, 2)):
        E, X = sp.MatrixSymbol("E", vocab, d), sp.MatrixSymbol("X", B, T)
        G = sp.MatrixSymbol("G", B, T * d)
        Es, Gs = _explicit("e", vocab, d), _explicit("g", batch, T * d)
        for flat in itertools.product(range(vocab), repeat=batch * T):
            env = {E: Es, G: Gs, X: sp.ImmutableMatrix(batch, T, flat)}
            Z = interpret(merge.embedding(E, X), env, batch)
            L = sum(Gs.multiply_elementwise(Z))
            value = interpret(merge.embedding_vjp(G, E, X), env, batch)
            proof.equal(value, Es.applyfunc(lambda e, L=L: sp.diff(L, e)), show=False)
            cases += 1
    proof.step(f"{cases} (vocab, B, T, X) cases: every entry of scatter_add(X, G) equals ∂L/∂E "
               "of L = Σ G ⊙ E[X]")


def _residual():
    x = Input(2)
    h1 = GenericActivation()(Dense(2, 2)(x))
    h2 = Dropout(sp.Rational(1, 2))(GenericActivation()(Dense(2, 2)(h1)))
    return Network(inputs=x, outputs=Dense(2, 1)(Add()(h1, h2)), loss=GenericLoss())


def _branches():
    x = Input(2)
    a, b = GenericActivation()(Dense(2, 1)(x)), Dense(2, 2)(x)
    return Network(inputs=x, outputs=Dense(3, 1)(Concat()(a, b, )), loss=GenericLoss())


def graphs(proof):
    proof.states(r"\frac{\partial L}{\partial V} = \sum_{\text{paths}} \ldots"
                 r" \text{ as derive() writes it, for every parameter and for } X")
    for make in (_residual, _branches):
        d = derive(make(), input_gradient=True)
        for batch in (1, 2):
            masks = d.tape.masks
            size = sum(batch * int(M.shape[1]) for M in masks)
            # every mask for one sample; for two, one that keeps and drops in each column
            patterns = itertools.product((0, 1), repeat=size) if batch == 1 else [
                [(r + c) % 2 for r in range(batch) for c in range(size // batch)]]
            for bits in patterns:
                _check(proof, d, batch, masks, iter(bits))
        for eq in d.backward:
            proof.step(f"derive() gives {eq.name}", (eq.lhs, eq.rhs))


def _check(proof, d, batch, masks, bits):
    inputs = {M: symbols(M, batch) for M in (d.X, d.Y, *d.params.values())}
    for M in masks:
        inputs[M] = sp.ImmutableMatrix(batch, int(M.shape[1]), lambda r, c: next(bits))
    env = dict(inputs)
    for eq in d.equations:
        env[eq.lhs] = interpret(eq.rhs, env, batch)
    L = env[d.loss.lhs]
    for symbol in (*d.params.values(), d.X):
        grad = env[d.equation(f"d{symbol.name}").lhs]
        for v, g in zip(inputs[symbol], grad):
            proof.equal(g, sp.diff(L, v), f"d{symbol.name} at {v}", show=False)


__all__ = ["theorems"]

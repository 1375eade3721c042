"""Convolution and pooling (`symnet.algebra.conv`, `.pool`): each rule against `sympy.diff`.

Bounded: for each geometry in a list of small ones (channels, image size, kernel, stride 1 and
2, padding 0 and 1), every entry of the input A, the weights W, the bias b and the upstream
gradient G is its own symbol; the forward operation is symnet's own node evaluated by its
definition (`Op._exact_value`, through `evaluate.interpret`), L = Σ G ⊙ out, and each rule's
value must equal the matrix of ∂L/∂v for every entry v:

- convolution: ∂L/∂W = pad_p(A) ⋆ ins_s(G), ∂L/∂b = Σ_{n,y,x} G and
  ∂L/∂A = crop_p(full(ins_s(G)) ⋆ rot180(W)), as polynomials in the symbols;
- average pooling: ∂L/∂A = up_k(G) / k²;
- max pooling: ∂L/∂A = route_k(G → max A), at points without ties (L is not differentiable at
  a tie): SymPy differentiates Max into Heaviside steps, evaluated at several rational points.
"""

from __future__ import annotations

import sympy as sp

from symnet.algebra import conv, pool
from symnet.derivation.evaluate import interpret
from symnet.prove import Theorem

# (C, H, W, kh, kw, stride, padding, O): stride 1 and 2, padding 0 and 1, a non-square kernel
CONV_GEOMETRIES = ((1, 3, 3, 2, 2, 1, 0, 1), (1, 3, 3, 2, 2, 2, 1, 2), (2, 3, 3, 2, 2, 1, 1, 1),
                   (1, 4, 4, 3, 2, 2, 0, 1))
POOL_GEOMETRIES = ((1, 4, 4, 2, 2, 2, 0, 0), (2, 3, 3, 2, 2, 1, 0, 0))  # stride 1: overlaps
BATCH = 1
POINTS = 3  # tie-free points at which the max-pool rule is compared


def theorems():
    bound = "geometries " + ", ".join("×".join(map(str, g[:3])) + f" k{g[3]}×{g[4]} s{g[5]} "
                                      f"p{g[6]}" for g in CONV_GEOMETRIES) + f", B = {BATCH}"
    yield Theorem("conv2d: ∂L/∂W = pad(A) ⋆ ins(G), ∂L/∂b = Σ G, ∂L/∂A = crop(full(ins(G)) ⋆ "
                  "rot180(W))", conv_rules, bound)
    pools = ", ".join(f"{g[0]}×{g[1]}×{g[2]} k{g[3]} s{g[5]}" for g in POOL_GEOMETRIES)
    yield Theorem("avgpool: ∂L/∂A = up(G)/k²", avgpool_rule, f"{pools}, B = {BATCH}")
    yield Theorem("maxpool: ∂L/∂A = route(G → max A) away from ties", maxpool_rule,
                  f"{pools}, B = {BATCH}, {POINTS} tie-free points")


def _symbols(name, rows, cols):
    return sp.ImmutableMatrix(rows, cols, lambda r, c: sp.Symbol(f"{name}_{r}_{c}", real=True))


def _setup(g: conv.Geometry, out_cols):
    A = sp.MatrixSymbol("A", BATCH, g.C * g.H * g.W)
    G = sp.MatrixSymbol("G", BATCH, out_cols)
    env = {A: _symbols("a", *A.shape), G: _symbols("g", *G.shape)}
    return A, G, env


def _gradient(L, M):
    return M.applyfunc(lambda v: sp.diff(L, v))


def _loss(G, out):
    return sum(G[i, j] * out[i, j] for i in range(out.rows) for j in range(out.cols))


def conv_rules(proof):
    proof.states(r"Z = \operatorname{pad}_p(A) \star_s W + b \implies \frac{\partial L}{\partial "
                 r"W} = \operatorname{pad}_p(A) \star \operatorname{ins}_s(G),\ \frac{\partial L}"
                 r"{\partial b} = \sum_{n,y,x} G,\ \frac{\partial L}{\partial A} = "
                 r"\operatorname{crop}_p(\operatorname{full}(\operatorname{ins}_s(G)) \star "
                 r"\operatorname{rot180}(W))")
    for t in CONV_GEOMETRIES:
        g = conv.Geometry(*t)
        A, G, env = _setup(g, g.O * g.Ho * g.Wo)
        W = sp.MatrixSymbol("W", g.O, g.C * g.kh * g.kw)
        b = sp.MatrixSymbol("b", g.O, 1)
        env |= {W: _symbols("w", *W.shape), b: _symbols("b", *b.shape)}
        L = _loss(env[G], interpret(conv.conv2d(A, W, b, g), env, BATCH))
        dA, dW, db = (interpret(rule, env, BATCH) for rule in conv.conv2d_vjp(G, A, W, g))
        where = f"C={g.C}, {g.H}×{g.W}, kernel {g.kh}×{g.kw}, stride {g.stride}, padding " \
                f"{g.padding}, O={g.O}"
        proof.equal(dW, _gradient(L, env[W]), f"∂L/∂W, {where}")
        proof.equal(db, _gradient(L, env[b]), f"∂L/∂b, {where}")
        proof.equal(dA, _gradient(L, env[A]), f"∂L/∂A, {where}")


def _pooled(forward):
    """For each pooling geometry: (g, A, G, env, L) with L = Σ G ⊙ forward(A, g)."""
    for t in POOL_GEOMETRIES:
        g = conv.Geometry(*t)
        A, G, env = _setup(g, g.C * g.Ho * g.Wo)
        yield g, A, G, env, _loss(env[G], interpret(forward(A, g), env, BATCH))


def _window(g) -> str:
    return f"{g.C}×{g.H}×{g.W}, window {g.kh}, stride {g.stride}"


def avgpool_rule(proof):
    proof.states(r"P = \operatorname{avgpool}_k(A) \implies \frac{\partial L}{\partial A} = "
                 r"\operatorname{up}_k(G) / k^2")
    for g, A, G, env, L in _pooled(pool.avgpool):
        rule = interpret(pool.avgpool_vjp(G, g), env, BATCH)
        proof.equal(rule, _gradient(L, env[A]), _window(g))


def maxpool_rule(proof):
    proof.states(r"P = \operatorname{maxpool}_k(A) \implies \frac{\partial L}{\partial A} = "
                 r"\operatorname{route}_k(G \to \max A) \text{ where no window ties}")
    for g, A, G, env, L in _pooled(pool.maxpool):
        truth = _gradient(L, env[A])
        n = g.C * g.H * g.W
        for seed in range(POINTS):
            # distinct values, a different order at each point: no window has a tie
            values = [sp.Rational((7 * v + 3 * seed) % n - n // 2, 3) for v in range(n)]
            values = values[seed:] + values[:seed]
            point = {env[A][0, j]: values[j] for j in range(n)}
            at = {A: env[A].xreplace(point), G: env[G]}
            rule = interpret(pool.maxpool_vjp(G, A, pool.maxpool(A, g), g), at, BATCH)
            proof.equal(rule, truth.xreplace(point).doit(), f"{_window(g)}, point {seed + 1}")


__all__ = ["theorems"]

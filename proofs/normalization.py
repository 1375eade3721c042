"""The normalization layers: every step's rule, and the compact form of the whole backward pass.

BatchNorm takes its statistics over the batch (one per column), LayerNorm over the features (one
per row); `symnet.nn.normalization` records, for a layer input Z,

    μ = mean(Z),  C = Z − spread(μ),  V = mean(C ⊙ C) + ε,  σ = √V,  N = C ⊘ spread(σ),
    H = N ⊙ 𝟙γᵀ + 𝟙βᵀ

and backpropagates either step by step (`compact=False`) or from ∂L/∂N straight to ∂L/∂Z with
the textbook formula (`compact=True`, the default). Three kinds of theorem cover both:

- *general*, for each axis: each step's rule in `rules.py` (mean, centre, variance, normalize,
  affine) is the chain rule ∂L/∂Vₖₗ = Σᵢⱼ Gᵢⱼ ∂outᵢⱼ/∂Vₖₗ, for symbolic B and n (index calculus
  as in `dense`); and √′ in symnet's form, 1/(2y), is d√x/dx for x > 0. With the element-wise
  rule (`elementwise`), that is every rule the step-by-step form applies.
- *bounded*, `rules.normalize_compact_vjp` against `sympy.diff` of Σᵢⱼ Gᵢⱼ Nᵢⱼ(Z), with every
  entry of Z and G its own symbol and ε a positive symbol, for every shape up to a bound. The
  forward pass is symnet's own (`rules.mean`, `centre`, … evaluated by `evaluate.interpret`).
  The general form is out of reach: SymPy cannot differentiate a Sum under a square root.
- *bounded*, whole networks (dense → normalization → f → ℓ, generic f and ℓ) derived by
  `symnet.derive` in both forms, each gradient against `sympy.diff` of the expanded loss.
- *bounded*, BatchNorm2d (statistics per channel over (n, y, x), `channels.Channels`): each
  step's rule and the compact rule against `sympy.diff`, for tiny images (`CHANNEL_SHAPES`).

How the bounded checks decide an equality with square roots in it: both sides are written with
one positive symbol sⱼ for each √Vⱼ (each power Vⱼ^(k/2) becomes sⱼᵏ), so that their difference
is a rational function; the difference is 0 where sⱼ = √Vⱼ exactly when its numerator, reduced
modulo sⱼ² − Vⱼ for each j (polynomial division in sⱼ), is the zero polynomial. The applied
functions f, f′, ℓ, ∂ℓ/∂x are held as opaque symbols first: an identity that holds whatever
their values holds for theirs.
"""

from __future__ import annotations

import itertools
from functools import partial

import sympy as sp

from symnet import Dense, Network, derive
from symnet.algebra import rules
from symnet.algebra.channels import Channels
from symnet.algebra.matexpr import B
from symnet.algebra.notation import GREEK
from symnet.algebra.notation import latex_expr as tex
from symnet.derivation.evaluate import interpret
from symnet.nn.normalization import SQRT, BatchNorm, LayerNorm, _sqrt_derivative
from symnet.prove import Theorem

from ._explicit import evaluate, symbols
from ._generic import GenericActivation, GenericLoss
from ._index import entry, i, j, k, l, n, pullback

EPS = sp.Symbol("epsilon", positive=True)
AXES = {"batch": BatchNorm, "features": LayerNorm}
COMPACT_BOUND = (4, 4)  # B ≤ 4 and n ≤ 4: every shape, both axes
# Whole networks: the width n of the normalized layer, and the batch. (LayerNorm at n = 3 in
# the step-by-step form costs 15 s alone; its compact rule is covered up to 4 × 4 above.)
NETWORK_WIDTHS, NETWORK_BATCHES = (1, 2), (1, 2, 3)
# BatchNorm2d: (B, C, H, W) of the images checked (statistics over B·H·W entries per channel).
CHANNEL_SHAPES = ((1, 1, 1, 2), (2, 1, 1, 2), (1, 2, 2, 1), (2, 2, 1, 2), (1, 1, 2, 2))


def theorems():
    yield Theorem("√′ in symnet's form: 1/(2y), y = √x, for x > 0", sqrt_derivative)
    for over, layer in AXES.items():
        yield Theorem(f"{layer.__name__} steps: the rules of μ, C, V, N and the affine γ, β",
                      partial(step_rules, over))
    b, m = COMPACT_BOUND
    for over, layer in AXES.items():
        yield Theorem(f"{layer.__name__} compact backward: (1/m)(m G − Σ G − N ⊙ Σ(G ⊙ N)) ⊘ σ",
                      partial(compact_rule, over), f"B ≤ {b}, n ≤ {m}, all shapes")
    yield Theorem("backpropagation through LayerNorm and BatchNorm, both forms", networks,
                  f"n ≤ {max(NETWORK_WIDTHS)}, B ≤ {max(NETWORK_BATCHES)}, generic f and ℓ")
    shapes = ", ".join("×".join(map(str, s)) for s in CHANNEL_SHAPES)
    yield Theorem("BatchNorm2d: each step's rule and the compact backward, per channel over "
                  "(n, y, x)", channel_rules, f"(B, C, H, W) in {shapes}")


# ── general: √′ and each step's rule ────────────────────────────────────────────────────────


def sqrt_derivative(proof):
    d = _sqrt_derivative()
    u = sp.Symbol("x", positive=True)
    proof.states(rf"y = \sqrt{{x}} \implies \frac{{dy}}{{dx}} = {tex(d.lam.expr)}"
                 r" \quad \text{for all } x > 0")
    form = d.lam(*(u, sp.sqrt(u))[: len(d.variables)])
    proof.equal(form, sp.diff(sp.sqrt(u), u), "symnet's form, with y = √x, is d√x/dx")


def step_rules(over, proof):
    stat = (n, 1) if over == "batch" else (B, 1)  # one statistic per column, or per row
    Z, G = sp.MatrixSymbol("Z", B, n), sp.MatrixSymbol("G", B, n)
    C, N = sp.MatrixSymbol("C", B, n), sp.MatrixSymbol("N", B, n)
    mu, sigma, G_stat = (sp.MatrixSymbol(s, *stat) for s in ("mu", "sigma", "G_s"))
    gamma, beta = sp.MatrixSymbol("gamma", n, 1), sp.MatrixSymbol("beta", n, 1)
    proof.states(rf"\text{{statistics over the {over}, }} m = {tex(rules.count(over, n))}:\ "
                 r"\text{each rule below is } \frac{\partial L}{\partial V_{k,l}} = "
                 r"\sum_{i,j} G_{i,j} \frac{\partial \mathrm{out}_{i,j}}{\partial V_{k,l}}"
                 r" \quad \text{for all } B, n")
    at = {(B, n): (k, l), (n, 1): (l, 0), (B, 1): (k, 0)}  # the entry of ∂L/∂V checked

    shown = set()

    def check(step, out, G, wrt, rule):
        name, (r, c) = GREEK.get(wrt.name, wrt.name), at[wrt.shape]
        if step not in shown:
            shown.add(step)
            out_at = (i, j) if out.shape[1] != 1 else (i, 0)
            proof.step(f"{step}: entry {out_at} of the forward", entry(out, *out_at))
        proof.equal(entry(rule, r, c), pullback(G, out, wrt, r, c),
                    f"{step}: the rule's ∂L/∂{name} at {(r, c)} is the chain rule's")

    check("mean μ", rules.mean(Z, over), G_stat, Z, rules.mean_vjp(G_stat, over, n))
    centred = rules.centre(Z, mu, over)
    for wrt, rule in zip((Z, mu), rules.centre_vjp(G, over)):
        check("centre C = Z − μ", centred, G, wrt, rule)
    check("variance V", rules.variance(C, over, EPS), G_stat, C,
          rules.variance_vjp(G_stat, C, over))
    normalized = rules.normalize(C, sigma, over)
    for wrt, rule in zip((C, sigma), rules.normalize_vjp(G, normalized, sigma, over)):
        check("normalize N = C ⊘ σ", normalized, G, wrt, rule)
    affine = rules.affine(N, gamma, beta)
    for wrt, rule in zip((N, gamma, beta), rules.affine_vjp(G, N, gamma)):
        check("affine H = N ⊙ 𝟙γᵀ + 𝟙βᵀ", affine, G, wrt, rule)


# ── bounded: the compact rule against sympy.diff ────────────────────────────────────────────


def _forward(Z, over):
    """symnet's forward pass of a normalization, from the rules: (V, σ, N)."""
    C = rules.centre(Z, rules.mean(Z, over), over)
    V = rules.variance(C, over, EPS)
    sigma = rules.elementwise(SQRT, V)
    return V, sigma, rules.normalize(C, sigma, over)


def compact_rule(over, proof):
    max_b, max_n = COMPACT_BOUND
    stat = (n, 1) if over == "batch" else (B, 1)
    Z, G, C, N = (sp.MatrixSymbol(s, B, n) for s in "ZGCN")
    mu, sigma = sp.MatrixSymbol("mu", *stat), sp.MatrixSymbol("sigma", *stat)
    proof.states(rf"\mu = {tex(rules.mean(Z, over))},\ C = {tex(rules.centre(Z, mu, over))},\ "
                 rf"\sigma = \sqrt{{{tex(rules.variance(C, over, EPS))}}},\ "
                 rf"N = {tex(rules.normalize(C, sigma, over))},\ "
                 r"G = \frac{\partial L}{\partial N} \implies "
                 rf"\frac{{\partial L}}{{\partial Z}} = "
                 rf"{tex(rules.normalize_compact_vjp(G, N, sigma, over))}")
    for b, width in itertools.product(range(1, max_b + 1), range(1, max_n + 1)):
        Zs, Gs = sp.MatrixSymbol("Z", B, width), sp.MatrixSymbol("G", B, width)
        V, sigma, N = _forward(Zs, over)
        rule = rules.normalize_compact_vjp(Gs, N, sigma, over)
        z, g = symbols(Zs, b), symbols(Gs, b)
        env = {Zs: z, Gs: g}
        L = sum(gij * nij for gij, nij in zip(g, interpret(N, env, b)))
        truth = [sp.diff(L, zij) for zij in z]
        roots = list(interpret(V, env, b))
        for zij, lhs, rhs in zip(z, interpret(rule, env, b), truth):
            _equal_given_roots(proof, lhs, rhs, roots, f"B = {b}, n = {width}, ∂L/∂{zij}")
    proof.step(f"every entry of ∂L/∂Z, for every B ≤ {max_b} and n ≤ {max_n}, equals the "
               "derivative of Σ G ⊙ N(Z), with √Vⱼ written sⱼ and sⱼ² = Vⱼ used to reduce")


def _equal_given_roots(proof, lhs, rhs, roots, words):
    """Check lhs = rhs where each √root is the positive square root (see the module's note)."""
    s = [sp.Dummy(f"s{j}", positive=True) for j in range(len(roots))]
    difference = sp.sympify(lhs - rhs)
    powers = {}
    for p in difference.atoms(sp.Pow):
        if p.base in roots and not p.exp.is_integer and (2 * p.exp).is_integer:
            powers[p] = s[roots.index(p.base)] ** (2 * p.exp)
    difference = difference.xreplace(powers)
    opaque = {a: sp.Dummy("F") for a in difference.atoms(sp.Function)}
    difference = difference.xreplace(opaque)
    if any(not p.exp.is_integer for p in difference.atoms(sp.Pow)):
        proof.cannot(f"{words}: a power other than √V remains")
    # The difference is a polynomial in the opaque values; each coefficient must vanish, and
    # one coefficient at a time keeps the common denominators small.
    expanded = sp.expand(difference)
    poly = sp.Poly(expanded, *opaque.values()) if opaque else None
    remainders = [_reduce(c, s, roots, powers) for c in (poly.coeffs() if poly else [expanded])]
    proof.equal(sp.ImmutableMatrix(remainders), sp.zeros(len(remainders), 1),
                f"{words}: the difference's numerator, reduced modulo sⱼ² − Vⱼ, is 0", show=False)


def _reduce(rational, s, roots, powers):
    """The numerator of `rational` reduced modulo sⱼ² − Vⱼ: zero iff `rational` vanishes at
    sⱼ = √Vⱼ, for a rational function."""
    if rational == 0:
        return rational
    numerator = sp.expand(sp.numer(sp.together(rational)))
    for sj, root in zip(s, roots):
        if numerator.has(sj):
            numerator = sp.expand(sp.rem(numerator, sj**2 - root.xreplace(powers), sj))
    return numerator


# ── bounded: whole networks through derive() ────────────────────────────────────────────────


def networks(proof):
    proof.states(r"\text{derive() of } Z = X W + \mathbb{1} b^{\top},\ H = \mathrm{norm}(Z) "
                 r"\odot \mathbb{1}\gamma^{\top} + \mathbb{1}\beta^{\top},\ A = f(H),\ "
                 r"L = \ell(A, Y) \text{ gives } \frac{\partial L}{\partial \theta} "
                 r"\text{ for every parameter } \theta")
    cases = 0
    for layer, compact in itertools.product(AXES.values(), (True, False)):
        for width, b in itertools.product(NETWORK_WIDTHS, NETWORK_BATCHES):
            norm = layer(width, compact=compact)
            net = Network([Dense(1, width), norm, GenericActivation()], GenericLoss())
            _check_network(proof, derive(net), b, f"{norm!r}, B = {b}")
            cases += 1
    proof.step(f"{cases} (layer, form, width, batch) cases: every entry of ∂L/∂W, ∂L/∂b, "
               "∂L/∂γ and ∂L/∂β equals the derivative of the fully expanded loss")


def _check_network(proof, d, b, case):
    env, _ = evaluate(d, b)
    roots = [v for eq in d.forward if eq.name.startswith("V") for v in env[eq.lhs]]
    if not roots:
        proof.cannot(f"{case}: no variance V among the forward equations")
    L = env[d.loss.lhs]
    for p in d.params.values():
        gradient = env[d.equation(f"d{p.name}").lhs]
        for v, g in zip(env[p], gradient):
            _equal_given_roots(proof, g, sp.diff(L, v), roots, f"{case}: ∂L/∂{v}")


# ── bounded: BatchNorm2d, statistics per channel ─────────────────────────────────────────────


def channel_rules(proof):
    """Each rule with `over` = Channels(C, H, W) against sympy.diff of Σ G ⊙ out, every entry
    of every input its own symbol; then the compact rule as in `compact_rule`."""
    C3, Z3, G3, N3 = (sp.MatrixSymbol(s, B, 12) for s in "CZGN")
    axis3, sigma3 = Channels(3, 2, 2), sp.MatrixSymbol("sigma", 3, 1)
    proof.states(rf"m = {tex(axis3.count)},\ \mu = {tex(rules.mean(Z3, axis3))},\ "
                 rf"\sigma = \sqrt{{{tex(rules.variance(C3, axis3, EPS))}}}"
                 r"\ \text{(e.g. } C, H, W = 3, 2, 2\text{)} \implies "
                 rf"\frac{{\partial L}}{{\partial Z}} = "
                 rf"{tex(rules.normalize_compact_vjp(G3, N3, sigma3, axis3))}")
    for b, c, h, w in CHANNEL_SHAPES:
        over, width, case = Channels(c, h, w), c * h * w, f"B, C, H, W = {b}, {c}, {h}, {w}"
        Z, G, C, N = (sp.MatrixSymbol(s, B, width) for s in "ZGCN")
        mu, sigma, Gs = (sp.MatrixSymbol(s, c, 1) for s in ("mu", "sigma", "G_s"))
        gamma, beta = sp.MatrixSymbol("gamma", c, 1), sp.MatrixSymbol("beta", c, 1)
        env = {M: symbols(M, b) for M in (Z, G, C, N, mu, sigma, Gs, gamma, beta)}
        env[sigma] = sp.ImmutableMatrix(c, 1, lambda r, _: sp.Symbol(f"s_{r}", positive=True))

        def check(step, out, G, inputs, rule, env=env, b=b, case=case):
            L = sum(gv * ov for gv, ov in zip(interpret(G, env, b), interpret(out, env, b)))
            for wrt, r in zip(inputs, rule):
                truth = interpret(r, env, b)
                diffs = sp.ImmutableMatrix(*truth.shape, [sp.diff(L, v) for v in env[wrt]])
                proof.equal((truth - diffs).applyfunc(sp.cancel), sp.zeros(*truth.shape),
                            f"{case}, {step}: ∂L/∂{wrt.name} by the rule is sympy.diff's",
                            show=False)

        check("mean", rules.mean(Z, over), Gs, (Z,), (rules.mean_vjp(Gs, over, width),))
        check("centre", rules.centre(Z, mu, over), G, (Z, mu), rules.centre_vjp(G, over))
        check("variance", rules.variance(C, over, EPS), Gs, (C,),
              (rules.variance_vjp(Gs, C, over),))
        normalized = rules.normalize(C, sigma, over)
        check("normalize", normalized, G, (C, sigma),
              rules.normalize_vjp(G, normalized, sigma, over))
        check("affine", rules.affine(N, gamma, beta, over), G, (N, gamma, beta),
              rules.affine_vjp(G, N, gamma, over))
        # the compact rule, through the whole of N(Z), square roots handled as in compact_rule
        V, sig, Nz = _forward(Z, over)
        rule = rules.normalize_compact_vjp(G, Nz, sig, over)
        z, g = symbols(Z, b), symbols(G, b)
        env2 = {Z: z, G: g}
        L = sum(gij * nij for gij, nij in zip(g, interpret(Nz, env2, b)))
        roots = list(interpret(V, env2, b))
        for zij, lhs in zip(z, interpret(rule, env2, b)):
            _equal_given_roots(proof, lhs, sp.diff(L, zij), roots, f"{case}, compact ∂L/∂{zij}")
    proof.step("every step's rule and the compact rule equal sympy.diff for each shape: the "
               "sums over (n, y, x) and the spread back to each channel are each other's "
               "transposes")

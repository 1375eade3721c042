"""The identities that generated code uses to stay accurate in floats (`algebra.identities`).

The code generator prints σ′ = y·(1 − y) as `_sigmoid_prime(z)`, 1 − tanh(u)² as 4·σ′(2u) and
(1 + tanh u)/2 as σ(2u), because the printed forms cancel to 0 in floats where the true values
do not; the translation validator proves generated code equal to the derivation by applying
these same rewrites to the formula. Each rewrite is an instance of one lemma below, proved for
a symbolic argument a and coefficient c (so for every instance), from the definitions of σ
and σ′ in exp. The last theorem checks the helper that computes σ′, whose |a| keeps e^(−|a|)
≤ 1 (nothing overflows), against σ′ on each side of 0.
"""

from __future__ import annotations

import sympy as sp

from symnet.algebra.functions import sigmoid
from symnet.algebra.identities import SigmoidPrime, cancellation_free
from symnet.prove import Theorem

a = sp.Symbol("a", real=True)
c = sp.Symbol("c", real=True, nonzero=True)
p = sp.Symbol("p", positive=True)


def _in_exp(e):
    return e.rewrite(sp.exp)


LEMMAS = [  # (the lemma, the plain form in c, the form the rewrite must give)
    ("σ(a)·(1 − σ(a)) = σ′(a)", lambda k: k * sigmoid(a) * (1 - sigmoid(a)),
     lambda k: k * SigmoidPrime(a)),
    ("σ(a)·σ(−a) = σ′(a)", lambda k: k * sigmoid(a) * sigmoid(-a),
     lambda k: k * SigmoidPrime(a)),
    ("1 − σ(a) = σ(−a)", lambda k: k - k * sigmoid(a), lambda k: k * sigmoid(-a)),
    ("c − c·tanh(a)² = 4c·σ′(2a)", lambda k: k - k * sp.tanh(a) ** 2,
     lambda k: 4 * k * SigmoidPrime(2 * a)),
    ("c + c·tanh(a) = 2c·σ(2a)", lambda k: k + k * sp.tanh(a), lambda k: 2 * k * sigmoid(2 * a)),
    ("c − c·tanh(a) = 2c·σ(−2a)", lambda k: k - k * sp.tanh(a),
     lambda k: 2 * k * sigmoid(-2 * a)),
]
# numbers the rewrite meets: rationals, and the floats of folded constants (0.5, √(2/π)/2)
_COEFFICIENTS = (sp.Integer(1), sp.Rational(-3, 7), sp.Float(0.5, 20),
                 sp.Float(0.3989422804014327, 20))


def theorems():
    for title, plain, form in LEMMAS:
        yield Theorem(f"accurate code form: {title}",
                      lambda proof, t=(plain, form): rewrite_is_exact(*t, proof))
    yield Theorem("accurate code form: σ′ is even, σ′(−a) = σ′(a)", sigma_prime_is_even)
    yield Theorem("accurate code form: the helper _sigmoid_prime computes σ′",
                  helper_computes_sigma_prime)


def rewrite_is_exact(plain, form, proof):
    """The lemma for a symbolic c, then the rewrite applied to numeric c: exactly the lemma's
    right side (so each of its uses is an instance of the lemma)."""
    proof.states(rf"{sp.latex(plain(c))} = {sp.latex(form(c))}")
    proof.step("σ, tanh and σ′ by their definitions in exp", (_in_exp(plain(c)),
                                                              _in_exp(form(c))))
    proof.equal(_in_exp(plain(c)), _in_exp(form(c)), "equal as expressions in exp")
    for k in _COEFFICIENTS:
        done = cancellation_free(plain(k))
        if sp.expand(done - form(k)) != 0:
            proof.cannot(f"with c = {k}, cancellation_free gives {done}, not {form(k)}")
    proof.step("cancellation_free rewrites c = " + ", ".join(map(str, _COEFFICIENTS))
               + " into exactly this form")


def sigma_prime_is_even(proof):
    proof.states(r"\sigma'(-a) = \sigma'(a)")
    proof.equal(_in_exp(SigmoidPrime.definition(-a)), _in_exp(SigmoidPrime.definition(a)),
                "the definition e^{-a}/(1 + e^{-a})^2 is even")


def helper_computes_sigma_prime(proof):
    """`_sigmoid_prime(x)`: e = exp(−|x|); e/(1 + e)²."""
    proof.states(r"\frac{e^{-|a|}}{(1 + e^{-|a|})^2} = \sigma'(a)")
    for where, v in (("a = p > 0", p), ("a = −p < 0", -p), ("a = 0", sp.Integer(0))):
        e = sp.exp(-sp.Abs(v))
        proof.equal(e / (1 + e) ** 2, _in_exp(SigmoidPrime(v)), f"{where}: the helper's value")

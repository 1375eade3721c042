"""The backpropagation equations of a 2-3-1 sigmoid network, three ways.

    python examples/print_equations.py

1. matrix form in Unicode: what a textbook writes, for any batch size;
2. the same equations in LaTeX, ready for a paper or a slide;
3. per weight ("explicit" mode): one scalar formula per weight, the form students derive by hand.

Then one gradient is evaluated exactly (Rationals, no rounding) and compared with the generated
NumPy code, to show that all three are one derivation.
"""

from fractions import Fraction

import numpy as np

import symnet as sn
from symnet.algebra.notation import unicode_expr

SPEC = "2-3-1 sigmoid sigmoid mse"


def banner(title):
    print(f"\n{'─' * 10} {title} {'─' * max(0, 68 - len(title))}\n")


def main():
    net = sn.parse(SPEC)
    d = sn.derive(net)

    banner("1. matrix form (Unicode)")
    print(d)

    banner("2. LaTeX (an aligned environment)")
    print(d.latex())

    banner("3. per weight, one sample (explicit mode)")
    print(sn.explicit(net, batch=1))

    banner("4. one derivation: exact value vs generated NumPy")
    # Small rational parameters and one sample: SymPy evaluates ∂L/∂W1 exactly.
    params = {"W1": [[Fraction(1, 2), Fraction(-1, 3), 1], [Fraction(1, 4), 1, Fraction(-1, 2)]],
              "b1": [0, Fraction(1, 10), 1],
              "W2": [[1], [Fraction(-1, 2)], [Fraction(1, 3)]],
              "b2": [Fraction(-1, 5)]}
    X, Y = [[1, 2]], [[1]]
    loss, grads = d.evaluate(params, X, Y)
    model = sn.compile(net)
    as_float = {k: np.array(v, dtype=float) for k, v in params.items()}
    L_np, g_np = model.loss_and_grads(as_float, np.array(X, float), np.array(Y, float))
    exact = np.array(grads["W1"], dtype=float)
    print(f"L      = {unicode_expr(loss)}")
    print(f"       ≈ {float(loss):.17g} (SymPy),  {float(L_np):.17g} (generated NumPy)")
    print(f"∂L/∂b2 = {unicode_expr(grads['b2'][0])}")
    print(f"largest |exact − NumPy| over ∂L/∂W1: {np.max(np.abs(exact - g_np['W1'])):.1e}")


if __name__ == "__main__":
    main()

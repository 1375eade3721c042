"""The few matrix-expression nodes symnet adds to SymPy's.

SymPy has MatrixSymbol, MatMul, MatAdd, HadamardProduct, Transpose and OneMatrix; symnet needs
four more, kept as plain SymPy nodes so that printers, `xreplace` and hashing work on them:

- `Elementwise(fn, M, …)`: a scalar function applied entry by entry to same-shaped matrices.
  SymPy's own `ElementwiseApplyFunction` takes one operand and no display name, and `lambdify`
  cannot print it; ours carries the function's name (for code generation) and label (for
  printing) beside its formula.
- `SumEntries(M)`: the scalar sum of all entries (losses are sums).
- `Softmax(Z)` and `LogSumExp(Z)`: row-wise, one sample per row.
- `Op`: the base of a layer family's own operations (convolution, pooling, a recurrence, …),
  which carry their printing, code and exact value with them (see its docstring), so that a new
  layer family is new files, not edits to every printer.

`B` is the batch size: symbolic, so one derivation serves every batch.
"""

from __future__ import annotations

import sympy as sp
from sympy import Basic, Expr, Integer, Lambda, MatrixExpr
from sympy.core.symbol import Str

B = sp.Symbol("B", integer=True, positive=True)


def ones(rows, cols=1) -> sp.OneMatrix:
    """𝟙, the all-ones matrix (a column by default): `ones(B) * b.T` broadcasts a bias."""
    return sp.OneMatrix(rows, cols)


class ScalarFn(Basic):
    """A named scalar function: `name` is its identifier in generated code, `label` its printed
    symbol (σ, σ′, ℓ), `lam` its formula as a `Lambda`, and `shown` how many of its operands a
    printout shows (σ′ is computed from (Z, A) but printed as σ′(Z))."""

    def __new__(cls, name, label, lam: Lambda, shown=None):
        shown = lam.nargs.args[0] if shown is None else shown
        return Basic.__new__(cls, Str(str(name)), Str(str(label)), lam, Integer(shown))

    name = property(lambda self: self.args[0].name)
    label = property(lambda self: self.args[1].name)
    lam = property(lambda self: self.args[2])
    shown = property(lambda self: int(self.args[3]))

    @property
    def variables(self) -> tuple:
        return self.lam.variables

    @property
    def body(self) -> Expr:
        return self.lam.expr


class Elementwise(MatrixExpr):
    """`fn` applied entry by entry: `Elementwise(fn, Z, A)[i, j] = fn(Z[i, j], A[i, j])`."""

    def __new__(cls, fn: ScalarFn, *operands):
        if not operands:
            raise TypeError("Elementwise needs at least one operand")
        shape = operands[0].shape
        for op in operands[1:]:
            if op.shape != shape:
                raise ValueError(f"Elementwise operands differ in shape: {shape} and {op.shape}")
        return Basic.__new__(cls, fn, *operands)

    fn = property(lambda self: self.args[0])
    operands = property(lambda self: self.args[1:])
    shape = property(lambda self: self.args[1].shape)

    def _entry(self, i, j, **kwargs):
        return self.fn.lam(*(op._entry(i, j, **kwargs) for op in self.operands))


class SumEntries(Expr):
    """Σᵢⱼ Mᵢⱼ: a scalar."""

    def __new__(cls, M):
        return Expr.__new__(cls, M)

    arg = property(lambda self: self.args[0])


class _RowWise(MatrixExpr):
    def __new__(cls, Z):
        return Basic.__new__(cls, Z)

    arg = property(lambda self: self.args[0])


class Softmax(_RowWise):
    """Row-wise softmax: softmax(Z)ᵢⱼ = exp(Zᵢⱼ) / Σₖ exp(Zᵢₖ)."""

    shape = property(lambda self: self.arg.shape)


class LogSumExp(_RowWise):
    """Row-wise log-sum-exp, a column: LSE(Z)ᵢ = log Σₖ exp(Zᵢₖ)."""

    shape = property(lambda self: (self.arg.shape[0], 1))


class Op(MatrixExpr):
    """A layer family's own matrix operation: convolution, pooling, a recurrence, attention.

    Symbolically every tensor is a matrix with one sample per row (an image (C, H, W) is a row
    of C·H·W entries in PyTorch's flattening order), so the tape, the chain rule and the
    printers handle it like any other intermediate. A subclass says how it is shown, computed
    and generated, by these methods (the printers find them by SymPy's `printmethod` protocol):

    - `shape`: (rows, cols) of the matrix it stands for;
    - `_sympystr(printer)` and `_latex(printer)`: its printed forms (Unicode and LaTeX);
    - `_numpycode(printer)`: NumPy code for it, printing operands with `printer._print`;
    - `_exact_value(ev, batch)`: its exact value as an `sp.ImmutableMatrix`, with `ev(operand)`
      giving each operand's value, for `derivation.evaluate`;
    - `ndim`: the ndim of the NumPy array its code gives (2 unless it says otherwise).

    Its numeric parameters (stride, padding, shapes) are SymPy `Integer`/`Tuple` arguments, so
    that hashing, equality and `xreplace` see them.
    """

    ndim = 2

    def _exact_value(self, ev, batch):
        raise NotImplementedError(f"{type(self).__name__} has no exact value")

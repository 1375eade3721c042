"""symnet: exact, readable, checkable backpropagation.

SymPy builds each layer's forward expression, symnet derives the backward pass by the chain
rule, prints it, evaluates it exactly, and (see the other modules) generates NumPy from it and
checks gradients against it.
"""

from . import testing  # symnet.testing.assert_gradients_match, for users' own test suites
from .check import CheckReport, check
from .codegen import codegen
from .derivation import Derivation, Equation, derive
from .errors import DataError, ShapeError, SpecError, SymnetError
from .explicit import explicit
from .layers import (
    ELU,
    GELU,
    Activation,
    Dense,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from .losses import (
    MSE,
    BCEWithLogits,
    BinaryCrossEntropy,
    CrossEntropy,
    SoftmaxCrossEntropy,
)
from .model import Model, compile
from .network import Network
from .normalization import BatchNorm, LayerNorm
from .prove import prove
from .report import ParamResult, Report
from .spec import describe, load, parse
from .train import train
from .verify import verify

__version__ = "0.1.0"

__all__ = [
    "Activation",
    "BCEWithLogits",
    "BatchNorm",
    "CheckReport",
    "BinaryCrossEntropy",
    "DataError",
    "Dense",
    "Derivation",
    "ELU",
    "Equation",
    "GELU",
    "CrossEntropy",
    "Identity",
    "LayerNorm",
    "LeakyReLU",
    "MSE",
    "Model",
    "Network",
    "ParamResult",
    "Report",
    "ReLU",
    "ShapeError",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "SoftmaxCrossEntropy",
    "Softplus",
    "SpecError",
    "SymnetError",
    "Tanh",
    "check",
    "codegen",
    "compile",
    "derive",
    "describe",
    "explicit",
    "load",
    "parse",
    "prove",
    "testing",
    "train",
    "verify",
]

"""symnet: exact, readable, checkable backpropagation.

SymPy builds each layer's forward expression, symnet derives the backward pass by the chain
rule, prints it, evaluates it exactly, and (see the other modules) generates NumPy from it and
checks gradients against it.
"""

from . import testing  # symnet.testing.assert_gradients_match, for users' own test suites
from ._version import __version__
from .checking.check import CheckReport, check
from .checking.report import ParamResult, Report
from .checking.verify import verify
from .codegen.model import Model, compile
from .codegen.module import codegen
from .derivation.chain import Derivation, Equation, derive
from .errors import DataError, ShapeError, SpecError, SymnetError
from .nn.conv import AvgPool2d, Conv2d, Flatten, MaxPool2d
from .nn.dropout import Dropout
from .nn.embedding import Embedding
from .nn.graph import Add, Concat, Input
from .nn.layers import (
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
from .nn.losses import (
    MSE,
    BCEWithLogits,
    BinaryCrossEntropy,
    CrossEntropy,
    SoftmaxCrossEntropy,
)
from .nn.network import Network
from .nn.normalization import BatchNorm, BatchNorm2d, LayerNorm
from .nn.spec import describe, load, parse
from .printing.explicit import explicit
from .prove import prove
from .training.train import train

__all__ = [
    "Activation",
    "AvgPool2d",
    "Add",
    "Concat",
    "Dropout",
    "Embedding",
    "Input",
    "BCEWithLogits",
    "BatchNorm",
    "BatchNorm2d",
    "CheckReport",
    "Conv2d",
    "BinaryCrossEntropy",
    "DataError",
    "Dense",
    "Derivation",
    "ELU",
    "Equation",
    "Flatten",
    "GELU",
    "CrossEntropy",
    "Identity",
    "LayerNorm",
    "LeakyReLU",
    "MSE",
    "MaxPool2d",
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
    "__version__",
]

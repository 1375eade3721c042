"""symnet: exact, readable, checkable backpropagation.

SymPy builds each layer's forward expression, symnet derives the backward pass by the chain
rule, prints it, evaluates it exactly, and (see the other modules) generates NumPy from it and
checks gradients against it.
"""

from . import testing  # symnet.testing.assert_gradients_match, for users' own test suites
from ._version import __version__
from .checking.check import CheckReport, check
from .checking.frameworks import verify_function
from .checking.layer import verify_layer
from .checking.report import ParamResult, Report
from .checking.verify import verify
from .codegen.build import compile
from .codegen.model import Model
from .codegen.module import codegen
from .derivation.chain import Derivation, Equation, derive
from .errors import DataError, ShapeError, SpecError, SymnetError
from .nn.attention import SelfAttention
from .nn.conv import AvgPool2d, Conv2d, MaxPool2d
from .nn.dropout import Dropout
from .nn.embedding import Embedding
from .nn.flatten import Flatten
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
from .nn.recurrent import GRU, LSTM, RNN
from .nn.spec import describe, load, parse
from .printing import ascii as _ascii
from .printing.explicit import explicit
from .prove import prove
from .training.train import train

_ascii.register()  # "symnet-ascii": sys.stdout.reconfigure(errors="symnet-ascii") on a
# stream that cannot encode Unicode (symnet.printing.ascii)

__all__ = [
    "Activation",
    "Add",
    "AvgPool2d",
    "BatchNorm",
    "BatchNorm2d",
    "BCEWithLogits",
    "BinaryCrossEntropy",
    "CheckReport",
    "Concat",
    "Conv2d",
    "CrossEntropy",
    "DataError",
    "Dense",
    "Derivation",
    "Dropout",
    "ELU",
    "Embedding",
    "Equation",
    "Flatten",
    "GELU",
    "Identity",
    "Input",
    "LayerNorm",
    "LeakyReLU",
    "GRU",
    "LSTM",
    "MaxPool2d",
    "Model",
    "MSE",
    "Network",
    "ParamResult",
    "ReLU",
    "Report",
    "RNN",
    "SelfAttention",
    "ShapeError",
    "Sigmoid",
    "SiLU",
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
    "verify_function",
    "verify_layer",
    "__version__",
]

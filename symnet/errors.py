"""The errors symnet raises on bad input: each names what is wrong and what is allowed."""


class SymnetError(ValueError):
    """Base class: bad input to symnet (never a bug in symnet itself)."""


class SpecError(SymnetError):
    """A network spec (string, TOML file or formula) that cannot be parsed or is inconsistent."""


class ShapeError(SymnetError):
    """Tensors whose shapes do not fit together; the message names the tensor and both shapes."""


class DataError(SymnetError):
    """Data that cannot be used: NaN/inf, wrong shape or dtype, targets outside the loss's
    domain."""

"""A corpus of hand-written backpropagation code, correct and buggy, written the way people
write it (not the way symnet does). `CASES` lists every `Case`; each module is one style."""

from . import (
               columns,
               conventions,
               float32,
               layers_cs231n,
               loops,
               norm,
               regularization,
               twoclass,
               vectorized,
)
from .case import KINDS, Case  # noqa: F401

MODULES = (vectorized, loops, layers_cs231n, columns, float32, conventions, norm,
           regularization, twoclass)
CASES = [c for m in MODULES for c in m.CASES]
BY_NAME = {c.name: c for c in CASES}
assert len(BY_NAME) == len(CASES), "duplicate case names"

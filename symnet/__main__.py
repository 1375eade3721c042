"""`python -m symnet …` is the `symnet` command."""

import sys

from .cli import main

sys.exit(main())

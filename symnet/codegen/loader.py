"""Generated source executed in memory, under a file name `linecache` knows.

Every text symnet generates and runs (a model's module, a guard's check, a reference layer)
goes through `run_source`: the text is registered under `<symnet-KIND-DIGEST>` before it is
executed, so tracebacks and `inspect.getsource` show the generated lines, as `lambdify` does.
"""

from __future__ import annotations

import builtins
import hashlib
import linecache
import types


def file_name(source: str, kind: str) -> str:
    """The name `source` is registered under: `<symnet-KIND-DIGEST>`, one per distinct text."""
    return f"<symnet-{kind}-{hashlib.sha1(source.encode()).hexdigest()[:12]}>"


def run_source(source: str, filename: str, scope: dict) -> None:
    """Execute `source` in `scope`, its lines registered with linecache under `filename`."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(builtins.compile(source, filename, "exec"), scope)  # symnet's own text


def load_source(source: str, name: str = "symnet_generated") -> types.ModuleType:
    """Execute generated source as a module whose file name linecache knows."""
    module = types.ModuleType(name, source)
    module.__file__ = file_name(source, "generated")
    run_source(source, module.__file__, module.__dict__)
    return module


__all__ = ["file_name", "load_source", "run_source"]

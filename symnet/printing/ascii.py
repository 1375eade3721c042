"""ASCII for streams that cannot encode symnet's symbols: a Windows console or redirected output
in a legacy code page, `PYTHONIOENCODING=ascii`. Readable ASCII (`σ` → `sigma`, `⊙` → `*`,
sub- and superscript digits as digits), never a UnicodeEncodeError.

`import symnet` registers the codecs error handler "symnet-ascii"; the command line puts it on
stdout and stderr when they need it (`protect_streams`), and a script of your own can do the
same: `sys.stdout.reconfigure(errors="symnet-ascii")`.
"""

from __future__ import annotations

import codecs
import sys
import unicodedata

ASCII = {
    "𝟙": "1", "σ": "sigma", "⊙": "*", "⊘": "/", "ᵀ": "^T", "∂": "d", "δ": "delta", "Σ": "sum",
    "≈": "~", "×": "x", "─": "-", "′": "'", "…": "...", "→": "->", "←": "<-", "−": "-",
    "√": "sqrt", "ℓ": "l", "γ": "gamma", "β": "beta", "μ": "mu", "ε": "eps", "λ": "lambda",
    "θ": "theta", "α": "alpha", "·": "*", "≤": "<=", "≥": ">=", "≠": "!=", "∈": " in ",
    "‖": "||", "✓": "ok", "✗": "x", "–": "-", "—": "-", "’": "'", "“": '"', "”": '"',
}


_SUPER = set("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁽⁾")
_SUB = set("₀₁₂₃₄₅₆₇₈₉₊₋₍₎")


def fallback(err: UnicodeEncodeError):
    """codecs error handler "symnet-ascii": symnet's symbols as ASCII, a run of superscripts
    as ^digits and of subscripts as _digits (`(x - y)²` → `(x - y)^2`, `w¹₁₂` → `w^1_12`),
    anything else by its NFKD decomposition, or '?'."""
    out = []
    text = err.object
    for i in range(err.start, err.end):
        ch = text[i]
        if ch in ASCII:
            out.append(ASCII[ch])
            continue
        for marks, mark in ((_SUPER, "^"), (_SUB, "_")):
            if ch in marks and (i == err.start or text[i - 1] not in marks):
                out.append(mark)
        plain = unicodedata.normalize("NFKD", ch)
        try:
            plain.encode(err.encoding)
            out.append(plain)
        except (UnicodeEncodeError, LookupError):
            ascii_ = plain.encode("ascii", "ignore").decode()
            out.append(ascii_ or "?")
    return "".join(out), err.end


def register():
    """Register the "symnet-ascii" error handler (once; `import symnet` does it)."""
    try:
        codecs.lookup_error("symnet-ascii")
    except LookupError:
        codecs.register_error("symnet-ascii", fallback)


def protect_streams(streams=None):
    """Streams (default stdout, stderr) that cannot encode symnet's symbols get the ASCII
    fallback; others are left as they are."""
    register()
    for stream in (sys.stdout, sys.stderr) if streams is None else streams:
        encoding = getattr(stream, "encoding", None) or "ascii"
        try:
            "𝟙σ⊙≈ᵀ∂δ₁²".encode(encoding)
        except (UnicodeEncodeError, LookupError):
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors="symnet-ascii")

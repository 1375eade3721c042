"""LayerNorm of each time step of a sequence: `LayerNorm(d)` after a layer giving (B, T, d).

The (B, T·d) rows are viewed as (B·T, d), one row per time step of every sample
(`sequence.ToSteps`), LayerNorm records its usual steps on that matrix (its statistics are
each row's, so each step's), and the result is viewed back as sequences (`FromSteps`). Both
views are reshapes: each one's VJP is the other.
"""

from __future__ import annotations

from ..algebra.sequence import FromSteps, ToSteps


def per_time_step(record, tape, Z, k: int, shape):
    """Record `record` (LayerNorm's own) on each time step of the sequence Z of `shape`."""
    T, d = shape
    R = tape.record(f"R{k}", ToSteps(Z, T), (Z,), lambda G, out: (FromSteps(G, T),),
                    why=f"R{k} holds each time step of {Z.name} as a row (a reshape): "
                        f"∂L/∂{Z.name} is ∂L/∂R{k} reshaped back.", layer=k)
    H = record(tape, R, k)
    out = tape.record(f"Hs{k}", FromSteps(H, T), (H,), lambda G, out: (ToSteps(G, T),),
                      why=f"Hs{k} is H{k} viewed as sequences again (a reshape): ∂L/∂H{k} "
                          f"is ∂L/∂Hs{k} with one row per time step.", layer=k)
    tape.sample_shapes[out] = (T, d)
    return out


__all__ = ["per_time_step"]

"""Localizing a failing tensor: which entries are wrong, and what the error looks like.

Small tensors (up to SMALL entries) are checked entry by entry. Larger ones are bisected over
rows and columns (directions masked to a block) until the bad rows/columns are found, or there
are more than a few ("many rows"); then a sample of entries is checked one by one.
"""

from __future__ import annotations

import numpy as np

from .diagnose import Truth, diagnose
from .probe import entry_summary, kink_text, summary, unit
from .report import MAX_KEPT

SMALL = 64  # tensors up to this many entries are localized entry by entry
MAX_BAD_GROUPS = 8  # bisection gives up ("many rows") beyond this many bad rows/columns


def localize(prober, name, params, g, probes, facts):
    """(ParamResult, Truth) of a tensor whose directional probes failed. `facts`: keyword
    arguments of `diagnose` (theta, weight_decay, B, n_out)."""
    truth = Truth(probes=[(p.v, p.d, p.tol) for p in probes])
    r = summary(name, g.shape, probes)
    found = diagnose(g, truth, name=name, **facts)
    if found.kind != "other":  # a global mistake: every entry is off in one recognised way
        r.verdict, r.n_bad_entries = "wrong", g.size
        r.kind, r.diagnosis = found.kind, found.text
        return r, truth
    if g.size <= SMALL:
        entries = [prober.probe(params, name, g, unit(g.shape, i)) for i in np.ndindex(g.shape)]
        t = np.array([p.d for p in entries]).reshape(g.shape)
        tol = np.array([p.tol for p in entries]).reshape(g.shape)
        kink = np.array([p.kink for p in entries]).reshape(g.shape)
        bad = np.array([p.fails for p in entries]).reshape(g.shape) & ~kink
        truth = Truth(t, tol)
        r = finish(entry_summary(name, g, t, tol), name, g, truth, bad, facts)
        if r.verdict == "ok" and kink.any():  # only kinks disagree: re-checked off the kink
            r.verdict = "kink?"
            r.diagnosis = kink_text(next(p.est for p in entries if p.kink))
        return r, truth
    rows = cols = None
    if g.ndim == 2:
        rows = _bisect(prober, params, name, g, truth, g.shape[0], lambda I: _rows(g.shape, I))
        cols = _bisect(prober, params, name, g, truth, g.shape[1], lambda J: _cols(g.shape, J))
        cand = [(i, j) for i in (rows or _sample(prober.rng, g.shape[0], 8))
                for j in (cols or _sample(prober.rng, g.shape[1], 8))]
    else:
        flat = _bisect(prober, params, name, g, truth, g.size, lambda I: _flat(g.shape, I))
        cand = [np.unravel_index(i, g.shape) for i in (flat or _sample(prober.rng, g.size, 16))]
    bad, kinks = [], []
    for i in cand[:SMALL]:
        p = prober.probe(params, name, g, unit(g.shape, i))
        truth.probes.append((p.v, p.d, p.tol))
        if p.fails and not p.kink:
            bad.append(tuple(map(int, i)))
        elif p.kink:
            kinks.append(p)
    if not bad and kinks:  # only kinks disagree: re-checked off the kink
        r.verdict, r.diagnosis = "kink?", kink_text(kinks[0].est)
        return r, truth
    r.verdict = "wrong"
    r.bad_entries, r.n_bad_entries = bad, len(bad)
    found = diagnose(g, truth, name=name, rows=rows and set(rows), cols=cols and set(cols),
                     **facts)
    r.kind, r.diagnosis = found.kind, found.text
    return r, truth


def finish(r, name, g, truth, bad, facts):
    """A result from a known truth t: its bad entries and, when there are any, the diagnosis."""
    idx = [tuple(map(int, i)) for i in np.argwhere(bad)]
    r.verdict = "wrong" if idx else "ok"
    r.bad_entries, r.n_bad_entries = idx[:MAX_KEPT], len(idx)
    if idx:
        found = diagnose(g, truth, name=name, **facts)
        r.kind, r.diagnosis = found.kind, found.text
    return r


def _bisect(prober, params, name, g, truth, n, mask_of):
    """Indices whose block fails a masked directional check (None: more than a few)."""
    bad, stack = [], [list(range(n))]
    while stack:
        group = stack.pop()
        p = prober.probe(params, name, g, prober.direction(g.shape, mask_of(group)))
        truth.probes.append((p.v, p.d, p.tol))
        if not p.fails or p.kink:
            continue
        if len(group) == 1:
            bad.append(group[0])
            if len(bad) > MAX_BAD_GROUPS:
                return None
            continue
        stack += [group[len(group) // 2:], group[: len(group) // 2]]
    return bad


def _sample(rng, n, k):
    return rng.choice(n, min(k, n), replace=False).tolist()


def _rows(shape, I):
    m = np.zeros(shape)
    m[I, :] = 1.0
    return m


def _cols(shape, J):
    m = np.zeros(shape)
    m[:, J] = 1.0
    return m


def _flat(shape, I):
    m = np.zeros(int(np.prod(shape)))
    m[I] = 1.0
    return m.reshape(shape)

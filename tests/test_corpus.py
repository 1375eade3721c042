"""The checker on 145 hand-written backprops (tests/corpus/handwritten), 10 seeds each, black box:
no buggy parameter passes, no correct one fails, exactly the buggy ones are blamed, and the
kind of mistake is named for at least 90 % of the caught ones.

The corpus is written the way other people write backprop: per-sample loops, cs231n layer
functions, samples as columns (Nielsen), float32 models, ½-MSE and other reductions, folded
biases, BatchNorm/LayerNorm, L2 in several conventions, 2-class softmax. Every case's truth was
established independently of symnet (entry-by-entry central differences in extended precision).
`benchmarks/bench_corpus.py` prints the same figures per style and per kind.
"""

import warnings

import numpy as np
import pytest
from corpus.handwritten import CASES

import symnet as sn

SEEDS = range(10)


def _run(case, seed):
    params, X, Y = case.make(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the users' own overflow warnings
        report = sn.verify(case.grads, loss=case.loss, params=params, X=X, Y=Y, seed=seed,
                           weight_decay=case.weight_decay)
    return report


def test_the_corpus_is_large_and_varied():
    assert len(CASES) >= 60
    assert len({c.style for c in CASES}) >= 8
    assert sum(c.correct for c in CASES) >= 40 and sum(not c.correct for c in CASES) >= 60


@pytest.mark.slow
def test_every_bug_caught_no_false_alarm_right_parameters_and_kind():
    misses, named, caught = [], 0, 0
    for case in CASES:
        for seed in SEEDS:
            report = _run(case, seed)
            failing = {r.name for r in report.results if not r.ok}
            if failing != set(case.buggy_params):
                misses.append(f"{case.name} seed {seed}: blamed {sorted(failing)}, buggy "
                              f"{sorted(case.buggy_params)}\n{report}")
            for r in report.results:
                if r.name in case.buggy_params and not r.ok:
                    caught += 1
                    named += r.kind == case.kind
    assert not misses, "\n\n".join(misses[:5])
    assert caught == sum(len(c.buggy_params) for c in CASES) * len(SEEDS)
    assert named >= 0.9 * caught, f"kind named for {named} of {caught}"


def test_kinds_are_documented_words():
    from symnet.checking.diagnose import KINDS

    assert {c.kind for c in CASES if c.kind} <= set(KINDS)
    report = _run(next(c for c in CASES if c.kind == "transposed"), 0)
    assert {r.kind for r in report.failures} == {"transposed"}
    assert np.all([r.kind == "" for r in report.results if r.ok])

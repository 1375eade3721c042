"""What does checking gradients cost, from ~1k to ~1M parameters?  784-{1,16,128,1024}-10 MLPs.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_check.py [--quick]

For each network (ReLU hidden layer, softmax cross-entropy, batch 64) it times:

- verify, black box: a hand-written backprop checked by directional finite differences of the
  hand-written loss (loss evaluations counted);
- verify, net=SPEC: the same gradients against symnet's own (reference mode: no loss
  evaluations; a wrong gradient would then be matched against the mutants of the derivation);
- sn.check(SPEC): exact vs generated vs finite differences (batch 4; exact SymPy evaluation only
  up to symnet.checking.check.EXACT_LIMIT parameters × samples);

next to the 2·n_params loss evaluations of entry-by-entry central differences. Prints a
Markdown table. Each time is the median of three runs after a warm-up.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from bench_verify import make  # noqa: E402  (the hand-written MLP, beside this file)

from symnet.checking.check import check  # noqa: E402
from symnet.checking.verify import verify  # noqa: E402

HIDDEN = (1, 16, 128, 1024)
B = 64


def timed(fn, repeats=3):
    fn()  # warm-up: imports, BLAS, code generation caches
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return result, statistics.median(times)


def measure(h):
    sizes = (784, h, 10)
    spec = f"784-{h}-10 relu softmax_ce"
    grads, loss, params, X, Y = make(sizes=sizes, batch=B)
    black, t_black = timed(lambda: verify(grads, loss=loss, params=params, X=X, Y=Y))
    ref, t_ref = timed(lambda: verify(grads, net=spec, params=params, X=X, Y=Y))
    three, t_three = timed(lambda: check(spec), repeats=1 if h >= 128 else 3)
    assert black.ok and ref.ok and three.ok, (black, ref, three)
    return (spec, black.n_params, black.n_loss_evals, t_black, t_ref, three.n_loss_evals,
            t_three, "exact" if len(three.comparisons) == 3 else "no exact", 2 * black.n_params)


def main(quick=False):
    rows = [measure(h) for h in (HIDDEN[:2] if quick else HIDDEN)]
    print("| network | parameters | black-box verify: loss evals | time | verify net=: time "
          "(0 loss evals) | sn.check: loss evals | time | sn.check comparisons | per-entry "
          "central differences: loss evals |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|")
    for spec, n, ev, tb, tr, ev3, t3, kind, fd in rows:
        print(f"| `{spec}` | {n:,} | {ev} | {tb * 1e3:.0f} ms | {tr * 1e3:.0f} ms | {ev3} | "
              f"{t3 * 1e3:.0f} ms | {'three-way' if kind == 'exact' else 'generated vs FD'} | "
              f"{fd:,} |")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)

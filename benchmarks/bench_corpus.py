"""The checker on the hand-written corpus (tests/corpus/handwritten): every case × seeds.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_corpus.py [--seeds 10] [--failures]

For each case and seed, `sn.verify` in black-box mode (loss= only), then: false ok (a buggy
parameter passed), false alarm (a correct one failed), exactly the buggy parameters blamed,
and the kind named (`ParamResult.kind` equal to the case's kind, over caught buggy
parameters). Prints one table per style and per kind, and with --failures every miss.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from corpus.handwritten import CASES  # noqa: E402

import symnet as sn  # noqa: E402


def run(case, seed):
    """{name: (passed, kind)} for every parameter, and the report."""
    params, X, Y = case.make(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        report = sn.verify(case.grads, loss=case.loss, params=params, X=X, Y=Y, seed=seed,
                           weight_decay=case.weight_decay)
    return {r.name: (r.ok, r.kind) for r in report.results}, report


def outcome(case, per):
    flagged = {n for n, (ok, _) in per.items() if not ok}
    caught = [n for n in case.buggy_params if n in flagged]
    return {
        "false_ok": [n for n in case.buggy_params if n not in flagged],
        "false_alarm": sorted(flagged - set(case.buggy_params)),
        "blamed_right": flagged == set(case.buggy_params),
        "named": [n for n in caught if per[n][1] == case.kind],
        "caught": caught,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--failures", action="store_true", help="list every miss")
    args = ap.parse_args(argv)
    tally = defaultdict(lambda: defaultdict(int))
    misses = []
    start = time.perf_counter()
    for case in CASES:
        for seed in range(args.seeds):
            per, report = run(case, seed)
            o = outcome(case, per)
            for key in ("all", f"style {case.style}", f"kind {case.kind or 'correct'}"):
                t = tally[key]
                t["runs"] += 1
                t["false ok"] += len(o["false_ok"])
                t["buggy params"] += len(case.buggy_params)
                t["false alarm"] += len(o["false_alarm"])
                t["correct params"] += len(per) - len(case.buggy_params)
                t["right blame"] += o["blamed_right"]
                t["named"] += len(o["named"])
                t["caught"] += len(o["caught"])
            if o["false_ok"] or o["false_alarm"] or not o["blamed_right"] or (
                    len(o["named"]) < len(o["caught"])):
                misses.append((case, seed, o, per, report))
    elapsed = time.perf_counter() - start
    print(f"{len(CASES)} cases × {args.seeds} seeds in {elapsed:.0f} s")
    print("| group | runs | false ok | false alarms | exactly the buggy params | kind named |")
    print("|---|---:|---:|---:|---:|---:|")
    for key in sorted(tally, key=lambda k: (k != "all", k)):
        t = tally[key]
        print(f"| {key} | {t['runs']} | {t['false ok']}/{t['buggy params']} | "
              f"{t['false alarm']}/{t['correct params']} | {t['right blame']}/{t['runs']} | "
              f"{t['named']}/{t['caught']} ({100 * t['named'] / max(1, t['caught']):.0f} %) |")
    if args.failures:
        for case, seed, o, per, report in misses:
            print(f"\n## {case.name} (seed {seed}, {case.style}, kind {case.kind})")
            print({k: v for k, v in o.items() if k != "caught"})
            print({n: per[n] for n in per})
            print(report)


if __name__ == "__main__":
    main()

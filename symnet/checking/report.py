"""What `verify` found, per parameter: a table for people, JSON for machines.

Verdicts: "ok"; "kink" (your point sits on a non-differentiable point such as ReLU at 0: not an
error, see the note); "wrong" (the values disagree with the truth beyond the error bound);
"missing" / "extra" (keys); "shape"; "dtype"; "nan"; "raised: <exception>".

Errors are measured along the directions that were checked: for a single entry that is the
entry's error itself; for a random ±1 direction v it is |⟨g − t, v⟩| / ‖v‖₂ (a root-mean-square
sized error), which is how one check covers a whole tensor for four loss evaluations. Relative
errors are normwise: the error over the larger of |g| and |t| along the same direction (entry
by entry: over the tensor's largest entry).
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import asdict, dataclass, field

PASSING = ("ok", "kink")
MAX_LISTED = 10  # bad entries listed in text; the JSON keeps up to MAX_KEPT
MAX_KEPT = 100


@dataclass
class ParamResult:
    name: str
    verdict: str
    shape: tuple = ()
    max_abs_err: float = float("nan")
    max_rel_err: float = float("nan")
    tolerance: float = float("nan")
    bad_entries: list = field(default_factory=list)  # index tuples, at most MAX_KEPT
    n_bad_entries: int = 0  # how many were found (bad_entries may be truncated)
    diagnosis: str = ""
    n_checks: int = 0  # directions (or entries) compared
    mutant: str = ""  # verify(net=…): the checking.mutants mistake this gradient matches
    kind: str = ""  # what kind of mistake (checking.diagnose.KINDS), "" when right

    @property
    def ok(self) -> bool:
        return self.verdict in PASSING


@dataclass
class Report:
    results: list
    n_loss_evals: int
    mode: str  # "finite differences" (black box) or "reference"
    notes: list = field(default_factory=list)
    n_params: int = 0
    # keyword-only (a subclass such as CheckReport adds positional fields after n_params):
    # what was checked when not a network's grads (verify_layer: the pair), what n_loss_evals
    # counts (verify_layer: forward calls), and what n_params counts
    subject: str = field(default="", kw_only=True)
    calls: str = field(default="loss evaluations", kw_only=True)
    entries: str = field(default="parameters", kw_only=True)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> list:
        return [r for r in self.results if not r.ok]

    def __getitem__(self, name) -> ParamResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def __bool__(self) -> bool:
        return self.ok

    def _parts(self):
        """(title, header, rows, lines after the table): what __str__ and _repr_html_ show."""
        head = ("parameter", "shape", "verdict", "max abs err", "max rel err", "tolerance")
        rows = [
            (
                r.name,
                "×".join(map(str, r.shape)) if r.shape else "()",
                r.verdict,
                _num(r.max_abs_err),
                _num(r.max_rel_err),
                _num(r.tolerance),
            )
            for r in self.results
        ]
        verdict = "all gradients match" if self.ok else f"{len(self.failures)} parameter(s) wrong"
        of = f" of {self.subject}" if self.subject else ""
        title = f"gradient check{of} ({self.mode}): {verdict}"
        after = [self._cost()]
        for r in self.results:
            if r.verdict == "ok" or not (r.diagnosis or r.bad_entries):
                continue
            text = f"\n{r.name}: {r.diagnosis}"
            if r.bad_entries and r.verdict not in PASSING:
                listed = ", ".join(map(str, r.bad_entries[:MAX_LISTED]))
                more = r.n_bad_entries - min(len(r.bad_entries), MAX_LISTED)
                text += f"\n  wrong entries: {listed}" + (f" … and {more} more" if more else "")
            after.append(text)
        after.extend(f"note: {n}" for n in self.notes)
        return title, head, rows, after

    def __str__(self) -> str:
        title, head, rows, after = self._parts()
        return "\n".join([title, *_text_table(head, rows), *after])

    def _repr_html_(self) -> str:
        """The report as an HTML table, for Jupyter."""
        title, head, rows, after = self._parts()
        cell = lambda tag, v: f"<{tag}>{html.escape(str(v))}</{tag}>"  # noqa: E731
        table = ["<table>", "<tr>" + "".join(cell("th", h) for h in head) + "</tr>"]
        table += ["<tr>" + "".join(cell("td", v) for v in row) + "</tr>" for row in rows]
        table.append("</table>")
        notes = "".join(f"<pre>{html.escape(a.strip())}</pre>" for a in after if a.strip())
        return f"<p><b>{html.escape(title)}</b></p>" + "".join(table) + notes

    def _cost(self) -> str:
        """The loss evaluations spent, beside what entry-by-entry central differences (two per
        entry) would spend, where that comparison says something."""
        text = f"{self.n_loss_evals} {self.calls} for {self.n_params} {self.entries}"
        if 0 < self.n_loss_evals < 2 * self.n_params:
            text += f" (entry-by-entry central differences would need {2 * self.n_params})"
        return text

    def to_dict(self) -> dict:
        d = asdict(self)
        for r in d["results"]:
            r["shape"] = list(r["shape"])
            r["bad_entries"] = [list(map(int, e)) for e in r["bad_entries"]]
            for k in ("max_abs_err", "max_rel_err", "tolerance"):
                r[k] = _json_float(r[k])
        d["ok"] = self.ok
        return d

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)


def _text_table(head, rows) -> list[str]:
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*head), fmt.format(*("-" * w for w in widths)),
            *(fmt.format(*row) for row in rows)]


def _num(x: float) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.3g}"


def _json_float(x):
    """JSON has no NaN/inf: unknown numbers become null."""
    x = float(x)
    return x if math.isfinite(x) else None

"""The `symnet` command line. Each subcommand is a small function registered in COMMANDS.

Errors in user input (SymnetError) print one line, `symnet: error: …`, and exit 2; a wrong
gradient found by `check`/`verify` exits 1; success exits 0.
"""

from __future__ import annotations

import argparse
import sys

from .errors import SymnetError

DEFAULT_SPEC = "2-3-1 sigmoid sigmoid mse"

COMMANDS: dict[str, tuple] = {}  # name -> (add_arguments, run, help)


def command(name: str, help: str):
    """Register `run(args) -> exit code` as a subcommand; `add_arguments(parser)` is the
    function's `arguments` attribute, if any."""

    def register(run):
        COMMANDS[name] = (getattr(run, "arguments", None), run, help)
        return run

    return register


def arguments(add):
    def attach(run):
        run.arguments = add
        return run

    return attach


def _network(spec: str):
    from .spec import network_from

    return network_from(spec)


# ── derive ──────────────────────────────────────────────────────────────────────────────────


def _derive_arguments(p):
    p.add_argument("spec", nargs="?", default=DEFAULT_SPEC,
                   help=f"a spec string or a TOML file (default: {DEFAULT_SPEC!r})")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--latex", action="store_true", help="print LaTeX (aligned environment)")
    fmt.add_argument("--markdown", action="store_true", help="print a step-by-step derivation")
    fmt.add_argument("--explicit", action="store_true",
                     help="print per-weight scalar formulas (small networks)")
    p.add_argument("--batch", type=int, default=1, help="batch size for --explicit (default 1)")


@command("derive", "print the backpropagation equations of a network")
@arguments(_derive_arguments)
def _derive(args) -> int:
    from .derivation import derive
    from .explicit import explicit

    net = _network(args.spec)
    if args.explicit:
        print(explicit(net, batch=args.batch))
        return 0
    d = derive(net)
    print(d.latex() if args.latex else d.markdown() if args.markdown else d.unicode())
    return 0


# ── entry point ─────────────────────────────────────────────────────────────────────────────


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symnet",
        description="Exact, readable, checkable backpropagation.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (add_arguments, _, help) in COMMANDS.items():
        p = sub.add_parser(name, help=help, description=help)
        if add_arguments:
            add_arguments(p)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return COMMANDS[args.command][1](args)
    except SymnetError as e:
        print(f"symnet: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `symnet derive … | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `symnet` command line. Each subcommand is a small function registered in COMMANDS.

Errors in user input (SymnetError) print one line, `symnet: error: …`, and exit 2; a wrong
gradient found by `check`/`verify` exits 1; success exits 0.
"""

from __future__ import annotations

import argparse
import sys

from ._version import __version__
from .checking.finite_diff import UserCodeError
from .errors import SymnetError

DEFAULT_SPEC = "2-3-1 sigmoid sigmoid mse"
# What a SPEC is, for every command that takes one (spec strings are parsed, never evaluated).
SPEC_HELP = ('a network spec: the layer sizes joined by "-" (inputs, hidden layers, outputs), '
             "then an activation per hidden layer (built-in, or act(FORMULA) in x with optional "
             "learned scalars name=value), then the loss, e.g. \"784-128-10 relu softmax_ce\" "
             "or \"2-8-1 act(x*sigmoid(theta*x), theta=1) bce_logits\"; or the path of a TOML "
             "file holding one (spec = \"...\")")

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


def _seed(text: str) -> int:
    """A --seed value: a non-negative integer (NumPy's generators take no negative seeds)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {n}")
    return n


def _network(spec: str):
    from .nn.spec import network_from

    return network_from(spec)


# ── derive ──────────────────────────────────────────────────────────────────────────────────


def _derive_arguments(p):
    p.add_argument("spec", nargs="?", default=DEFAULT_SPEC,
                   help=f"{SPEC_HELP} (default: {DEFAULT_SPEC!r})")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--latex", action="store_true", help="print LaTeX (aligned environment)")
    fmt.add_argument("--markdown", action="store_true", help="print a step-by-step derivation")
    fmt.add_argument("--explicit", action="store_true",
                     help="print per-weight scalar formulas (small networks)")
    p.add_argument("--batch", type=int, default=1, help="batch size for --explicit (default 1)")


@command("derive", "print the backpropagation equations of a network")
@arguments(_derive_arguments)
def _derive(args) -> int:
    from .derivation.chain import derive
    from .printing.explicit import explicit

    net = _network(args.spec)
    if args.explicit:
        print(explicit(net, batch=args.batch))
        return 0
    d = derive(net)
    print(d.latex() if args.latex else d.markdown() if args.markdown else d.unicode())
    return 0


# ── codegen, train, demo ────────────────────────────────────────────────────────────────────


def _codegen_arguments(p):
    p.add_argument("spec", help=SPEC_HELP)
    p.add_argument("-o", "--output", metavar="FILE", help="write the module here (default: print)")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                   help="dtype of the parameters init_params makes (default float64)")
    p.add_argument("--backend", choices=("numpy", "jax", "torch", "cupy"), default="numpy",
                   help="the array library the module computes with (default numpy)")


@command("codegen", "generate a standalone NumPy module: forward, loss, gradients, training")
@arguments(_codegen_arguments)
def _codegen(args) -> int:
    from .codegen.module import codegen
    from .files import write_file

    source = codegen(_network(args.spec), dtype=args.dtype, backend=args.backend)
    if args.output is None:
        print(source, end="")
    else:
        path = write_file(args.output, source, force=args.force)
        needs = "only NumPy" if args.backend == "numpy" else f"NumPy and {args.backend}"
        print(f"wrote {path} ({source.count(chr(10))} lines; needs {needs})")
    return 0


def _train_arguments(p):
    p.add_argument("spec", help=SPEC_HELP)
    p.add_argument("--data", required=True, metavar="NAME",
                   help="xor, moons, spirals, digits, or a CSV file")
    p.add_argument("--target", metavar="COLUMN", help="the CSV column to predict (default: last)")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--lr", type=float, help="learning rate (default 0.1 sgd, 0.05 momentum, "
                   "0.01 adam)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--optimizer", choices=("sgd", "momentum", "adam"), default="adam")
    p.add_argument("--seed", type=_seed, default=0, help="for the data, the split, init, shuffling")
    p.add_argument("--test-fraction", type=float,
                   help="held out for testing (default 0.2; 0 for xor)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--plot", metavar="FILE.png", help="save the loss and accuracy curves "
                   "(needs matplotlib; .png added to a name without suffix)")
    p.add_argument("--force", action="store_true", help="overwrite the --plot file if it exists")
    p.add_argument("--standardize", action="store_true",
                   help="z-score the features (and a regression target) with the training "
                        "split's mean and std")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress line")


@command("train", "train a network on a dataset with the generated NumPy code")
@arguments(_train_arguments)
def _train(args) -> int:
    from .codegen.build import compile
    from .errors import DataError, ShapeError
    from .files import check_output, write_output
    from .nn.spec import describe
    from .training import datasets
    from .training.train import plot, train

    net = _network(args.spec)
    plot_path = None
    if args.plot:  # optional extras and the output path fail now, not after training
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise DataError("--plot needs matplotlib, which is not installed: "
                            "pip install 'symnet[plot]'") from None
        plot_path = check_output(args.plot, force=args.force, default_suffix=".png",
                                 example="loss")
    data = datasets.load(args.data, target=args.target, seed=args.seed)
    if data.n_features != net.n_in:
        raise ShapeError(f"{data.name} has {data.n_features} features, but the network takes "
                         f"{net.n_in} inputs: start the spec with {data.n_features}-")
    data.check_labels(net)  # on the whole set: a split may miss a class
    fraction = args.test_fraction if args.test_fraction is not None else (
        0.0 if data.name == "xor" else 0.2)
    X, y, X_test, y_test = datasets.split(data, fraction, seed=args.seed)
    regression = not datasets.is_classification(net)
    notes = []
    if data.target is not None and args.target is None:
        notes.append(f"target: the last column, {data.target!r}; --target NAME picks another")
    if args.standardize:
        X, y_std, stats = datasets.standardize(X, y if regression else None)
        y = y_std if regression else y
        X_test, y_t = stats.apply(X_test, y_test if regression else None)
        y_test = y_t if regression else y_test
        notes.append(str(stats))
    else:
        notes.append(datasets.scaling_advice(data, net) or "")
    classes = data.classes if not regression else None
    Y, Y_test = (datasets.Dataset(data.name, a, b).targets_for(net, classes)
                 for a, b in ((X, y), (X_test, y_test)))
    model = compile(net, dtype=args.dtype)
    lr = args.lr if args.lr is not None else {"sgd": 0.1, "momentum": 0.05, "adam": 0.01}[
        args.optimizer]
    print(f"{data.describe(net)}: {len(X)} to train, {len(X_test)} to test")
    for note in notes:
        if note:
            print(note)
    print(f"{describe(net)}: {net.n_parameters} parameters, {args.dtype}, {args.optimizer} "
          f"lr={lr:g}, batches of {args.batch_size}")
    history = train(model, model.init(args.seed), X, Y, epochs=args.epochs, lr=lr,
                    batch_size=args.batch_size, optimizer=args.optimizer, seed=args.seed,
                    progress=not args.quiet, test=(X_test, Y_test) if len(X_test) else None)
    print(history.summary())
    if plot_path is not None:
        title = f"{describe(net)} on {data.name}"
        fmt = plot_path.suffix.lstrip(".").lower()
        written = write_output(plot_path, lambda f: plot(history, f, title, format=fmt),
                               force=args.force)
        print(f"wrote {written}")
    return 0


@command("demo", "derive, generate, train XOR and check the gradients, in a few seconds")
def _demo(args) -> int:
    from .demo import run

    return run(DEFAULT_SPEC)


# ── graph ───────────────────────────────────────────────────────────────────────────────────


def _graph_arguments(p):
    p.add_argument("spec", nargs="?", default=DEFAULT_SPEC,
                   help=f"{SPEC_HELP} (default: {DEFAULT_SPEC!r})")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="FILE.dot (DOT text), or FILE.png/.svg/.pdf rendered with Graphviz's "
                   "dot (default: print the DOT text)")
    p.add_argument("--equations", action="store_true",
                   help="label each node with its equation, not just its name and shape")
    p.add_argument("--no-reads", dest="reads", action="store_false",
                   help="leave out the dotted edges from saved forward values")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")


@command("graph", "draw the computation graph, forward and backward edges (Graphviz DOT)")
@arguments(_graph_arguments)
def _graph(args) -> int:
    from pathlib import Path

    from .files import write_file
    from .printing.graph import dot, render

    text = dot(_network(args.spec), equations=args.equations, reads=args.reads)
    if args.output is None:
        print(text, end="")
    elif Path(args.output).suffix.lower() in (".dot", ".gv"):
        write_file(args.output, text, force=args.force)  # atomic, refuses to overwrite
        print(f"wrote {args.output}")
    else:
        render(text, args.output, force=args.force)
        print(f"wrote {args.output}")
    return 0


# ── prove ───────────────────────────────────────────────────────────────────────────────────


def _prove_arguments(p):
    p.add_argument("--markdown", metavar="FILE",
                   help="also write the proofs (statements, steps, verdicts) as Markdown")
    p.add_argument("--proofs", metavar="DIR",
                   help="the proofs package (default: proofs/ beside the symnet package)")
    p.add_argument("-k", dest="only", metavar="TEXT",
                   help="only the theorems whose title contains TEXT")
    p.add_argument("--spec", metavar="SPEC",
                   help="also prove what the network SPEC needs beyond symnet's own rules: for "
                        "each custom activation act(FORMULA) in it, its derivative (and each "
                        "learned scalar's partial) in symnet's form, and that the NumPy code "
                        "generated for the activation (f, f′, each ∂f/∂θ) equals those formulas. "
                        "SPEC is a network spec, e.g. "
                        "\"2-8-1 act(x*sigmoid(theta*x), theta=1) bce_logits\": the layer "
                        "sizes joined by \"-\", an activation per hidden layer, the loss; or "
                        "the path of a TOML file holding one. A spec without act(…) adds no "
                        "theorem")
    p.add_argument("--force", action="store_true", help="overwrite the --markdown FILE")


@command("prove", "check the proofs of every rule symnet's derivations use (exit 1 if any fails)")
@arguments(_prove_arguments)
def _prove(args) -> int:
    from .files import check_output, write_output
    from .prove import markdown, prove, table

    network = _network(args.spec) if args.spec else None
    if args.markdown:  # a bad path fails now, not after a minute of proving
        check_output(args.markdown, force=args.force, example="proofs.md")
    done = 0

    def progress(result):  # one line per theorem on stderr, as it is proved
        nonlocal done
        done += 1
        print(f"[{done:>3}] {result.title}  {result.status} {result.seconds:.2f} s",
              file=sys.stderr, flush=True)

    print("proving…", file=sys.stderr, flush=True)
    results = prove(args.proofs, only=args.only, network=network, on_result=progress)
    print(table(results) if results else f"no theorem matches {args.only!r}")
    if args.markdown:
        written = write_output(args.markdown, markdown(results), force=args.force)
        print(f"wrote {written}")
    return 0 if results and all(r.proved for r in results) else 1


# ── check, verify ───────────────────────────────────────────────────────────────────────────


def _check_arguments(p):
    p.add_argument("spec", help=SPEC_HELP)
    p.add_argument("--seed", type=_seed, default=0, help="for the random parameters and data")
    p.add_argument("--batch", type=int, default=4, help="samples in the random batch (default 4)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                   help="dtype of the generated code checked (default float64)")
    p.add_argument("--backend", choices=("numpy", "jax", "torch", "cupy"), default="numpy",
                   help="check this backend's generated code against NumPy's and finite "
                        "differences (default numpy: against the exact derivation)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


@command("check", "compare exact, generated and finite-difference gradients (exit 1 if they "
                  "disagree)")
@arguments(_check_arguments)
def _check(args) -> int:
    from .checking.check import check

    net = _network(args.spec)
    _check_memory(net, args.batch)
    report = check(net, seed=args.seed, batch=args.batch, dtype=args.dtype, backend=args.backend)
    print(report.to_json(indent=2) if args.json else report)
    return 0 if report.ok else 1


def _memory_available() -> int | None:
    """Bytes this process may still allocate: the smaller of the system's available memory and
    the headroom under an address-space limit (ulimit -v); None when unknown."""
    limits = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm") as f:
                used = int(f.read().split()[0]) * resource.getpagesize()
            limits.append(soft - used)
    except (ImportError, OSError, ValueError):
        pass
    return min(limits) if limits else None


def _check_memory(net, batch: int):
    """Refuse a check that cannot fit in memory, before allocating anything: parameters,
    gradients and finite-difference copies (about 12 arrays of the parameters' size), and each
    layer's activations for the batch, kept by several evaluations (about 8 copies)."""
    from .errors import DataError
    from .nn.layers import Dense

    if batch < 1:
        return  # check() says what a batch must be
    widths = sum(la.n_out for la in net.layers if isinstance(la, Dense)) + net.n_in
    need = 8 * (12 * net.n_parameters + 8 * batch * widths)
    free = _memory_available()
    if free is not None and need > free:
        raise DataError(f"this check needs about {need / 2**30:.3g} GiB of memory "
                        f"({net.n_parameters} parameters, batch {batch}); about "
                        f"{max(free, 0) / 2**30:.3g} GiB is available: check a smaller network "
                        "of the same kind or a smaller --batch, which runs the same code")


def _verify_arguments(p):
    p.add_argument("file", help="a Python file defining grads(params, X, Y), make_case() "
                                "returning (params, X, Y), and loss(params, X, Y); or a file of "
                                "layers (forward/backward pairs) with CASES or make_cases()")
    p.add_argument("--net", metavar="SPEC",
                   help="reference mode: the truth is symnet's gradient of the network SPEC "
                        "(a network spec such as \"4-8-3 tanh softmax_ce\", or a TOML file); "
                        "loss() is then not needed, and a wrong gradient is matched against "
                        "known mistakes")
    p.add_argument("--seed", type=_seed, default=0, help="for the random check directions")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


@command("verify", "check the hand-written gradients of a Python file (exit 1 if wrong)")
@arguments(_verify_arguments)
def _verify(args) -> int:
    import numpy as np

    from .checking.verify import verify
    from .errors import DataError

    module = _user_module(args.file)
    layers = hasattr(module, "CASES") or callable(getattr(module, "make_cases", None))
    if layers and not callable(getattr(module, "grads", None)):
        if args.net:
            raise DataError("--net checks a network's grads(params, X, Y); a file of layers "
                            "names its references in CASES (\"reference\": ...)")
        return _verify_layers(module, args)
    needed = ["grads", "make_case"] + ([] if args.net else ["loss"])
    missing = [f"{name}()" for name in needed if not callable(getattr(module, name, None))]
    if missing:
        raise DataError(f"{args.file} does not define {', '.join(missing)}: symnet verify needs "
                        "grads(params, X, Y), make_case() -> (params, X, Y) and "
                        "loss(params, X, Y) (or --net SPEC instead of loss); or, for a file of "
                        "layers, CASES = {forward function name: its arguments}")
    case = _user_call(module.make_case, "make_case()")
    if not (isinstance(case, tuple | list) and len(case) == 3 and isinstance(case[0], dict)):
        raise DataError("make_case() must return (params, X, Y) with params a dict of arrays, "
                        f"got {type(case).__name__}")
    params, X, Y = case
    params = {k: np.asarray(v) for k, v in params.items()}
    net = _network(args.net) if args.net else None
    loss = None if net else module.loss  # verify reports a crash in it with its traceback
    report = verify(module.grads, loss=loss, net=net, params=params, X=np.asarray(X),
                    Y=np.asarray(Y), seed=args.seed)
    print(report.to_json(indent=2) if args.json else report)
    return 0 if report.ok else 1


def _verify_layers(module, args) -> int:
    """`symnet verify layers.py`: each case of CASES checked as a layer (verify_layer); exit
    2 if any case could not run, else 1 if any gradient is wrong, else 0."""
    import json

    from .checking.layer_file import check_file

    results = check_file(module, args.file, seed=args.seed)
    failed = [label for label, r in results if not isinstance(r, Exception) and not r.ok]
    broken = [label for label, r in results if isinstance(r, Exception)]
    if args.json:
        cases = {label: ({"error": str(r)} if isinstance(r, Exception) else r.to_dict())
                 for label, r in results}
        print(json.dumps({"file": args.file, "cases": cases, "ok": not failed and not broken},
                         allow_nan=False, indent=2))
    else:
        for label, r in results:
            print(f"{label}: error: {r}" if isinstance(r, Exception) else r)
            print()
        right = len(results) - len(failed) - len(broken)
        summary = f"{args.file}: {len(results)} layer(s): {right} right"
        if failed:
            summary += f", {len(failed)} wrong ({', '.join(failed)})"
        if broken:
            summary += f", {len(broken)} could not run ({', '.join(broken)})"
        print(summary)
    return 2 if broken else 1 if failed else 0


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return type(e).__name__ + (f": {text[0]}" if text else "")


def _user_call(fn, what, *args):
    """The user's function called; any exception it raises becomes one line (exit 2)."""
    from .errors import DataError

    try:
        return fn(*args)
    except (Exception, SystemExit) as e:
        raise DataError(f"{what} raised {_one_line(e)}") from None


def _user_module(path: str):
    """Import the user's file by path (importlib): running their code is what `symnet verify
    FILE` is asked to do. Its folder is importable meanwhile, for its own helper modules."""
    import importlib.util
    from pathlib import Path

    from .errors import DataError

    file = Path(path)
    if not file.is_file():
        raise DataError(f"no such file: {path}")
    if file.suffix != ".py":
        raise DataError(f"{path} is not a Python file (.py)")
    spec = importlib.util.spec_from_file_location(f"symnet_user_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    folder = str(file.parent.resolve())
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:
        raise DataError(f"importing {path} raised {_one_line(e)}") from None
    finally:
        sys.path.remove(folder)
    return module


# ── entry point ─────────────────────────────────────────────────────────────────────────────


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symnet",
        description="Exact, readable, checkable backpropagation.",
    )
    parser.add_argument("--version", action="version", version=f"symnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (add_arguments, _, help) in COMMANDS.items():
        p = sub.add_parser(name, help=help, description=help)
        if add_arguments:
            add_arguments(p)
    return parser


def main(argv=None) -> int:
    from .printing.ascii import protect_streams

    protect_streams()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return COMMANDS[args.command][1](args)
    except UserCodeError as e:  # the user's own code crashed: show them where, as Python would
        import traceback

        cause = e.__cause__ or e
        traceback.print_exception(type(cause), cause, cause.__traceback__, file=sys.stderr)
        print(f"symnet: error: {e}", file=sys.stderr)
        return 2
    except SymnetError as e:
        print(f"symnet: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `symnet derive … | head`
        return 0
    except MemoryError:
        print("symnet: error: out of memory: try a smaller network, batch or data file",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

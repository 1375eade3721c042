"""symnet's benchmark suite: one command, one process, one Markdown file of results.

    python benchmarks/run.py --quick      # a few minutes on 2 cores
    python benchmarks/run.py              # more repeats, the largest network in every section
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py   # see "machine"

Sections (each also runs alone: --only step,memory):

  step      one training step (loss, gradients, SGD update) of the generated NumPy code (the
            fused train_step), a clean hand-written NumPy step, PyTorch eager on the CPU (when
            torch is installed), and the step's matrix products alone (the floor no NumPy step
            can beat); float32, float64
  backends  symnet's step on each installed backend (numpy, jax, torch) against PyTorch eager
            autograd and jax.grad of the same network (bench_backends.py)
  api       the checked API model.loss_and_grads (validation, then the generated step) against
            the raw generated step (bench_api.py); issue 14's target: ≤ 1.10×
  memory    peak memory allocated during one step (tracemalloc), generated vs hand-written
  symbolic  derivation and code generation time against depth (1–200 layers) and width
  explicit  the largest network whose per-weight formulas are derived within 10 s
  checker   verify's loss evaluations and time, 1k to 1M parameters, against the 2·n_params
            evaluations of entry-by-entry central differences
  conv      one CNN training step: generated vs a vectorized hand-written NumPy CNN vs PyTorch
            eager, with peak memory (bench_conv.py); --quick: the digits CNN only
  rnn       one RNN, LSTM or GRU training step: generated vs hand-written NumPy BPTT vs PyTorch
            eager (bench_rnn.py), wall-clock and CPU-time ratios; --quick: the smallest RNN only

Timed variants run interleaved (A B C D A B C D …), so that a change in the load of a shared
machine hits them alike; tables give medians and ratios. BLAS (and PyTorch) run one thread: set
before NumPy is imported, because OpenBLAS reads it once.
"""

from __future__ import annotations

import argparse
import os
import sys

SECTIONS = ("step", "backends", "api", "memory", "symbolic", "explicit", "checker", "conv",
            "rnn")
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="fewer repeats and sizes")
parser.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated sections (default: all of {','.join(SECTIONS)})")
parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads (default 1)")
parser.add_argument("-o", "--output", default=os.path.join(os.path.dirname(__file__),
                                                           "RESULTS.md"),
                    help="the Markdown results file (default benchmarks/RESULTS.md, which is "
                         "tracked: refused unless --force); '-' prints it instead")
parser.add_argument("--force", action="store_true", help="overwrite the --output file")
args = parser.parse_args()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)
if args.threads == 1:  # XLA's CPU backend: one thread for its Eigen kernels (the widely copied
    # "intra_op_parallelism_threads=1" beside it is no XLA flag: without "--" XLA ignores it)
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_cpu_multi_thread_eigen=false").strip()

import platform  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402  (after the thread settings)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_api  # noqa: E402  (the checked API against the raw step)
import bench_backends  # noqa: E402  (each backend's step, PyTorch autograd, jax.grad)
import bench_conv  # noqa: E402  (the hand-written CNN)
import bench_rnn  # noqa: E402  (the hand-written BPTT)
import bench_step  # noqa: E402  (the hand-written steps)
import bench_verify  # noqa: E402  (the hand-written MLP that verify checks)

import symnet as sn  # noqa: E402
from symnet.checking.verify import verify  # noqa: E402
from symnet.codegen.model import load_source  # noqa: E402
from symnet.errors import SymnetError  # noqa: E402
from symnet.files import check_output, write_output  # noqa: E402
from symnet.nn.layers import Dense, Tanh  # noqa: E402
from symnet.nn.losses import SoftmaxCrossEntropy  # noqa: E402
from symnet.nn.network import Network  # noqa: E402

try:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
except ImportError:
    torch = None

QUICK = args.quick
LR = bench_step.LR
STEP_CONFIGS = [("64-32-10", 32), ("784-128-10", 64), ("784-256-256-10", 256),
                ("784-1024-1024-10", 1024)]


# Symbolic work and the checker are timed in CPU seconds of this process (one thread: BLAS runs
# one), which other processes on a shared machine do not inflate; the training steps, compared
# with each other and with PyTorch, in wall-clock seconds, interleaved.
cpu = time.process_time


def median(xs) -> float:
    return float(np.median(xs))


def interleaved(steps: dict, repeats: int, seconds: float) -> dict:
    """{name: [seconds per call in each round]}: each round times every step in turn (after one
    untimed call), n calls each, n chosen so that the slowest step's share of a round takes
    about `seconds`. Short rounds, many of them: on a shared machine a round that is preempted
    is an outlier that the median discards."""
    slowest = max(bench_step.per_step(f, 2) for f in steps.values())
    n = max(1, int(seconds / slowest))
    times = {name: [] for name in steps}
    names = list(steps)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:  # each goes first in turn
            steps[name]()  # untimed: warm the caches the previous step evicted
            times[name].append(bench_step.per_step(steps[name], n))
    return times


def ratio(times, a, b) -> float:
    """Median over rounds of a's time / b's time in the same round (paired: load that drifts
    between rounds cancels)."""
    return median(np.array(times[a]) / np.array(times[b]))


def table(head, rows) -> str:
    """A Markdown table; columns of numbers (times, counts, ratios) right-aligned."""
    def numeric(i):
        return all(_NUMBER.fullmatch(str(row[i])) for row in rows)

    align = ["---:" if i and numeric(i) else "---" for i in range(len(head))]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


_NUMBER = re.compile(r"(> )?[-+]?[\d,]*\.?\d+(e[-+]?\d+)?( ?(s|min|h|×|%))?|–")


def say(text=""):
    print(text, flush=True)


# ── machine ─────────────────────────────────────────────────────────────────────────────────


def machine() -> str:
    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    tuning = [f"`{v}={os.environ[v]}`" for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
              if v in os.environ]
    rows = [
        ("CPU", f"{model}, {os.cpu_count()} logical cores, load average at start "
                f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}"),
        ("Python / NumPy / SymPy", f"{platform.python_version()} / {np.__version__} / "
                                   f"{__import__('sympy').__version__}"),
        ("BLAS (kernel)", bench_step.blas_info()),
        ("BLAS tuning", ", ".join(tuning) + " (set: may slow NumPy; rerun with "
         "`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`)" if tuning else
         "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset"),
        ("threads", f"BLAS {args.threads}" + (f", torch {torch.get_num_threads()}" if torch
                                             else "")),
        ("PyTorch", torch.__version__ if torch else "not installed (its columns are left out)"),
        ("mode", "--quick" if QUICK else "full"),
    ]
    return table(("", "this run"), rows)


# ── step: generated vs hand-written vs torch vs the matmul floor ───────────────────────────


def torch_step(sizes, params, X, Y, dtype):
    """PyTorch eager as one writes it: nn.Sequential of Linear/ReLU, cross-entropy, SGD."""
    tdtype = {np.float32: torch.float32, np.float64: torch.float64}[dtype]
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:]), start=1):
        lin = torch.nn.Linear(n_in, n_out, dtype=tdtype)
        with torch.no_grad():  # the same starting point as the NumPy steps (W is stored as Wᵀ)
            lin.weight.copy_(torch.from_numpy(params[f"W{k}"].T.copy()))
            lin.bias.copy_(torch.from_numpy(params[f"b{k}"]))
        layers += [lin, torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    Xt, labels = torch.from_numpy(X), torch.from_numpy(Y.argmax(axis=1))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(Xt), labels)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def matmul_floor(sizes, batch, dtype):
    """The step's matrix products alone, into preallocated outputs: forward A_{k−1} W_k, and
    backward A_{k−1}ᵀ δ_k and δ_k W_kᵀ (not for k = 1: no gradient for X)."""
    rng = np.random.default_rng(0)
    A = [rng.standard_normal((batch, n)).astype(dtype) for n in sizes]
    W = [rng.standard_normal((a, b)).astype(dtype) for a, b in zip(sizes, sizes[1:])]
    ops = []
    for k in range(len(W)):
        ops.append((A[k], W[k], np.empty((batch, sizes[k + 1]), dtype)))  # Z = A W
        ops.append((A[k].T, A[k + 1], np.empty(W[k].shape, dtype)))  # dW = Aᵀ δ
        if k:
            ops.append((A[k + 1], W[k].T, np.empty((batch, sizes[k]), dtype)))  # δ Wᵀ

    def step():
        for a, b, out in ops:
            np.matmul(a, b, out=out)

    return step


def setup(sizes_text, batch, dtype):
    spec = f"{sizes_text} relu softmax_ce"
    sizes = [int(n) for n in sizes_text.split("-")]
    model = sn.compile(spec, dtype=dtype)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    Y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], batch)]
    return spec, sizes, model, X, Y


def step_section() -> str:
    head = ["network", "batch", "dtype", "generated (ms)", "hand-written (ms)"]
    head += ["PyTorch eager (ms)"] * bool(torch) + ["matmul floor (ms)", "gen / hand"]
    head += ["gen / torch"] * bool(torch) + ["gen / floor", "gen − floor (ms)",
                                             "GFLOP/s (gen)"]
    rows = []
    for sizes_text, batch in STEP_CONFIGS:
        big = sizes_text.startswith("784-1024")
        for dtype in (np.float32, np.float64):
            spec, sizes, model, X, Y = setup(sizes_text, batch, dtype)
            gen_p, hand_p = model.init(0), model.init(0)
            gen, hand = model.module, bench_step.HAND[len(sizes) - 1]

            def generated(gen=gen, p=gen_p, X=X, Y=Y):  # the fused step
                return gen.train_step(p, X, Y, LR)

            steps = {"generated": generated,
                     "hand": lambda h=hand, p=hand_p, X=X, Y=Y: h(p, X, Y, LR)}
            if torch:
                steps["torch"] = torch_step(sizes, model.init(0), X, Y, dtype)
            steps["floor"] = matmul_floor(sizes, batch, dtype)
            # the same first loss from the same point: all three compute one function
            first = {k: float(f()) for k, f in steps.items() if k != "floor"}
            spread = max(first.values()) - min(first.values())
            assert spread <= 1e-3 * abs(first["generated"]), (spec, first)
            repeats = (5 if big else 101) if QUICK else (11 if big else 301)
            times = interleaved(steps, repeats, 0.002)
            t = {k: median(v) for k, v in times.items()}
            flops = 2 * batch * sum(a * b for a, b in zip(sizes, sizes[1:])) * 3 - (
                2 * batch * sizes[0] * sizes[1])  # forward, dW, δWᵀ (none for X)
            row = [spec.replace(" relu softmax_ce", ""), batch, np.dtype(dtype).name,
                   *(f"{t[k] * 1e3:.3g}" for k in steps),
                   f"{ratio(times, 'generated', 'hand'):.2f}"]
            if torch:  # (without PyTorch its column is left out)
                row.append(f"{ratio(times, 'generated', 'torch'):.2f}")
            row += [f"{ratio(times, 'generated', 'floor'):.2f}",
                    f"{(t['generated'] - t['floor']) * 1e3:.3g}",
                    f"{flops / t['generated'] / 1e9:.1f}"]
            rows.append(row)
            say("  " + " | ".join(map(str, row)))
    return "\n".join([
        "Median time of one training step (forward, loss, all gradients, SGD update); ReLU "
        "hidden layers, softmax cross-entropy on logits. *generated*: the module's fused "
        "`train_step` (one function, computed into preallocated arrays, the update folded into "
        "the backward pass: codegen/inplace.py). *hand-written*: the clean NumPy step of "
        "`bench_step.py`; *PyTorch eager*: `nn.Sequential` + `F.cross_entropy` + "
        "`optim.SGD`; *matmul floor*: the step's matrix products alone into preallocated "
        "arrays. All start from the same parameters and are checked to give the same first "
        "loss. Ratios are medians over rounds of the two times in the same round: on a loaded "
        "machine they are steadier than the ratio of two columns. *gen − floor*: what the "
        "step spends outside the matrix products (element-wise work, reductions, the update, "
        "and NumPy's per-call overhead, which dominates at the small sizes). GFLOP/s: the "
        "step's matrix-product flops per second of the generated step.", "",
        table(head, rows)])


# ── memory ──────────────────────────────────────────────────────────────────────────────────


def peak_bytes(step) -> int:
    """Bytes allocated at the peak of one call of `step`, above what was live before it."""
    step()  # warm: caches, lazily allocated buffers
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        step()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


BACKEND_CONFIGS = [((64, 32, 10), 32), ((784, 128, 10), 64), ((784, 256, 256, 10), 256)]


def backends_section() -> str:
    import importlib.util

    have = {b: importlib.util.find_spec(b) is not None for b in ("jax", "torch")}
    names = ["numpy"] + [b for b in ("jax", "torch") if have[b]]
    head = ["network", "batch", "dtype", *(f"symnet {b} (ms)" for b in names)]
    head += ["PyTorch autograd (ms)"] * have["torch"] + ["jax.grad (ms)"] * have["jax"]
    head += [f"symnet {b} / PyTorch" for b in names] * have["torch"]
    head += ["symnet jax / jax.grad"] * have["jax"]
    rows = []
    configs = BACKEND_CONFIGS if QUICK else [*BACKEND_CONFIGS, ((784, 1024, 1024, 10), 1024)]
    for sizes, batch in configs:
        for dtype in (np.float32, np.float64):
            X, Y, labels = bench_backends.data(sizes, batch, dtype)
            steps = {f"symnet {b}": bench_backends.symnet_step(b, sizes, X, Y, dtype)
                     for b in names}
            if have["torch"]:
                steps["PyTorch autograd"] = bench_backends.torch_autograd_step(sizes, X, labels,
                                                                              dtype)
            if have["jax"]:
                steps["jax.grad"] = bench_backends.jax_grad_step(sizes, X, Y, dtype)
            bench_backends.first_losses_agree(steps, 1e-3 if dtype == np.float32 else 1e-9)
            big = sizes[1] >= 1024
            repeats = (5 if big else 41) if QUICK else (9 if big else 101)
            times = bench_backends.interleaved(steps, repeats, 0.002)
            t = {k: median(v) for k, v in times.items()}
            row = [f"{'-'.join(map(str, sizes))}", batch, np.dtype(dtype).name,
                   *(f"{t[k] * 1e3:.3g}" for k in steps)]
            if have["torch"]:
                row += [f"{ratio(times, f'symnet {b}', 'PyTorch autograd'):.2f}" for b in names]
            if have["jax"]:
                row.append(f"{ratio(times, 'symnet jax', 'jax.grad'):.2f}")
            rows.append(row)
            say("  " + " | ".join(map(str, row)))
    return "\n".join([
        "One training step (forward, loss, all gradients, SGD update) of the same network "
        "from the same parameters and batch, on this CPU with one thread (BLAS, PyTorch "
        "and XLA: `--xla_cpu_multi_thread_eigen=false`). "
        "*symnet numpy/jax/torch*: the generated `train_step` of each backend (symnet's "
        "derived backward pass printed for that library; JAX's compiled by `jax.jit`). "
        "*PyTorch autograd*: `nn.Sequential` + `F.cross_entropy` + `loss.backward()` + "
        "`optim.SGD`, eager. *jax.grad*: the network in jax.numpy, `jax.value_and_grad` and "
        "the update under `jax.jit`. The first losses are checked to agree. The machine is "
        "shared: the steps run interleaved (every one once per round, in rotating order) and "
        "the table gives medians of the rounds; ratios are medians of per-round ratios. "
        "benchmarks/gpu_check.sh gives the same table on a GPU.", "",
        table(head, rows)])


def api_section() -> str:
    rows = bench_api.measure(rounds=60 if QUICK else 200)
    for row in rows:
        say("  " + "  ".join(row))
    return "\n".join([
        "The documented API, `model.loss_and_grads(params, X, Y)`, checks its input before "
        "the generated step on every call, remembering nothing between calls "
        "(symnet/codegen/guard.py: keys, shapes and dtypes; NaN/inf by one dot product per "
        "array, one for all the parameters when they are views into the buffer model.init() "
        "makes; the target's domain by min and row sums, class labels' range by one argmax); "
        "the raw step is `model.module.loss_and_grads`. "
        "CPU time of this thread (time.thread_time), medians of interleaved rounds; ratios are "
        "medians of per-round ratios, quartiles in parentheses (the noise); *process CPU*: the "
        "ratio of the process's CPU time over all rounds. *checked*: the same "
        "X and Y in every call (a full batch); *labels*: integer labels, made one-hot on every "
        "call (the raw step gets one-hot rows); *own dict*: the parameters as separate arrays; "
        "*new arrays*: a new X and Y object in every "
        "call, as minibatches are (the raw step gets them too).", "",
        table(bench_api.HEAD, rows)])


def memory_section() -> str:
    rows = []
    for sizes_text, batch in STEP_CONFIGS:
        for dtype in (np.float32, np.float64):
            spec, sizes, model, X, Y = setup(sizes_text, batch, dtype)
            gen_p, hand_p = model.init(0), model.init(0)
            gen, hand = model.module, bench_step.HAND[len(sizes) - 1]

            def generated(gen=gen, p=gen_p, X=X, Y=Y):
                gen.train_step(p, X, Y, LR)

            g = peak_bytes(generated)
            h = peak_bytes(lambda hand=hand, p=hand_p, X=X, Y=Y: hand(p, X, Y, LR))
            n_params = sum(p.size for p in gen_p.values()) * np.dtype(dtype).itemsize
            acts = batch * sum(sizes[1:]) * np.dtype(dtype).itemsize
            row = [sizes_text, batch, np.dtype(dtype).name, f"{g / 2**20:.2f}",
                   f"{h / 2**20:.2f}", f"{g / h:.2f}", f"{n_params / 2**20:.2f}",
                   f"{acts / 2**20:.2f}"]
            rows.append(row)
            say("  " + " | ".join(map(str, row)))
    return "\n".join([
        "Peak memory allocated during one training step (tracemalloc, which sees NumPy's "
        "array allocations), above what was live before it, after a first step: the generated "
        "`train_step` computes into arrays it allocated at that first step (about the size of "
        "the parameters and of the layers' outputs, kept between steps), so it allocates "
        "almost nothing. For scale: the size of the "
        "parameters (the gradients take as much again) and of one copy of every layer's output "
        "(B × Σ widths).", "",
        table(["network", "batch", "dtype", "generated (MiB)", "hand-written (MiB)",
               "gen / hand", "parameters (MiB)", "B·Σ widths (MiB)"], rows)])


# ── symbolic: derivation and code generation time against depth and width ─────────────────


def mlp(depth: int, width: int) -> Network:
    """depth dense layers of `width` units (tanh between them), 4 outputs, softmax CE."""
    layers = []
    for _ in range(depth - 1):
        layers += [Dense(width, width), Tanh()]
    return Network([*layers, Dense(width, 4)], SoftmaxCrossEntropy())


def symbolic_times(net, repeats):
    """Median seconds of derive, codegen (the module's text) and loading it, and the size."""
    times = {"derive": [], "codegen": [], "load": []}
    for _ in range(repeats):
        t0 = cpu()
        d = sn.derive(net)
        t1 = cpu()
        source = sn.codegen(d)
        t2 = cpu()
        load_source(source)
        t3 = cpu()
        for k, v in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
            times[k].append(v)
    return {k: median(v) for k, v in times.items()}, d.count_nodes(), source.count("\n")


def fit(x, y):
    """(intercept, slope, R²) of the least-squares line y ≈ a + b x."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    b, a = np.polyfit(x, y, 1)
    residual = y - (a + b * x)
    return a, b, 1 - residual @ residual / ((y - y.mean()) @ (y - y.mean()))


def symbolic_section() -> str:
    sn.derive(mlp(3, 4))  # warm: each function's derivative is derived by SymPy once, cached
    depths = [1, 2, 5, 10, 20, 50, 100, 200] if QUICK else [1, 2, 5, 10, 20, 30, 50, 75, 100,
                                                            150, 200]
    repeats = 5 if QUICK else 9
    rows, series = [], {"derive": [], "codegen": [], "load": []}
    for depth in depths:
        t, nodes, lines = symbolic_times(mlp(depth, 16), repeats)
        for k in series:
            series[k].append(t[k])
        total = sum(t.values())
        rows.append([depth, f"{t['derive'] * 1e3:.1f}", f"{t['codegen'] * 1e3:.1f}",
                     f"{t['load'] * 1e3:.1f}", f"{total * 1e3 / depth:.2f}", nodes, lines])
        say("  depth " + " | ".join(map(str, rows[-1])))
    fits = []
    for k, ys in series.items():
        a, b, r2 = fit(depths, ys)
        fits.append([k, f"{b * 1e3:.2f}", f"{a * 1e3:.1f}", f"{r2:.4f}"])
    a, b, r2 = fit(depths, [sum(ts) for ts in zip(*series.values())])
    fits.append(["total", f"{b * 1e3:.2f}", f"{a * 1e3:.1f}", f"{r2:.4f}"])
    wide = []
    for width in (2, 16, 128, 1024, 8192):
        t, nodes, _ = symbolic_times(mlp(10, width), repeats)
        wide.append([width, f"{t['derive'] * 1e3:.1f}", f"{t['codegen'] * 1e3:.1f}",
                     f"{t['load'] * 1e3:.1f}", nodes])
        say("  width " + " | ".join(map(str, wide[-1])))
    return "\n".join([
        "Networks of `depth` dense layers of 16 units with tanh between them and softmax "
        f"cross-entropy; medians of {repeats} runs, in CPU milliseconds. *derive*: `sn.derive` "
        "(the chain rule over the tape); *codegen*: `sn.codegen` (the standalone module's "
        "text); *load*: compiling and executing that text (`sn.compile` = codegen + load). "
        "*nodes*: `Derivation.count_nodes()`, the total expression size.", "",
        table(["depth", "derive (ms)", "codegen (ms)", "load (ms)", "total per layer (ms)",
               "nodes", "lines of code"], rows), "",
        "Least-squares line time ≈ a + b·depth over these depths (R² near 1: linear in depth):",
        "", table(["stage", "b (ms per layer)", "a (ms)", "R²"], fits), "",
        "Width does not matter: 10 layers of each width (the shapes are symbols' dimensions; "
        "nothing is expanded entry by entry).", "",
        table(["width", "derive (ms)", "codegen (ms)", "load (ms)", "nodes"], wide)])


# ── explicit: the largest network whose per-weight formulas are derived in 10 s ───────────


class _Timeout(BaseException):  # not an Exception: SymPy's `except Exception` cannot swallow it
    pass


def timed_explicit(n: int, limit: float):
    """Seconds to derive the per-weight formulas of n-n-1 (sigmoid, MSE, batch 1), or None if
    that takes longer than `limit`; and the number of scalar formulas."""

    def alarm(signum, frame):
        raise _Timeout

    previous = signal.signal(signal.SIGPROF, alarm)
    signal.setitimer(signal.ITIMER_PROF, limit)  # a limit in CPU seconds, as cpu() measures
    start = cpu()
    try:
        e = sn.explicit(sn.parse(f"{n}-{n}-1 sigmoid sigmoid mse"), batch=1)
        return cpu() - start, len(e.equations)
    except _Timeout:
        return None, None
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def explicit_section(limit=10.0) -> str:
    module = sys.modules["symnet.printing.explicit"]  # (sn.explicit is the function)
    cap = module.MAX_SCALARS
    module.MAX_SCALARS = 10**9  # lifted for the search, reported separately
    try:
        timed_explicit(2, limit)  # warm
        rows, ok, bad, n = [], 0, None, 8
        while bad is None:  # grow until it no longer fits in `limit`
            t, count = timed_explicit(n, limit)
            rows.append((n, t, count))
            say(f"  {n}-{n}-1: " + (f"{t:.2f} s, {count} formulas" if t else f"> {limit} s"))
            ok, bad = (n, bad) if t is not None else (ok, n)
            n = int(n * (2 if QUICK else 1.5))
        while bad - ok > max(2, ok // (10 if QUICK else 25)):  # then bisect
            n = (ok + bad) // 2
            t, count = timed_explicit(n, limit)
            rows.append((n, t, count))
            say(f"  {n}-{n}-1: " + (f"{t:.2f} s, {count} formulas" if t else f"> {limit} s"))
            ok, bad = (n, bad) if t is not None else (ok, n)
    finally:
        module.MAX_SCALARS = cap
    rows.sort()
    best = next(r for r in rows if r[0] == ok)
    n_params = ok * ok + ok + ok + 1
    body = table(["network", "parameters", "scalar formulas", "CPU time (s)"],
                 [[f"{n}-{n}-1", n * n + 2 * n + 1, c if c else "–",
                   f"{t:.2f}" if t else f"> {limit:g}"] for n, t, c in rows])
    return "\n".join([
        f"`sn.explicit(net, batch=1)` for `n-n-1 sigmoid sigmoid mse` (the textbook network, "
        f"one sample), searching n: grown geometrically until over {limit:g} CPU seconds, then "
        f"bisected. The largest within {limit:g} s: **{ok}-{ok}-1, {n_params} parameters, "
        f"{best[2]} scalar formulas, {best[1]:.1f} s**. symnet refuses more than {cap} formulas "
        "by default (the printout is unreadable long before); the cap was lifted for this "
        "search.", "", body])


# ── checker: verify's cost against entry-by-entry central differences ─────────────────────


CHECK_SIZES = [(32, 24, 10), (64, 128, 16, 10), (784, 128, 10), (784, 256, 256, 10),
               (784, 1024, 200, 10)]


def checker_section() -> str:
    rows = []
    for sizes in CHECK_SIZES:
        for bug in (False, True):
            grads, loss, params, X, Y = bench_verify.make(bug, sizes=sizes)
            verify(grads, loss=loss, params=params, X=X, Y=Y)  # warm
            times, reports = [], []
            for _ in range(1 if QUICK else 3):
                t = cpu()
                reports.append(verify(grads, loss=loss, params=params, X=X, Y=Y))
                times.append(cpu() - t)
            report = reports[-1]
            t_loss = median([_time(loss, params, X, Y) for _ in range(11)])
            n = report.n_params
            found = "all ok" if report.ok else ", ".join(
                f"{r.name}: {r.diagnosis.split(';')[0][:60]}" for r in report.failures)
            row = ["-".join(map(str, sizes)), f"{n:,}", "W2 column 7 × 1.5" if bug else "none",
                   report.n_loss_evals, f"{median(times):.3f}", f"{2 * n:,}",
                   _duration(2 * n * t_loss), f"{2 * n / report.n_loss_evals:,.0f}×", found]
            rows.append(row)
            say("  " + " | ".join(map(str, row)))
    return "\n".join([
        "`sn.verify(grads, loss=…, params=…, X=…, Y=…)` on a hand-written ReLU MLP (batch 64, "
        "softmax cross-entropy), correct and with one wrong column in ∂L/∂W2 (found and "
        "localized by bisection). *central differences*: the 2·n_params loss evaluations of "
        "checking entry by entry, and their time from the measured time of one loss "
        "evaluation. Times in CPU seconds.", "",
        table(["network", "parameters", "bug", "loss evaluations", "verify (CPU s)",
               "central differences: evaluations", "central differences: time",
               "fewer evaluations", "verdict"], rows)])


def _time(f, *a) -> float:
    t = cpu()
    f(*a)
    return cpu() - t


def _duration(s: float) -> str:
    return f"{s:.2f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h"


# ── main ────────────────────────────────────────────────────────────────────────────────────

# ── conv: a CNN training step (bench_conv.py) ─────────────────────────────────────────────


def _layer_step_rows(bench) -> tuple[int, list]:
    """(repeats, table rows) of a layer family's step benchmark (bench_conv, bench_rnn): its
    first configuration with --quick, 7 rounds instead of 21."""
    configs = bench.CONFIGS[:1] if QUICK else bench.CONFIGS
    repeats = 7 if QUICK else 21
    return repeats, bench.measure((np.float32, np.float64), repeats, 0.05, configs,
                                  say=lambda row: say("  " + " | ".join(row)))


def conv_section() -> str:
    repeats, rows = _layer_step_rows(bench_conv)
    return "\n".join([
        f"One training step (loss_and_grads and the SGD update) of a CNN: symnet's generated "
        f"code, a vectorized hand-written NumPy CNN (im2col by `sliding_window_view`, col2im by "
        f"strided adds; its gradients checked equal first) and PyTorch eager on the CPU, one "
        f"thread. Medians of {repeats} interleaved rounds of 0.05 s; peak memory of one step "
        f"by tracemalloc (NumPy only: PyTorch's allocations are not traced). The issue's "
        f"target: generated ≤ 1.2× hand-written.", "", table(list(bench_conv.HEAD), rows)])


# ── rnn: an RNN training step (bench_rnn.py) ──────────────────────────────────────────────


def rnn_section() -> str:
    if bench_rnn.torch is not None:
        bench_rnn.torch.set_num_threads(args.threads)
    repeats, rows = _layer_step_rows(bench_rnn)
    return "\n".join([
        f"One training step (loss_and_grads and the SGD update) of RNN(n_in, h) (tanh), "
        f"LSTM(n_in, h) or GRU(n_in, h) (last state) → Dense(h, c) with softmax cross-entropy, T "
        f"steps: symnet's generated code, hand-written NumPy BPTT (gates and states kept from "
        f"the forward loop) and PyTorch eager `nn.RNN`/`nn.LSTM`/`nn.GRU` on the CPU, one "
        f"thread. Medians of "
        f"{repeats} interleaved rounds of 0.05 s; ratios above 1: the generated step is faster. "
        f"CPU time (this process's) is less sensitive than the wall clock to other processes "
        f"on a shared machine. The target: generated at least as fast as hand-written "
        f"(ratio ≥ 0.95).", "", table(list(bench_rnn.HEAD), rows)])


TITLES = {"step": "Training step",
          "backends": "Backends: symnet's step against PyTorch autograd and jax.grad",
          "api": "The checked API against the raw generated step",
          "memory": "Peak memory of a training step",
          "symbolic": "Derivation and code generation against depth and width",
          "explicit": "Explicit (per-weight) mode: the largest network in 10 s",
          "checker": "Checker: verify against entry-by-entry central differences",
          "conv": "CNN training step", "rnn": "Recurrent (RNN, LSTM, GRU) training step"}


def main():
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    if args.output != "-":  # before minutes of measuring: refused now, not at the end
        try:
            check_output(args.output, force=args.force)
        except SymnetError as e:
            parser.exit(2, f"run.py: error: {e}\n")
    start = time.perf_counter()
    out = ["# symnet benchmark results", "",
           f"`python benchmarks/run.py{' --quick' if QUICK else ''}"
           f"{' --only ' + ','.join(only) if len(only) < len(SECTIONS) else ''}`, "
           f"{time.strftime('%Y-%m-%d %H:%M')}.", "", "## Machine", "", machine()]
    say(out[-1])
    for name in SECTIONS:
        if name in only:
            say(f"\n## {TITLES[name]}")
            t = time.perf_counter()
            body = globals()[f"{name}_section"]()
            out += ["", f"## {TITLES[name]}", "", body, "",
                    f"<sub>{time.perf_counter() - t:.0f} s</sub>"]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    out += ["", f"Total {time.perf_counter() - start:.0f} s; load average at the end {load}."]
    if args.output == "-":
        say("\n".join(out))
        return
    written = write_output(args.output, "\n".join(out) + "\n", force=args.force)
    say(f"\nwrote {written} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()

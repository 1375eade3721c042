"""symnet's backends on a GPU: correctness first, then step times (gpu_check.sh runs this).

    PYTHONPATH=. python benchmarks/gpu_check.py              # on a machine with an NVIDIA GPU
    PYTHONPATH=. python benchmarks/gpu_check.py --cpu-ok     # anywhere: what is installed, CPU

1. Checks, float64, for CuPy, PyTorch on CUDA and JAX on the GPU: every activation × loss (and
   normalization, custom activations, weight decay) gives the NumPy backend's loss and gradients
   to 1e-12 relative (or to NumPy's own measured rounding noise, where a gradient is 0 by
   cancellation), the generated train_step gives NumPy's updated parameters, and `sn.check`
   (the backend against NumPy and finite differences) passes for a few networks.
2. Absolute step times (forward, loss, backward, SGD update; ReLU MLP, softmax cross-entropy):
   symnet's generated train_step on NumPy (this machine's CPU, all its cores), CuPy, PyTorch
   (CUDA) and JAX (GPU, jit), against PyTorch eager autograd on CUDA and jax.grad on the GPU,
   for 784-128-10/64 and 784-1024-1024-10/1024 in float32 and float64. Steps run interleaved;
   medians of rounds. For JAX also each difference between the two steps alone (lr on the
   device, donated parameters, jax.grad with a traced lr) and the kernels each compiles to.
   Every float32 matrix product is true float32 on every library (JAX's
   default on GPUs is TensorFloat-32: set to "highest" here; PyTorch's default is float32).

Writes the report to $OUT/gpu_results.md when OUT is set. Exit status 1 if a check fails, 2 if
a backend that must be there (without --cpu-ok: all three on a GPU) is missing. A time budget
(--budget, seconds) skips what would not fit, and says so.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import traceback

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--cpu-ok", action="store_true",
                    help="run whatever backends are installed, on the CPU if there is no GPU "
                         "(to test this script's logic without a GPU)")
parser.add_argument("--budget", type=float, default=270.0, help="seconds for everything")
parser.add_argument("--quick", action="store_true", help="fewer networks and rounds")
args = parser.parse_args()

START = time.perf_counter()
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import symnet as sn  # noqa: E402
from symnet.checking.check import _against_numpy, draw  # noqa: E402
from symnet.codegen.model import to_numpy  # noqa: E402

OUT: list[str] = []


def say(text=""):
    print(text, flush=True)
    OUT.append(text)


def left() -> float:
    return args.budget - (time.perf_counter() - START)


# ── which backends, on which device ─────────────────────────────────────────────────────────


def find_backends() -> dict:
    """{name: (device, where)}: "cupy", "torch", "jax" with the device to compile for."""
    found, missing = {}, []
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            found["cupy"] = (None, f"GPU {cupy.cuda.Device().id}: "
                                   f"{cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()}")
        else:
            missing.append("cupy (no GPU)")
    except Exception as e:  # noqa: BLE001 - not installed, or no driver
        missing.append(f"cupy ({type(e).__name__}: {str(e)[:80]})")
    try:
        import torch

        if torch.cuda.is_available():
            found["torch"] = ("cuda", f"cuda: {torch.cuda.get_device_name(0)}")
        elif args.cpu_ok:
            found["torch"] = ("cpu", "cpu (no CUDA)")
        else:
            missing.append("torch (no CUDA)")
    except ImportError as e:
        missing.append(f"torch ({e})")
    try:
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")
        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        if gpus:
            found["jax"] = (gpus[0], f"gpu: {gpus[0].device_kind}")
        elif args.cpu_ok:
            found["jax"] = (jax.devices()[0], "cpu (no GPU)")
        else:
            missing.append("jax (no GPU device)")
    except ImportError as e:
        missing.append(f"jax ({e})")
    return found, missing


def versions() -> list[str]:
    out = [f"Python {platform.python_version()}, NumPy {np.__version__}, "
           f"SymPy {__import__('sympy').__version__}, {os.cpu_count()} CPU cores"]
    for name in ("cupy", "torch", "jax"):
        try:
            out.append(f"{name} {__import__(name).__version__}")
        except ImportError:
            out.append(f"{name}: not installed")
    return out


# ── 1. checks ───────────────────────────────────────────────────────────────────────────────


def specs() -> list[str]:
    from symnet.nn.layers import ACTIVATIONS
    from symnet.nn.losses import LOSSES

    out = []
    for act in sorted(ACTIVATIONS):  # every activation (hidden and output) with MSE …
        out.append(f"3-4-2 {act} {act} mse")
    for loss in sorted(LOSSES):  # … every loss after tanh
        output = getattr(LOSSES[loss], "probabilities_from", None) or "tanh"
        out.append(f"3-4-2 tanh {output} {loss}")
    out += ["3-4-5-2 elu/gelu mse weight_decay=0.1", "4-6-5-3 layernorm,tanh/relu softmax_ce",
            "2-8-1 batchnorm,act(x*sigmoid(theta*x), theta=1) bce_logits",
            "3-5-2 act(abs(x) + min(x, 0.5)) mse", "5-4-3 leaky_relu(0.1) softmax ce"]
    return out[:8] if args.quick else out


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    err = float(np.max(np.abs(a - b))) if b.size else 0.0
    return err / scale if scale else err


def check_backend(name, device, seconds) -> tuple[int, int, float]:
    """(networks checked, failures, worst relative error) of backend `name` on `device`, in
    about `seconds` (the networks left then are skipped, and the report says so)."""
    failures, worst, n = 0, 0.0, 0
    deadline = time.perf_counter() + seconds
    for spec in specs():
        if time.perf_counter() > deadline or left() < 60:
            say(f"  (time budget: the remaining networks of {name} skipped)")
            break
        n += 1
        try:
            ref = sn.compile(spec)
            model = sn.compile(spec, backend=name, device=device)
            params, X, Y = draw(ref.network, ref, 0, 5)
            agree = _against_numpy(ref, model, params, X, Y, 1e-12)
            worst = max([worst] + [r.max_rel_err for r in agree.results
                                   if "batchnorm" not in spec])
            problems = [f"{r.name}: {r.max_rel_err:.3g}" for r in agree.failures]
            p_ref = {k: v.copy() for k, v in params.items()}
            ref.train_step(p_ref, X, Y, 0.1)
            p = model.init(0)
            p.update({k: model.asarray(v, next(iter(p.values()))) for k, v in params.items()})
            model.train_step(p, X, Y, 0.1)
            problems += [f"train_step {k}: {rel(to_numpy(p[k]), p_ref[k]):.3g}" for k in p_ref
                         if rel(to_numpy(p[k]), p_ref[k]) > 1e-12]
        except Exception as e:  # noqa: BLE001 - reported, counted, and the next one runs
            problems = [f"raised {type(e).__name__}: {e}"]
            traceback.print_exc()
        if problems:
            failures += 1
            say(f"  FAIL {name} `{spec}`: {'; '.join(problems)}")
    for spec in ["4-8-3 relu softmax_ce", "2-6-1 batchnorm,tanh mse weight_decay=0.1"]:
        if left() < 60:
            break
        n += 1
        try:
            report = sn.check(spec, backend=name, device=device)
            ok = report.ok
        except Exception as e:  # noqa: BLE001
            ok, report = False, f"raised {type(e).__name__}: {e}"
        if not ok:
            failures += 1
            say(f"  FAIL sn.check(`{spec}`, backend={name!r}):\n{report}")
    return n, failures, worst


# ── 2. step times ───────────────────────────────────────────────────────────────────────────


def time_steps(found) -> list[list[str]]:
    import bench_backends as bb

    configs = [((784, 128, 10), 64), ((784, 1024, 1024, 10), 1024)]
    rows = []
    for sizes, batch in configs:
        for dtype in (np.float32, np.float64):
            if left() < 25:
                say(f"  (time budget: {'-'.join(map(str, sizes))}/{batch} {np.dtype(dtype).name}"
                    " and later skipped)")
                return rows
            X, Y, labels = bb.data(sizes, batch, dtype)
            steps = {"symnet numpy (CPU)": bb.symnet_step("numpy", sizes, X, Y, dtype)}
            for name, (device, _) in found.items():
                steps[f"symnet {name}"] = bb.symnet_step(name, sizes, X, Y, dtype, device)
            if "torch" in found:
                steps["PyTorch autograd"] = bb.torch_autograd_step(sizes, X, labels, dtype,
                                                                   found["torch"][0])
            if "jax" in found:
                steps["jax.grad"] = bb.jax_grad_step(sizes, X, Y, dtype)
                # what separates symnet's JAX step from jax.grad's (RESULTS.md): each
                # difference alone, so that one run says which one costs the time
                device = found["jax"][0]
                steps.update({
                    "symnet jax, lr on device": bb.symnet_step("jax", sizes, X, Y, dtype,
                                                               device, lr_on_device=True),
                    "symnet jax, donated": bb.symnet_step("jax", sizes, X, Y, dtype, device,
                                                          donate=True),
                    "jax.grad, lr traced": bb.jax_grad_step(sizes, X, Y, dtype,
                                                            lr_traced=True)})
            try:
                bb.first_losses_agree(steps, 1e-3 if dtype == np.float32 else 1e-9)
                big = batch >= 1024
                times = bb.interleaved(steps, 5 if big else 15, 0.05 if big else 0.02)
            except Exception as e:  # noqa: BLE001 - a failed timing is reported, not fatal
                traceback.print_exc()
                say(f"  timing {'-'.join(map(str, sizes))}/{batch} failed: {e}")
                continue
            t = {k: float(np.median(v)) for k, v in times.items()}
            name = [f"{'-'.join(map(str, sizes))}", str(batch), np.dtype(dtype).name]
            rows.append([*name, *(f"{t[c] * 1e3:.3g}" if c in t else "–" for c in COLUMNS)])
            say("  " + " | ".join(rows[-1]))
            if "jax" in found:
                JAX_ROWS.append([*name, *(f"{t[c] * 1e3:.3g}" if c in t else "–"
                                          for c in JAX_COLUMNS)])
                JAX_ROWS[-1] += [compiled(steps[c]) for c in ("symnet jax", "jax.grad")]
                say("  " + " | ".join(JAX_ROWS[-1]))
    return rows


def compiled(step) -> str:
    """The kernels of a compiled JAX step, as `fusions/custom-calls/copies+transposes`."""
    import bench_backends as bb

    try:
        ops = bb.compiled_ops(step.hlo())
    except Exception as e:  # noqa: BLE001 - the counts are a diagnosis, not a check
        return f"({type(e).__name__})"
    return (f"{ops.get('fusion', 0)}/{ops.get('custom-call', 0) + ops.get('dot', 0)}/"
            f"{ops.get('copy', 0) + ops.get('transpose', 0)}")


COLUMNS = ["symnet numpy (CPU)", "symnet cupy", "symnet torch", "symnet jax", "PyTorch autograd",
           "jax.grad"]
JAX_COLUMNS = ["symnet jax", "symnet jax, lr on device", "symnet jax, donated", "jax.grad",
               "jax.grad, lr traced"]
JAX_ROWS: list[list[str]] = []


def table(head, rows, text_columns=1) -> str:
    """A Markdown table, its first `text_columns` columns left-aligned, numbers right."""
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(
        "---" if i < text_columns else "---:" for i in range(len(head))) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main() -> int:
    say("# symnet backends on a GPU (benchmarks/gpu_check.py)")
    say()
    found, missing = find_backends()
    for line in versions():
        say(f"- {line}")
    for name, (_, where) in found.items():
        say(f"- {name}: {where}")
    for m in missing:
        say(f"- missing: {m}")
    if missing and not args.cpu_ok:
        say("\nbackends missing (run with --cpu-ok to go on without them)")
        write()
        return 2
    say("\n## Checks (float64): each backend against NumPy (≤ 1e-12 relative) and finite "
        "differences\n")
    failed = 0
    rows = []
    share = max(20.0, (left() - 100) / max(1, len(found)))  # the rest is for the timings
    for name, (device, where) in found.items():
        t = time.perf_counter()
        n, bad, worst = check_backend(name, device, share)
        failed += bad
        rows.append([name, where, str(n), str(bad), f"{worst:.2g}",
                     f"{time.perf_counter() - t:.0f} s"])
        say(f"  {name}: {n} networks, {bad} failed, worst relative error {worst:.2g}")
    say()
    say(table(["backend", "device", "networks", "failed", "worst rel. error", "time"], rows,
              text_columns=2))
    say("\n## Step times (ms per training step, medians of interleaved rounds)\n")
    steps = time_steps(found)
    say()
    say(table(["network", "batch", "dtype", *(f"{c} (ms)" for c in COLUMNS)], steps,
              text_columns=1))
    if JAX_ROWS:
        say("\n## JAX: symnet's step against jax.grad, one difference at a time\n")
        say(table(["network", "batch", "dtype", *(f"{c} (ms)" for c in JAX_COLUMNS),
                   "symnet jax kernels", "jax.grad kernels"], JAX_ROWS, text_columns=1))
        say("\n*lr on device*: the learning rate passed as an array placed once (a Python "
            "float is copied to the device at every call); *donated*: the same step under "
            "`jax.jit(..., donate_argnums=0)`, lr on device; *jax.grad, lr traced*: lr an "
            "argument (a Python float) instead of a constant. Kernels: fusions / matrix "
            "products (custom-calls and dots) / copies and transposes in the optimized HLO.")
    where = ", ".join(f"{k} on {w}" for k, (_, w) in found.items())
    say("\nsymnet numpy runs on the CPU with NumPy's default BLAS threads "
        f"({os.cpu_count()} cores); {where}; – not measured. Steps are timed with one device "
        "synchronization per round of n steps.")
    say(f"\n{'ALL CHECKS PASSED' if not failed else f'{failed} CHECK(S) FAILED'}; "
        f"total {time.perf_counter() - START:.0f} s")
    write()
    return 1 if failed else 0


def write():
    out = os.environ.get("OUT")
    if out:
        path = os.path.join(out, "gpu_results.md")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(OUT) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())

"""Naming a black-box mistake once the network is known (the last stage of `verify`).

With the network identified from the user's loss (`identify`), each wrong gradient is, in turn:

1. matched against the mutants of the derivation (f′ missing, f′ at the output, the wrong
   layer's input, W where Wᵀ belongs, a scaled or sign-flipped loss gradient, …), as reference
   mode does: a match names the mistake and prints the formula the user's code implements;
2. diagnosed against the now fully known true gradient (transposed, a constant factor, an L2
   term with the wrong coefficient, a few rows or columns), or against the gradient of the same
   loss over part of the batch (a sample skipped, only the last sample kept);
3. placed by which tensors are wrong together: every layer wrong → the loss gradient at the
   output; the layers below one layer wrong and the rest right → the step through that layer's
   activation; W wrong with its b right → the layer input of that weight gradient; around a
   normalization layer → its backward pass.

`name_mistakes` changes no verdict: finite differences decided them. `sharpen` is the one
place where the identified network's exact gradient overrules finite differences, and only
where that gradient agrees with every finite-difference probe of the tensor: a passing tensor
of a noisy (float32) loss is failed when it is off the exact gradient by more than 1e-3, and a
marginal finite-difference failure is passed when the user's gradient equals it to 1e-4.
"""

from __future__ import annotations

import numpy as np

from .diagnose import Truth, diagnose
from .finite_diff import GRAD_ROUNDING_ULPS, eps_of

NORM_WORDS = ("gamma", "beta")  # BatchNorm/LayerNorm parameters, as people name them


def name_mistakes(reference, layers, grads_at_point, params, X, Y, results, facts):
    """Refine the kind and diagnosis of each wrong result, in place. `reference`: the
    identified network's Reference (user names and layout); `layers`: [(W name, b name)]."""
    wrong = [r for r in results if r.verdict == "wrong"]
    unnamed = [r for r in wrong if not r.mutant]
    if unnamed and reference is not None:
        _, t = reference(params, X, Y)
        for r in unnamed:
            _against_truth(r, grads_at_point[r.name], t[r.name], params, reference, X, Y, facts)
    _tiny_follow_the_rest(wrong)
    _by_structure([r for r in wrong if r.kind in ("other", "")], results, layers, params)
    _shapes_of_another_layer([r for r in results if r.verdict == "shape" and r.kind == "other"],
                             layers, params, grads_at_point)


def _shapes_of_another_layer(shaped, layers, params, g_all):
    """A weight gradient shaped with another layer's width (the activations of the wrong
    layer multiplied in): (n_out, n_other) where (n_out, n_in) belongs, either way round."""
    if not layers or not shaped:
        return
    widths = {n for w, _ in layers for n in np.shape(params[w])}
    weights = {w for w, _ in layers}
    for r in shaped:
        if r.name not in weights or np.ndim(g_all.get(r.name)) != 2:
            continue
        got, want = np.shape(g_all[r.name]), np.shape(params[r.name])
        for keep in (0, 1):
            other = 1 - keep
            if got[keep] == want[keep] and got[other] != want[other] and got[other] in widths:
                r.kind = "wrong_layer_input"
                r.diagnosis += (f" Its other axis has {got[other]} entries, the width of another "
                                "layer: the activations of the wrong layer were multiplied into "
                                "this weight gradient.")
                break


def _tiny_follow_the_rest(wrong):
    """On a tensor of one or two entries every error looks like a factor (a 2-class softmax
    bias has one degree of freedom): where the other wrong tensors agree on one kind, it is
    that kind's too."""
    for r in wrong:
        if int(np.prod(r.shape)) > 2 or r.kind not in ("scaled", "sign", "other", ""):
            continue
        others = {o.kind for o in wrong if o is not r and int(np.prod(o.shape)) > 2}
        if len(others) == 1 and (kind := others.pop()) not in ("other", ""):
            r.kind = kind
            r.diagnosis = (f"{r.diagnosis}\n  (a tensor of {int(np.prod(r.shape))} entries, "
                           f"where any error looks like a factor: the others point to {kind})")


def sharpen(reference, g_all, params, X, Y, results, probes_of, facts, noisy=False) -> list[str]:
    """Passing tensors re-judged against the identified network's exact gradient t, where
    every finite-difference probe of that tensor agrees with t (so t is the loss's gradient
    along every direction measured): a float32 loss hides errors of a percent from finite
    differences, not from t. Returns the names found wrong."""
    _, t_all = reference(params, X, Y)

    def agrees(name):  # the exact gradient along every direction measured on this tensor
        t = np.asarray(t_all[name], dtype=np.float64)
        return all(abs(float(np.vdot(t, p.v)) - p.d) <= p.tol for p in probes_of[name])

    passing = [r.name for r in results if r.verdict == "ok" and r.name in t_all
               and probes_of.get(r.name)]
    # the identified network (whose loss equals the user's at four points) may overrule a
    # marginal failure only if it is also this loss along every probe of every tensor that
    # passed, where any did
    trusted = all(agrees(name) for name in passing)
    found = []
    for r in results:
        probes = probes_of.get(r.name)
        if trusted and r.verdict == "wrong" and not r.mutant and r.name in t_all and probes:
            _confirm_marginal(r, g_all, t_all[r.name], 100 if noisy else 10)
        if r.verdict != "ok" or not probes or r.name not in t_all:
            continue
        if not agrees(r.name):
            continue  # the identified network is not this loss along some direction
        t = np.asarray(t_all[r.name], dtype=np.float64)
        g = np.asarray(g_all[r.name], dtype=np.float64).reshape(t.shape)
        # far above float32 rounding of the user's own gradient code, far below a 1/(B − 1)
        tol = 1e-3 * (np.abs(t) + np.mean(np.abs(t)))
        bad = np.abs(g - t) > tol
        if not bad.any():
            continue
        d = diagnose(g, Truth(t, tol), name=r.name, **dict(facts, theta=params[r.name]))
        idx = [tuple(map(int, i)) for i in np.argwhere(bad)]
        r.verdict, r.kind, r.diagnosis = "wrong", d.kind, d.text
        r.bad_entries, r.n_bad_entries = idx[:100], len(idx)
        r.max_abs_err = float(np.abs(g - t).max())
        found.append(r.name)
    return found


def _confirm_marginal(r, g_all, t, margin):
    """A "wrong" from finite differences that missed by less than `margin` × their bound (a
    noisy loss, a step across a ReLU unit near 0: 10, or 100 for a float32 loss) while the
    user's gradient equals the identified network's exact one to 1e-4: the finite
    differences erred, not the gradient."""
    if not r.max_abs_err <= margin * r.tolerance:
        return
    t = np.asarray(t, dtype=np.float64)
    g = np.asarray(g_all[r.name], dtype=np.float64).reshape(t.shape)
    if np.all(np.abs(g - t) <= 1e-4 * (np.abs(t) + np.mean(np.abs(t)))):
        r.verdict, r.kind, r.bad_entries, r.n_bad_entries = "ok", "", [], 0
        r.diagnosis = (f"finite differences missed by less than {margin}× their bound, but "
                       "your gradient equals the exact gradient of the network identified from "
                       "your loss (see the notes): right.")


def _against_truth(r, g, t, params, reference, X, Y, facts):
    g = np.asarray(g, dtype=np.float64).reshape(np.shape(t))
    tol = _tolerance(g, t, r)
    found = diagnose(g, Truth(t, tol), name=r.name, **dict(facts, theta=params[r.name]))
    # A fitted factor (or any factor on a tensor of one or two entries, where every error is
    # one) explains less than part of the batch would: try that first.
    fitted = found.kind == "scaled" and "constant" in found.text
    if found.kind not in ("other",) and not fitted:
        r.kind, r.diagnosis = found.kind, found.text
        return
    better = _l2_coefficient(g, t, tol, params[r.name], r.name) if not fitted else None
    better = better or _part_of_the_batch(g, r.name, params, reference, X, Y)
    if better is not None:
        r.kind, r.diagnosis = better
    elif fitted:
        r.kind, r.diagnosis = found.kind, found.text


def _tolerance(g, t, r):
    dtype = np.float32 if r.tolerance > 1e-9 * max(1.0, float(np.abs(t).max())) else np.float64
    return GRAD_ROUNDING_ULPS * eps_of(dtype) * (np.abs(t) + np.mean(np.abs(t)))


def _l2_coefficient(g, t, tol, theta, name):
    """g − t = κ·θ with one κ ≠ 0 for every entry: an L2 term with the wrong coefficient."""
    theta = np.asarray(theta, dtype=np.float64).reshape(np.shape(t))
    den = float(np.vdot(theta, theta))
    if not den or theta.size <= 2:  # on one or two entries any error is "κ·θ"
        return None
    kappa = float(np.vdot(g - t, theta)) / den
    if np.max(np.abs(kappa * theta)) <= 10 * np.max(tol) or np.any(
            np.abs(g - t - kappa * theta) > tol + 1e-9 * np.abs(t).max()):
        return None
    return ("l2_wrong", f"an L2 term with the wrong coefficient: yours = true + {kappa:.6g}·{name}"
                        " (the penalty's gradient is counted with another factor, e.g. λ where "
                        "(λ/n) belongs, or a λ/2 differentiated as λ/2).")


def _part_of_the_batch(g, name, params, reference, X, Y):
    """g = s·(the true gradient over part of the batch): a sample skipped, or only the last
    sample's contribution kept (an accumulator overwritten in a loop)."""
    columns = reference.layout.samples == "columns"
    B = np.shape(X)[1 if columns else 0]
    if B < 3 or np.size(g) <= 2:  # on one or two entries any part of the batch "fits"
        return None
    parts = {"the last sample is left out": slice(0, B - 1),
             "the first sample is left out": slice(1, B),
             "only the last sample counts (an accumulator overwritten, not added to, in a "
             "loop over the samples)": slice(B - 1, B)}
    for words, rows in parts.items():
        Xp = X[:, rows] if columns else X[rows]
        Yp = Y[rows] if np.ndim(Y) == 1 or not columns else Y[:, rows]
        try:
            _, t = reference(params, Xp, Yp)
        except (ValueError, ArithmeticError):
            continue
        tp = np.asarray(t[name], dtype=np.float64).reshape(np.shape(g))
        truth = Truth(tp, 1e-6 * (np.abs(tp) + np.mean(np.abs(tp))))
        s = truth.scale_of(g)
        if np.isfinite(s) and s > 0 and truth.agrees(g / s):
            return ("partial", f"part of the batch: {words} (yours = {s:.4g} × the true "
                               "gradient of that part).")
    return None


def _by_structure(unnamed, results, layers, params):
    """Kinds from which tensors are wrong together (see the module docstring)."""
    if not unnamed:
        return
    bad = {r.name for r in results if not r.ok}
    # a tensor already named (a factor, a transpose, …) is a mistake of its own: where some
    # are, the others cannot be placed by the pattern of the whole
    named = any(r.kind not in ("other", "") and int(np.prod(r.shape)) > 2
                for r in results if not r.ok)
    names = list(params)
    norm = [k for k in names if k.lower().rstrip("0123456789_").endswith(NORM_WORDS)]
    for r in unnamed:
        kind, words = _place(r.name, bad, layers, names, norm, named)
        if kind:
            r.kind = kind
            r.diagnosis = f"{r.diagnosis}\n  Where: {words}"


def _place(name, bad, layers, names, norm, named=False):
    if norm:
        first = min(names.index(k) for k in norm)
        before = set(names[:first])
        if name in norm or (bad <= before | set(norm) and bad & before):
            return ("normalization_wrong", "the tensors before the normalization layer are "
                    "wrong and those after it right: its backward pass (the mean and variance "
                    "terms of dx, or dγ) is the likely mistake.")
        return None, ""
    if not layers:
        return None, ""
    wrong = [(w in bad, b in bad) for w, b in layers]
    k = next(i for i, (w, b) in enumerate(layers) if name in (w, b))
    if all(w and b for w, b in wrong):
        if named:
            return None, ""
        return ("loss_gradient_wrong", "every layer's gradients are wrong, by no constant "
                "factor: the error starts at the output, in ∂L/∂Z of the last layer (the loss "
                "gradient, e.g. softmax − Y, or an extra output-activation derivative).")
    w_bad, b_bad = wrong[k]
    if w_bad and not b_bad:
        return ("wrong_layer_input", f"{layers[k][0]} is wrong while {layers[k][1]} is right: "
                "δ of this layer is right, so the input multiplied into the weight gradient "
                "is the wrong layer's (or the pre-activation instead of the activation).")
    cut = next((i for i, (w, b) in enumerate(wrong) if not (w or b)), None)
    if cut is not None and all(w and b for w, b in wrong[:cut]) and not any(
            w or b for w, b in wrong[cut:]):
        return ("activation_derivative_wrong", f"the layers up to {layers[cut - 1][0]} are wrong "
                f"and from {layers[cut][0]} on right: the step from δ of layer {cut + 1} back "
                f"through the activation of layer {cut} is wrong (its derivative f′, where it "
                "is evaluated, or the weight it is multiplied by).")
    return None, ""

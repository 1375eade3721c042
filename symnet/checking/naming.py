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

The verdicts are never changed here: finite differences decided them. Only kinds and words
are added.
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
    _by_structure([r for r in wrong if r.kind in ("other", "")], results, layers, params)
    _tiny_follow_the_rest(wrong)


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


def _against_truth(r, g, t, params, reference, X, Y, facts):
    g = np.asarray(g, dtype=np.float64).reshape(np.shape(t))
    tol = _tolerance(g, t, r)
    found = diagnose(g, Truth(t, tol), name=r.name, **dict(facts, theta=params[r.name]))
    # A fitted factor (or any factor on a tensor of one or two entries, where every error is
    # one) explains less than part of the batch would: try that first.
    fitted = found.kind == "scaled" and ("constant" in found.text or g.size <= 2)
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
    if not den:
        return None
    kappa = float(np.vdot(g - t, theta)) / den
    if kappa == 0 or np.any(np.abs(g - t - kappa * theta) > tol + 1e-9 * np.abs(t).max()):
        return None
    return ("l2_wrong", f"an L2 term with the wrong coefficient: yours = true + {kappa:.6g}·{name}"
                        " (the penalty's gradient is counted with another factor, e.g. λ where "
                        "(λ/n) belongs, or a λ/2 differentiated as λ/2).")


def _part_of_the_batch(g, name, params, reference, X, Y):
    """g = s·(the true gradient over part of the batch): a sample skipped, or only the last
    sample's contribution kept (an accumulator overwritten in a loop)."""
    columns = reference.layout.samples == "columns"
    B = np.shape(X)[1 if columns else 0]
    if B < 3:
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
    names = list(params)
    norm = [k for k in names if k.lower().rstrip("0123456789_").endswith(NORM_WORDS)]
    for r in unnamed:
        kind, words = _place(r.name, bad, layers, names, norm)
        if kind:
            r.kind = kind
            r.diagnosis = f"{r.diagnosis}\n  Where: {words}"


def _place(name, bad, layers, names, norm):
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
        return ("loss_gradient_wrong", "every layer's gradients are wrong, by no constant "
                "factor: the error starts at the output, in ∂L/∂Z of the last layer (the loss "
                "gradient, e.g. softmax − Y, or an extra output-activation derivative).")
    w_bad, b_bad = wrong[k]
    others_right = all(not (w or b) for i, (w, b) in enumerate(wrong) if i != k)
    if w_bad and not b_bad and others_right:
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

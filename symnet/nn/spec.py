"""Network specs: a compact string, or a TOML file. Parsed by hand, never evaluated.

String form: `SIZES HIDDEN [OUTPUT] LOSS [key=value …]`

    "2-3-1 sigmoid sigmoid mse"        sigmoid in the hidden layer and at the output
    "4-8-8-3 relu softmax_ce"          ReLU hidden layers, linear output (logits)
    "2-1 sigmoid bce"                  no hidden layer: the one activation is the output's
    "2-8-1 leaky_relu(0.1) bce_logits reduction=sum weight_decay=1e-4"
    "4-8-3 layernorm,tanh softmax ce"  a chain after each hidden dense layer; softmax output
    "2-16-1 act(x*tanh(softplus(x))) bce_logits"            a custom activation (Mish)
    "2-8-1 batchnorm,act(x*sigmoid(theta*x), theta=1) bce_logits"  with a learned θ

HIDDEN and OUTPUT are each a chain of layer words joined by commas (no spaces around the
commas), applied in order after every hidden dense layer and after the output dense layer.
One activation per hidden layer: chains joined by '/', one per hidden layer
(`"4-8-8-3 tanh/relu softmax_ce"`, `"4-8-8-3 layernorm,tanh/relu softmax_ce"`); a comma list
of plain activations with exactly one per hidden layer (`tanh,relu`) is read the same way
(two activations in a row after one dense layer are never valid). Layer words:
an activation (`relu`, `leaky_relu(0.1)`, …), `softmax`, `layernorm` or `batchnorm` (optionally
with eps: `batchnorm(1e-3)`), or `act(FORMULA[, name=value …])`, a custom activation whose
formula is read by `algebra.formula` and whose `name=value` pairs declare learned scalars with
their initial values. Spaces are allowed inside parentheses. Custom activations are named
`act`, `act2`, … in order of appearance.

TOML form: either `spec = "…"`, or the fields `sizes`, `hidden`, `output`, `loss`,
`reduction`, `weight_decay`, `decay`, at top level or under `[network]`.

Options: `reduction=sum` (default mean), `weight_decay=λ` ((λ/2)‖W‖² over the dense weights
only), `decay=all` (the same term over every parameter, as PyTorch's optimizers do).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import sympy as sp

from ..algebra.formula import exact_number
from ..errors import SpecError
from .activation import Activation, CustomActivation
from .layers import ACTIVATIONS, Dense, Identity, Softmax
from .losses import LOSSES
from .network import Network
from .normalization import NORMALIZATIONS

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

_WORD = re.compile(r"([a-z_]+)(?:\((.*)\))?", re.DOTALL)
_OPTION = re.compile(r"([a-z_]+)=(.*)", re.DOTALL)
OPTIONS = ("reduction", "weight_decay", "decay", "scale")
_PARAMETRIZED = {"leaky_relu", "elu"}
LAYER_WORDS = ("softmax", *NORMALIZATIONS, "act(formula)")  # besides the activations


# Names people write for symnet's words (PyTorch's, Keras', the literature's).
ALIASES = {
    "cross_entropy": "softmax_ce", "crossentropy": "softmax_ce", "ce_logits": "softmax_ce",
    "crossentropyloss": "softmax_ce", "nll": "ce", "bce_with_logits": "bce_logits",
    "bcewithlogits": "bce_logits", "bcewithlogitsloss": "bce_logits", "bceloss": "bce",
    "l2": "mse", "mseloss": "mse", "linear": "identity", "none": "identity", "swish": "silu",
    "logistic": "sigmoid", "layer_norm": "layernorm", "batch_norm": "batchnorm",
    "batchnorm1d": "batchnorm", "leakyrelu": "leaky_relu",
}


def _did_you_mean(word: str, known) -> str:
    """" (did you mean 'relu'?)" for a near miss of a known word: its case, an alias, or a
    close spelling; "" when nothing is close."""
    import difflib

    known = list(known)
    name = word.split("(")[0]
    guess = next((k for k in known if k.lower() == name.lower()), None)
    guess = guess or (ALIASES.get(name.lower()) if ALIASES.get(name.lower()) in known else None)
    if guess is None:
        close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.75)
        guess = close[0] if close else None
    return f" (did you mean {guess!r}?)" if guess and guess != word else ""


def _allowed(kind: str) -> str:
    names = [*ACTIVATIONS, *LAYER_WORDS] if kind == "activation" else LOSSES
    return ", ".join(names)


def _split(text: str, separator: str | None = None) -> list[tuple[str, int]]:
    """(piece, offset) for the pieces of `text` between separators outside parentheses
    (whitespace, dropping empty pieces, when `separator` is None): `act(max(x, 0)) mse` is
    two words, `layernorm,act(max(x, 0))` two links of a chain."""
    pieces, depth, opened, start = [], 0, [], 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
            opened.append(i)
        elif ch == ")":
            if not depth:
                raise SpecError(f"unmatched ')' at column {i + 1} of {text!r}")
            depth -= 1
            opened.pop()
        elif depth == 0 and (ch.isspace() if separator is None else ch == separator):
            pieces.append((text[start:i], start))
            start = i + 1
    if depth:
        raise SpecError(f"the '(' at column {opened[-1] + 1} of {text!r} is never closed")
    pieces.append((text[start:], start))
    return [p for p in pieces if p[0]] if separator is None else pieces


class _Tokens:
    def __init__(self, text: str):
        self.text = text
        self.items = _split(text)

    def error(self, i: int, message: str) -> SpecError:
        token, col = self.items[i]
        return SpecError(
            f"{message} (token {i + 1}, {token!r}, at column {col + 1} of {self.text!r})"
        )


def parse_number(text: str, what: str) -> sp.Rational:
    """A spec number, exact; SpecError (fast) unless it is a finite float64."""
    return exact_number(text, what)


def layers_after(word: str, width: int, names: dict | None = None) -> list:
    """The layers a chain word puts after a dense layer of `width` units (`relu`,
    `layernorm,tanh`, `act(x*tanh(softplus(x)))`); `names` numbers custom activations."""
    if not isinstance(word, str) or not word:
        raise SpecError(f"a layer word is a non-empty string, got {word!r}")
    layers = [_layer(part, width, {} if names is None else names) for part, _ in _split(word, ",")]
    return [la for la in layers if not isinstance(la, Identity)]


def _layer(word: str, width: int, names: dict):
    m = _WORD.fullmatch(word)
    name, arg = (m.group(1), m.group(2)) if m else (word, None)
    if name == "act":
        if not arg:
            raise SpecError("act needs a formula in x, e.g. act(x*tanh(softplus(x))); "
                            f"got {word!r}")
        return _custom(arg, names)
    if name == "softmax" and arg is None:
        return Softmax()
    if name in NORMALIZATIONS:
        eps = {} if arg is None else {"eps": parse_number(arg, f"the eps of {name}")}
        return NORMALIZATIONS[name](width, **eps)
    return activation(word)


def _custom(arg: str, names: dict) -> CustomActivation:
    """`act(FORMULA, beta=1)`: the formula, then each learned scalar with its initial value."""
    (formula, _), *rest = _split(arg, ",")
    params = {}
    for text, _ in rest:
        key, eq, value = (t.strip() for t in text.partition("="))
        if not eq:
            raise SpecError(f"after the formula, act(…) takes name=value pairs, got {text!r}")
        params[key] = parse_number(value, f"the initial value of {key}")
    key = (formula.strip(), tuple(params.items()))
    if key not in names:
        names[key] = "act" if not names else f"act{len(names) + 1}"
    return CustomActivation(names[key], formula.strip(), params)


def activation(word: str) -> Activation:
    """`relu`, `leaky_relu(0.1)`, `elu(0.5)` → an Activation; SpecError otherwise."""
    m = _WORD.fullmatch(word)
    name, arg = (m.group(1), m.group(2)) if m else (word, None)
    if name not in ACTIVATIONS:
        raise SpecError(f"unknown activation {word!r}; allowed: {_allowed('activation')}"
                        + _did_you_mean(name, [*ACTIVATIONS, "softmax", *NORMALIZATIONS]))
    if arg is None:
        return ACTIVATIONS[name]()
    if name not in _PARAMETRIZED:
        raise SpecError(f"{name} takes no parameter, got {word!r}")
    return ACTIVATIONS[name](parse_number(arg, f"the parameter of {name}"))


def build(sizes, hidden=None, output=None, loss="mse", reduction="mean", weight_decay=0,
          decay="weights", scale=1):
    """A dense network from sizes and activation/loss words."""
    if loss not in LOSSES:
        raise SpecError(f"unknown loss {loss!r}; allowed: {_allowed('loss')}"
                        + _did_you_mean(loss, LOSSES))
    if len(sizes) < 2:
        raise SpecError(f"sizes need at least an input and an output width, got {sizes}")
    n_hidden = len(sizes) - 2
    if n_hidden and hidden is None:
        raise SpecError("the hidden layers need an activation, e.g. '2-3-1 sigmoid mse'")
    chains = hidden_chains(hidden, n_hidden) if n_hidden else []
    layers, names = [], {}
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(Dense(n_in, n_out))
        word = chains[k] if k < n_hidden else output
        if word is not None:
            layers += layers_after(word, n_out, names)
    return Network(layers, LOSSES[loss](reduction=reduction, weight_decay=weight_decay,
                                        decay=decay, scale=scale))


PER_LAYER_RULE = ("one activation per hidden layer: give {n} chains joined by '/' (e.g. "
                  "{example}), or one for all hidden layers; commas chain layers after each "
                  "dense layer (layernorm,tanh), and a comma list of plain activations is read "
                  "per layer only when it has one per hidden layer")


def _is_plain_activation(word: str) -> bool:
    m = _WORD.fullmatch(word)
    return bool(m) and m.group(1) in ACTIVATIONS


def hidden_chains(hidden: str, n_hidden: int) -> list[str]:
    """The chain after each of the `n_hidden` hidden dense layers: `tanh/relu` (one per layer,
    joined by '/'), `tanh,relu` (plain activations, exactly one per hidden layer), or one chain
    (`relu`, `layernorm,tanh`) for every hidden layer."""
    if not isinstance(hidden, str):
        raise SpecError(f"the hidden layers' word must be a string, got {hidden!r}")
    example = "/".join(["tanh"] + ["relu"] * (n_hidden - 1))
    rule = PER_LAYER_RULE.format(n=n_hidden, example=example)
    per_layer = [p for p, _ in _split(hidden, "/")]
    if len(per_layer) > 1:
        if len(per_layer) != n_hidden:
            raise SpecError(f"{hidden!r} gives {len(per_layer)} chains for {n_hidden} hidden "
                            f"layers; {rule}")
        return per_layer
    links = [p for p, _ in _split(hidden, ",")]
    if len(links) > 1 and all(_is_plain_activation(w) for w in links):
        if len(links) != n_hidden:
            raise SpecError(f"{hidden!r} lists {len(links)} activations for {n_hidden} hidden "
                            f"layers; {rule}")
        return links
    return [hidden] * n_hidden


def parse(text: str) -> Network:
    """Parse a compact spec string; see the module docstring for the grammar."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError(
            "empty spec; write SIZES HIDDEN [OUTPUT] LOSS, e.g. '2-3-1 sigmoid sigmoid mse'"
        )
    tokens = _Tokens(text)
    words = [t for t, _ in tokens.items]
    if not re.fullmatch(r"\d+(-\d+)+", words[0]):
        bad = next((p for p in words[0].split("-") if not p.isdigit()), words[0])
        raise tokens.error(0, f"sizes must be positive integers joined by '-', not {bad!r}")
    sizes = [int(p) for p in words[0].split("-")]
    if 0 in sizes:
        raise tokens.error(0, "every layer needs at least one unit")
    options, rest = {}, []
    for i, word in enumerate(words[1:], start=1):
        if _OPTION.fullmatch(word):
            key, _, value = word.partition("=")
            if key not in OPTIONS:
                raise tokens.error(i, f"unknown option {key!r}; allowed: {', '.join(OPTIONS)}"
                                   + _did_you_mean(key, OPTIONS))
            if key in options:
                raise tokens.error(i, f"{key} given twice; give each option once")
            options[key] = value if key in ("reduction", "decay") else parse_number(value, key)
        elif options:
            raise tokens.error(i, "options (key=value) come after the loss")
        else:
            rest.append(i)
    if not rest:
        raise SpecError(f"no loss in {text!r}; end with one of: {_allowed('loss')}")
    *acts, loss_i = rest
    if words[loss_i] not in LOSSES:
        layer_word = _WORD.fullmatch(words[loss_i].split(",")[0])
        is_layer = layer_word and layer_word.group(1) in {*ACTIVATIONS, "act", "softmax",
                                                           *NORMALIZATIONS}
        kind = "loss (after the activations)" if is_layer else "loss"
        raise tokens.error(loss_i, f"expected a {kind}; allowed: {_allowed('loss')}"
                           + _did_you_mean(words[loss_i], LOSSES))
    n_hidden = len(sizes) - 2
    if n_hidden == 0 and len(acts) > 1:
        raise tokens.error(acts[1], "no hidden layer, so at most one activation (the output's)")
    if n_hidden and not acts:
        raise tokens.error(loss_i, "the hidden layers need an activation before the loss")
    if len(acts) > 2:
        raise tokens.error(acts[2], "at most two activations: the hidden layers' and the output's")
    for j, i in enumerate(acts):
        try:
            if j == 0 and n_hidden:
                for chain in hidden_chains(words[i], n_hidden):
                    layers_after(chain, 1)
            else:
                layers_after(words[i], 1)
        except SpecError as e:
            raise tokens.error(i, str(e)) from None
    hidden = words[acts[0]] if n_hidden else None
    output = words[acts[-1]] if (len(acts) == 2 or (n_hidden == 0 and acts)) else None
    return build(sizes, hidden, output, words[loss_i], **options)


MAX_TOML_BYTES = 1 << 20  # a spec file is a few lines; a megabyte is plenty


def _read_toml(path: Path) -> dict:
    """The TOML table in `path`: a regular UTF-8 file of at most MAX_TOML_BYTES, read without
    blocking (a FIFO or a device is an error, not a hang); SpecError for anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise SpecError(f"cannot read {path}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise SpecError(f"{path} is not a regular file")
        raw = f.read(MAX_TOML_BYTES + 1)
    if len(raw) > MAX_TOML_BYTES:
        raise SpecError(f"{path} is larger than {MAX_TOML_BYTES // 1024} KiB; a spec is a few "
                        "lines")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(f"{path} is not UTF-8 text (byte {e.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path} is not valid TOML: {e}") from None
    except RecursionError:
        raise SpecError(f"{path} nests too deeply") from None


def _typed(path, data, key, kind, what):
    value = data.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise SpecError(f"{path}: {key!r} must be {what}, got {value!r}")
    return value


def load(path) -> Network:
    """A network from a TOML file (see the module docstring)."""
    path = Path(path)
    data = _read_toml(path)
    if "network" in data:
        if not isinstance(data["network"], dict):
            raise SpecError(f"{path}: [network] must be a table, got {data['network']!r}")
        others = sorted(set(data) - {"network"})
        if others:
            raise SpecError(f"{path}: unknown keys {others} beside [network]")
        data = data["network"]
    if "spec" in data:
        others = sorted(set(data) - {"spec"})
        if others:
            raise SpecError(f"{path}: unknown keys {others} beside 'spec' (the spec string "
                            "says everything)")
        return parse(_typed(path, data, "spec", str, "a string like \"2-3-1 sigmoid mse\""))
    known = {"sizes", "hidden", "output", "loss", *OPTIONS}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SpecError(f"{path}: unknown keys {unknown}; allowed: {sorted(known)}")
    sizes = data.get("sizes")
    if not isinstance(sizes, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes):
        raise SpecError(f"{path}: 'sizes' must be a list of positive integers, got {sizes!r}")
    for key in ("hidden", "output", "loss", "reduction", "decay"):
        _typed(path, data, key, str, "a string")
    for key in ("weight_decay", "scale"):
        _typed(path, data, key, int | float, "a number")
    numbers = {k: parse_number(repr(data[k]), k) for k in ("weight_decay", "scale") if k in data}
    return build(sizes, data.get("hidden"), data.get("output"), data.get("loss", "mse"),
                 data.get("reduction", "mean"), decay=data.get("decay", "weights"), **numbers)


def network_from(spec) -> Network:
    """A Network from a Network, a spec string, or the path of a TOML file."""
    if isinstance(spec, Network):
        return spec
    if isinstance(spec, Path) or (isinstance(spec, str) and spec.strip().endswith(".toml")):
        return load(spec)
    return parse(spec)


def describe(net: Network) -> str:
    """The compact spec of a network (`2-3-1 sigmoid sigmoid mse`), or its repr when the
    compact form cannot express it."""
    dense = [la for la in net.layers if isinstance(la, Dense)]
    if not isinstance(net.layers[0], Dense):
        return repr(net)  # the compact form starts with a dense layer (no conv, no RNN)
    if not all(d.bias for d in dense):
        return repr(net)  # the compact form has no word for a dense layer without a bias
    chains = []
    for la in net.layers:
        if isinstance(la, Dense):
            chains.append([])
        else:
            chains[-1].append(la)
    words = [",".join(_word(la) or "?" for la in chain) or "identity" for chain in chains]
    if "identity" in words[:-1] or any("?" in w for w in words):
        return repr(net)  # not expressible in the compact form
    hidden = set(words[:-1])
    if len(hidden) > 1:  # one chain per hidden layer
        hidden = {"/".join(words[:-1])}
    sizes = "-".join(str(n) for n in [dense[0].n_in] + [d.n_out for d in dense])
    parts = [sizes, *hidden] + ([words[-1]] if words[-1] != "identity" else []) + [net.loss.name]
    if net.loss.reduction != "mean":
        parts.append(f"reduction={net.loss.reduction}")
    if net.loss.weight_decay:
        parts.append(f"weight_decay={float(net.loss.weight_decay):g}")
    if net.loss.decay != "weights":
        parts.append(f"decay={net.loss.decay}")
    if net.loss.factor != 1:
        parts.append(f"scale={float(net.loss.factor):g}")
    return " ".join(parts)


def _word(layer) -> str | None:
    """The spec word of one layer, or None when no word describes it."""
    if isinstance(layer, CustomActivation):
        if layer.text is None:
            return None
        params = "".join(f", {p}={float(v):g}" for p, v in layer.params.items())
        return f"act({layer.text}{params})"
    if isinstance(layer, Activation):
        if layer.name in _PARAMETRIZED:
            return f"{layer.name}({float(layer.alpha):g})"
        return layer.name if ACTIVATIONS.get(layer.name) is type(layer) else None
    if isinstance(layer, Softmax):
        return "softmax"
    if type(layer) in NORMALIZATIONS.values() and layer.compact:
        default = layer.eps == sp.Rational(1, 100000)
        return layer.name if default else f"{layer.name}({float(layer.eps):g})"
    return None

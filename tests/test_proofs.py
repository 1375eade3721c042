"""`symnet prove` and the proofs in proofs/: everything is proved, a wrong rule is caught, and
nothing is reported proved that SymPy did not prove."""

from __future__ import annotations

import pytest
import sympy as sp
from _cli import cli, one_line_error

from symnet.algebra import rules
from symnet.algebra.functions import x, y
from symnet.algebra.matexpr import ScalarFn
from symnet.cli import main
from symnet.errors import SymnetError
from symnet.nn import layers, losses
from symnet.prove import Theorem, decide, discover, markdown, prove, run, table


@pytest.fixture(scope="module")
def results():
    return prove()


def by_title(results, text):
    found = [r for r in results if text in r.title]
    assert found, f"no theorem titled {text!r}"
    return found


# ── everything symnet relies on is proved ───────────────────────────────────────────────────


def test_every_theorem_is_proved(results):
    assert len(results) >= 25
    failing = [(r.title, r.status, r.detail) for r in results if not r.proved]
    assert not failing
    assert all(r.checks > 0 and r.statement for r in results)


def test_every_activation_and_loss_has_its_theorem(results):
    for cls in layers.ACTIVATIONS.values():
        by_title(results, f"activation {cls()!r}:")
    for name in losses.LOSSES:
        for reduction in ("mean", "sum"):
            by_title(results, f"loss {name} ({reduction})")
    for text in ("sigmoid′", "softplus′", "dense layer", "element-wise layer", "L2 weight decay",
                 "the four equations", "softmax cross-entropy on logits"):
        by_title(results, text)
    if hasattr(rules, "softmax_vjp"):
        by_title(results, "softmax layer")
    for text in ("learned scalars", "custom activation swish", "√′", "LayerNorm steps",
                 "BatchNorm steps", "LayerNorm compact backward", "BatchNorm compact backward",
                 "through LayerNorm and BatchNorm"):
        by_title(results, text)


def test_methods_are_stated(results):
    bounded = [r for r in results if r.method != "general"]
    assert all(r.method.startswith("bounded") for r in bounded)  # each says its bound
    assert {r.title for r in bounded} >= {
        "backpropagation: the four equations of derive()",
        "backpropagation into softmax cross-entropy on logits",
        "BatchNorm compact backward: (1/m)(m G − Σ G − N ⊙ Σ(G ⊙ N)) ⊘ σ",
        "LayerNorm compact backward: (1/m)(m G − Σ G − N ⊙ Σ(G ⊙ N)) ⊘ σ",
        "backpropagation through LayerNorm and BatchNorm, both forms",
    }
    compact = by_title(results, "LayerNorm compact backward")[0]
    assert compact.method == "bounded: B ≤ 4, n ≤ 4, all shapes" and compact.checks == 100
    four = by_title(results, "the four equations")[0]
    assert four.method == "bounded: depth ≤ 3, widths ≤ 2, B ≤ 2, generic f and ℓ"
    assert four.checks > 500  # every entry of every δ and gradient, over 56 cases


def test_kink_conventions_are_checked(results):
    relu = by_title(results, "activation ReLU()")[0]
    kink = [s for s in relu.steps if "kink" in s.words]
    assert len(kink) == 1 and kink[0].mark == "✓" and kink[0].latex == "0 = 0"
    elu = by_title(results, "activation ELU(1/2)")[0]
    assert any("kink" in s.words and s.latex == r"\frac{1}{2} = \frac{1}{2}" for s in elu.steps)


def test_table_and_markdown(results):
    text = table(results)
    assert text.splitlines()[0].split() == ["theorem", "method", "status", "time"]
    assert text.splitlines()[-1].startswith(f"{len(results)} theorems: {len(results)} proved in ")
    doc = markdown(results)
    assert doc.count("\n## ") == len(results)
    assert r"\frac{\partial L}{\partial W} = X^{\top} G" in doc
    assert "**Verdict.** **proved**" in doc and "bounded: depth ≤ 3" in doc


def test_cli_prove(tmp_path, capsys):
    out = tmp_path / "proofs.md"
    assert main(["prove", "-k", "dense layer", "--markdown", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "dense layer" in printed and "1 theorems: 1 proved" in printed
    assert out.read_text(encoding="utf-8").startswith("# symnet: proofs")
    assert main(["prove", "-k", "no such theorem"]) == 1


def test_prove_a_networks_custom_activations(capsys):
    spec = "2-3-2 act(min(max(x, -1), 1)) act(x*sigmoid(beta*x), beta=1) mse"
    assert main(["prove", "--spec", spec, "-k", "your activation"]) == 0
    printed = capsys.readouterr().out
    assert "your activation act: min(max(x, -1), 1): derivative" in printed
    assert "your activation act2: x*sigmoid(beta*x): partial derivatives" in printed
    assert "4 theorems: 4 proved" in printed  # each: its derivative and its generated code
    results = prove(only="your activation", network="2-2-1 act(abs(x)) mse")
    (absolute,) = [r for r in results if "generated code" not in r.title]
    kink = [s for s in absolute.steps if "kink" in s.words]
    assert absolute.proved and "lies between the one-sided derivatives -1 and 1" in kink[0].words
    assert prove(only="your activation") == []  # without a network: none


def test_wrong_custom_derivative_fails(monkeypatch):
    from symnet.nn.activation import CustomActivation

    wrong = ScalarFn("d_act", "act′", sp.Lambda(x, sp.tanh(x)))  # mish′ is not tanh
    monkeypatch.setattr(CustomActivation, "derivative", property(lambda self: wrong))
    (mish,) = prove(only="softplus(x)): derivative", network="2-2-1 act(x*tanh(softplus(x))) mse")
    assert mish.status == "failed" and "≠" in mish.detail


# ── a wrong rule fails its proof, and `symnet prove` exits non-zero ─────────────────────────


def test_wrong_dense_rule_fails(monkeypatch, capsys):
    right = rules.dense_vjp

    def wrong(G, X, W, b):
        dX, dW, db = right(G, X, W, b)
        return dX, 2 * dW, db

    monkeypatch.setattr(rules, "dense_vjp", wrong)
    dense = prove(only="dense layer")[0]
    assert dense.status == "failed" and "∂L/∂W" in dense.detail and "≠" in dense.detail
    four = prove(only="the four equations")[0]  # derive() uses the same rule
    assert four.status == "failed" and "dW1" in four.detail and "≠" in four.detail
    assert main(["prove", "-k", "dense"]) == 1
    assert "failed" in capsys.readouterr().out


def test_wrong_activation_derivative_fails(monkeypatch):
    wrong = ScalarFn("d_sigmoid", "σ′", sp.Lambda((x, y), y * (1 + y)), shown=1)
    monkeypatch.setattr(layers.Sigmoid, "derivative", property(lambda self: wrong))
    sigmoid = prove(only="activation Sigmoid()")[0]
    assert sigmoid.status == "failed" and "≠" in sigmoid.detail
    assert main(["prove", "-k", "activation"]) == 1


def test_wrong_kink_convention_fails(monkeypatch):
    right_at_zero = sp.Piecewise((1, x >= 0), (0, True))  # relu′(0) = 1: not PyTorch's
    wrong = ScalarFn("d_relu", "relu′", sp.Lambda(x, right_at_zero))
    monkeypatch.setattr(layers.ReLU, "derivative", property(lambda self: wrong))
    relu = prove(only="activation ReLU()")[0]
    assert relu.status == "failed" and "kink" in relu.detail


def test_wrong_loss_scale_fails(monkeypatch):
    monkeypatch.setattr(rules, "softmax_cross_entropy_vjp",
                        lambda Z, Y, c: sp.MatAdd(rules.Softmax(Z), sp.MatMul(-1, Y)))
    mean, total = prove(only="loss softmax_ce")
    assert mean.status == "failed" and total.status == "proved"


@pytest.mark.skipif(not hasattr(rules, "softmax_vjp"), reason="no softmax layer in this symnet")
def test_wrong_softmax_rule_fails(monkeypatch):
    # forgetting to subtract the weighted mean: the rule of an element-wise function
    monkeypatch.setattr(rules, "softmax_vjp", lambda G, A: sp.HadamardProduct(A, G))
    softmax = prove(only="softmax layer")[0]
    assert softmax.status == "failed" and "≠" in softmax.detail


def test_wrong_l2_rule_fails(monkeypatch):
    monkeypatch.setattr(rules, "l2_penalty_vjp", lambda W, lam: sp.MatMul(lam / 2, W))
    assert prove(only="L2")[0].status == "failed"
    assert prove(only="the four equations")[0].status == "failed"


def test_wrong_normalization_rules_fail(monkeypatch):
    right = rules.variance_vjp
    monkeypatch.setattr(rules, "variance_vjp", lambda G, C, over: sp.MatMul(
        sp.Rational(1, 2), right(G, C, over)))  # forgetting the 2 of d(c²)/dc
    steps = prove(only="Norm steps")
    assert [r.status for r in steps] == ["failed", "failed"]
    assert all("variance V" in r.detail and "≠" in r.detail for r in steps)
    # derive()'s step-by-step form uses it; the compact form does not
    through = prove(only="through LayerNorm")[0]
    assert through.status == "failed" and "compact=False" in through.detail
    assert all(r.status == "proved" for r in prove(only="Norm compact backward"))


def test_wrong_compact_normalization_rule_fails(monkeypatch):
    def without_projection(G, N, sigma, over):  # drops − N ⊙ Σ(G ⊙ N): the path through σ
        m = rules.count(over, N.shape[1])
        inner = sp.MatAdd(sp.MatMul(m, G), sp.MatMul(-1, rules.sum_spread(G, over)))
        return rules.Elementwise(rules.DIVIDE, sp.MatMul(1 / m, inner),
                                 rules.spread(sigma, over, N.shape[1]))

    monkeypatch.setattr(rules, "normalize_compact_vjp", without_projection)
    compact = prove(only="Norm compact backward")  # BatchNorm's and LayerNorm's
    assert [r.status for r in compact] == ["failed", "failed"]
    assert all("reduced modulo" in r.detail and "≠" in r.detail for r in compact)
    assert main(["prove", "-k", "LayerNorm compact"]) == 1


def test_wrong_learned_scalar_rule_fails(monkeypatch):
    right = rules.parametric_vjp

    def output_as_input(G, dfdx, dfdthetas, Z, A, thetas, symbols):
        return right(G, dfdx, dfdthetas, Z, Z, thetas, symbols)  # hands h Z, not f(Z)

    monkeypatch.setattr(rules, "parametric_vjp", output_as_input)
    result = prove(only="learned scalars")[0]
    assert result.status == "failed" and "(x, α, β, y)" in result.detail


def test_wrong_custom_partial_fails(monkeypatch):
    from symnet.nn.activation import CustomActivation

    right = CustomActivation.dfdthetas.func

    def halved(self):
        return tuple(ScalarFn(d.name, d.label, sp.Lambda(d.variables, d.lam.expr / 2), d.shown)
                     for d in right(self))

    monkeypatch.setattr(CustomActivation, "dfdthetas", property(halved))
    swish = prove(only="custom activation swish")[0]
    assert swish.status == "failed" and "∂swish/∂β" in swish.detail


# ── honesty: nothing is proved that SymPy did not prove ─────────────────────────────────────


def test_decide():
    t, u = sp.Dummy("t", integer=True), sp.Dummy("u", integer=True)
    n = sp.Symbol("n", integer=True, positive=True)
    X = sp.MatrixSymbol("X", n, n)
    assert decide(sp.Sum(X[t, 0], (t, 0, n - 1)), sp.Sum(X[u, 0], (u, 0, n - 1))) == (True, "")
    verdict, where = decide(sp.Sum(X[t, 0], (t, 0, n - 1)), sp.Sum(X[0, u], (u, 0, n - 1)))
    assert verdict is False and "n = 3" in where
    assert decide(sp.Matrix([1, 2]), sp.Matrix([[1, 2]]))[0] is False
    # true, but beyond simplify: open, not proved
    c = sp.cos
    assert decide(c(sp.pi / 7) * c(2 * sp.pi / 7) * c(3 * sp.pi / 7), sp.Rational(1, 8))[0] is None
    # false by 7.5e-13 in 2.6e17: not refuted at the sample precision, and not proved either
    assert decide(sp.exp(sp.pi * sp.sqrt(163)), 640320**3 + 744)[0] is None


def test_open_and_failed_are_never_proved():
    def undecided(proof):
        proof.equal(sp.cos(sp.pi / 7) * sp.cos(2 * sp.pi / 7) * sp.cos(3 * sp.pi / 7),
                    sp.Rational(1, 8), "a true identity simplify cannot show")

    def gives_up(proof):
        proof.equal(x, x)
        proof.cannot("no general argument yet")

    def crashes(proof):
        raise ValueError("boom")

    assert run(Theorem("undecided", undecided)).status == "open"
    assert run(Theorem("gives up", gives_up)).detail == "no general argument yet"
    assert run(Theorem("no checks", lambda proof: None)).status == "open"
    crashed = run(Theorem("crashes", crashes))
    assert crashed.status == "failed" and "ValueError: boom" in crashed.detail


# ── discovery: any module in the proofs directory is run ────────────────────────────────────

EXTRA = '''
import sympy as sp
from symnet.prove import Theorem

def theorems():
    yield Theorem("extra: proved", lambda p: p.equal(sp.Integer(2), 1 + 1, "two"))
    yield Theorem("extra: open", lambda p: p.cannot("not yet"), bound="n ≤ 1")
'''


def test_discovery_of_new_modules(tmp_path, capsys):
    (tmp_path / "__init__.py").write_text('ORDER = ("zeta",)\n')
    (tmp_path / "zeta.py").write_text(EXTRA.replace("extra", "zeta"))
    (tmp_path / "alpha.py").write_text(EXTRA.replace("extra", "alpha"))
    (tmp_path / "broken.py").write_text("import no_such_module\n")
    (tmp_path / "_helper.py").write_text("raise RuntimeError('helpers are not run')\n")
    assert [name for name, _ in discover(tmp_path)] == ["zeta", "alpha", "broken"]
    results = prove(tmp_path)
    assert [(r.title, r.status) for r in results] == [
        ("zeta: proved", "proved"), ("zeta: open", "open"),
        ("alpha: proved", "proved"), ("alpha: open", "open"),
        ("proofs/broken.py", "failed"),
    ]
    assert results[1].method == "bounded: n ≤ 1"
    assert main(["prove", "--proofs", str(tmp_path), "-k", "proved"]) == 1  # broken.py counts
    assert "no_such_module" in capsys.readouterr().out
    (tmp_path / "broken.py").unlink()
    assert main(["prove", "--proofs", str(tmp_path), "-k", "proved"]) == 0
    assert main(["prove", "--proofs", str(tmp_path)]) == 1  # the open ones


def test_missing_proofs_directory(tmp_path, capsys):
    with pytest.raises(SymnetError, match="no proofs package"):
        prove(tmp_path / "nowhere")
    assert main(["prove", "--proofs", str(tmp_path)]) == 2
    assert "no proofs package" in capsys.readouterr().err


def test_broken_proofs_package(tmp_path, capsys):
    (tmp_path / "__init__.py").write_text("ORDER = (\n")
    assert main(["prove", "--proofs", str(tmp_path)]) == 2
    assert "did not load: SyntaxError" in capsys.readouterr().err


# ── progress and the --markdown file (issue 14) ────────────────────────────────────────────


def test_prove_shows_progress_per_theorem(capsys):
    assert main(["prove", "-k", "dense layer"]) == 0
    out, err = capsys.readouterr()
    titles = [ln.split("  ")[0] for ln in out.splitlines() if ln.startswith("dense layer")]
    assert titles
    for t in titles:  # one progress line per theorem on stderr, as it is proved
        assert t.strip() in err, err


def test_prove_markdown_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "proofs.md"
    out.write_text("precious")
    assert main(["prove", "-k", "sigmoid′", "--markdown", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_text() == "precious"
    inode = out.stat().st_ino
    assert main(["prove", "-k", "sigmoid′", "--markdown", str(out), "--force"]) == 0
    assert out.read_text().startswith("#")
    assert out.stat().st_ino != inode  # renamed over (a temporary file), not truncated in place
    assert [f.name for f in tmp_path.iterdir()] == ["proofs.md"]  # no temporary left over


@pytest.mark.parametrize("where", ["missing/folder/p.md", "."])
def test_prove_markdown_bad_paths_are_one_line_errors(tmp_path, where):
    one_line_error(cli("prove", "-k", "sigmoid′", "--markdown", where, cwd=tmp_path))


# ── issue 13: prove --spec covers the generated code ────────────────────────────────────────


def test_prove_spec_has_a_theorem_for_the_generated_code_of_each_custom_activation():
    import symnet as sn

    results = sn.prove(network="2-3-1 act(2^(x/2)) act(x*x*max(x, 2)) mse", only="generated")
    for formula in ("2^(x/2)", "x*x*max(x, 2)"):
        mine = [r for r in results if formula in r.title]
        assert mine, [r.title for r in results]
        assert all(r.status == "proved" for r in mine), [(r.title, r.status, r.detail)
                                                        for r in mine]


def test_cli_prove_spec_reports_the_generated_code():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "symnet", "prove", "--spec",
                          "2-3-1 act(2^(x/2)) mse", "-k", "generated"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "generated code" in out.stdout and "proved" in out.stdout, out.stdout


def test_prove_spec_covers_code_that_clips_a_saturating_activation():
    """A custom GELU gets the built-in's treatment: its code clips the input at ±32 (its x³
    overflows beyond), and the theorem shows the clip changes no value by 2⁻⁶⁰ of it."""
    import symnet as sn

    (r,) = sn.prove(network="1-1 act(x/2*(1+tanh(0.7978845608*(x+0.044715*x^3)))) mse",
                    only="generated")
    assert r.status == "proved", (r.status, r.detail)
    clipped = [s.words for s in r.steps if "clipped at" in s.words]
    assert any("32" in w for w in clipped) and any("-32" in w for w in clipped), clipped

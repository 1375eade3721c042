import symnet as sn
from symnet.cli import main


def test_unicode_reads_like_the_textbook():
    text = str(sn.derive(sn.parse("2-3-1 sigmoid sigmoid mse")))
    for line in ["Z1 = X W1 + 𝟙 b1ᵀ", "A1 = σ(Z1)", "∂L/∂W2 = A1ᵀ δ2", "∂L/∂b2 = δ2ᵀ 𝟙",
                 "δ1 = (δ2 W2ᵀ) ⊙ σ′(Z1)", "∂L/∂W1 = Xᵀ δ1",
                 "σ′(x) = y·(1 - y), with y = σ(x) the layer's output"]:
        assert line in text, line


def test_latex_is_an_aligned_block():
    tex = sn.derive(sn.parse("2-3-1 relu softmax_ce")).latex()
    assert tex.startswith("\\begin{aligned}") and tex.endswith("\\end{aligned}")
    assert r"\delta_{1} &= \left(\delta_{2} W_{2}^{\top}\right) \odot \operatorname{relu}'" in tex
    assert r"\operatorname{softmax}\left(Z_{2}\right)" in tex


def test_markdown_explains_each_step():
    md = sn.derive(sn.parse("2-3-1 tanh mse")).markdown()
    assert md.startswith("# Backpropagation for `2-3-1 tanh mse`")
    assert "## Backward pass" in md and "### δ1" in md
    assert "acts entry by entry, so the chain rule multiplies entry by entry" in md
    assert "$$ \\frac{\\partial L}{\\partial W_{1}} = X^{\\top} \\delta_{1} $$" in md


def test_cheap_derivative_forms_are_used():
    d = sn.derive(sn.parse("2-2-2-1 sigmoid tanh mse"))
    legend = str(d)
    assert "σ′(x) = y·(1 - y)" in legend
    assert "tanh′(x) = 1 - y²" in legend


def test_explicit_textbook_formulas():
    e = sn.explicit(sn.parse("2-3-1 sigmoid sigmoid mse"))
    text = str(e)
    assert "z¹₁ = b¹₁ + w¹₁₁·x₁ + w¹₂₁·x₂" in text
    assert "a¹₁ = σ(z¹₁)" in text
    assert "∂L/∂w¹₁₂ = x₁·δ¹₂" in text
    assert {k: str(v) for k, v in e.gradient("b1").items()} == {
        (0,): "δ¹₁", (1,): "δ¹₂", (2,): "δ¹₃"}
    assert r"w^{1}_{12}" in e.latex()


def test_explicit_refuses_huge_networks():
    import pytest

    with pytest.raises(sn.SpecError, match="explicit mode would write"):
        sn.explicit(sn.parse("784-128-10 relu softmax_ce"))


def test_cli_derive_formats(capsys):
    assert main(["derive"]) == 0
    assert "δ1 = (δ2 W2ᵀ) ⊙ σ′(Z1)" in capsys.readouterr().out
    assert main(["derive", "2-2-1 relu mse", "--latex"]) == 0
    assert "\\begin{aligned}" in capsys.readouterr().out
    assert main(["derive", "2-2-1 relu mse", "--markdown"]) == 0
    assert "## Backward pass" in capsys.readouterr().out
    assert main(["derive", "2-2-1 relu mse", "--explicit", "--batch", "2"]) == 0
    assert "z¹⁽²⁾₁" in capsys.readouterr().out


def test_cli_derive_toml(tmp_path, capsys):
    spec = tmp_path / "net.toml"
    spec.write_text('sizes = [2, 3, 1]\nhidden = "tanh"\nloss = "mse"\n')
    assert main(["derive", str(spec)]) == 0
    assert "Forward (2-3-1 tanh mse)" in capsys.readouterr().out


def test_cli_bad_spec_is_one_line(capsys):
    assert main(["derive", "2-x-1 relu mse"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symnet: error: sizes must be positive integers")
    assert err.count("\n") == 1 and "Traceback" not in err

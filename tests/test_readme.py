"""The README's promises: every ```python block runs, in order, as a user pasting them would;
the contracts and words it must document are there."""

import os
import re
import subprocess
import sys

import pytest
from _cli import ROOT

README = ROOT / "README.md"


def _text():
    return README.read_text(encoding="utf-8")


def test_readme_python_blocks_run_in_order(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", _text(), flags=re.DOTALL)
    assert len(blocks) >= 3
    (tmp_path / "readme_blocks.py").write_text("\n".join(blocks), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    p = subprocess.run([sys.executable, "readme_blocks.py"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]


def test_readme_shows_params_contract_before_use():
    text = _text()
    first_use = min(i for i in (text.find("evaluate(params"), text.find("loss_and_grads(params"))
                    if i >= 0)
    before = text[:first_use]
    assert re.search(r"W1.*b1", before)
    assert "(n_in, n_out)" in before and "(n_out,)" in before


@pytest.mark.parametrize("needle", [
    "symnet verify", "make_case", "`ce`", "`softmax`", "layernorm", "batchnorm", "act(",
    "--version", "--standardize", "--target", "--force", "decay=all",
])
def test_readme_documents(needle):
    assert needle in _text()


def test_readme_says_how_long_the_tests_take():
    text = _text()
    block = text[text.find("python -m pytest"):][:400]
    assert re.search(r"\d+\s*(s|min|seconds|minutes)\b", block), block


def test_readme_documents_the_tie_convention_of_max_and_min():
    assert re.search(r"(?is)max.{0,200}tie.{0,300}torch\.maximum", _text())

"""Every Python example of README.md and docs/*.md runs as written, each in a fresh
interpreter, in a scratch folder (what they write lands there).

The examples that read the real data sets (``files.data_root()``: $FASTFEED_DATA, else
../shared/data beside the checkout; docs/data.md) take minutes (they build LFW, decode
13,233 faces...): they run when that folder exists and FASTFEED_DOCS_SHARED=1 is set
(`make test-docs`), and are skipped otherwise.
"""

import os
import re
import subprocess
import sys

import pytest

from conftest import REAL_DATA

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The real data, as the developer's environment named it (conftest points
# FASTFEED_DATA at an empty folder for the tests themselves).
DATA = REAL_DATA or os.path.join(os.path.dirname(ROOT), "shared", "data")
PAGES = ["README.md"] + sorted(os.path.join("docs", name)
                               for name in os.listdir(os.path.join(ROOT, "docs"))
                               if name.endswith(".md"))


def _examples():
    for page in PAGES:
        with open(os.path.join(ROOT, page), encoding="utf-8") as f:
            text = f.read()
        for match in re.finditer(r"```python\n(.*?)```", text, re.S):
            line = text[:match.start()].count("\n") + 1
            yield pytest.param(match.group(1), id=f"{page}:{line}")


def test_the_pages_have_examples():
    assert len(list(_examples())) >= 8


@pytest.mark.slow
@pytest.mark.parametrize("code", _examples())
def test_example_runs(code, tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if "data_root()" in code:
        if os.environ.get("FASTFEED_DOCS_SHARED") != "1":
            pytest.skip("reads $FASTFEED_DATA for minutes: FASTFEED_DOCS_SHARED=1 runs it")
        if not os.path.isdir(DATA):
            pytest.skip(f"needs the real data sets ({DATA})")
        env["FASTFEED_DATA"] = DATA
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    done = subprocess.run([sys.executable, "-c", code], cwd=scratch, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_readme_stays_short():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        assert len(f.read().splitlines()) <= 250, "README.md: move detail to docs/"


def test_the_readmes_op_table_is_the_registry():
    """README's augmentation table names every registered op, and only those."""
    from fastfeed.compose import augment

    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    table = text[text.index("| registry op |"):].split("\n\n")[0].splitlines()[2:]
    named = {name for row in table for name in re.findall(r"`([a-z_0-9]+)", row.split("|")[1])}
    assert named == set(augment.REGISTRY), (named ^ set(augment.REGISTRY))

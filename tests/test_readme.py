"""The Python examples in README.md run as written."""
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_readme_example_runs(i, tmp_path):
    script = tmp_path / f"readme_{i}.py"
    script.write_text(BLOCKS[i])
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    if "print(model.weight.item(), model.bias.item())" in BLOCKS[i]:
        w, b = map(float, r.stdout.split())
        assert abs(w - 3.0) < 0.1 and abs(b - 0.5) < 0.05

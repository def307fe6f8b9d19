"""numtorch/_allocator.py: the malloc policy is applied at import on glibc Linux, and a user's
own MALLOC_* setting (or NUMTORCH_MALLOC_POLICY=0) keeps it off."""
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc policy")

CODE = "import numtorch; print(numtorch._allocator.applied)"


def _run(**env):
    e = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    e.pop("NUMTORCH_MALLOC_POLICY", None)
    e.update(env)
    return subprocess.run([sys.executable, "-c", CODE], env=e, capture_output=True, text=True,
                          timeout=120).stdout.strip()


def test_policy_applies_and_yields_to_the_user():
    assert _run() == "True"
    assert _run(NUMTORCH_MALLOC_POLICY="0") == "False"
    assert _run(MALLOC_MMAP_THRESHOLD_="131072") == "False"
    assert _run(MALLOC_TRIM_THRESHOLD_="131072") == "False"

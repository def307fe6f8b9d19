"""What a fresh process loads to run a few ops: only the kernel families it uses (each imported
on first use, ``kernels.family``) and only the dispatchers of the twins it calls
(``policy.Twin`` makes them on first use)."""
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import sys
    import numtorch as torch
    from numtorch.kernels import policy

    def built(twin):  # the slot is set once the twin made its dispatchers
        try:
            policy.Twin.serial.__get__(twin)
        except AttributeError:
            return False
        return True

    x = torch.ones(3, 4)
    y = (x * 2 + 1).sum()
    assert float(y) == 36.0
    cpu = "numtorch.kernels.cpu."
    print(sorted(m[len(cpu):] for m in sys.modules if m.startswith(cpu) and "._" not in m))
    print(sum(map(built, policy.TWINS.values())), len(policy.TWINS))
    twin = policy.TWINS[("numtorch.kernels.cpu.elementwise", "sub_flat")]
    assert not built(twin)
    a, b, out = (torch.arange(4.0).numpy() for _ in range(3))
    twin(a, b + 1, out)  # made on first use
    assert built(twin) and (out == -1).all(), out
""")


def test_a_fresh_process_loads_only_the_kernels_it_uses(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    families = eval(lines[0])
    assert "elementwise" in families and "reduce" in families  # what mul, add and sum run
    for unused in ("rnn", "attention", "sparse", "sort", "conv"):
        assert unused not in families, families
    built, twins = map(int, lines[1].split())
    assert 0 < built <= 10 < twins, (built, twins)

"""Every public function and class has a docstring with a runnable ``>>>`` example.

(a) ``test_public_api_has_examples``: collects the public API (functions and classes defined in
    a numtorch module and reachable from the namespaces below, no leading underscore) and fails
    listing every one whose docstring (a class's own docstring) has no ``>>>`` example.
(b) ``test_docstring_examples``: runs every such example with ``doctest`` in a fresh namespace
    (so each example imports what it uses, as a user would), failing on any mismatch.

Examples that cannot run in a test (they need an initialised MPI process group or a download)
mark those lines ``# doctest: +SKIP``; they still count as examples.
"""
import doctest
import importlib
import inspect

import pytest

NAMESPACES = [
    "numtorch", "numtorch.nn", "numtorch.nn.functional", "numtorch.nn.init", "numtorch.nn.utils",
    "numtorch.optim", "numtorch.optim.lr_scheduler", "numtorch.autograd", "numtorch.utils.data",
    "numtorch.utils.hooks", "numtorch.nn.utils.rnn",
    "numtorch.vision.datasets", "numtorch.vision.transforms", "numtorch.vision.utils",
    "numtorch.vision.models", "numtorch.vision.models.resnet", "numtorch.vision.models.vgg",
    "numtorch.hub", "numtorch.utils.model_zoo", "numtorch.distributed",
    "numtorch.nn.parallel", "numtorch.cuda", "numtorch.accelerator", "numtorch.backends",
    "numtorch.backends.cudnn", "numtorch.backends.mps", "numtorch.backends.cpu",
    "numtorch.backends.cuda", "numtorch.backends.mkldnn", "numtorch.multiprocessing",
    "numtorch.serialization", "numtorch.distributions",
    "numtorch.distributions.constraints", "numtorch.sparse", "numtorch.amp",
    "numtorch.onnx", "numtorch.jit", "numtorch.compiler",
]

# Public names that need no example, with the reason. Keep this small.
EXEMPT = {
}

# TODO list: public names still without an example. Must stay a subset of what the collector
# finds (so stale entries fail), and new public names must not be added here silently.
MISSING_EXAMPLES = set()

OPTIONFLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


def _own_doc(obj):
    """A class's own docstring (not inherited); a function's docstring."""
    if inspect.isclass(obj):
        return obj.__dict__.get("__doc__")
    return obj.__doc__


def collect_public_api():
    """{qualified name: object}, one entry per distinct object (aliases share one docstring)."""
    found, seen = {}, set()
    for modname in NAMESPACES:
        mod = importlib.import_module(modname)
        for name in sorted(dir(mod)):
            if name.startswith("_"):
                continue
            obj = getattr(mod, name)
            if not (inspect.isclass(obj) or inspect.isroutine(obj)):
                continue
            if not (getattr(obj, "__module__", None) or "").startswith("numtorch"):
                continue
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            found[f"{modname}.{name}"] = obj
    return found


API = collect_public_api()
WITH_EXAMPLES = sorted(n for n, o in API.items() if ">>>" in (_own_doc(o) or ""))


def test_collector_finds_the_api():
    assert len(API) > 300
    for name in ["numtorch.tensor", "numtorch.nn.Linear", "numtorch.optim.SGD",
                 "numtorch.utils.data.DataLoader", "numtorch.distributed.all_reduce"]:
        assert name in API, name


def test_public_api_has_examples():
    missing = sorted(n for n, o in API.items()
                     if ">>>" not in (_own_doc(o) or "") and n not in EXEMPT)
    if MISSING_EXAMPLES:
        print(f"\n{len(MISSING_EXAMPLES)} public names still lack an example (TODO):")
        for n in sorted(MISSING_EXAMPLES):
            print("   ", n)
    stale = sorted((MISSING_EXAMPLES | set(EXEMPT)) - set(API))
    assert not stale, f"MISSING_EXAMPLES/EXEMPT name things that are not public API: {stale}"
    undocumented = [n for n in missing if n not in MISSING_EXAMPLES]
    assert not undocumented, (
        f"{len(undocumented)} public functions/classes have no docstring example (>>>):\n  "
        + "\n  ".join(undocumented))
    done = sorted(MISSING_EXAMPLES - set(missing))
    assert not done, f"these now have examples; remove them from MISSING_EXAMPLES: {done}"


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples(name):
    obj = API[name]
    parser = doctest.DocTestParser()
    test = parser.get_doctest(_own_doc(obj), {}, name, inspect.getsourcefile(inspect.unwrap(obj)), 0)
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    from numtorch import get_default_dtype, get_rng_state, set_default_dtype, set_rng_state
    dtype, rng = get_default_dtype(), get_rng_state()
    out = []
    try:
        runner.run(test, out=out.append)
    finally:  # examples must not leak global state into other tests
        set_default_dtype(dtype)
        set_rng_state(rng)
    assert runner.failures == 0, "".join(out)

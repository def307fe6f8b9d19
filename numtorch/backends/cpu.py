"""``numtorch.backends.cpu``: what the CPU kernels can use.

>>> import numtorch as torch
>>> isinstance(torch.backends.cpu.get_cpu_capability(), str)
True
"""


def get_cpu_capability():
    """The widest vector instruction set LLVM compiles numtorch's kernels for on this CPU, in
    PyTorch's words (``'AVX512'``, ``'AVX2'``, ``'DEFAULT'``).

    >>> import numtorch as torch
    >>> torch.backends.cpu.get_cpu_capability() in ("AVX512", "AVX2", "DEFAULT")
    True
    """
    import llvmlite.binding as llvm
    features = llvm.get_host_cpu_features()
    if features.get("avx512f"):
        return "AVX512"
    if features.get("avx2"):
        return "AVX2"
    return "DEFAULT"

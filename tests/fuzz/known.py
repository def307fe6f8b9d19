"""Deviations from PyTorch that the fuzz suite found and numtorch has not fixed yet, each with
the reason. A failing case whose description matches one of these patterns is reported (with
``-s``) but does not fail its family; any other failing case does. Remove an entry when its
deviation is fixed: the list is the backlog, reviewed, not a place for new failures to hide.
"""
import re

KNOWN = [(re.compile(p), why) for p, why in [
    # dtype support: numtorch computes where torch refuses the dtype
    (r"^(floor|trunc|div\.floor|floor_divide|pow|addcmul[.\w]*|argmin|subtract|sub)\(.*\) bool ",
     "computes on bool where torch refuses the dtype"),
    (r"^(lerp|addcdiv)\(.*\) (int64|bool) .*but numtorch returned",
     "lerp/addcdiv on integer or bool tensors: torch refuses them"),
    (r"torch raised NotImplementedError \(.*\), numtorch RuntimeError",
     "unsupported dtype: torch raises NotImplementedError, numtorch RuntimeError"),
    (r"^lerp\(.*\) bool .*numtorch RuntimeError \(Subtraction",
     "lerp on bool: refused, with sub's message instead of lerp's NotImplementedError"),
    # results
    (r"^addmm\(.*Target sizes", "addmm broadcasts a mat1 @ mat2 of fewer rows instead of refusing"),
    (r"^addmm\(.*int64 .*dtype float32 != torch's int64", "addmm on int64 computes in float32"),
    (r"^nansum.*bool .*dtype float32 != torch's int64", "nansum of bool gives float32 (torch int64)"),
    (r"^lerp\.tensor\(.*nan location", "lerp with infinite operands: inf where torch gives NaN"),
    (r"^pow\.half\(.*nan location", "x ** 0.5 at -inf and -0.0: inf and 0 (torch NaN and -0.0)"),
    (r"^pow\.int\(.*Integers to negative integer powers",
     "int64 ** negative int raises; torch computes (1 ** -1 == 1, 0 for |x| > 1)"),
    (r"^std_mean\(.*gradients differ", "std's gradient where std == 0 is NaN (torch finite)"),
    (r"^var_mean\(.*nan location", "var_mean of infinite inputs: numtorch returns the mean "
     "(+-inf), torch NaN"),
    # exception types
    (r"^(amin|min|norm\.inf|norm\.inf_dim)[.\w]*\(.*numtorch IndexError",
     "reductions over an empty dim raise IndexError (torch RuntimeError)"),
    # autograd
    (r"fn:flat: torch raised RuntimeError \(Function BadBackward returned an invalid gradient",
     "a one-element gradient is reshaped into any one-element input shape (torch requires a "
     "shape that expands to the input's)"),
    # optimizers
    (r"^\S+ step_two_elements: torch raised RuntimeError .* but numtorch returned",
     "a loaded 'step' of several elements is read as its first (torch: Adam-like optimizers "
     "raise)"),
    (r"^LBFGS (lr_none|missing_key)", "LBFGS steps with lr=None or a missing state key (torch "
     "raises TypeError)"),
]]


def split(failures):
    """(unexpected failures, [(failure, reason)] of known deviations)."""
    unexpected, known = [], []
    for f in failures:
        why = next((w for p, w in KNOWN if p.search(f)), None)
        (unexpected if why is None else known).append(f if why is None else (f, why))
    return unexpected, known

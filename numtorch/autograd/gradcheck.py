"""Numerical gradient checks (PyTorch's ``gradcheck``/``gradgradcheck`` signatures and defaults)."""
import numpy as np

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    pass


def _tuple(x):
    return tuple(x) if isinstance(x, (list, tuple)) else (x,)


def _numerical(fn, inputs, outputs_idx, eps):
    """Central-difference Jacobian columns per (input, output) as float64 NumPy arrays."""
    jac = {}
    if True:  # grad mode stays on: gradgradcheck's function itself calls autograd.grad
        for i, x in enumerate(inputs):
            if not _diff(x):
                continue
            flat = x._data.reshape(-1) if x._data.flags.c_contiguous else None
            if flat is None:
                raise GradcheckError("gradcheck needs contiguous inputs")
            for j in range(flat.size):
                orig = flat[j].item()  # (a CUDA input: one element read/written per step)
                flat[j] = orig + eps
                x._ver[0] += 1
                plus = [_host(o) for o in _tuple(fn(*inputs))]
                flat[j] = orig - eps
                minus = [_host(o) for o in _tuple(fn(*inputs))]
                flat[j] = orig
                for k in outputs_idx:
                    col = (plus[k] - minus[k]).reshape(-1) / (2 * eps)
                    jac.setdefault((i, k), np.zeros((flat.size, col.size)))[j] = col
    return jac


def _host(t):
    """A float64 NumPy copy of a tensor on any device."""
    return np.array(t.detach().double().cpu()._data)


def _diff(x):
    from .._tensor import Tensor
    return isinstance(x, Tensor) and x._requires_grad


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              nondet_tol=0.0, check_undefined_grad=True, check_grad_dtypes=False,
              check_batched_grad=False, check_batched_forward_grad=False, check_forward_ad=False,
              check_backward_ad=True, fast_mode=False, masked=None):
    """Compare analytical gradients (backward) with central finite differences.

    Inputs that require grad should be float64. Returns True or raises GradcheckError.

    >>> import numtorch as torch
    >>> x = torch.randn(3, dtype=torch.float64, requires_grad=True)
    >>> torch.autograd.gradcheck(torch.sin, (x,))
    True
    """
    from .. import autograd
    inputs = _tuple(inputs)
    for x in inputs:
        if _diff(x) and x.dtype.name != "float64":
            import warnings
            warnings.warn("Input #0 requires gradient and is not a double precision floating "
                          "point. This check will likely fail if all the inputs are not of double "
                          "precision floating point.")
    outputs = _tuple(func(*inputs))
    diff_out = [k for k, o in enumerate(outputs) if o.requires_grad]
    num = _numerical(func, inputs, diff_out, eps)
    diff_in = [i for i, x in enumerate(inputs) if _diff(x)]
    for k in diff_out:
        out = outputs[k]
        n_out = out.numel()
        for r in range(n_out):
            from .._creation import zeros_like
            seed = zeros_like(out)
            seed._data.reshape(-1)[r] = 1
            outs = _tuple(func(*inputs))
            grads = autograd.grad(outs[k], [inputs[i] for i in diff_in], seed, allow_unused=True)
            for i, g in zip(diff_in, grads):
                ana = np.zeros(inputs[i].numel()) if g is None else _host(g).reshape(-1)
                numc = num[(i, k)][:, r]
                if not np.allclose(ana, numc, rtol=rtol, atol=atol):
                    msg = (f"Jacobian mismatch for output {k} with respect to input {i},\n"
                           f"numerical:{numc}\nanalytical:{ana}\n")
                    if raise_exception:
                        raise GradcheckError(msg)
                    return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  gen_non_contig_grad_outputs=False, raise_exception=True, nondet_tol=0.0,
                  check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
                  check_fwd_over_rev=False, check_rev_over_rev=True, fast_mode=False,
                  masked=False):
    """gradcheck of the gradient: checks second derivatives through ``create_graph``.

    >>> import numtorch as torch
    >>> x = torch.tensor([0.5, 1.5], dtype=torch.float64, requires_grad=True)
    >>> torch.autograd.gradgradcheck(torch.sin, (x,))
    True
    """
    from .. import autograd
    from .._creation import randn
    inputs = _tuple(inputs)
    outputs = _tuple(func(*inputs))
    if grad_outputs is None:
        grad_outputs = tuple(randn(*o.shape, dtype=o.dtype, requires_grad=True) for o in outputs
                             if o.requires_grad)
    grad_outputs = _tuple(grad_outputs)
    diff_in = [x for x in inputs if _diff(x)]
    n_in = len(inputs)

    def first(*args):
        ins, gos = args[:n_in], args[n_in:]
        outs = [o for o in _tuple(func(*ins)) if o.requires_grad]
        gs = autograd.grad(outs, [x for x in ins if _diff(x)], gos, create_graph=True,
                           allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)

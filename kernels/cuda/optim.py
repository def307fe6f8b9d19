"""Fused optimizer updates on the GPU: one in-place grid-stride launch per parameter and step.

Same names, signatures and contracts as ``numtorch.kernels.cpu.optim``: ``param``, ``grad`` and
the state arrays are 1-D C-contiguous device arrays of the same length and float dtype (state
the options do not use is an empty array, which the kernels never touch); ``param`` and the state
are written in place, ``grad`` is only read; scalars are Python floats/ints/bools; nothing is
returned. ``work=`` (the CPU's serial/parallel switch) is accepted and ignored.

The arithmetic is the CPU kernels' operation by operation (PyTorch's single-tensor code): every
element is read as float64 (``float(...)``, which also makes the simulator compute in float64),
each state value is stored and read back before use, so a float32 parameter sees the same rounded
state as on the CPU. Per-step scalars (bias corrections, Adagrad's decayed rate) are computed
once on the host with the same formulas, not per thread.
"""
import math

from numba import cuda

from .. import policy
from . import memory


@policy.cuda_kernel(device=True)
def _lerp(a, b, w):
    # PyTorch's lerp: two branches keep the result exact at w = 0 and w = 1
    if abs(w) < 0.5:
        return a + w * (b - a)
    return b - (b - a) * (1.0 - w)


@policy.cuda_kernel(device=True)
def _sqrt(x):
    return math.sqrt(x) if x >= 0 else math.nan


@policy.cuda_kernel(device=True)
def _maximum(a, b):  # NaN-propagating, like torch.maximum
    if a != a or b != b:
        return a + b
    return a if a > b else b


def _launch(kernel, n, *args):
    if n == 0:
        return
    blocks, threads = memory.grid(n)
    kernel[blocks, threads](*args)


@policy.cuda_kernel
def _sgd_k(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov,
           maximize, first):
    for i in range(cuda.grid(1), param.shape[0], cuda.gridsize(1)):
        g = float(grad[i])
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * float(param[i])
        if momentum != 0:
            if first:  # PyTorch starts the buffer at the first gradient, undamped
                momentum_buffer[i] = g
            else:
                momentum_buffer[i] = float(momentum_buffer[i]) * momentum + (1.0 - dampening) * g
            b = float(momentum_buffer[i])
            if nesterov:
                g = g + momentum * b
            else:
                g = b
        param[i] = float(param[i]) - lr * g


def sgd_step(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov,
             maximize, first, *, work=None):
    """One SGD step in place; ``first`` initialises the buffer from the gradient."""
    _launch(_sgd_k, param.shape[0], param, grad, momentum_buffer, float(lr), float(momentum),
            float(dampening), float(weight_decay), bool(nesterov), bool(maximize), bool(first))


@policy.cuda_kernel
def _adam_k(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps,
            weight_decay, step_size, bias_correction2_sqrt, decay, amsgrad, maximize, decoupled):
    for i in range(cuda.grid(1), param.shape[0], cuda.gridsize(1)):
        p = float(param[i])
        g = float(grad[i])
        if maximize:
            g = -g
        if weight_decay != 0:
            if decoupled:  # AdamW: shrink the weight, leave the gradient alone
                param[i] = p * decay
                p = float(param[i])
            else:
                g = g + weight_decay * p
        exp_avg[i] = _lerp(float(exp_avg[i]), g, 1.0 - beta1)
        exp_avg_sq[i] = float(exp_avg_sq[i]) * beta2 + (1.0 - beta2) * g * g
        v = float(exp_avg_sq[i])
        if amsgrad:
            max_exp_avg_sq[i] = _maximum(float(max_exp_avg_sq[i]), v)
            v = float(max_exp_avg_sq[i])
        denom = _sqrt(v) / bias_correction2_sqrt + eps
        param[i] = p - step_size * (float(exp_avg[i]) / denom)


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps,
              weight_decay, step, amsgrad, maximize, decoupled, *, work=None):
    """One Adam (``decoupled``: AdamW) step in place; ``step`` is the already incremented count;
    ``max_exp_avg_sq`` is empty unless ``amsgrad``."""
    lr, beta1, beta2, step = float(lr), float(beta1), float(beta2), float(step)
    weight_decay = float(weight_decay)
    bias_correction1 = 1.0 - beta1 ** step
    bias_correction2 = 1.0 - beta2 ** step
    _launch(_adam_k, param.shape[0], param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1,
            beta2, float(eps), weight_decay, lr / bias_correction1, bias_correction2 ** 0.5,
            1.0 - lr * weight_decay, bool(amsgrad), bool(maximize), bool(decoupled))


@policy.cuda_kernel
def _rmsprop_k(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
               weight_decay, momentum, centered, maximize):
    for i in range(cuda.grid(1), param.shape[0], cuda.gridsize(1)):
        g = float(grad[i])
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * float(param[i])
        square_avg[i] = float(square_avg[i]) * alpha + (1.0 - alpha) * g * g
        if centered:
            grad_avg[i] = _lerp(float(grad_avg[i]), g, 1.0 - alpha)
            ga = float(grad_avg[i])
            avg = _sqrt(float(square_avg[i]) - ga * ga)
        else:
            avg = _sqrt(float(square_avg[i]))
        avg = avg + eps
        if momentum > 0:
            momentum_buffer[i] = float(momentum_buffer[i]) * momentum + g / avg
            param[i] = float(param[i]) - lr * float(momentum_buffer[i])
        else:
            param[i] = float(param[i]) - lr * (g / avg)


def rmsprop_step(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
                 weight_decay, momentum, centered, maximize, *, work=None):
    """One RMSprop step in place; ``grad_avg`` is empty unless ``centered``,
    ``momentum_buffer`` unless ``momentum > 0``."""
    _launch(_rmsprop_k, param.shape[0], param, grad, square_avg, grad_avg, momentum_buffer,
            float(lr), float(alpha), float(eps), float(weight_decay), float(momentum),
            bool(centered), bool(maximize))


@policy.cuda_kernel
def _adagrad_k(param, grad, state_sum, clr, eps, weight_decay, maximize):
    for i in range(cuda.grid(1), param.shape[0], cuda.gridsize(1)):
        g = float(grad[i])
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * float(param[i])
        state_sum[i] = float(state_sum[i]) + g * g
        std = _sqrt(float(state_sum[i])) + eps
        param[i] = float(param[i]) - clr * (g / std)


def adagrad_step(param, grad, state_sum, lr, lr_decay, eps, weight_decay, step, maximize, *,
                 work=None):
    """One Adagrad step in place; ``step`` is the already incremented step count."""
    clr = float(lr) / (1.0 + (float(step) - 1.0) * float(lr_decay))
    _launch(_adagrad_k, param.shape[0], param, grad, state_sum, clr, float(eps),
            float(weight_decay), bool(maximize))


@policy.cuda_kernel
def _adadelta_k(param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay, maximize):
    for i in range(cuda.grid(1), param.shape[0], cuda.gridsize(1)):
        g = float(grad[i])
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * float(param[i])
        square_avg[i] = float(square_avg[i]) * rho + (1.0 - rho) * g * g
        std = _sqrt(float(square_avg[i]) + eps)
        delta = _sqrt(float(acc_delta[i]) + eps) / std * g
        acc_delta[i] = float(acc_delta[i]) * rho + (1.0 - rho) * delta * delta
        param[i] = float(param[i]) - lr * delta


def adadelta_step(param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay, maximize, *,
                  work=None):
    """One Adadelta step in place."""
    _launch(_adadelta_k, param.shape[0], param, grad, square_avg, acc_delta, float(lr),
            float(rho), float(eps), float(weight_decay), bool(maximize))


@policy.cuda_kernel
def _adamax_k(param, grad, exp_avg, exp_inf, clr, beta1, beta2, eps, weight_decay, maximize):
    for i in range(cuda.grid(1), param.shape[0], cuda.gridsize(1)):
        g = float(grad[i])
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * float(param[i])
        exp_avg[i] = _lerp(float(exp_avg[i]), g, 1.0 - beta1)
        exp_inf[i] = _maximum(float(exp_inf[i]) * beta2, abs(g) + eps)
        param[i] = float(param[i]) - clr * (float(exp_avg[i]) / float(exp_inf[i]))


def adamax_step(param, grad, exp_avg, exp_inf, lr, beta1, beta2, eps, weight_decay, step,
                maximize, *, work=None):
    """One Adamax step in place; ``step`` is the already incremented step count."""
    clr = float(lr) / (1.0 - float(beta1) ** float(step))
    _launch(_adamax_k, param.shape[0], param, grad, exp_avg, exp_inf, clr, float(beta1),
            float(beta2), float(eps), float(weight_decay), bool(maximize))


@policy.cuda_kernel
def _nadam_k(param, grad, exp_avg, exp_avg_sq, beta1, beta2, eps, weight_decay,
             bias_correction2, coef_grad, coef_avg, decay, decoupled, maximize):
    for i in range(cuda.grid(1), param.shape[0], cuda.gridsize(1)):
        g = float(grad[i])
        if maximize:
            g = -g
        if weight_decay != 0:
            if decoupled:
                param[i] = float(param[i]) * decay
            else:
                g = g + weight_decay * float(param[i])
        exp_avg[i] = _lerp(float(exp_avg[i]), g, 1.0 - beta1)
        exp_avg_sq[i] = float(exp_avg_sq[i]) * beta2 + (1.0 - beta2) * g * g
        denom = _sqrt(float(exp_avg_sq[i]) / bias_correction2) + eps
        # two addcdiv_ calls in PyTorch: the parameter is rounded between them
        param[i] = float(param[i]) + coef_grad * (g / denom)
        param[i] = float(param[i]) + coef_avg * (float(exp_avg[i]) / denom)


def nadam_step(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step, mu,
               mu_next, mu_product, decoupled, maximize, *, work=None):
    """One NAdam step in place; ``step`` is the already incremented count, ``mu_product`` the
    product of the momentum factors up to this step."""
    lr, mu, mu_next, mu_product = float(lr), float(mu), float(mu_next), float(mu_product)
    _launch(_nadam_k, param.shape[0], param, grad, exp_avg, exp_avg_sq, float(beta1),
            float(beta2), float(eps), float(weight_decay), 1.0 - float(beta2) ** float(step),
            -lr * (1.0 - mu) / (1.0 - mu_product), (-lr * mu_next) / (1.0 - mu_product * mu_next),
            1.0 - lr * float(weight_decay), bool(decoupled), bool(maximize))


@policy.cuda_kernel
def _radam_k(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay,
             bias_correction1, bc2_sqrt, rect, decay, rectify, decoupled, maximize):
    for i in range(cuda.grid(1), param.shape[0], cuda.gridsize(1)):
        g = float(grad[i])
        if maximize:
            g = -g
        if weight_decay != 0:
            if decoupled:
                param[i] = float(param[i]) * decay
            else:
                g = g + weight_decay * float(param[i])
        exp_avg[i] = _lerp(float(exp_avg[i]), g, 1.0 - beta1)
        exp_avg_sq[i] = float(exp_avg_sq[i]) * beta2 + (1.0 - beta2) * g * g
        m = float(exp_avg[i]) / bias_correction1
        if rectify:
            param[i] = float(param[i]) - m * lr * (
                bc2_sqrt / (_sqrt(float(exp_avg_sq[i])) + eps)) * rect
        else:
            param[i] = float(param[i]) - m * lr


def radam_step(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step,
               decoupled, maximize, *, work=None):
    """One RAdam step in place; ``step`` is the already incremented count."""
    lr, beta1, beta2, step = float(lr), float(beta1), float(beta2), float(step)
    bias_correction2 = 1.0 - beta2 ** step
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2.0 * step * (beta2 ** step) / bias_correction2
    rect = 0.0
    if rho_t > 5.0:
        rect = ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)) ** 0.5
    _launch(_radam_k, param.shape[0], param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2,
            float(eps), float(weight_decay), 1.0 - beta1 ** step, bias_correction2 ** 0.5, rect,
            1.0 - lr * float(weight_decay), bool(rho_t > 5.0), bool(decoupled), bool(maximize))


@policy.cuda_kernel
def _asgd_k(param, grad, ax, eta, mu, decay, weight_decay, maximize):
    for i in range(cuda.grid(1), param.shape[0], cuda.gridsize(1)):
        g = float(grad[i])
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * float(param[i])
        param[i] = float(param[i]) * decay
        param[i] = float(param[i]) - eta * g
        if mu != 1.0:
            ax[i] = float(ax[i]) + (float(param[i]) - float(ax[i])) * mu
        else:
            ax[i] = param[i]


def asgd_step(param, grad, ax, eta, mu, lambd, weight_decay, maximize, *, work=None):
    """One ASGD step in place with this step's ``eta`` and ``mu`` (the caller updates them)."""
    _launch(_asgd_k, param.shape[0], param, grad, ax, float(eta), float(mu),
            1.0 - float(lambd) * float(eta), float(weight_decay), bool(maximize))


def ptx_cases():
    """Yield (label, py_func, signature) for every kernel this module can launch, for
    ``numba.cuda.compile_ptx``: each update once per parameter dtype (float16/32/64), with the
    launchers' argument types (1-D C arrays, Python floats as float64, bools)."""
    from numba import types as T
    f, b = T.float64, T.boolean
    for dt in (T.float16, T.float32, T.float64):
        v = T.Array(dt, 1, "C")
        for k, sig in ((_sgd_k, (v, v, v, f, f, f, f, b, b, b)),
                       (_adam_k, (v,) * 5 + (f,) * 8 + (b,) * 3),
                       (_rmsprop_k, (v,) * 5 + (f,) * 5 + (b,) * 2),
                       (_adagrad_k, (v, v, v, f, f, f, b)),
                       (_adadelta_k, (v,) * 4 + (f,) * 4 + (b,)),
                       (_adamax_k, (v,) * 4 + (f,) * 5 + (b,)),
                       (_nadam_k, (v,) * 4 + (f,) * 8 + (b,) * 2),
                       (_radam_k, (v,) * 4 + (f,) * 9 + (b,) * 3),
                       (_asgd_k, (v,) * 3 + (f,) * 4 + (b,))):
            yield f"{k.py_func.__name__}[{dt}]", k.py_func, T.void(*sig)

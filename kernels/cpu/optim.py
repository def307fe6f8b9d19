"""Fused optimizer updates: one in-place pass over a parameter and its state per step.

Contract of every public function here: ``param``, ``grad`` and the state arrays are 1-D
C-contiguous arrays of the same length and float dtype (the caller flattens; state the options
do not use is an empty array of that dtype); ``param`` and the state are written in place,
``grad`` is only read; scalars are Python floats/ints/bools; nothing is returned.

The arithmetic follows ``torch.optim``'s single-tensor code (torch 2.x) operation by operation:
``lerp`` with its two-branch formula, ``addcmul``/``addcdiv`` order, bias corrections from a float
step. Elements compute in float64 and each state value is stored and read back before use, so a
float32 parameter sees the same rounded state as PyTorch's update does.
"""
import math

from numba import prange

from .. import policy


@policy.scalar
def _lerp(a, b, w):
    # PyTorch's lerp: two branches keep the result exact at w = 0 and w = 1
    if abs(w) < 0.5:
        return a + w * (b - a)
    return b - (b - a) * (1.0 - w)


@policy.scalar
def _sqrt(x):
    return math.sqrt(x) if x >= 0 else math.nan


@policy.scalar
def _maximum(a, b):  # NaN-propagating, like torch.maximum
    if a != a or b != b:
        return a + b
    return a if a > b else b


def _sgd_step(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov,
              maximize, first):
    for i in prange(param.size):
        g = grad[i]
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * param[i]
        if momentum != 0:
            if first:  # PyTorch starts the buffer at the first gradient, undamped
                momentum_buffer[i] = g
            else:
                momentum_buffer[i] = momentum_buffer[i] * momentum + (1.0 - dampening) * g
            b = momentum_buffer[i]
            if nesterov:
                g = g + momentum * b
            else:
                g = b
        param[i] = param[i] - lr * g


#: ``sgd_step(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov,
#: maximize, first, work=n)``: one SGD step; ``first`` initialises the buffer from the gradient.
sgd_step = policy.Twin(_sgd_step, name="sgd_step")


def _adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps,
               weight_decay, step, amsgrad, maximize, decoupled):
    bias_correction1 = 1.0 - beta1 ** step
    bias_correction2 = 1.0 - beta2 ** step
    step_size = lr / bias_correction1
    bias_correction2_sqrt = bias_correction2 ** 0.5
    decay = 1.0 - lr * weight_decay
    for i in prange(param.size):
        p = param[i]
        g = grad[i]
        if maximize:
            g = -g
        if weight_decay != 0:
            if decoupled:  # AdamW: shrink the weight, leave the gradient alone
                param[i] = p * decay
                p = param[i]
            else:
                g = g + weight_decay * p
        exp_avg[i] = _lerp(exp_avg[i], g, 1.0 - beta1)
        exp_avg_sq[i] = exp_avg_sq[i] * beta2 + (1.0 - beta2) * g * g
        v = exp_avg_sq[i]
        if amsgrad:
            max_exp_avg_sq[i] = _maximum(max_exp_avg_sq[i], v)
            v = max_exp_avg_sq[i]
        denom = _sqrt(v) / bias_correction2_sqrt + eps
        param[i] = p - step_size * (exp_avg[i] / denom)


#: ``adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps,
#: weight_decay, step, amsgrad, maximize, decoupled, work=n)``: one Adam (``decoupled``: AdamW)
#: step; ``step`` is the already incremented step count; ``max_exp_avg_sq`` is empty unless
#: ``amsgrad``.
adam_step = policy.Twin(_adam_step, name="adam_step")


def _rmsprop_step(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
                  weight_decay, momentum, centered, maximize):
    for i in prange(param.size):
        g = grad[i]
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * param[i]
        square_avg[i] = square_avg[i] * alpha + (1.0 - alpha) * g * g
        if centered:
            grad_avg[i] = _lerp(grad_avg[i], g, 1.0 - alpha)
            ga = grad_avg[i]
            avg = _sqrt(square_avg[i] - ga * ga)
        else:
            avg = _sqrt(square_avg[i])
        avg = avg + eps
        if momentum > 0:
            momentum_buffer[i] = momentum_buffer[i] * momentum + g / avg
            param[i] = param[i] - lr * momentum_buffer[i]
        else:
            param[i] = param[i] - lr * (g / avg)


#: ``rmsprop_step(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
#: weight_decay, momentum, centered, maximize, work=n)``: one RMSprop step; ``grad_avg`` is
#: empty unless ``centered``, ``momentum_buffer`` unless ``momentum > 0``.
rmsprop_step = policy.Twin(_rmsprop_step, name="rmsprop_step")


def _adagrad_step(param, grad, state_sum, lr, lr_decay, eps, weight_decay, step, maximize):
    clr = lr / (1.0 + (step - 1.0) * lr_decay)
    for i in prange(param.size):
        g = grad[i]
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * param[i]
        state_sum[i] = state_sum[i] + g * g
        std = _sqrt(state_sum[i]) + eps
        param[i] = param[i] - clr * (g / std)


#: ``adagrad_step(param, grad, state_sum, lr, lr_decay, eps, weight_decay, step, maximize,
#: work=n)``: one Adagrad step; ``step`` is the already incremented step count.
adagrad_step = policy.Twin(_adagrad_step, name="adagrad_step")

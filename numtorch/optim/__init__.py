"""numtorch.optim: PyTorch's optimizers and learning-rate schedulers.

Each optimizer owns param groups and per-parameter state and updates every parameter with one
fused in-place Numba kernel (``numtorch.kernels.cpu.optim``).

>>> import numtorch as torch
>>> w = torch.ones(2, requires_grad=True)
>>> opt = torch.optim.Adam([w], lr=0.1)
>>> sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
>>> (w * w).sum().backward(); opt.step(); sched.step()
>>> sched.get_last_lr()
[0.05]
"""
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam, AdamW
from .rmsprop import RMSprop
from .adagrad import Adagrad
from .adadelta import Adadelta
from .adamax import Adamax
from .nadam import NAdam
from .radam import RAdam
from .asgd import ASGD
from .lbfgs import LBFGS
from . import lr_scheduler

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam",
           "RAdam", "ASGD", "LBFGS", "lr_scheduler"]

"""``numtorch.nn``: modules, parameters, functional, init (PyTorch's layout)."""
from .parameter import Parameter
from .modules import *  # noqa: F401,F403
from .modules import Module
from . import functional, init, utils, parallel  # noqa: F401

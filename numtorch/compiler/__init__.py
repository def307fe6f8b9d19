"""numtorch's static side: the graph IR (:mod:`numtorch.compiler.ir`), the tracer behind
``numtorch.jit.trace`` and ``numtorch.onnx.export``."""
from ._capture import GraphBreakError
from ._compile import compile, reset, explain, CompiledFunction, OptimizedModule

__all__ = ["compile", "reset", "explain", "CompiledFunction", "OptimizedModule", "GraphBreakError"]

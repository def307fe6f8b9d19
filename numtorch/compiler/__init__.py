"""numtorch's static side: the graph IR (:mod:`numtorch.compiler.ir`), the tracer behind
``numtorch.jit.trace`` and ``numtorch.onnx.export``."""

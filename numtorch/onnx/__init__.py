"""``numtorch.onnx``: write a model as an ONNX file, traced with ``numtorch.jit``'s tracer.

``export`` runs the model once on example inputs (in eval mode, as PyTorch's exporter does),
records its ops and translates each one into standard ONNX operators; parameters and buffers
become initializers. A second trace on other input values (and other sizes along
``dynamic_axes``) tells which numbers in the graph depend on the input, so the file never bakes
in a batch size it was told is dynamic, and a graph that depends on the input's values is
refused instead of written wrong. Needs the ``onnx`` package: ``pip install numtorch[onnx]``.
"""
import enum

__all__ = ["export", "TrainingMode"]


class TrainingMode(enum.IntEnum):
    """The mode a model is traced in: ``EVAL`` (the default: dropout off, batch norm uses its
    running statistics), ``PRESERVE`` (as the model is), ``TRAINING``.

    >>> import numtorch as torch
    >>> torch.onnx.TrainingMode.EVAL
    <TrainingMode.EVAL: 0>
    """
    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


def export(model, args=(), f=None, *, kwargs=None, export_params=True, verbose=False,
           input_names=None, output_names=None, dynamic_axes=None, opset_version=18,
           do_constant_folding=True, training=None, keep_initializers_as_inputs=False,
           **ignored):
    """Trace ``model(*args)`` and write it to ``f`` (a path, written atomically, or a binary
    file object) as an ONNX model.

    ``args``: a Tensor or a tuple of inputs (tuples/lists of tensors inside are flattened into
    ONNX inputs in order, as PyTorch does; an empty trailing dict is dropped). ``input_names`` /
    ``output_names`` name the graph's inputs and outputs (defaults ``input.1``, ``input.2``, ...
    and ``output.1``, ...). ``dynamic_axes`` maps a name to the axes that are symbolic (a list, or
    a dict axis -> dim name). ``opset_version`` 17 or newer (default 18). ``training``: a
    :class:`TrainingMode` (eval by default; the model's modes are restored afterwards).
    ``export_params=False`` makes the parameters graph inputs; ``do_constant_folding``
    precomputes ops on parameters only (the transposed weights of matmuls); ``verbose`` prints
    the ONNX graph. PyTorch's other keyword arguments (``dynamo``, ``report``, ``optimize``, ...)
    are accepted and ignored. An op without a translation, or a graph that depends on the input's
    values, raises ``RuntimeError`` naming the op, and no file is written.

    >>> import io
    >>> import numtorch as torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
    >>> buf = io.BytesIO()
    >>> torch.onnx.export(model, torch.zeros(2, 4), buf, input_names=["x"],
    ...                   output_names=["y"], dynamic_axes={"x": [0], "y": [0]})
    >>> import onnx
    >>> proto = onnx.load_from_string(buf.getvalue())
    >>> [n.op_type for n in proto.graph.node]
    ['Gemm', 'Relu']
    >>> proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param
    'x_dynamic_axes_1'
    """
    from ._export import export as _export
    return _export(model, args, f, kwargs=kwargs, export_params=export_params, verbose=verbose,
                   input_names=input_names, output_names=output_names, dynamic_axes=dynamic_axes,
                   opset_version=opset_version, do_constant_folding=do_constant_folding,
                   training=training, keep_initializers_as_inputs=keep_initializers_as_inputs,
                   ignored=ignored)

"""numtorch.jit.trace: the recorded graph (one node per Function application, params by name,
constants frozen), running it, and what cannot be traced."""
import numpy as np
import pytest

import numtorch
import numtorch.nn as nn
import numtorch.nn.functional as F


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 13 * 13, 10)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv1(x))), 2)
        return F.log_softmax(self.fc(self.drop(numtorch.flatten(x, 1))), dim=1)


def test_trace_records_ops_params_and_runs_the_graph():
    numtorch.manual_seed(0)
    m = CNN().eval()
    x = numtorch.randn(3, 1, 28, 28)
    traced = numtorch.jit.trace(m, x)
    g = traced.graph
    assert [v.name for v in g.inputs] == ["x"]
    assert [v.name for v in g.params] == ["conv1.weight", "conv1.bias", "bn.weight", "bn.bias",
                                          "bn.running_mean", "bn.running_var", "fc.weight", "fc.bias"]
    assert [v.role for v in g.params][4:6] == ["buffer", "buffer"]
    ops = [n.op for n in g.nodes]
    assert ops == ["Conv2d", "BatchNorm", "Relu", "MaxPool2d", "View", "Linear",
                   "LogSoftmax"]  # Dropout in eval is no op at all
    text = str(g)
    assert "graph(%x: f32[3, 1, 28, 28])" in text and "= Conv2d(%x, %conv1.weight, %conv1.bias" in text
    assert text.count("\n") == len(g.nodes) + 2
    assert traced.code == text
    np.testing.assert_allclose(traced(x).detach().numpy(), m(x).detach().numpy(), rtol=1e-6)
    # the traced module shares the parameters: an update to the module shows in the graph's run
    with numtorch.no_grad():
        m.fc.bias.add_(1.0)
    y = numtorch.randn(3, 1, 28, 28)
    np.testing.assert_allclose(traced(y).detach().numpy(), m(y).detach().numpy(), rtol=1e-6)
    assert set(traced.state_dict()) == set(m.state_dict())


def test_traced_graph_is_differentiable():
    numtorch.manual_seed(1)
    m = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 2))
    x = numtorch.randn(4, 5)
    traced = numtorch.jit.trace(m, x)
    traced(x).sum().backward()
    g1 = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    m(x).sum().backward()
    for a, p in zip(g1, m.parameters()):
        np.testing.assert_allclose(a.numpy(), p.grad.numpy(), rtol=1e-6)


def test_trace_function_constants_and_structured_outputs():
    w = numtorch.tensor([2.0, 3.0])  # from outside the trace: a constant of the graph

    def f(a, b):
        return {"s": a * w + b, "pair": (a.exp(), b - 1)}

    a, b = numtorch.tensor([1.0, 2.0]), numtorch.tensor([0.5, 0.5])
    tf = numtorch.jit.trace(f, (a, b))
    assert [v.role for v in tf.graph.params] == ["const"]
    out = tf(numtorch.tensor([0.0, 1.0]), numtorch.tensor([1.0, 1.0]))
    assert out["s"].tolist() == [1.0, 4.0]
    assert np.allclose(out["pair"][0].numpy(), np.exp([0.0, 1.0]))
    assert out["pair"][1].tolist() == [0.0, 0.0]


def test_detach_inside_the_trace_is_the_same_value():
    def f(x):
        return (x * 2).detach() + x

    tf = numtorch.jit.trace(f, numtorch.ones(3))
    assert not any(v.role == "const" for v in tf.graph.params)
    assert tf(numtorch.tensor([1.0, 2.0, 3.0])).tolist() == [3.0, 6.0, 9.0]


def test_trace_errors():
    lin = nn.Linear(3, 2)
    traced = numtorch.jit.trace(lin, numtorch.ones(4, 3))
    with pytest.raises(RuntimeError, match=r"traced for f32\[4, 3\], got f32\[5, 3\]"):
        traced(numtorch.ones(5, 3))
    with pytest.raises(TypeError, match="example input 0 is a list"):
        numtorch.jit.trace(lin, ([1.0, 2.0, 3.0],))
    with pytest.raises(RuntimeError, match="only tensors"):
        numtorch.jit.trace(lambda x: 3, numtorch.ones(2))
    with pytest.raises(NotImplementedError, match="no TorchScript"):
        numtorch.jit.script(lin)
    assert not numtorch.jit.is_tracing()
    seen = []
    numtorch.jit.trace(lambda x: seen.append(numtorch.jit.is_tracing()) or x + 1, numtorch.ones(1))
    assert seen == [True]
    assert numtorch.jit.ignore(len) is len and numtorch.jit.unused(len) is len
    assert not numtorch.jit.is_scripting()


def test_ops_without_a_function_are_kernel_nodes():
    """Comparisons (no gradient, so no autograd Function) are traced at the kernel level: a mask
    computed from the input is part of the graph, not a constant frozen at the traced values."""
    def f(x):
        return F.leaky_relu(x, 0.1) * (x.abs() < 2).float()

    tf = numtorch.jit.trace(f, numtorch.ones(4))  # every mask true at the traced values
    ops = [n.op for n in tf.graph.nodes]
    assert ops.count("elementwise.gt") == 1 and ops.count("elementwise.lt") == 1
    assert "= elementwise.gt(%x, 0.0, %0)" in str(tf.graph)
    x = numtorch.tensor([-3.0, -1.0, 0.5, 5.0])
    assert tf(x).tolist() == f(x).tolist()
    assert f(x).tolist() == numtorch.tensor([-0.0, -0.1, 0.5, 0.0]).tolist()

"""A small CNN classifier (conv, batch norm, max pool, linear) trained with SGD + momentum and a
StepLR schedule on 16x16 images whose class is a bright bar's position.

Written against PyTorch's API: ``run(torch)`` takes the framework module (numtorch or torch)."""
import numpy as np

FALLS = True  # the loss must fall over the run


def batches(steps, batch=16, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        y = rng.integers(0, 4, batch)
        x = rng.random((batch, 1, 16, 16), dtype=np.float32) * 0.3
        for i, c in enumerate(y):
            x[i, 0, 3 * c + 1:3 * c + 3, 2:14] += 1.0
        yield x, y.astype(np.int64)


def build(torch):
    nn, F = torch.nn, torch.nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
            self.bn1 = nn.BatchNorm2d(8)
            self.conv2 = nn.Conv2d(8, 16, 3, stride=2)
            self.fc = nn.Linear(16 * 3 * 3, 4)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)   # 8 x 8 x 8
            x = F.relu(self.conv2(x))                               # 16 x 3 x 3
            return self.fc(torch.flatten(x, 1))
    return Net()


def run(torch, steps=6, state=None):
    torch.manual_seed(0)
    model = build(torch)
    if state is not None:
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    state0 = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    loss_fn = torch.nn.CrossEntropyLoss()
    losses = []
    model.train()
    for x, y in batches(steps):
        opt.zero_grad()
        loss = loss_fn(model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        x, y = next(batches(1, batch=32, seed=1))
        pred = model(torch.from_numpy(x)).argmax(dim=1)
        acc = (pred == torch.from_numpy(y)).float().mean().item()
    return {"losses": losses, "state0": state0, "eval": [acc]}

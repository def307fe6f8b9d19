"""A variational autoencoder on 8x8 images: linear encoder to (mu, logvar), reparameterisation,
sigmoid decoder, loss = binary cross-entropy (sum) + KL divergence, Adam. The noise of the
reparameterisation comes from NumPy so that two frameworks draw the same.

Written against PyTorch's API: ``run(torch)`` takes the framework module (numtorch or torch)."""
import numpy as np

FALLS = True
D, Z, BATCH = 64, 4, 16


def batches(steps, seed=0):
    rng = np.random.default_rng(seed)
    protos = (rng.random((3, D)) > 0.5).astype(np.float32)
    for _ in range(steps):
        x = protos[rng.integers(0, 3, BATCH)] * 0.9 + rng.random((BATCH, D), dtype=np.float32) * 0.1
        eps = rng.standard_normal((BATCH, Z)).astype(np.float32)
        yield x, eps


def build(torch):
    nn, F = torch.nn, torch.nn.functional

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc21, self.fc22 = nn.Linear(D, 32), nn.Linear(32, Z), nn.Linear(32, Z)
            self.fc3, self.fc4 = nn.Linear(Z, 32), nn.Linear(32, D)

        def forward(self, x, eps):
            h = F.relu(self.fc1(x))
            mu, logvar = self.fc21(h), self.fc22(h)
            z = mu + eps * torch.exp(0.5 * logvar)
            return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar
    return VAE()


def loss_function(torch, recon, x, mu, logvar):
    bce = torch.nn.functional.binary_cross_entropy(recon, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def run(torch, steps=6, state=None):
    torch.manual_seed(0)
    model = build(torch)
    if state is not None:
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    state0 = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for x, eps in batches(steps):
        x = torch.from_numpy(x)
        opt.zero_grad()
        recon, mu, logvar = model(x, torch.from_numpy(eps))
        loss = loss_function(torch, recon, x, mu, logvar)
        loss.backward()
        opt.step()
        losses.append(loss.item() / len(x))
    return {"losses": losses, "state0": state0}

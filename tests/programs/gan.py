"""A tiny DCGAN on 8x8 images: a generator of transposed convolutions with batch norm and a
discriminator of strided convolutions with LeakyReLU, BCELoss, Adam(betas=(0.5, 0.999)), one
discriminator step (real + detached fake) and one generator step per iteration. The latent
noise comes from NumPy so that two frameworks draw the same.

Written against PyTorch's API: ``run(torch)`` takes the framework module (numtorch or torch)."""
import numpy as np

FALLS = False  # adversarial losses need not fall
NZ, BATCH = 8, 8


def batches(steps, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        real = -np.ones((BATCH, 1, 8, 8), np.float32)
        for i in range(BATCH):  # a bright cross at a random place
            r, c = rng.integers(1, 7, 2)
            real[i, 0, r, :] = real[i, 0, :, c] = 1.0
        noise = rng.standard_normal((BATCH, NZ, 1, 1)).astype(np.float32)
        yield real, noise


def build(torch):
    nn = torch.nn

    def weights_init(m):
        name = m.__class__.__name__
        if name.find("Conv") != -1:
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif name.find("BatchNorm") != -1:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)

    netG = nn.Sequential(
        nn.ConvTranspose2d(NZ, 16, 4, 1, 0, bias=False), nn.BatchNorm2d(16), nn.ReLU(True),  # 4x4
        nn.ConvTranspose2d(16, 1, 4, 2, 1, bias=False), nn.Tanh())                           # 8x8
    netD = nn.Sequential(
        nn.Conv2d(1, 16, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),              # 4x4
        nn.Conv2d(16, 1, 4, 1, 0, bias=False), nn.Sigmoid())                                 # 1x1
    netG.apply(weights_init)
    netD.apply(weights_init)
    return nn.ModuleDict({"G": netG, "D": netD})


def run(torch, steps=4, state=None):
    torch.manual_seed(0)
    nets = build(torch)
    if state is not None:
        nets.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    state0 = {k: v.detach().numpy().copy() for k, v in nets.state_dict().items()}
    netG, netD = nets["G"], nets["D"]
    crit = torch.nn.BCELoss()
    optD = torch.optim.Adam(netD.parameters(), lr=2e-3, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-3, betas=(0.5, 0.999))
    losses = []
    for real, noise in batches(steps):
        real, noise = torch.from_numpy(real), torch.from_numpy(noise)
        ones, zeros = torch.full((BATCH,), 1.0), torch.full((BATCH,), 0.0)
        netD.zero_grad()
        errD_real = crit(netD(real).view(-1), ones)
        errD_real.backward()
        fake = netG(noise)
        errD_fake = crit(netD(fake.detach()).view(-1), zeros)
        errD_fake.backward()
        optD.step()
        netG.zero_grad()
        errG = crit(netD(fake).view(-1), ones)
        errG.backward()
        optG.step()
        losses += [(errD_real + errD_fake).item(), errG.item()]
    return {"losses": losses, "state0": state0}

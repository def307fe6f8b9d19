"""REINFORCE on a small cart-pole written here in NumPy: a policy network gives action
probabilities, ``torch.distributions.Categorical`` gives log-probabilities and entropy, returns
are discounted and standardised, Adam. Actions are drawn from the policy's probabilities with
NumPy uniforms (inverse CDF), so two frameworks with equal probabilities take equal actions.

Written against PyTorch's API: ``run(torch)`` takes the framework module (numtorch or torch)."""
import math

import numpy as np

FALLS = False  # a policy-gradient loss is no training curve
GAMMA = 0.99


class CartPole:
    """Cart-pole dynamics (Euler steps of 0.02 s); done when the pole passes 12 degrees or the
    cart leaves [-2.4, 2.4]. Reward 1 per step."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def reset(self):
        self.s = self.rng.uniform(-0.05, 0.05, 4)
        return self.s.astype(np.float32)

    def step(self, action):
        x, v, th, om = self.s
        force = 10.0 if action == 1 else -10.0
        cos, sin = math.cos(th), math.sin(th)
        tmp = (force + 0.05 * om * om * sin) / 1.1
        acc_th = (9.8 * sin - cos * tmp) / (0.5 * (4.0 / 3.0 - 0.1 * cos * cos / 1.1))
        acc_x = tmp - 0.05 * acc_th * cos / 1.1
        self.s = np.array([x + 0.02 * v, v + 0.02 * acc_x, th + 0.02 * om, om + 0.02 * acc_th])
        done = abs(self.s[0]) > 2.4 or abs(self.s[2]) > 12 * math.pi / 180
        return self.s.astype(np.float32), 1.0, done


def build(torch):
    nn, F = torch.nn, torch.nn.functional

    class Policy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(4, 32), nn.Linear(32, 2)

        def forward(self, x):
            return F.softmax(self.fc2(F.relu(self.fc1(x))), dim=-1)
    return Policy()


def run(torch, steps=4, state=None, max_len=40):
    Categorical = torch.distributions.Categorical
    torch.manual_seed(0)
    policy = build(torch)
    if state is not None:
        policy.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    state0 = {k: v.detach().numpy().copy() for k, v in policy.state_dict().items()}
    opt = torch.optim.Adam(policy.parameters(), lr=1e-2)
    env, rng = CartPole(seed=1), np.random.default_rng(2)
    eps = np.finfo(np.float32).eps.item()
    losses, lengths = [], []
    for _ in range(steps):
        obs, log_probs, entropies, rewards = env.reset(), [], [], []
        for _t in range(max_len):
            probs = policy(torch.from_numpy(obs).unsqueeze(0))
            m = Categorical(probs)
            p = probs.detach().numpy()[0]
            action = torch.tensor([int(rng.random() >= p[0])])
            log_probs.append(m.log_prob(action))
            entropies.append(m.entropy())
            obs, r, done = env.step(action.item())
            rewards.append(r)
            if done:
                break
        R, returns = 0.0, []
        for r in rewards[::-1]:
            R = r + GAMMA * R
            returns.insert(0, R)
        returns = torch.tensor(returns)
        returns = (returns - returns.mean()) / (returns.std() + eps)
        loss = -(torch.cat(log_probs) * returns).sum() - 0.01 * torch.cat(entropies).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        lengths.append(len(rewards))
    sample = Categorical(probs=torch.tensor([[0.2, 0.8]])).sample((5,))
    assert sample.shape == (5, 1) and bool(((sample == 0) | (sample == 1)).all())
    return {"losses": losses, "state0": state0, "eval": lengths}

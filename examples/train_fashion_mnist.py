"""Train a CNN (or an MLP) on Fashion-MNIST with numtorch: PyTorch code with the import swapped.

    python examples/train_fashion_mnist.py --epochs 3               # the 2-conv CNN, Adam 1e-3
    python examples/train_fashion_mnist.py --model mlp --epochs 1
    python examples/train_fashion_mnist.py --resume                 # continue from the checkpoint
    mpiexec -n 2 python examples/train_fashion_mnist.py --epochs 3  # data-parallel (DDP) over MPI

Under an MPI launcher with more than one rank (or with --ddp) the script joins the process group,
shards the training set with DistributedSampler (--batch-size is per rank), wraps the model in
DistributedDataParallel and logs, shows the bar and writes checkpoints on rank 0 only; the test
accuracy is all-reduced over the ranks' shards of the test set.

Data: the IDX files of Fashion-MNIST, looked up in --data, $FASHION_MNIST, Debian's package
folder /usr/share/datasets/fashion-mnist (``apt-get install dataset-fashion-mnist``) and ./data.
A checkpoint is written after every epoch (atomically) to --out/checkpoint.pt.
"""
import argparse
import os
import sys
import time

import numtorch as torch
import numtorch.distributed as dist
import numtorch.nn as nn
import numtorch.nn.functional as F
from numtorch.nn.parallel import DistributedDataParallel as DDP
from numtorch.utils.data import DataLoader, DistributedSampler, Subset
from numtorch.vision import datasets, transforms

try:
    from tqdm.auto import tqdm
except ImportError:  # the bar is a comfort, not a requirement
    tqdm = None

DATA_DIRS = ["/usr/share/datasets/fashion-mnist", "./data"]


class CNN(nn.Module):
    """conv 1->32 3x3 pad 1, ReLU, maxpool 2, conv 32->64 3x3 pad 1, ReLU, maxpool 2,
    linear 3136->128, ReLU, linear 128->10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))

    def forward(self, x):
        return self.net(x)


def find_data(root):
    candidates = [root] if root else [os.environ.get("FASHION_MNIST")] + DATA_DIRS
    for c in candidates:
        if not c:
            continue
        for sub in ("", "FashionMNIST/raw"):
            d = os.path.join(c, sub)
            if os.path.exists(os.path.join(d, "train-images-idx3-ubyte.gz")) or \
                    os.path.exists(os.path.join(d, "train-images-idx3-ubyte")):
                return c
    sys.exit("Fashion-MNIST not found. Install Debian's package (apt-get install "
             "dataset-fashion-mnist) or put the four IDX files (train-images-idx3-ubyte.gz, "
             "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) "
             "in ./data, or pass --data DIR.")


def load_datasets(root, limit=0):
    """Fashion-MNIST's train and test sets, normalised; with ``limit``, the first ``limit``
    training images and ``limit // 6`` test images (quick runs)."""
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.2860,), (0.3530,))])
    train_set = datasets.FashionMNIST(root, train=True, transform=tf)
    test_set = datasets.FashionMNIST(root, train=False, transform=tf)
    if limit:
        train_set = Subset(train_set, range(min(limit, len(train_set))))
        test_set = Subset(test_set, range(min(max(limit // 6, 1), len(test_set))))
    return train_set, test_set


def evaluate(model, loader, device):
    model.eval()
    correct = total = 0
    loss_sum = 0.0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            out = model(x)
            loss_sum += F.cross_entropy(out, y, reduction="sum").item()
            correct += (out.argmax(1) == y).sum().item()
            total += y.shape[0]
    if dist.is_initialized():  # every rank saw its shard of the test set: sum the counts
        t = torch.tensor([correct, total, loss_sum], dtype=torch.float64)
        dist.all_reduce(t)
        correct, total, loss_sum = t.tolist()
    return correct / max(total, 1), loss_sum / max(total, 1)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--model", choices=["cnn", "mlp"], default="cnn")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None, help="folder with the IDX files")
    p.add_argument("--out", default="runs/fashion_mnist", help="checkpoint folder")
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--limit", type=int, default=0,
                   help="use only the first N training (and N/6 test) images (smoke runs)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--ddp", action="store_true",
                   help="data-parallel over MPI (automatic when mpiexec starts more than 1 rank)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    ddp = args.ddp or dist.launched_world_size() > 1
    if ddp:
        dist.init_process_group("mpi")
    rank = dist.get_rank() if ddp else 0
    main_rank = rank == 0
    if not main_rank:
        args.no_progress = True
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    root = find_data(args.data)
    train_set, test_set = load_datasets(root, args.limit)
    g = torch.Generator().manual_seed(args.seed)
    train_sampler = test_sampler = None
    if ddp:  # each rank reads its shard; set_epoch reshuffles identically on every rank
        train_sampler = DistributedSampler(train_set, shuffle=True, seed=args.seed)
        test_sampler = DistributedSampler(test_set, shuffle=False)
    train_loader = DataLoader(train_set, batch_size=args.batch_size,
                              shuffle=train_sampler is None, sampler=train_sampler,
                              generator=g if train_sampler is None else None,
                              num_workers=args.workers)
    test_loader = DataLoader(test_set, batch_size=1000, sampler=test_sampler,
                             num_workers=args.workers)

    net = (CNN() if args.model == "cnn" else MLP()).to(device)
    model = DDP(net) if ddp else net  # DDP broadcasts rank 0's initial weights
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, "checkpoint.pt")
    start_epoch = 0
    if args.resume and os.path.exists(ckpt_path):
        ckpt = torch.load(ckpt_path, map_location=device)
        net.load_state_dict(ckpt["model"])  # the plain model's keys (no "module." prefix)
        opt.load_state_dict(ckpt["optimizer"])
        g.set_state(ckpt["generator"])
        start_epoch = ckpt["epoch"]
        if main_rank:
            print(f"resumed from {ckpt_path} at epoch {start_epoch}")

    t_start = time.perf_counter()
    first_step = None
    acc = None
    for epoch in range(start_epoch, args.epochs):
        if train_sampler is not None:
            train_sampler.set_epoch(epoch)
        model.train()
        bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{args.epochs}", unit="batch",
                   disable=args.no_progress) if tqdm else train_loader
        t0 = time.perf_counter()
        seen = 0
        for x, y in bar:
            x, y = x.to(device), y.to(device)
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            seen += y.shape[0] * (dist.get_world_size() if ddp else 1)
            if first_step is None:
                first_step = time.perf_counter() - t_start
            if tqdm and not args.no_progress:
                bar.set_postfix(loss=f"{loss.item():.4f}",
                                img_s=f"{seen / (time.perf_counter() - t0):.0f}")
        epoch_time = time.perf_counter() - t0
        acc, test_loss = evaluate(model, test_loader, device)
        steps = len(train_loader)
        if not main_rank:
            continue
        print(f"epoch {epoch + 1}: test accuracy {acc:.4f}, test loss {test_loss:.4f}, "
              f"{epoch_time:.1f} s ({1000 * epoch_time / max(steps, 1):.1f} ms/step)", flush=True)
        torch.save({"epoch": epoch + 1, "model": net.state_dict(), "optimizer": opt.state_dict(),
                    "generator": g.get_state(), "test_accuracy": acc}, ckpt_path)
    if ddp:
        dist.barrier()  # no rank leaves (or reads the checkpoint) before rank 0 wrote it
    if first_step is not None and main_rank:
        print(f"time to first step (incl. compilation): {first_step:.2f} s")
    if ddp:
        dist.destroy_process_group()
    return acc


if __name__ == "__main__":
    main()

"""Hogwild training on Fashion-MNIST: several processes update one model in shared memory,
without locks (PyTorch's mnist_hogwild example, with the import swapped).

    python examples/mnist_hogwild.py --num-processes 2 --epochs 1
    python examples/mnist_hogwild.py --model mlp --limit 6000 --start-method spawn

``model.share_memory()`` moves the weights into shared memory; every process runs its own
DataLoader over its shard of the training set and its own optimizer, and each ``step()`` writes
into the same weights, which the parent then evaluates. Data: as examples/train_fashion_mnist.py.
"""
import argparse
import os
import sys
import time

import numtorch as torch
import numtorch.multiprocessing as mp
import numtorch.nn.functional as F
from numtorch.utils.data import DataLoader, Subset

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_fashion_mnist import CNN, MLP, evaluate, find_data, load_datasets  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--num-processes", type=int, default=2)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.5)
    p.add_argument("--model", choices=["cnn", "mlp"], default="cnn")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data", default=None, help="folder with the IDX files")
    p.add_argument("--limit", type=int, default=0,
                   help="use only the first N training (and N/6 test) images (smoke runs)")
    p.add_argument("--start-method", choices=["fork", "spawn"], default="fork",
                   help="fork: fast start; spawn: each process imports numtorch afresh")
    return p.parse_args(argv)


def train(rank, args, model, train_set):
    """One Hogwild worker: its shard of the data, its optimizer, the shared weights."""
    torch.manual_seed(args.seed + rank)
    shard = Subset(train_set, range(rank, len(train_set), args.num_processes))
    loader = DataLoader(shard, batch_size=args.batch_size, shuffle=True)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    model.train()
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        for x, y in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()  # writes into the shared weights
        print(f"process {rank}: epoch {epoch + 1} done in {time.perf_counter() - t0:.1f} s, "
              f"last loss {loss.item():.4f}", flush=True)


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    train_set, test_set = load_datasets(find_data(args.data), args.limit)
    model = CNN() if args.model == "cnn" else MLP()
    model.share_memory()  # the parameters (and gradients) move to shared memory in place
    mp.start_processes(train, args=(args, model, train_set), nprocs=args.num_processes,
                       start_method=args.start_method)
    acc, test_loss = evaluate(model, DataLoader(test_set, batch_size=1000), "cpu")
    print(f"test accuracy {acc:.4f}, test loss {test_loss:.4f}")
    return acc


if __name__ == "__main__":
    main()

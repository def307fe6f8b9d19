"""A torchvision-style image classifier: an ImageFolder of PNG files (written here with Pillow),
Resize + CenterCrop + flip + ToTensor + Normalize transforms, a DataLoader, torchvision's
resnet18 (3 classes) fine-tuned with SGD, a make_grid/save_image of a batch, and the weights
saved and loaded through the hub cache (``weights=`` of a model builder).

Written against PyTorch's API: ``run(torch, vision=torchvision)`` takes the framework module
and its vision library (numtorch and numtorch.vision, or torch and torchvision). Computes in
float64: resnet18's last batch norms see 12 values per channel here (2 x 2 x 3 images), which
turns float32 rounding into visible differences between any two implementations within a few
steps (with 3 values, float64's too within a dozen)."""
import os
import tempfile

import numpy as np

FALLS = True
VISION = True
CLASSES = ("disc", "ring", "stripes")


def write_images(root, per_class=4, seed=0):
    """PNG files root/<class>/<i>.png, 3 classes of simple shapes with noise, of varied sizes."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    for c, name in enumerate(CLASSES):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(per_class):
            h, w = int(rng.integers(38, 50)), int(rng.integers(38, 50))
            yy, xx = np.mgrid[:h, :w]
            r = np.hypot(yy - h / 2, xx - w / 2)
            shape = [r < 9, (r > 7) & (r < 11), (xx // 4) % 2 == 0][c]
            img = rng.integers(0, 60, (h, w, 3)) + shape[..., None] * np.array([180, 120, 60][c:] +
                                                                            [180, 120, 60][:c])
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
                os.path.join(root, name, f"{i}.png"))


def run(torch, steps=2, state=None, vision=None):
    T = vision.transforms
    saved_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            write_images(os.path.join(tmp, "images"))
            data = vision.datasets.ImageFolder(os.path.join(tmp, "images"), T.Compose([
                T.Resize(40), T.CenterCrop(36), T.RandomHorizontalFlip(p=0.0), T.ToTensor(),
                T.Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))]))
            assert data.classes == list(CLASSES)
            # a fixed order that mixes the classes (a shuffle would draw from each framework's
            # own generator)
            order = [i + 4 * c for i in range(4) for c in range(len(CLASSES))]
            loader = torch.utils.data.DataLoader(data, batch_size=3, sampler=order)
            torch.manual_seed(0)
            model = vision.models.resnet18(num_classes=len(CLASSES)).double()
            if state is not None:
                model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
            state0 = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
            opt = torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9)
            losses = []
            model.train()
            for step in range(steps):
                for x, y in loader:
                    opt.zero_grad()
                    loss = torch.nn.functional.cross_entropy(model(x), y)
                    loss.backward()
                    opt.step()
                    losses.append(loss.item())
            vision.utils.save_image(x, os.path.join(tmp, "batch.png"), nrow=2, normalize=True)
            assert os.path.getsize(os.path.join(tmp, "batch.png")) > 0
            # the weights through the hub cache, as a downloaded checkpoint would come
            home = os.environ.get("TORCH_HOME")
            os.environ["TORCH_HOME"] = os.path.join(tmp, "torch_home")
            try:
                cache = os.path.join(tmp, "torch_home", "hub", "checkpoints")
                os.makedirs(cache)
                torch.save(model.state_dict(),
                           os.path.join(cache, os.path.basename(
                               vision.models.ResNet18_Weights.IMAGENET1K_V1.url)))
                sd = vision.models.ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
                again = vision.models.resnet18(num_classes=len(CLASSES)).double()
                again.load_state_dict(sd)
            finally:
                if home is None:
                    os.environ.pop("TORCH_HOME")
                else:
                    os.environ["TORCH_HOME"] = home
            again.eval()
            with torch.no_grad():
                x, _ = next(iter(loader))
                out = again(x)
        return {"losses": losses, "state0": state0, "eval": out.flatten().tolist()}
    finally:
        torch.set_default_dtype(saved_dtype)

"""Pieces the two KD throughput benchmarks share: models, data, the reference loop, timing and memory.

The reference loop is a re-creation, written for these benchmarks, of how CIFAR distillation code is
usually written: a torch.utils.data.DataLoader over a CPU data set that hands out PIL images, torchvision
transforms (RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize) in worker processes,
the teacher run on every batch, fp32, plain SGD. It is the yardstick, not kdsurvey code.
"""

from __future__ import annotations

import json
import os
import re
import resource
import statistics
import time

import torch
import torch.nn.functional as F

from kdsurvey.distill import data as datamod
from kdsurvey.distill import models

TEACHER, STUDENT, CLASSES = "resnet32x4", "resnet8x4", 100
T, CE_WEIGHT, KD_WEIGHT = 4.0, 0.1, 0.9
SGD = dict(lr=0.05, momentum=0.9, weight_decay=5e-4)


def fake_splits(n_train: int, n_test: int = 64):
    """CIFAR-100-shaped synthetic data (uint8, 3x32x32, 100 classes), in memory."""
    return datamod.load(f"fake:classes={CLASSES},channels=3,size=32,train={n_train},test={n_test}")


def build(arch: str, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return models.build(arch, CLASSES)


def frozen(model: torch.nn.Module, device: torch.device, channels_last: bool = False) -> torch.nn.Module:
    model.eval().to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Reference:
    """The reference loop; each call runs `steps` batches from a DataLoader iterator kept across calls."""

    def __init__(self, splits, batch_size: int, device: torch.device, workers: int, teacher: torch.nn.Module):
        import torchvision.transforms as T_

        info, cuda = splits.info, device.type == "cuda"
        transform = T_.Compose([
            T_.RandomCrop(32, padding=4), T_.RandomHorizontalFlip(), T_.ToTensor(), T_.Normalize(info.mean, info.std),
        ])  # fmt: skip
        images = splits.train.images.permute(0, 2, 3, 1).contiguous().numpy()  # HWC uint8, as CIFAR ships it
        dataset = _PilDataset(images, splits.train.labels.tolist(), transform)
        self.loader = torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, shuffle=True, num_workers=workers, pin_memory=cuda,
            persistent_workers=workers > 0, drop_last=True,
        )  # fmt: skip
        self.teacher, self.student = teacher, build(STUDENT, 1).to(device)
        self.optimizer = torch.optim.SGD(self.student.parameters(), **SGD)
        self.device, self._batches = device, self._forever()

    def _forever(self):
        while True:
            yield from self.loader

    def __call__(self, steps: int) -> float:
        sync(self.device)
        began = time.perf_counter()
        self.student.train()
        for _ in range(steps):
            x, y = next(self._batches)
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            with torch.no_grad():
                t_logits = self.teacher(x)
            s_logits = self.student(x)
            kd = F.kl_div(F.log_softmax(s_logits / T, dim=1), F.softmax(t_logits / T, dim=1), reduction="batchmean")
            loss = CE_WEIGHT * F.cross_entropy(s_logits, y) + KD_WEIGHT * kd * T * T
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        sync(self.device)
        return time.perf_counter() - began


class _PilDataset(torch.utils.data.Dataset):
    """Like torchvision's CIFAR data sets: an HWC uint8 array, a PIL image per item, then the transform."""

    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


class Memory:
    """Peak memory of one timed call: process RSS (Linux VmHWM, reset before each call through
    /proc/self/clear_refs; elsewhere ru_maxrss, which only grows) and, on CUDA, max_memory_allocated."""

    def __init__(self, device: torch.device):
        self.device = device
        self.resettable = _reset_hwm()

    def start(self) -> None:
        if self.resettable:
            _reset_hwm()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak(self) -> dict[str, float | None]:
        if self.resettable:
            status = open("/proc/self/status", encoding="ascii").read()
            rss = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024
        else:
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        gpu = torch.cuda.max_memory_allocated(self.device) / 2**20 if self.device.type == "cuda" else None
        return {"rss_mib": rss, "gpu_mib": gpu}


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine(device: torch.device) -> str:
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{os.cpu_count()} CPUs"
    return f"{device} ({where}), torch {torch.__version__}, {torch.get_num_threads()} threads"


def table(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|---|" + "---:|" * (len(columns) - 1)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def add_common_args(parser) -> None:
    """The flags both benchmarks take: --device, --warmup, --threads, --out."""
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default: 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--out", default=None, help="also write the results as JSON here")


def setup(parser, args) -> torch.device:
    """The device asked for (a bad one is a usage error) with torch's threads set as asked."""
    from kdsurvey.distill import engine
    from kdsurvey.errors import UsageError

    try:
        device = engine.resolve_device(args.device)
    except UsageError as exc:
        parser.error(str(exc))
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    return device


def write_json(path: str, record: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)
    print(f"written to {path}")

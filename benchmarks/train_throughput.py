"""Training throughput: model forward+backward alone vs a full step with the data pipeline.

    python -m benchmarks.train_throughput [--batch-size 128] [--steps 8]
        [--stems imagenet,small] [--out results/train_throughput.json]

Prints images/s for (1) fwd+bwd+optimizer on a resident random batch, (2) the full training
step as `svhn_xai.model.train` runs it (batch gather from the uint8 tensors, augmentation on the
device, fwd+bwd+step), and their ratio; for each stem, in float32 and, where it pays (see
`use_amp`), bf16. Everything printed is also written to ``--out``.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from benchmarks.record import default_path, save
from svhn_xai.data.sources import open_source
from svhn_xai.data.tensors import build_tensors
from svhn_xai.model.augment import augment_batch
from svhn_xai.model.network import DigitResNet18
from svhn_xai.model.predict import autocast, resolve_device, to_input, use_amp


def _step(model, optimizer, x, y, device, amp):
    with autocast(device, amp):
        logits = model(x)
    loss = F.binary_cross_entropy_with_logits(logits.float(), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def _rate(fn, steps: int, batch: int, device) -> float:
    fn()  # warm-up: oneDNN / cuDNN pick their kernels on the first call
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    tic = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - tic)


def _measure(tensors, args, stem: str, device, amp: bool) -> tuple[float, float]:
    """(model-only, full-step) images/s for one stem and precision."""
    b = args.batch_size
    model = DigitResNet18(stem=stem).to(device, memory_format=torch.channels_last).train()
    optimizer = torch.optim.AdamW(model.parameters())
    x = to_input(tensors.images[:b], device)
    y = tensors.presence[:b].to(device)
    model_only = _rate(lambda: _step(model, optimizer, x, y, device, amp), args.steps, b, device)
    generator = torch.Generator().manual_seed(0)

    def full() -> None:
        idx = torch.randint(len(tensors), (b,), generator=generator)
        xb = augment_batch(to_input(tensors.images[idx], device), generator)
        _step(model, optimizer, xb, tensors.presence[idx].to(device), device, amp)

    return model_only, _rate(full, args.steps, b, device)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--stems", default="imagenet,small")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=str(default_path("train_throughput")))
    args = parser.parse_args()
    device = resolve_device(args.device)
    b = args.batch_size
    tensors = build_tensors(open_source("synthetic", "test", size=4 * b), workers=1, progress=False)
    modes = [False] + ([True] if use_amp("auto", device) else [])
    print(f"device {device}, batch {b}, torch threads {torch.get_num_threads()}")
    rows = []
    for stem in args.stems.split(","):
        for amp in modes:
            model_only, full_step = _measure(tensors, args, stem, device, amp)
            name = "bf16 autocast" if amp else "float32"
            print(
                f"{stem:>8} {name:>14}: model fwd+bwd {model_only:7.1f} img/s | full step "
                f"{full_step:7.1f} img/s | ratio {full_step / model_only:.2f}"
            )
            rows.append(
                {
                    "stem": stem,
                    "precision": "bf16" if amp else "float32",
                    "model_images_per_s": model_only,
                    "full_step_images_per_s": full_step,
                }
            )
    measured = {"device": str(device), "batch_size": b, "steps": args.steps, "rows": rows}
    save(args.out, measured)


if __name__ == "__main__":
    main()

"""Training configuration: one dataclass with commented defaults; the same dict goes to W&B."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TrainConfig:
    # data
    data: str = "synthetic"  # "synthetic" (generated, offline) or "svhn" (Format 1 folders)
    root: str | None = None  # svhn: folder holding train/, test/, extra/
    split: str = "train"  # split to train on
    indices: str | None = None  # "a:b": train on this 0-based slice of the split only
    train_size: int | None = None  # synthetic: images in the training split (default 60,000)
    test_split: str = "test"  # split to test on after every epoch (same source as data)
    test_indices: str | None = None  # "a:b" slice of the test split
    test_size: int | None = None  # synthetic: images in the test split (default 2,000)
    mix_synthetic: int = 0  # add this many synthetic training images (fine-tuning on few photos)
    mix_recomposed: int = 0  # svhn: add this many house numbers recomposed from its own digits
    # the generator's options for the synthetic training images (data.synthetic.Style)
    typefaces: str = "matplotlib"  # "matplotlib" or "extended" (PyPI font packages too)
    real_backgrounds: bool = False  # svhn: synthetic digits drawn on the photos' own walls
    perspective: bool = False  # synthetic and recomposed images seen at an angle
    motion_blur: bool = False  # half the synthetic and recomposed images smeared
    real_eval: str | None = None  # also score this real SVHN split folder after every epoch
    real_eval_indices: str | None = None  # "a:b" slice of real_eval
    shortcut: str | None = None  # "D[:RATE]": plant a cue for digit D (data.synthetic.Cue)
    # what to learn
    digits: tuple[int, ...] = tuple(range(10))  # one binary "is D present?" head per digit
    input_size: int = 64  # model input side in pixels
    stem: str = "imagenet"  # "imagenet" (fast on CPU) or "small" (2x finer feature maps)
    margin: float = 0.15  # crop margin around the digits, per side, fraction of their extent
    jitter: float = 0.08  # random movement of each crop side (training only), same unit
    # optimisation
    epochs: int = 12
    batch_size: int = 128
    lr: float = 2e-3  # AdamW peak learning rate, after a one-epoch linear warm-up
    weight_decay: float = 0.05
    augment: bool = True  # random shift/zoom, colour permutation, inversion, contrast
    init: str | None = None  # start from this checkpoint's weights (fine-tuning)
    # machinery
    device: str = "auto"  # "auto" = CUDA when present, else CPU
    amp: str = "auto"  # bf16 autocast: "auto" = on CUDA and on CPUs with native bf16; "on"; "off"
    seed: int = 0
    workers: int | None = None  # processes preparing images (default: all cores)
    wandb: str = "disabled"  # "online", "offline" or "disabled"
    out: str = "checkpoints/run.pt"  # checkpoint path; model card and curves go beside it
    resume: bool = False  # continue from `out` if it exists
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes kept in the card

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["digits"] = list(self.digits)
        return data

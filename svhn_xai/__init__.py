"""svhn-xai: train a ResNet-18 to spot a digit in SVHN house numbers and explain why it decided.

The folders are the design; imports flow down this list, never up:

    data/        photos and digit boxes: real SVHN Format 1, synthetic house numbers, uploads
    model/       the ResNet-18, its training, checkpoints, accuracy and cross-validation
    explain/     every attribution method, one registry, one ``explain()`` call
    scoring/     one map against the boxes: mask rules, the metric registry, baselines, intervals
    evaluation/  many maps: the run over a data set, its leaderboard, the shortcut lab
    report/      overlays and charts for people
    cli/         ``python -m svhn_xai COMMAND``, one module per command

Beside them: ``errors`` (messages for people), ``provenance`` (where a number came from) and
``shards`` (work split across ``torchrun`` processes).
"""

__version__ = "0.1.0"

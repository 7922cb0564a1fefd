"""svhn-xai: train a ResNet-18 to spot a digit in SVHN house numbers and explain why it decided."""

__version__ = "0.1.0"

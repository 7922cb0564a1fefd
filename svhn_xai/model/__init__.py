"""The classifier and everything that makes one: the ResNet-18 with one presence head per digit
(:mod:`.network`), its training configuration, augmentation, loop and background jobs, the
checkpoints it is saved in, their accuracy on a split, cross-validation on real photos and the
export of a slim, carded checkpoint."""

"""Experiment logging to Weights & Biases that never hangs: wandb is imported only when used.

``online`` with no account or no route to the server falls back to ``offline`` (logged to
``./wandb``, syncable later with ``wandb sync``) after a connection check of a few seconds.
"""

from __future__ import annotations

import netrc
import os
import socket
import warnings
from typing import Any
from urllib.parse import urlparse

MODES = ("online", "offline", "disabled")


def _server_reachable(timeout: float = 3.0) -> bool:
    url = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def _has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc().authenticators(host or "") is not None
    except (OSError, netrc.NetrcParseError):
        return False


class Tracker:
    """Logs dicts of numbers (and images) per epoch; a no-op when disabled."""

    def __init__(self, mode: str, config: dict[str, Any], project: str = "svhn-xai") -> None:
        if mode not in MODES:
            raise ValueError(f"--wandb must be one of {MODES}, got {mode!r}")
        self.mode, self.run, self.url = mode, None, None
        if mode == "disabled":
            return
        if mode == "online" and not _has_api_key():
            warnings.warn(
                "W&B: no API key (run `wandb login`); logging offline instead", stacklevel=2
            )
            mode = "offline"
        elif mode == "online" and not _server_reachable():
            warnings.warn("W&B: server unreachable; logging offline instead", stacklevel=2)
            mode = "offline"
        import wandb

        try:
            self.run = wandb.init(
                project=project,
                config=config,
                mode=mode,
                settings=wandb.Settings(init_timeout=30, silent=True),
            )
        except Exception as exc:  # a W&B failure must never cost a training run
            warnings.warn(f"W&B could not start ({exc}); logging disabled", stacklevel=2)
            self.mode = "disabled"
            return
        self.mode = mode
        self.url = getattr(self.run, "url", None) if mode == "online" else None

    def log(self, values: dict[str, Any], step: int) -> None:
        if self.run is not None:
            self.run.log(values, step=step)

    def images(self, key: str, images: list[Any], captions: list[str], step: int) -> None:
        """Log uint8 (H, W, 3) arrays as a captioned image panel."""
        if self.run is not None:
            import wandb

            panel = [wandb.Image(im, caption=c) for im, c in zip(images, captions)]
            self.run.log({key: panel}, step=step)

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None

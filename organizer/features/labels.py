"""Class names: the ImageNet ones shipped with the package, or a model's own labels file."""

from __future__ import annotations

from importlib import resources

from organizer.errors import ModelUnavailable
from organizer.inputs import InputError, MiB, read_text


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names, shipped with the package (nothing is downloaded)."""
    text = resources.files("organizer.data").joinpath("imagenet_classes.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_labels(path: str) -> list[str]:
    """Class names, one per line (a sentence, not a traceback, for a file that is missing, not UTF-8 or not a
    regular file)."""
    try:
        text = read_text(path, "labels file (features.labels)", 64 * MiB)
    except InputError as exc:
        raise ModelUnavailable(str(exc)) from None
    return [ln.strip() for ln in text.splitlines()]

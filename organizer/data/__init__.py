"""Files shipped with the package: the 1000 ImageNet class names (read by features.labels). No code."""

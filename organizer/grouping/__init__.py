"""Grouping videos: the shared geometry (space), clustering (KMeans for N, distance groups for auto), the
large-library path (scale), new clusters night by night (growth), cluster names, and placement, which decides every
video's folder. Pure: arrays and names in, decisions out; no files, no database.

May import: vectors and types. Inside, imports run space <- growth <- scale <- clustering, names <- placement.
"""

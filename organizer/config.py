"""One table of settings: defaults, valid ranges, help. Precedence flag > config file > default lives here."""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from organizer.errors import BadFlag, ConfigError
from organizer.inputs import InputError, MiB, check_regular, read_text

CONFIG_LIMIT = 4 * MiB


@dataclass(frozen=True)
class Option:
    default: Any
    kind: type
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None


# Keys are "section.name" and map to [section] name = ... in TOML; top-level keys have no section.
OPTIONS: dict[str, Option] = {
    "clusters": Option("auto", str, "'auto': the groups of videos within placement.max_distance of their centre "
                       "(the others wait in _unsorted); or a number: KMeans makes that many (on a first run with "
                       "fewer than min_cluster_size x N videos, a ceiling the library grows into)."),
    "naming": Option("labels", str, "Cluster folder names: 'labels' (ImageNet class words when the model has "
                     "classes, else numbers) or 'index' (cluster-01, cluster-02, ...).", choices=("labels", "index")),
    "seed": Option(0, int, "Random seed for clustering and for --weights random.", 0, 2**31 - 1),
    "sampling.fps": Option(1.0, float, "Frames sampled per second of video.", 0.01, 60.0),
    "sampling.max_frames": Option(64, int, "At most this many frames per video, spread over the whole video.", 3, 2000),
    "sampling.min_frames": Option(3, int, "At least this many frames where the clip has them.", 1, 100),
    "sampling.max_pixels": Option(40_000_000, int, "Videos whose frames have more pixels than this are skipped with "
                                  "the reason, before anything is decoded (8K UHD has 33 million).", 100_000,
                                  1_000_000_000),
    "sampling.seek_seconds": Option(5.0, float, "Seek instead of decoding every frame when the next sampled frame is "
                                    "at least this many seconds ahead (0: never seek).", 0.0, 3600.0),
    "sampling.all_frames": Option(False, bool, "Decode every frame. Off (the default), FFmpeg skips the frames no "
                                  "other frame refers to (about half of a typical H.264 file) without decoding them: "
                                  "the edit is read from the rest and a sample falls on the next decoded frame."),
    "features.weights": Option("imagenet", str, "InceptionV3 weights: 'imagenet', 'random' (seeded, for offline "
                               "tests) or a path to an .h5/.keras weights file."),
    "features.model": Option("", str, "A .tflite image model to use instead of InceptionV3 (empty: InceptionV3)."),
    "features.labels": Option("", str, "Class names for a TFLite classifier, one per line (enables cluster names)."),
    "features.batch_size": Option(32, int, "Frames per model call.", 1, 1024),
    "features.threads": Option(0, int, "Inference threads (0: all cores).", 0, 256),
    "features.backend": Option("auto", str, "How InceptionV3 runs: 'auto' converts it once to TFLite (cached under "
                               "~/.cache/organizer, checked against Keras, about 5x faster) and falls back to Keras "
                               "when that fails; 'keras' always uses Keras.", choices=("auto", "keras")),
    "features.precision": Option("float32", str, "How InceptionV3 computes through Keras: 'float32', or 'bfloat16' "
                                 "(much faster on GPUs and AMX CPUs; features differ slightly, so cached analyses are "
                                 "made again). Ignored for --model.", choices=("float32", "bfloat16")),
    "features.reuse_below": Option(2.0, float, "A sampled frame whose 32x32 grey thumbnail differs from the last "
                                   "frame sent to the model by less than this (mean absolute difference, 0-255) "
                                   "reuses its features instead of running the model (0 disables).", 0.0, 255.0),
    "features.cascade": Option(True, bool, "Send only each shot's representative frame through the model; the "
                               "shot's other frames reuse its features (false: every sampled frame goes through "
                               "the model, as a comparison)."),
    "keyframes.blur_ratio": Option(0.35, float, "Drop frames whose sharpness (variance of the Laplacian) is below "
                                   "this fraction of the sharpest frame with similar content.", 0.0, 1.0),
    "keyframes.dark_max": Option(18.0, float, "Drop frames whose mean luminance (0-255) is at or below this.", 0, 255),
    "keyframes.bright_min": Option(245.0, float, "Drop frames whose mean luminance is at or above this.", 0, 255),
    "keyframes.min_color_bins": Option(10, int, "Drop near-solid frames that occupy this many or fewer of the "
                                       "8x8x8 colour-histogram bins.", 0, 512),
    "keyframes.transition_residual": Option(0.35, float, "A frame that is this close (relative residual) to a "
                                            "blend of its two neighbours is a fade/dissolve and is dropped "
                                            "(0 disables).", 0.0, 1.0),
    "keyframes.min_silhouette": Option(0.12, float, "Below this best silhouette the frames form one picture "
                                       "(one keyframe).", 0.0, 1.0),
    "keyframes.max_keyframes": Option(24, int, "At most this many keyframes per video.", 1, 500),
    "keyframes.redundant_cosine": Option(0.92, float, "A later keyframe at least this cosine-similar to a kept "
                                         "one (and with a similar colour histogram) is dropped.", 0.0, 1.0),
    "keyframes.redundant_hist": Option(0.90, float, "Colour-histogram correlation above which two keyframes "
                                       "look alike.", -1.0, 1.0),
    "placement.max_distance": Option("auto", str, "How close (cosine distance, 0 same .. 2 opposite, in the "
                                     "library's centred space) a video must be to a cluster's centre to belong: "
                                     "auto's groups keep their members within it, and on later runs a new (or "
                                     "unsorted) video joins its nearest cluster within it; farther videos form new "
                                     "clusters with each other, or wait in _unsorted. 'auto' (the default) calibrates "
                                     "it from this library's own distances in this model's feature space (most pairs "
                                     "of videos are unrelated: see grouping/calibrate.py), stored with the clusters; "
                                     "a number overrides."),
    "placement.min_cluster_size": Option(2, int, "On later runs, a group of at least this many new or unsorted "
                                         "videos, all within max_distance of their group's centre, opens a new "
                                         "cluster (up to --clusters N; any number with auto).", 2, 1000),
    "placement.reposts": Option("keep", str, "Files that are the same video (re-encoded, resized, cropped, mirrored "
                                "or trimmed copies; listed as same_video in the plan): 'keep' places each where it "
                                "belongs, 'together' puts every copy in the cluster of the best one (the largest "
                                "picture, then the largest file), 'aside' also moves all but the best into "
                                "_reposts/ inside that cluster. Nothing is ever deleted.",
                                choices=("keep", "together", "aside")),
    "safety.settle_seconds": Option(600.0, float, "Files modified within this many seconds are treated as still "
                                    "downloading and left alone.", 0.0, 1e9),
    "safety.stable_seconds": Option(2.0, float, "Files modified within the settle time are watched this many seconds: "
                                    "one that does not grow and that no process has open for writing looks like a "
                                    "finished copy (0: do not watch).", 0.0, 60.0),
    "safety.finished_copies": Option("organize", str, "Files modified within the settle time that are finished "
                                     "copies (nothing writes them, they do not grow over stable_seconds, and they "
                                     "play to their end): 'organize' them now (a library copied with cp), or "
                                     "'leave' them like a download.", choices=("leave", "organize")),
    "output.keep_plans": Option(50, int, "How many of the newest plans (and their reports) to keep in "
                                "PATH/.organizer/plans; every plan that was applied is kept too.", 1, 100000),
    "engine.workers": Option("auto", str, "Worker processes that analyse videos: a number, or 'auto' for one per "
                             "usable CPU core. Each loads the model once; inference threads are split between them."),
    "engine.video_timeout": Option(600.0, float, "A video whose analysis takes longer than this many seconds is "
                                   "stopped, skipped with the reason and remembered (not retried every night).",
                                   1.0, 86400.0),
    "engine.executor": Option("local", str, "Where videos are analysed: 'local' (worker processes on this machine) "
                              "or 'ray' (actors on a Ray cluster; needs the organizer[ray] extra, and the library on "
                              "storage every node mounts at the same path).", choices=("local", "ray")),
    "engine.ray_address": Option("", str, "The Ray cluster for engine.executor = 'ray' (host:port or "
                                 "ray://host:port). Empty: RAY_ADDRESS, else the Ray running on this machine, else "
                                 "a Ray started for the run."),
    "engine.model_process": Option("auto", str, "Run the model in one process that batches frames across videos "
                                   "(for a GPU): 'auto' (on with Keras and a visible NVIDIA GPU), 'on' or 'off'.",
                                   choices=("auto", "on", "off")),
}

def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _attr(key: str) -> str:
    return key.replace(".", "_")


@dataclass(frozen=True)
class Settings:
    """Resolved settings; attribute names are the table keys with '.' replaced by '_'."""

    clusters: str = OPTIONS["clusters"].default
    naming: str = OPTIONS["naming"].default
    seed: int = OPTIONS["seed"].default
    sampling_fps: float = OPTIONS["sampling.fps"].default
    sampling_max_frames: int = OPTIONS["sampling.max_frames"].default
    sampling_min_frames: int = OPTIONS["sampling.min_frames"].default
    sampling_max_pixels: int = OPTIONS["sampling.max_pixels"].default
    sampling_seek_seconds: float = OPTIONS["sampling.seek_seconds"].default
    sampling_all_frames: bool = OPTIONS["sampling.all_frames"].default
    features_weights: str = OPTIONS["features.weights"].default
    features_model: str = OPTIONS["features.model"].default
    features_labels: str = OPTIONS["features.labels"].default
    features_batch_size: int = OPTIONS["features.batch_size"].default
    features_threads: int = OPTIONS["features.threads"].default
    features_backend: str = OPTIONS["features.backend"].default
    features_precision: str = OPTIONS["features.precision"].default
    features_reuse_below: float = OPTIONS["features.reuse_below"].default
    features_cascade: bool = OPTIONS["features.cascade"].default
    keyframes_blur_ratio: float = OPTIONS["keyframes.blur_ratio"].default
    keyframes_dark_max: float = OPTIONS["keyframes.dark_max"].default
    keyframes_bright_min: float = OPTIONS["keyframes.bright_min"].default
    keyframes_min_color_bins: int = OPTIONS["keyframes.min_color_bins"].default
    keyframes_transition_residual: float = OPTIONS["keyframes.transition_residual"].default
    keyframes_min_silhouette: float = OPTIONS["keyframes.min_silhouette"].default
    keyframes_max_keyframes: int = OPTIONS["keyframes.max_keyframes"].default
    keyframes_redundant_cosine: float = OPTIONS["keyframes.redundant_cosine"].default
    keyframes_redundant_hist: float = OPTIONS["keyframes.redundant_hist"].default
    placement_max_distance: str = OPTIONS["placement.max_distance"].default
    placement_min_cluster_size: int = OPTIONS["placement.min_cluster_size"].default
    placement_reposts: str = OPTIONS["placement.reposts"].default
    safety_settle_seconds: float = OPTIONS["safety.settle_seconds"].default
    safety_stable_seconds: float = OPTIONS["safety.stable_seconds"].default
    safety_finished_copies: str = OPTIONS["safety.finished_copies"].default
    output_keep_plans: int = OPTIONS["output.keep_plans"].default
    engine_workers: str = OPTIONS["engine.workers"].default
    engine_video_timeout: float = OPTIONS["engine.video_timeout"].default
    engine_executor: str = OPTIONS["engine.executor"].default
    engine_ray_address: str = OPTIONS["engine.ray_address"].default
    engine_model_process: str = OPTIONS["engine.model_process"].default

    @property
    def n_clusters(self) -> int | None:
        """The requested cluster count, or None for auto."""
        return None if self.clusters == "auto" else int(self.clusters)

    @property
    def max_distance(self) -> float | None:
        """The max_distance asked for, or None: calibrate it from the library (auto)."""
        return None if self.placement_max_distance == "auto" else float(self.placement_max_distance)

    @property
    def n_workers(self) -> int | None:
        """The requested number of worker processes, or None for one per usable core."""
        return None if self.engine_workers == "auto" else int(self.engine_workers)

    def as_dict(self) -> dict[str, Any]:
        return {key: getattr(self, _attr(key)) for key in OPTIONS}


assert {f.name for f in dataclasses.fields(Settings)} == {_attr(k) for k in OPTIONS}, "Settings and OPTIONS differ"


def _auto_or(value: Any, convert) -> Any:
    """'auto', or the value converted (ValueError for true/false and for what does not convert)."""
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    if isinstance(value, bool):
        raise ValueError
    return convert(text)


def count_or_auto(label: str, value: Any) -> str:
    """A positive whole number or 'auto' (clusters, workers)."""
    try:
        number = _auto_or(value, int)
    except ValueError:
        raise ConfigError(f"{label} must be a positive whole number or 'auto', not {_shown(value)}.") from None
    if number != "auto" and number < 1:
        raise ConfigError(f"{label} must be at least 1 (got {number}); use 'auto' to let organize choose.")
    return str(number)


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError
    return number


def distance_or_auto(label: str, value: Any) -> str:
    """A cosine distance (0..2) or 'auto' (placement.max_distance), kept as text like the other 'auto' options."""
    try:
        number = _auto_or(value, _finite)
    except ValueError:
        raise ConfigError(f"{label} must be a finite number between 0 and 2, or 'auto', not {_shown(value)}.") from None
    if number != "auto" and not 0.0 <= number <= 2.0:
        raise ConfigError(f"{label} must be between 0 and 2, not {number!r}.")
    return number if number == "auto" else repr(number)


def _shown(value: Any) -> str:
    """A value as the user wrote it: TOML's true/false, not Python's."""
    return str(value).lower() if isinstance(value, bool) else repr(value)


def _coerce(key: str, value: Any, label: str = "") -> Any:
    """The value converted and checked; `label` names where it came from (a flag, or a key of a file)."""
    opt = OPTIONS[key]
    label = label or f"Setting {key}"
    if key in ("clusters", "engine.workers"):
        return count_or_auto(label, value)
    if key == "placement.max_distance":
        return distance_or_auto(label, value)
    try:
        if opt.kind in (int, float) and isinstance(value, bool):
            raise ValueError                       # true is not 1
        if opt.kind is bool:
            converted: Any = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
        elif opt.kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        else:
            converted = opt.kind(value)
        if opt.kind is float and not math.isfinite(converted):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        what = {float: "a finite number", int: "a whole number", bool: "true or false"}.get(opt.kind, "text")
        raise ConfigError(f"{label} must be {what}, not {_shown(value)}.") from None
    if opt.choices and converted not in opt.choices:
        raise ConfigError(f"{label} must be one of {', '.join(opt.choices)}, not {converted!r}.")
    if opt.min is not None and converted < opt.min or opt.max is not None and converted > opt.max:
        raise ConfigError(f"{label} must be between {_num(opt.min)} and {_num(opt.max)}, not {converted!r}.")
    return converted


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML config into flat 'section.key' entries, rejecting unknown keys."""
    path = Path(path)
    try:
        text = read_text(path, "settings file (--config)", CONFIG_LIMIT)
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML ({exc}); fix it or start from "
                          "the defaults `organize config` prints.") from None
    except RecursionError:
        raise ConfigError(f"Config file {path} is nested too deeply to be a settings file; start from the "
                          "defaults `organize config` prints.") from None
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                flat[f"{key}.{sub}"] = subvalue
        else:
            flat[key] = value
    unknown = sorted(set(flat) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"Config file {path} has unknown setting(s): {', '.join(unknown)}. "
                          "`organize config` prints every valid one.")
    return flat


def user_config() -> Path | None:
    """$XDG_CONFIG_HOME/organizer/config.toml (~/.config/organizer/config.toml), if it exists: the settings a user
    keeps for every run (a model path for cron, say). --config FILE is read instead of it."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    path = Path(base) / "organizer" / "config.toml"
    return path if os.path.lexists(path) else None


def resolve(flags: dict[str, Any] | None = None, config_file: str | Path | None = None,
            flag_names: dict[str, str] | None = None) -> Settings:
    """Build Settings: a flag that was given beats the config file, which beats the default.

    Args:
        flags: settings by table key ("placement.max_distance"); None values count as not given.
        config_file: a TOML file of the same keys in sections ([placement] max_distance = 0.6), or None.
        flag_names: settings key -> the command-line flag that set it, to name it in errors.

    Returns: frozen `Settings` with every value converted and checked.

    Raises: every bad value at once, each named by where it came from: a bad flag is a usage error (BadFlag,
    exit 2); a bad value in the file names the file and its key (ConfigError, exit 1)."""
    values: dict[str, Any] = {}
    labels: dict[str, str] = {}
    if config_file:
        values.update(load_config_file(config_file))
        labels.update({k: f"Setting {k} in {config_file}" for k in values})
    for key, value in (flags or {}).items():
        if value is not None:
            if key not in OPTIONS:
                raise ConfigError(f"Unknown setting {key}.")
            values[key] = value
            labels[key] = (flag_names or {}).get(key, f"Setting {key}")
    converted, problems, by_flag = {}, [], False
    for key, value in values.items():
        try:
            converted[_attr(key)] = _coerce(key, value, labels[key])
            if key in PATH_SETTINGS and converted[_attr(key)] not in ("", "imagenet", "random"):
                converted[_attr(key)] = _usable_file(converted[_attr(key)], labels[key])
        except ConfigError as exc:
            problems.append(str(exc))
            by_flag = by_flag or labels[key].startswith("--")
    if problems:
        raise (BadFlag if by_flag else ConfigError)(" ".join(problems))
    return Settings(**converted)


PATH_SETTINGS = ("features.model", "features.labels", "features.weights")


def _usable_file(value: str, label: str) -> str:
    """A path setting with ~ and $VARIABLES expanded, made absolute (a plan records it, and is applied or reviewed
    from another folder), that exists and is a regular file (never waited on: a FIFO is refused before the library
    is locked). Errors name where the value came from."""
    path = os.path.expandvars(os.path.expanduser(value))
    if not os.path.lexists(path):
        raise ConfigError(f"{label}: the file {path} does not exist." + (
            f" (It was given as {value!r}.)" if path != value else ""))
    try:
        check_regular(path, "file")
    except InputError as exc:
        raise ConfigError(f"{label}: {exc}") from None
    return os.path.abspath(path)


def default_toml(settings: Settings | None = None) -> str:
    """The documented config: every setting with its meaning and range, and its default value (or the value in
    `settings`). `organize config` prints it; configs/default.toml is this text."""
    values = settings.as_dict() if settings is not None else {k: o.default for k, o in OPTIONS.items()}
    lines = ["# organizer settings. Every key is optional; shown values are the "
             + ("defaults." if settings is None else "values in effect."),
             "# Precedence: command-line flag > this file (--config FILE) > built-in default.", ""]
    section = None
    for key, opt in OPTIONS.items():
        sect, _, name = key.rpartition(".")
        if sect != section:
            if sect:
                lines += ["", f"[{sect}]"]
            section = sect
        rng = ""
        if opt.choices:
            rng = f" One of: {', '.join(opt.choices)}."
        elif opt.min is not None:
            rng = f" Range {_num(opt.min)} to {_num(opt.max)}."
        lines.append(f"# {opt.help}{rng}")
        value = values[key]
        if key == "placement.max_distance" and value != "auto":
            rendered = value                     # a number kept as text (like 'auto'): written as a number
        elif isinstance(value, str):
            rendered = f'"{value}"'
        elif isinstance(value, bool):
            rendered = str(value).lower()
        else:
            rendered = repr(value)
        lines.append(f"{name} = {rendered}")
    return "\n".join(lines) + "\n"

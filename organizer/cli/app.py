"""The `organize` group, shared options, logging set-up and turning library errors into exits."""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
import sys

import click

from organizer import __version__
from organizer.config import Settings, count_or_auto, resolve, user_config
from organizer.errors import ConfigError, OrganizerError
from organizer.cli.output import shown

EXIT_CODES = {
    0: "success (some files may have been skipped; they are listed with reasons)",
    1: "error: a bad settings file, unusable model, invalid manifest, nothing to undo, or another problem explained "
       "in the message",
    2: "usage error: an unknown option, or a bad value given to an option",
    3: "another organize run holds the library lock, or another program holds the state database; nothing was "
       "changed",
    4: "videos were found but none could be processed",
    5: "some planned moves failed (each is listed with its reason); the others were done",
    6: "the library state database is damaged, foreign or from a newer organize; nothing was changed "
       "(--rebuild-state starts a fresh one)",
    7: "an interrupted move waits for a folder that cannot be reached (a disk not mounted, a library moved); "
       "nothing was moved until it is back",
}

COMMANDS = ("run", "apply", "undo", "runs", "review", "keyframes", "config")

# command-line flag -> settings key
FLAG_SETTINGS = {"clusters": "clusters", "naming": "naming", "seed": "seed", "sample_fps": "sampling.fps",
                 "max_frames": "sampling.max_frames", "weights": "features.weights", "model": "features.model",
                 "labels": "features.labels", "batch_size": "features.batch_size", "backend": "features.backend",
                 "settle_seconds": "safety.settle_seconds", "max_distance": "placement.max_distance",
                 "reposts": "placement.reposts", "workers": "engine.workers", "executor": "engine.executor", "ray_address": "engine.ray_address"}


class CountOrAuto(click.ParamType):
    """A whole number of at least 1, or 'auto' (a usage error otherwise)."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        try:
            return count_or_auto(param.opts[0] if param is not None else "the value", value)
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)


class DefaultGroup(click.Group):
    """`organize PATH ...` means `organize run PATH ...`."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args.insert(0, "run")
        return super().parse_args(ctx, args)


def model_options(f):
    """The options every analysing command takes."""
    opts = [
        click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML settings file "
                     "(`organize config` prints every setting). Flags override it."),
        click.option("--weights", help="InceptionV3 weights: imagenet (default), random (offline tests), or an "
                     ".h5/.keras file."),
        click.option("--model", type=click.Path(dir_okay=False), help="Use this .tflite image model instead of "
                     "InceptionV3."),
        click.option("--backend", type=click.Choice(["auto", "keras"]), help="auto: run InceptionV3 as a TFLite "
                     "conversion made once and cached (checked against Keras); keras: always Keras [default: auto]."),
        click.option("--labels", type=click.Path(dir_okay=False), help="Class names (one per line) for a TFLite "
                     "classifier given with --model; enables cluster names."),
        click.option("--sample-fps", type=float, help="Frames sampled per second [default: 1]."),
        click.option("--max-frames", type=int, help="At most this many frames per video [default: 64]."),
        click.option("--batch-size", type=int, help="Frames per model call [default: 32]."),
        click.option("--seed", type=int, help="Random seed [default: 0]."),
        click.option("--workers", type=CountOrAuto(), help="Worker processes that analyse videos [default: auto, one "
                     "per usable CPU core; with --executor ray, one actor per CPU of the cluster]. More than the cores "
                     "is allowed (with a note)."),
        click.option("--executor", type=click.Choice(["local", "ray"]), help="Where videos are analysed: local "
                     "worker processes, or actors on a Ray cluster (pip install 'organizer[ray]') [default: local]."),
        click.option("--ray-address", metavar="ADDR", help="The Ray cluster for --executor ray (host:port); default: "
                     "RAY_ADDRESS, else a Ray on this machine, else one started for the run."),
        click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors."),
        click.option("-v", "--verbose", is_flag=True, help="Per-video details."),
        click.option("--debug", is_flag=True, help="Show tracebacks and debug logging."),
        click.option("--log", "log_file", type=click.Path(dir_okay=False), help="Also append a log to FILE."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def settings_from(config_file, **flags) -> Settings:
    """Settings from the flags given and the settings file (--config, else ~/.config/organizer/config.toml when it
    exists); a bad flag value is named by its flag (exit 2)."""
    config_file = config_file or user_config()
    names = {key: "--" + flag.replace("_", "-") for flag, key in FLAG_SETTINGS.items()}
    return resolve({FLAG_SETTINGS[k]: v for k, v in flags.items() if k in FLAG_SETTINGS}, config_file, names)


def setup_logging(debug: bool, log_file: str | None, quiet: bool) -> None:
    """Our handlers on the root logger (replacing the ones an earlier command in this process installed)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "organize", False)]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    err = logging.StreamHandler(sys.stderr)
    err.organize = True
    err.addFilter(_visible)
    err.setLevel(logging.DEBUG if debug else (logging.ERROR if quiet else logging.WARNING))
    err.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.addHandler(err)
    if log_file:
        fh = _log_handler(log_file)
        fh.organize = True
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        fh.setLevel(logging.DEBUG if debug else logging.INFO)
        root.addHandler(fh)
    for noisy in ("tensorflow", "absl", "h5py", "PIL"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _log_handler(log_file: str) -> logging.FileHandler:
    """The --log file, its missing folders created (cron's first night on a fresh home has no ~/.cache); a path
    that cannot be a log gets a sentence and exit 1."""
    path = os.path.abspath(os.path.expanduser(log_file))
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.lexists(path) and not stat.S_ISREG(os.stat(path).st_mode):
            raise OSError(errno.EINVAL, "it is not a regular file")
        return logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:
        fail(OrganizerError(f"The log file {log_file} cannot be written ({exc.strerror}); pass --log a file in a "
                            "folder you can write."), False)
        raise


def _visible(record: logging.LogRecord) -> bool:
    """Log lines reach the terminal with control characters made visible (file names are in them)."""
    record.msg, record.args = shown(record.getMessage()), ()
    return True


def fail(exc: OrganizerError, debug: bool, as_json: bool = False) -> None:
    """Exit with the error's code and its sentence (a traceback only with --debug)."""
    if debug:
        import traceback
        traceback.print_exc()
    if as_json:
        click.echo(json.dumps({"error": str(exc), "exit_code": exc.exit_code}))
    click.echo(f"Error: {shown(exc)}", err=True)
    _to_log_files(logging.ERROR, f"{exc} (exit {exc.exit_code})")
    sys.exit(exc.exit_code)


def _to_log_files(level: int, message: str) -> None:
    """A line for the --log file only (the terminal has had it already): a failed cron run leaves its reason in
    the log, not only in the JSON."""
    record = logging.LogRecord("organizer", level, __file__, 0, message, (), None)
    for handler in logging.getLogger().handlers:
        if getattr(handler, "organize", False) and isinstance(handler, logging.FileHandler):
            handler.handle(record)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog="Exit codes: " + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items()))
@click.version_option(__version__, prog_name="organize")
def main():
    """Group a library of videos by what they show.

    \b
      organize ~/Videos --clusters 30 --dry-run     plan, write a manifest and a report, change nothing
      organize apply ~/Videos/.organizer/plans/...  do exactly what a saved plan says
      organize undo ~/Videos                        move the last run's files back
      organize keyframes clip.mp4 -o stills/        export one image per distinct picture
    """

"""A small mutation runner for the safety path: make one deliberate bug at a time, run the tests that guard that
code, and count the bugs they catch. The source is restored after each mutant, whatever happens.

    .venv/bin/python scripts/mutants.py [--only NAME ...] [--list]

Each mutant names the file, the exact text it replaces (which must occur exactly once), what it breaks, and the
test files to run. A mutant survives when those tests still pass; the score is recorded in docs/DESIGN.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]


MOVER = ("tests/test_mover.py", "tests/test_killsweep.py")
RACES = ("tests/test_races.py",)
RECOVERY = ("tests/test_recovery.py",)
STATE = "tests/test_state.py::"
INPUTS = "tests/test_inputs.py::"
REVIEW = "tests/test_review.py::"
BUSY = "test_a_busy_database_stops_the_run_before_any_move_and_is_not_called_damaged"
MUTANTS = [
    Mutant("any third level accepted in a move's dst", "organizer/moves/plan.py",
           "len(parts) == 3 and parts[1] == REPOSTS", "len(parts) == 3", ("tests/test_reposts.py",)),
    Mutant("a group's own two scenes judged furniture", "organizer/grouping/furniture.py",
           "        verdicts[k] = _unrelated(x, owner, furniture | _mask(len(x), members), videos, seed)",
           "        verdicts[k] = True",
           ("tests/test_furniture.py",)),
    Mutant("a group's own scene judged with the intro still in", "organizer/grouping/furniture.py",
           "        furniture[members] |= bool(verdicts[k])", "        furniture[members] |= False",
           ("tests/test_furniture.py",)),
    Mutant("a night with nothing new reads every keyframe", "organizer/pipeline.py",
           "all(r.cached for r in results) and state.knows_furniture(stats)", "False",
           ("tests/test_furniture.py",)),
    Mutant("a trimmed copy needs one keyframe", "organizer/grouping/reposts.py",
           "    return len(offsets) >= 2 and max(offsets) - min(offsets) <= SPREAD",
           "    return len(offsets) >= 1", ("tests/test_reposts.py",)),
    Mutant("two timelines judged by their pictures alone", "organizer/grouping/timeline.py",
           "self.marked >= LOOKS and \\\n            self.agreeing == self.windows", "self.marked >= LOOKS",
           ("tests/test_timeline.py",)),
    Mutant("a copy's own keyframe moments not checked", "organizer/grouping/timeline.py",
           "STILL_LOOKS) and self.marked >= LOOKS and", "STILL_LOOKS) and",
           ("tests/test_timeline.py",)),
    Mutant("a window where only one side moves says nothing", "organizer/grouping/timeline.py",
           "if moves[0] < MOVES and moves[1] < LONE:", "if moves[0] < MOVES:", ("tests/test_timeline.py",)),
    Mutant("a video's own stretch after a long intro gets no motion window", "organizer/grouping/timeline.py",
           "SHORT = 4 ", "SHORT = 99 ", ("tests/test_timeline.py",)),
    Mutant("an intro is only the shot around its keyframe", "organizer/grouping/timeline.py",
           "    if at and mine and min(at) < min(mine):", "    if False:", ("tests/test_timeline.py",)),
    Mutant("a part of the video that failed the gates whole is left without a keyframe",
           "organizer/analysis/parts.py", "        if part:\n", "        if False:\n", ("tests/test_keyframes.py",)),
    Mutant("a flat shot split into one-sample shots is left without a keyframe", "organizer/analysis/parts.py",
           "            if len({shots[i] for i in inside}) >= 2:", "            if False:",
           ("tests/test_keyframes.py::test_a_flat_part_split_into_one_sample_shots_still_keeps_its_best_frame",)),
    Mutant("a blend just outside a transition is the blur reference", "organizer/analysis/keyframes.py",
           "            similar &= (self.near_ >= EDGE)[None, :]", "            pass",
           ("tests/test_keyframes.py::test_a_blend_just_outside_a_transition_is_neither_the_blur_reference_nor_the_representative",)),
    Mutant("a blend just outside a transition is the representative", "organizer/analysis/keyframes.py",
           "        if self.near_ is not None and len(unit) >= 3:", "        if False:",
           ("tests/test_keyframes.py::test_a_blend_just_outside_a_transition_is_neither_the_blur_reference_nor_the_representative",)),
    Mutant("an end card in two videos is never furniture", "organizer/grouping/furniture.py", "ENDS = 2 ",
           "ENDS = 99 ", ("tests/test_furniture.py",)),
    Mutant("no zoom tried (crops missed)", "organizer/grouping/timeline.py",
           "ZOOMS = (1.0, 1.06, 1.12, 1.18)", "ZOOMS = (1.0,)", ("tests/test_timeline.py",)),
    Mutant("copies found from keyframes only", "organizer/grouping/reposts.py",
           "    if short.get(\"timeline\") is not None and long_.get(\"timeline\") is not None:",
           "    if False:", ("tests/test_reposts.py",)),
    Mutant("no candidates from plain cosine in a small library", "organizer/grouping/reposts.py",
           "    if len(x) <= EXACT:", "    if False:", ("tests/test_reposts.py",)),
    Mutant("a trimmed copy of a still scene need not move", "organizer/grouping/reposts.py",
           "match.same and (match.windows > 0 or not trimmed)", "match.same", ("tests/test_reposts.py",)),
    Mutant("a later night judges every pair of copies again", "organizer/grouping/library_stats.py",
           "seed, timelines, fresh if looked else None)", "seed, timelines, None)", ("tests/test_reposts.py",)),
    Mutant("no fsync of the copy", "organizer/moves/fsops.py", '    os.fsync(dst_fd)\n    return h.hexdigest()',
           '    return h.hexdigest()', MOVER),
    Mutant("no fsync of the destination folder", "organizer/moves/mover.py",
           "    try:\n        fsops.fsync_dir(dd)\n        fsops.fault(\"after_publish\")",
           "    try:\n        fsops.fault(\"after_publish\")", MOVER),
    Mutant("publish with a plain rename", "organizer/moves/fsops.py",
           "        os.link(src_name, dst_name, src_dir_fd=src.fd, dst_dir_fd=dst.fd, follow_symlinks=False)\n"
           "        return False",
           "        os.rename(src_name, dst_name, src_dir_fd=src.fd, dst_dir_fd=dst.fd)\n        return True", MOVER),
    Mutant("renameat2 fallback replaced by a plain rename", "organizer/moves/fsops.py",
           "    rename_noreplace(src, src_name, dst, dst_name)   # filesystems without hard links (FAT, some FUSE)",
           "    os.rename(src_name, dst_name, src_dir_fd=src.fd, dst_dir_fd=dst.fd)", MOVER),
    Mutant("undo in forward order", "organizer/moves/undo.py",
           "for op, (intent, done) in sorted(done_ops(run.records).items(), reverse=True)",
           "for op, (intent, done) in sorted(done_ops(run.records).items())", MOVER),
    Mutant("forget the .download pattern", "organizer/scan.py", r'r"\.download$", ', "", ("tests/test_scan.py",)),
    Mutant("forget the .!qB pattern", "organizer/scan.py", r'r"\.!qb$", ', "", ("tests/test_scan.py",)),
    Mutant("model left out of the analysis key", "organizer/analysis/video.py", '{"space": spec.space, **decisive}',
           '{**decisive}', ("tests/test_state.py", "tests/test_structure.py")),
    Mutant("no per-video except Exception", "organizer/engine/workers.py",
           "    except Exception as exc:       # one bad video never aborts the batch",
           "    except ZeroDivisionError as exc:", ("tests/test_engine.py",)),
    Mutant("source identity not checked", "organizer/moves/mover.py",
           "st.st_mtime_ns != mtime_ns or (ino and st.st_ino != ino)", "st.st_mtime_ns != mtime_ns", MOVER),
    Mutant("source size not checked", "organizer/moves/mover.py", "if st.st_size != size or ", "if ", MOVER),
    Mutant("no rollback when the source cannot be removed", "organizer/moves/mover.py",
           "    except OSError as exc:\n        fsops.remove(dd, dname, published)\n        fsops.fsync_dir(dd)\n",
           "    except OSError as exc:\n", MOVER),
    Mutant("temporary files removed by name alone", "organizer/moves/fsops.py",
           "    if st is None or st.st_ino != ino:\n        return False\n    fault(\"unlink\")",
           "    if st is None:\n        return False\n    fault(\"unlink\")", MOVER),
    Mutant("temporary files without O_EXCL", "organizer/moves/fsops.py",
           "os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600",
           "os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600", MOVER),
    Mutant("a torn journal line is not cut", "organizer/moves/journal.py",
           "        os.ftruncate(self._fd, data.rfind(b\"\\n\") + 1)", "        pass", MOVER),
    Mutant("folders followed through links", "organizer/moves/fsops.py",
           "DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC",
           "DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC", MOVER),
    Mutant("manifests may name our own files", "organizer/moves/plan.py", "    if looks_like_ours(rel):",
           "    if False:", MOVER + ("tests/test_manifest_properties.py",)),
    Mutant("undone moves undone again", "organizer/moves/undo.py", "            if (run.id, op) not in undone]",
           "            ]", MOVER),
    Mutant("no settle time", "organizer/scan.py", "if abs(now - st.st_mtime) < settle_seconds:",
           "if False:", ("tests/test_scan.py",)),
    Mutant("outputs replace anything", "organizer/outputs/files.py", '    return OURS[kind](path)', '    return True',
           ("tests/test_hostile.py",)),
    # Issue 28: the nine that an independent audit found surviving, each now killed by a test that observes the
    # real effect (system calls by inode, bytes on disk, state rows).
    Mutant("no fsync of a journal record", "organizer/moves/journal.py",
           "                view = view[written:]\n            os.fsync(self._fd)\n",
           "                view = view[written:]\n", MOVER),
    Mutant("the library walk enters symlinked folders", "organizer/scan.py",
           "is_dir = entry.is_dir(follow_symlinks=False)", "is_dir = entry.is_dir()", ("tests/test_scan.py",)),
    Mutant("a dry run refreshes the stored clusters", "organizer/library.py",
           "        applied = None\n        if not options.dry_run:\n",
           "        applied = None\n        if options.dry_run:\n            self.refresh(planned.plan, run)\n"
           "        if not options.dry_run:\n", (STATE + "test_a_dry_run_never_changes_the_stored_clusters",)),
    Mutant("no content check after a copy across filesystems", "organizer/moves/mover.py",
           "            if sha256_fd(dst_fd) != digest:", "            if False:", RACES),
    Mutant("the source check ignores mtime", "organizer/moves/mover.py",
           "if st.st_size != size or st.st_mtime_ns != mtime_ns or (ino and st.st_ino != ino):",
           "if st.st_size != size or (ino and st.st_ino != ino):", RACES),
    Mutant("recovery trusts any file at the destination", "organizer/moves/recovery.py",
           "    published = dst is not None and dst.st_ino in ours", "    published = dst is not None", RECOVERY),
    Mutant("a dry run runs recovery", "organizer/library.py",
           "recovered = 0 if options.dry_run else recovery.recover(self.layout)",
           "recovered = recovery.recover(self.layout)", RECOVERY),
    Mutant("undo ignores the destination inode", "organizer/moves/undo.py",
           '                      done.get("dst_ino", 0))\n            if move_one(',
           '                      0)\n            if move_one(', RACES),
    # Issue 22: a mutant per class of round three.
    Mutant("recovery takes any folder at the recorded path", "organizer/moves/recovery.py",
           "        if not ident or got == list(ident) or (n == 0 and got[1] == ident[1]):", "        if True:",
           RECOVERY),
    Mutant("recovery closes a move when a step fails", "organizer/moves/recovery.py",
           '    except OSError as exc:\n        raise RecoveryBlocked(f"Finishing',
           '    except OSError as exc:\n        return "rolled_back", {}\n        raise RecoveryBlocked(f"Finishing',
           RECOVERY),
    Mutant("an edit during the copy goes unnoticed", "organizer/moves/mover.py",
           "        if src_fd is not None and fsops.identity(os.fstat(src_fd)) != fsops.identity(st):",
           "        if False:", RACES),
    Mutant("the source is unlinked by name", "organizer/moves/fsops.py",
           "    hide(d, name, hidden)\n    st = stat_at(d, hidden)", "    st = stat_at(d, name)\n    hidden = name",
           RACES),
    Mutant("a short journal write is left torn", "organizer/moves/journal.py",
           "                    os.ftruncate(self._fd, size)\n", "                    pass\n", RACES),
    Mutant("a plan may target .organizer through a link", "organizer/moves/mover.py",
           "    if ours or STATE_DIR in PurePosixPath(real).parts:", "    if False:",
           (INPUTS + "test_a_manifest_aimed_at_a_state_folder_is_refused_before_anything_moves",)),
    Mutant("export folders named by the raw stem", "organizer/outputs/export.py",
           "        stem = safe_component(Path(path).stem or Path(path).name)",
           "        stem = Path(path).stem or Path(path).name", (INPUTS + "test_a_video_named_dot_dot_exports_inside_out",)),
    Mutant("no copy fallback on EXDEV", "organizer/moves/mover.py",
           "            if exc.errno != errno.EXDEV:\n                raise\n            cross = True", "            raise",
           RACES),
    Mutant("user files opened blocking", "organizer/inputs.py", "os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC",
           "os.O_RDONLY | os.O_CLOEXEC", (INPUTS + "test_a_manifest_path_that_is_not_a_manifest_gets_a_sentence",)),
    Mutant("a busy database called damaged", "organizer/store/state.py",
           '    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "database is locked" in str(exc):\n'
           '        return StateBusy(busy(path))\n', "", (INPUTS + BUSY,)),
    Mutant("no busy check before moving", "organizer/library.py",
           "                if with_state and lock:\n                    state.check_writable()\n", "",
           (INPUTS + BUSY,)),
    Mutant("the labels file trusted when analyses are cached", "organizer/pipeline.py",
           "    if names is not None and scores is not None and len(names) != len(scores):", "    if False:",
           (INPUTS + "test_a_bad_labels_file_is_caught_when_every_analysis_comes_from_the_cache",)),
    Mutant("a recursive walk", "organizer/scan.py", "in walk_folders(root):", "in os.walk(root, followlinks=False):",
           (INPUTS + "test_a_folder_tree_nested_1100_deep_is_walked",)),
    Mutant("a future time counts as downloading", "organizer/scan.py",
           "if abs(now - st.st_mtime) < settle_seconds:", "if now - st.st_mtime < settle_seconds:",
           (INPUTS + "test_a_file_with_a_modification_time_far_in_the_future_is_not_downloading",)),
    Mutant("two manifests with one id are one plan", "organizer/library.py",
           '                and r.digest in (digest, "")]', "]",
           (INPUTS + "test_two_edited_manifests_with_one_id_are_two_plans",)),
    Mutant("a temporary that cannot be removed is forgotten", "organizer/moves/mover.py",
           "            if attempt == 2:\n                raise MoveInterrupted(",
           "            if attempt == 3:\n                raise MoveInterrupted(", RACES),
    # Issue 24
    Mutant("undo leaves its files in their clusters", "organizer/library.py",
           "        if undone.returned:\n            self._forget_undone(", "        if False:\n            self._forget_undone(",
           (STATE + "test_after_an_undo_that_restored_everything_the_next_run_plans_from_scratch",)),
    Mutant("a copy cut short taken for a finished one", "organizer/scan.py",
           "        finished = video.rel in settled and os.fspath(video.path) in whole",
           "        finished = video.rel in settled",
           ("tests/test_first_hour.py::test_a_library_copied_with_cp_is_organized_on_the_first_run",)),
    Mutant("media opened following links", "organizer/analysis/decode.py",
           "os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)", "os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)",
           ("tests/test_hostile.py", "tests/test_decode.py")),
    # Issue 27: each guard of the review server, and the escaping of its page
    Mutant("review without its token", "organizer/review/server.py",
           "        if not hmac.compare_digest(token.encode(\"utf-8\", \"replace\"), self.review.token.encode()):",
           "        if False:", (REVIEW + "test_every_request_without_the_token_or_for_another_host_is_refused",)),
    Mutant("review answers any Host", "organizer/review/server.py",
           '        if self.headers.get("Host") not in self.review.hosts:', "        if False:",
           (REVIEW + "test_every_request_without_the_token_or_for_another_host_is_refused",)),
    Mutant("review takes writes from any origin", "organizer/review/server.py",
           '        if self.headers.get("Origin") not in self.review.origins:', "        if False:",
           (REVIEW + "test_a_cross_origin_post_is_refused_and_saves_nothing",)),
    Mutant("review page leaves names unescaped", "organizer/review/page.py",
           '    return html.escape(os.fsencode(str(text)).decode("utf-8", "replace"), quote=True)',
           '    return os.fsencode(str(text)).decode("utf-8", "replace")', (REVIEW + "test_names_with_html_stay_text",)),
    Mutant("review forgets exclusions", "organizer/pipeline.py",
           '        if kind == "exclude":\n            excluded.add(rel)', '        if kind == "exclude":\n            pass',
           (REVIEW + "test_apply_from_the_page_and_later_runs_keep_what_was_decided",)),
    # Issue 26, round two: each rule that tells look-alike pictures apart, and the sampling of short steady scenes
    Mutant("look-alike shots joined on pixels alone", "organizer/analysis/keyframes.py",
           "                        and self._runs_agree(a, b, feats):", "                        and True:",
           ("tests/test_lookalikes.py",)),
    Mutant("a missed cut between look-alike pictures never splits a shot", "organizer/analysis/keyframes.py",
           "                pieces = runs.pictures(feats, unit, self.typical_)", "                pieces = [unit]",
           ("tests/test_lookalikes.py",)),
    Mutant("the cascade's second pass asks for nothing", "organizer/analysis/keyframes.py",
           "        return sorted(want)", "        return []", ("tests/test_lookalikes.py",)),
    Mutant("runs agree whatever their spread", "organizer/analysis/runs.py",
           "    return float((distinct(a) @ distinct(b).T).max()) >= reference - MARGIN", "    return True",
           ("tests/test_lookalikes.py",)),
    Mutant("a short steady scene gets no sample", "organizer/analysis/shots.py", "STEADY = 0.03", "STEADY = -1.0",
           ("tests/test_shots.py",)),
    # Issue 26, round three: faint cuts and dissolves between still look-alike pictures
    Mutant("a faint step between still pictures is never a cut", "organizer/analysis/shots.py",
           "d[t] >= minimum or _step(y, spread, contiguous, t, w) >= STEP_CONTRAST)", "d[t] >= minimum)",
           ("tests/test_shots.py",)),
    Mutant("a quiet dissolve between still pictures stays clear", "organizer/analysis/shots.py",
           "    labels[quiet] = TRANSITION", "    labels[quiet] = labels[quiet]", ("tests/test_shots.py",)),
    Mutant("a shot goes on across a quiet step", "organizer/analysis/shots.py",
           "(quiet[t - 1] or not _same_sides(", "(False or not _same_sides(", ("tests/test_shots.py",)),
    # Issue 26, round four: a scene that two dissolves leave a tenth of a second
    Mutant("a very short stretch between transitions is never sampled", "organizer/analysis/shots.py",
           "edit.turns.get(shot, 1.0) >= TURN:", "True:", ("tests/test_shots.py",)),
    Mutant("a very short stretch inside one dissolve is sampled too", "organizer/analysis/shots.py",
           "edit.turns.get(shot, 1.0) >= TURN:", "False:", ("tests/test_shots.py",)),
    # Issue 25, round five: copies' pictures, a keyframe just after a cut, faint motion
    Mutant("a picture that is all some copies show is furniture all the same", "organizer/grouping/furniture.py",
           "        if (left[videos] == 0).any():", "        if False:", ("tests/test_furniture.py",)),
    Mutant("a copy that is nearly all intro saves the intro", "organizer/grouping/furniture.py",
           "        if first[members].all() or last[members].all():\n            continue\n", "",
           ("tests/test_furniture.py",)),
    Mutant("a keyframe moment judged on its own step only", "organizer/grouping/timeline.py",
           "for j in (k - 1, k, k + 1) if j in where and not skip[where[j]]]",
           "for j in (k,) if j in where and not skip[where[j]]]", ("tests/test_timeline.py",)),
    Mutant("a furniture step stands in for a keyframe moment", "organizer/grouping/timeline.py",
           "for j in (k - 1, k, k + 1) if j in where and not skip[where[j]]]",
           "for j in (k - 1, k, k + 1) if j in where]", ("tests/test_timeline.py",)),
    Mutant("faint motion that disagrees decides", "organizer/grouping/timeline.py",
           "        if not agrees and moves[1] < FAINT:", "        if False:", ("tests/test_timeline.py",)),
    Mutant("faint motion never decides", "organizer/grouping/timeline.py",
           "        if not agrees and moves[1] < FAINT:", "        if moves[1] < FAINT:", ("tests/test_timeline.py",)),
    Mutant("one side still while the other moves agrees when they correlate", "organizer/grouping/timeline.py",
           "        if moves[0] < MOVES:          # one side stands still", "        if False:          # one side stands still",
           ("tests/test_timeline.py",)),
    Mutant("an intro ends at its sharpest change", "organizer/grouping/timeline.py",
           "int(np.flatnonzero(span <= span.min() + tie)[-1])", "int(np.argmin(span))", ("tests/test_timeline.py",)),
    Mutant("an end card starts at its sharpest change", "organizer/grouping/timeline.py",
           "int(np.flatnonzero(span <= span.min() + tie)[0])", "int(np.argmin(span))", ("tests/test_timeline.py",)),
    Mutant("a still pair judged by the usual picture threshold", "organizer/grouping/timeline.py",
           "self.looks >= (LOOKS if self.windows else STILL_LOOKS)", "self.looks >= LOOKS",
           ("tests/test_timeline.py",)),
    Mutant("groups stored by an older round of the rules stand", "organizer/pipeline.py",
           '    stats = f"{key} rules {ls.RULES}"', "    stats = key", ("tests/test_reposts.py",)),
]


def run(mutant: Mutant, python: str) -> tuple[bool, float]:
    path = ROOT / mutant.file
    original = path.read_text()
    if original.count(mutant.old) != 1:
        raise SystemExit(f"{mutant.name}: the text to replace occurs {original.count(mutant.old)} times in "
                         f"{mutant.file}; update the mutant")
    started = time.monotonic()
    try:
        path.write_text(original.replace(mutant.old, mutant.new))
        # Whole test files run without their slow tests; a test named by node id runs even if it is slow.
        marker = [] if any("::" in t for t in mutant.tests) else ["-m", "not slow"]
        proc = subprocess.run([python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                               "--random-order-bucket=none", "--timeout=180", *marker, *mutant.tests],
                              cwd=ROOT, capture_output=True, text=True, timeout=900)
        if proc.returncode not in (0, 1):       # a usage or collection error proves nothing about the mutant
            raise SystemExit(f"{mutant.name}: pytest could not run the tests (exit {proc.returncode}):\n"
                             + proc.stdout[-3000:] + proc.stderr[-3000:])
        killed = proc.returncode == 1
    except subprocess.TimeoutExpired:
        killed = True            # a hang is caught too
    finally:
        path.write_text(original)
    return killed, time.monotonic() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", default=None, help="run only the mutants whose name contains one of these")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    chosen = [m for m in MUTANTS if args.only is None or any(o in m.name for o in args.only)]
    if args.list:
        for m in chosen:
            print(f"{m.name}: {m.file}")
        return
    killed = 0
    for mutant in chosen:
        caught, seconds = run(mutant, sys.executable)
        killed += caught
        print(f"{'killed  ' if caught else 'SURVIVED'} {mutant.name} ({mutant.file}, {seconds:.0f} s)", flush=True)
    print(f"score: {killed} of {len(chosen)} mutants killed")
    sys.exit(0 if killed == len(chosen) else 1)


if __name__ == "__main__":
    main()

"""Inputs are read-only: no output may be one of the files of either input tree.

Checked once, before anything is scored or written, against **every** file under the input
trees (paired or not, whatever ``--glob`` selected, hidden ones too), by device and inode, so a
symbolic link or a hard link to an input is caught as well as the input's own path. An output
that does not exist yet cannot be an input and costs one failed ``stat``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ssimcli.errors import OutputError, UsageError

FileId = tuple[int, int]


def _file_id(path: str | Path) -> FileId | None:
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino


def input_file_ids(trees: Iterable[str | Path]) -> dict[FileId, str]:
    """(device, inode) -> path, for every file under each tree (a tree may be a single file)."""
    found: dict[FileId, str] = {}
    for tree in trees:
        tree = Path(tree)
        if not tree.is_dir():
            file_id = _file_id(tree)
            if file_id is not None:
                found.setdefault(file_id, str(tree))
            continue
        for folder, _, filenames in os.walk(tree, followlinks=True):
            for name in filenames:
                path = os.path.join(folder, name)
                file_id = _file_id(path)
                if file_id is not None:
                    found.setdefault(file_id, path)
    return found


def refuse_outputs_over_inputs(outputs: Iterable[str | Path | None],
                               trees: Iterable[str | Path]) -> None:
    """Raise `OutputError` (exit 2, one line) when an output is any file of the input ``trees``.

    ``outputs`` may hold ``None`` (an option not given) and ``-`` (stdout): both are skipped.
    Map folders are given as the files that will be written in them (`map_files`).
    """
    wanted = [Path(o) for o in outputs if o is not None and str(o) != "-"]
    existing = [path for path in wanted if _file_id(path) is not None]
    if not existing:
        return
    inputs = input_file_ids(trees)
    for path in existing:
        source = inputs.get(_file_id(path))  # type: ignore[arg-type]
        if source is not None:
            same = "" if os.path.abspath(source) == os.path.abspath(path) else f" ({source})"
            raise OutputError(path, f"refusing to write over an input file{same}")


#: A map may be written as raw ``.npy`` and as heatmap ``.png`` (`ssimcli.reports.compare.write_maps`);
#: every map name and format is guarded, whatever ``--map-names``/``--maps-format`` chose.
MAP_SUFFIXES = (".npy", ".png")


def map_files(directory: str | Path | None, names: Iterable[str] = ("",)) -> list[Path]:
    """The files ``--maps DIR`` may write: ``DIR/<name>/<map>.<ext>`` for each pair ``name``
    (``""``: straight in ``DIR``, as ``compare`` writes them)."""
    if directory is None:
        return []
    from ssimcli.vocabulary import MAP_NAMES

    return [Path(directory, *name.split("/"), stem + suffix) if name
            else Path(directory, stem + suffix)
            for name in names for stem in MAP_NAMES for suffix in MAP_SUFFIXES]


def refuse_folder_inside_trees(folder: str | Path | None, option: str,
                               trees: Iterable[str | Path]) -> None:
    """A folder of pictures the tool writes (maps, the review page's) must lie outside both
    trees: its PNGs would be taken for inputs by the next run."""
    if folder is None:
        return
    target = Path(folder).resolve()
    for root in trees:
        base = Path(root).resolve()
        if target == base or base in target.parents:
            raise UsageError(f"{option} {folder} lies inside {root}; choose a folder outside "
                             "both trees so that its pictures are never taken for inputs")


def guard_not_input(path: str | Path, inputs: Iterable[str | Path]) -> None:
    """Refuse to write ``path`` when it is (or resolves to) one of the inputs."""
    target = Path(path)
    for source in inputs:
        source = Path(source)
        try:
            same = target.exists() and os.path.samefile(target, source)
        except OSError:
            same = False
        if same or target.resolve() == source.resolve():
            raise OutputError(path, "refusing to write over an input file")

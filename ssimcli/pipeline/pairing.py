"""Pairing two directory trees file by file, by relative path.

Used by ``ssim-l1 batch`` and ``ssim-l1 check``. Pure file-system logic: no image is opened here.

Rules
-----
* Both trees are walked recursively. Only image files count (extensions in `IMAGE_EXTENSIONS`,
  case-insensitive); hidden files and hidden folders (names starting with ``.``) are skipped, so
  editor back-ups and half-written ``.name.tmp`` files never become pairs.
* A pair's ``name`` is the reference file's path relative to the reference directory, with ``/``
  separators on every platform (``nested/a.png``).
* The candidate of ``nested/a.png`` is ``nested/a{suffix}{ext}`` in the candidate tree, where
  ``ext`` is ``candidate_ext`` when given, else the reference's own extension; when that file does
  not exist and ``candidate_ext`` was not given, a single candidate with the same stem and another
  image extension (``nested/a.jpg``) is accepted, so a folder of PNG ground truth pairs with a
  folder of JPEG outputs without options.
* ``glob`` (shell pattern, ``*`` also matches ``/``) selects reference files by relative path or by
  file name; candidates that no reference claims are reported as ``extra`` only when their path,
  with the suffix removed, matches it too (with ``candidate_ext``, whatever their extension).
* ``missing``: reference files with no candidate. ``extra``: candidate image files no reference
  claimed (relative to the candidate directory, as they are on disk).
* When one directory lies inside the other, the inner one is not walked as part of the outer.
* ``candidate_name`` (``--candidate-name '{stem}x4_SR{ext}'``, `ssimcli.pipeline.name_patterns`) names the
  candidate from the reference's stem and extension instead of ``suffix``/``candidate_ext`` (it
  cannot be combined with them). A reference that matches several candidates, or a candidate
  that several references match, is not paired: it is listed in ``ambiguous``.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ssimcli.errors import InputError, SettingError
from ssimcli.pipeline.name_patterns import NamePattern

IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif", ".npy",
)


@dataclass(frozen=True)
class Pair:
    """One reference file and its candidate.

    Attributes
    ----------
    name : str
        The reference's path relative to the reference directory, ``/``-separated.
    reference, candidate : pathlib.Path
        The two files (as found under the directories given, not resolved).
    """

    name: str
    reference: Path
    candidate: Path


@dataclass
class Pairing:
    """The outcome of pairing two trees, every list sorted by relative path.

    Attributes
    ----------
    pairs : list of Pair
        Matched files.
    missing : list of str
        Reference files (relative paths) that have no candidate.
    extra : list of str
        Candidate files (relative to the candidate directory) that no reference claimed.
    ambiguous : list of str
        With ``candidate_name``: one sentence per reference that could not be paired because
        the pattern matched several files (or one file matched several references).
    """

    pairs: list[Pair] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every file on either side found its partner."""
        return not self.missing and not self.extra and not self.ambiguous


def normalise_extension(ext: str | None) -> str | None:
    """``"jpg"``, ``".JPG"`` -> ``".jpg"``; ``None`` or ``""`` stays ``None``.

    Raises
    ------
    UsageError
        If the extension is not one of `IMAGE_EXTENSIONS`.
    """
    if not ext:
        return None
    ext = "." + ext.lower().lstrip(".")
    if ext not in IMAGE_EXTENSIONS:
        known = ", ".join(e[1:] for e in IMAGE_EXTENSIONS)
        raise SettingError("candidate_ext", f"must be an image extension ({known}); got {ext[1:]!r}")
    return ext


def is_image_file(name: str) -> bool:
    """True when the file name has one of the recognised image extensions (any case)."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def list_images(directory: str | Path, *, skip: Path | None = None) -> list[str]:
    """Relative ``/``-separated paths of the image files under ``directory``, sorted.

    Parameters
    ----------
    directory : str or Path
        The tree to walk.
    skip : Path, optional
        A resolved directory not to descend into (the other tree, when nested in this one).
    """
    root = Path(directory)
    found: list[str] = []
    for folder, dirnames, filenames in os.walk(root):
        here = Path(folder)
        # Pruning in place is how os.walk is told not to descend.
        dirnames[:] = sorted(
            d for d in dirnames
            if not d.startswith(".") and (skip is None or (here / d).resolve() != skip)
        )
        for filename in filenames:
            if filename.startswith(".") or not is_image_file(filename):
                continue
            found.append((here / filename).relative_to(root).as_posix())
    return sorted(found)


def _matches(pattern: str | None, relpath: str) -> bool:
    if not pattern:
        return True
    return fnmatch.fnmatchcase(relpath, pattern) or fnmatch.fnmatchcase(
        PurePosixPath(relpath).name, pattern
    )


def _split(relpath: str) -> tuple[str, str]:
    """``nested/a.PNG`` -> (``nested/a``, ``.png``)."""
    stem, ext = os.path.splitext(relpath)
    return stem, ext.lower()


def _check_directory(path: str | Path, role: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(path, f"no such {role} directory")
    if not path.is_dir():
        raise InputError(path, f"{role} must be a directory")
    return path


def pair_directories(
    reference_dir: str | Path,
    candidate_dir: str | Path,
    *,
    glob: str | None = None,
    suffix: str = "",
    candidate_ext: str | None = None,
    candidate_name: str | None = None,
) -> Pairing:
    """Pair every image under ``reference_dir`` with its counterpart under ``candidate_dir``.

    Parameters
    ----------
    reference_dir, candidate_dir : str or Path
        The two trees (ground truth, outputs).
    glob : str, optional
        Shell pattern selecting reference files by relative path or by file name
        (``"*.png"``, ``"nested/*"``); ``*`` also matches ``/``.
    suffix : str
        Added to the reference's stem to name the candidate: ``"_SR"`` pairs ``a.png`` with
        ``a_SR.png``.
    candidate_ext : str, optional
        Extension of every candidate (``"jpg"`` or ``".jpg"``); by default the reference's own,
        or the single candidate with the same stem and another image extension.
    candidate_name : str, optional
        A pattern naming each candidate: ``"{stem}x4_SR{ext}"`` pairs ``0801.png`` with
        ``0801x4_SR.png`` (see `ssimcli.pipeline.name_patterns`); not with ``suffix``/``candidate_ext``.

    Returns
    -------
    Pairing
        ``pairs``, ``missing`` and ``extra``, each sorted.

    Raises
    ------
    InputError
        If either directory does not exist or is not a directory.
    UsageError
        If ``candidate_ext`` is not an image extension, ``suffix`` contains a path separator,
        or ``candidate_name`` is malformed or combined with either.

    Examples
    --------
    >>> pairing = pair_directories("gt", "out", suffix="_SR")  # doctest: +SKIP
    >>> [(p.name, p.candidate.name) for p in pairing.pairs]  # doctest: +SKIP
    [('a.png', 'a_SR.png')]
    """
    ref_root = _check_directory(reference_dir, "reference")
    cand_root = _check_directory(candidate_dir, "candidate")
    if "/" in suffix or os.sep in suffix:
        raise SettingError("suffix", f"must not contain a path separator; got {suffix!r}")
    wanted_ext = normalise_extension(candidate_ext)
    pattern = _name_pattern(candidate_name, suffix, candidate_ext)
    ref_resolved, cand_resolved = ref_root.resolve(), cand_root.resolve()
    references = [r for r in list_images(ref_root, skip=cand_resolved) if _matches(glob, r)]
    candidates = list_images(cand_root, skip=ref_resolved)
    if pattern is not None:
        return _pair_by_pattern(ref_root, cand_root, references, candidates, pattern, glob)

    by_key, by_stem = _index_candidates(candidates, suffix)
    chosen = _choose(references, by_key, by_stem, wanted_ext)
    claimed = set(chosen.values())

    pairing = Pairing()
    for ref in references:
        if ref in chosen:
            pairing.pairs.append(Pair(ref, ref_root / ref, cand_root / chosen[ref]))
        else:
            pairing.missing.append(ref)
    for cand in candidates:
        if cand in claimed:
            continue
        if glob and not any(_matches(glob, c) for c in _reference_names(cand, suffix, wanted_ext)):
            continue
        pairing.extra.append(cand)
    return pairing


def _index_candidates(candidates: list[str], suffix: str
                      ) -> tuple[dict[tuple[str, str], str], dict[str, list[str]]]:
    """``(stem, ext) -> candidate`` and ``stem -> candidates``, the stem on the reference's side
    (suffix removed), so a lookup costs one dict access however many files there are."""
    by_key: dict[tuple[str, str], str] = {}
    by_stem: dict[str, list[str]] = {}
    for cand in candidates:
        stem, ext = _split(cand)
        if suffix:
            if not stem.endswith(suffix):
                continue
            stem = stem[: -len(suffix)]
        by_key.setdefault((stem, ext), cand)
        by_stem.setdefault(stem, []).append(cand)
    return by_key, by_stem


def _choose(references: list[str], by_key: dict[tuple[str, str], str],
            by_stem: dict[str, list[str]], wanted_ext: str | None) -> dict[str, str]:
    """reference -> candidate: exact names first, so that a fallback (the one candidate with the
    same stem and another extension) never steals another reference's exact match."""
    claimed: set[str] = set()
    chosen: dict[str, str] = {}
    for ref in references:
        stem, ext = _split(ref)
        exact = by_key.get((stem, wanted_ext or ext))
        if exact is not None and exact not in claimed:
            chosen[ref] = exact
            claimed.add(exact)
    if wanted_ext is not None:
        return chosen
    for ref in references:
        if ref in chosen:
            continue
        options = [c for c in by_stem.get(_split(ref)[0], []) if c not in claimed]
        if len(options) == 1:
            chosen[ref] = options[0]
            claimed.add(options[0])
    return chosen


def _reference_names(cand: str, suffix: str, wanted_ext: str | None) -> Iterator[str]:
    """The reference names a candidate could stand for (for filtering ``extra`` by the glob)."""
    stem, ext = os.path.splitext(cand)
    if suffix and stem.endswith(suffix):
        stem = stem[: -len(suffix)]
    yield stem + ext
    if wanted_ext is not None and ext.lower() == wanted_ext:
        # With --candidate-ext the outputs have another extension than the references by
        # design (.png ground truth, .jpg outputs): a glob like "*.png" still covers them.
        for other in IMAGE_EXTENSIONS:
            yield stem + other


# --- --candidate-name ----------------------------------------------------------------------

def _name_pattern(candidate_name: str | None, suffix: str, candidate_ext: str | None
                  ) -> NamePattern | None:
    if candidate_name is None:
        return None
    if suffix or candidate_ext:
        given = "suffix" if suffix else "candidate_ext"
        raise SettingError("candidate_name", f"cannot be combined with {given}: the pattern "
                                             "names the whole file ({stem}, {ext}, *)")
    return NamePattern.parse(candidate_name, IMAGE_EXTENSIONS)


def _folder_and_name(relpath: str) -> tuple[str, str]:
    folder, _, name = relpath.rpartition("/")
    return folder, name


def _pattern_claims(references: list[str], candidates: list[str], pattern: NamePattern
                    ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Which candidates each reference matches, and which references each candidate matches."""
    by_stem: dict[tuple[str, str], list[str]] = {}
    for ref in references:
        folder, name = _folder_and_name(ref)
        by_stem.setdefault((folder, os.path.splitext(name)[0]), []).append(ref)
    of_reference: dict[str, list[str]] = {}
    of_candidate: dict[str, list[str]] = {}
    for cand in candidates:
        folder, name = _folder_and_name(cand)
        # Each way of reading the name costs one dict lookup, whatever the number of files.
        for stem, ext in pattern.splits(name):
            for ref in by_stem.get((folder, stem), ()):
                if pattern.ext_matches(ext, os.path.splitext(ref)[1]):
                    of_reference.setdefault(ref, []).append(cand)
                    of_candidate.setdefault(cand, []).append(ref)
    return of_reference, of_candidate


def _pair_by_pattern(ref_root: Path, cand_root: Path, references: list[str],
                     candidates: list[str], pattern: NamePattern, glob: str | None) -> Pairing:
    of_reference, of_candidate = _pattern_claims(references, candidates, pattern)
    pairing = Pairing()
    for ref in references:
        found = of_reference.get(ref, [])
        if not found:
            pairing.missing.append(ref)
        elif len(found) > 1:
            pairing.ambiguous.append(f"{ref}: --candidate-name {pattern.text!r} matches "
                                     f"{len(found)} files: {', '.join(found)}")
        elif len(of_candidate[found[0]]) > 1:
            pairing.ambiguous.append(
                f"{ref}: {found[0]} matches --candidate-name {pattern.text!r} for "
                f"{len(of_candidate[found[0]])} references: {', '.join(of_candidate[found[0]])}")
        else:
            pairing.pairs.append(Pair(ref, ref_root / ref, cand_root / found[0]))
    for cand in candidates:
        if cand not in of_candidate and _extra_under_glob(cand, pattern, glob):
            pairing.extra.append(cand)
    return pairing


def _extra_under_glob(cand: str, pattern: NamePattern, glob: str | None) -> bool:
    """Without a glob every unclaimed candidate is extra; with one, those whose reference name
    (as the pattern reads them) the glob would have selected."""
    if not glob:
        return True
    folder, name = _folder_and_name(cand)
    prefix = f"{folder}/" if folder else ""
    for stem, ext in pattern.splits(name):
        for extension in (ext,) if ext else IMAGE_EXTENSIONS:
            if _matches(glob, f"{prefix}{stem}{extension}"):
                return True
    return False

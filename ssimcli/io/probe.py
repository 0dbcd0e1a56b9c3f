"""What an image file is, read from its header before a single pixel is decoded.

Why: a 1.2 MB PNG can claim 100000 x 100000 pixels, and decoding it first and looking after is
how a run dies of OOM with no message. So every decode starts here: `check_input_file` refuses
anything that is not a regular file (a FIFO would block forever, ``/dev/zero`` never ends) by an
``os.stat`` before any ``open``; `probe_image` reads the dimensions from the header (PNG IHDR,
the ``.npy`` header, TIFF pages through tifffile, everything else through Pillow's lazy
``Image.open``, which parses JPEG SOF, WebP, GIF and BMP headers without decoding); and
`check_limits` refuses an image over the pixel limit, or whose decoded pixels alone would not fit
in the memory available, naming the file. A pair's sizes are compared from the headers
(`probe_pair`), so a mismatch costs two header reads, not two decodes.
"""

from __future__ import annotations

import math
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ssimcli.errors import InputError, SizeMismatch
from ssimcli.options import validate_max_pixels

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
NPY_MAGIC = b"\x93NUMPY"
# PNG colour type -> samples per pixel after decoding (a palette expands to RGB, or to RGBA
# when it has transparency: counted as 4 to stay on the safe side).
_PNG_CHANNELS = {0: 1, 2: 3, 3: 4, 4: 2, 6: 4}


@dataclass(frozen=True)
class ImageHeader:
    """The shape of an image as its header declares it (nothing decoded)."""

    path: str
    format: str
    width: int
    height: int
    channels: int
    dtype: str
    #: Bytes of the decoded array (all pages/frames that are decoded, native sample type).
    nbytes: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def check_input_file(path: str | Path) -> os.stat_result:
    """``os.stat`` the path (following links) and refuse anything but a regular file.

    Done before any ``open``: opening a FIFO blocks until a writer comes, and a character
    device such as ``/dev/zero`` never reaches its end.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except PermissionError:
        raise InputError(path, "permission denied") from None
    except OSError as exc:
        raise InputError(path, f"cannot read file ({exc.strerror or type(exc).__name__})") from None
    kind = _special_kind(info.st_mode)
    if kind is not None:
        article = "an" if kind[0] in "aeiou" else "a"
        raise InputError(path, f"is {article} {kind}, not an image file")
    return info


def _special_kind(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    kinds = ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO (named pipe)"),
             (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
             (stat.S_ISSOCK, "socket"))
    for test, name in kinds:
        if test(mode):
            return name
    return "special file"


def probe_image(path: str | Path) -> ImageHeader:
    """Read the dimensions, channels and sample type of ``path`` from its header.

    Raises `InputError` (naming the file) for a missing or special file, or a header that cannot
    be read. Nothing is decoded and no pixel memory is allocated.
    """
    info = check_input_file(path)
    if info.st_size == 0:
        raise InputError(path, "empty file, not an image")
    try:
        with open(path, "rb") as handle:
            return probe_stream(path, handle)
    except PermissionError:
        raise InputError(path, "permission denied") from None
    except OSError as exc:
        raise InputError(path, f"cannot read file ({exc.strerror or type(exc).__name__})") from None


def probe_stream(path: str | Path, stream: IO[bytes]) -> ImageHeader:
    """`probe_image` on an open binary, seekable stream positioned at the file's start."""
    head = stream.read(32)
    stream.seek(0)
    if head.startswith(NPY_MAGIC) or (Path(path).suffix.lower() == ".npy" and head):
        return _probe_npy(path, stream)
    if head.startswith(PNG_MAGIC):
        return _probe_png(path, head + stream.read(1))
    if head.startswith(TIFF_MAGICS):
        return _probe_tiff(path, stream)
    return _probe_pillow(path, stream)


def _probe_png(path: str | Path, head: bytes) -> ImageHeader:
    # Signature (8), chunk length (4), "IHDR", width, height, bit depth, colour type.
    if len(head) < 26 or head[12:16] != b"IHDR":
        raise InputError(path, "not a valid PNG (truncated or corrupt data)")
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    if width == 0 or height == 0 or colour not in _PNG_CHANNELS:
        raise InputError(path, "not a valid PNG (truncated or corrupt data)")
    channels = _PNG_CHANNELS[colour]
    itemsize = 2 if depth == 16 else 1
    return ImageHeader(str(path), "PNG", width, height, channels, f"uint{8 * itemsize}",
                       width * height * channels * itemsize)


def _probe_npy(path: str | Path, stream: IO[bytes]) -> ImageHeader:
    import numpy as np

    try:
        version = np.lib.format.read_magic(stream)
        reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                  else np.lib.format.read_array_header_2_0)
        shape, _, dtype = reader(stream)
    except Exception:
        raise InputError(path, "not a valid .npy file (truncated or corrupt header)") from None
    if dtype.hasobject:
        raise InputError(path, "unsupported .npy dtype object (pickled objects are never loaded)")
    shape = tuple(int(n) for n in shape)
    height, width, channels = _plane_of(shape)
    return ImageHeader(str(path), "NPY", width, height, channels, str(dtype),
                       math.prod(shape) * dtype.itemsize)


def _plane_of(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(height, width, channels) of an array shape as `io.normalise` reads it."""
    if len(shape) >= 3 and shape[-1] <= 4:
        return shape[-3], shape[-2], shape[-1]
    if len(shape) >= 2:
        return shape[-2], shape[-1], 1
    return (shape[0] if shape else 1), 1, 1


def _probe_tiff(path: str | Path, stream: IO[bytes]) -> ImageHeader:
    import numpy as np
    import tifffile

    try:
        with tifffile.TiffFile(stream) as tif:
            series = tif.series[0]
            shape = tuple(int(n) for n in series.shape)
            dtype = np.dtype(series.dtype)
    except Exception:
        raise InputError(path, "not a valid TIFF (truncated or corrupt data)") from None
    height, width, channels = _plane_of(shape)
    return ImageHeader(str(path), "TIFF", width, height, channels, str(dtype),
                       math.prod(shape) * dtype.itemsize)


# Pillow modes -> (samples per pixel after `io` converts them, bytes per sample).
_PILLOW_SAMPLES = {
    "1": (1, 1), "L": (1, 1), "P": (4, 1), "LA": (2, 1), "La": (2, 1), "PA": (4, 1),
    "RGB": (3, 1), "RGBA": (4, 1), "RGBa": (4, 1), "RGBX": (3, 1), "CMYK": (3, 1),
    "YCbCr": (3, 1), "HSV": (3, 1), "I;16": (1, 2), "I;16L": (1, 2), "I;16B": (1, 2),
    "I;16N": (1, 2), "I": (1, 4), "F": (1, 4),
}


def unbounded_pillow() -> Any:
    """Pillow's ``Image`` module with its own bomb check (about 179 MP) switched off: it would
    refuse a 16k x 16k JPEG, and ours (`check_limits`, from the header, before any decode)
    replaces it."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None
    return Image


# Signatures of the formats Pillow reads for us: a file that starts like one of them but does
# not open is a broken file of that kind, not "not an image".
_MAGIC_NAMES = ((b"\xff\xd8\xff", "JPEG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"), (b"BM", "BMP"),
                (b"RIFF", "WebP"))


def not_readable(path: str | Path, head: bytes) -> InputError:
    """The one message for a file Pillow cannot open: by its signature, else "not an image"."""
    for magic, name in _MAGIC_NAMES:
        if head.startswith(magic):
            return InputError(path, f"not a valid {name} (truncated or corrupt data)")
    return InputError(path, "not an image file (unrecognised format)")


def _probe_pillow(path: str | Path, stream: IO[bytes]) -> ImageHeader:
    try:
        image = unbounded_pillow().open(stream)
    except Exception:
        stream.seek(0)
        raise not_readable(path, stream.read(16)) from None
    with image:
        width, height = image.size
        mode = image.mode
        kind = image.format or "image"
    channels, itemsize = _PILLOW_SAMPLES.get(mode, (4, 4))
    return ImageHeader(str(path), kind, width, height, channels, f"{mode}",
                       width * height * channels * itemsize)


def available_memory() -> int | None:
    """Bytes this process may still allocate: the smaller of ``MemAvailable`` and what the
    cgroup's limit leaves (v2 ``memory.max``, v1 ``memory.limit_in_bytes``); ``None`` if
    neither can be read (not Linux)."""
    candidates = [v for v in (_meminfo_available(), _cgroup_room()) if v is not None]
    return min(candidates) if candidates else None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _read_number(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as handle:
            text = handle.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _cgroup_room() -> int | None:
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        limit = _read_number(limit_file)
        if limit is not None and limit < 1 << 60:  # v1 spells "no limit" as a huge number
            return max(0, limit - (_read_number(usage_file) or 0))
    return None


def _pixels(count: int) -> str:
    return f"{count:,} pixels"


def _gib(count: int) -> str:
    return f"{count / 2**30:.3g} GiB"


def check_limits(header: ImageHeader, max_pixels: int | None = None,
                 memory: int | None = None) -> None:
    """Refuse ``header``'s image when it is over the pixel limit or cannot fit in memory.

    ``memory``: bytes available (default: `available_memory`, measured now).
    """
    limit = validate_max_pixels(max_pixels)
    if header.pixels > limit:
        raise InputError(
            header.path,
            f"image is {header.width}x{header.height} ({_pixels(header.pixels)}), over the limit of "
            f"{_pixels(limit)} (max-pixels)")
    room = available_memory() if memory is None else memory
    if room is not None and header.nbytes > room:
        raise InputError(
            header.path,
            f"image is {header.width}x{header.height}: decoding it needs {_gib(header.nbytes)}, "
            f"more than the {_gib(room)} of memory available")


def probe_pair(reference: str | Path, candidate: str | Path,
               max_pixels: int | None = None) -> tuple[ImageHeader, ImageHeader]:
    """Headers of both files, checked against the limits and against each other's size.

    The size mismatch is the same `SizeMismatch` that preparing the decoded pair would raise,
    found here before either image is decoded.
    """
    ref = probe_image(reference)
    cand = probe_image(candidate)
    if (ref.width, ref.height) != (cand.width, cand.height):
        raise SizeMismatch(reference, candidate, (ref.width, ref.height), (cand.width, cand.height))
    check_limits(ref, max_pixels)
    check_limits(cand, max_pixels)
    room = available_memory()
    if room is not None and ref.nbytes + cand.nbytes > room:
        raise InputError(candidate, f"the pair is {ref.width}x{ref.height}: decoding both "
                                    f"needs {_gib(ref.nbytes + cand.nbytes)}, more than the "
                                    f"{_gib(room)} of memory available")
    return ref, cand

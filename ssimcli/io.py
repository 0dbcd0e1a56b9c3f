"""Reading images and bringing them to normalised float arrays. Every failure is an `InputError`.

PNG goes through imagecodecs (libpng), which keeps all 16 bits of 16-bit RGB(A) files that
Pillow would reduce to 8; TIFF through tifffile; JPEG, BMP, WebP, GIF and the rest through
imageio's Pillow plugin; ``.npy`` through NumPy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError, PairError, SettingError

COLOR_MODES = ("rgb", "luma")
TRANSPARENCY_MODES = ("composite", "channel", "ignore")
# ITU-R BT.601 luma weights.
BT601 = (0.299, 0.587, 0.114)
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


@dataclass
class LoadedImage:
    """A decoded image: ``pixels`` is ``(H, W, C)`` float32 in [0, 1]; ``alpha`` marks the last."""

    path: str
    pixels: np.ndarray = field(repr=False)
    has_alpha: bool
    source_dtype: str
    data_range: float

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def colour_channels(self) -> int:
        return self.pixels.shape[2] - int(self.has_alpha)


def read_raw(path: str | Path) -> np.ndarray:
    """Decode a file to its native array (no normalisation); `InputError` on any failure."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, not an image file") from None
    except PermissionError:
        raise InputError(path, "permission denied") from None
    except OSError as exc:
        raise InputError(path, f"cannot read file ({exc.strerror or exc})") from None
    if not data:
        raise InputError(path, "empty file, not an image")
    if path.suffix.lower() == ".npy" or data.startswith(b"\x93NUMPY"):
        return _read_npy(path, data)
    if data.startswith(_PNG_MAGIC):
        return _decode_png(path, data)
    if data.startswith(_TIFF_MAGICS):
        return _decode_with_imageio(path, data, "tifffile")
    return _decode_with_imageio(path, data, "pillow")


def _read_npy(path: Path, data: bytes) -> np.ndarray:
    import io as _io

    try:
        array = np.load(_io.BytesIO(data), allow_pickle=False)
    except Exception as exc:
        raise InputError(path, f"not a readable .npy array ({_short(exc)})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "uif":
        raise InputError(path, f"unsupported .npy dtype {getattr(array, 'dtype', '?')}")
    return array


def _decode_png(path: Path, data: bytes) -> np.ndarray:
    import imagecodecs

    try:
        return imagecodecs.png_decode(data)
    except Exception as exc:
        raise InputError(path, f"truncated or corrupt PNG ({_short(exc)})") from None


def _decode_with_imageio(path: Path, data: bytes, plugin: str) -> np.ndarray:
    import imageio.v3 as iio

    try:
        if plugin == "tifffile":
            return iio.imread(data, plugin="tifffile")
        return iio.imread(data, plugin="pillow", index=0)
    except Exception as exc:
        kind = "TIFF" if plugin == "tifffile" else "image"
        raise InputError(path, f"not a readable {kind}, or truncated ({_short(exc)})") from None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def load_image(path: str | Path, data_range: float | None = None) -> LoadedImage:
    """Read ``path`` and normalise it to float32 ``(H, W, C)`` in [0, 1].

    Integer images divide by their dtype's maximum (255, 65535), so an 8-bit and a 16-bit file of
    the same picture load the same; float images must already lie in ``[0, data_range]``
    (``data_range`` defaults to 1). A given ``data_range`` overrides the divisor for every dtype.
    """
    raw = read_raw(path)
    return normalise(raw, path, data_range)


def normalise(raw: np.ndarray, path: str | Path, data_range: float | None = None) -> LoadedImage:
    """Bring a decoded array to a `LoadedImage`; checks shape, finiteness and range."""
    if data_range is not None and not (math.isfinite(data_range) and data_range > 0):
        raise SettingError("data_range", f"must be a positive number, got {data_range}")
    array = raw
    if array.ndim == 3 and array.shape[0] in (1,) and array.shape[2] not in (1, 2, 3, 4):
        array = array[0]
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise InputError(path, f"unsupported image shape {raw.shape} (need H x W or H x W x 1-4)")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise InputError(path, f"empty image of shape {raw.shape}")
    kind = array.dtype.kind
    if kind == "b":
        array = array.astype(np.uint8)
        divisor = 1.0 if data_range is None else float(data_range)
    elif kind == "u":
        divisor = float(np.iinfo(array.dtype).max) if data_range is None else float(data_range)
    elif kind == "i":
        if array.min() < 0:
            raise InputError(path, "negative pixel values in a signed integer image")
        divisor = float(np.iinfo(array.dtype).max) if data_range is None else float(data_range)
    elif kind == "f":
        divisor = 1.0 if data_range is None else float(data_range)
    else:
        raise InputError(path, f"unsupported pixel type {array.dtype}")
    if kind == "f" or data_range is not None:
        finite = np.isfinite(array)
        if not finite.all():
            bad = "NaN" if np.isnan(array).any() else "infinite"
            raise InputError(path, f"contains {bad} values")
        low, high = float(array.min()), float(array.max())
        if low < 0 or high > divisor:
            raise InputError(
                path,
                f"values outside [0, {divisor:g}] (min {low:.6g}, max {high:.6g}); "
                "pass --data-range to set the range",
            )
    pixels = np.empty(array.shape, dtype=np.float32)
    # Division, not multiplication by 1/divisor: v/255 and 257v/65535 then round to the same
    # float32, so 8-bit and 16-bit files of one picture load identically.
    np.divide(array, np.float32(divisor), out=pixels, casting="unsafe")
    channels = array.shape[2]
    return LoadedImage(str(path), pixels, channels in (2, 4), str(raw.dtype), divisor)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SettingError(name.lstrip("-"), f"must be one of {', '.join(choices)}; got {value!r}")


def parse_background(value: str | tuple[float, ...] | None) -> tuple[float, float, float]:
    """``white``, ``black``, ``#rrggbb``, or ``r,g,b`` in [0, 1] -> RGB floats in [0, 1]."""
    if value is None:
        return (1.0, 1.0, 1.0)
    if isinstance(value, tuple):
        return tuple(float(v) for v in value)  # type: ignore[return-value]
    text = value.strip().lower()
    named = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0), "grey": (0.5, 0.5, 0.5),
             "gray": (0.5, 0.5, 0.5)}
    if text in named:
        return named[text]
    try:
        if text.startswith("#") and len(text) == 7:
            return tuple(int(text[i:i + 2], 16) / 255 for i in (1, 3, 5))  # type: ignore
        parts = tuple(float(p) for p in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) == 3 and all(0 <= p <= 1 for p in parts):
        return parts  # type: ignore[return-value]
    raise SettingError("background", f"must be white, black, #rrggbb or r,g,b in [0, 1]; got {value!r}")


def _luma(rgb: np.ndarray) -> np.ndarray:
    weights = np.asarray(BT601, dtype=np.float32)
    return (rgb @ weights)[:, :, None]


def prepare_pair(
    reference: LoadedImage,
    candidate: LoadedImage,
    color: str = "rgb",
    transparency: str = "composite",
    background: str | tuple[float, ...] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Apply the alpha and colour policies; check that the pair can be compared.

    Returns the two ``(H, W, C)`` float32 arrays and the channel names.
    """
    _check_choice("--color", color, COLOR_MODES)
    _check_choice("--transparency", transparency, TRANSPARENCY_MODES)
    if (reference.height, reference.width) != (candidate.height, candidate.width):
        raise PairError(
            reference.path, candidate.path,
            f"size mismatch: {candidate.width}x{candidate.height} vs reference "
            f"{reference.width}x{reference.height}",
        )
    if color == "rgb" and reference.colour_channels != candidate.colour_channels:
        names = {1: "grey", 3: "colour"}
        raise PairError(
            reference.path, candidate.path,
            f"channel mismatch: {names[candidate.colour_channels]} vs reference "
            f"{names[reference.colour_channels]}; use --color luma to compare them as grey",
        )
    opaque = all(
        not image.has_alpha or bool((image.pixels[:, :, -1] == 1.0).all())
        for image in (reference, candidate)
    )
    composite = not opaque and transparency == "composite"
    alpha_channel = not opaque and transparency == "channel"
    background_rgb = np.asarray(parse_background(background), dtype=np.float32)
    backgrounds = {3: background_rgb, 1: np.float32(background_rgb @ np.asarray(BT601, np.float32))}
    arrays = []
    for image in (reference, candidate):
        pixels = image.pixels
        colour = pixels[:, :, : image.colour_channels]
        if opaque:
            alpha = None  # never read: a plane of ones would cost a 16k pair 1 GiB
        elif image.has_alpha:
            alpha = pixels[:, :, -1:]
        else:
            alpha = np.ones(colour.shape[:2] + (1,), dtype=np.float32)
        if composite:
            colour = colour * alpha + backgrounds[colour.shape[2]] * (1 - alpha)
        if color == "luma" and colour.shape[2] == 3:
            colour = _luma(colour)
        if alpha_channel:
            colour = np.concatenate([colour, alpha], axis=2)
        arrays.append(np.ascontiguousarray(colour, dtype=np.float32))
    if color == "luma":
        names = ["Y"]
    else:  # both have the same colour channels: checked above
        names = ["R", "G", "B"] if reference.colour_channels == 3 else ["L"]
    if alpha_channel:
        names.append("A")
    return arrays[0], arrays[1], names


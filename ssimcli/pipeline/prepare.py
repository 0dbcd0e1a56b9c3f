"""A pair of decoded images made ready for the engine: colour mode, alpha, crop, matching shapes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssimcli.errors import PairError, SettingError, SizeMismatch
from ssimcli.io.decode import LoadedImage, _check_choice, normalised
from ssimcli.options import parse_background
from ssimcli.vocabulary import COLOR_MODES, TRANSPARENCY_MODES

# ITU-R BT.601 luma weights.
BT601 = (0.299, 0.587, 0.114)


# ITU-R BT.601 studio-range Y (MATLAB rgb2ycbcr) of R, G, B in [0, 1], before + 16 and / 255.
STUDIO_Y = (65.481, 128.553, 24.966)


def _luma(rgb: np.ndarray) -> np.ndarray:
    weights = np.asarray(BT601, dtype=rgb.dtype)
    return (rgb @ weights)[:, :, None]


def studio_y(rgb: np.ndarray) -> np.ndarray:
    """BT.601 studio-range Y in [16/255, 235/255] of RGB in [0, 1] (MATLAB ``rgb2ycbcr``).

    ``Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255``, as BasicSR's ``to_y_channel``.
    """
    weights = np.asarray(STUDIO_Y, dtype=rgb.dtype)
    y = rgb @ weights
    y += 16.0
    y /= 255.0
    return y[:, :, None]


#: `STUDIO_Y` in thousandths, for the exact integer Y of 8-bit RGB (``--color y8``).
_STUDIO_Y_MILLI = (65481, 128553, 24966)
#: The colour modes that score one studio-range Y channel.
STUDIO_MODES = ("y", "y8")


def studio_y8(rgb: np.ndarray) -> np.ndarray:
    """`studio_y` rounded to whole 8-bit levels, as MATLAB's ``rgb2ycbcr`` returns it for a
    ``uint8`` image (the ``--color y8`` of the classic SR tables): in [16/255, 235/255].

    MATLAB computes ``16 + (65.481 R + 128.553 G + 24.966 B) / 255`` for R, G, B in 0..255 and
    rounds half away from zero into ``uint8``. For ``uint8`` RGB this is done exactly, in
    integers (thousandths of a level): ``Y = 16 + floor((N + 127500) / 255000)`` with
    ``N = 65481 R + 128553 G + 24966 B``, so the 194 colours (of 2^24) whose Y falls exactly on
    a half level round up, as the exact value does, whatever a float sum would have made of
    them. Any other input (float, 16-bit, composited) is converted by `studio_y` and rounded
    with ``floor(255 Y + 0.5)``: half away from zero for these positive values, not NumPy's
    half-to-even.
    """
    if rgb.dtype == np.uint8:
        total = rgb.astype(np.int64) @ np.asarray(_STUDIO_Y_MILLI, dtype=np.int64)
        levels = 16 + (total + 127500) // 255000
        return (levels.astype(np.float64) / 255.0)[:, :, None]
    y = studio_y(rgb.astype(np.float64, copy=False))
    y *= 255.0
    y += 0.5
    np.floor(y, out=y)
    y /= 255.0
    return y


@dataclass
class PreparedPair:
    """The two arrays the engine scores: ``(H, W, C)``, ``values / divisor`` in [0, 1].

    Native integer arrays (views of the decoded images, no copy) whenever no conversion is
    needed; float arrays (``divisor`` 1) after compositing or a colour conversion.
    """

    reference: np.ndarray
    candidate: np.ndarray
    divisor: float
    channel_names: list[str]
    crop: int = 0


def check_crop(crop: int, reference: LoadedImage, candidate: LoadedImage) -> None:
    """``crop`` pixels off every border must leave at least one pixel."""
    if isinstance(crop, bool) or not isinstance(crop, (int, np.integer)) or crop < 0:
        raise SettingError("crop", f"must be a whole number >= 0, got {crop!r}")
    if 2 * crop >= min(reference.height, reference.width):
        raise PairError(
            reference.path, candidate.path,
            f"--crop {crop} removes the whole {reference.width}x{reference.height} image "
            f"(it needs more than {2 * crop} pixels on each side)",
        )


def prepare_images(
    reference: LoadedImage,
    candidate: LoadedImage,
    color: str = "rgb",
    transparency: str = "composite",
    background: str | tuple[float, ...] | None = None,
    crop: int = 0,
    precision: str = "float32",
) -> PreparedPair:
    """Crop, then apply the alpha and colour policies; check that the pair can be compared.

    Conversions (compositing, ``luma``, ``y``, ``y8``) compute in float64 when ``precision`` is
    float64, and ``y`` and ``y8`` always do: studio-range Y then carries no float32 rounding
    into PSNR. ``y8`` is ``y`` rounded to whole 8-bit levels (MATLAB's ``rgb2ycbcr`` of a
    ``uint8`` image: `studio_y8`). Grey images stay as they are under ``luma``, ``y`` and ``y8``
    (BasicSR only converts 3 channels).
    """
    _check_choice("--color", color, COLOR_MODES)
    _check_choice("--transparency", transparency, TRANSPARENCY_MODES)
    _check_pair(reference, candidate, color)
    check_crop(crop, reference, candidate)
    ref_values, cand_values = (_cropped(image.values, crop) for image in (reference, candidate))
    opaque = all(
        not image.has_alpha or bool((values[:, :, -1] == image.data_range).all())
        for image, values in ((reference, ref_values), (candidate, cand_values))
    )
    composite = not opaque and transparency == "composite"
    alpha_channel = not opaque and transparency == "channel"
    names = _channel_names(reference.colour_channels, color, alpha_channel)
    converts = color != "rgb" and reference.colour_channels + candidate.colour_channels > 2
    if not (composite or alpha_channel or converts) and (
            reference.data_range == candidate.data_range):
        arrays = [values[:, :, :image.colour_channels] for image, values in
                  ((reference, ref_values), (candidate, cand_values))]
        return PreparedPair(arrays[0], arrays[1], reference.data_range, names, crop)
    dtype = np.float64 if precision == "float64" or color in STUDIO_MODES else np.float32
    background_rgb = np.asarray(parse_background(background), dtype=dtype)
    backgrounds = {3: background_rgb, 1: dtype(background_rgb @ np.asarray(BT601, dtype))}
    arrays = []
    for image, values in ((reference, ref_values), (candidate, cand_values)):
        pixels = normalised(values, image.data_range, dtype)
        colour = pixels[:, :, : image.colour_channels]
        if opaque:
            alpha = None  # never read: a plane of ones would cost a 16k pair 1 GiB
        elif image.has_alpha:
            alpha = pixels[:, :, -1:]
        else:
            alpha = np.ones(colour.shape[:2] + (1,), dtype=dtype)
        if composite and alpha is not None:
            colour = colour * alpha + backgrounds[colour.shape[2]] * (1 - alpha)
        if color == "y8" and colour.shape[2] == 3:
            # Exact from the integers when nothing was composited into them.
            eight_bit = not composite and values.dtype == np.uint8 and image.data_range == 255
            colour = studio_y8(values[:, :, :3] if eight_bit else colour)
        elif color != "rgb" and colour.shape[2] == 3:
            colour = _luma(colour) if color == "luma" else studio_y(colour)
        if alpha_channel:
            colour = np.concatenate([colour, alpha], axis=2)
        arrays.append(np.ascontiguousarray(colour, dtype=dtype))
    return PreparedPair(arrays[0], arrays[1], 1.0, names, crop)


def _cropped(values: np.ndarray, crop: int) -> np.ndarray:
    if not crop:
        return values
    return values[crop:values.shape[0] - crop, crop:values.shape[1] - crop]


def _check_pair(reference: LoadedImage, candidate: LoadedImage, color: str) -> None:
    if (reference.height, reference.width) != (candidate.height, candidate.width):
        raise SizeMismatch(reference.path, candidate.path, (reference.width, reference.height),
                           (candidate.width, candidate.height))
    if color == "rgb" and reference.colour_channels != candidate.colour_channels:
        names = {1: "grey", 3: "colour"}
        raise PairError(
            reference.path, candidate.path,
            f"channel mismatch: {names[candidate.colour_channels]} vs reference "
            f"{names[reference.colour_channels]}; use --color luma or y to compare them as grey",
        )


def _channel_names(colour_channels: int, color: str, alpha_channel: bool) -> list[str]:
    if color != "rgb":
        names = ["Y"]
    else:  # both have the same colour channels: checked before
        names = ["R", "G", "B"] if colour_channels == 3 else ["L"]
    if alpha_channel:
        names.append("A")
    return names


def prepare_pair(reference: LoadedImage, candidate: LoadedImage, color: str = "rgb",
                 transparency: str = "composite", background: str | tuple[float, ...] | None = None,
                 crop: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """`prepare_images` as two full-size float32 arrays in [0, 1] and the channel names."""
    pair = prepare_images(reference, candidate, color, transparency, background, crop)
    x, y = (a if a.dtype == np.float32 and pair.divisor == 1.0
            else normalised(a, pair.divisor, np.float32)
            for a in (pair.reference, pair.candidate))
    return x, y, pair.channel_names

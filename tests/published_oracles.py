"""Independent float64 transcriptions of other tools' SSIM/PSNR, for the README table
"Reproducing published numbers". Each says where its algorithm is documented; none calls ssimcli.

BasicSR's ``calculate_ssim``/``calculate_psnr`` are in `oracles` (``basicsr_ssim``,
``basicsr_psnr``); scikit-image is called as the library itself.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def gaussian_2d(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """The normalised ``size x size`` Gaussian (MATLAB ``fspecial('gaussian')``, piq
    ``gaussian_filter``: ``exp(-(x^2 + y^2) / (2 sigma^2))`` over integer offsets, sum 1)."""
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _filter_valid(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """2-D correlation without padding (the kernel is symmetric: convolution is the same)."""
    windows = sliding_window_view(image, kernel.shape)
    return np.einsum("ijkl,kl->ij", windows, kernel)


# --- MATLAB ssim (Image Processing Toolbox, R2014a+), as its documentation describes ----------
# ssim(A, ref): "Radius" (sigma) 1.5, a Gaussian filter of size 2*ceil(3*sigma)+1 = 11 applied by
# imgaussfilt with 'Padding','replicate' (the map keeps the image size), C1 = (0.01 L)^2,
# C2 = (0.03 L)^2, C3 = C2/2, exponents 1, for which the documentation gives the simplified form
# ((2 mu_x mu_y + C1)(2 s_xy + C2)) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)); the score is
# mean2 of the map. L ("DynamicRange") is 1 for double images. rgb2ycbcr of a double image in
# [0, 1] gives Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255.

def matlab_rgb2ycbcr_y(rgb8: np.ndarray) -> np.ndarray:
    """``Y`` of ``rgb2ycbcr(im2double(I))`` for 8-bit RGB ``I``; a grey image stays as it is."""
    rgb = rgb8.astype(np.float64) / 255.0
    if rgb.ndim == 2:
        return rgb
    return (16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0


def matlab_ssim(a: np.ndarray, ref: np.ndarray, dynamic_range: float = 1.0) -> float:
    """MATLAB ``ssim(A, ref)`` of two double grey images."""
    kernel = gaussian_2d(11, 1.5)
    radius = kernel.shape[0] // 2

    def imgaussfilt(image: np.ndarray) -> np.ndarray:
        return _filter_valid(np.pad(image, radius, mode="edge"), kernel)

    c1, c2 = (0.01 * dynamic_range) ** 2, (0.03 * dynamic_range) ** 2
    mux, muy = imgaussfilt(a), imgaussfilt(ref)
    sxx = imgaussfilt(a * a) - mux * mux
    syy = imgaussfilt(ref * ref) - muy * muy
    sxy = imgaussfilt(a * ref) - mux * muy
    ssim_map = ((2 * mux * muy + c1) * (2 * sxy + c2)) / (
        (mux ** 2 + muy ** 2 + c1) * (sxx + syy + c2))
    return float(ssim_map.mean())


def matlab_psnr(a: np.ndarray, ref: np.ndarray, peak: float = 1.0) -> float:
    """MATLAB ``psnr(A, ref)``: ``10 log10(peak^2 / mean((A - ref).^2))`` over every element."""
    return float(10 * np.log10(peak ** 2 / np.mean((a - ref) ** 2)))


# --- piq (photosynthesis-team/piq, piq/ssim.py and piq/psnr.py), default arguments ------------

def piq_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """``piq.ssim(x, y, data_range=1.)``: ``(H, W, C)`` in [0, 1]. With ``downsample=True`` (the
    default) both are first averaged over ``f x f`` blocks, ``f = max(1, round(min(H, W) /
    256))`` (``avg_pool2d``, the remainder dropped); then an 11x11 Gaussian (sigma 1.5) without
    padding ('valid'), c1 = 0.01^2, c2 = 0.03^2, the map's mean per channel, the mean over
    channels."""
    factor = max(1, round(min(x.shape[:2]) / 256))
    if factor > 1:
        x, y = _avg_pool(x, factor), _avg_pool(y, factor)
    kernel = gaussian_2d(11, 1.5)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    values = []
    for channel in range(x.shape[2]):
        a, b = x[..., channel], y[..., channel]
        mu_x, mu_y = _filter_valid(a, kernel), _filter_valid(b, kernel)
        sigma_xx = _filter_valid(a * a, kernel) - mu_x ** 2
        sigma_yy = _filter_valid(b * b, kernel) - mu_y ** 2
        sigma_xy = _filter_valid(a * b, kernel) - mu_x * mu_y
        cs = (2 * sigma_xy + c2) / (sigma_xx + sigma_yy + c2)
        values.append(((2 * mu_x * mu_y + c1) / (mu_x ** 2 + mu_y ** 2 + c1) * cs).mean())
    return float(np.mean(values))


def _avg_pool(image: np.ndarray, factor: int) -> np.ndarray:
    h, w = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    blocks = image[:h, :w].reshape(h // factor, factor, w // factor, factor, -1)
    return blocks.mean(axis=(1, 3))


PIQ_EPS = 1e-8


def piq_psnr(x: np.ndarray, y: np.ndarray) -> float:
    """``piq.psnr(x, y, data_range=1.)``: ``-10 log10(mean((x - y)^2) + 1e-8)`` (EPS keeps
    identical images finite: 80 dB)."""
    return float(-10 * np.log10(np.mean((x - y) ** 2) + PIQ_EPS))


# --- pyiqa (chaofengc/IQA-PyTorch, pyiqa/archs/ssim_arch.py), create_metric('ssim') defaults ---

def pyiqa_ssim(x8: np.ndarray, y8: np.ndarray) -> float:
    """pyiqa ``ssim`` of 8-bit RGB: the Y of YIQ (``0.299 R + 0.587 G + 0.114 B``) times 255,
    **rounded** to whole levels (``to_y_channel`` with ``out_data_range=255``); an 11x11 Gaussian
    (sigma 1.5) without padding; C1, C2 for L = 255; CS clamped at 0 (``relu``); the map's
    mean."""
    def luma_levels(rgb8: np.ndarray) -> np.ndarray:
        rgb = rgb8.astype(np.float64) / 255.0
        return np.round((0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]) * 255)

    x, y = luma_levels(x8), luma_levels(y8)
    kernel = gaussian_2d(11, 1.5)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu1, mu2 = _filter_valid(x, kernel), _filter_valid(y, kernel)
    s11 = _filter_valid(x * x, kernel) - mu1 ** 2
    s22 = _filter_valid(y * y, kernel) - mu2 ** 2
    s12 = _filter_valid(x * y, kernel) - mu1 * mu2
    cs = np.maximum((2 * s12 + c2) / (s11 + s22 + c2), 0)
    return float(((2 * mu1 * mu2 + c1) / (mu1 ** 2 + mu2 ** 2 + c1) * cs).mean())

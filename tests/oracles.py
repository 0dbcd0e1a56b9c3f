"""Independent float64 oracles, written from the published formulas, not from our code.

- `seed_ssim_l1`: the seed listing (shared/seed/ssim_l1_loss_seed.txt) transcribed for one
  channel: fspecial-style window from ``np.mgrid``, zero padding of ``size//2``, a 'valid'
  2-D convolution, ``E[x^2] - mu^2`` variances, clipping to [0, 1], plain means.
- `tf_ms_ssim`: TensorFlow's ``tf.image.ssim_multiscale`` semantics (image_ops_impl.py):
  'VALID' depthwise convolution with an 11x11 Gaussian, per-channel means, 2x2 average pooling
  after SYMMETRIC padding of odd sides at the end, relu, product of powers, mean over channels.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import correlate2d

MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def fspecial_gauss(size: int, sigma: float) -> np.ndarray:
    y, x = np.mgrid[-size // 2 + 1: size // 2 + 1, -size // 2 + 1: size // 2 + 1]
    g = np.exp(-((x ** 2 + y ** 2) / (2.0 * sigma ** 2)))
    return g / g.sum()


def seed_ssim_l1(img1: np.ndarray, img2: np.ndarray, filter_size: int = 11,
                 filter_sigma: float = 1.5, alpha: float = 0.84) -> dict[str, np.ndarray]:
    """Maps of the seed for one grey channel (H, W), float64."""
    height, width = img1.shape
    size = min(filter_size, height, width)
    sigma = size * filter_sigma / filter_size
    window = fspecial_gauss(size, sigma)
    pad = size // 2

    def conv(image: np.ndarray) -> np.ndarray:
        padded = np.pad(image, pad, mode="constant")
        return correlate2d(padded, window, mode="valid")

    c1, c2 = (0.01 * 1) ** 2, (0.03 * 1) ** 2
    mu1, mu2 = conv(img1), conv(img2)
    sigma1_sq = conv(img1 * img1) - mu1 * mu1
    sigma2_sq = conv(img2 * img2) - mu2 * mu2
    sigma12 = conv(img1 * img2) - mu1 * mu2
    ssim = np.clip(((2 * mu1 * mu2 + c1) * (2 * sigma12 + c2))
                   / ((mu1 * mu1 + mu2 * mu2 + c1) * (sigma1_sq + sigma2_sq + c2)), 0, 1)
    cs = np.clip((2 * sigma12 + c2) / (sigma1_sq + sigma2_sq + c2), 0, 1)
    l1 = conv(np.abs(img1 - img2))
    return {"ssim": ssim, "cs": cs, "l1": l1, "ssim_l1": (1 - ssim) * alpha + l1 * (1 - alpha)}


def _tf_kernel(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-0.5 * coords ** 2 / sigma ** 2)
    g = np.outer(g, g)
    return g / g.sum()


def _tf_ssim_per_channel(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    kernel = _tf_kernel()
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ssims, css = [], []
    for c in range(x.shape[2]):
        a, b = x[:, :, c], y[:, :, c]

        def reducer(z: np.ndarray) -> np.ndarray:
            return correlate2d(z, kernel, mode="valid")

        mean0, mean1 = reducer(a), reducer(b)
        num0 = mean0 * mean1 * 2.0
        den0 = mean0 ** 2 + mean1 ** 2
        luminance = (num0 + c1) / (den0 + c1)
        num1 = reducer(a * b) * 2.0
        den1 = reducer(a ** 2 + b ** 2)
        cs = (num1 - num0 + c2) / (den1 - den0 + c2)
        ssims.append((luminance * cs).mean())
        css.append(cs.mean())
    return np.array(ssims), np.array(css)


def tf_ms_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """MS-SSIM of (H, W, C) float64 images in [0, 1], TensorFlow semantics."""
    mcs = []
    for scale in range(len(MS_WEIGHTS)):
        if scale > 0:
            h, w = x.shape[:2]
            pads = ((0, h % 2), (0, w % 2), (0, 0))
            x = np.pad(x, pads, mode="symmetric")
            y = np.pad(y, pads, mode="symmetric")
            h, w = x.shape[:2]
            x = x.reshape(h // 2, 2, w // 2, 2, -1).mean(axis=(1, 3))
            y = y.reshape(h // 2, 2, w // 2, 2, -1).mean(axis=(1, 3))
        ssim, cs = _tf_ssim_per_channel(x, y)
        mcs.append(np.maximum(cs, 0))
    mcs.pop()
    stack = np.stack(mcs + [np.maximum(ssim, 0)], axis=-1)
    return float(np.mean(np.prod(stack ** np.array(MS_WEIGHTS), axis=-1)))

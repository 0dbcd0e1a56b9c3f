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


# --- BasicSR (basicsr/metrics/psnr_ssim.py, basicsr/utils/color_util.py), transcribed ---------
# BasicSR reads images with cv2 (BGR order) and weights B, G, R by 24.966, 128.553, 65.481; the
# images here are read as RGB, so the same weights apply in R, G, B order.


def basicsr_to_y_channel(img: np.ndarray) -> np.ndarray:
    """``to_y_channel``: float32 [0, 1], studio-range Y via ``bgr2ycbcr(y_only=True)``, x 255."""
    img = img.astype(np.float32) / 255.0
    if img.ndim == 3 and img.shape[2] == 3:
        out = np.dot(img, [65.481, 128.553, 24.966]) + 16.0  # float64, as np.dot with a list
        out = (out / 255.0).astype(np.float32)  # _convert_output_type_range for float32 input
        img = out[..., None]
    return img * 255.0


def _basicsr_prepare(img: np.ndarray, crop_border: int, test_y_channel: bool) -> np.ndarray:
    if img.ndim == 2:
        img = img[..., None]  # reorder_image(input_order='HWC') on a grey image
    if crop_border != 0:
        img = img[crop_border:-crop_border, crop_border:-crop_border, ...]
    if test_y_channel:
        img = basicsr_to_y_channel(img)
    return img.astype(np.float64)


def basicsr_psnr(img: np.ndarray, img2: np.ndarray, crop_border: int,
                 test_y_channel: bool = False) -> float:
    """``calculate_psnr`` on 8-bit ``(H, W, C)`` arrays."""
    img = _basicsr_prepare(img, crop_border, test_y_channel)
    img2 = _basicsr_prepare(img2, crop_border, test_y_channel)
    mse = np.mean((img - img2) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(255.0 * 255.0 / mse))


def _basicsr_ssim_channel(img: np.ndarray, img2: np.ndarray) -> float:
    """``_ssim``: 11x11 Gaussian (sigma 1.5) by ``cv2.filter2D`` on [0, 255] float64, 'valid'."""
    import cv2

    c1 = (0.01 * 255) ** 2
    c2 = (0.03 * 255) ** 2
    kernel = cv2.getGaussianKernel(11, 1.5)
    window = np.outer(kernel, kernel.transpose())
    mu1 = cv2.filter2D(img, -1, window)[5:-5, 5:-5]
    mu2 = cv2.filter2D(img2, -1, window)[5:-5, 5:-5]
    mu1_sq = mu1 ** 2
    mu2_sq = mu2 ** 2
    mu1_mu2 = mu1 * mu2
    sigma1_sq = cv2.filter2D(img ** 2, -1, window)[5:-5, 5:-5] - mu1_sq
    sigma2_sq = cv2.filter2D(img2 ** 2, -1, window)[5:-5, 5:-5] - mu2_sq
    sigma12 = cv2.filter2D(img * img2, -1, window)[5:-5, 5:-5] - mu1_mu2
    ssim_map = ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / (
        (mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2))
    return float(ssim_map.mean())


def basicsr_ssim(img: np.ndarray, img2: np.ndarray, crop_border: int,
                 test_y_channel: bool = False) -> float:
    """``calculate_ssim`` on 8-bit ``(H, W, C)`` arrays: mean of the per-channel SSIMs."""
    img = _basicsr_prepare(img, crop_border, test_y_channel)
    img2 = _basicsr_prepare(img2, crop_border, test_y_channel)
    return float(np.mean([_basicsr_ssim_channel(img[..., i], img2[..., i])
                          for i in range(img.shape[2])]))


def psnr_float64(x: np.ndarray, y: np.ndarray, data_range: float = 1.0) -> float:
    """``10 log10(L^2 / MSE)`` with the MSE over every pixel and channel, in float64."""
    mse = np.mean((np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(data_range ** 2 / mse))


def studio_y_float64(rgb8: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2ycbcr`` Y of 8-bit RGB, in [0, 1], float64 from the integers."""
    rgb = rgb8.astype(np.float64) / 255.0
    return (16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0

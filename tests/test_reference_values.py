"""Locked reference values from an independent implementation, with their provenance.

Produced once by TensorFlow 2.21.0 (tensorflow-cpu from PyPI, outside this project):

    x = imageio.v3.imread("sample_images/<ref>").astype(np.float64) / 255   # grey gets [..., None]
    y = imageio.v3.imread("sample_images/<cand>").astype(np.float64) / 255
    tf.image.ssim(x[None], y[None], max_val=1.0)             # SSIM, 11x11 Gaussian, sigma 1.5
    tf.image.ssim_multiscale(x[None], y[None], max_val=1.0)  # MS-SSIM, five scales

TensorFlow converts to float32 and averages over the 'VALID' region, which is our `standard`
preset. Tolerance 1e-4 for both: TensorFlow's float32 ``E[x^2] - mu^2`` is itself off by up to
4e-5 on the noisy camera pair (scikit-image in float64 gives 0.6133937, we give 0.6133938,
TensorFlow 0.6133578); the tight float64 checks against scikit-image are in test_metrics.py.
"""

from __future__ import annotations

import json

import pytest
from conftest import SAMPLES

TENSORFLOW_2_21 = [
    # reference, candidate, tf.image.ssim, tf.image.ssim_multiscale
    ("astronaut.png", "astronaut_jpeg.jpg", 0.8803266882896423, 0.974942684173584),
    ("coffee.png", "coffee_blur.png", 0.7742815017700195, 0.9542293548583984),
    ("camera.png", "camera_noise.png", 0.6133577823638916, 0.9215915203094482),
]


@pytest.mark.parametrize("reference,candidate,tf_ssim,tf_ms_ssim", TENSORFLOW_2_21)
def test_sample_images_against_tensorflow(run_cli, reference, candidate, tf_ssim, tf_ms_ssim):
    result = run_cli("compare", SAMPLES / reference, SAMPLES / candidate, "--ms-ssim",
                     "--format", "json")
    assert result.returncode == 0, result
    out = json.loads(result.stdout)
    assert out["ssim"] == pytest.approx(tf_ssim, abs=1e-4)
    assert out["ms_ssim"] == pytest.approx(tf_ms_ssim, abs=1e-4)

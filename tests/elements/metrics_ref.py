#!/usr/bin/python3
"""Reference PSNR and SSIM for test-sim.c's arcompare test (numpy, written independently of
plugins/ar-metrics.c: a direct 2D Gaussian window instead of two separable passes).

  /usr/bin/python3 tests/elements/metrics_ref.py

The frames are the ones test-sim.c builds: a 40x30 RGB pattern and a copy with LCG noise.
"""
import numpy as np

W, H = 40, 30


def frames():
    real = np.zeros((H, W, 3), np.int64)
    for y in range(H):
        for x in range(W):
            for c in range(3):
                real[y, x, c] = (x * 7 + y * 11 + c * 60 + (x * y) % 17) % 256
    pred = real.copy()
    state = 12345
    for y in range(H):
        for x in range(W):
            for c in range(3):
                state = (state * 1103515245 + 12345) % (1 << 31)
                pred[y, x, c] = min(255, max(0, real[y, x, c] + (state >> 16) % 41 - 20))
    return real.astype(np.uint8), pred.astype(np.uint8)


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


def ssim(a, b):
    wts = np.array([0.299, 0.587, 0.114])
    x = a.astype(np.float64) @ wts
    y = b.astype(np.float64) @ wts
    k = 11
    g = np.exp(-((np.arange(k) - 5.0) ** 2) / (2 * 1.5 ** 2))
    win = np.outer(g, g)
    win /= win.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for i in range(x.shape[0] - k + 1):
        for j in range(x.shape[1] - k + 1):
            px, py = x[i:i + k, j:j + k], y[i:i + k, j:j + k]
            mx, my = (win * px).sum(), (win * py).sum()
            vx = (win * px * px).sum() - mx * mx
            vy = (win * py * py).sum() - my * my
            cov = (win * px * py).sum() - mx * my
            vals.append(((2 * mx * my + c1) * (2 * cov + c2))
                        / ((mx * mx + my * my + c1) * (vx + vy + c2)))
    return float(np.mean(vals))


if __name__ == "__main__":
    real, pred = frames()
    print("psnr %.9f" % psnr(pred, real))
    print("ssim %.9f" % ssim(pred, real))

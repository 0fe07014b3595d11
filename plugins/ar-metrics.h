/* Frame quality metrics of arcompare (and anything else that needs them). */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

/* PSNR of identical frames: the metric is capped here so that means stay finite. */
#define AR_METRICS_MAX_PSNR 100.0

/* PSNR in dB of two byte arrays of @n values in 0..255 (10 log10 (255^2 / MSE)), capped at
 * AR_METRICS_MAX_PSNR. */
double ar_metrics_psnr (const guint8 *a, const guint8 *b, gsize n);

/* Mean SSIM (Wang et al. 2004) of two packed RGB frames of @width x @height, on the luma
 * Y = 0.299 R + 0.587 G + 0.114 B (0..255): an 11x11 Gaussian window (sigma 1.5, normalised)
 * over the valid region (no padding), C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2. Frames
 * smaller than 11 pixels in a dimension use a window of that many taps. */
double ar_metrics_ssim_rgb (const guint8 *a, const guint8 *b, guint width, guint height);

G_END_DECLS

#include "ar-metrics.h"
#include <math.h>

#define SSIM_TAPS 11
#define SSIM_SIGMA 1.5

double
ar_metrics_psnr (const guint8 *a, const guint8 *b, gsize n)
{
  guint64 sse = 0;
  double mse;
  gsize i;

  for (i = 0; i < n; i++) {
    gint d = (gint) a[i] - (gint) b[i];
    sse += (guint64) (d * d);
  }
  if (n == 0 || sse == 0)
    return AR_METRICS_MAX_PSNR;
  mse = (double) sse / (double) n;
  return MIN (AR_METRICS_MAX_PSNR, 10.0 * log10 (255.0 * 255.0 / mse));
}

static void
to_luma (const guint8 *rgb, double *y, gsize n)
{
  gsize i;
  for (i = 0; i < n; i++)
    y[i] = 0.299 * rgb[3 * i] + 0.587 * rgb[3 * i + 1] + 0.114 * rgb[3 * i + 2];
}

double
ar_metrics_ssim_rgb (const guint8 *a, const guint8 *b, guint width, guint height)
{
  const double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
  guint taps = MIN (SSIM_TAPS, MIN (width, height));
  guint ow, oh, x, y, k, q;
  gsize n = (gsize) width * height;
  double weights[SSIM_TAPS], wsum = 0, total = 0;
  double *ya, *yb, *h[5];

  if (taps == 0)
    return 1.0;
  ow = width - taps + 1;
  oh = height - taps + 1;
  for (k = 0; k < taps; k++) {
    double d = (double) k - (taps - 1) / 2.0;
    weights[k] = exp (-d * d / (2 * SSIM_SIGMA * SSIM_SIGMA));
    wsum += weights[k];
  }
  for (k = 0; k < taps; k++)
    weights[k] /= wsum;

  ya = g_new (double, n);
  yb = g_new (double, n);
  to_luma (a, ya, n);
  to_luma (b, yb, n);

  /* Horizontal pass of the separable window: for each row and valid column, the weighted
   * sums of x, y, x^2, y^2 and xy. */
  for (q = 0; q < 5; q++)
    h[q] = g_new (double, (gsize) height * ow);
  for (y = 0; y < height; y++)
    for (x = 0; x < ow; x++) {
      double s[5] = { 0, 0, 0, 0, 0 };
      for (k = 0; k < taps; k++) {
        double va = ya[(gsize) y * width + x + k], vb = yb[(gsize) y * width + x + k];
        double w = weights[k];
        s[0] += w * va;
        s[1] += w * vb;
        s[2] += w * va * va;
        s[3] += w * vb * vb;
        s[4] += w * va * vb;
      }
      for (q = 0; q < 5; q++)
        h[q][(gsize) y * ow + x] = s[q];
    }
  /* Vertical pass and the SSIM map. */
  for (y = 0; y < oh; y++)
    for (x = 0; x < ow; x++) {
      double s[5] = { 0, 0, 0, 0, 0 };
      for (k = 0; k < taps; k++)
        for (q = 0; q < 5; q++)
          s[q] += weights[k] * h[q][(gsize) (y + k) * ow + x];
      double mu_a = s[0], mu_b = s[1];
      double var_a = s[2] - mu_a * mu_a, var_b = s[3] - mu_b * mu_b;
      double cov = s[4] - mu_a * mu_b;
      total += ((2 * mu_a * mu_b + c1) * (2 * cov + c2))
          / ((mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2));
    }
  for (q = 0; q < 5; q++)
    g_free (h[q]);
  g_free (ya);
  g_free (yb);
  return total / ((double) ow * oh);
}

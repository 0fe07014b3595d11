#include "ref.h"

void
ref_conv2d (const float *in, const float *w, const float *bias, float *out, size_t B,
    size_t Cin, size_t H, size_t W, size_t Cout, size_t kh, size_t kw, size_t stride,
    size_t pad_top, size_t pad_left, size_t Ho, size_t Wo)
{
  for (size_t b = 0; b < B; b++)
    for (size_t co = 0; co < Cout; co++)
      for (size_t oy = 0; oy < Ho; oy++)
        for (size_t ox = 0; ox < Wo; ox++) {
          double s = bias ? bias[co] : 0.0;
          for (size_t ci = 0; ci < Cin; ci++)
            for (size_t ky = 0; ky < kh; ky++) {
              long iy = (long) (oy * stride + ky) - (long) pad_top;
              if (iy < 0 || iy >= (long) H)
                continue;
              for (size_t kx = 0; kx < kw; kx++) {
                long ix = (long) (ox * stride + kx) - (long) pad_left;
                if (ix < 0 || ix >= (long) W)
                  continue;
                s += (double) in[((b * Cin + ci) * H + iy) * W + ix]
                    * w[((co * Cin + ci) * kh + ky) * kw + kx];
              }
            }
          out[((b * Cout + co) * Ho + oy) * Wo + ox] = (float) s;
        }
}

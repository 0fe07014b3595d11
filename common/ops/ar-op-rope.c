#include "ar-ops.h"

#include <math.h>

#define ROPE_LOCAL 256

/* Mirrors the push constants of shaders/rope.comp. */
typedef struct {
  guint32 n;
  guint32 half_d;
  guint32 heads;
  guint32 pos0;
  float step_hi;
  float step_lo;
} RopePush;
G_STATIC_ASSERT (sizeof (RopePush) == 24);

void
ar_op_rope (ArCmd *cmd, ArDType dt, const ArBuffer *x, ArBuffer *out, guint32 t, guint32 heads,
    guint32 d, guint32 pos0, float theta)
{
  gsize es = ar_dtype_size (dt);
  guint64 n = (guint64) t * heads * d;
  if (!ar_op_check_dtype (cmd, "rope", dt))
    return;
  if (d % 2 != 0) {
    ar_cmd_fail_invalid (cmd, "rope: head dimension %u is odd", d);
    return;
  }
  if (!(theta > 1) || !isfinite (theta)) {
    ar_cmd_fail_invalid (cmd, "rope: theta must be finite and > 1 (got %g)", theta);
    return;
  }
  if (n > G_MAXUINT32) {
    ar_cmd_fail_invalid (cmd, "rope: %" G_GUINT64_FORMAT " elements exceed the 32-bit index range", n);
    return;
  }
  /* Positions are converted to float in the shader: keep them exact. */
  if (t && (guint64) pos0 + t - 1 > (1u << 24)) {
    ar_cmd_fail_invalid (cmd, "rope: positions up to %" G_GUINT64_FORMAT " exceed 2^24",
        (guint64) pos0 + t - 1);
    return;
  }
  if (!ar_op_check_size (cmd, "rope", "x", x, n, es)
      || !ar_op_check_size (cmd, "rope", "out", out, n, es))
    return;
  if (n == 0)
    return;
  /* step = 2 log2(theta) / d in double, passed as an unevaluated float sum hi + lo. */
  double step = 2.0 * log2 ((double) theta) / d;
  float step_hi = (float) step;
  RopePush pc = {
    .n = (guint32) (n / 2), .half_d = d / 2, .heads = heads, .pos0 = pos0,
    .step_hi = step_hi, .step_lo = (float) (step - step_hi),
  };
  guint32 spec[] = { ROPE_LOCAL }, gx, gy;
  ar_cmd_groups_1d (cmd, ar_div_up (pc.n, ROPE_LOCAL), &gx, &gy);
  ArBinding bind[] = { AR_READ (x), AR_WRITE (out) };
  ar_cmd_dispatch (cmd, AR_SHADER (rope, dt), spec, 1, bind, 2, &pc, sizeof pc, gx, gy, 1);
}

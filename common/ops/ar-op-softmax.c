#include "ar-ops.h"

#include <math.h>

/* Mirrors the push constants of shaders/softmax.comp. */
typedef struct {
  guint32 rows;
  guint32 cols;
  float scale;
} SoftmaxPush;
G_STATIC_ASSERT (sizeof (SoftmaxPush) == 12);

void
ar_op_softmax (ArCmd *cmd, ArDType dt, const ArBuffer *x, ArBuffer *out, guint32 rows,
    guint32 cols, float scale)
{
  gsize es = ar_dtype_size (dt);
  guint64 n = (guint64) rows * cols;
  if (!ar_op_check_dtype (cmd, "softmax", dt))
    return;
  if (n > G_MAXUINT32) {
    ar_cmd_fail_invalid (cmd, "softmax: %" G_GUINT64_FORMAT " elements exceed the 32-bit index range", n);
    return;
  }
  if (!isfinite (scale)) {
    ar_cmd_fail_invalid (cmd, "softmax: scale must be finite (got %g)", scale);
    return;
  }
  if (!ar_op_check_size (cmd, "softmax", "x", x, n, es)
      || !ar_op_check_size (cmd, "softmax", "out", out, n, es))
    return;
  if (n == 0)
    return;
  SoftmaxPush pc = { rows, cols, scale };
  guint32 gx, gy;
  if (ar_ops_reduce_texel_device (cmd) && cols % 4 == 0
      && ar_buffer_texel_viewable (x, dt == AR_F16)) {
    /* One subgroup per workgroup, short rows several to a workgroup (as the norms). */
    guint32 per = ar_ops_reduce_texel_rows (cols);
    guint32 tspec[] = { ar_cmd_device (cmd)->caps.subgroup_size, per };
    ar_cmd_groups_1d (cmd, ar_div_up (rows, per), &gx, &gy);
    ArBinding tb[AR_TEXEL_BINDING + 1] = { [1] = AR_WRITE (out),
      [AR_TEXEL_BINDING] = AR_TEXEL (x, dt) };
    ar_cmd_dispatch (cmd, AR_SHADER (softmax_texel, dt), tspec, 2, tb, G_N_ELEMENTS (tb), &pc,
        sizeof pc, gx, gy, 1);
    return;
  }
  guint32 local = ar_ops_reduce_local_size (cmd, cols);
  guint32 spec[] = { local, 1, ar_ops_reduce_registers (cmd, cols, local) };
  ar_cmd_groups_1d (cmd, rows, &gx, &gy);
  ArBinding bind[] = { AR_READ (x), AR_WRITE (out) };
  const ArShader *sh = ar_ops_reduce_subgroups (cmd) ? AR_SHADER (softmax, dt)
      : AR_SHADER (softmax_tree, dt);
  ar_cmd_dispatch (cmd, sh, spec, G_N_ELEMENTS (spec), bind, 2, &pc, sizeof pc, gx, gy, 1);
}

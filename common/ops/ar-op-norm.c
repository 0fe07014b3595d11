#include "ar-ops.h"

static gboolean reduce_use_subgroups = TRUE;

void
ar_ops_reduce_use_subgroups (gboolean use)
{
  reduce_use_subgroups = use;
}

gboolean
ar_ops_reduce_subgroups (ArCmd *cmd)
{
  return reduce_use_subgroups && ar_cmd_device (cmd)->caps.subgroup_arith;
}

guint32
ar_ops_reduce_local_size (ArCmd *cmd, guint64 len)
{
  /* At least 4 elements per invocation, at least 32 (a full NVIDIA subgroup). On lavapipe a
   * workgroup runs on one core as a loop over 8-wide lanes, so a small one wastes less on
   * idle lanes around the barriers; on a GPU, 256 keeps loads in flight. */
  guint32 cap = ar_cmd_device (cmd)->caps.is_cpu ? 64 : 256;
  guint32 l = 32;
  while (l < cap && (guint64) l * 4 < len)
    l *= 2;
  return l;
}

/* Mirrors the push constants of shaders/norm.comp. */
typedef struct {
  guint32 nseg;
  guint32 len;
  guint32 inner;
  guint32 groups;
  guint32 flags;
  float eps;
} NormPush;
G_STATIC_ASSERT (sizeof (NormPush) == 24);

#define NORM_GAMMA 1u
#define NORM_BETA 2u

/* Rows/segments of at most TEXEL_SHORT elements go TEXEL_ROWS to a workgroup of the texel
 * flavours (lavapipe, iris-small's 323 x 256 layer norm: 210-240 vs 260 us with one row per
 * workgroup). */
#define TEXEL_SHORT 2048
#define TEXEL_ROWS 8

static gboolean reduce_texel_forced = FALSE;
static gboolean reduce_texel_avoided = FALSE;
static guint32 reduce_max_registers = AR_REDUCE_MAX_REGISTERS;

void
ar_ops_reduce_force_texel (gboolean force)
{
  reduce_texel_forced = force;
}

void
ar_ops_reduce_avoid_texel (gboolean avoid)
{
  reduce_texel_avoided = avoid;
}

void
ar_ops_reduce_max_registers (guint32 max)
{
  reduce_max_registers = max;
}

gboolean
ar_ops_reduce_texel_device (ArCmd *cmd)
{
  return (ar_cmd_device (cmd)->caps.is_cpu || reduce_texel_forced) && !reduce_texel_avoided
      && ar_ops_reduce_subgroups (cmd);
}

guint32
ar_ops_reduce_registers (ArCmd *cmd, guint64 len, guint32 local)
{
  guint64 per = ar_div_up (len, local);
  if (per > reduce_max_registers || ar_device_avoids (ar_cmd_device (cmd), "reduce_registers"))
    return 0;
  guint32 r = 1;
  while (r < per)
    r *= 2;
  return r;
}

guint32
ar_ops_reduce_texel_rows (guint64 len)
{
  return len <= TEXEL_SHORT ? TEXEL_ROWS : 1;
}

/* Whether norm.comp's texel flavour runs: on CPU devices (or when forced, for tests) where
 * vec4s never straddle a segment or a channel, out is not x, and the tensors can be viewed
 * as texel buffers. */
static gboolean
norm_texel_applies (ArCmd *cmd, ArDType dt, const ArBuffer *x, const ArBuffer *gamma,
    const ArBuffer *beta, const ArBuffer *out, guint64 len, guint32 inner, guint32 groups,
    guint32 channels)
{
  gboolean f16 = dt == AR_F16;
  return ar_ops_reduce_texel_device (cmd) && len % 4 == 0
      && (inner % 4 == 0 || (inner == 1 && groups == 1 && channels % 4 == 0))
      && x != out && ar_buffer_texel_viewable (x, f16)
      && (!gamma || ar_buffer_texel_viewable (gamma, f16))
      && (!beta || ar_buffer_texel_viewable (beta, f16));
}

static void
norm_dispatch (ArCmd *cmd, const char *op, ArDType dt, const ArBuffer *x, const ArBuffer *gamma,
    const ArBuffer *beta, ArBuffer *out, guint64 nseg, guint64 len, guint32 inner,
    guint32 groups, guint32 channels, float eps, gboolean rms, gboolean silu)
{
  gsize es = ar_dtype_size (dt);
  guint64 n = nseg * len;
  if (!ar_op_check_dtype (cmd, op, dt))
    return;
  if (n > G_MAXUINT32) {
    ar_cmd_fail_invalid (cmd, "%s: %" G_GUINT64_FORMAT " elements exceed the 32-bit index range",
        op, n);
    return;
  }
  if (!(eps >= 0)) {
    ar_cmd_fail_invalid (cmd, "%s: eps must be >= 0 (got %g)", op, eps);
    return;
  }
  if (!ar_op_check_size (cmd, op, "x", x, n, es) || !ar_op_check_size (cmd, op, "out", out, n, es)
      || (gamma && !ar_op_check_size (cmd, op, "gamma", gamma, channels, es))
      || (beta && !ar_op_check_size (cmd, op, "beta", beta, channels, es)))
    return;
  if (n == 0)
    return;
  NormPush pc = {
    .nseg = (guint32) nseg, .len = (guint32) len, .inner = inner, .groups = groups,
    .flags = (gamma ? NORM_GAMMA : 0) | (beta ? NORM_BETA : 0), .eps = eps,
  };
  guint32 gx, gy;
  ar_cmd_groups_1d (cmd, nseg, &gx, &gy);
  if (norm_texel_applies (cmd, dt, x, gamma, beta, out, len, inner, groups, channels)) {
    /* One subgroup per workgroup; short rows several to a workgroup. */
    guint32 segs = ar_ops_reduce_texel_rows (len);
    guint32 tspec[] = { ar_cmd_device (cmd)->caps.subgroup_size, rms, silu, segs };
    ar_cmd_groups_1d (cmd, ar_div_up (nseg, segs), &gx, &gy);
    ArBinding tb[AR_TEXEL_BINDING + 3] = { [3] = AR_WRITE (out),
      [AR_TEXEL_BINDING] = AR_TEXEL (x, dt), [AR_TEXEL_BINDING + 1] = AR_TEXEL (gamma, dt),
      [AR_TEXEL_BINDING + 2] = AR_TEXEL (beta, dt) };
    ar_cmd_dispatch (cmd, AR_SHADER (norm_texel, dt), tspec, 4, tb, G_N_ELEMENTS (tb), &pc,
        sizeof pc, gx, gy, 1);
    return;
  }
  ArBinding bind[] = { AR_READ (x), AR_READ (gamma), AR_READ (beta), AR_WRITE (out) };
  const ArShader *sh = ar_ops_reduce_subgroups (cmd) ? AR_SHADER (norm, dt) : AR_SHADER (norm_tree, dt);
  guint32 local = ar_ops_reduce_local_size (cmd, len);
  guint32 gspec[] = { local, rms, silu, 1, ar_ops_reduce_registers (cmd, len, local) };
  ar_cmd_dispatch (cmd, sh, gspec, G_N_ELEMENTS (gspec), bind, 4, &pc, sizeof pc, gx, gy, 1);
}

void
ar_op_group_norm (ArCmd *cmd, ArDType dt, const ArBuffer *x, const ArBuffer *gamma,
    const ArBuffer *beta, ArBuffer *out, guint32 n, guint32 c, guint32 h, guint32 w,
    guint32 groups, float eps, gboolean silu)
{
  if (groups == 0 || c % groups != 0) {
    ar_cmd_fail_invalid (cmd, "group_norm: %u groups do not divide %u channels", groups, c);
    return;
  }
  guint64 hw = (guint64) h * w;
  if (hw > G_MAXUINT32) {
    ar_cmd_fail_invalid (cmd, "group_norm: h * w = %" G_GUINT64_FORMAT " is too large", hw);
    return;
  }
  norm_dispatch (cmd, "group_norm", dt, x, gamma, beta, out, (guint64) n * groups,
      (guint64) (c / groups) * hw, (guint32) hw, groups, c, eps, FALSE, silu);
}

void
ar_op_layer_norm (ArCmd *cmd, ArDType dt, const ArBuffer *x, const ArBuffer *gamma,
    const ArBuffer *beta, ArBuffer *out, guint32 rows, guint32 cols, float eps)
{
  norm_dispatch (cmd, "layer_norm", dt, x, gamma, beta, out, rows, cols, 1, 1, cols, eps,
      FALSE, FALSE);
}

void
ar_op_rms_norm (ArCmd *cmd, ArDType dt, const ArBuffer *x, const ArBuffer *gamma,
    ArBuffer *out, guint32 rows, guint32 cols, float eps)
{
  norm_dispatch (cmd, "rms_norm", dt, x, gamma, NULL, out, rows, cols, 1, 1, cols, eps,
      TRUE, FALSE);
}

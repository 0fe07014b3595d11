#include "ar-ops.h"

/* Mirrors the push constants of shaders/conv2d.comp (conv2d_tile.comp, conv2d_v4.comp). */
typedef struct {
  guint32 Cin, H, W;
  guint32 Cout, Ho, Wo;
  gint32 pad_top, pad_left;
  guint32 tiles_x, n_tiles;
  guint32 has_bias;
  guint32 accumulate;
} Conv2dPush;
G_STATIC_ASSERT (sizeof (Conv2dPush) == 48);

/* Register tile: CONV_TC output channels x CONV_TP pixels of a row per invocation. On
 * lavapipe (64->64, 64x64, 3x3) 4x4 measured best; 8x4, 4x8, 8x2 were no faster and
 * compile slower, 16x4 and 8x8 spill (3-8x slower). */
#define CONV_TC 4
#define CONV_TP 4
#define CONV_LOCAL 64
/* Largest tile of the vec4 kernel (conv2d_v4.comp): TC output channels x TP pixels. Lavapipe,
 * 64->64 64x64 3x3, subgroup variant, GFLOP/s (machine loaded, best of 4 runs): 16x16 ~15,
 * 8x16 ~13, 16x8 ~10, 8x8 ~8-11, 4x8 ~6, 4x4 ~5; the direct kernel ~4.5. Narrow images and
 * few output channels get smaller tiles so that the tile is not mostly padding. */
#define CONV4_TC 16
#define CONV4_TP 16

/* The vec4 kernel reads rows and weight groups of 4 and writes output rows as aligned
 * vec4s: square 1x1 or 3x3 kernels, stride 1 or 2, top/left padding below the kernel size
 * (right/bottom padding is implied by the output size). */
static gboolean
vec4_ok (const ArConv2dParams *p, guint out_w)
{
  return (p->stride == 1 || p->stride == 2) && p->kernel_h == p->kernel_w
      && (p->kernel_h == 1 || p->kernel_h == 3)
      && p->pad_top < p->kernel_h && p->pad_left < p->kernel_w
      && p->pad_bottom < p->kernel_h && p->pad_right < p->kernel_w
      && p->in_channels % 4 == 0 && p->in_w % 4 == 0 && out_w % 4 == 0;
}

void
ar_conv2d_params_init (ArConv2dParams *p, guint in_channels, guint in_h, guint in_w,
    guint out_channels, guint kernel, guint stride, guint padding)
{
  *p = (ArConv2dParams) {
    .batch = 1,
    .in_channels = in_channels, .in_h = in_h, .in_w = in_w,
    .out_channels = out_channels,
    .kernel_h = kernel, .kernel_w = kernel,
    .stride = stride,
    .pad_top = padding, .pad_left = padding, .pad_bottom = padding, .pad_right = padding,
  };
}

gboolean
ar_conv2d_out_size (const ArConv2dParams *p, guint *out_h, guint *out_w)
{
  guint64 ph = (guint64) p->in_h + p->pad_top + p->pad_bottom;
  guint64 pw = (guint64) p->in_w + p->pad_left + p->pad_right;
  *out_h = *out_w = 0;
  if (p->stride == 0 || p->kernel_h == 0 || p->kernel_w == 0 || ph < p->kernel_h
      || pw < p->kernel_w)
    return FALSE;
  *out_h = (guint) ((ph - p->kernel_h) / p->stride + 1);
  *out_w = (guint) ((pw - p->kernel_w) / p->stride + 1);
  return TRUE;
}

/* The implicit-GEMM kernel (shaders/conv2d_tile.comp): 64 output channels x 64 pixels per
 * workgroup. */
static void
record_tile (ArCmd *cmd, ArDType dt, const Conv2dPush *pc, const ArBinding *bind,
    const ArConv2dParams *p, gboolean coop)
{
  const guint32 *max = ar_cmd_device (cmd)->props.limits.maxComputeWorkGroupCount;
  guint32 gx = ar_div_up ((guint64) pc->Ho * pc->Wo, 64), gy = ar_div_up (pc->Cout, 64);
  if (gx > max[0] || gy > max[1] || p->batch > max[2]) {
    ar_cmd_fail_invalid (cmd, "conv2d: output %ux%ux%u x batch %u exceeds the grid limits",
        pc->Cout, pc->Ho, pc->Wo, p->batch);
    return;
  }
  guint32 spec[] = { p->kernel_h, p->kernel_w, p->stride };
  ar_cmd_dispatch (cmd, coop ? AR_SHADER (conv2d_coop, dt) : AR_SHADER (conv2d_tile, dt), spec,
      G_N_ELEMENTS (spec), bind, 4, pc, sizeof *pc, gx, gy, p->batch);
}

void
ar_op_conv2d (ArCmd *cmd, ArDType dt, const ArBuffer *in, const ArBuffer *weight,
    const ArBuffer *bias, ArBuffer *out, const ArConv2dParams *p)
{
  if (!ar_op_check_dtype (cmd, "conv2d", dt))
    return;
  if (p->kernel_h < 1 || p->kernel_h > 7 || p->kernel_w < 1 || p->kernel_w > 7
      || p->stride < 1 || p->stride > 4) {
    ar_cmd_fail_invalid (cmd, "conv2d: kernel %ux%u stride %u unsupported (kernel 1..7, stride 1..4)",
        p->kernel_h, p->kernel_w, p->stride);
    return;
  }
  guint Ho, Wo;
  if (!ar_conv2d_out_size (p, &Ho, &Wo) || p->in_h == 0 || p->in_w == 0) {
    ar_cmd_fail_invalid (cmd, "conv2d: input %ux%u with padding is smaller than the kernel %ux%u",
        p->in_h, p->in_w, p->kernel_h, p->kernel_w);
    return;
  }
  if (p->batch == 0 || p->in_channels == 0 || p->out_channels == 0)
    return;
  gsize es = ar_dtype_size (dt);
  guint64 n_in = (guint64) p->batch * p->in_channels * p->in_h * p->in_w;
  guint64 n_w = (guint64) p->out_channels * p->in_channels * p->kernel_h * p->kernel_w;
  guint64 n_out = (guint64) p->batch * p->out_channels * Ho * Wo;
  if (n_in > G_MAXUINT32 || n_w > G_MAXUINT32 || n_out > G_MAXUINT32) {
    ar_cmd_fail_invalid (cmd, "conv2d: tensors beyond 32-bit indexing");
    return;
  }
  if (!ar_op_check_size (cmd, "conv2d", "in", in, n_in, es)
      || !ar_op_check_size (cmd, "conv2d", "weight", weight, n_w, es)
      || !ar_op_check_size (cmd, "conv2d", "out", out, n_out, es)
      || (bias && !ar_op_check_size (cmd, "conv2d", "bias", bias, p->out_channels, es)))
    return;

  ArDevice *dev = ar_cmd_device (cmd);
  if (p->path > AR_CONV2D_VEC4_TEXEL) {
    ar_cmd_fail_invalid (cmd, "conv2d: unknown path %d", p->path);
    return;
  }
  if (p->path == AR_CONV2D_TILE_COOPMAT && !ar_op_check_coopmat (cmd, "conv2d", dt))
    return;
  /* GPUs: the tiles for 1x1 kernels (H200, 128->64 at 32x32: 24 us, direct 33 us); for 3x3
   * the direct kernel was as fast (64->64 at 64x64: 69 us, tiles 76, cooperative matrices
   * 129). */
  /* Push constants and bindings of every kernel; tiles_x and n_tiles are the register-tiled
   * kernels' own. */
  Conv2dPush pc = {
    .Cin = p->in_channels, .H = p->in_h, .W = p->in_w,
    .Cout = p->out_channels, .Ho = Ho, .Wo = Wo,
    .pad_top = (gint32) p->pad_top, .pad_left = (gint32) p->pad_left,
    .has_bias = bias != NULL,
    .accumulate = p->accumulate,
  };
  ArBinding bind[] = { AR_READ (in), AR_READ (weight), AR_READ (bias), AR_WRITE (out) };
  if (p->path == AR_CONV2D_TILE_SHARED || p->path == AR_CONV2D_TILE_COOPMAT
      || (p->path == AR_CONV2D_AUTO && !dev->caps.is_cpu && p->kernel_h == 1 && p->kernel_w == 1)) {
    record_tile (cmd, dt, &pc, bind, p, p->path == AR_CONV2D_TILE_COOPMAT);
    return;
  }
  gboolean forced = p->path == AR_CONV2D_VEC4 || p->path == AR_CONV2D_VEC4_NO_SUBGROUP
      || p->path == AR_CONV2D_VEC4_TEXEL;
  gboolean v4 = forced || (p->path == AR_CONV2D_AUTO && dev->caps.is_cpu && vec4_ok (p, Wo));
  if (forced && !vec4_ok (p, Wo)) {
    ar_cmd_fail_invalid (cmd, "conv2d: the vec4 kernel needs a 1x1 or 3x3 kernel, stride 1 or "
        "2, padding below the kernel size, in_channels, in_w and out_w multiples of 4");
    return;
  }
  guint tp = CONV_TP, tc = CONV_TC;
  if (v4) {
    tp = MIN (CONV4_TP, 4 * ar_div_up (Wo, 4));
    tc = MIN (CONV4_TC, 4 * ar_div_up (p->out_channels, 4));
    tp = tp > 8 ? CONV4_TP : tp > 4 ? 8 : 4;
    tc = tc > 8 ? CONV4_TC : tc > 4 ? 8 : 4;
  }
  pc.tiles_x = ar_div_up (Wo, tp);
  pc.n_tiles = pc.tiles_x * Ho;
  const guint32 *max = dev->props.limits.maxComputeWorkGroupCount;
  /* Small images get narrower workgroups so that lanes past the last tile do not idle
   * (8 = lavapipe's SIMD width). */
  guint32 local = CONV_LOCAL;
  if (v4)
    for (local = 8; local < CONV_LOCAL && local < pc.n_tiles; local *= 2)
      ;
  guint32 gx = ar_div_up (pc.n_tiles, local);
  guint32 gy = ar_div_up (p->out_channels, tc);
  if (gx > max[0] || gy > max[1] || p->batch > max[2]) {
    ar_cmd_fail_invalid (cmd, "conv2d: output %ux%ux%u x batch %u exceeds the grid limits",
        p->out_channels, Ho, Wo, p->batch);
    return;
  }
  gboolean texel_ok = ar_buffer_texel_viewable (in, dt == AR_F16)
      && ar_buffer_texel_viewable (weight, dt == AR_F16);
  if (v4 && (p->path == AR_CONV2D_VEC4_TEXEL || (p->path == AR_CONV2D_AUTO && texel_ok))) {
    if (!texel_ok) {
      ar_cmd_fail_invalid (cmd, "conv2d: the texel kernel needs buffers viewable as texel buffers");
      return;
    }
    guint32 spec4[] = { local, tc, tp, p->kernel_h, dev->caps.subgroup_size, p->stride,
      p->pad_left };
    ArBinding tb[AR_TEXEL_BINDING + 2] = { [2] = bind[2], [3] = bind[3],
      [AR_TEXEL_BINDING] = AR_TEXEL (in, dt), [AR_TEXEL_BINDING + 1] = AR_TEXEL (weight, dt) };
    ar_cmd_dispatch (cmd, AR_SHADER (conv2d_v4_texel, dt), spec4, G_N_ELEMENTS (spec4), tb,
        G_N_ELEMENTS (tb), &pc, sizeof pc, gx, gy, p->batch);
    return;
  }
  if (v4) {
    /* The subgroup variant needs whole subgroups inside the workgroup. */
    gboolean sg = p->path != AR_CONV2D_VEC4_NO_SUBGROUP && dev->caps.subgroup_ballot
        && dev->caps.subgroup_size >= 4 && dev->caps.subgroup_size <= local
        && local % dev->caps.subgroup_size == 0;
    guint32 spec4[] = { local, tc, tp, p->kernel_h, dev->caps.subgroup_size, p->stride,
      p->pad_left };
    ar_cmd_dispatch (cmd, sg ? AR_SHADER (conv2d_v4_sg, dt) : AR_SHADER (conv2d_v4, dt), spec4,
        G_N_ELEMENTS (spec4), bind, 4, &pc, sizeof pc, gx, gy, p->batch);
    return;
  }
  guint32 spec[] = { CONV_LOCAL, CONV_TC, CONV_TP, p->kernel_h, p->kernel_w, p->stride };
  ar_cmd_dispatch (cmd, AR_SHADER (conv2d, dt), spec, G_N_ELEMENTS (spec), bind, 4, &pc,
      sizeof pc, gx, gy, p->batch);
}

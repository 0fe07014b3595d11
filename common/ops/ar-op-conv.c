#include "ar-ops.h"

#include <string.h>

/* Mirrors the push constants of shaders/conv2d.comp (conv2d_tile.comp, conv2d_v4.comp,
 * conv2d_patch.comp). */
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
#define CONV_SPLIT_SUBGROUPS 4   /* tiles per workgroup of the split-channel kernel */
/* Fewest input channels for which AUTO takes the split-channel kernel where preferred (its
 * lanes take the channels in turn: with 16, half of a 32-lane subgroup already idles). */
#define CONV_SPLIT_MIN_CIN 16
#define CONV_SPLIT_1X1_MAX_PIXELS 256
/* Largest tile of the vec4 kernel (conv2d_v4.comp): TC output channels x TP pixels. Lavapipe,
 * 64->64 64x64 3x3, subgroup variant, GFLOP/s (machine loaded, best of 4 runs): 16x16 ~15,
 * 8x16 ~13, 16x8 ~10, 8x8 ~8-11, 4x8 ~6, 4x4 ~5; the direct kernel ~4.5. Narrow images and
 * few output channels get smaller tiles so that the tile is not mostly padding. With the
 * texel variant's accumulator runs, 32x16 and 16x32 were no faster than 16x16 in wall time
 * (55-70 GFLOP/s, noisy; but see CONV4_TEXEL_TP) and 32x32, 64x16 slower (37-50). TP must
 * stay 4, 8 or a multiple of 8: the runs take min(TP, 8) pixels at a time. */
#define CONV4_TC 16
#define CONV4_TP 16
/* The texel variant's widest tile: 32 pixels, for outputs at least 64 wide. Its fetches per
 * product fall (each weight fetch serves twice the pixels) while its stack grows past L1;
 * lavapipe on a Cascade Lake VM, 64->64 3x3 at 64x64, each process's minimum CPU time of 15
 * calls, four alternating pairs: 14.7-15.5 ms with 16 pixels, 13.4-14.1 with 32 (wall
 * 7.9-8.7 -> 7.2-7.7 ms). At 32x32 the gain was within the noise (3.55-3.65 -> 3.36-3.73),
 * and each such pipeline, twice the code, takes seconds to build on lavapipe: taken with it
 * at every width, iris-small's process took ~4 s longer to start. */
#define CONV4_TEXEL_TP 32
#define CONV4_TEXEL_TP_MIN_W 64
/* Narrowest output for which AUTO computes 3x3 stride-1 rows with Winograd F(4,3) in the
 * texel variant (conv2d_v4.comp's WINO). Lavapipe on a Cascade Lake VM, 64->64, each shape's
 * minimum CPU time over 20 submissions of 10-40 calls, direct and Winograd alternating in one
 * process: 64x64 0.83x, 32x32 0.88x, 16x16 1.01x, 8x8 1.26x. */
#define CONV4_WINO_MIN_W 32

/* The patch kernel's tile (shaders/conv2d_patch.comp): bc output channels x th rows x tw
 * columns per workgroup, tc channels (a multiple of 4) x tp pixels per invocation, cc input
 * channels per shared-memory chunk (0: about CONV_PATCH_K weights per output channel and
 * chunk, 8 channels for 3x3). Small outputs shrink bc, tw and th to their size; then, while
 * the grid has fewer than `groups` workgroups (about one per multiprocessor of a large GPU;
 * 0: never), bc down to 4 tc and then th down to 1. cc shrinks until a chunk fits
 * CONV_PATCH_SHARED bytes of shared memory (or the device's limit, if lower) and the
 * registers that stage it (see record_patch).
 * AR_CONV_PATCH_TILE=key=value,... (keys bc tc tp tw th cc groups, e.g. "th=4,tc=8,groups=0")
 * overrides the defaults, read once per process: tile shapes timed on a GPU without a
 * rebuild. */
typedef struct {
  guint bc, tc, tp, tw, th, cc, groups;
} ConvPatchTile;
#define CONV_PATCH_K 80
#define CONV_PATCH_SHARED 49152
#define CONV_PATCH_STAGE 64
#define CONV_PATCH_MIN_LOCAL 32
/* AUTO takes the patch kernel from this many output pixels on: below, its few workgroups
 * walk many small chunks serially (H100, iris-small's 4x4 level, 64 channels: ~85 us per
 * conv, the 512-channel decoder input ~300 us) and the direct kernel's short loops win. */
#define CONV_PATCH_MIN_PIXELS 256

static ConvPatchTile
patch_tile (void)
{
  static gsize once;
  /* th 4: H100, iris-small encode / decode 1.85 / 3.22 ms against 2.49 / 4.48 with th 2 (th 1,
   * tc 8, tp 2 were slower; large: encode 4.26 vs 4.81, decode 9.39 vs 8.85). */
  static ConvPatchTile tile = { .bc = 64, .tc = 4, .tp = 4, .tw = 16, .th = 4, .cc = 0,
    .groups = 128 };
  if (g_once_init_enter (&once)) {
    const char *env = g_getenv ("AR_CONV_PATCH_TILE");
    ConvPatchTile t = tile;
    gboolean ok = TRUE;
    g_auto (GStrv) items = g_strsplit (env ? env : "", ",", -1);
    for (guint i = 0; ok && items[i]; i++) {
      g_auto (GStrv) kv = g_strsplit (items[i], "=", 2);
      guint64 v = 0;
      guint *field = NULL;
      if (g_strv_length (kv) == 2
          && g_ascii_string_to_unsigned (kv[1], 10, 0, 65536, &v, NULL)) {
        const char *k = kv[0];
        field = !strcmp (k, "bc") ? &t.bc : !strcmp (k, "tc") ? &t.tc : !strcmp (k, "tp") ? &t.tp
            : !strcmp (k, "tw") ? &t.tw : !strcmp (k, "th") ? &t.th : !strcmp (k, "cc") ? &t.cc
            : !strcmp (k, "groups") ? &t.groups : NULL;
      }
      if (field)
        *field = (guint) v;
      ok = field != NULL;
    }
    ok = ok && t.tc > 0 && t.tc % 4 == 0 && t.bc > 0 && t.bc % t.tc == 0 && t.tp > 0
        && t.tw > 0 && t.tw % t.tp == 0 && t.th > 0;
    if (ok)
      tile = t;
    else
      g_warning ("AR_CONV_PATCH_TILE=%s ignored: want key=value,... with keys bc tc tp tw th "
          "cc groups, tc a multiple of 4, bc of tc, tw of tp", env);
    g_once_init_leave (&once, 1);
  }
  return tile;
}

/* The vec4 kernels' output channels per invocation: CONV4_TC, or 8 or 4 for few channels. */
static guint
vec4_channel_tile (guint out_channels)
{
  return out_channels > 8 ? CONV4_TC : out_channels > 4 ? 8 : 4;
}

/* The vec4 kernels' workgroup size: small images get narrower workgroups so that lanes past
 * the last tile do not idle (8 = lavapipe's SIMD width). */
static guint32
vec4_local (guint32 n_tiles)
{
  guint32 local;
  for (local = 8; local < CONV_LOCAL && local < n_tiles; local *= 2)
    ;
  return local;
}

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

/* The patch kernel (shaders/conv2d_patch.comp); FALSE, nothing recorded, where its
 * workgroup or its smallest chunk exceeds the device's limits. */
static gboolean
record_patch (ArCmd *cmd, ArDType dt, Conv2dPush *pc, const ArBinding *bind,
    const ArConv2dParams *p)
{
  const VkPhysicalDeviceLimits *lim = &ar_cmd_device (cmd)->props.limits;
  ConvPatchTile t = patch_tile ();
  /* Few output channels, narrow or short outputs: smaller tiles, not idle invocations. */
  while (t.bc / 2 >= pc->Cout && (t.bc / 2) % t.tc == 0)
    t.bc /= 2;
  while (t.tw / 2 >= pc->Wo && (t.tw / 2) % t.tp == 0)
    t.tw /= 2;
  while (t.th / 2 >= pc->Ho)
    t.th /= 2;
  /* Small grids: more, smaller workgroups (not below CONV_PATCH_MIN_LOCAL invocations), so
   * that every multiprocessor gets work. */
  for (;;) {
    guint64 groups = (guint64) ar_div_up (pc->Wo, t.tw) * ar_div_up (pc->Ho, t.th)
        * ar_div_up (pc->Cout, t.bc) * p->batch;
    guint local = t.bc / t.tc * (t.tw / t.tp) * t.th;
    if (groups >= t.groups || local / 2 < CONV_PATCH_MIN_LOCAL)
      break;
    if (t.bc / 2 >= 4 * t.tc && (t.bc / 2) % t.tc == 0)
      t.bc /= 2;
    else if (t.th > 1)
      t.th /= 2;
    else
      break;
  }
  guint64 local = (guint64) t.bc / t.tc * (t.tw / t.tp) * t.th;
  guint kk = p->kernel_h * p->kernel_w;
  /* Per input channel of a chunk: the patch and the weights. Each invocation stages its share
   * through registers, at most CONV_PATCH_STAGE floats (small workgroups take fewer channels
   * per chunk); shared memory holds them with weight rows of bc + 4 floats (one vec4 of
   * padding). */
  guint64 ph = (guint64) (t.th - 1) * p->stride + p->kernel_h;
  guint64 pw = (guint64) (t.tw - 1) * p->stride + p->kernel_w;
  guint64 staged = ph * pw + (guint64) kk * t.bc;
  guint64 shared = (ph * pw + (guint64) kk * (t.bc + 4)) * sizeof (float);
  guint64 cc = t.cc ? t.cc : MAX (CONV_PATCH_K / kk, 1);
  cc = MIN (cc, MAX (CONV_PATCH_STAGE * local / staged, 1));
  cc = MIN (MIN (cc, pc->Cin), MIN (lim->maxComputeSharedMemorySize, CONV_PATCH_SHARED) / shared);
  /* Powers of two unless all channels fit one chunk: fewer pipelines to build. */
  while (cc < pc->Cin && (cc & (cc - 1)) != 0)
    cc &= cc - 1;
  if (cc == 0 || local > lim->maxComputeWorkGroupInvocations
      || local > lim->maxComputeWorkGroupSize[0])
    return FALSE;
  pc->tiles_x = ar_div_up (pc->Wo, t.tw);
  pc->n_tiles = pc->tiles_x * ar_div_up (pc->Ho, t.th);
  guint32 spec[] = { (guint32) local, t.bc, t.tc, t.tp, t.tw, t.th, (guint32) cc, p->kernel_h,
    p->kernel_w, p->stride };
  ar_cmd_dispatch (cmd, AR_SHADER (conv2d_patch, dt), spec, G_N_ELEMENTS (spec), bind, 4, pc,
      sizeof *pc, pc->n_tiles, ar_div_up (pc->Cout, t.bc), p->batch);
  return TRUE;
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
  if (p->path > AR_CONV2D_VEC4_WINOGRAD) {
    ar_cmd_fail_invalid (cmd, "conv2d: unknown path %d", p->path);
    return;
  }
  if (p->path == AR_CONV2D_TILE_COOPMAT && !ar_op_check_coopmat (cmd, "conv2d", dt))
    return;
  /* GPUs: the tiles for 1x1 kernels (H200, 128->64 at 32x32: 24 us, direct 33 us); for larger
   * kernels the patch kernel, or where AR_VULKAN_AVOID names conv_patch the direct kernel,
   * which was as fast as the tiles (64->64 3x3 at 64x64: 69 us, tiles 76, cooperative
   * matrices 129). */
  /* Push constants and bindings of every kernel; tiles_x and n_tiles are the register-tiled
   * and patch kernels' own. */
  Conv2dPush pc = {
    .Cin = p->in_channels, .H = p->in_h, .W = p->in_w,
    .Cout = p->out_channels, .Ho = Ho, .Wo = Wo,
    .pad_top = (gint32) p->pad_top, .pad_left = (gint32) p->pad_left,
    .has_bias = bias != NULL,
    .accumulate = p->accumulate,
  };
  ArBinding bind[] = { AR_READ (in), AR_READ (weight), AR_READ (bias), AR_WRITE (out) };
  /* GPUs, 1x1 kernels on images up to CONV_SPLIT_1X1_MAX_PIXELS: the split-channel kernel
   * (below) instead of the tiles, whose 64x64 output tile left most of the device idle there.
   * H200, iris-small's attention projections (16x16 and 8x8, 64 channels): 21 per encode
   * 378 -> 188 us, 29 per decode 496 -> 260; encode 1.38-1.39 -> 1.25-1.28 ms, decode
   * 2.58-2.62 -> 2.41-2.49 (alternating runs). AR_VULKAN_AVOID=conv_split_1x1 keeps the tiles
   * (A/B runs). */
  gboolean split_1x1 = p->path == AR_CONV2D_AUTO && !dev->caps.is_cpu
      && dev->caps.subgroup_arith && p->kernel_h == 1 && p->kernel_w == 1
      && (guint64) Ho * Wo <= CONV_SPLIT_1X1_MAX_PIXELS
      && p->in_channels >= CONV_SPLIT_MIN_CIN && !ar_device_avoids (dev, "conv_split_1x1");
  if (p->path == AR_CONV2D_TILE_SHARED || p->path == AR_CONV2D_TILE_COOPMAT
      || (p->path == AR_CONV2D_AUTO && !dev->caps.is_cpu && p->kernel_h == 1 && p->kernel_w == 1
          && !split_1x1)) {
    record_tile (cmd, dt, &pc, bind, p, p->path == AR_CONV2D_TILE_COOPMAT);
    return;
  }
  gboolean patch_auto = p->path == AR_CONV2D_AUTO && !dev->caps.is_cpu
      && p->kernel_h * p->kernel_w > 1 && (guint64) Ho * Wo >= CONV_PATCH_MIN_PIXELS
      && !ar_device_avoids (dev, "conv_patch");
  if (p->path == AR_CONV2D_PATCH || patch_auto) {
    if (record_patch (cmd, dt, &pc, bind, p))
      return;
    if (p->path == AR_CONV2D_PATCH) {
      ar_cmd_fail_invalid (cmd, "conv2d: the patch kernel's tile exceeds the device's shared "
          "memory or workgroup size (kernel %ux%u)", p->kernel_h, p->kernel_w);
      return;
    }
  }
  gboolean winograd_ok = p->kernel_h == 3 && p->kernel_w == 3 && p->stride == 1;
  if (p->path == AR_CONV2D_VEC4_WINOGRAD && !winograd_ok) {
    ar_cmd_fail_invalid (cmd, "conv2d: the Winograd kernel needs a 3x3 kernel at stride 1 (got "
        "%ux%u, stride %u)", p->kernel_h, p->kernel_w, p->stride);
    return;
  }
  gboolean forced = p->path == AR_CONV2D_VEC4 || p->path == AR_CONV2D_VEC4_NO_SUBGROUP
      || p->path == AR_CONV2D_VEC4_TEXEL || p->path == AR_CONV2D_VEC4_WINOGRAD;
  gboolean v4 = forced || (p->path == AR_CONV2D_AUTO && dev->caps.is_cpu && vec4_ok (p, Wo));
  if (forced && !vec4_ok (p, Wo)) {
    ar_cmd_fail_invalid (cmd, "conv2d: the vec4 kernel needs a 1x1 or 3x3 kernel, stride 1 or "
        "2, padding below the kernel size, in_channels, in_w and out_w multiples of 4");
    return;
  }
  gboolean texel_ok = ar_buffer_texel_viewable (in, dt == AR_F16)
      && ar_buffer_texel_viewable (weight, dt == AR_F16);
  gboolean texel = v4 && (p->path == AR_CONV2D_VEC4_TEXEL || p->path == AR_CONV2D_VEC4_WINOGRAD
      || (p->path == AR_CONV2D_AUTO && texel_ok));
  gboolean winograd = texel && winograd_ok && (p->path == AR_CONV2D_VEC4_WINOGRAD
      || (p->path == AR_CONV2D_AUTO && Wo >= CONV4_WINO_MIN_W));
  guint tp = CONV_TP, tc = CONV_TC;
  if (v4) {
    /* The widest tile the output fills: 4, 8, 16, or (texel variant, outputs from
     * CONV4_TEXEL_TP_MIN_W wide) 32 pixels. */
    guint widest = texel && Wo >= CONV4_TEXEL_TP_MIN_W ? CONV4_TEXEL_TP : CONV4_TP;
    for (tp = 4; tp < widest && tp < Wo; tp *= 2)
      ;
    tc = vec4_channel_tile (p->out_channels);
  }
  pc.tiles_x = ar_div_up (Wo, tp);
  pc.n_tiles = pc.tiles_x * Ho;
  const guint32 *max = dev->props.limits.maxComputeWorkGroupCount;
  guint32 local = v4 ? vec4_local (pc.n_tiles) : CONV_LOCAL;
  guint32 gx = ar_div_up (pc.n_tiles, local);
  guint32 gy = ar_div_up (p->out_channels, tc);
  if (gx > max[0] || gy > max[1] || p->batch > max[2]) {
    ar_cmd_fail_invalid (cmd, "conv2d: output %ux%ux%u x batch %u exceeds the grid limits",
        p->out_channels, Ho, Wo, p->batch);
    return;
  }
  if (texel) {
    if (!texel_ok) {
      ar_cmd_fail_invalid (cmd, "conv2d: the texel kernel needs buffers viewable as texel buffers");
      return;
    }
    /* Fewer tiles than lanes (a 4x4 image: 4 tiles, 8 lanes): the other lanes take further
     * channel groups instead of idling (conv2d_v4.comp's CG). */
    guint32 cg = pc.n_tiles < local && local % pc.n_tiles == 0 ? local / pc.n_tiles : 1;
    if (cg > 1)
      gy = ar_div_up (p->out_channels, tc * cg);
    guint32 spec4[] = { local, tc, tp, p->kernel_h, dev->caps.subgroup_size, p->stride,
      p->pad_left, cg, winograd };
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
  /* GPUs below the patch kernel's pixels: the direct kernel loops over every input channel
   * in one invocation (iris-small's 4x4 and 8x8 levels: 70-100 us per convolution on an
   * H100); the split-channel kernel spreads the channels over a subgroup's lanes. H200,
   * iris-small, two alternating pairs: encode 2.54 -> 1.56 ms, decode 4.41 -> 2.75, frame
   * 13.1 -> 10.3. AR_VULKAN_AVOID=conv_split_cin keeps the direct kernel (A/B runs). */
  gboolean split_auto = split_1x1 || (p->path == AR_CONV2D_AUTO && !dev->caps.is_cpu
      && dev->caps.subgroup_arith && p->kernel_h * p->kernel_w > 1
      && (guint64) Ho * Wo < CONV_PATCH_MIN_PIXELS && p->in_channels >= CONV_SPLIT_MIN_CIN
      && !ar_device_avoids (dev, "conv_split_cin"));
  if (p->path == AR_CONV2D_SPLIT_CIN || split_auto) {
    if (!dev->caps.subgroup_arith) {
      ar_cmd_fail_invalid (cmd, "conv2d: the split-channel kernel needs subgroup arithmetic");
      return;
    }
    /* CONV_SPLIT_SUBGROUPS tiles (one per subgroup) per workgroup. */
    guint32 sspec[] = { CONV_SPLIT_SUBGROUPS * MAX (dev->caps.subgroup_size, 1), CONV_TC,
      CONV_TP, p->kernel_h, p->kernel_w, p->stride };
    ar_cmd_dispatch (cmd, AR_SHADER (conv2d_split, dt), sspec, G_N_ELEMENTS (sspec), bind, 4,
        &pc, sizeof pc, ar_div_up (pc.n_tiles, CONV_SPLIT_SUBGROUPS), gy, p->batch);
    return;
  }
  guint32 spec[] = { CONV_LOCAL, CONV_TC, CONV_TP, p->kernel_h, p->kernel_w, p->stride };
  ar_cmd_dispatch (cmd, AR_SHADER (conv2d, dt), spec, G_N_ELEMENTS (spec), bind, 4, &pc,
      sizeof pc, gx, gy, p->batch);
}

/* Mirrors the push constants of shaders/conv2d_up2_weights.comp. */
typedef struct {
  guint32 n, cin;
} Up2WeightsPush;
G_STATIC_ASSERT (sizeof (Up2WeightsPush) == 8);

gboolean
ar_conv2d_up2_preferred (ArDevice *dev, guint in_channels, guint in_w)
{
  return dev->caps.is_cpu && in_channels % 4 == 0 && in_w % 4 == 0;
}

void
ar_op_conv2d_up2_weights (ArCmd *cmd, ArDType dt, const ArBuffer *w3, ArBuffer *wp,
    guint out_channels, guint in_channels)
{
  if (!ar_op_check_dtype (cmd, "conv2d_up2_weights", dt))
    return;
  guint64 n = (guint64) out_channels * in_channels * 16;
  if (in_channels % 4 != 0 || n > G_MAXUINT32) {
    ar_cmd_fail_invalid (cmd, "conv2d_up2_weights: in_channels %u must be a multiple of 4 "
        "(and the weights within 32-bit indexing)", in_channels);
    return;
  }
  if (n == 0)
    return;
  gsize es = ar_dtype_size (dt);
  if (!ar_op_check_size (cmd, "conv2d_up2_weights", "w3", w3, n / 16 * 9, es)
      || !ar_op_check_size (cmd, "conv2d_up2_weights", "wp", wp, n, es))
    return;
  Up2WeightsPush pc = { (guint32) n, in_channels };
  ArBinding bind[] = { AR_READ (w3), AR_WRITE (wp) };
  guint32 spec[] = { 64 }, gx, gy;
  ar_cmd_groups_1d (cmd, ar_div_up (n, 64), &gx, &gy);
  ar_cmd_dispatch (cmd, AR_SHADER (conv2d_up2_weights, dt), spec, 1, bind, 2, &pc, sizeof pc,
      gx, gy, 1);
}

void
ar_op_conv2d_up2 (ArCmd *cmd, ArDType dt, const ArBuffer *in, const ArBuffer *wp,
    const ArBuffer *bias, ArBuffer *out, const ArConv2dParams *p)
{
  if (!ar_op_check_dtype (cmd, "conv2d_up2", dt))
    return;
  if (p->kernel_h != 3 || p->kernel_w != 3 || p->stride != 1 || p->pad_top != 1
      || p->pad_left != 1 || p->pad_bottom != 1 || p->pad_right != 1
      || p->in_channels % 4 != 0 || p->in_w % 4 != 0) {
    ar_cmd_fail_invalid (cmd, "conv2d_up2: needs a 3x3 kernel, stride 1, padding 1, "
        "in_channels and in_w multiples of 4 (got %ux%u, stride %u, %u channels, width %u)",
        p->kernel_h, p->kernel_w, p->stride, p->in_channels, p->in_w);
    return;
  }
  if (p->batch == 0 || p->in_channels == 0 || p->out_channels == 0 || p->in_h == 0)
    return;
  guint64 Ho = 2 * (guint64) p->in_h, Wo = 2 * (guint64) p->in_w;
  guint64 n_in = (guint64) p->batch * p->in_channels * p->in_h * p->in_w;
  guint64 n_w = (guint64) p->out_channels * p->in_channels * 16;
  guint64 n_out = (guint64) p->batch * p->out_channels * Ho * Wo;
  if (n_in > G_MAXUINT32 || n_w > G_MAXUINT32 || n_out > G_MAXUINT32) {
    ar_cmd_fail_invalid (cmd, "conv2d_up2: tensors beyond 32-bit indexing");
    return;
  }
  gsize es = ar_dtype_size (dt);
  if (!ar_op_check_size (cmd, "conv2d_up2", "in", in, n_in, es)
      || !ar_op_check_size (cmd, "conv2d_up2", "weight", wp, n_w, es)
      || !ar_op_check_size (cmd, "conv2d_up2", "out", out, n_out, es)
      || (bias && !ar_op_check_size (cmd, "conv2d_up2", "bias", bias, p->out_channels, es)))
    return;
  if (!ar_buffer_texel_viewable (in, dt == AR_F16) || !ar_buffer_texel_viewable (wp, dt == AR_F16)) {
    ar_cmd_fail_invalid (cmd, "conv2d_up2: in and weight must be viewable as texel buffers");
    return;
  }
  ArDevice *dev = ar_cmd_device (cmd);
  /* The vec4 kernel's tiles (CONV4_TC x CONV4_TP), TP at least 8: output columns of a tile
   * start at a multiple of 8, its input columns on a vec4. */
  guint tp = Wo > 8 ? CONV4_TP : 8;
  guint tc = vec4_channel_tile (p->out_channels);
  Conv2dPush pc = {
    .Cin = p->in_channels, .H = p->in_h, .W = p->in_w,
    .Cout = p->out_channels, .Ho = (guint32) Ho, .Wo = (guint32) Wo,
    .pad_top = 1, .pad_left = 1,
    .tiles_x = (guint32) ar_div_up (Wo, tp),
    .has_bias = bias != NULL,
    .accumulate = p->accumulate,
  };
  pc.n_tiles = pc.tiles_x * (guint32) Ho;
  guint32 local = vec4_local (pc.n_tiles);
  guint32 gx = ar_div_up (pc.n_tiles, local), gy = ar_div_up (p->out_channels, tc);
  const guint32 *max = dev->props.limits.maxComputeWorkGroupCount;
  if (gx > max[0] || gy > max[1] || p->batch > max[2]) {
    ar_cmd_fail_invalid (cmd, "conv2d_up2: output %ux%" G_GUINT64_FORMAT "x%" G_GUINT64_FORMAT
        " x batch %u exceeds the grid limits", p->out_channels, Ho, Wo, p->batch);
    return;
  }
  guint32 spec[] = { local, tc, tp };
  ArBinding tb[AR_TEXEL_BINDING + 2] = { [2] = AR_READ (bias), [3] = AR_WRITE (out),
    [AR_TEXEL_BINDING] = AR_TEXEL (in, dt), [AR_TEXEL_BINDING + 1] = AR_TEXEL (wp, dt) };
  ar_cmd_dispatch (cmd, AR_SHADER (conv2d_up2, dt), spec, G_N_ELEMENTS (spec), tb,
      G_N_ELEMENTS (tb), &pc, sizeof pc, gx, gy, p->batch);
}

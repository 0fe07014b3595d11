#include "test-ops.h"

#include <stdio.h>
#include <string.h>

typedef struct {
  guint batch, cin, h, w, cout, k, stride;
  guint pad_top, pad_left, pad_bottom, pad_right;
  gboolean bias, timed;
} ConvCase;

static const char *const path_names[] = { "", "/direct", "/vec4", "/vec4-nosg", "/tile-shared",
  "/tile-coopmat", "/vec4-texel", "/patch", "/split-cin", "/winograd" };
G_STATIC_ASSERT (G_N_ELEMENTS (path_names) == AR_CONV2D_VEC4_WINOGRAD + 1);

static void
check_conv (ArTest *t, ArDType dt, const ConvCase *c, ArConv2dPath path, gboolean acc)
{
  ArConv2dParams p;
  ar_conv2d_params_init (&p, c->cin, c->h, c->w, c->cout, c->k, c->stride, 0);
  p.path = path;
  p.batch = c->batch;
  p.pad_top = c->pad_top, p.pad_left = c->pad_left;
  p.pad_bottom = c->pad_bottom, p.pad_right = c->pad_right;
  p.accumulate = acc;
  guint Ho, Wo;
  ar_conv2d_out_size (&p, &Ho, &Wo);
  gsize n_in = (gsize) c->batch * c->cin * c->h * c->w;
  gsize n_w = (gsize) c->cout * c->cin * c->k * c->k;
  gsize n_out = (gsize) c->batch * c->cout * Ho * Wo;
  g_autofree float *in = art_random (t, n_in, -1, 1, dt);
  g_autofree float *w = art_random (t, n_w, -1, 1, dt);
  g_autofree float *bias = c->bias ? art_random (t, c->cout, -1, 1, dt) : NULL;
  g_autofree float *ref = g_new (float, MAX (n_out, 1));
  ref_conv2d (in, w, bias, ref, c->batch, c->cin, c->h, c->w, c->cout, c->k, c->k, c->stride,
      c->pad_top, c->pad_left, Ho, Wo);
  /* Accumulating: the output starts with random values that the result adds to. */
  g_autofree float *prev = acc ? art_random (t, n_out, -2, 2, dt) : NULL;
  for (gsize i = 0; prev && i < n_out; i++)
    ref[i] += prev[i];
  art_round (ref, n_out, dt);

  g_autoptr (ArBuffer) bi = art_upload (t, dt, in, n_in);
  g_autoptr (ArBuffer) bw = art_upload (t, dt, w, n_w);
  g_autoptr (ArBuffer) bb = c->bias ? art_upload (t, dt, bias, c->cout) : NULL;
  g_autoptr (ArBuffer) bo = acc ? art_upload (t, dt, prev, n_out) : art_alloc (t, dt, n_out);
  ar_cmd_set_timing (t->cmd, c->timed);
  art_begin (t);
  ar_op_conv2d (t->cmd, dt, bi, bw, bb, bo, &p);
  double best = art_best_time_us (t, c->timed ? 3 : 1);
  ar_cmd_set_timing (t->cmd, FALSE);
  if (best < 0)
    return;
  g_autofree float *out = art_download (t, dt, bo, n_out);
  g_autofree gchar *shape = g_strdup_printf ("[%u,%u,%u,%u]->[%u,%u,%u]k%us%up%u%u%u%u%s%s%s",
      c->batch, c->cin, c->h, c->w, c->cout, Ho, Wo, c->k, c->stride, c->pad_top, c->pad_left,
      c->pad_bottom, c->pad_right, c->bias ? "+bias" : "", acc ? "+=" : "",
      path_names[path]);
  art_report (t, "conv2d", shape, dt, art_nmse (out, ref, n_out), ART_NMSE_LOOSE);
  if (c->timed)
    printf ("# conv2d %s %s: %.1f us, %.2f GFLOP/s\n", shape, ar_dtype_name (dt), best,
        2.0 * n_out * c->cin * c->k * c->k / (best * 1e3));
}

/* A convolution that must not run: the recording fails with an error holding @want and
 * @also (when not NULL), and nothing is dispatched. Buffers hold n_in, n_w and n_out elements. */
static void
check_refused (ArTest *t, ArDType dt, const ArConv2dParams *p, gsize n_in, gsize n_w,
    gsize n_out, const char *shape, const char *want, const char *also)
{
  g_autoptr (ArBuffer) bi = art_alloc (t, dt, n_in);
  g_autoptr (ArBuffer) bw = art_alloc (t, dt, n_w);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, n_out);
  GError *err = NULL;
  art_begin (t);
  ar_op_conv2d (t->cmd, dt, bi, bw, NULL, bo, p);
  gboolean ran = ar_cmd_run (t->cmd, &err);
  gboolean ok = !ran && err && strstr (err->message, want)
      && (!also || strstr (err->message, also));
  art_report_cond (t, "conv2d", shape, dt, ok, "error=\"%s\"", err ? err->message : "none");
  g_clear_error (&err);
}

/* A too-small output buffer must fail the recording with a message naming the op. */
static void
check_too_small (ArTest *t, ArDType dt)
{
  ArConv2dParams p;
  ar_conv2d_params_init (&p, 3, 16, 16, 8, 3, 1, 1);
  check_refused (t, dt, &p, 3 * 16 * 16, 8 * 3 * 9, 8 * 16 * 16 / 2,
      "[1,3,16,16]->[8,16,16]k3/out-too-small", "conv2d", "out");
}

/* Winograd asked for where it does not apply (a strided 3x3): a clear error, no dispatch. */
static void
check_winograd_refused (ArTest *t, ArDType dt)
{
  ArConv2dParams p;
  ar_conv2d_params_init (&p, 4, 8, 8, 4, 3, 2, 1);
  p.path = AR_CONV2D_VEC4_WINOGRAD;
  check_refused (t, dt, &p, 4 * 8 * 8, 4 * 4 * 9, 4 * 4 * 4,
      "[1,4,8,8]->[4,4,4]k3s2/winograd-refused", "Winograd", "stride 2");
}

/* Upsample 2x + "same" 3x3 convolution as one (ar_op_conv2d_up2), against the C upsample
 * followed by the C convolution. Timed: also the two ops it replaces, in the same process. */
typedef struct {
  guint batch, cin, h, w, cout;
  gboolean bias, acc, timed;
} Up2Case;

static void
check_up2 (ArTest *t, ArDType dt, const Up2Case *c)
{
  guint Ho = 2 * c->h, Wo = 2 * c->w;
  gsize n_in = (gsize) c->batch * c->cin * c->h * c->w;
  gsize n_up = 4 * n_in;
  gsize n_w = (gsize) c->cout * c->cin * 9;
  gsize n_out = (gsize) c->batch * c->cout * Ho * Wo;
  g_autofree float *in = art_random (t, n_in, -1, 1, dt);
  g_autofree float *w = art_random (t, n_w, -1, 1, dt);
  g_autofree float *bias = c->bias ? art_random (t, c->cout, -1, 1, dt) : NULL;
  g_autofree float *up = g_new (float, n_up);
  g_autofree float *ref = g_new (float, n_out);
  ref_upsample2x (in, up, (size_t) c->batch * c->cin, c->h, c->w);
  ref_conv2d (up, w, bias, ref, c->batch, c->cin, Ho, Wo, c->cout, 3, 3, 1, 1, 1, Ho, Wo);
  g_autofree float *prev = c->acc ? art_random (t, n_out, -2, 2, dt) : NULL;
  for (gsize i = 0; prev && i < n_out; i++)
    ref[i] += prev[i];
  art_round (ref, n_out, dt);

  g_autoptr (ArBuffer) bi = art_upload (t, dt, in, n_in);
  g_autoptr (ArBuffer) bw = art_upload (t, dt, w, n_w);
  g_autoptr (ArBuffer) bp = art_alloc (t, dt, (gsize) c->cout * c->cin * 16);
  g_autoptr (ArBuffer) bb = c->bias ? art_upload (t, dt, bias, c->cout) : NULL;
  g_autoptr (ArBuffer) bo = c->acc ? art_upload (t, dt, prev, n_out) : art_alloc (t, dt, n_out);
  art_begin (t);
  ar_op_conv2d_up2_weights (t->cmd, dt, bw, bp, c->cout, c->cin);
  if (!art_run (t))
    return;
  ArConv2dParams p;
  ar_conv2d_params_init (&p, c->cin, c->h, c->w, c->cout, 3, 1, 1);
  p.batch = c->batch;
  p.accumulate = c->acc;
  ar_cmd_set_timing (t->cmd, c->timed);
  art_begin (t);
  ar_op_conv2d_up2 (t->cmd, dt, bi, bp, bb, bo, &p);
  double fused = art_best_time_us (t, c->timed ? 3 : 1);
  if (fused < 0) {
    ar_cmd_set_timing (t->cmd, FALSE);
    return;
  }
  g_autofree float *out = art_download (t, dt, bo, n_out);
  g_autofree gchar *shape = g_strdup_printf ("[%u,%u,%u,%u]->[%u,%u,%u]%s%s", c->batch, c->cin,
      c->h, c->w, c->cout, Ho, Wo, c->bias ? "+bias" : "", c->acc ? "+=" : "");
  art_report (t, "conv2d_up2", shape, dt, art_nmse (out, ref, n_out), ART_NMSE_LOOSE);
  if (c->timed && fused > 0) {
    /* What it replaces: the upsample and the convolution AUTO takes on the result. */
    g_autoptr (ArBuffer) bu = art_alloc (t, dt, n_up);
    ArConv2dParams q;
    ar_conv2d_params_init (&q, c->cin, Ho, Wo, c->cout, 3, 1, 1);
    q.batch = c->batch;
    art_begin (t);
    ar_op_upsample2x (t->cmd, dt, bi, bu, c->batch * c->cin, c->h, c->w);
    ar_op_conv2d (t->cmd, dt, bu, bw, bb, bo, &q);
    double two = art_best_time_us (t, 3);
    printf ("# conv2d_up2 %s %s: %.1f us (upsample + conv2d: %.1f us, x%.2f)\n", shape,
        ar_dtype_name (dt), fused, two, two / fused);
  }
  ar_cmd_set_timing (t->cmd, FALSE);
}

/* Shapes ar_op_conv2d_up2 refuses, and a short weight buffer: clear errors naming the op. */
static void
check_up2_errors (ArTest *t, ArDType dt)
{
  g_autoptr (ArBuffer) bi = art_alloc (t, dt, 8 * 4 * 4);
  /* 3x3 weights where the phase weights belong: 9 values per channel pair instead of 16. */
  g_autoptr (ArBuffer) bp = art_alloc (t, dt, 2 * 8 * 9);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, 2 * 8 * 8);
  struct {
    guint cin, w, k;
    const char *name, *needle;
  } bad[] = {
    { 6, 4, 3, "cin6", "multiples of 4" },
    { 8, 4, 1, "k1", "3x3" },
    { 8, 4, 3, "short-weight", "weight" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    ArConv2dParams p;
    ar_conv2d_params_init (&p, bad[i].cin, 2, bad[i].w, 2, bad[i].k, 1, bad[i].k / 2);
    GError *err = NULL;
    art_begin (t);
    ar_op_conv2d_up2 (t->cmd, dt, bi, bp, NULL, bo, &p);
    gboolean ran = ar_cmd_run (t->cmd, &err);
    g_autofree gchar *shape = g_strdup_printf ("[1,%u,2,%u]k%u/%s", bad[i].cin, bad[i].w,
        bad[i].k, bad[i].name);
    art_report_cond (t, "conv2d_up2", shape, dt, !ran && err
        && strstr (err->message, "conv2d_up2") && strstr (err->message, bad[i].needle),
        "error=\"%s\"", err ? err->message : "none");
    g_clear_error (&err);
  }
}

void
test_conv (ArTest *t)
{
  ArDType dts[2];
  guint ndt = art_dtypes (t, dts);
  static const ConvCase cases[] = {
    /* batch cin h w cout k stride  pads t l b r  bias timed */
    { 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, FALSE, FALSE },
    { 1, 1, 1, 1, 1, 3, 1, 1, 1, 1, 1, TRUE, FALSE },
    { 1, 3, 7, 13, 5, 3, 1, 1, 1, 1, 1, TRUE, FALSE },
    { 1, 3, 7, 13, 5, 3, 1, 1, 1, 1, 1, FALSE, FALSE },
    { 1, 7, 13, 7, 13, 3, 2, 1, 1, 1, 1, TRUE, FALSE },
    { 1, 5, 11, 9, 7, 3, 2, 0, 0, 1, 1, TRUE, FALSE },   /* taming downsample pad */
    { 1, 4, 12, 12, 6, 3, 2, 0, 0, 1, 1, FALSE, FALSE },
    { 1, 13, 8, 8, 31, 1, 1, 0, 0, 0, 0, TRUE, FALSE },
    { 1, 31, 5, 17, 7, 1, 2, 0, 0, 0, 0, FALSE, FALSE },
    { 1, 2, 5, 6, 3, 2, 1, 0, 0, 0, 0, TRUE, FALSE },
    { 2, 3, 9, 10, 6, 3, 1, 1, 1, 1, 1, TRUE, FALSE },
    { 1, 4, 6, 6, 3, 3, 1, 2, 2, 2, 2, TRUE, FALSE },
    { 1, 3, 31, 29, 9, 3, 2, 1, 1, 1, 1, TRUE, FALSE },
    /* Shapes the vec4 kernel takes: partial channel blocks, widths 4 and 12 (half a tile),
     * odd heights, batch 2, 1x1. */
    { 1, 4, 1, 4, 1, 3, 1, 1, 1, 1, 1, TRUE, FALSE },
    { 1, 8, 7, 12, 5, 3, 1, 1, 1, 1, 1, TRUE, FALSE },
    { 1, 12, 5, 20, 7, 3, 1, 1, 1, 1, 1, FALSE, FALSE },
    { 2, 4, 9, 16, 6, 3, 1, 1, 1, 1, 1, TRUE, FALSE },
    { 1, 16, 3, 8, 9, 1, 1, 0, 0, 0, 0, TRUE, FALSE },
    { 2, 20, 5, 4, 3, 1, 1, 0, 0, 0, 0, FALSE, FALSE },
    { 1, 64, 4, 4, 67, 3, 1, 1, 1, 1, 1, TRUE, FALSE },
    /* Outputs at least 64 wide take the texel variant's 32-pixel tiles: a partial last tile
     * (68 wide) on an odd height, a batch-2 1x1, a strided 3x3. */
    { 1, 8, 5, 68, 7, 3, 1, 1, 1, 1, 1, TRUE, FALSE },
    { 2, 4, 3, 64, 5, 1, 1, 0, 0, 0, 0, FALSE, FALSE },
    { 1, 4, 9, 136, 6, 3, 2, 0, 0, 1, 1, TRUE, FALSE },
    /* Winograd rows with many input channels, for 16- and 32-pixel tiles (outputs 36 and 64
     * wide) and a partial channel tile: were a pipeline's loops left rolled, llvmpipe's limit
     * of 65535 iterations per invocation would cut them short here. The second pads right
     * and bottom only (a tile's inputs then start on a vec4 boundary). */
    { 1, 128, 3, 36, 16, 3, 1, 1, 1, 1, 1, TRUE, FALSE },
    { 1, 128, 2, 64, 20, 3, 1, 0, 0, 2, 2, FALSE, FALSE },
    /* Fewer tiles than lanes, so that lanes take channel groups (CG): 4 tiles of a batch of
     * 2 (two groups, the second past Cout = 20 in part), 2 tiles of a 1x1 (four groups). */
    { 2, 8, 4, 4, 20, 3, 1, 1, 1, 1, 1, TRUE, FALSE },
    { 1, 12, 2, 8, 9, 1, 1, 0, 0, 0, 0, FALSE, FALSE },
    /* ... and with stride 2: the taming downsample (pad right and bottom) with outputs 4 and
     * 12 wide, symmetric padding on an odd height, batch 2, a strided 1x1. */
    { 1, 8, 8, 8, 5, 3, 2, 0, 0, 1, 1, TRUE, FALSE },
    { 1, 4, 16, 24, 7, 3, 2, 0, 0, 1, 1, FALSE, FALSE },
    { 2, 12, 9, 8, 3, 3, 2, 1, 1, 1, 1, TRUE, FALSE },
    { 1, 8, 12, 16, 4, 1, 2, 0, 0, 0, 0, TRUE, FALSE },
    { 1, 16, 32, 32, 17, 3, 2, 0, 0, 1, 1, TRUE, FALSE },
    /* Shapes that are no multiple of the patch kernel's tile (64 channels x 2 rows x 16
     * columns, chunks of 8 input channels for 3x3): partial channel blocks and chunks, odd
     * widths and heights, stride 2 with padding right and bottom only, 5x5 and 7x7. */
    { 1, 13, 19, 37, 67, 3, 1, 1, 1, 1, 1, TRUE, FALSE },
    { 1, 13, 19, 37, 67, 3, 2, 0, 0, 1, 1, TRUE, FALSE },
    { 1, 20, 6, 35, 130, 3, 1, 1, 1, 1, 1, FALSE, FALSE },
    { 2, 9, 17, 21, 70, 5, 1, 2, 2, 2, 2, TRUE, FALSE },
    { 1, 3, 11, 15, 9, 7, 2, 3, 3, 3, 3, TRUE, FALSE },
    { 1, 17, 9, 33, 5, 2, 2, 0, 0, 1, 1, FALSE, FALSE },
    /* Realistic VQGAN sizes, timed: the 4x4 level of iris-small's encoder and its decoder's
     * input (few tiles, many channels), then 64x64. */
    { 1, 64, 4, 4, 64, 3, 1, 1, 1, 1, 1, TRUE, TRUE },
    { 1, 512, 4, 4, 64, 3, 1, 1, 1, 1, 1, TRUE, TRUE },
    { 1, 64, 64, 64, 64, 3, 1, 1, 1, 1, 1, TRUE, TRUE },
    { 1, 64, 64, 64, 64, 3, 2, 0, 0, 1, 1, TRUE, TRUE },
    { 1, 128, 32, 32, 64, 1, 1, 0, 0, 0, 0, TRUE, TRUE },
  };
  /* The vec4 kernels are CPU kernels (AUTO never takes them on GPUs): fully unrolled 16x16
   * register tiles whose pipelines NVIDIA's compiler took over a minute to build. */
  gboolean cpu = t->dev->caps.is_cpu;
  if (!cpu)
    printf ("# conv2d vec4: not run, CPU-only kernels\n");
  for (guint d = 0; d < ndt; d++) {
    gboolean coop = t->dev->caps.coopmat_nv && dts[d] == AR_F16;
    if (!coop) {
      /* Asked for where it cannot run: a clear error, no dispatch. */
      ArConv2dParams p;
      ar_conv2d_params_init (&p, 2, 4, 4, 2, 3, 1, 1);
      p.path = AR_CONV2D_TILE_COOPMAT;
      check_refused (t, dts[d], &p, 2 * 4 * 4, 2 * 2 * 9, 2 * 4 * 4,
          "[1,2,4,4]->[2,4,4]/tile-coopmat-unavailable", "cooperative", NULL);
    }
    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
      const ConvCase *c = &cases[i];
      /* Every other untimed case accumulates into the output (the residual epilogue). */
      gboolean acc = !c->timed && i % 2 == 1;
      check_conv (t, dts[d], c, AR_CONV2D_DIRECT, acc);
      check_conv (t, dts[d], c, AR_CONV2D_TILE_SHARED, acc);
      check_conv (t, dts[d], c, AR_CONV2D_PATCH, acc);
      if (t->dev->caps.subgroup_arith)
        check_conv (t, dts[d], c, AR_CONV2D_SPLIT_CIN, acc);
      if (coop)
        check_conv (t, dts[d], c, AR_CONV2D_TILE_COOPMAT, acc);
      guint wo = (c->w + c->pad_left + c->pad_right - c->k) / c->stride + 1;
      if (cpu && (c->stride == 1 || c->stride == 2) && (c->k == 1 || c->k == 3)
          && c->pad_top < c->k && c->pad_left < c->k && c->pad_bottom < c->k
          && c->pad_right < c->k && c->cin % 4 == 0 && c->w % 4 == 0 && wo % 4 == 0) {
        check_conv (t, dts[d], c, AR_CONV2D_VEC4, acc);
        check_conv (t, dts[d], c, AR_CONV2D_VEC4_NO_SUBGROUP, acc);
        check_conv (t, dts[d], c, AR_CONV2D_VEC4_TEXEL, acc);
        if (c->k == 3 && c->stride == 1)
          check_conv (t, dts[d], c, AR_CONV2D_VEC4_WINOGRAD, acc);
      }
    }
    check_too_small (t, dts[d]);
    check_winograd_refused (t, dts[d]);
  }
  /* Upsample + convolution in one: a CPU kernel like the vec4 ones. Odd heights, widths 4
   * (output tiles of 8), 8 and 12 (a partial 16-pixel tile), partial channel tiles, batch 2,
   * accumulation; timed: iris-small's decoder's last two upsamples. */
  static const Up2Case up2_cases[] = {
    /* batch cin h w cout bias acc timed */
    { 1, 4, 1, 4, 1, TRUE, FALSE, FALSE },
    { 1, 4, 3, 4, 5, FALSE, TRUE, FALSE },
    { 1, 8, 5, 12, 7, TRUE, FALSE, FALSE },
    { 2, 12, 4, 8, 3, TRUE, TRUE, FALSE },
    { 1, 16, 7, 20, 17, FALSE, FALSE, FALSE },
    { 1, 64, 4, 4, 67, TRUE, FALSE, FALSE },
    { 1, 64, 16, 16, 64, TRUE, FALSE, TRUE },
    { 1, 64, 32, 32, 64, TRUE, FALSE, TRUE },
  };
  for (guint d = 0; cpu && d < ndt; d++) {
    for (guint i = 0; i < G_N_ELEMENTS (up2_cases); i++)
      check_up2 (t, dts[d], &up2_cases[i]);
    check_up2_errors (t, dts[d]);
  }
}

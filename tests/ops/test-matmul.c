#include "test-ops.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const act_names[] = { "", "+gelu", "+silu", "+gelu_erf", "+relu" };
G_STATIC_ASSERT (G_N_ELEMENTS (act_names) == AR_ACT_COUNT);
static const char *const path_names[] = { "auto", "tiled", "matvec", "matvec-reduce",
  "matvec-reduce-shared", "tile-shared", "tile-coopmat", "texel", "matvec-texel", "matvec-rows",
  "skinny" };
G_STATIC_ASSERT (G_N_ELEMENTS (path_names) == AR_MATMUL_SKINNY + 1);

/* out += A @ W^T + bias on an output that already holds values (the residual epilogue), with
 * @out's old values random; through @path. */
static void
check_accumulate (ArTest *t, ArDType dt, guint M, guint N, guint K, ArMatmulPath path)
{
  g_autofree float *a = art_random (t, (gsize) M * K, -1, 1, dt);
  g_autofree float *w = art_random (t, (gsize) N * K, -1, 1, dt);
  g_autofree float *bias = art_random (t, N, -1, 1, dt);
  g_autofree float *prev = art_random (t, (gsize) M * N, -4, 4, dt);
  g_autofree float *ref = g_new (float, (gsize) M * N);
  ref_matmul (a, w, bias, ref, M, N, K, FALSE, 1.0f, AR_ACT_NONE);
  for (gsize i = 0; i < (gsize) M * N; i++)
    ref[i] += prev[i];
  art_round (ref, (gsize) M * N, dt);

  g_autoptr (ArBuffer) ba = art_upload (t, dt, a, (gsize) M * K);
  g_autoptr (ArBuffer) bw = art_upload (t, dt, w, (gsize) N * K);
  g_autoptr (ArBuffer) bb = art_upload (t, dt, bias, N);
  g_autoptr (ArBuffer) bo = art_upload (t, dt, prev, (gsize) M * N);
  ArMatmulParams p;
  ar_matmul_params_init (&p, M, N, K);
  p.path = path;
  p.accumulate = TRUE;
  art_begin (t);
  if (path == AR_MATMUL_AUTO)
    ar_op_matmul_accumulate (t->cmd, dt, ba, bw, bb, bo, M, N, K);
  else
    ar_op_matmul_ex (t->cmd, dt, ba, bw, bb, bo, &p);
  if (!art_run (t))
    return;
  g_autofree float *out = art_download (t, dt, bo, (gsize) M * N);
  g_autofree gchar *shape = g_strdup_printf ("[%u,%u,%u]+=/%s", M, N, K, path_names[path]);
  art_report (t, "matmul", shape, dt, art_nmse (out, ref, (gsize) M * N), ART_NMSE_LOOSE);
}

/* norm(A) @ W^T + bias through ar_op_norm_matmul_ex (fused for M = 1, else through the
 * scratch buffer), against ref_layer_norm / ref_rms_norm then ref_matmul. Inputs have an offset
 * so that a missing mean subtraction shows. */
static void
check_norm_mm (ArTest *t, ArDType dt, ArRowNormKind kind, guint M, guint N, guint K,
    ArActivation act, ArMatmulPath path)
{
  const float eps = 1e-5f;
  g_autofree float *a = art_random (t, (gsize) M * K, 0.5f, 3, dt);
  g_autofree float *gamma = art_random (t, K, -2, 2, dt);
  g_autofree float *beta = art_random (t, K, -1, 1, dt);
  g_autofree float *w = art_random (t, (gsize) N * K, -1, 1, dt);
  g_autofree float *bias = art_random (t, N, -1, 1, dt);
  g_autofree float *normed = g_new (float, (gsize) M * K);
  g_autofree float *ref = g_new (float, (gsize) M * N);
  if (kind == AR_ROW_NORM_LAYER)
    ref_layer_norm (a, gamma, beta, normed, M, K, eps);
  else
    ref_rms_norm (a, gamma, normed, M, K, eps);
  ref_matmul (normed, w, bias, ref, M, N, K, FALSE, 1.0f, act);
  art_round (ref, (gsize) M * N, dt);

  g_autoptr (ArBuffer) ba = art_upload (t, dt, a, (gsize) M * K);
  g_autoptr (ArBuffer) bg = art_upload (t, dt, gamma, K);
  g_autoptr (ArBuffer) bbeta = art_upload (t, dt, beta, K);
  g_autoptr (ArBuffer) bw = art_upload (t, dt, w, (gsize) N * K);
  g_autoptr (ArBuffer) bb = art_upload (t, dt, bias, N);
  g_autoptr (ArBuffer) scratch = art_alloc (t, dt, (gsize) M * K);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, (gsize) M * N);
  ArRowNorm norm = { kind, bg, kind == AR_ROW_NORM_LAYER ? bbeta : NULL, eps };
  ArMatmulParams p;
  ar_matmul_params_init (&p, M, N, K);
  p.act = act;
  p.path = path;
  art_begin (t);
  ar_op_norm_matmul_ex (t->cmd, dt, &norm, ba, scratch, bw, bb, bo, &p);
  if (!art_run (t))
    return;
  g_autofree float *out = art_download (t, dt, bo, (gsize) M * N);
  g_autofree gchar *shape = g_strdup_printf ("%s[%u,%u,%u]%s/%s",
      kind == AR_ROW_NORM_LAYER ? "layernorm" : "rmsnorm", M, N, K, act_names[act],
      path_names[path]);
  art_report (t, "matmul", shape, dt, art_nmse (out, ref, (gsize) M * N), ART_NMSE_LOOSE);
}

/* A single (batch 1) product through ar_op_matmul_ex, checked against ref_matmul. */
static void
check_mm (ArTest *t, ArDType dt, guint M, guint N, guint K, gboolean use_bias, ArActivation act,
    ArMatmulPath path, gboolean w_kn, gboolean timed)
{
  g_autofree float *a = art_random (t, (gsize) M * K, -1, 1, dt);
  g_autofree float *w = art_random (t, (gsize) N * K, -1, 1, dt);
  g_autofree float *bias = use_bias ? art_random (t, N, -1, 1, dt) : NULL;
  g_autofree float *ref = g_new (float, (gsize) M * N);
  ref_matmul (a, w, bias, ref, M, N, K, w_kn, 1.0f, act);
  art_round (ref, (gsize) M * N, dt);

  g_autoptr (ArBuffer) ba = art_upload (t, dt, a, (gsize) M * K);
  g_autoptr (ArBuffer) bw = art_upload (t, dt, w, (gsize) N * K);
  g_autoptr (ArBuffer) bb = use_bias ? art_upload (t, dt, bias, N) : NULL;
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, (gsize) M * N);
  ArMatmulParams p;
  ar_matmul_params_init (&p, M, N, K);
  p.act = act;
  p.path = path;
  p.w_kn = w_kn;
  if (w_kn)
    p.w_ld = N;
  ar_cmd_set_timing (t->cmd, timed);
  art_begin (t);
  if (path == AR_MATMUL_AUTO && !w_kn)
    ar_op_matmul (t->cmd, dt, ba, bw, bb, bo, M, N, K, act);
  else
    ar_op_matmul_ex (t->cmd, dt, ba, bw, bb, bo, &p);
  double us = timed ? art_best_time_us (t, 4) : (art_run (t) ? 0 : -1);
  ar_cmd_set_timing (t->cmd, FALSE);
  if (us < 0)
    return;
  g_autofree float *out = art_download (t, dt, bo, (gsize) M * N);
  g_autofree gchar *shape = g_strdup_printf ("[%u,%u,%u]%s%s%s/%s", M, N, K, w_kn ? "kn" : "",
      use_bias ? "+bias" : "", act_names[act], path_names[path]);
  art_report (t, "matmul", shape, dt, art_nmse (out, ref, (gsize) M * N), ART_NMSE_LOOSE);
  if (timed)
    printf ("# matmul %s %s: %.1f us, %.2f GFLOP/s\n", shape, ar_dtype_name (dt), us,
        2.0 * M * N * K / (us * 1e3));
}

/* Attention-like products over heads, read in place from a packed qkv tensor [T, 3*D]
 * (q | k | v, each H heads of Dh): S[h] = alpha * Q_h K_h^T, then O[:, h] = S[h] V_h with O
 * [T, D] head-interleaved. Exercises batch, offsets, row and batch strides, and W [K,N]. */
/* One-row products of @n_shapes {N, K} shapes through @path, every other one with a bias. */
static void
check_matvec_shapes (ArTest *t, ArDType dt, ArMatmulPath path, const guint (*shapes)[2],
    guint n_shapes)
{
  for (guint i = 0; i < n_shapes; i++)
    check_mm (t, dt, 1, shapes[i][0], shapes[i][1], i % 2, AR_ACT_NONE, path, FALSE, FALSE);
}

/* @qk_path: the kernel of the Q K^T products (batched over heads, strided rows). */
static void
check_heads_path (ArTest *t, ArDType dt, guint T, guint H, guint Dh, ArMatmulPath qk_path)
{
  guint D = H * Dh;
  float alpha = 1.0f / sqrtf ((float) Dh);
  g_autofree float *qkv = art_random (t, (gsize) T * 3 * D, -1, 1, dt);
  g_autofree float *s_ref = g_new (float, (gsize) H * T * T);
  g_autofree float *o_ref = g_new (float, (gsize) T * D);
  g_autofree float *q = g_new (float, (gsize) T * Dh);
  g_autofree float *k = g_new (float, (gsize) T * Dh);
  g_autofree float *v = g_new (float, (gsize) T * Dh);
  g_autofree float *oh = g_new (float, (gsize) T * Dh);
  for (guint h = 0; h < H; h++) {
    for (guint i = 0; i < T; i++)
      for (guint d = 0; d < Dh; d++) {
        q[i * Dh + d] = qkv[(gsize) i * 3 * D + h * Dh + d];
        k[i * Dh + d] = qkv[(gsize) i * 3 * D + D + h * Dh + d];
        v[i * Dh + d] = qkv[(gsize) i * 3 * D + 2 * D + h * Dh + d];
      }
    float *s = s_ref + (gsize) h * T * T;
    ref_matmul (q, k, NULL, s, T, T, Dh, FALSE, alpha, 0);
    art_round (s, (gsize) T * T, dt);   /* the GPU stores S in the storage type */
    ref_matmul (s, v, NULL, oh, T, Dh, T, TRUE, 1.0f, 0);
    for (guint i = 0; i < T; i++)
      memcpy (o_ref + (gsize) i * D + h * Dh, oh + (gsize) i * Dh, Dh * sizeof (float));
  }
  art_round (o_ref, (gsize) T * D, dt);

  g_autoptr (ArBuffer) bqkv = art_upload (t, dt, qkv, (gsize) T * 3 * D);
  g_autoptr (ArBuffer) bs = art_alloc (t, dt, (gsize) H * T * T);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, (gsize) T * D);
  ArMatmulParams ps, po;
  ar_matmul_params_init (&ps, T, T, Dh);
  ps.path = qk_path;
  ps.batch = H;
  ps.alpha = alpha;
  ps.a_off = 0, ps.a_ld = 3 * D, ps.a_bs = Dh;
  ps.w_off = D, ps.w_ld = 3 * D, ps.w_bs = Dh;
  ar_matmul_params_init (&po, T, Dh, T);
  po.batch = H;
  po.w_kn = TRUE;
  po.w_off = 2 * D, po.w_ld = 3 * D, po.w_bs = Dh;
  po.o_ld = D, po.o_bs = Dh;
  art_begin (t);
  ar_op_matmul_ex (t->cmd, dt, bqkv, bqkv, NULL, bs, &ps);
  ar_op_matmul_ex (t->cmd, dt, bs, bqkv, NULL, bo, &po);
  if (!art_run (t))
    return;
  g_autofree float *s_out = art_download (t, dt, bs, (gsize) H * T * T);
  g_autofree float *o_out = art_download (t, dt, bo, (gsize) T * D);
  g_autofree gchar *shape = g_strdup_printf ("heads[T=%u,H=%u,Dh=%u]%s%s", T, H, Dh,
      qk_path ? "/qk-" : "", qk_path ? path_names[qk_path] : "");
  g_autofree gchar *shape_s = g_strconcat (shape, "/qk", NULL);
  g_autofree gchar *shape_o = g_strconcat (shape, "/pv", NULL);
  art_report (t, "matmul", shape_s, dt, art_nmse (s_out, s_ref, (gsize) H * T * T), ART_NMSE_LOOSE);
  art_report (t, "matmul", shape_o, dt, art_nmse (o_out, o_ref, (gsize) T * D), ART_NMSE_LOOSE);
}

static void
check_heads (ArTest *t, ArDType dt, guint T, guint H, guint Dh)
{
  check_heads_path (t, dt, T, H, Dh, AR_MATMUL_AUTO);
}

/* A too-small output buffer must fail the recording with a message naming the op. */
static void
check_too_small (ArTest *t, ArDType dt, guint M)
{
  guint N = 16, K = 8;
  g_autoptr (ArBuffer) ba = art_alloc (t, dt, (gsize) M * K);
  g_autoptr (ArBuffer) bw = art_alloc (t, dt, (gsize) N * K);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, (gsize) M * N / 2);   /* sizes are padded: halve */
  GError *err = NULL;
  art_begin (t);
  ar_op_matmul (t->cmd, dt, ba, bw, NULL, bo, M, N, K, AR_ACT_NONE);
  gboolean ran = ar_cmd_run (t->cmd, &err);
  gboolean ok = !ran && err && strstr (err->message, "matmul") && strstr (err->message, "out");
  g_autofree gchar *shape = g_strdup_printf ("[%u,%u,%u]/out-too-small", M, N, K);
  art_report_cond (t, "matmul", shape, dt, ok, "error=\"%s\"", err ? err->message : "none");
  g_clear_error (&err);
}

/* A product through @path where that kernel cannot run (M x N x K, W [K,N] when @w_kn): the
 * recording must fail with an error containing @needle, and nothing run. */
static void
expect_matmul_error (ArTest *t, ArDType dt, guint M, guint N, guint K, gboolean w_kn,
    ArMatmulPath path, const char *label, const char *needle)
{
  /* Large enough for every operand: the error must be the kernel's, not a size check's. */
  gsize n = MAX (64, MAX ((gsize) M * K, MAX ((gsize) N * K, (gsize) M * N)));
  g_autoptr (ArBuffer) ba = art_alloc (t, dt, n);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, n);
  ArMatmulParams p;
  ar_matmul_params_init (&p, M, N, K);
  p.path = path;
  p.w_kn = w_kn;
  if (w_kn)
    p.w_ld = N;
  GError *err = NULL;
  art_begin (t);
  ar_op_matmul_ex (t->cmd, dt, ba, ba, NULL, bo, &p);
  gboolean ran = ar_cmd_run (t->cmd, &err);
  art_report_cond (t, "matmul", label, dt, !ran && err && strstr (err->message, needle),
      "error=\"%s\"", err ? err->message : "none");
  g_clear_error (&err);
}

void
test_matmul (ArTest *t)
{
  ArDType dts[2];
  guint ndt = art_dtypes (t, dts);
  /* Size 1, primes, non-multiples of the 4x4 tile and of the workgroup width. */
  static const guint shapes[][3] = {
    { 1, 1, 1 }, { 2, 3, 5 }, { 7, 13, 31 }, { 13, 31, 7 }, { 31, 7, 13 }, { 5, 67, 33 },
    { 33, 65, 17 }, { 64, 64, 64 }, { 3, 300, 129 },
  };
  for (guint d = 0; d < ndt; d++) {
    ArDType dt = dts[d];
    for (guint i = 0; i < G_N_ELEMENTS (shapes); i++)
      for (int b = 0; b < 2; b++)
        check_mm (t, dt, shapes[i][0], shapes[i][1], shapes[i][2], b, AR_ACT_NONE,
            AR_MATMUL_AUTO, FALSE, FALSE);
    /* Every epilogue, on the tiled and the matrix-vector kernels. */
    for (int act = AR_ACT_GELU_TANH; act < AR_ACT_COUNT; act++) {
      check_mm (t, dt, 13, 31, 7, TRUE, act, AR_MATMUL_AUTO, FALSE, FALSE);
      check_mm (t, dt, 1, 37, 50, TRUE, act, AR_MATMUL_AUTO, FALSE, FALSE);
      check_mm (t, dt, 1, 37, 50, TRUE, act, AR_MATMUL_MATVEC_REDUCE, FALSE, FALSE);
    }
    /* M = 1 through each kernel. */
    for (int path = AR_MATMUL_TILED; path <= AR_MATMUL_MATVEC_REDUCE_SHARED; path++) {
      check_mm (t, dt, 1, 13, 31, TRUE, AR_ACT_NONE, path, FALSE, FALSE);
      check_mm (t, dt, 1, 300, 1027, FALSE, AR_ACT_NONE, path, FALSE, FALSE);
      check_mm (t, dt, 1, 29, 17, TRUE, AR_ACT_NONE, path, TRUE, FALSE);
    }
    /* The residual epilogue, on every kernel. */
    check_accumulate (t, dt, 33, 65, 17, AR_MATMUL_AUTO);
    check_accumulate (t, dt, 7, 300, 129, AR_MATMUL_TILED);
    for (int path = AR_MATMUL_AUTO; path <= AR_MATMUL_MATVEC_REDUCE_SHARED; path++)
      check_accumulate (t, dt, 1, 37, 50, path);
    /* Norm prologue: fused one-token steps on each matrix-vector kernel (K a multiple of 4
     * for vec4 loads, and not), and the unfused fallback for several rows. */
    for (int kind = AR_ROW_NORM_LAYER; kind <= AR_ROW_NORM_RMS; kind++) {
      for (int path = AR_MATMUL_AUTO; path <= AR_MATMUL_MATVEC_REDUCE_SHARED; path++) {
        if (path == AR_MATMUL_TILED)
          continue;
        check_norm_mm (t, dt, kind, 1, 37, 52, AR_ACT_NONE, path);
        check_norm_mm (t, dt, kind, 1, 29, 131, AR_ACT_GELU_ERF, path);
      }
      check_norm_mm (t, dt, kind, 1, 300, 256, AR_ACT_SILU, AR_MATMUL_AUTO);
      check_norm_mm (t, dt, kind, 7, 33, 65, AR_ACT_NONE, AR_MATMUL_AUTO);
    }
    /* Plain A @ B with B [K,N]. */
    check_mm (t, dt, 7, 13, 31, TRUE, AR_ACT_NONE, AR_MATMUL_AUTO, TRUE, FALSE);
    check_mm (t, dt, 33, 65, 17, FALSE, AR_ACT_NONE, AR_MATMUL_AUTO, TRUE, FALSE);
    /* Batched and strided, as in attention over heads; T = 1 goes through the matvec kernel. */
    check_heads (t, dt, 13, 3, 8);
    check_heads (t, dt, 1, 4, 16);
    check_heads (t, dt, 64, 2, 32);
    /* The shared-memory tiles (what GPUs run for M > 1) on every shape, epilogue and layout,
     * here too: on CPU devices AUTO takes the register-blocked kernel. The cooperative-matrix
     * flavour where the device has it (fp16 inputs: the loose bound still holds, the
     * products accumulate in fp32). */
    /* The plain tiles in both sizes (64 then 32 on 256 invocations, then 32 on 64:
     * AR_MATMUL_TILE32_WIDE=0), then the cooperative-matrix ones (64). */
    for (int pass = 0; pass < 4; pass++) {
      int path = pass < 3 ? AR_MATMUL_TILE_SHARED : AR_MATMUL_TILE_COOPMAT;
      ar_op_matmul_force_tile (pass == 0 ? 64 : pass < 3 ? 32 : 0);
      if (pass == 2)
        g_setenv ("AR_MATMUL_TILE32_WIDE", "0", TRUE);
      else
        g_unsetenv ("AR_MATMUL_TILE32_WIDE");
      if (path == AR_MATMUL_TILE_COOPMAT && !(t->dev->caps.coopmat_nv && dt == AR_F16)) {
        /* Asked for where it cannot run: a clear error, no dispatch. */
        expect_matmul_error (t, dt, 8, 8, 8, FALSE, path, "[8,8,8]/tile-coopmat-unavailable",
            "cooperative");
        continue;
      }
      for (guint i = 0; i < G_N_ELEMENTS (shapes); i++)
        check_mm (t, dt, shapes[i][0], shapes[i][1], shapes[i][2], i % 2, AR_ACT_NONE, path,
            FALSE, FALSE);
      check_mm (t, dt, 130, 67, 100, TRUE, AR_ACT_GELU_ERF, path, FALSE, FALSE);
      check_mm (t, dt, 65, 129, 33, TRUE, AR_ACT_RELU, path, TRUE, FALSE);
      check_accumulate (t, dt, 70, 65, 47, path);
      printf ("# matmul tiles below: %s\n", pass == 0 ? "64x64" : pass == 1 ? "32x32 wide"
          : pass == 2 ? "32x32 on 64 invocations" : "coopmat");
      check_mm (t, dt, 340, 768, 256, TRUE, AR_ACT_NONE, path, FALSE, TRUE);
      check_mm (t, dt, 340, 256, 1024, TRUE, AR_ACT_NONE, path, FALSE, TRUE);
    }
    ar_op_matmul_force_tile (0);
    /* The texel kernel (AUTO on CPU devices where K % 4 == 0), forced, so that GPUs run it
     * too: row and column counts that are not multiples of its tiles or of the workgroup,
     * every epilogue, the residual add (batches: check_heads' Q K^T above); and a clear error
     * where it cannot apply (K not a multiple of 4, W laid out [K,N]). */
    if (t->dev->caps.subgroup_ballot) {
      static const guint texel_shapes[][3] = {
        { 1, 1, 4 }, { 2, 3, 8 }, { 7, 13, 32 }, { 13, 31, 4 }, { 65, 25, 12 }, { 33, 65, 20 },
        { 64, 48, 64 }, { 3, 300, 132 }, { 130, 67, 100 },
      };
      /* Both layouts whatever M: lanes across rows (1), across columns (2, AUTO for a few
       * rows), with M, N and the rows of a block not multiples of their tiles. */
      for (guint layout = 1; layout <= 2; layout++) {
        printf ("# texel matmul below: lanes across %s\n", layout == 1 ? "rows" : "columns");
        ar_op_matmul_force_texel_lanes (layout);
        for (guint i = 0; i < G_N_ELEMENTS (texel_shapes); i++)
          check_mm (t, dt, texel_shapes[i][0], texel_shapes[i][1], texel_shapes[i][2], i % 2,
              AR_ACT_NONE, AR_MATMUL_TEXEL, FALSE, FALSE);
        for (int act = AR_ACT_GELU_TANH; act < AR_ACT_COUNT; act++)
          check_mm (t, dt, 67, 29, 36, TRUE, act, AR_MATMUL_TEXEL, FALSE, FALSE);
        check_accumulate (t, dt, 70, 65, 48, AR_MATMUL_TEXEL);
        /* Rows of whole vec4s (its OUT4 epilogue), N not a multiple of its columns. */
        for (int act = AR_ACT_NONE; act < AR_ACT_COUNT; act++)
          check_mm (t, dt, 67, 28, 36, TRUE, act, AR_MATMUL_TEXEL, FALSE, FALSE);
        check_accumulate (t, dt, 70, 44, 48, AR_MATMUL_TEXEL);
        /* A refresh frame's rows (one block across columns), residual add and epilogues. */
        check_mm (t, dt, 17, 100, 64, TRUE, AR_ACT_GELU_ERF, AR_MATMUL_TEXEL, FALSE, FALSE);
        check_accumulate (t, dt, 17, 76, 32, AR_MATMUL_TEXEL);
        check_accumulate (t, dt, 41, 36, 16, AR_MATMUL_TEXEL);
        check_mm (t, dt, 17, 768, 256, TRUE, AR_ACT_NONE, AR_MATMUL_TEXEL, FALSE, TRUE);
      }
      ar_op_matmul_force_texel_lanes (0);
      /* AUTO's choice on either side of the columns' limit (48 rows), checked whichever
       * kernel the device takes for AUTO. */
      check_mm (t, dt, 48, 72, 40, TRUE, AR_ACT_NONE, AR_MATMUL_AUTO, FALSE, FALSE);
      check_mm (t, dt, 49, 72, 40, TRUE, AR_ACT_NONE, AR_MATMUL_AUTO, FALSE, FALSE);
      check_mm (t, dt, 340, 768, 256, TRUE, AR_ACT_NONE, AR_MATMUL_TEXEL, FALSE, TRUE);
      expect_matmul_error (t, dt, 4, 4, 6, FALSE, AR_MATMUL_TEXEL, "[4,4,6]/texel-k-odd",
          "texel kernel");
      expect_matmul_error (t, dt, 4, 4, 8, TRUE, AR_MATMUL_TEXEL, "[4,4,8]/texel-w-kn",
          "texel kernel");
    }
    /* The texel matrix-vector kernel (what CPU devices take for M = 1 where K % 4 == 0),
     * forced so that GPUs run it too: output counts that are not multiples of its
     * workgroup's 8 rows per lane, every epilogue, the residual add, both norm prologues; a
     * clear error where it cannot apply. */
    {
      static const guint mv_shapes[][2] = { { 1, 4 }, { 13, 32 }, { 300, 1028 }, { 65, 12 },
        { 513, 256 }, { 1, 2052 }, { 17, 512 } };
      check_matvec_shapes (t, dt, AR_MATMUL_MATVEC_TEXEL, mv_shapes, G_N_ELEMENTS (mv_shapes));
      /* K >= 512 takes its lanes-across-K flavour: the same checks there. */
      for (guint big = 0; big < 2; big++) {
        guint k = big ? 516 : 52;
        for (int act = AR_ACT_GELU_TANH; act < AR_ACT_COUNT; act++)
          check_mm (t, dt, 1, 37, k, TRUE, act, AR_MATMUL_MATVEC_TEXEL, FALSE, FALSE);
        check_accumulate (t, dt, 1, 70, big ? 512 : 48, AR_MATMUL_MATVEC_TEXEL);
        for (int kind = AR_ROW_NORM_LAYER; kind <= AR_ROW_NORM_RMS; kind++) {
          check_norm_mm (t, dt, kind, 1, 37, k, AR_ACT_NONE, AR_MATMUL_MATVEC_TEXEL);
          check_norm_mm (t, dt, kind, 1, 1029, big ? 1024 : 256, AR_ACT_GELU_ERF,
              AR_MATMUL_MATVEC_TEXEL);
        }
      }
      expect_matmul_error (t, dt, 1, 4, 6, FALSE, AR_MATMUL_MATVEC_TEXEL,
          "[1,4,6]/matvec-texel-k-odd", "texel kernel");
    }
    /* The subgroup-rows matrix-vector kernel (what GPUs take for M = 1 where K % 4 == 0),
     * forced so that every device runs it: output counts that are not multiples of its
     * workgroup's rows, the two-rows-per-subgroup flavour (N >= 1024) with an odd N, K
     * shorter than one pass of the subgroup and with a half pass left over, every epilogue,
     * the residual add, both norm prologues (batches: check_heads with T = 1 above, on GPUs); a
     * clear error where it cannot apply. */
    if (t->dev->caps.subgroup_arith) {
      static const guint rows_shapes[][2] = { { 1, 4 }, { 13, 32 }, { 300, 1028 }, { 65, 12 },
        { 513, 256 }, { 1025, 388 }, { 2048, 516 }, { 17, 2052 } };
      check_matvec_shapes (t, dt, AR_MATMUL_MATVEC_ROWS, rows_shapes,
          G_N_ELEMENTS (rows_shapes));
      for (guint wide = 0; wide < 2; wide++) {
        guint n = wide ? 1031 : 37;
        for (int act = AR_ACT_GELU_TANH; act < AR_ACT_COUNT; act++)
          check_mm (t, dt, 1, n, 52, TRUE, act, AR_MATMUL_MATVEC_ROWS, FALSE, FALSE);
        check_accumulate (t, dt, 1, n, 48, AR_MATMUL_MATVEC_ROWS);
        for (int kind = AR_ROW_NORM_LAYER; kind <= AR_ROW_NORM_RMS; kind++) {
          check_norm_mm (t, dt, kind, 1, n, 52, AR_ACT_NONE, AR_MATMUL_MATVEC_ROWS);
          check_norm_mm (t, dt, kind, 1, n, 1024, AR_ACT_GELU_ERF, AR_MATMUL_MATVEC_ROWS);
        }
      }
      check_mm (t, dt, 1, 2048, 512, TRUE, AR_ACT_NONE, AR_MATMUL_MATVEC_ROWS, FALSE, TRUE);
      check_mm (t, dt, 1, 512, 2048, TRUE, AR_ACT_NONE, AR_MATMUL_MATVEC_ROWS, FALSE, TRUE);
      expect_matmul_error (t, dt, 1, 4, 6, FALSE, AR_MATMUL_MATVEC_ROWS,
          "[1,4,6]/matvec-rows-k-odd", "subgroup-rows");
      expect_matmul_error (t, dt, 1, 4, 8, TRUE, AR_MATMUL_MATVEC_ROWS,
          "[1,4,8]/matvec-rows-w-kn", "subgroup-rows");
    }
    /* The skinny kernel (what GPUs take for 2 <= M <= 32), forced so that every device runs
     * it: M past a subgroup's lanes (lavapipe's 8: the stores take turns), output counts off
     * the workgroup's rows, K shorter than one pass and with half a pass left over, every
     * epilogue, the residual add, the norm prologue (through the scratch rows), batched and
     * strided rows (the attention-like Q K^T); clear errors where it cannot apply. Timed at a
     * refresh frame's prefill shapes (17 rows) against the shared-memory tiles. */
    if (t->dev->caps.subgroup_arith) {
      static const guint skinny[][3] = { { 2, 13, 4 }, { 5, 300, 1028 }, { 17, 65, 52 },
        { 32, 1031, 36 }, { 9, 7, 2052 }, { 31, 256, 256 } };
      for (guint i = 0; i < G_N_ELEMENTS (skinny); i++)
        check_mm (t, dt, skinny[i][0], skinny[i][1], skinny[i][2], i % 2,
            (ArActivation) (i % AR_ACT_COUNT), AR_MATMUL_SKINNY, FALSE, FALSE);
      check_accumulate (t, dt, 17, 37, 48, AR_MATMUL_SKINNY);
      check_norm_mm (t, dt, AR_ROW_NORM_LAYER, 17, 100, 64, AR_ACT_GELU_ERF, AR_MATMUL_SKINNY);
      check_heads_path (t, dt, 13, 3, 8, AR_MATMUL_SKINNY);
      check_heads_path (t, dt, 17, 4, 64, AR_MATMUL_SKINNY);
      expect_matmul_error (t, dt, 33, 4, 8, FALSE, AR_MATMUL_SKINNY, "[33,4,8]/skinny-m-33",
          "skinny");
      expect_matmul_error (t, dt, 1, 4, 8, FALSE, AR_MATMUL_SKINNY, "[1,4,8]/skinny-m-1",
          "skinny");
      expect_matmul_error (t, dt, 3, 4, 6, FALSE, AR_MATMUL_SKINNY, "[3,4,6]/skinny-k-odd",
          "skinny");
      for (guint k = 0; k < 2; k++) {
        check_mm (t, dt, 17, k ? 256 : 768, k ? 1024 : 256, TRUE, AR_ACT_NONE,
            AR_MATMUL_SKINNY, FALSE, TRUE);
        check_mm (t, dt, 17, k ? 256 : 768, k ? 1024 : 256, TRUE, AR_ACT_NONE,
            AR_MATMUL_TILE_SHARED, FALSE, TRUE);
      }
    }
    /* Realistic sizes, timed: a transformer projection and decoding-step matvecs. */
    check_mm (t, dt, 256, 512, 512, TRUE, AR_ACT_NONE, AR_MATMUL_AUTO, FALSE, TRUE);
    check_mm (t, dt, 1, 2048, 512, TRUE, AR_ACT_NONE, AR_MATMUL_AUTO, FALSE, TRUE);
    check_mm (t, dt, 1, 2048, 512, TRUE, AR_ACT_NONE, AR_MATMUL_TILED, FALSE, TRUE);
    check_mm (t, dt, 1, 2048, 512, TRUE, AR_ACT_NONE, AR_MATMUL_MATVEC_REDUCE, FALSE, TRUE);
    check_too_small (t, dt, 5);
    check_too_small (t, dt, 1);
  }
}

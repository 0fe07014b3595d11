#include "test-ops.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  guint heads, kv_heads, dim;
} HeadShape;

/* Appends n tokens' K/V from a fused QKV buffer at @pos and attends from the same rows, in one
 * recording. Cache rows that the op must not read (positions >= pos + n) hold NaN. */
static void
check_attention (ArTest *t, ArDType dt, HeadShape hs, guint pos, guint n, guint first,
    guint window, ArAttnKernel kernel)
{
  guint H = hs.heads, Hkv = hs.kv_heads, D = hs.dim;
  guint T = pos + n + 3;
  ArAttnLayout lay = ar_attn_layout_fused (H, Hkv, D, T);
  lay.window = window;
  gsize qkv_n = (gsize) n * lay.row_stride, cache_n = (gsize) Hkv * T * D;
  g_autofree float *qkv = art_random (t, qkv_n, -2, 2, dt);
  g_autofree float *kc = art_random (t, cache_n, -1, 1, dt);
  g_autofree float *vc = art_random (t, cache_n, -1, 1, dt);
  for (guint h = 0; h < Hkv; h++)
    for (guint p = pos; p < T; p++)
      for (guint d = 0; d < D; d++)
        kc[((gsize) h * T + p) * D + d] = vc[((gsize) h * T + p) * D + d] = NAN;
  g_autoptr (ArBuffer) bqkv = art_upload (t, dt, qkv, qkv_n);
  g_autoptr (ArBuffer) bk = art_upload (t, dt, kc, cache_n);
  g_autoptr (ArBuffer) bv = art_upload (t, dt, vc, cache_n);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, (gsize) n * H * D);
  g_autoptr (ArBuffer) part = art_alloc (t, AR_F32,
      ar_op_attention_prefill_scratch_size (&lay, n) / sizeof (float));

  /* What the caches must hold after the append. */
  for (guint i = 0; i < n; i++)
    for (guint h = 0; h < Hkv; h++)
      for (guint d = 0; d < D; d++) {
        gsize c = ((gsize) h * T + pos + i) * D + d, r = (gsize) i * lay.row_stride + h * D + d;
        kc[c] = qkv[r + lay.k_offset];
        vc[c] = qkv[r + lay.v_offset];
      }

  art_begin (t);
  ar_op_kv_append (t->cmd, dt, bqkv, &lay, bk, bv, pos, n);
  ar_op_attention_ex (t->cmd, dt, bqkv, &lay, bk, bv, bo, pos, n, first, kernel, part);
  if (!art_run (t))
    return;
  guint barriers = ar_cmd_barrier_count (t->cmd);

  gsize out_n = (gsize) n * H * D;
  g_autofree float *ref = g_new (float, out_n);
  ref_attention (qkv + lay.q_offset, lay.row_stride, kc, vc, ref, H, Hkv, D, T, pos, n, first,
      window, 1.0 / sqrt ((double) D));
  art_round (ref, out_n, dt);
  g_autofree float *out = art_download (t, dt, bo, out_n);
  g_autofree float *k_got = art_download (t, dt, bk, cache_n);
  g_autofree float *v_got = art_download (t, dt, bv, cache_n);

  g_autofree gchar *shape = g_strdup_printf ("[H=%u Hkv=%u D=%u pos=%u n=%u first=%u win=%u]",
      H, Hkv, D, pos, n, first, window);
  gsize bad = 0;
  for (guint h = 0; h < Hkv; h++)
    for (guint p = 0; p < pos + n; p++)
      for (guint d = 0; d < D; d++) {
        gsize c = ((gsize) h * T + p) * D + d;
        bad += memcmp (&k_got[c], &kc[c], 4) != 0 || memcmp (&v_got[c], &vc[c], 4) != 0;
      }
  art_report_cond (t, "kv_append", shape, dt, bad == 0 && barriers >= 1,
      "mismatches=%" G_GSIZE_FORMAT " barriers=%u", bad, barriers);
  const char *names[] = { "attention", "attention_rows", "attention_lanes", "attention_tile",
    "attention_qlanes", "attention_klanes", "attention_tile_quad" };
  G_STATIC_ASSERT (G_N_ELEMENTS (names) == AR_ATTN_TILE_QUAD + 1);
  art_report (t, names[kernel], shape, dt, art_nmse (out, ref, out_n), ART_NMSE_LOOSE);
}

/* Attention over caches that are the fused qkv rows themselves (ar_attn_layout_in_place):
 * one buffer [T, (H + 2 Hkv) D] as qkv, k_cache and v_cache, queries at rows pos..pos+n-1.
 * Rows past the queries hold NaN. @decode: through ar_op_attention_decode_ex (n = 1), with
 * a split scratch when @split. */
static void
check_in_place (ArTest *t, ArDType dt, HeadShape hs, guint pos, guint n, guint first,
    guint window, ArAttnKernel kernel, gboolean decode, gboolean split)
{
  guint H = hs.heads, Hkv = hs.kv_heads, D = hs.dim;
  guint T = pos + n + 3;
  ArAttnLayout lay = ar_attn_layout_in_place (H, Hkv, D, T, pos);
  lay.window = window;
  gsize rs = lay.row_stride, buf_n = (gsize) T * rs, cache_n = (gsize) Hkv * T * D;
  g_autofree float *rows = art_random (t, buf_n, -2, 2, dt);
  for (gsize i = (gsize) (pos + n) * rs; i < buf_n; i++)
    rows[i] = NAN;
  /* The same caches head-major, for the reference. */
  g_autofree float *kc = g_new0 (float, cache_n);
  g_autofree float *vc = g_new0 (float, cache_n);
  for (guint h = 0; h < Hkv; h++)
    for (guint p = 0; p < T; p++)
      for (guint d = 0; d < D; d++) {
        kc[((gsize) h * T + p) * D + d] = rows[p * rs + lay.k_cache_offset + h * D + d];
        vc[((gsize) h * T + p) * D + d] = rows[p * rs + lay.v_cache_offset + h * D + d];
      }
  g_autoptr (ArBuffer) buf = art_upload (t, dt, rows, buf_n);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, (gsize) n * H * D);
  gsize scratch_n = ar_op_attention_scratch_size (&lay) / sizeof (float);
  g_autoptr (ArBuffer) scratch = split ? art_alloc (t, AR_F32, scratch_n) : NULL;
  g_autoptr (ArBuffer) part = decode ? NULL : art_alloc (t, AR_F32,
      ar_op_attention_prefill_scratch_size (&lay, n) / sizeof (float));
  art_begin (t);
  if (scratch)
    ar_cmd_zero (t->cmd, scratch);   /* the fused combine's counters */
  if (decode)
    ar_op_attention_decode_ex (t->cmd, dt, buf, &lay, buf, buf, bo, pos, first, scratch, 0,
        AR_ATTN_COMBINE_AUTO);
  else
    ar_op_attention_ex (t->cmd, dt, buf, &lay, buf, buf, bo, pos, n, first, kernel, part);
  if (!art_run (t))
    return;
  gsize out_n = (gsize) n * H * D;
  g_autofree float *ref = g_new (float, out_n);
  ref_attention (rows + (gsize) pos * rs + lay.q_offset, rs, kc, vc, ref, H, Hkv, D, T, pos, n,
      first, window, 1.0 / sqrt ((double) D));
  art_round (ref, out_n, dt);
  g_autofree float *out = art_download (t, dt, bo, out_n);
  const char *names[] = { "attention", "attention_rows", "attention_lanes", "attention_tile",
    "attention_qlanes", "attention_klanes", "attention_tile_quad" };
  g_autofree gchar *shape = g_strdup_printf ("in-place[H=%u Hkv=%u D=%u pos=%u n=%u first=%u "
      "win=%u%s]", H, Hkv, D, pos, n, first, window, decode ? (split ? " decode split" : " decode")
      : "");
  art_report (t, decode ? "attention_decode" : names[kernel], shape, dt,
      art_nmse (out, ref, out_n), ART_NMSE_LOOSE);
}

#define AUTO_COMBINE AR_ATTN_COMBINE_AUTO

/* ar_op_attention_decode with a split-K scratch buffer (NaN-filled split states: their
 * contents must not matter; zero counters) for one query token at @pos; rows beyond pos hold
 * NaN. Runs twice, the output cleared in between: the second run checks that the first left
 * the fused combine's counters at zero. */
static void
check_decode (ArTest *t, ArDType dt, HeadShape hs, guint pos, guint first, guint window,
    gboolean split, guint subgroups, ArAttnCombine combine)
{
  guint H = hs.heads, Hkv = hs.kv_heads, D = hs.dim;
  guint T = pos + 4;
  ArAttnLayout lay = ar_attn_layout_fused (H, Hkv, D, T);
  lay.window = window;
  gsize cache_n = (gsize) Hkv * T * D;
  g_autofree float *qkv = art_random (t, lay.row_stride, -2, 2, dt);
  g_autofree float *kc = art_random (t, cache_n, -1, 1, dt);
  g_autofree float *vc = art_random (t, cache_n, -1, 1, dt);
  g_autofree float *nan_kc = g_memdup2 (kc, cache_n * sizeof (float));
  g_autofree float *nan_vc = g_memdup2 (vc, cache_n * sizeof (float));
  for (guint h = 0; h < Hkv; h++)
    for (guint p = pos + 1; p < T; p++)
      for (guint d = 0; d < D; d++)
        nan_kc[((gsize) h * T + p) * D + d] = nan_vc[((gsize) h * T + p) * D + d] = NAN;
  gsize scratch_n = ar_op_attention_scratch_size (&lay) / sizeof (float);
  g_autofree float *nans = g_new (float, scratch_n);
  for (gsize i = 0; i < scratch_n; i++)
    nans[i] = i + H < scratch_n ? NAN : 0.0f;
  g_autoptr (ArBuffer) bqkv = art_upload (t, dt, qkv, lay.row_stride);
  g_autoptr (ArBuffer) bk = art_upload (t, dt, nan_kc, cache_n);
  g_autoptr (ArBuffer) bv = art_upload (t, dt, nan_vc, cache_n);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, (gsize) H * D);
  g_autoptr (ArBuffer) scratch = split ? art_upload (t, AR_F32, nans, scratch_n) : NULL;

  art_begin (t);
  ar_op_attention_decode_ex (t->cmd, dt, bqkv, &lay, bk, bv, bo, pos, first, scratch, subgroups,
      combine);
  guint dispatches = ar_cmd_dispatch_count (t->cmd);
  ar_cmd_zero (t->cmd, bo);
  ar_op_attention_decode_ex (t->cmd, dt, bqkv, &lay, bk, bv, bo, pos, first, scratch, subgroups,
      combine);
  if (!art_run (t))
    return;
  g_autofree float *ref = g_new (float, (gsize) H * D);
  ref_attention (qkv + lay.q_offset, lay.row_stride, kc, vc, ref, H, Hkv, D, T, pos, 1, first,
      window, 1.0 / sqrt ((double) D));
  art_round (ref, (gsize) H * D, dt);
  g_autofree float *out = art_download (t, dt, bo, (gsize) H * D);
  static const char *const combines[] = { "", " combine=dispatch", " combine=fused" };
  g_autofree gchar *shape = g_strdup_printf ("[H=%u Hkv=%u D=%u pos=%u first=%u win=%u %s"
      " sg=%u%s dispatches=%u]", H, Hkv, D, pos, first, window, split ? "split" : "1wg",
      subgroups, combines[combine], dispatches);
  art_report (t, "attention_decode", shape, dt, art_nmse (out, ref, (gsize) H * D),
      ART_NMSE_LOOSE);
}

/* Runs the recording (made with timing on) 5 times; the best GPU time in microseconds, -1 if
 * none. Turns timing off. */
static double
best_gpu_us (ArTest *t)
{
  double best = -1;
  for (int r = 0; r < 5; r++) {
    if (!art_run (t))
      break;
    double us = ar_cmd_gpu_time_us (t->cmd);
    if (best < 0 || (us >= 0 && us < best))
      best = us;
  }
  ar_cmd_set_timing (t->cmd, FALSE);
  return best;
}

/* Prefill of @n queries after @pos cached positions (caches in place in the qkv rows, as the
 * predictor has them) through @kernel; prints the best GPU time of a few runs. */
static void
time_prefill (ArTest *t, ArDType dt, guint H, guint D, guint pos, guint n, ArAttnKernel kernel)
{
  guint T = pos + n;
  ArAttnLayout lay = ar_attn_layout_in_place (H, H, D, T, pos);
  gsize buf_n = (gsize) T * lay.row_stride;
  g_autofree float *rows = art_random (t, buf_n, -1, 1, dt);
  g_autoptr (ArBuffer) buf = art_upload (t, dt, rows, buf_n);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, (gsize) n * H * D);
  g_autoptr (ArBuffer) part = art_alloc (t, AR_F32,
      ar_op_attention_prefill_scratch_size (&lay, n) / sizeof (float));
  ar_cmd_set_timing (t->cmd, TRUE);
  art_begin (t);
  ar_op_attention_ex (t->cmd, dt, buf, &lay, buf, buf, bo, pos, n, 0, kernel, part);
  double best = best_gpu_us (t);
  printf ("# time attention prefill H=%u D=%u %u queries after %u %s, %s: %.1f us (%u "
      "dispatches)\n", H, D, n, pos, ar_dtype_name (dt),
      kernel == AR_ATTN_TILE_QUAD ? "tile-quad" : "tile", best, ar_cmd_dispatch_count (t->cmd));
}

/* Decode of one token over @ctx cached positions, in one workgroup per head (@combine
 * AUTO) or split with @combine forced; prints the best GPU time of a few runs. */
static void
time_decode (ArTest *t, ArDType dt, guint H, guint D, guint ctx, ArAttnCombine combine)
{
  guint T = ctx + 1;
  ArAttnLayout lay = ar_attn_layout_fused (H, H, D, T);
  gsize cache_n = (gsize) H * T * D;
  g_autofree float *qkv = art_random (t, lay.row_stride, -2, 2, dt);
  g_autofree float *kc = art_random (t, cache_n, -1, 1, dt);
  g_autoptr (ArBuffer) bqkv = art_upload (t, dt, qkv, lay.row_stride);
  g_autoptr (ArBuffer) bk = art_upload (t, dt, kc, cache_n);
  g_autoptr (ArBuffer) bv = art_upload (t, dt, kc, cache_n);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, (gsize) H * D);
  g_autoptr (ArBuffer) scratch = combine != AR_ATTN_COMBINE_AUTO
      ? art_alloc (t, AR_F32, ar_op_attention_scratch_size (&lay) / sizeof (float)) : NULL;
  if (scratch) {
    art_begin (t);
    ar_cmd_zero (t->cmd, scratch);
    if (!art_run (t))
      return;
  }
  ar_cmd_set_timing (t->cmd, TRUE);
  art_begin (t);
  ar_op_attention_decode_ex (t->cmd, dt, bqkv, &lay, bk, bv, bo, ctx, 0, scratch, 0, combine);
  double best = best_gpu_us (t);
  static const char *const how[] = { "one workgroup per head", "split, combine dispatch",
    "split, combine fused" };
  printf ("# time attention decode H=%u D=%u over %u positions %s, %s: %.1f us\n", H, D, ctx + 1,
      ar_dtype_name (dt), how[combine], best);
}

/* The shapes each forced variant of the tile kernels runs: key groups and splits that
 * straddle the visible keys' end, windows, sliding starts, partial query blocks. */
static void
check_tile_shapes (ArTest *t, ArDType dt, ArAttnKernel k)
{
  check_attention (t, dt, (HeadShape) { 2, 2, 64 }, 100, 150, 0, 0, k);
  check_attention (t, dt, (HeadShape) { 2, 1, 16 }, 30, 130, 0, 70, k);
  check_attention (t, dt, (HeadShape) { 4, 4, 33 }, 340, 17, 100, 0, k);
  check_attention (t, dt, (HeadShape) { 1, 1, 8 }, 20, 5, 3, 4, k);
}

void
test_attention (ArTest *t)
{
  ArDType dts[2];
  guint ndt = art_dtypes (t, dts);
  /* D below, at and above the workgroup size (64), odd ones, and grouped-query attention. */
  const HeadShape shapes[] = {
    { 1, 1, 8 }, { 4, 4, 33 }, { 8, 8, 64 }, { 8, 2, 64 }, { 2, 2, 128 }, { 1, 1, 300 },
  };
  const guint steps[][2] = { { 0, 1 }, { 16, 1 }, { 340, 1 }, { 2056, 1 }, { 0, 17 }, { 34, 17 } };
  for (guint d = 0; d < ndt; d++) {
    for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
      for (guint p = 0; p < G_N_ELEMENTS (steps); p++)
        check_attention (t, dts[d], shapes[s], steps[p][0], steps[p][1], 0, 0, AR_ATTN_AUTO);
    /* Every prefill kernel whatever the device picks; a sliding start, windows (over more
     * than one chunk of keys, and narrower than a block of queries), partial query blocks,
     * more queries than one workgroup of the tile kernel takes. */
    for (ArAttnKernel k = AR_ATTN_ROWS; k <= AR_ATTN_TILE_QUAD; k++) {
      check_attention (t, dts[d], (HeadShape) { 2, 2, 64 }, 100, 150, 0, 0, k);
      check_attention (t, dts[d], (HeadShape) { 2, 1, 16 }, 30, 130, 0, 70, k);
      check_attention (t, dts[d], (HeadShape) { 4, 4, 64 }, 34, 17, 0, 0, k);
      check_attention (t, dts[d], (HeadShape) { 2, 1, 36 }, 0, 23, 0, 0, k);
      check_attention (t, dts[d], (HeadShape) { 4, 4, 33 }, 340, 17, 100, 0, k);
      check_attention (t, dts[d], (HeadShape) { 4, 2, 64 }, 600, 17, 0, 300, k);
      check_attention (t, dts[d], (HeadShape) { 1, 1, 8 }, 20, 5, 3, 4, k);
      check_attention (t, dts[d], (HeadShape) { 2, 2, 64 }, 7, 13, 2, 2, k);
      check_attention (t, dts[d], (HeadShape) { 3, 3, 20 }, 0, 9, 0, 1, k);
      check_attention (t, dts[d], (HeadShape) { 4, 2, 32 }, 5, 40, 1, 9, k);
      check_attention (t, dts[d], (HeadShape) { 2, 2, 128 }, 0, 11, 0, 0, k);
      /* One query (decode), where the key-per-lane kernel is AUTO on CPU devices. */
      check_attention (t, dts[d], (HeadShape) { 4, 4, 64 }, 340, 1, 0, 0, k);
      check_attention (t, dts[d], (HeadShape) { 8, 2, 64 }, 2056, 1, 0, 900, k);
      check_attention (t, dts[d], (HeadShape) { 1, 1, 8 }, 0, 1, 0, 0, k);
      check_attention (t, dts[d], (HeadShape) { 2, 1, 36 }, 16, 1, 3, 0, k);
    }
    /* The tile kernels scoring 1, 3 and 8 keys together (the default is 4): groups that
     * straddle the visible keys' end, windows and sliding starts. */
    for (guint kg = 1; kg <= 8; kg += kg == 1 ? 2 : 5) {
      ar_op_attention_force_key_group (kg);
      printf ("# tile kernels scoring %u keys together\n", kg);
      for (ArAttnKernel k = AR_ATTN_TILE; k <= AR_ATTN_TILE_QUAD; k++)
        check_tile_shapes (t, dts[d], k);
      ar_op_attention_force_key_group (0);
    }
    /* The tile kernels with each query block's keys split across 2, 3 and 16 workgroups
     * (GPUs split small grids by default): splits a query sees nothing of, or past the
     * keys, windows, sliding starts, partial and several query blocks. */
    for (guint sp = 2; sp <= 16; sp += sp == 2 ? 1 : 13) {
      ar_op_attention_force_key_splits (sp);
      printf ("# tile kernels splitting the keys %u ways\n", sp);
      for (ArAttnKernel k = AR_ATTN_TILE; k <= AR_ATTN_TILE_QUAD; k++) {
        check_tile_shapes (t, dts[d], k);
        check_attention (t, dts[d], (HeadShape) { 4, 4, 64 }, 0, 340, 0, 0, k);
        check_in_place (t, dts[d], (HeadShape) { 4, 4, 64 }, 323, 17, 0, 0, k, FALSE, FALSE);
      }
      ar_op_attention_force_key_splits (0);
    }
    /* Caches in place in the qkv rows (what the predictor uses): every kernel, decode too;
     * and kv_append refuses such a layout. */
    for (ArAttnKernel k = AR_ATTN_AUTO; k <= AR_ATTN_TILE_QUAD; k++) {
      check_in_place (t, dts[d], (HeadShape) { 4, 4, 64 }, 34, 17, 0, 0, k, FALSE, FALSE);
      check_in_place (t, dts[d], (HeadShape) { 4, 2, 32 }, 5, 40, 1, 9, k, FALSE, FALSE);
      check_in_place (t, dts[d], (HeadShape) { 3, 3, 20 }, 60, 1, 0, 0, k, FALSE, FALSE);
      check_in_place (t, dts[d], (HeadShape) { 2, 1, 33 }, 7, 5, 0, 0, k, FALSE, FALSE);
    }
    for (int split = 0; split < 2; split++) {
      check_in_place (t, dts[d], (HeadShape) { 4, 4, 64 }, 340, 1, 0, 0, AR_ATTN_AUTO, TRUE, split);
      check_in_place (t, dts[d], (HeadShape) { 8, 2, 64 }, 2056, 1, 0, 900, AR_ATTN_AUTO, TRUE, split);
      check_in_place (t, dts[d], (HeadShape) { 2, 2, 33 }, 300, 1, 10, 0, AR_ATTN_AUTO, TRUE, split);
    }
    {
      ArAttnLayout lay = ar_attn_layout_in_place (2, 2, 8, 16, 0);
      g_autoptr (ArBuffer) buf = art_alloc (t, dts[d], 16 * lay.row_stride);
      GError *err = NULL;
      art_begin (t);
      ar_op_kv_append (t->cmd, dts[d], buf, &lay, buf, buf, 0, 1);
      gboolean ran = ar_cmd_run (t->cmd, &err);
      art_report_cond (t, "kv_append", "in-place-layout", dts[d],
          !ran && err && strstr (err->message, "in place"), "error=\"%s\"",
          err ? err->message : "none");
      g_clear_error (&err);
    }
    /* The decode op, split over workgroups (a split count that depends on the CPU count:
     * one head over 2056 keys always splits) and not. */
    const HeadShape dshapes[] = {
      { 1, 1, 8 }, { 4, 4, 33 }, { 8, 8, 64 }, { 8, 2, 64 }, { 4, 1, 128 }, { 1, 1, 300 },
    };
    const guint dpos[] = { 0, 16, 340, 2056 };
    for (guint s = 0; s < G_N_ELEMENTS (dshapes); s++)
      for (guint p = 0; p < G_N_ELEMENTS (dpos); p++)
        for (int split = 0; split < 2; split++)
          check_decode (t, dts[d], dshapes[s], dpos[p], 0, 0, split, 0, AUTO_COMBINE);
    check_decode (t, dts[d], (HeadShape) { 1, 1, 64 }, 2056, 700, 0, TRUE, 0, AUTO_COMBINE);
    check_decode (t, dts[d], (HeadShape) { 2, 1, 33 }, 2056, 0, 900, TRUE, 0, AUTO_COMBINE);
    /* Several subgroups per workgroup (GPUs' default), merged through shared memory, on
     * every device: split and not, windows, a short range (subgroups without keys). */
    for (guint sg = 2; sg <= 4; sg += 2) {
      check_decode (t, dts[d], (HeadShape) { 8, 2, 64 }, 2056, 0, 0, TRUE, sg, AUTO_COMBINE);
      check_decode (t, dts[d], (HeadShape) { 4, 4, 33 }, 340, 0, 0, FALSE, sg, AUTO_COMBINE);
      check_decode (t, dts[d], (HeadShape) { 2, 1, 128 }, 700, 30, 300, TRUE, sg, AUTO_COMBINE);
      check_decode (t, dts[d], (HeadShape) { 1, 1, 8 }, 5, 0, 0, FALSE, sg, AUTO_COMBINE);
    }
    /* Both ways of combining the splits, forced, on every device: one and several subgroups,
     * grouped kv heads, a first position, a window, head_dim 33 (scalar loads), 12 and 128. */
    for (int c = AR_ATTN_COMBINE_DISPATCH; c <= AR_ATTN_COMBINE_FUSED; c++)
      for (guint sg = 1; sg <= 4; sg += 3) {
        check_decode (t, dts[d], (HeadShape) { 8, 2, 64 }, 2056, 0, 0, TRUE, sg, c);
        check_decode (t, dts[d], (HeadShape) { 4, 4, 33 }, 340, 0, 0, TRUE, sg, c);
        check_decode (t, dts[d], (HeadShape) { 2, 1, 128 }, 700, 30, 300, TRUE, sg, c);
        check_decode (t, dts[d], (HeadShape) { 1, 1, 64 }, 2056, 700, 0, TRUE, sg, c);
        /* head_dim within the workgroup: the fused combine splits its sums over groups. */
        check_decode (t, dts[d], (HeadShape) { 1, 1, 12 }, 1500, 0, 0, TRUE, sg, c);
      }
  }
  for (guint d = 0; d < ndt; d++)
    for (guint c = 0; c < 2; c++)
      for (int how = AR_ATTN_COMBINE_AUTO; how <= AR_ATTN_COMBINE_FUSED; how++)
        time_decode (t, dts[d], 8, 64, c ? 2056 : 340, how);
  /* The GPU prefill kernels at iris-small's and large's window (CPU devices run others). */
  const ArAttnKernel prefill_kernels[] = { AR_ATTN_TILE, AR_ATTN_TILE_QUAD };
  for (guint d = 0; d < ndt && !t->dev->caps.is_cpu; d++)
    for (guint k = 0; k < G_N_ELEMENTS (prefill_kernels); k++)
      for (guint kg = 1; kg <= 4; kg += 3) {
        /* Windows, and refresh frames: 17 (257) queries after a full cache. */
        ar_op_attention_force_key_group (kg);
        printf ("# keys scored together: %u\n", kg);
        time_prefill (t, dts[d], 4, 64, 0, 340, prefill_kernels[k]);
        time_prefill (t, dts[d], 4, 64, 323, 17, prefill_kernels[k]);
        time_prefill (t, dts[d], 8, 64, 0, 2056, prefill_kernels[k]);
        time_prefill (t, dts[d], 8, 64, 1799, 257, prefill_kernels[k]);
        ar_op_attention_force_key_group (0);
      }
  /* The same small grids without key splits (their default is to split). */
  ar_op_attention_force_key_splits (1);
  for (guint d = 0; d < ndt && !t->dev->caps.is_cpu; d++)
    for (guint k = 0; k < G_N_ELEMENTS (prefill_kernels); k++) {
      printf ("# one workgroup per query block's keys\n");
      time_prefill (t, dts[d], 4, 64, 0, 340, prefill_kernels[k]);
      time_prefill (t, dts[d], 4, 64, 323, 17, prefill_kernels[k]);
      time_prefill (t, dts[d], 8, 64, 1799, 257, prefill_kernels[k]);
    }
  ar_op_attention_force_key_splits (0);
}

#include "ar-ops.h"

/* Mirrors the push constants of shaders/matmul.comp and shaders/matvec.comp. */
typedef struct {
  guint32 M, N, K;
  guint32 a_off, a_ld, a_bs;
  guint32 w_off, w_sn, w_sk, w_bs;
  guint32 o_off, o_ld, o_bs;
  guint32 has_bias;
  float alpha;
  guint32 accumulate;
  float eps;            /* matvec's norm prologue */
} MatmulPush;
G_STATIC_ASSERT (sizeof (MatmulPush) == 68);

/* Register tile of the general kernel: TILE_M rows x TILE_N columns per invocation.
 * Measured on lavapipe (CPU time, M=256 N=K=512, vec4 loads): 4x8 and 8x8 ~21 ms,
 * 8x4 ~28 ms, 8x2 ~35 ms, 2x16 ~65 ms (spills); with scalar loads 4x8 ~36 ms, 4x4 ~55 ms. */
#define TILE_M 4
#define TILE_N 8
#define LOCAL_MAX 64
/* Register tile of shaders/matmul_texel.comp: rows x columns per invocation. Lavapipe,
 * iris-small's three prefill matmul shapes (bench-ops --only matmul), total us, 3 alternating
 * rounds: 16x16 13.7-14.8 ms, 8x16 15.9-18.1, 8x32 15.1-18.7; the register-blocked kernel
 * 19-39 ms. An earlier version that shared W through subgroupBroadcast instead (a loop over
 * the lanes on lavapipe 22.3, like storage-buffer loads) was ~1.7x slower than 16x16. */
#define TEXEL_TM 16
#define TEXEL_TN 16
/* Rows per invocation are TEXEL_TM or down to TEXEL_TM_MIN, whichever pads M least: every
 * row of a workgroup's block is computed whether it exists or not (M = 323, iris-small's
 * prefill: 16 rows pad to 384, 14 to 336). */
#define TEXEL_TM_MIN 12
/* Up to this many rows (two blocks of TEXEL_LANES_N_TM) the texel kernel puts its lanes
 * across columns (LANES_N), TEXEL_LANES_N_TN each, all rows of a block uniform: across rows,
 * the lanes of a 17-row product (a refresh frame's prefill) computed 96 rows, since llvmpipe
 * runs every lane whether its row exists or not. Lavapipe, 17x768x256 in one process
 * (test-ops matmul): 943 -> 508 us (f32), 1279 -> 727 (f16); 4, 12 or 16 columns per lane
 * were no better than 8 within the noise. */
#define TEXEL_LANES_N_MAX_M 48
#define TEXEL_LANES_N_TM 24
#define TEXEL_LANES_N_TN 8
/* Texels of K per pass over the (spilled) accumulators. Lavapipe, the four prefill shapes,
 * 4 alternating rounds (ms per layer): 1: 13.7-14.7, 2: 12.3-13.3, 4: 11.9-13.6, 8 slower. */
#define TEXEL_KU 2
/* Outputs per invocation of the matrix-vector kernel on CPU devices. Lavapipe, N=2048 K=512,
 * CPU time: 1 row ~3.0 ms, 4 ~1.7-2.0 ms, 8 ~1.2-1.5 ms (noisy, shared cores). */
#define MATVEC_ROWS 8
/* shaders/matvec_texel.comp: at most this many outputs per invocation, fewer where the
 * workgroups would be fewer than MATVEC_TEXEL_GROUPS (each workgroup runs on one CPU thread,
 * so a 256-output product in one workgroup left a core idle). */
#define MATVEC_TEXEL_ROWS 8
#define MATVEC_TEXEL_GROUPS 8
/* From this K on, lanes go across K (MATVEC_TEXEL_K_LANES_ROWS outputs per workgroup): each
 * workgroup streams a few rows instead of one per lane and output. Lavapipe, best of 7 x 80
 * products (us): 256x1024 125 -> 74, 512x2048 403 -> 211, 512x512 150 -> 103, 2048x512
 * 289 -> 294; at K = 256 the final reductions cost more than they save (256x256 51 -> 61). */
#define MATVEC_TEXEL_K_LANES_MIN_K 512
#define MATVEC_TEXEL_K_LANES_ROWS 16
/* shaders/matvec_rows.comp (GPUs): subgroups per workgroup, and from which N on each subgroup
 * takes two rows (one load of a for both; still >= 128 workgroups at N = 1024). */
#define MATVEC_ROWS_SUBGROUPS 4
#define MATVEC_ROWS_PAIR_MIN_N 1024
/* The skinny products (AR_MATMUL_SKINNY): at most this many rows of A, each a row of
 * accumulators per lane. */
#define SKINNY_MAX_M 32

void
ar_matmul_params_init (ArMatmulParams *p, guint M, guint N, guint K)
{
  *p = (ArMatmulParams) {
    .M = M, .N = N, .K = K, .batch = 1,
    .a_ld = K, .a_bs = M * K,
    .w_ld = K, .w_bs = N * K,
    .o_ld = N, .o_bs = M * N,
    .alpha = 1.0f,
  };
}

/* One past the last element touched by a [batch][rows][cols] view; 0 when empty. */
static guint64
view_extent (guint off, guint batch, guint bs, guint rows, guint ld, guint cols)
{
  return off + (guint64) (batch - 1) * bs + (guint64) (rows - 1) * ld + cols;
}

static gboolean
check_view (ArCmd *cmd, const char *what, const ArBuffer *buf, guint64 extent, gsize es)
{
  if (extent > G_MAXUINT32) {
    ar_cmd_fail_invalid (cmd, "matmul: %s spans %" G_GUINT64_FORMAT " elements, beyond 32-bit indexing",
        what, extent);
    return FALSE;
  }
  return ar_op_check_size (cmd, "matmul", what, buf, extent, es);
}

/* Kernel variants by activation (the order of ArActivation) and storage type. */
#define AR_ACT_VARIANTS(kernel) { \
    { &ar_shader_##kernel##_f32, &ar_shader_##kernel##_f16 }, \
    { &ar_shader_##kernel##_gelu_f32, &ar_shader_##kernel##_gelu_f16 }, \
    { &ar_shader_##kernel##_silu_f32, &ar_shader_##kernel##_silu_f16 }, \
    { &ar_shader_##kernel##_gelu_erf_f32, &ar_shader_##kernel##_gelu_erf_f16 }, \
    { &ar_shader_##kernel##_relu_f32, &ar_shader_##kernel##_relu_f16 } }

static const ArShader *const matmul_shaders[AR_ACT_COUNT][2] = AR_ACT_VARIANTS (matmul);
static const ArShader *const texel_shaders[AR_ACT_COUNT][2] = AR_ACT_VARIANTS (matmul_texel);
static const ArShader *const matvec_shaders[AR_ACT_COUNT][2] = AR_ACT_VARIANTS (matvec);
static const ArShader *const matvec_texel_shaders[AR_ACT_COUNT][2] = AR_ACT_VARIANTS (matvec_texel);
static const ArShader *const matvec_sg_shaders[AR_ACT_COUNT][2] = AR_ACT_VARIANTS (matvec_sg);
static const ArShader *const matvec_rows_shaders[AR_ACT_COUNT][2] = AR_ACT_VARIANTS (matvec_rows);
static const ArShader *const tile_shaders[AR_ACT_COUNT][2] = AR_ACT_VARIANTS (matmul_tile);
static const ArShader *const tile32_shaders[AR_ACT_COUNT][2] = AR_ACT_VARIANTS (matmul_tile32);
static const ArShader *const tile32w_shaders[AR_ACT_COUNT][2] = AR_ACT_VARIANTS (matmul_tile32w);
static const ArShader *const coop_shaders[AR_ACT_COUNT][2] = AR_ACT_VARIANTS (matmul_coop);

static const ArShader *
matmul_shader (ArDType dt, ArActivation act)
{
  return matmul_shaders[act][dt == AR_F16];
}

static const ArShader *
matvec_shader (ArDType dt, ArActivation act, gboolean subgroup)
{
  return (subgroup ? matvec_sg_shaders : matvec_shaders)[act][dt == AR_F16];
}

static void
dispatch_tiled (ArCmd *cmd, ArDType dt, ArBinding *bind, const MatmulPush *pc, guint batch,
    ArActivation act)
{
  const guint32 *max = ar_cmd_device (cmd)->props.limits.maxComputeWorkGroupCount;
  /* Narrow products get a smaller workgroup so that lanes do not idle (8 = lavapipe's SIMD
   * width; never below it). */
  guint32 local = 8;
  while (local < LOCAL_MAX && local * TILE_N < pc->N)
    local *= 2;
  /* vec4 loads along K need W K-contiguous and every A and W row 4-aligned. */
  gboolean k_vec4 = pc->w_sk == 1 && pc->K >= 4
      && (pc->a_off | pc->a_ld | pc->w_off | pc->w_sn) % 4 == 0
      && (batch == 1 || (pc->a_bs | pc->w_bs) % 4 == 0);
  guint32 spec[] = { local, TILE_M, TILE_N, k_vec4 };
  guint32 gx = ar_div_up (pc->N, (guint64) local * TILE_N);
  /* The shader strides over row tiles beyond the grid. */
  guint32 gy = MIN (ar_div_up (pc->M, TILE_M), MIN (max[1], 65535u));
  if (gx > max[0] || batch > max[2]) {
    ar_cmd_fail_invalid (cmd, "matmul: N = %u or batch = %u exceeds the grid limits", pc->N, batch);
    return;
  }
  ar_cmd_dispatch (cmd, matmul_shader (dt, act), spec, G_N_ELEMENTS (spec), bind, 4, pc,
      sizeof *pc, gx, gy, batch);
}

/* Whether shaders/matmul_texel.comp applies: K-contiguous W, whole vec4 texels along K, and
 * buffers that can be viewed as texel buffers. */
static gboolean
texel_kernel_applies (const MatmulPush *pc, guint batch, const ArBuffer *a, const ArBuffer *w,
    ArDType dt)
{
  return pc->w_sk == 1 && pc->K % 4 == 0 && pc->K > 0
      && (pc->a_off | pc->a_ld | pc->w_off | pc->w_sn) % 4 == 0
      && (batch == 1 || (pc->a_bs | pc->w_bs) % 4 == 0)
      && ar_buffer_texel_viewable (a, dt == AR_F16) && ar_buffer_texel_viewable (w, dt == AR_F16);
}

static guint texel_lanes_forced;

void
ar_op_matmul_force_texel_lanes (guint layout)
{
  texel_lanes_forced = layout;
}

static void
dispatch_texel (ArCmd *cmd, ArDType dt, ArBinding *bind, const MatmulPush *pc, guint batch,
    ArActivation act)
{
  const ArDevice *dev = ar_cmd_device (cmd);
  /* One SIMD vector of lanes per workgroup: more would only add rows to one workgroup. */
  guint32 local = MAX (dev->caps.subgroup_size, 1);
  gboolean lanes_n = texel_lanes_forced ? texel_lanes_forced == 2 : pc->M <= TEXEL_LANES_N_MAX_M;
  guint32 tm, tn, gx, gy;
  if (lanes_n) {
    /* The fewest blocks of at most TEXEL_LANES_N_TM rows, as even as they come. */
    guint32 blocks = ar_div_up (pc->M, TEXEL_LANES_N_TM);
    tm = ar_div_up (pc->M, blocks);
    tn = TEXEL_LANES_N_TN;
    gx = ar_div_up (pc->N, (guint64) local * tn);
    gy = ar_div_up (pc->M, tm);
  } else {
    /* The rows per lane that pad M least, from TEXEL_TM down to TEXEL_TM_MIN, or fewer where
     * one block of them covers M. */
    guint32 tm_min = MIN (TEXEL_TM_MIN, ar_div_up (pc->M, local));
    guint64 padded = G_MAXUINT64;
    tm = TEXEL_TM;
    for (guint32 t = TEXEL_TM; t >= tm_min; t--) {
      guint64 p = ar_div_up (pc->M, (guint64) local * t) * local * t;
      if (p < padded)
        tm = t, padded = p;
    }
    tn = TEXEL_TN;
    gx = ar_div_up (pc->N, tn);
    gy = ar_div_up (pc->M, (guint64) local * tm);
  }
  /* Whole vec4s of output per row (matmul_texel.comp's OUT4). */
  gboolean out4 = (pc->N | pc->o_ld | pc->o_off | (batch > 1 ? pc->o_bs : 0)) % 4 == 0;
  guint32 spec[] = { local, tm, tn, TEXEL_KU, out4, lanes_n };
  /* ar_cmd_dispatch fails the recording where the grid exceeds the device's limits. */
  /* Bias and out stay storage buffers; A and W go to the texel bindings. */
  ArBinding tb[AR_TEXEL_BINDING + 2] = { [2] = bind[2], [3] = bind[3],
    [AR_TEXEL_BINDING] = AR_TEXEL (bind[0].buf, dt),
    [AR_TEXEL_BINDING + 1] = AR_TEXEL (bind[1].buf, dt) };
  ar_cmd_dispatch (cmd, texel_shaders[act][dt == AR_F16], spec, G_N_ELEMENTS (spec), tb,
      G_N_ELEMENTS (tb), pc, sizeof *pc, gx, gy, batch);
}

/* The shared-memory tiles of shaders/matmul_tile.comp: 64x64, or 32x32 (-DTILE32) where the
 * 64x64 grid would have fewer than TILE_SMALL_GRID workgroups (a GPU has ~100 compute units:
 * iris-small's prefill projections at N = 256 were 24 workgroups). The 32x32 tiles run on
 * 256 invocations of 2x2 outputs (-DTILE_WIDE): more warps to hide latency than 64 of 4x4
 * (AR_MATMUL_TILE32_WIDE=0). H200, iris-small, alternating runs: `generate` 5.66-5.67 ms with
 * 64 invocations, 5.09 with 256 (its window prefill has 37 products on these tiles). */
#define TILE_BM 64
#define TILE_BN 64
#define TILE_SMALL 32
#define TILE_SMALL_GRID 128

static guint tile_forced;

void
ar_op_matmul_force_tile (guint size)
{
  tile_forced = size;
}

static void
dispatch_tile (ArCmd *cmd, ArDType dt, ArBinding *bind, const MatmulPush *pc, guint batch,
    ArActivation act, gboolean coop)
{
  guint64 big_grid = (guint64) ar_div_up (pc->N, TILE_BN) * ar_div_up (pc->M, TILE_BM) * batch;
  gboolean small = !coop && (tile_forced ? tile_forced == TILE_SMALL
      : big_grid < TILE_SMALL_GRID && !ar_device_avoids (ar_cmd_device (cmd), "tile32"));
  guint tile = small ? TILE_SMALL : TILE_BM;
  const guint32 *max = ar_cmd_device (cmd)->props.limits.maxComputeWorkGroupCount;
  guint32 gx = ar_div_up (pc->N, tile), gy = ar_div_up (pc->M, tile);
  if (gx > max[0] || gy > max[1] || batch > max[2]) {
    ar_cmd_fail_invalid (cmd, "matmul: M = %u, N = %u or batch = %u exceeds the grid limits",
        pc->M, pc->N, batch);
    return;
  }
  gboolean wide = small && g_strcmp0 (g_getenv ("AR_MATMUL_TILE32_WIDE"), "0") != 0;
  const ArShader *sh = (coop ? coop_shaders : wide ? tile32w_shaders : small ? tile32_shaders
      : tile_shaders)[act][dt == AR_F16];
  ar_cmd_dispatch (cmd, sh, NULL, 0, bind, 4, pc, sizeof *pc, gx, gy, batch);
}

/* shaders/matvec_texel.comp; @bind as for dispatch_matvec. */
static void
dispatch_matvec_texel (ArCmd *cmd, ArDType dt, ArBinding *bind, const MatmulPush *pc,
    guint batch, ArActivation act, guint32 norm)
{
  ArDevice *dev = ar_cmd_device (cmd);
  /* One SIMD vector of lanes per workgroup. */
  guint32 local = MAX (dev->caps.subgroup_size, 1), rows = MATVEC_TEXEL_ROWS;
  gboolean k_lanes = pc->K >= MATVEC_TEXEL_K_LANES_MIN_K && dev->caps.subgroup_arith;
  guint32 gx, gy;
  if (k_lanes) {
    rows = MATVEC_TEXEL_K_LANES_ROWS;
    ar_cmd_groups_1d (cmd, ar_div_up (pc->N, rows), &gx, &gy);
  } else {
    while (rows > 1 && ar_div_up (pc->N, local * rows) < MATVEC_TEXEL_GROUPS)
      rows /= 2;
    ar_cmd_groups_1d (cmd, ar_div_up (pc->N, local * rows), &gx, &gy);
  }
  guint32 spec[] = { local, rows, norm, k_lanes };
  /* All four texel bindings are statically used (NORM is a specialization constant); the
   * absent norm vectors read the device's dummy. */
  ArBinding tb[AR_TEXEL_BINDING + 4] = { [2] = bind[2], [3] = bind[3],
    [AR_TEXEL_BINDING] = AR_TEXEL (bind[0].buf, dt),
    [AR_TEXEL_BINDING + 1] = AR_TEXEL (bind[1].buf, dt),
    [AR_TEXEL_BINDING + 2] = AR_TEXEL (bind[4].buf, dt),
    [AR_TEXEL_BINDING + 3] = AR_TEXEL (bind[5].buf, dt) };
  ar_cmd_dispatch (cmd, matvec_texel_shaders[act][dt == AR_F16], spec, G_N_ELEMENTS (spec), tb,
      G_N_ELEMENTS (tb), pc, sizeof *pc, gx, gy, batch);
}

/* Whether shaders/matvec_rows.comp applies: 4-element loads along K of a, W, gamma and beta. */
static gboolean
matvec_rows_applies (ArDevice *dev, const MatmulPush *pc, guint batch)
{
  return dev->caps.subgroup_arith && pc->w_sk == 1 && pc->K % 4 == 0
      && (pc->a_off | pc->w_off | pc->w_sn) % 4 == 0
      && (batch == 1 || (pc->a_bs | pc->w_bs) % 4 == 0);
}

/* shaders/matvec_rows.comp: a subgroup per output row (two on wide products, so that each
 * load of a serves both), MATVEC_ROWS_SUBGROUPS subgroups per workgroup; with M > 1 (the
 * skinny products, no norm) one row of W per subgroup for all M rows of A. */
static void
dispatch_matvec_rows (ArCmd *cmd, ArDType dt, ArBinding *bind, const MatmulPush *pc,
    guint batch, ArActivation act, guint32 norm)
{
  ArDevice *dev = ar_cmd_device (cmd);
  guint32 rows = pc->N >= MATVEC_ROWS_PAIR_MIN_N && pc->M == 1 ? 2 : 1;
  guint32 spec[] = { MATVEC_ROWS_SUBGROUPS * MAX (dev->caps.subgroup_size, 1), rows, norm,
    pc->M };
  guint32 gx, gy;
  ar_cmd_groups_1d (cmd, ar_div_up (pc->N, MATVEC_ROWS_SUBGROUPS * rows), &gx, &gy);
  ar_cmd_dispatch (cmd, matvec_rows_shaders[act][dt == AR_F16], spec, G_N_ELEMENTS (spec), bind,
      6, pc, sizeof *pc, gx, gy, batch);
}

/* @bind has 6 entries: a, w, bias, out, then the norm prologue's gamma and beta (NULL without
 * one); @norm is the shader's NORM constant (0 none, 1 layer, 2 RMS). @texel_ok: whether
 * shaders/matvec_texel.comp applies (what MATVEC takes then on CPU devices). */
static void
dispatch_matvec (ArCmd *cmd, ArDType dt, ArBinding *bind, const MatmulPush *pc, guint batch,
    ArActivation act, ArMatmulPath path, gboolean w_kn, guint32 norm, gboolean texel_ok)
{
  ArDevice *dev = ar_cmd_device (cmd);
  if (path == AR_MATMUL_MATVEC_TEXEL || (path == AR_MATMUL_MATVEC && dev->caps.is_cpu && texel_ok)) {
    dispatch_matvec_texel (cmd, dt, bind, pc, batch, act, norm);
    return;
  }
  gboolean rows_ok = matvec_rows_applies (dev, pc, batch);
  if (path == AR_MATMUL_MATVEC_ROWS && !rows_ok) {
    ar_cmd_fail_invalid (cmd, "matmul: the subgroup-rows matrix-vector kernel needs subgroup "
        "arithmetic, K-contiguous W, K %% 4 == 0 and 4-aligned rows");
    return;
  }
  if (path == AR_MATMUL_MATVEC_ROWS || (path == AR_MATMUL_MATVEC && !dev->caps.is_cpu && rows_ok
          && !ar_device_avoids (dev, "matvec_rows"))) {
    dispatch_matvec_rows (cmd, dt, bind, pc, batch, act, norm);
    return;
  }
  gboolean reduce = path == AR_MATMUL_MATVEC_REDUCE || path == AR_MATMUL_MATVEC_REDUCE_SHARED
      || (path == AR_MATMUL_MATVEC && !dev->caps.is_cpu && !w_kn);
  gboolean subgroup = reduce && path != AR_MATMUL_MATVEC_REDUCE_SHARED && dev->caps.subgroup_arith;
  guint32 gx, gy;
  guint32 spec[5] = { 0, 0, 0, 1, norm };
  if (reduce) {
    /* One workgroup per output row: its invocations read W's row contiguously (coalesced
     * on GPUs). A power of two for the shared-memory tree. */
    guint32 local = pc->K >= 1024 ? 256 : pc->K >= 256 ? 128 : 64;
    local = MAX (local, dev->caps.subgroup_size);
    spec[0] = spec[1] = local;
    ar_cmd_groups_1d (cmd, pc->N, &gx, &gy);
  } else {
    /* One output per invocation: on CPU devices each lane streams its own row. */
    /* MATVEC_ROWS outputs per invocation; narrow workgroups for small N. */
    guint32 local = 8;
    while (local < LOCAL_MAX && local * MATVEC_ROWS < pc->N)
      local *= 2;
    spec[0] = local;
    spec[1] = 1;
    spec[3] = MATVEC_ROWS;
    spec[2] = pc->w_sk == 1 && pc->K >= 4 && (pc->a_off | pc->w_off | pc->w_sn) % 4 == 0
        && (batch == 1 || (pc->a_bs | pc->w_bs) % 4 == 0);
    ar_cmd_groups_1d (cmd, ar_div_up (pc->N, spec[0] * spec[3]), &gx, &gy);
  }
  if (batch > dev->props.limits.maxComputeWorkGroupCount[2]) {
    ar_cmd_fail_invalid (cmd, "matmul: batch = %u exceeds the grid limit", batch);
    return;
  }
  ar_cmd_dispatch (cmd, matvec_shader (dt, act, subgroup), spec, G_N_ELEMENTS (spec), bind, 6,
      pc, sizeof *pc, gx, gy, batch);
}

/* ar_op_matmul_ex, with the matrix-vector kernel's norm prologue when @norm is set (the
 * caller checked that the matrix-vector kernel applies). */
static void
record_matmul (ArCmd *cmd, ArDType dt, const ArBuffer *a, const ArBuffer *w,
    const ArBuffer *bias, ArBuffer *out, const ArMatmulParams *p, const ArRowNorm *norm)
{
  if (!ar_op_check_dtype (cmd, "matmul", dt))
    return;
  if ((guint) p->act >= AR_ACT_COUNT || (guint) p->path > AR_MATMUL_SKINNY) {
    ar_cmd_fail_invalid (cmd, "matmul: unknown activation %d or path %d", p->act, p->path);
    return;
  }
  gboolean matvec_path = (p->path >= AR_MATMUL_MATVEC && p->path <= AR_MATMUL_MATVEC_REDUCE_SHARED)
      || p->path == AR_MATMUL_MATVEC_TEXEL || p->path == AR_MATMUL_MATVEC_ROWS;
  if (matvec_path && p->M != 1) {
    ar_cmd_fail_invalid (cmd, "matmul: the matrix-vector kernel needs M = 1, not %u", p->M);
    return;
  }
  if (p->M > 1 && p->o_ld < p->N) {
    ar_cmd_fail_invalid (cmd, "matmul: output row stride %u is less than N = %u", p->o_ld, p->N);
    return;
  }
  if (p->M == 0 || p->N == 0 || p->batch == 0)
    return;
  gsize es = ar_dtype_size (dt);
  guint64 a_ext = p->K ? view_extent (p->a_off, p->batch, p->a_bs, p->M, p->a_ld, p->K) : 0;
  guint64 w_ext = p->K == 0 ? 0 : p->w_kn
      ? view_extent (p->w_off, p->batch, p->w_bs, p->K, p->w_ld, p->N)
      : view_extent (p->w_off, p->batch, p->w_bs, p->N, p->w_ld, p->K);
  guint64 o_ext = view_extent (p->o_off, p->batch, p->o_bs, p->M, p->o_ld, p->N);
  if (!check_view (cmd, "a", a, a_ext, es) || !check_view (cmd, "w", w, w_ext, es)
      || !check_view (cmd, "out", out, o_ext, es)
      || (bias && !ar_op_check_size (cmd, "matmul", "bias", bias, p->N, es)))
    return;

  MatmulPush pc = {
    .M = p->M, .N = p->N, .K = p->K,
    .a_off = p->a_off, .a_ld = p->a_ld, .a_bs = p->a_bs,
    .w_off = p->w_off, .w_sn = p->w_kn ? 1 : p->w_ld, .w_sk = p->w_kn ? p->w_ld : 1,
    .w_bs = p->w_bs,
    .o_off = p->o_off, .o_ld = p->o_ld, .o_bs = p->o_bs,
    .has_bias = bias != NULL,
    .alpha = p->alpha,
    .accumulate = p->accumulate,
    .eps = norm ? norm->eps : 0.0f,
  };
  ArBinding bind[] = { AR_READ (a), AR_READ (w), AR_READ (bias), AR_WRITE (out),
    AR_READ (norm ? norm->gamma : NULL), AR_READ (norm ? norm->beta : NULL) };
  const ArDeviceCaps *caps = &ar_cmd_device (cmd)->caps;
  if (p->path == AR_MATMUL_TILE_COOPMAT && !ar_op_check_coopmat (cmd, "matmul", dt))
    return;
  gboolean auto_tile = p->path == AR_MATMUL_AUTO && p->M != 1 && !caps->is_cpu;
  gboolean texel_ok = texel_kernel_applies (&pc, p->batch, a, w, dt);
  gboolean auto_texel = p->path == AR_MATMUL_AUTO && p->M != 1 && caps->is_cpu && texel_ok;
  /* The matrix-vector flavour reads the norm's vectors as texels too. */
  gboolean mv_texel_ok = texel_ok && (!norm
      || (ar_buffer_texel_viewable (norm->gamma, dt == AR_F16)
          && (norm->kind == AR_ROW_NORM_RMS || ar_buffer_texel_viewable (norm->beta, dt == AR_F16))));
  if ((p->path == AR_MATMUL_TEXEL && (norm || !texel_ok))
      || (p->path == AR_MATMUL_MATVEC_TEXEL && !mv_texel_ok)) {
    ar_cmd_fail_invalid (cmd, "matmul: the texel kernel needs K-contiguous W, K %% 4 == 0, "
        "4-aligned rows and buffers viewable as texel buffers");
    return;
  }
  /* GPUs, a few rows: each row of W read once for all of them (refresh frames' prefill). */
  gboolean skinny_ok = !norm && p->M >= 2 && p->M <= SKINNY_MAX_M && pc.a_ld % 4 == 0
      && p->batch <= ar_cmd_device (cmd)->props.limits.maxComputeWorkGroupCount[2]
      && matvec_rows_applies (ar_cmd_device (cmd), &pc, p->batch);
  if (p->path == AR_MATMUL_SKINNY && !skinny_ok) {
    ar_cmd_fail_invalid (cmd, "matmul: the skinny kernel needs 2 <= M <= %u (not %u), no norm "
        "prologue, subgroup arithmetic, K-contiguous W, K %% 4 == 0 and 4-aligned rows",
        SKINNY_MAX_M, p->M);
    return;
  }
  if (p->path == AR_MATMUL_SKINNY || (p->path == AR_MATMUL_AUTO && !caps->is_cpu && skinny_ok
          && !ar_device_avoids (ar_cmd_device (cmd), "matmul_skinny")))
    dispatch_matvec_rows (cmd, dt, bind, &pc, p->batch, p->act, 0);
  else if (!norm && (p->path == AR_MATMUL_TEXEL || auto_texel))
    dispatch_texel (cmd, dt, bind, &pc, p->batch, p->act);
  else if (!norm && (p->path == AR_MATMUL_TILE_SHARED || p->path == AR_MATMUL_TILE_COOPMAT || auto_tile))
    dispatch_tile (cmd, dt, bind, &pc, p->batch, p->act, p->path == AR_MATMUL_TILE_COOPMAT);
  else if (!norm && (p->path == AR_MATMUL_TILED || (p->path == AR_MATMUL_AUTO && p->M != 1)))
    dispatch_tiled (cmd, dt, bind, &pc, p->batch, p->act);
  else
    dispatch_matvec (cmd, dt, bind, &pc, p->batch, p->act,
        p->path == AR_MATMUL_AUTO ? AR_MATMUL_MATVEC : p->path, p->w_kn,
        norm ? (guint32) norm->kind : 0, mv_texel_ok);
}

void
ar_op_matmul_ex (ArCmd *cmd, ArDType dt, const ArBuffer *a, const ArBuffer *w,
    const ArBuffer *bias, ArBuffer *out, const ArMatmulParams *p)
{
  record_matmul (cmd, dt, a, w, bias, out, p, NULL);
}

void
ar_op_norm_matmul_ex (ArCmd *cmd, ArDType dt, const ArRowNorm *norm, const ArBuffer *a,
    ArBuffer *scratch, const ArBuffer *w, const ArBuffer *bias, ArBuffer *out,
    const ArMatmulParams *p)
{
  if (norm->kind != AR_ROW_NORM_LAYER && norm->kind != AR_ROW_NORM_RMS) {
    ar_cmd_fail_invalid (cmd, "matmul: unknown norm kind %d", norm->kind);
    return;
  }
  if (p->a_off != 0 || p->a_ld != p->K || (p->batch > 1 && p->a_bs != p->M * p->K)) {
    ar_cmd_fail_invalid (cmd, "matmul: a norm prologue needs packed rows of A");
    return;
  }
  if (!(norm->eps >= 0)) {
    ar_cmd_fail_invalid (cmd, "matmul: norm eps must be >= 0 (got %g)", norm->eps);
    return;
  }
  gsize es = ar_dtype_size (dt);
  gboolean matvec_path = p->path == AR_MATMUL_AUTO
      || (p->path >= AR_MATMUL_MATVEC && p->path <= AR_MATMUL_MATVEC_REDUCE_SHARED)
      || p->path == AR_MATMUL_MATVEC_TEXEL || p->path == AR_MATMUL_MATVEC_ROWS;
  gboolean fused = p->M == 1 && p->batch == 1 && !p->w_kn && matvec_path
      && norm->gamma && (norm->kind == AR_ROW_NORM_RMS || norm->beta);
  if (fused) {
    if (!ar_op_check_size (cmd, "matmul", "norm gamma", norm->gamma, p->K, es)
        || (norm->kind == AR_ROW_NORM_LAYER
            && !ar_op_check_size (cmd, "matmul", "norm beta", norm->beta, p->K, es)))
      return;
    record_matmul (cmd, dt, a, w, bias, out, p, norm);
    return;
  }
  guint rows = p->M * p->batch;
  if (norm->kind == AR_ROW_NORM_LAYER)
    ar_op_layer_norm (cmd, dt, a, norm->gamma, norm->beta, scratch, rows, p->K, norm->eps);
  else
    ar_op_rms_norm (cmd, dt, a, norm->gamma, scratch, rows, p->K, norm->eps);
  ar_op_matmul_ex (cmd, dt, scratch, w, bias, out, p);
}

void
ar_op_matmul (ArCmd *cmd, ArDType dt, const ArBuffer *a, const ArBuffer *w,
    const ArBuffer *bias, ArBuffer *out, guint M, guint N, guint K, ArActivation act)
{
  ArMatmulParams p;
  ar_matmul_params_init (&p, M, N, K);
  p.act = act;
  ar_op_matmul_ex (cmd, dt, a, w, bias, out, &p);
}

void
ar_op_matmul_accumulate (ArCmd *cmd, ArDType dt, const ArBuffer *a, const ArBuffer *w,
    const ArBuffer *bias, ArBuffer *out, guint M, guint N, guint K)
{
  ArMatmulParams p;
  ar_matmul_params_init (&p, M, N, K);
  p.accumulate = TRUE;
  ar_op_matmul_ex (cmd, dt, a, w, bias, out, &p);
}

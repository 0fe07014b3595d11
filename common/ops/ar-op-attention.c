#include "ar-ops.h"

#include <math.h>

#define APPEND_LOCAL 256
#define ATTN_LOCAL 64
#define ATTN_LOCAL_CPU 32
#define ATTN_KEYS_PER_THREAD 4
#define ATTN_MAX_DIMS_PER_THREAD 4   /* MAX_DIMS_PER_THREAD in shaders/attention.comp */
#define ATTN_MAX_HEAD_DIM 1024
#define DECODE_KEYS_PER_BLOCK 8      /* KB in shaders/attention_decode.comp */
#define DECODE_MAX_SLOTS 32          /* register slots per lane (R) */
#define DECODE_MIN_SUBGROUP 8        /* R is sized for subgroups this small */
#define DECODE_MAX_SPLITS 64         /* MAX_SPLITS in shaders/combine.glsl */
#define DECODE_GPU_SUBGROUPS 4
#define DECODE_MAX_SUBGROUPS 8
#define DECODE_QUERIES_PER_GROUP 4   /* QB: prefill queries sharing each K/V row load */
#define COMBINE_LOCAL 64
/* Registers: a query and an accumulator of head_dim floats per lane. */
#define ATTN_QLANES_MAX_HEAD_DIM 128
#define ATTN_QLANES_LOCAL 8          /* lanes per workgroup: lavapipe's SIMD width */
#define ATTN_QLANES_PER_LANE 4       /* TQ: queries per lane */

/* Mirrors the push constants of shaders/kv_append.comp. */
typedef struct {
  guint32 n, width, head_dim, max_tokens, row_stride, k_offset, v_offset, pos;
} KvAppendPush;
G_STATIC_ASSERT (sizeof (KvAppendPush) == 32);

/* Mirrors the push constants of shaders/attention.comp. */
typedef struct {
  guint32 n_heads, kv_group, head_dim, head_stride, row_stride, q_offset, pos, first, window;
  float scale;
  guint32 pos_stride, k_off, v_off;
} AttentionPush;
G_STATIC_ASSERT (sizeof (AttentionPush) == 52);

/* Mirrors the push constants of shaders/attention_tile.comp. */
typedef struct {
  guint32 n_heads, kv_group, head_dim, head_stride, row_stride, q_offset, pos, first, window;
  float scale;
  guint32 n_queries;
  guint32 pos_stride, k_off, v_off;
  guint32 n_splits;
} AttentionTilePush;
G_STATIC_ASSERT (sizeof (AttentionTilePush) == 60);
#define ATTN_TILE_QUERIES 64         /* QT in shaders/attention_tile.comp */
/* Keys the tile kernels score together (their KG) where the grid is small (fewer than
 * ATTN_TILE_SMALL_GRID workgroups, about a GPU's multiprocessors: iris-small's window, 24;
 * its refresh frames, 4; large's refresh frames, 40): independent dot products in flight
 * where each multiprocessor holds a few long per-query chains. Larger grids keep one key at
 * a time, as measured. Not measured on a GPU yet: AR_VULKAN_AVOID=attention_keys4 runs the
 * small grids one key at a time too. */
#define ATTN_TILE_KEY_GROUP 4
#define ATTN_TILE_SMALL_GRID 128
/* A small grid's query blocks also split their keys over up to this many workgroups (z),
 * about ATTN_TILE_SMALL_GRID in all, whose states attention_combine.comp merges: each query
 * walks its keys as one latency chain (H200, iris-small's window: ~64 us per layer for 24
 * workgroups walking up to 340 keys; its refresh frames, 4). Whole blocks of
 * ATTN_TILE_QUERIES keys per split. Not measured on a GPU yet: AR_VULKAN_AVOID=attention_splits
 * runs one split. */
#define ATTN_TILE_MAX_SPLITS 16
#define ATTN_TILE_MAX_HEAD_DIM 64    /* registers (query and accumulator per invocation) and
                                      * shared memory (2 x 64 keys x D floats: 32 KiB) */

/* Mirrors the push constants of shaders/attention_decode.comp. */
typedef struct {
  guint32 n_heads, kv_group, head_dim, head_stride, row_stride, q_offset, pos, first, window;
  float scale;
  guint32 n_splits, split_keys, n_queries;
  guint32 pos_stride, k_off, v_off;
  guint32 ctr_off;
} DecodePush;
G_STATIC_ASSERT (sizeof (DecodePush) == 68);

/* Where a call's queries and cache rows are, in elements (the push constants' view of an
 * ArAttnLayout): q_off includes q_row's rows. cache_vec4: head_dim and the cache strides and
 * offsets are multiples of 4 (cache rows as aligned vec4s). */
typedef struct {
  guint32 q_off, head_stride, pos_stride, k_off, v_off;
  gboolean cache_vec4;
} Geom;

/* Whether the queries of @n rows start 4-aligned, as vec4 kernels read them. */
static gboolean
q_vec4 (const Geom *g, const ArAttnLayout *l, guint n)
{
  return g->q_off % 4 == 0 && (n == 1 || l->row_stride % 4 == 0);
}

/* Mirrors the push constants of shaders/attention_combine.comp. */
typedef struct {
  guint32 head_dim, n_splits;
} CombinePush;
G_STATIC_ASSERT (sizeof (CombinePush) == 8);

/* Checks what both ops share; fills the kv head count. */
static gboolean
check_layout (ArCmd *cmd, const char *op, ArDType dt, const ArAttnLayout *l, guint pos, guint n,
    guint *n_kv_heads)
{
  if (!ar_op_check_dtype (cmd, op, dt))
    return FALSE;
  if (!l) {
    ar_cmd_fail_invalid (cmd, "%s: layout is missing", op);
    return FALSE;
  }
  guint hkv = l->n_kv_heads ? l->n_kv_heads : l->n_heads;
  if (l->n_heads == 0 || l->head_dim == 0 || l->head_dim > ATTN_MAX_HEAD_DIM
      || l->n_heads % hkv != 0) {
    ar_cmd_fail_invalid (cmd, "%s: bad heads (H=%u, Hkv=%u) or head_dim %u (1..%u)", op,
        l->n_heads, l->n_kv_heads, l->head_dim, ATTN_MAX_HEAD_DIM);
    return FALSE;
  }
  if ((guint64) pos + n > l->max_tokens) {
    ar_cmd_fail_invalid (cmd, "%s: positions %u..%u exceed the cache of %u tokens", op, pos,
        pos + n - 1, l->max_tokens);
    return FALSE;
  }
  *n_kv_heads = hkv;
  return TRUE;
}

/* Fails unless @width elements at @offset fit in each row and @buf holds rows ..@first+@n. */
static gboolean
check_rows (ArCmd *cmd, const char *op, const char *what, const ArBuffer *buf,
    const ArAttnLayout *l, guint offset, guint64 width, guint first, guint n, ArDType dt)
{
  if (offset + width > l->row_stride) {
    ar_cmd_fail_invalid (cmd, "%s: %s (offset %u, %" G_GUINT64_FORMAT " elements) overflows the "
        "row stride %u", op, what, offset, width, l->row_stride);
    return FALSE;
  }
  guint64 extent = ((guint64) first + n - 1) * l->row_stride + offset + width;
  if (extent > G_MAXUINT32) {
    ar_cmd_fail_invalid (cmd, "%s: %s spans %" G_GUINT64_FORMAT " elements, beyond 32-bit "
        "indexing", op, what, extent);
    return FALSE;
  }
  return ar_op_check_size (cmd, op, what, buf, extent, ar_dtype_size (dt));
}

void
ar_op_kv_append (ArCmd *cmd, ArDType dt, const ArBuffer *qkv, const ArAttnLayout *layout,
    ArBuffer *k_cache, ArBuffer *v_cache, guint pos, guint n)
{
  const char *op = "kv_append";
  guint hkv;
  if (!check_layout (cmd, op, dt, layout, pos, n, &hkv) || n == 0)
    return;
  gsize es = ar_dtype_size (dt);
  guint64 width = (guint64) hkv * layout->head_dim;
  guint64 cache = width * layout->max_tokens;
  if (layout->cache_pos_stride) {
    ar_cmd_fail_invalid (cmd, "kv_append: the layout's caches are laid out by strides (in "
        "place): the projection writing them is the append");
    return;
  }
  if (!check_rows (cmd, op, "k", qkv, layout, layout->k_offset, width, 0, n, dt)
      || !check_rows (cmd, op, "v", qkv, layout, layout->v_offset, width, 0, n, dt)
      || !ar_op_check_size (cmd, op, "k_cache", k_cache, cache, es)
      || !ar_op_check_size (cmd, op, "v_cache", v_cache, cache, es))
    return;
  KvAppendPush pc = { n, (guint32) width, layout->head_dim, layout->max_tokens,
    layout->row_stride, layout->k_offset, layout->v_offset, pos };
  guint32 spec[] = { APPEND_LOCAL }, gx, gy;
  ar_cmd_groups_1d (cmd, ar_div_up (width * n, APPEND_LOCAL), &gx, &gy);
  ArBinding bind[] = { AR_READ (qkv), AR_WRITE (k_cache), AR_WRITE (v_cache) };
  ar_cmd_dispatch (cmd, AR_SHADER (kv_append, dt), spec, 1, bind, 3, &pc, sizeof pc, gx, gy, 1);
}

/* Checks the arguments of an attention call; fills the kv head count. */
static gboolean
check_attention (ArCmd *cmd, const char *op, ArDType dt, const ArBuffer *qkv,
    const ArAttnLayout *layout, const ArBuffer *k_cache, const ArBuffer *v_cache,
    const ArBuffer *out, guint pos, guint n, guint first, guint *n_kv_heads, Geom *g)
{
  guint hkv;
  if (!check_layout (cmd, op, dt, layout, pos, n, &hkv) || n == 0)
    return FALSE;
  if (first > pos) {
    ar_cmd_fail_invalid (cmd, "%s: first position %u is after the first query at %u", op,
        first, pos);
    return FALSE;
  }
  gsize es = ar_dtype_size (dt);
  guint D = layout->head_dim;
  const ArAttnLayout *l = layout;
  guint64 hs = l->cache_pos_stride ? l->cache_head_stride : (guint64) l->max_tokens * D;
  guint64 ps = l->cache_pos_stride ? l->cache_pos_stride : D;
  guint64 ko = l->cache_pos_stride ? l->k_cache_offset : 0;
  guint64 vo = l->cache_pos_stride ? l->v_cache_offset : 0;
  if (l->cache_pos_stride && l->cache_pos_stride < D) {
    ar_cmd_fail_invalid (cmd, "%s: cache position stride %u is less than head_dim %u", op,
        l->cache_pos_stride, D);
    return FALSE;
  }
  /* One past the last cache element read, for K and V. */
  guint64 span = (guint64) (hkv - 1) * hs + (guint64) (l->max_tokens - 1) * ps + D;
  if (MAX (ko, vo) + span > G_MAXUINT32 || hs > G_MAXUINT32) {
    ar_cmd_fail_invalid (cmd, "%s: the caches span beyond 32-bit indexing", op);
    return FALSE;
  }
  if (!check_rows (cmd, op, "q", qkv, layout, layout->q_offset, (guint64) layout->n_heads * D,
          l->q_row, n, dt)
      || !ar_op_check_size (cmd, op, "k_cache", k_cache, ko + span, es)
      || !ar_op_check_size (cmd, op, "v_cache", v_cache, vo + span, es)
      || !ar_op_check_size (cmd, op, "out", out, (guint64) n * layout->n_heads * D, es))
    return FALSE;
  *n_kv_heads = hkv;
  *g = (Geom) {
    .q_off = (guint32) ((guint64) l->q_row * l->row_stride + l->q_offset),
    .head_stride = (guint32) hs, .pos_stride = (guint32) ps, .k_off = (guint32) ko,
    .v_off = (guint32) vo,
  };
  g->cache_vec4 = D % 4 == 0 && (g->head_stride | g->pos_stride | g->k_off | g->v_off) % 4 == 0;
  return TRUE;
}

static float
attn_scale (const ArAttnLayout *layout)
{
  return layout->scale != 0.0f ? layout->scale : (float) (1.0 / sqrt ((double) layout->head_dim));
}

/* The lane-across-D decode kernel needs subgroup arithmetic and few enough register slots. */
static gboolean
decode_supported (ArCmd *cmd, const ArAttnLayout *layout)
{
  const ArDeviceCaps *caps = &ar_cmd_device (cmd)->caps;
  return caps->subgroup_arith && caps->subgroup_size >= DECODE_MIN_SUBGROUP
      && caps->subgroup_size <= 128
      && ar_div_up (layout->head_dim, DECODE_MIN_SUBGROUP) <= DECODE_MAX_SLOTS;
}

gsize
ar_op_attention_scratch_size (const ArAttnLayout *layout)
{
  if (!layout)
    return 0;
  /* The split states, then one counter per head for the fused combine. */
  return ((gsize) layout->n_heads * DECODE_MAX_SPLITS * (layout->head_dim + 2) + layout->n_heads)
      * sizeof (float);
}

/* The push constants of the decode-style kernels (attention_decode, _qlanes, _klanes). */
static DecodePush
decode_push (const ArAttnLayout *l, guint hkv, const Geom *g, guint pos, guint first, guint n,
    guint splits, guint split_keys)
{
  return (DecodePush) { l->n_heads, l->n_heads / hkv, l->head_dim, g->head_stride,
    l->row_stride, g->q_off, pos, first, l->window, attn_scale (l), splits, split_keys, n,
    g->pos_stride, g->k_off, g->v_off };
}

/* Whether the texel kernels (query-lanes, key-lanes) can read @n queries' rows and the
 * caches: vec4 rows, a head small enough for their registers, texel-viewable caches. */
static gboolean
texel_caches_ok (ArDType dt, const ArAttnLayout *l, const Geom *g, guint n,
    const ArBuffer *k_cache, const ArBuffer *v_cache)
{
  return l->head_dim <= ATTN_QLANES_MAX_HEAD_DIM && g->cache_vec4 && q_vec4 (g, l, n)
      && ar_buffer_texel_viewable (k_cache, dt == AR_F16)
      && ar_buffer_texel_viewable (v_cache, dt == AR_F16);
}

/* GPUs: at least this many keys per split of one-token attention (fewer splits mean a
 * shorter combine, more mean more workgroups). AR_ATTN_DECODE_MIN_KEYS overrides it, read
 * once per process, for timing without a rebuild. */
#define DECODE_GPU_MIN_KEYS 32

static guint
gpu_decode_min_keys (void)
{
  static gsize once;
  static guint min_keys = DECODE_GPU_MIN_KEYS;
  if (g_once_init_enter (&once)) {
    const char *env = g_getenv ("AR_ATTN_DECODE_MIN_KEYS");
    guint64 v;
    if (env && g_ascii_string_to_unsigned (env, 10, 1, 1 << 20, &v, NULL))
      min_keys = (guint) v;
    else if (env)
      g_warning ("AR_ATTN_DECODE_MIN_KEYS=%s ignored: want a count of keys", env);
    g_once_init_leave (&once, 1);
  }
  return min_keys;
}

guint
ar_attention_decode_splits (guint keys, guint heads, guint target, guint min_keys, guint block,
    guint *split_keys)
{
  guint splits = ar_div_up (target, MAX (heads, 1));
  splits = MIN (splits, ar_div_up (keys, MAX (min_keys, 1)));
  splits = CLAMP (splits, 1, DECODE_MAX_SPLITS);
  *split_keys = ar_div_up (ar_div_up (keys, splits), block) * block;
  return ar_div_up (keys, *split_keys);
}

/* The lanes-across-D kernel for @n queries; @scratch NULL means one workgroup per head (and
 * per block of queries); with n > 1 it must be NULL. @subgroups per workgroup, 0: the
 * device's default. */
static void
record_decode (ArCmd *cmd, ArDType dt, const ArBuffer *qkv, const ArAttnLayout *layout,
    guint hkv, const Geom *g, const ArBuffer *k_cache, const ArBuffer *v_cache, ArBuffer *out, guint pos,
    guint n, guint first, ArBuffer *scratch, guint subgroups, ArAttnCombine combine)
{
  ArDevice *dev = ar_cmd_device (cmd);
  guint H = layout->n_heads, D = layout->head_dim;
  guint lo = first;
  if (layout->window > 0 && pos + 1 > layout->window)
    lo = MAX (lo, pos + 1 - layout->window);
  guint keys = pos + n - lo;   /* n > 1: a block's range is within this */
  /* Splits: enough workgroups to fill the device, each with enough keys to amortise its
   * partial-state write and the combine dispatch. */
  guint split_keys = keys, splits = 1;
  if (scratch)
    splits = ar_attention_decode_splits (keys, H, dev->caps.is_cpu ? 2 * g_get_num_processors ()
        : 512, dev->caps.is_cpu ? 256 : gpu_decode_min_keys (), DECODE_KEYS_PER_BLOCK,
        &split_keys);
  else
    split_keys = ar_div_up (keys, DECODE_KEYS_PER_BLOCK) * DECODE_KEYS_PER_BLOCK;
  /* The fused combine's counters sit after the largest split state (any position). */
  guint32 ctr_off = H * DECODE_MAX_SPLITS * (D + 2);
  gboolean fused = splits > 1 && (combine == AR_ATTN_COMBINE_FUSED
      || (combine == AR_ATTN_COMBINE_AUTO && !dev->caps.is_cpu
          && !ar_device_avoids (dev, "decode_fused")));
  if (splits > 1
      && !ar_op_check_size (cmd, "attention_decode", "scratch", scratch,
          fused ? (guint64) ctr_off + H : (guint64) H * splits * (D + 2), sizeof (float)))
    return;
  guint qb = n > 1 ? DECODE_QUERIES_PER_GROUP : 1;
  const guint32 *max_groups = dev->props.limits.maxComputeWorkGroupCount;
  if (H > max_groups[0] || ar_div_up (n, qb) > max_groups[2]) {
    ar_cmd_fail_invalid (cmd, "attention_decode: %u heads x %u queries exceed the grid limits",
        H, n);
    return;
  }
  /* vec4 loads where every row of Q, K and V starts 4-aligned. */
  gboolean vec4 = g->cache_vec4 && q_vec4 (g, layout, n);
  /* On GPUs several subgroups per workgroup take alternate blocks of keys: each key costs a
   * dependent load and reduction, so one subgroup alone waits on memory (H200, large: ~0.9 us
   * per key). On CPUs one subgroup per workgroup; workgroups give the parallelism. */
  if (subgroups == 0)
    subgroups = dev->caps.is_cpu ? 1 : DECODE_GPU_SUBGROUPS;
  guint32 spec[] = { dev->caps.subgroup_size * subgroups,
    ar_div_up (D, (vec4 ? 4 : 1) * DECODE_MIN_SUBGROUP), DECODE_KEYS_PER_BLOCK, qb };
  DecodePush pc = decode_push (layout, hkv, g, pos, first, n, splits, split_keys);
  pc.ctr_off = ctr_off;
  ArBinding bind[] = { AR_READ (qkv), AR_READ (k_cache), AR_READ (v_cache),
    AR_WRITE (splits == 1 || fused ? out : NULL), AR_WRITE (splits > 1 ? scratch : NULL) };
  const ArShader *sh = fused
      ? (vec4 ? AR_SHADER (attention_decode4_fused, dt) : AR_SHADER (attention_decode_fused, dt))
      : (vec4 ? AR_SHADER (attention_decode4, dt) : AR_SHADER (attention_decode, dt));
  ar_cmd_dispatch (cmd, sh, spec, G_N_ELEMENTS (spec), bind, G_N_ELEMENTS (bind), &pc,
      sizeof pc, H, splits, ar_div_up (n, qb));
  if (splits == 1 || fused)
    return;
  guint32 cspec[] = { MIN (COMBINE_LOCAL, ar_div_up (D, 8) * 8) };
  CombinePush cpc = { D, splits };
  ArBinding cbind[] = { AR_READ (scratch), AR_WRITE (out) };
  ar_cmd_dispatch (cmd, AR_SHADER (attention_combine, dt), cspec, 1, cbind, 2, &cpc,
      sizeof cpc, H, 1, 1);
}

/* Whether shaders/attention_klanes.comp applies (texel views of q and the caches, vec4
 * rows, one subgroup per workgroup). */
static gboolean
klanes_supported (ArCmd *cmd, ArDType dt, const ArBuffer *qkv, const ArAttnLayout *layout,
    const Geom *g, const ArBuffer *k_cache, const ArBuffer *v_cache, guint n)
{
  const ArDeviceCaps *caps = &ar_cmd_device (cmd)->caps;
  return caps->subgroup_arith && texel_caches_ok (dt, layout, g, n, k_cache, v_cache)
      && ar_buffer_texel_viewable (qkv, dt == AR_F16);
}

/* shaders/attention_klanes.comp: one workgroup (one subgroup) per head and query. */
static void
record_klanes (ArCmd *cmd, ArDType dt, const ArBuffer *qkv, const ArAttnLayout *layout,
    guint hkv, const Geom *g, const ArBuffer *k_cache, const ArBuffer *v_cache, ArBuffer *out, guint pos,
    guint n, guint first)
{
  /* ar_cmd_dispatch fails the recording if heads or queries exceed the grid. */
  DecodePush pc = decode_push (layout, hkv, g, pos, first, n, 1, 0);
  guint32 spec[] = { ar_cmd_device (cmd)->caps.subgroup_size, layout->head_dim };
  ArBinding bind[AR_TEXEL_BINDING + 3] = { [3] = AR_WRITE (out),
    [AR_TEXEL_BINDING] = AR_TEXEL (k_cache, dt), [AR_TEXEL_BINDING + 1] = AR_TEXEL (v_cache, dt),
    [AR_TEXEL_BINDING + 2] = AR_TEXEL (qkv, dt) };
  ar_cmd_dispatch (cmd, AR_SHADER (attention_klanes, dt), spec, G_N_ELEMENTS (spec), bind,
      G_N_ELEMENTS (bind), &pc, sizeof pc, layout->n_heads, 1, n);
}

void
ar_op_attention_decode_ex (ArCmd *cmd, ArDType dt, const ArBuffer *qkv,
    const ArAttnLayout *layout, const ArBuffer *k_cache, const ArBuffer *v_cache, ArBuffer *out,
    guint pos, guint first, ArBuffer *scratch, guint subgroups, ArAttnCombine combine)
{
  guint hkv;
  Geom g;
  if (!check_attention (cmd, "attention_decode", dt, qkv, layout, k_cache, v_cache, out, pos, 1,
          first, &hkv, &g))
    return;
  if (subgroups > DECODE_MAX_SUBGROUPS) {
    ar_cmd_fail_invalid (cmd, "attention_decode: %u subgroups per workgroup (at most %u)",
        subgroups, DECODE_MAX_SUBGROUPS);
    return;
  }
  /* CPU devices: a key per lane (lavapipe, iris-small's 4 heads x 64 over 340 keys: ~50 vs
   * ~250 us with lanes across D). An explicit subgroup count asks for the lanes-across-D
   * kernel. */
  if (subgroups == 0 && combine == AR_ATTN_COMBINE_AUTO && ar_cmd_device (cmd)->caps.is_cpu
      && klanes_supported (cmd, dt, qkv, layout, &g, k_cache, v_cache, 1))
    record_klanes (cmd, dt, qkv, layout, hkv, &g, k_cache, v_cache, out, pos, 1, first);
  else if (decode_supported (cmd, layout))
    record_decode (cmd, dt, qkv, layout, hkv, &g, k_cache, v_cache, out, pos, 1, first, scratch,
        subgroups, combine);
  else
    ar_op_attention (cmd, dt, qkv, layout, k_cache, v_cache, out, pos, 1, first);
}

void
ar_op_attention_decode (ArCmd *cmd, ArDType dt, const ArBuffer *qkv, const ArAttnLayout *layout,
    const ArBuffer *k_cache, const ArBuffer *v_cache, ArBuffer *out, guint pos, guint first,
    ArBuffer *scratch)
{
  ar_op_attention_decode_ex (cmd, dt, qkv, layout, k_cache, v_cache, out, pos, first, scratch, 0,
      AR_ATTN_COMBINE_AUTO);
}

void
ar_op_attention (ArCmd *cmd, ArDType dt, const ArBuffer *qkv, const ArAttnLayout *layout,
    const ArBuffer *k_cache, const ArBuffer *v_cache, ArBuffer *out, guint pos, guint n,
    guint first)
{
  ar_op_attention_ex (cmd, dt, qkv, layout, k_cache, v_cache, out, pos, n, first, AR_ATTN_AUTO,
      NULL);
}

void
ar_op_attention_prefill (ArCmd *cmd, ArDType dt, const ArBuffer *qkv,
    const ArAttnLayout *layout, const ArBuffer *k_cache, const ArBuffer *v_cache, ArBuffer *out,
    guint pos, guint n, guint first, ArBuffer *scratch)
{
  ar_op_attention_ex (cmd, dt, qkv, layout, k_cache, v_cache, out, pos, n, first, AR_ATTN_AUTO,
      scratch);
}

static guint key_group_forced, key_splits_forced;

void
ar_op_attention_force_key_group (guint keys)
{
  key_group_forced = MIN (keys, 8);
}

void
ar_op_attention_force_key_splits (guint splits)
{
  key_splits_forced = MIN (splits, ATTN_TILE_MAX_SPLITS);
}

/* The key splits a grid of @groups query blocks (all heads) asks for: about
 * ATTN_TILE_SMALL_GRID workgroups in all. */
static guint
asked_key_splits (guint64 groups)
{
  if (key_splits_forced)
    return key_splits_forced;
  if (groups >= ATTN_TILE_SMALL_GRID)
    return 1;
  return (guint) MIN (ATTN_TILE_SMALL_GRID / groups, ATTN_TILE_MAX_SPLITS);
}

/* Workgroups sharing each query block's keys in the tile kernels, whose longest walk is
 * @key_blocks blocks of keys: none on CPU devices (they run other kernels unless forced). */
static guint
tile_key_splits (const ArDevice *dev, guint64 groups, guint key_blocks)
{
  if (!key_splits_forced && (dev->caps.is_cpu || ar_device_avoids (dev, "attention_splits")))
    return 1;
  return MAX (MIN (asked_key_splits (groups), key_blocks), 1);
}

gsize
ar_op_attention_prefill_scratch_size (const ArAttnLayout *layout, guint n_max)
{
  if (!layout)
    return 0;
  /* The most split states any n <= n_max needs: splits * queries is largest where a query
   * block is full, whatever the device (tile_key_splits() can only ask for fewer). */
  gsize most = 0;
  for (guint gy = 1; (gsize) (gy - 1) * ATTN_TILE_QUERIES < n_max; gy++) {
    guint n = MIN (n_max, gy * ATTN_TILE_QUERIES);
    guint splits = asked_key_splits ((guint64) layout->n_heads * gy);
    if (splits > 1)
      most = MAX (most, (gsize) n * splits);
  }
  return most * layout->n_heads * (layout->head_dim + 2) * sizeof (float);
}

void
ar_op_attention_ex (ArCmd *cmd, ArDType dt, const ArBuffer *qkv, const ArAttnLayout *layout,
    const ArBuffer *k_cache, const ArBuffer *v_cache, ArBuffer *out, guint pos, guint n,
    guint first, ArAttnKernel kernel, ArBuffer *scratch)
{
  guint hkv;
  Geom g;
  if (!check_attention (cmd, "attention", dt, qkv, layout, k_cache, v_cache, out, pos, n, first,
          &hkv, &g))
    return;
  const ArDevice *dev = ar_cmd_device (cmd);
  /* CPU decode: a key per lane (KEY_LANES). */
  if (n > 0 && (kernel == AR_ATTN_KEY_LANES || (kernel == AR_ATTN_AUTO && n == 1 && dev->caps.is_cpu))
      && klanes_supported (cmd, dt, qkv, layout, &g, k_cache, v_cache, n)) {
    record_klanes (cmd, dt, qkv, layout, hkv, &g, k_cache, v_cache, out, pos, n, first);
    return;
  }
  if (kernel == AR_ATTN_KEY_LANES)
    kernel = AR_ATTN_LANES;
  /* CPU prefill: a query per lane, K and V read as texel buffers (QUERY_LANES). */
  /* Its queries are read as vec4 rows whatever n: aligned like several. */
  gboolean qlanes_ok = texel_caches_ok (dt, layout, &g, 2, k_cache, v_cache);
  if (n > 0 && qlanes_ok && (kernel == AR_ATTN_QUERY_LANES
          || (kernel == AR_ATTN_AUTO && n > 1 && dev->caps.is_cpu))) {
    /* Other devices run it only when forced (tests): one query per lane keeps the unrolled
     * code, and the GPU compiler's time, 4x smaller. */
    guint local = ATTN_QLANES_LOCAL, tq = dev->caps.is_cpu ? ATTN_QLANES_PER_LANE : 1;
    guint gy = ar_div_up (n, local * tq);
    DecodePush qp = decode_push (layout, hkv, &g, pos, first, n, 1, 0);
    guint32 qspec[] = { local, layout->head_dim, DECODE_KEYS_PER_BLOCK, tq };
    ArBinding qbind[AR_TEXEL_BINDING + 2] = { [0] = AR_READ (qkv), [3] = AR_WRITE (out),
      [AR_TEXEL_BINDING] = AR_TEXEL (k_cache, dt), [AR_TEXEL_BINDING + 1] = AR_TEXEL (v_cache, dt) };
    ar_cmd_dispatch (cmd, AR_SHADER (attention_qlanes, dt), qspec, G_N_ELEMENTS (qspec), qbind,
        G_N_ELEMENTS (qbind), &qp, sizeof qp, layout->n_heads, gy, 1);
    return;
  }
  if (kernel == AR_ATTN_QUERY_LANES)
    kernel = AR_ATTN_LANES;
  /* Lanes across D: always for one query; for prefill on CPUs without QUERY_LANES, where it
   * beats one query per workgroup with per-lane row gathers (6x on lavapipe, measured with
   * arbench). */
  gboolean tile_asked = kernel == AR_ATTN_TILE || kernel == AR_ATTN_TILE_QUAD;
  gboolean lanes = decode_supported (cmd, layout) && kernel != AR_ATTN_ROWS
      && (n == 1 || kernel == AR_ATTN_LANES || (dev->caps.is_cpu && !tile_asked));
  if (lanes) {
    record_decode (cmd, dt, qkv, layout, hkv, &g, k_cache, v_cache, out, pos, n, first, NULL, 0,
        AR_ATTN_COMBINE_AUTO);
    return;
  }
  const char *op = "attention";
  guint D = layout->head_dim;
  const guint32 *max_groups = ar_cmd_device (cmd)->props.limits.maxComputeWorkGroupCount;
  /* GPU prefill: shared-memory key blocks (H200, large's 1799-query window: ~4 ms per layer
   * with one query per workgroup). */
  gboolean tile = D <= ATTN_TILE_MAX_HEAD_DIM
      && 2 * ATTN_TILE_QUERIES * D * sizeof (float) <= dev->props.limits.maxComputeSharedMemorySize
      && (tile_asked || (kernel == AR_ATTN_AUTO && n > 1 && !dev->caps.is_cpu));
  /* Four lanes per query (AUTO on GPUs): small prefills get four times the invocations. */
  gboolean quad = tile && D % 4 == 0 && dev->caps.subgroup_shuffle && dev->caps.subgroup_size >= 4
      && (kernel == AR_ATTN_TILE_QUAD
      || (kernel == AR_ATTN_AUTO && !ar_device_avoids (dev, "attention_quad")));
  if (tile) {
    guint gy = ar_div_up (n, ATTN_TILE_QUERIES);
    if (layout->n_heads > max_groups[0] || gy > max_groups[1]) {
      ar_cmd_fail_invalid (cmd, "%s: %u heads x %u queries exceed the grid limits", op,
          layout->n_heads, n);
      return;
    }
    guint64 groups = (guint64) layout->n_heads * gy;
    /* The longest walk, the last query block's, in blocks of keys (a window bounds it). */
    guint walk = pos + n - first;
    if (layout->window > 0)
      walk = MIN (walk, layout->window + ATTN_TILE_QUERIES - 1);
    guint splits = tile_key_splits (dev, groups, ar_div_up (walk, ATTN_TILE_QUERIES));
    gsize part_bytes = (gsize) n * layout->n_heads * splits * (D + 2) * sizeof (float);
    if (splits > 1 && (!scratch || scratch->size < part_bytes
            || (guint64) n * layout->n_heads > max_groups[0]))
      splits = 1;
    AttentionTilePush tp = { layout->n_heads, layout->n_heads / hkv, D, g.head_stride,
      layout->row_stride, g.q_off, pos, first, layout->window, attn_scale (layout), n,
      g.pos_stride, g.k_off, g.v_off, splits };
    gboolean small_grid = groups < ATTN_TILE_SMALL_GRID;
    guint kg = key_group_forced ? key_group_forced
        : small_grid && !ar_device_avoids (dev, "attention_keys4") ? ATTN_TILE_KEY_GROUP : 1;
    guint32 tspec[] = { D, kg };
    ArBinding tbind[] = { AR_READ (qkv), AR_READ (k_cache), AR_READ (v_cache),
      AR_WRITE (splits == 1 ? out : NULL), AR_WRITE (splits > 1 ? scratch : NULL) };
    ar_cmd_dispatch (cmd, quad ? AR_SHADER (attention_tile4, dt) : AR_SHADER (attention_tile, dt),
        tspec, G_N_ELEMENTS (tspec), tbind, G_N_ELEMENTS (tbind), &tp, sizeof tp,
        layout->n_heads, gy, splits);
    if (splits == 1)
      return;
    /* Workgroup query * n_heads + h merges that query's head into out. */
    guint32 cspec[] = { MIN (COMBINE_LOCAL, ar_div_up (D, 8) * 8) };
    CombinePush cpc = { D, splits };
    ArBinding cbind[] = { AR_READ (scratch), AR_WRITE (out) };
    ar_cmd_dispatch (cmd, AR_SHADER (attention_combine, dt), cspec, 1, cbind, 2, &cpc,
        sizeof cpc, n * layout->n_heads, 1, 1);
    return;
  }
  if (layout->n_heads > max_groups[0] || n > max_groups[1]) {
    ar_cmd_fail_invalid (cmd, "%s: %u heads x %u queries exceed the grid limits", op,
        layout->n_heads, n);
    return;
  }
  /* Enough threads that each sums at most ATTN_MAX_DIMS_PER_THREAD dims of V. */
  /* On CPUs fewer threads do less redundant work per key (measured on lavapipe). */
  guint local = ar_cmd_device (cmd)->caps.is_cpu ? ATTN_LOCAL_CPU : ATTN_LOCAL;
  local = MAX (local, ar_div_up (D, ATTN_MAX_DIMS_PER_THREAD * 32) * 32);
  guint32 spec[] = { local, ATTN_KEYS_PER_THREAD, ar_div_up (D, 32) * 32,
    local * ATTN_KEYS_PER_THREAD };
  AttentionPush pc = { layout->n_heads, layout->n_heads / hkv, D, g.head_stride,
    layout->row_stride, g.q_off, pos, first, layout->window, attn_scale (layout),
    g.pos_stride, g.k_off, g.v_off };
  ArBinding bind[] = { AR_READ (qkv), AR_READ (k_cache), AR_READ (v_cache), AR_WRITE (out) };
  ar_cmd_dispatch (cmd, AR_SHADER (attention, dt), spec, G_N_ELEMENTS (spec), bind, 4, &pc,
      sizeof pc, layout->n_heads, n, 1);
}

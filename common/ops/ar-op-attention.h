/* Causal multi-head attention over a KV cache (GPT-style decode and prefill).
 *
 * KV cache: by default K and V are each [Hkv, max_tokens, D] (head-major: one head's keys are
 * contiguous), in the op's storage type. Position p of head h is row p of block h. A layout
 * may instead give the caches' strides and offsets (cache_pos_stride != 0), e.g. to attend
 * over the fused qkv rows themselves (ar_attn_layout_in_place): then the projection that
 * writes those rows is the append, and no kv_append runs.
 *
 * Q, K and V of new tokens are read from rows of a token-major buffer, typically the fused
 * output of a QKV projection [n, (H + 2 Hkv) D]: token t's Q of head h starts at element
 * t * row_stride + q_offset + h * D (likewise K and V with their offsets and kv heads). */
#pragma once

G_BEGIN_DECLS

typedef struct {
  guint n_heads;     /* H: query heads */
  guint n_kv_heads;  /* Hkv: key/value heads; 0 means H. Must divide H (grouped-query attention) */
  guint head_dim;    /* D, 1..1024 */
  guint max_tokens;  /* positions each cache head holds */
  guint row_stride;  /* elements from one token's row of the qkv buffer to the next */
  guint q_offset;    /* element offset of Q, K and V within a row */
  guint k_offset;
  guint v_offset;
  guint window;      /* > 0: a query at position p sees at most positions p-window+1..p */
  float scale;       /* score scale; 0 means 1/sqrt(D) */
  guint q_row;       /* row of qkv holding the first query's Q (0 unless in place) */
  /* 0: the default head-major caches. Otherwise element (kv head g, position p, d) of K is
   * k_cache[k_cache_offset + g * cache_head_stride + p * cache_pos_stride + d], likewise V. */
  guint cache_pos_stride;
  guint cache_head_stride;
  guint k_cache_offset;
  guint v_cache_offset;
} ArAttnLayout;

/* The layout of a fused QKV buffer [n, (H + 2 Hkv) D] holding Q, K, V in that order, with
 * no window and the default scale. */
static inline ArAttnLayout
ar_attn_layout_fused (guint n_heads, guint n_kv_heads, guint head_dim, guint max_tokens)
{
  guint hkv = n_kv_heads ? n_kv_heads : n_heads;
  ArAttnLayout l = {
    n_heads, hkv, head_dim, max_tokens, (n_heads + 2 * hkv) * head_dim,
    0, n_heads * head_dim, (n_heads + hkv) * head_dim, 0, 0.0f, 0, 0, 0, 0, 0,
  };
  return l;
}

/* Caches that are the fused QKV rows themselves: a buffer [max_tokens, (H + 2 Hkv) D] whose
 * row p holds position p's Q, K and V, passed as qkv, k_cache and v_cache alike. The queries
 * of a call at @pos are rows pos.. (q_row). The projection writing row p is the append. */
static inline ArAttnLayout
ar_attn_layout_in_place (guint n_heads, guint n_kv_heads, guint head_dim, guint max_tokens,
    guint pos)
{
  ArAttnLayout l = ar_attn_layout_fused (n_heads, n_kv_heads, head_dim, max_tokens);
  l.q_row = pos;
  l.cache_pos_stride = l.row_stride;
  l.cache_head_stride = head_dim;
  l.k_cache_offset = l.k_offset;
  l.v_cache_offset = l.v_offset;
  return l;
}

/* Writes the K and V of @n new tokens (rows 0..n-1 of @qkv) into the caches at positions
 * pos..pos+n-1. Needs pos + n <= max_tokens. One dispatch. */
void ar_op_kv_append (ArCmd *cmd, ArDType dt, const ArBuffer *qkv, const ArAttnLayout *layout,
    ArBuffer *k_cache, ArBuffer *v_cache, guint pos, guint n);

/* For the @n query tokens in rows q_row.. of @qkv (layout->q_row, usually 0), at positions
 * pos..pos+n-1, attends causally to cache positions first..(own position) (also limited by
 * layout->window) and writes out [n, H*D] (dense; must not alias @qkv or the caches). The
 * caches must already hold positions first..pos+n-1 (ar_op_kv_append first, in the same
 * recording if wished, or the projection writing in-place caches); positions beyond are
 * never read. Needs first <= pos and pos + n <= max_tokens.
 * One dispatch. For n == 1 this is ar_op_attention_decode() without scratch. */
void ar_op_attention (ArCmd *cmd, ArDType dt, const ArBuffer *qkv, const ArAttnLayout *layout,
    const ArBuffer *k_cache, const ArBuffer *v_cache, ArBuffer *out, guint pos, guint n,
    guint first);

typedef enum {
  AR_ATTN_AUTO,    /* the device's best */
  AR_ATTN_ROWS,    /* one query per workgroup, one key per lane */
  AR_ATTN_LANES,   /* lanes across D, a few queries per workgroup (decode; CPU prefill); needs
                    * subgroup arithmetic, else ROWS runs */
  AR_ATTN_TILE,    /* a query per invocation, K/V blocks staged in shared memory (GPU prefill);
                    * head_dim <= 128, else ROWS runs */
  AR_ATTN_QUERY_LANES, /* a query per lane, the caches read as texel buffers (CPU prefill);
                        * needs head_dim % 4 == 0 (<= 128), 4-aligned query rows and caches
                        * that can be viewed as texel buffers, else LANES runs */
  AR_ATTN_KEY_LANES,   /* a key per lane, one workgroup per query and head, q and the caches
                        * read as texel buffers (CPU decode); needs subgroup arithmetic,
                        * head_dim % 4 == 0 (<= 128), 4-aligned query rows and texel-viewable
                        * buffers, else LANES runs */
  AR_ATTN_TILE_QUAD,   /* TILE with four lanes per query, each taking every fourth dimension
                        * (GPU prefill); needs subgroup shuffles, subgroups of at least 4 and
                        * head_dim % 4 == 0, else TILE runs */
} ArAttnKernel;

/* ar_op_attention_prefill() with the kernel chosen (tests run both); @scratch may be NULL. */
void ar_op_attention_ex (ArCmd *cmd, ArDType dt, const ArBuffer *qkv, const ArAttnLayout *layout,
    const ArBuffer *k_cache, const ArBuffer *v_cache, ArBuffer *out, guint pos, guint n,
    guint first, ArAttnKernel kernel, ArBuffer *scratch);

/* ar_op_attention() with an f32 @scratch buffer (at least
 * ar_op_attention_prefill_scratch_size() bytes for some n_max >= @n, not aliasing anything
 * else; no contents needed), or NULL. With it, a GPU's tile kernels split the keys of a small
 * grid (fewer than ~128 query blocks over all heads) across several workgroups and merge their
 * states in a second dispatch, so that each query's walk over the keys is shorter. */
void ar_op_attention_prefill (ArCmd *cmd, ArDType dt, const ArBuffer *qkv,
    const ArAttnLayout *layout, const ArBuffer *k_cache, const ArBuffer *v_cache, ArBuffer *out,
    guint pos, guint n, guint first, ArBuffer *scratch);

/* Bytes of the scratch ar_op_attention_prefill() may use for any n <= @n_max queries. */
gsize ar_op_attention_prefill_scratch_size (const ArAttnLayout *layout, guint n_max);

/* Tests: the workgroups TILE and TILE_QUAD split each query block's keys across (1..16, on
 * any device, where the scratch allows; 0 restores the default). Not thread-safe: set it
 * before recording, and before ar_op_attention_prefill_scratch_size(). */
void ar_op_attention_force_key_splits (guint splits);

/* Tests: the keys TILE and TILE_QUAD score together (1..8; 0 restores the default: 4 for
 * grids of fewer than 128 workgroups unless AR_VULKAN_AVOID names attention_keys4, else 1).
 * Not thread-safe: set it before recording. */
void ar_op_attention_force_key_group (guint keys);

/* Bytes of the f32 scratch buffer that ar_op_attention_decode() may use for @layout (any
 * position); it depends on the layout's heads and head_dim only. */
gsize ar_op_attention_scratch_size (const ArAttnLayout *layout);

/* How one-token attention over @keys keys splits them: about @target workgroups over @heads
 * heads, at least @min_keys keys each (rounded up to @block), at most 64 splits. Returns the
 * split count and sets @split_keys, the keys per split (the last one may have fewer). */
guint ar_attention_decode_splits (guint keys, guint heads, guint target, guint min_keys,
    guint block, guint *split_keys);

/* ar_op_attention() for one query token (row q_row of @qkv) at position @pos. With @scratch (at
 * least ar_op_attention_scratch_size() bytes, not aliasing anything else) long caches are
 * split across several workgroups per head and their partial results combined, on GPUs by
 * the last workgroup of each head (one dispatch), elsewhere by a second dispatch. The split
 * states need no contents, but the per-head counters at the end of @scratch must be zero
 * before its first use (ar_cmd_zero() on the whole buffer); every call leaves them zero.
 * With NULL, one workgroup per head and one dispatch. */
void ar_op_attention_decode (ArCmd *cmd, ArDType dt, const ArBuffer *qkv,
    const ArAttnLayout *layout, const ArBuffer *k_cache, const ArBuffer *v_cache, ArBuffer *out,
    guint pos, guint first, ArBuffer *scratch);

/* How split one-token attention merges its workgroups' partial states. */
typedef enum {
  AR_ATTN_COMBINE_AUTO,       /* FUSED on GPUs (unless AR_VULKAN_AVOID names decode_fused),
                               * else DISPATCH */
  AR_ATTN_COMBINE_DISPATCH,   /* a second dispatch, one workgroup per head */
  AR_ATTN_COMBINE_FUSED,      /* the last workgroup of each head to finish, in the same
                               * dispatch (per-head counters in the scratch buffer) */
} ArAttnCombine;

/* The same with @subgroups subgroups per workgroup taking alternate blocks of keys (0: the
 * device's default, 1 on CPUs and 4 on GPUs; at most 8) and the combine chosen. A subgroup
 * count or combine other than AUTO asks for the lanes-across-D kernel. For tests and tuning. */
void ar_op_attention_decode_ex (ArCmd *cmd, ArDType dt, const ArBuffer *qkv,
    const ArAttnLayout *layout, const ArBuffer *k_cache, const ArBuffer *v_cache, ArBuffer *out,
    guint pos, guint first, ArBuffer *scratch, guint subgroups, ArAttnCombine combine);

G_END_DECLS

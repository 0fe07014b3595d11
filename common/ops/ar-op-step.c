#include "ar-ops.h"
#include <math.h>

/* Work-group sizes: 8 subgroups of 32 lanes on GPUs (a task is 8 matrix rows); on CPU devices
 * 8 SIMD lanes x 8 (lavapipe runs one workgroup per thread). */
#define STEP_LOCAL_GPU 256
#define STEP_LOCAL_CPU 64
/* Workgroups taking tickets: enough for a GPU's multiprocessors to be busy in the wide
 * phases (AR_STEP_GROUPS overrides, for timing and tests). On CPU devices one by default,
 * which does every task in order and never waits: llvmpipe ends all of an invocation's loops
 * once they have run 65535 iterations in all (gallivm's loop limiter,
 * LP_MAX_TGSI_LOOP_ITERATIONS), so a workgroup spinning on a phase counter while another
 * thread works falls through its wait. Seen with 4 workgroups on 4 threads: tiny-gpt's tokens
 * varied from run to run and a step's tickets stopped short. So on CPU devices a wait reads
 * its counter STEP_POLLS_CPU times per loop iteration (unrolled), and a wait that ends early
 * sets the step's status word, which the caller reads (ar_step_status_offset()): the tests
 * run several workgroups on lavapipe that way, with the failure loud if a wait runs out (64
 * read-modify-writes per iteration, ~1 us: waits can last ~0.1 s. 256 took 2-3x longer to
 * compile; 4, or 32 plain loads, let waits run out under load or with cold shader caches).
 * Loops cut short elsewhere end the ticket loop too, which sets the status word's bit 2; the
 * per-model estimate (loop_bound()) keeps the bench cards off that path.
 * Attention splits the keys as if for several workgroups on CPU devices, so that the split
 * merge runs in the tests. */
/* GPUs: STEP_GROUPS_PER_SM workgroups per multiprocessor where the driver tells their number
 * (H200, `large`: 2 per SM, 264 in all, ran a frame's one-token steps in ~0.47 ms each
 * against ~0.72 with 128 workgroups and ~0.66 per op; more workgroups also split one-token
 * attention finer), else STEP_GROUPS_GPU. */
#define STEP_GROUPS_PER_SM 2
#define STEP_GROUPS_GPU 256
#define STEP_GROUPS_CPU 1
#define STEP_POLLS_CPU 64
#define STEP_SPLIT_TASKS_CPU 8
#define STEP_MIN_KEYS 32   /* least keys per attention task (AR_STEP_MIN_KEYS, for timing) */
/* Loop iterations a CPU device's step may need (estimated, see loop_bound()), under the
 * 65535 of llvmpipe's limiter with a margin. */
#define STEP_CPU_LOOP_BUDGET 50000
#define STEP_MAX_SPLITS 64   /* ar_attention_decode_splits()'s limit */
/* decode_step.comp's KB and STEP_COMBINE_BATCH: keys per block of a subgroup and split states
 * per batch of a merge, GPUs and CPU devices (fewer: unrolled loads cost llvmpipe compile
 * time, ~1.2 and ~2.6 s of a small model's two pipelines). H200, `large`: 8 keys per block let
 * a 64-key task's every key load before its wait; 16 per batch merge its 33 splits in one
 * round trip. */
#define STEP_KEYS_PER_BLOCK_GPU 8
#define STEP_KEYS_PER_BLOCK_CPU 4
#define STEP_COMBINE_BATCH_GPU 16
#define STEP_COMBINE_BATCH_CPU 4
#define STEP_MAX_R 8   /* head dims per lane */
/* Preloading a task's weight rows into registers before its wait (decode_step.comp's
 * PRELOAD): at most this many vec4s per lane, rows per subgroup included, so that they stay
 * in registers (fp32: 64 of them; large on a GPU: 16 vec4s at one row per subgroup). */
#define STEP_PRELOAD_MAX_VEC4 16
/* The folded kernel's MLP tasks: blocks of a task's fc1 rows (a block is one row per subgroup
 * and RPS): 2, so 128 tasks on `large` (2048 rows, 8 per block on a GPU), each adding 512
 * fixed-point products. A guess between fewer tasks and fewer atomics, not yet timed on a
 * GPU; AR_STEP_FFN_BLOCKS=1..16 overrides, for the sweep. More also cost compile time (each
 * block is a copy of the row code: seconds per pipeline on llvmpipe). */
#define STEP_FFN_BLOCKS 2
#define STEP_FFN_BLOCKS_MAX 16

/* Mirrors the push constants of shaders/decode_step.comp. */
typedef struct {
  guint32 dim, hidden, heads, head_dim;
  guint32 layers, ctx;
  guint32 cache_stride;
  guint32 vocab, head_hidden;
  guint32 pos;
  guint32 ctr_off;
  guint32 has_ledby;
  guint32 gelu_tanh;
  float eps;
  float scale;
  guint32 n_splits;     /* attention tasks per head */
  guint32 split_keys;   /* keys per attention task (the last may have fewer) */
  guint32 status_off;   /* uint element of the scratch: nonzero once a wait gave up */
  guint32 res_off;      /* fold: uint element of the fixed-point residual buffers */
} StepPush;
G_STATIC_ASSERT (sizeof (StepPush) == 76);

static guint64
a16 (guint64 n)
{
  return (n + 15) & ~(guint64) 15;
}

void
ar_step_layout (const ArStepShape *s, ArStepLayout *out)
{
  guint64 d = s->dim, hid = s->hidden, n1 = s->head_hidden ? s->head_hidden : s->vocab;
  const guint64 ln[AR_STEP_LAYER_TENSORS] = {
    [AR_STEP_N1W] = d, [AR_STEP_N1B] = d, [AR_STEP_QKVW] = 3 * d * d, [AR_STEP_QKVB] = 3 * d,
    [AR_STEP_PROJW] = d * d, [AR_STEP_PROJB] = d, [AR_STEP_N2W] = d, [AR_STEP_N2B] = d,
    [AR_STEP_FC1W] = hid * d, [AR_STEP_FC1B] = hid, [AR_STEP_FC2W] = d * hid, [AR_STEP_FC2B] = d,
  };
  const guint64 hn[AR_STEP_HEAD_TENSORS] = {
    [AR_STEP_POS_EMB] = (guint64) s->ctx * d, [AR_STEP_NFW] = d, [AR_STEP_NFB] = d,
    [AR_STEP_H1W] = n1 * d, [AR_STEP_H1B] = n1,
    [AR_STEP_H2W] = (guint64) s->vocab * s->head_hidden,
    [AR_STEP_H2B] = s->head_hidden ? s->vocab : 0,
  };
  guint64 off = 0;
  for (int i = 0; i < AR_STEP_LAYER_TENSORS; i++) {
    out->layer_off[i] = off;
    out->layer_n[i] = ln[i];
    off += a16 (ln[i]);
  }
  out->layer_size = off;
  off *= s->layers;
  for (int i = 0; i < AR_STEP_HEAD_TENSORS; i++) {
    out->head_off[i] = off;
    out->head_n[i] = hn[i];
    off += a16 (hn[i]);
  }
  out->total = off;
}

/* The longest matrix-vector input (K) of a step. The folded kernel reads fc2 by columns: its
 * input, hidden, is not among them. */
static guint32
matvec_widest (const ArStepShape *s)
{
  return MAX (MAX (s->dim, s->fold ? 0 : s->hidden), s->head_hidden);
}

static guint32
head_dims_per_lane (const ArDevice *dev, const ArStepShape *s)
{
  guint32 sg = MAX (dev->caps.subgroup_size, 1);
  return ar_div_up (s->dim / MAX (s->heads, 1), sg);
}

static guint32
local_size (const ArDevice *dev)
{
  return dev->caps.is_cpu ? STEP_LOCAL_CPU : STEP_LOCAL_GPU;
}

/* The count in environment variable @name when it is 1..@max (timing overrides), else
 * @fallback. */
static guint32
env_count (const char *name, guint32 max, guint32 fallback)
{
  const char *v = g_getenv (name);
  guint64 n = v ? g_ascii_strtoull (v, NULL, 10) : 0;
  return n >= 1 && n <= max ? (guint32) n : fallback;
}

/* Matrix rows per subgroup and task (AR_STEP_ROWS, 1..8, for timing): fewer, longer tasks. */
static guint32
rows_per_subgroup (void)
{
  return env_count ("AR_STEP_ROWS", 8, 1);
}

/* Rows of a matrix-vector task: one per subgroup and RPS. */
static guint32
rows_per_task (const ArDevice *dev)
{
  return local_size (dev) / MAX (dev->caps.subgroup_size, 1) * rows_per_subgroup ();
}

static guint32
ffn_blocks (void)
{
  return env_count ("AR_STEP_FFN_BLOCKS", STEP_FFN_BLOCKS_MAX, STEP_FFN_BLOCKS);
}

/* The folded kernel: an MLP task's fc1 rows (FFN_ROWS), and the most vec4 columns one of its
 * folds reads per row (FOLD_N4: a head's proj columns or an MLP task's fc2 columns). */
static guint32
ffn_rows (const ArDevice *dev)
{
  return rows_per_task (dev) * ffn_blocks ();
}

static guint32
fold_n4 (const ArDevice *dev, const ArStepShape *s)
{
  return s->fold ? ar_div_up (MAX (s->dim / MAX (s->heads, 1), ffn_rows (dev)), 4) : 1;
}

/* What xin holds (decode_step.comp's MAXK4 vec4s): staged inputs and the folds' inputs. */
static guint32
widest_input (const ArDevice *dev, const ArStepShape *s)
{
  return MAX (matvec_widest (s), 4 * fold_n4 (dev, s));
}

/* Shared memory of the kernel (decode_step.comp's declarations). */
static guint64
shared_bytes (const ArDevice *dev, const ArStepShape *s)
{
  guint64 wg = local_size (dev), maxk = widest_input (dev, s);
  /* xin, att_sh, m_sh and l_sh, the reductions' slots, combine.glsl's split weights and
   * denominators and its sums, flags, the folded kernel's ffn_h */
  return maxk * 4 + wg * STEP_MAX_R * 4 + 2 * wg * 4 + 2 * wg * 4 + 2 * STEP_MAX_SPLITS * 4
      + wg * 4 + 16
      + (s->fold ? (guint64) ffn_rows (dev) * 4 : 0);
}

guint32
ar_step_groups (const ArDevice *dev)
{
  guint32 n = env_count ("AR_STEP_GROUPS", 65535, 0);
  if (n)
    return n;
  if (dev->caps.is_cpu)
    return STEP_GROUPS_CPU;
  return dev->caps.multiprocessors ? STEP_GROUPS_PER_SM * dev->caps.multiprocessors
                                   : STEP_GROUPS_GPU;
}

/* Vec4s of a matrix row per lane (decode_step.comp's WV). */
static guint32
row_vec4_per_lane (const ArDevice *dev, const ArStepShape *s)
{
  return ar_div_up (ar_div_up (matvec_widest (s), 4), MAX (dev->caps.subgroup_size, 1));
}

/* decode_step.comp's PRELOAD bits: 1, a task's weight rows, where they fit; 2, an attention
 * task's first keys. AR_STEP_PRELOAD=0 turns both off, =rows the keys', for timing. */
static guint32
preload_bits (const ArDevice *dev, const ArStepShape *s)
{
  const char *env = g_getenv ("AR_STEP_PRELOAD");
  if (g_strcmp0 (env, "0") == 0)
    return 0;
  guint32 rows = row_vec4_per_lane (dev, s) * rows_per_subgroup () <= STEP_PRELOAD_MAX_VEC4;
  return rows | (g_strcmp0 (env, "rows") == 0 ? 0 : 2);
}

/* Blocks of rows a task preloads (decode_step.comp's PRELOAD_BLOCKS): the folded kernel's MLP
 * tasks as many of theirs as fit STEP_PRELOAD_MAX_VEC4 (`large` on a GPU: 4 vec4s a row, so
 * all of 2 or 4 blocks). */
static guint32
preload_blocks (const ArDevice *dev, const ArStepShape *s)
{
  if (!s->fold)
    return 1;
  guint32 per_block = row_vec4_per_lane (dev, s) * rows_per_subgroup ();
  return CLAMP (STEP_PRELOAD_MAX_VEC4 / MAX (per_block, 1), 1, ffn_blocks ());
}

static guint32
keys_per_block (const ArDevice *dev)
{
  return dev->caps.is_cpu ? STEP_KEYS_PER_BLOCK_CPU : STEP_KEYS_PER_BLOCK_GPU;
}

/* Attention tasks per head for @keys keys, and their keys (@split_keys). */
static guint32
step_splits (const ArDevice *dev, const ArStepShape *s, guint32 keys, guint32 *split_keys)
{
  guint32 tasks = dev->caps.is_cpu ? STEP_SPLIT_TASKS_CPU : ar_step_groups (dev);
  return ar_attention_decode_splits (keys, s->heads, tasks,
      env_count ("AR_STEP_MIN_KEYS", 1 << 20, STEP_MIN_KEYS), keys_per_block (dev),
      split_keys);
}

/* An upper bound of the loop iterations one SIMD chunk of the single CPU workgroup runs in a
 * step at the last position (decode_step.comp's loops: tickets, phase lookup and reductions,
 * input staging, the matrix-vector rows, the keys of each attention task and its merges). */
static guint64
loop_bound (const ArDevice *dev, const ArStepShape *s)
{
  guint64 wg = local_size (dev), sg = MAX (dev->caps.subgroup_size, 1), rps = rows_per_subgroup ();
  guint64 nsg = wg / sg, rows = nsg * rps;
  guint64 d = s->dim, hd = d / s->heads, n1 = s->head_hidden ? s->head_hidden : s->vocab;
  guint64 maxk4 = ar_div_up (widest_input (dev, s), 4);
  guint32 split_keys;
  guint64 splits = step_splits (dev, s, s->ctx, &split_keys);
  guint64 head_tasks = ar_div_up (n1, rows) + (s->head_hidden ? ar_div_up (s->vocab, rows) : 0);
  guint64 att_tasks = (guint64) s->layers * s->heads * splits;
  guint64 per_row_task = 40 + 3 * ar_div_up (maxk4, wg) + rps * (3 + ar_div_up (maxk4, 2 * sg));
  guint64 per_att_task = 40 + ar_div_up (split_keys, nsg) + STEP_MAX_R + 2 * nsg
      + ar_div_up (hd, wg) * (nsg + 2 * splits) + 2 * splits;
  if (!s->fold) {
    guint64 row_tasks = s->layers * (ar_div_up (3 * d, rows) + 2 * ar_div_up (d, rows)
        + ar_div_up (s->hidden, rows)) + head_tasks;
    return 1 + (row_tasks + 1) * per_row_task + att_tasks * per_att_task;
  }
  /* Folded: qkv and head tasks as above; MLP tasks of FB blocks, their fc2 columns and (task
   * 0) the residual carried; per head and layer proj's columns; the zeroing in qkv task 0. */
  guint64 fb = ffn_blocks (), n_ffn_rows = rows * fb, rows_d = ar_div_up (d, wg);
  guint64 ffn_tasks = ar_div_up (ar_div_up (s->hidden, rows), fb);
  guint64 per_ffn_task = 40 + 3 * ar_div_up (maxk4, wg)
      + fb * rps * (3 + ar_div_up (maxk4, 2 * sg)) + ar_div_up (n_ffn_rows / 4, wg)
      + rows_d * (n_ffn_rows / 4 + 1);
  guint64 per_layer = ar_div_up (3 * d, rows) * per_row_task + ffn_tasks * per_ffn_task
      + s->heads * (ar_div_up (hd / 4, wg) + rows_d * (hd / 4 + 1)) + 2 * rows_d
      + ar_div_up (d / 4, wg);
  return 1 + s->layers * per_layer + (head_tasks + 1) * per_row_task + att_tasks * per_att_task;
}

static gboolean check_loop_budget = TRUE;

void
ar_step_check_loop_budget (gboolean check)
{
  check_loop_budget = check;
}

gboolean
ar_step_supported (ArDevice *dev, ArDType dt, const ArStepShape *s, GError **error)
{
  const char *why = NULL;
  if (dt == AR_F16 && !dev->caps.fp16_storage)
    why = "no fp16 storage";
  else if (!dev->caps.subgroup_arith)
    why = "no subgroup arithmetic";
  else if (s->heads == 0 || s->dim % s->heads || s->dim % 4 || s->hidden % 4 || s->head_hidden % 4)
    why = "dim, mlp_hidden and head_hidden must be multiples of 4, dim of heads";
  else if (head_dims_per_lane (dev, s) > STEP_MAX_R)
    why = "head dimension above 8 per subgroup lane";
  else if (shared_bytes (dev, s) > dev->props.limits.maxComputeSharedMemorySize)
    why = "mlp_hidden too wide for shared memory";
  else if (local_size (dev) % MAX (dev->caps.subgroup_size, 1))
    why = "workgroup size not a multiple of the subgroup size";
  else if (s->fold && !dev->caps.int64_atomics)
    why = "the folded kernel needs 64-bit integer atomics";
  else if (s->fold && ((s->dim / s->heads) % 4 || rows_per_task (dev) % 4))
    why = "the folded kernel needs head dims and task rows in multiples of 4";
  if (why) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "fused decode step: %s", why);
    return FALSE;
  }
  if (check_loop_budget && dev->caps.is_cpu && loop_bound (dev, s) > STEP_CPU_LOOP_BUDGET) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "fused decode step: this model's step needs up "
        "to %" G_GUINT64_FORMAT " loop iterations per invocation, and llvmpipe ends an "
        "invocation's loops after 65535", loop_bound (dev, s));
    return FALSE;
  }
  return TRUE;
}

/* Scratch layout (decode_step.comp): fp32 x, att, mlp, split states; the folded kernel's
 * three int64 residual buffers; the status word (16 uints reserved); then per step 1 ticket,
 * a done counter per phase (embed, 5 per layer, 2 head; folded: 3 per layer, 2 head) and
 * layers x heads merge counters. */
static guint64
residual_offset (const ArStepShape *s)
{
  guint64 hd = s->dim / MAX (s->heads, 1);
  return a16 (2 * a16 (s->dim) + a16 (MAX (s->hidden, s->head_hidden))
      + (guint64) s->heads * STEP_MAX_SPLITS * (hd + 2));
}

static guint64
scratch_fixed (const ArStepShape *s)
{
  return residual_offset (s) + (s->fold ? a16 (3 * 2 * (guint64) s->dim) : 0);
}

static guint64
counters_per_step (const ArStepShape *s)
{
  guint64 phases = s->fold ? 3 * (guint64) s->layers + 2 : 1 + 5 * (guint64) s->layers + 2;
  return a16 (1 + phases + (guint64) s->layers * s->heads);
}

#define STEP_STATUS_WORDS 16

gsize
ar_step_scratch_size (const ArStepShape *s, guint steps)
{
  return (scratch_fixed (s) + STEP_STATUS_WORDS + counters_per_step (s) * MAX (steps, 1)) * 4;
}

gsize
ar_step_status_offset (const ArStepShape *s)
{
  return scratch_fixed (s) * 4;
}

static guint64
counters_offset (const ArStepShape *s, guint step)
{
  return scratch_fixed (s) + STEP_STATUS_WORDS + counters_per_step (s) * step;
}

gsize
ar_step_ticket_offset (const ArStepShape *s, guint step)
{
  return counters_offset (s, step) * 4;
}

guint32
ar_step_phases (const ArStepShape *s)
{
  guint32 head = s->head_hidden ? 2 : 1;
  return s->fold ? 3 * s->layers + head : 1 + 5 * s->layers + head;
}

guint32
ar_step_tasks (const ArDevice *dev, const ArStepShape *s, guint32 pos)
{
  guint32 rows = rows_per_task (dev), split_keys;
  guint32 splits = step_splits (dev, s, pos + 1, &split_keys);
  guint32 per_layer = ar_div_up (3 * s->dim, rows) + s->heads * splits;
  if (s->fold)
    per_layer += ar_div_up (ar_div_up (s->hidden, rows), ffn_blocks ());
  else
    per_layer += 2 * ar_div_up (s->dim, rows) + ar_div_up (s->hidden, rows);
  guint32 head = ar_div_up (s->head_hidden ? s->head_hidden : s->vocab, rows)
      + (s->head_hidden ? ar_div_up (s->vocab, rows) : 0);
  return (s->fold ? 0 : 1) + s->layers * per_layer + head;
}

static void
record_step (ArCmd *cmd, ArDType dt, const ArStepShape *s, const ArBuffer *weights,
    ArBuffer *caches, const ArBuffer *table, const ArBuffer *ids, const ArBuffer *ledby,
    ArBuffer *scratch, ArBuffer *logits, guint32 pos, guint32 step, ArBuffer *trace)
{
  const char *op = trace ? "decode_step (traced)" : "decode_step";
  ArDevice *dev = ar_cmd_device (cmd);
  GError *err = NULL;
  if (!ar_step_supported (dev, dt, s, &err)) {
    ar_cmd_fail (cmd, err);
    return;
  }
  if (trace && !dev->caps.device_clock) {
    ar_cmd_fail_invalid (cmd, "%s: the device has no shader device clock (VK_KHR_shader_clock's "
        "shaderDeviceClock)", op);
    return;
  }
  if (s->cache_stride < (guint64) s->ctx * 3 * s->dim) {
    ar_cmd_fail_invalid (cmd, "%s: cache stride %u below %u positions of %u", op, s->cache_stride,
        s->ctx, 3 * s->dim);
    return;
  }
  if (pos >= s->ctx) {
    ar_cmd_fail_invalid (cmd, "%s: position %u outside the %u-position cache", op, pos, s->ctx);
    return;
  }
  gsize es = ar_dtype_size (dt);
  ArStepLayout lay;
  ar_step_layout (s, &lay);
  guint64 ctr_off = counters_offset (s, step);
  if (lay.total > G_MAXUINT32 || (guint64) s->layers * s->cache_stride > G_MAXUINT32) {
    ar_cmd_fail_invalid (cmd, "%s: weights or caches exceed the 32-bit index range", op);
    return;
  }
  if (!ar_op_check_size (cmd, op, "weights", weights, lay.total, es)
      || !ar_op_check_size (cmd, op, "caches", caches,
          (guint64) (s->layers - 1) * s->cache_stride + (guint64) s->ctx * 3 * s->dim, es)
      || !ar_op_check_size (cmd, op, "table", table, (guint64) s->table_rows * s->dim, es)
      || !ar_op_check_size (cmd, op, "ids", ids, (guint64) pos + 1, 4)
      || (s->ledby && !ar_op_check_size (cmd, op, "ledby", ledby, (guint64) pos + 1, 4))
      || !ar_op_check_size (cmd, op, "scratch", scratch, ctr_off + counters_per_step (s), 4)
      || !ar_op_check_size (cmd, op, "logits", logits, s->vocab, es)
      || (trace && !ar_op_check_size (cmd, op, "trace", trace,
          (guint64) ar_step_tasks (dev, s, pos) * AR_STEP_TRACE_WORDS, 4)))
    return;
  guint32 hd = s->dim / s->heads;
  guint32 groups = ar_step_groups (dev);
  StepPush pc = {
    .dim = s->dim, .hidden = s->hidden, .heads = s->heads, .head_dim = hd,
    .layers = s->layers, .ctx = s->ctx, .cache_stride = s->cache_stride, .vocab = s->vocab,
    .head_hidden = s->head_hidden,
    .pos = pos, .ctr_off = (guint32) ctr_off, .has_ledby = s->ledby, .gelu_tanh = s->gelu_tanh,
    .eps = s->eps, .scale = 1.0f / sqrtf ((float) hd),
    .status_off = (guint32) (ar_step_status_offset (s) / 4),
    .res_off = (guint32) residual_offset (s),
  };
  pc.n_splits = step_splits (dev, s, pos + 1, &pc.split_keys);
  guint32 spec[] = { local_size (dev), ar_div_up (widest_input (dev, s), 4),
    MAX (head_dims_per_lane (dev, s), 1), rows_per_subgroup (),
    dev->caps.is_cpu ? STEP_POLLS_CPU : 1, row_vec4_per_lane (dev, s), preload_bits (dev, s),
    dev->caps.is_cpu, ffn_blocks (), ffn_rows (dev), fold_n4 (dev, s),
    preload_blocks (dev, s), keys_per_block (dev),
    dev->caps.is_cpu ? STEP_COMBINE_BATCH_CPU : STEP_COMBINE_BATCH_GPU };
  /* ledby is not read without s->ledby; any buffer fills the binding. */
  ArBinding bind[] = { AR_READ (weights), AR_WRITE (caches), AR_READ (table), AR_READ (ids),
    AR_READ (s->ledby ? ledby : ids), AR_WRITE (scratch), AR_WRITE (logits), AR_WRITE (trace) };
  const ArShader *sh = trace
      ? (s->fold ? AR_SHADER (decode_step_fold_trace, dt) : AR_SHADER (decode_step_trace, dt))
      : (s->fold ? AR_SHADER (decode_step_fold, dt) : AR_SHADER (decode_step, dt));
  ar_cmd_dispatch (cmd, sh, spec, G_N_ELEMENTS (spec), bind, trace ? 8 : 7, &pc, sizeof pc,
      groups, 1, 1);
}

void
ar_op_decode_step (ArCmd *cmd, ArDType dt, const ArStepShape *s, const ArBuffer *weights,
    ArBuffer *caches, const ArBuffer *table, const ArBuffer *ids, const ArBuffer *ledby,
    ArBuffer *scratch, ArBuffer *logits, guint32 pos, guint32 step)
{
  record_step (cmd, dt, s, weights, caches, table, ids, ledby, scratch, logits, pos, step, NULL);
}

void
ar_op_decode_step_traced (ArCmd *cmd, ArDType dt, const ArStepShape *s,
    const ArBuffer *weights, ArBuffer *caches, const ArBuffer *table, const ArBuffer *ids,
    const ArBuffer *ledby, ArBuffer *scratch, ArBuffer *logits, guint32 pos, guint32 step,
    ArBuffer *trace)
{
  record_step (cmd, dt, s, weights, caches, table, ids, ledby, scratch, logits, pos, step,
      trace);
}

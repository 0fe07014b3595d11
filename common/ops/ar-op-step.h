/* One one-token step of a gpt predictor in one dispatch (shaders/decode_step.comp): the
 * embedding of the token at a position, every layer, the final norm and the head. */
#pragma once

G_BEGIN_DECLS

typedef struct {
  guint32 dim, hidden, heads, layers;
  guint32 ctx;           /* positions per layer in the cache (and pos_emb rows packed) */
  guint32 cache_stride;  /* elements from one layer's cache to the next's, >= ctx * 3 dim */
  guint32 vocab;
  guint32 head_hidden;   /* 0: one head matrix; else Linear -> ReLU -> Linear (IRIS) */
  guint32 table_rows;    /* rows of the embedding table */
  gboolean gelu_tanh;
  gboolean ledby;        /* add table[ledby[pos]] (actions added to their frame's tokens) */
  float eps;
  /* The folded kernel (decode_step_fold): three phases per layer instead of five, proj and
   * fc2 folded into the tasks before them, the residual summed with 64-bit integer atomics.
   * Needs ArDeviceCaps.int64_atomics. Its scratch layout differs: size it with the same. */
  gboolean fold;
} ArStepShape;

/* The packed weights: per layer these tensors, at layer_off[] within layer l's
 * l * layer_size elements, then the head tensors at head_off[]. Every tensor starts on a
 * multiple of 16 elements. Matrices are [rows, K] K-contiguous, as nn.Linear stores them. */
typedef enum {
  AR_STEP_N1W, AR_STEP_N1B, AR_STEP_QKVW, AR_STEP_QKVB, AR_STEP_PROJW, AR_STEP_PROJB,
  AR_STEP_N2W, AR_STEP_N2B, AR_STEP_FC1W, AR_STEP_FC1B, AR_STEP_FC2W, AR_STEP_FC2B,
  AR_STEP_LAYER_TENSORS
} ArStepLayerTensor;

typedef enum {
  AR_STEP_POS_EMB,   /* ctx rows */
  AR_STEP_NFW, AR_STEP_NFB,
  AR_STEP_H1W, AR_STEP_H1B,   /* head (or head.fc1) */
  AR_STEP_H2W, AR_STEP_H2B,   /* head.fc2; empty without head_hidden */
  AR_STEP_HEAD_TENSORS
} ArStepHeadTensor;

typedef struct {
  guint64 layer_size;
  guint64 layer_off[AR_STEP_LAYER_TENSORS], layer_n[AR_STEP_LAYER_TENSORS];
  guint64 head_off[AR_STEP_HEAD_TENSORS], head_n[AR_STEP_HEAD_TENSORS];
  guint64 total;   /* elements */
} ArStepLayout;

void ar_step_layout (const ArStepShape *s, ArStepLayout *out);

/* Whether @dev runs the step for @s with @dt storage; else FALSE with the reason. */
gboolean ar_step_supported (ArDevice *dev, ArDType dt, const ArStepShape *s, GError **error);

/* Tests: FALSE lets CPU devices run shapes past llvmpipe's loop limit, which their status
 * word then reports (AR_STEP_STATUS_LOOP_LIMIT). Not thread-safe: set it before recording. */
void ar_step_check_loop_budget (gboolean check);

/* Bytes of scratch for @steps steps recorded before the scratch is zeroed again: the fp32
 * activations and split states, then each step's own counters (which must be zero when the
 * step runs: ar_cmd_zero the scratch at the start of a recording). */
gsize ar_step_scratch_size (const ArStepShape *s, guint steps);

/* Workgroups of a fused step on @dev (AR_STEP_GROUPS overrides): one on CPU devices, about
 * two per multiprocessor on GPUs. */
guint32 ar_step_groups (const ArDevice *dev);

/* Byte offset in the scratch of the steps' status word (a guint32, zeroed with the scratch):
 * nonzero when a step's results are not to be used, with these bits. */
#define AR_STEP_STATUS_WAIT_GAVE_UP 1u   /* a wait of seconds (or llvmpipe's loop limit in it) */
#define AR_STEP_STATUS_LOOP_LIMIT 2u     /* llvmpipe's loop limit ended the task loop */
gsize ar_step_status_offset (const ArStepShape *s);

/* Tests: byte offset in the scratch of step @step's ticket counter (a guint32; the first task
 * goes to whoever reads 0 there). */
gsize ar_step_ticket_offset (const ArStepShape *s, guint step);

/* Records step @step (0.., < the @steps of the scratch's size) at position @pos: reads
 * ids[pos] (and ledby[pos]), the caches' rows < pos of each layer ([ctx][3 dim] q|k|v
 * rows as ar_attn_layout_in_place, layer l at l * cache_stride), writes row pos of each layer's cache and the logits [vocab]. */
void ar_op_decode_step (ArCmd *cmd, ArDType dt, const ArStepShape *s, const ArBuffer *weights,
    ArBuffer *caches, const ArBuffer *table, const ArBuffer *ids, const ArBuffer *ledby,
    ArBuffer *scratch, ArBuffer *logits, guint32 pos, guint32 step);

/* The fused step's trace (benchmarks, tests): ar_op_decode_step() that also writes each
 * task's timeline to @trace, AR_STEP_TRACE_WORDS guint32s per task in ticket order
 * (ar_step_tasks() of them): its global phase (0.. ar_step_phases() - 1), its task within the
 * phase, its workgroup, 0, then four 64-bit device-clock stamps (lo, hi): ticket read, wait
 * begun (weights preloaded), wait ended, stores done (before its done counter moves). A task
 * starts after every task of the phase before it is done, so on a device whose clock all
 * workgroups share, a phase's "wait ended" stamps are never before the previous phase's "done"
 * ones. Needs ArDeviceCaps.device_clock (VK_KHR_shader_clock's shaderDeviceClock), else the
 * recording fails with an error. */
#define AR_STEP_TRACE_WORDS 12
void ar_op_decode_step_traced (ArCmd *cmd, ArDType dt, const ArStepShape *s,
    const ArBuffer *weights, ArBuffer *caches, const ArBuffer *table, const ArBuffer *ids,
    const ArBuffer *ledby, ArBuffer *scratch, ArBuffer *logits, guint32 pos, guint32 step,
    ArBuffer *trace);

/* Tasks of a step at position @pos on @dev, and its global phases: (plain) the embedding,
 * qkv, attention, proj, fc1 and fc2 per layer, the head's one or two; (folded) qkv, attention
 * and MLP per layer, the head's. */
guint32 ar_step_tasks (const ArDevice *dev, const ArStepShape *s, guint32 pos);
guint32 ar_step_phases (const ArStepShape *s);

G_END_DECLS

#version 450
// One one-token step of the gpt predictor (models/arvideo/reference.py, LayerNorm, GELU MLP,
// absolute positions) in one dispatch: the embedding of the token at pc.pos, every layer,
// the final norm and the head, logits out. The per-op recording runs ~5 dependent dispatches
// per layer for this; on a GPU each costs more in launch and pipeline-barrier latency than
// its work (NVIDIA H100, `large`: ~65 dispatches and ~770 us per step for ~75 MB of weights).
//
// Work is split into tasks, phase after phase: embed; per layer qkv rows (LayerNorm fused),
// attention (heads x key splits), proj rows (+ residual), fc1 rows (LayerNorm + GELU), fc2
// rows (+ residual); head rows. Workgroups take tasks in order from one atomic counter
// (ticket), and a task first waits until every task of the phase before it is done (a done
// counter per phase). This cannot deadlock however many workgroups run at once: a task is
// only taken after all earlier ones were taken, by workgroups that are running, and every
// task waits only on earlier ones. A workgroup that starts late, or never, finds the
// tickets gone. A task loads its weight rows before its wait, and waits are bounded: one that
// gives up sets a status word the host reads (wait_phase()). CPU devices run one workgroup,
// which never waits (llvmpipe cuts an invocation's loops short after 65535 iterations in all,
// waits included; ar-op-step.c), unless AR_STEP_GROUPS asks for more (the tests do).
//
// Activations between phases stay fp32 in the scratch buffer (coherent: other workgroups of
// this dispatch read them); q|k|v rows go to the cache in the storage type, as the per-op
// path writes them. The last attention task of a head merges the head's split states.
//
// FOLD (decode_step_fold): three phases per layer instead of five, so fewer waits: qkv rows;
// attention, where the task that finishes a head also multiplies it by that head's columns of
// proj; and the MLP, a task taking a block of fc1 rows (+ GELU) and their columns of fc2. The
// folded products are partial sums of the residual from many tasks, added with 64-bit integer
// atomics into fixed-point residual buffers (2^-32 units): integer sums do not depend on their
// order, so the step's results stay the same from run to run. The embedding is computed by
// layer 0's qkv tasks (no phase of its own). Residual values must stay within +-2e9.
//
// Weights are one packed buffer: per layer n1w n1b qkvw qkvb projw projb n2w n2b fc1w fc1b fc2w
// fc2b, then pos_emb ln_f.w ln_f.b head(.fc1).w .b [head.fc2.w .b], each segment rounded up
// to 16 elements (ar_step_layout() in common/ops/ar-op-step.c is the same).
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_memory_scope_semantics : require
#ifdef FOLD
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#extension GL_EXT_shader_atomic_int64 : require
#endif
#ifdef TRACE
#extension GL_EXT_shader_realtime_clock : require
#endif
#include "common.glsl"
#include "activation.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MAXK4 = 256;  // vec4s of the longest matrix-vector input
layout(constant_id = 2) const uint R = 8;        // head dims per lane: >= head_dim / subgroup size
layout(constant_id = 3) const uint RPS = 1;      // matrix rows per subgroup and task
// Counter reads per iteration of a wait loop: many on CPU devices, where llvmpipe counts an
// invocation's loop iterations (see wait_phase()).
layout(constant_id = 4) const uint POLLS = 1;
// Preloading: a task's weight rows (PRELOAD bit 0) and an attention task's first keys (bit 1)
// are loaded into registers before it waits for the phase before it (they do not depend on
// it), WV vec4s per lane and row (>= MAXK4 / subgroup size), so their memory latency overlaps
// the wait. Otherwise they are loaded after it.
layout(constant_id = 5) const uint WV = 1;
layout(constant_id = 6) const uint PRELOAD = 0;
layout(constant_id = 7) const uint POLL_RMW = 0;   // poll with atomicAdd(0) (CPU devices)
// FOLD: blocks of rows_per_task() fc1 rows per MLP task, and FFN_ROWS = their rows.
layout(constant_id = 8) const uint FFN_BLOCKS = 1;
layout(constant_id = 9) const uint FFN_ROWS = 8;
// FOLD: the most vec4 columns a fold reads per row, max(head_dim, FFN_ROWS) / 4 (<= MAXK4).
layout(constant_id = 10) const uint FOLD_N4 = 16;
// Blocks of rows preloaded (the MLP tasks' first PRELOAD_BLOCKS; other tasks have one).
layout(constant_id = 11) const uint PRELOAD_BLOCKS = 1;
// Attention: keys per block of a subgroup, all loaded at once. Split states a merge loads at
// once per lane (combine.glsl). Fewer on CPU devices, where every unrolled load costs compile
// time (llvmpipe: seconds per pipeline) and none waits.
layout(constant_id = 12) const uint KB = 8;
layout(constant_id = 13) const uint STEP_COMBINE_BATCH = 16;
#define COMBINE_BATCH STEP_COMBINE_BATCH

layout(std430, binding = 0) readonly buffer Wt { STYPE w[]; };
layout(std430, binding = 0) readonly buffer Wt4 { STYPE4 w4[]; };
// The layers' q|k|v rows, [ctx][3 dim] per layer, cache_stride apart. Rows of earlier
// positions were written by earlier dispatches; this position's by this one, so those are
// read coherently.
layout(std430, binding = 1) readonly buffer KV { STYPE kv[]; };
layout(std430, binding = 1) coherent buffer KVC { STYPE kvc[]; };
layout(std430, binding = 2) readonly buffer Table { STYPE table[]; };
layout(std430, binding = 2) readonly buffer Table4 { STYPE4 table4[]; };
layout(std430, binding = 3) readonly buffer Ids { uint ids[]; };
layout(std430, binding = 4) readonly buffer Ledby { uint ledby[]; };
layout(std430, binding = 5) coherent buffer Scr { float scr[]; };
layout(std430, binding = 5) coherent buffer Scr4 { vec4 scr4[]; };
layout(std430, binding = 5) coherent buffer Ctr { uint ctr[]; };
#ifdef FOLD
layout(std430, binding = 5) coherent buffer Res { int64_t res[]; };
layout(std430, binding = 5) coherent buffer Res4 { i64vec4 res4[]; };
#endif
layout(std430, binding = 6) writeonly buffer Logits { STYPE logits[]; };
#ifdef TRACE
// TRACE (decode_step_trace, decode_step_fold_trace): each task's timeline, by ticket, 12
// words: phase, task, workgroup, 0, then device-clock stamps (lo, hi) when the ticket was
// read, when the wait began (weights preloaded), when it ended, and when the task's stores
// were done (before its done counter moves). ar_op_decode_step_traced() in ar-op-step.c.
layout(std430, binding = 7) writeonly buffer Trace { uint trace[]; };
const uint TRACE_WORDS = 12u;
#endif

// StepPush in common/ops/ar-op-step.c.
layout(push_constant) uniform Push {
    uint dim, hidden, heads, head_dim;
    uint layers, ctx;         // ctx: positions per layer in the cache
    uint cache_stride;        // elements between two layers' caches
    uint vocab, head_hidden;  // head_hidden 0: one head matrix
    uint pos;                 // the position this step computes
    uint ctr_off;             // this step's counters (uint elements of the scratch)
    uint has_ledby;           // add the table row ledby[pos] (actions added to frames)
    uint gelu_tanh;
    float eps;
    float scale;              // attention score scale
    uint n_splits;            // attention tasks per head (ar_attention_decode_splits)
    uint split_keys;          // keys per attention task, the last one's maybe fewer
    uint status_off;          // uint element of the scratch: nonzero once a wait gave up
    uint res_off;             // FOLD: uint element of the residual buffers (a multiple of 8)
} pc;

const float NEG = -3.0e38;

#define AR_SUBGROUP
#include "reduce.glsl"

shared vec4 xin[MAXK4];                   // the staged (normalised) input of a matrix-vector task
shared float att_sh[gl_WorkGroupSize.x * R];
shared float m_sh[gl_WorkGroupSize.x], l_sh[gl_WorkGroupSize.x];
shared uint sh_ticket;
#ifdef FOLD
shared float ffn_h[FFN_ROWS];             // an MLP task's fc1 rows (after GELU)
#endif
shared bool sh_last;

uint a16(uint n) { return (n + 15u) & ~15u; }

// Where things are: element offsets in the packed weights and in the scratch.
struct LayerW { uint n1w, n1b, qkvw, qkvb, projw, projb, n2w, n2b, fc1w, fc1b, fc2w, fc2b, size; };

LayerW layer_w(uint l)
{
    uint d = a16(pc.dim);
    LayerW s;
    s.n1w = 0u;
    s.n1b = d;
    s.qkvw = 2u * d;
    s.qkvb = s.qkvw + a16(3u * pc.dim * pc.dim);
    s.projw = s.qkvb + a16(3u * pc.dim);
    s.projb = s.projw + a16(pc.dim * pc.dim);
    s.n2w = s.projb + d;
    s.n2b = s.n2w + d;
    s.fc1w = s.n2b + d;
    s.fc1b = s.fc1w + a16(pc.hidden * pc.dim);
    s.fc2w = s.fc1b + a16(pc.hidden);
    s.fc2b = s.fc2w + a16(pc.dim * pc.hidden);
    s.size = s.fc2b + d;
    uint base = l * s.size;
    s.n1w += base; s.n1b += base; s.qkvw += base; s.qkvb += base; s.projw += base;
    s.projb += base; s.n2w += base; s.n2b += base; s.fc1w += base; s.fc1b += base;
    s.fc2w += base; s.fc2b += base;
    return s;
}

struct HeadW { uint pos_emb, nfw, nfb, h1w, h1b, h2w, h2b; };

HeadW head_w()
{
    uint d = a16(pc.dim);
    uint n1 = pc.head_hidden > 0u ? pc.head_hidden : pc.vocab;
    HeadW s;
    s.pos_emb = pc.layers * layer_w(0u).size;
    s.nfw = s.pos_emb + a16(pc.ctx * pc.dim);
    s.nfb = s.nfw + d;
    s.h1w = s.nfb + d;
    s.h1b = s.h1w + a16(n1 * pc.dim);
    s.h2w = s.h1b + a16(n1);
    s.h2b = s.h2w + a16(pc.vocab * pc.head_hidden);
    return s;
}

// Scratch (fp32): x [dim], att [dim], mlp [max(hidden, head_hidden)], split states.
uint scr_x() { return 0u; }
uint scr_att() { return a16(pc.dim); }
uint scr_mlp() { return 2u * a16(pc.dim); }
uint scr_part() { return scr_mlp() + a16(max(pc.hidden, pc.head_hidden)); }

// Global phases: [embed,] then PPL per layer, then the head's one or two.
#ifdef FOLD
const uint FIRST = 0u, PPL = 3u;   // layer 0's qkv tasks embed
const uint PH_QKV = 0u, PH_ATT = 1u, PH_FFN = 2u;
#else
const uint FIRST = 1u, PPL = 5u;   // phase 0: embed
const uint PH_QKV = 0u, PH_ATT = 1u, PH_PROJ = 2u, PH_FC1 = 3u, PH_FC2 = 4u;
#endif

uint head_phase() { return FIRST + PPL * pc.layers; }

// Counters of a step: [0] the ticket, [1 + g] tasks of global phase g done, then one per
// layer and head for the split merge (C: counters_per_step() in ar-op-step.c).
uint head_counter(uint l, uint h) { return 1u + head_phase() + 2u + l * pc.heads + h; }

uint rows_per_task() { return gl_NumSubgroups * RPS; }
uint n_row_tasks(uint rows) { return (rows + rows_per_task() - 1u) / rows_per_task(); }

uint phase_tasks(uint ph)   // ph within a layer
{
    if (ph == PH_QKV) return n_row_tasks(3u * pc.dim);
    if (ph == PH_ATT) return pc.heads * pc.n_splits;
#ifdef FOLD
    return (n_row_tasks(pc.hidden) + FFN_BLOCKS - 1u) / FFN_BLOCKS;
#else
    if (ph == PH_FC1) return n_row_tasks(pc.hidden);
    return n_row_tasks(pc.dim);
#endif
}

uint layer_tasks()
{
    uint n = 0u;
    for (uint ph = 0u; ph < PPL; ph++)
        n += phase_tasks(ph);
    return n;
}

uint head1_tasks() { return n_row_tasks(pc.head_hidden > 0u ? pc.head_hidden : pc.vocab); }
uint head2_tasks() { return pc.head_hidden > 0u ? n_row_tasks(pc.vocab) : 0u; }

// Tasks of global phase g.
uint global_phase_tasks(uint g)
{
    if (g < FIRST) return 1u;   // embed
    if (g < head_phase()) return phase_tasks((g - FIRST) % PPL);
    return g == head_phase() ? head1_tasks() : head2_tasks();
}

// A workgroup barrier that also orders buffer memory (barrier() alone orders shared memory
// only): what invocation 0 acquired is visible to everyone's reads after it.
void buffer_barrier()
{
    controlBarrier(gl_ScopeWorkgroup, gl_ScopeWorkgroup,
        gl_StorageSemanticsBuffer | gl_StorageSemanticsShared, gl_SemanticsAcquireRelease);
}

// --- matrix-vector tasks ---------------------------------------------------------------

// Vec4s of a staged input per invocation, at most.
const uint STAGE_IT = (MAXK4 + gl_WorkGroupSize.x - 1u) / gl_WorkGroupSize.x;

// Where a staged input comes from: fp32 scratch, FOLD's fixed-point residual, or (FOLD, layer
// 0) the embedding of the token at pc.pos.
const uint SRC_SCR = 0u, SRC_RES = 1u, SRC_EMBED = 2u;

// The input's vec4 k; @in_off counts elements of the source (int64 ones for SRC_RES).
vec4 input4(uint src, uint in_off, uint k)
{
#ifdef FOLD
    if (src == SRC_RES)
        return vec4(res4[in_off / 4u + k]) * (1.0 / 4294967296.0);
    if (src == SRC_EMBED) {
        vec4 v = vec4(table4[ids[pc.pos] * (pc.dim / 4u) + k])
            + vec4(w4[(head_w().pos_emb + pc.pos * pc.dim) / 4u + k]);
        if (pc.has_ledby != 0u)
            v += vec4(table4[ledby[pc.pos] * (pc.dim / 4u) + k]);
        return v;
    }
#endif
    return scr4[in_off / 4u + k];
}

// Stages K inputs (input4()) into xin, LayerNorm'ed with weights at g_off and b_off when
// @norm. Whole workgroup. Each invocation loads its inputs (and norm weights) once, all loads
// in flight together, and keeps them in registers through both reductions: one memory round
// trip per task instead of four in a row.
void stage_input(uint src, uint in_off, uint K, bool norm, uint g_off, uint b_off)
{
    uint lid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x, K4 = K / 4u;
    vec4 v[STAGE_IT], gam[STAGE_IT], bet[STAGE_IT];
    float s = 0.0;
    [[unroll]] for (uint i = 0u; i < STAGE_IT; i++) {
        uint k = lid + i * WG;
        bool inside = k < K4;
        v[i] = inside ? input4(src, in_off, k) : vec4(0.0);
        gam[i] = inside && norm ? vec4(w4[g_off / 4u + k]) : vec4(1.0);
        bet[i] = inside && norm ? vec4(w4[b_off / 4u + k]) : vec4(0.0);
        s += v[i].x + v[i].y + v[i].z + v[i].w;
    }
    float mean = 0.0, rstd = 1.0;
    if (norm) {
        mean = ar_wg_sum(s, 0u) / float(K);
        float q = 0.0;
        [[unroll]] for (uint i = 0u; i < STAGE_IT; i++) {
            vec4 c = v[i] - mean;
            q += lid + i * WG < K4 ? dot(c, c) : 0.0;
        }
        rstd = 1.0 / sqrt(ar_wg_sum(q, 1u) / float(K) + pc.eps);
    }
    [[unroll]] for (uint i = 0u; i < STAGE_IT; i++) {
        uint k = lid + i * WG;
        if (k < K4)
            xin[k] = norm ? (v[i] - mean) * rstd * gam[i] + bet[i] : v[i];
    }
    memoryBarrierShared();
    barrier();
    // Both reductions' slots are free again once everyone is past this point.
}

const uint OUT_SCR = 0u, OUT_SCR_ADD = 1u, OUT_CACHE = 2u, OUT_LOGITS = 3u, OUT_SHARED = 4u;
const uint ACT_NONE = 0u, ACT_GELU = 1u, ACT_RELU = 2u;

// A task's matrix: weights at w_off, N rows of K. Phases without one return false.
bool task_matrix(uint g, out uint w_off, out uint N, out uint K)
{
    w_off = 0u;
    N = 0u;
    K = 0u;
    if (g < FIRST)
        return false;
    if (g >= head_phase()) {
        HeadW hw = head_w();
        bool first = g == head_phase();
        w_off = first ? hw.h1w : hw.h2w;
        N = first && pc.head_hidden > 0u ? pc.head_hidden : pc.vocab;
        K = first ? pc.dim : pc.head_hidden;
        return true;
    }
    LayerW lw = layer_w((g - FIRST) / PPL);
    uint ph = (g - FIRST) % PPL;
    if (ph == PH_ATT)
        return false;
#ifdef FOLD
    w_off = ph == PH_QKV ? lw.qkvw : lw.fc1w;   // the MLP's folded fc2 is read by columns
    N = ph == PH_QKV ? 3u * pc.dim : pc.hidden;
    K = pc.dim;
#else
    w_off = ph == PH_QKV ? lw.qkvw : ph == PH_PROJ ? lw.projw : ph == PH_FC1 ? lw.fc1w : lw.fc2w;
    N = ph == PH_QKV ? 3u * pc.dim : ph == PH_FC1 ? pc.hidden : pc.dim;
    K = ph == PH_FC2 ? pc.hidden : pc.dim;
#endif
    return true;
}

// This subgroup's first row of row block @task (FOLD's MLP task t spans blocks
// t * FFN_BLOCKS..).
uint task_row0(uint task) { return task * rows_per_task() + gl_SubgroupID * RPS; }

// Whether global phase g is a layer's phase @ph.
bool is_layer_phase(uint g, uint ph)
{
    return g >= FIRST && g < head_phase() && (g - FIRST) % PPL == ph;
}

// The task's rows, lane's vec4s k = lane + i * SG of block b's row r at [(b * RPS + r) * WV + i].
vec4 wpre[WV * RPS * PRELOAD_BLOCKS];

// Loads the rows of phase g's task into wpre (rows past N and vec4s past K as zero): its first
// PRELOAD_BLOCKS blocks of rows (FOLD's MLP tasks), or its one.
void preload_rows(uint g, uint task)
{
    uint w_off, N, K;
    if ((PRELOAD & 1u) == 0u || !task_matrix(g, w_off, N, K))
        return;
    uint SG = gl_SubgroupSize, lane = gl_SubgroupInvocationID, K4 = K / 4u;
    uint blocks = 1u;
#ifdef FOLD
    if (is_layer_phase(g, PH_FFN)) {
        task *= FFN_BLOCKS;
        blocks = PRELOAD_BLOCKS;
    }
#endif
    [[unroll]] for (uint b = 0u; b < PRELOAD_BLOCKS; b++) {
        if (b >= blocks)
            break;
        uint row0 = task_row0(task + b);
        [[unroll]] for (uint r = 0u; r < RPS; r++) {
            bool row_ok = row0 + r < N;
            uint wb = w_off / 4u + min(row0 + r, N - 1u) * K4;
            [[unroll]] for (uint i = 0u; i < WV; i++) {
                uint k = lane + i * SG;
                wpre[(b * RPS + r) * WV + i] = row_ok && k < K4 ? vec4(w4[wb + k]) : vec4(0.0);
            }
        }
    }
}

// Rows task*RT.. of W [N, K] (K-contiguous at w_off) times xin, + bias, activation, stored per
// @out_mode at element out_off + row (OUT_SHARED: ffn_h[row - out_off]). Each subgroup takes
// RPS rows: lanes stride over K in vec4s (from wpre's block @pre_block when that was
// preloaded), one subgroupAdd per row.
void matvec_rows(uint task, uint w_off, uint N, uint K, uint b_off, uint act, uint out_mode,
    uint out_off, uint pre_block)
{
    uint SG = gl_SubgroupSize, lane = gl_SubgroupInvocationID, K4 = K / 4u;
    uint row0 = task_row0(task);
    if (row0 >= N)
        return;   // whole subgroups: the reductions below stay uniform
    float acc[RPS];
    for (uint r = 0u; r < RPS; r++)
        acc[r] = 0.0;
    if ((PRELOAD & 1u) != 0u && pre_block < PRELOAD_BLOCKS) {
        [[unroll]] for (uint i = 0u; i < WV; i++) {
            uint k = lane + i * SG;
            if (k < K4) {
                vec4 x = xin[k];
                [[unroll]] for (uint r = 0u; r < RPS; r++)
                    acc[r] += dot(wpre[(pre_block * RPS + r) * WV + i], x);
            }
        }
    } else {
        uint wb[RPS];
        for (uint r = 0u; r < RPS; r++)
            wb[r] = w_off / 4u + min(row0 + r, N - 1u) * K4;
        uint k = lane;
        // Two loads per row in flight per lane and iteration.
        for (; k + SG < K4; k += 2u * SG) {
            vec4 x0 = xin[k], x1 = xin[k + SG];
            for (uint r = 0u; r < RPS; r++)
                acc[r] += dot(vec4(w4[wb[r] + k]), x0) + dot(vec4(w4[wb[r] + k + SG]), x1);
        }
        if (k < K4)
            for (uint r = 0u; r < RPS; r++)
                acc[r] += dot(vec4(w4[wb[r] + k]), xin[k]);
    }
    for (uint r = 0u; r < RPS; r++)
        acc[r] = subgroupAdd(acc[r]);
    // Lane r stores row row0 + r.
    for (uint r = 0u; r < RPS; r++) {
        uint row = row0 + r;
        if (lane != r || row >= N)
            continue;
        float v = acc[r] + float(w[b_off + row]);
        if (act == ACT_GELU)
            v = pc.gelu_tanh != 0u ? ar_gelu_tanh(v) : ar_gelu_erf(v);
        else if (act == ACT_RELU)
            v = max(v, 0.0);
        if (out_mode == OUT_SCR)
            scr[out_off + row] = v;
        else if (out_mode == OUT_SCR_ADD)
            scr[out_off + row] += v;
        else if (out_mode == OUT_CACHE)
            kvc[out_off + row] = STYPE(v);
#ifdef FOLD
        else if (out_mode == OUT_SHARED)
            ffn_h[row - out_off] = v;
#endif
        else
            logits[row] = STYPE(v);
    }
}

// --- FOLD: the residual in fixed point -----------------------------------------------------

#ifdef FOLD
// Residual version v (0 the embedding, 2l + 1 after layer l's attention, 2l + 2 after its MLP)
// lives in buffer v % 3 (int64 elements of res[]). The phase that makes version v + 1 adds
// into its buffer, which layer l's qkv tasks zeroed (for both of its versions), while version
// v, complete, is read.
uint res_buf(uint v) { return pc.res_off / 2u + (v % 3u) * pc.dim; }

int64_t to_fixed(float v) { return int64_t(clamp(v, -2.0e9, 2.0e9) * 4294967296.0); }

// Task 0 of a folding phase: version v + 1 += version v + bias (the other tasks add their
// products).
void carry_residual(uint v, uint b_off)
{
    for (uint d = gl_LocalInvocationID.x; d < pc.dim; d += gl_WorkGroupSize.x)
        atomicAdd(res[res_buf(v + 1u) + d], res[res_buf(v) + d] + to_fixed(float(w[b_off + d])));
}

// res[dst + d] += sum_j W[d * ld + col0 + j] * xin[j] over the n (a multiple of 4, <= 4
// FOLD_N4) inputs staged in xin, for every row d < dim: head h's columns of proj, or an MLP
// block's of fc2. Lanes take rows; a row's n columns are contiguous, and all its loads are in
// flight together (the loops unrolled to FOLD_N4).
void fold_columns(uint w_off, uint ld, uint col0, uint n, uint dst)
{
    uint n4 = n / 4u;
    for (uint d = gl_LocalInvocationID.x; d < pc.dim; d += gl_WorkGroupSize.x) {
        uint wb = (w_off + d * ld + col0) / 4u;
        vec4 wv[FOLD_N4];
        [[unroll]] for (uint j = 0u; j < FOLD_N4; j++)
            wv[j] = j < n4 ? vec4(w4[wb + j]) : vec4(0.0);
        float acc = 0.0;
        [[unroll]] for (uint j = 0u; j < FOLD_N4; j++)
            acc += j < n4 ? dot(wv[j], xin[j]) : 0.0;
        atomicAdd(res[dst + d], to_fixed(acc));
    }
}

// Head h's attention output (att, written by this workgroup) times its columns of proj, into
// version 2l + 1.
void fold_head(uint l, uint h)
{
    uint D = pc.head_dim;
    buffer_barrier();
    for (uint j = gl_LocalInvocationID.x; j < D / 4u; j += gl_WorkGroupSize.x)
        xin[j] = scr4[(scr_att() + h * D) / 4u + j];
    memoryBarrierShared();
    barrier();
    fold_columns(layer_w(l).projw, pc.dim, h * D, D, res_buf(2u * l + 1u));
}
#endif

// --- attention ----------------------------------------------------------------------------

// The split states sit in the scratch; merged heads go to att (fp32).
#define COMBINE_PART(i) scr[scr_part() + (i)]
#define COMBINE_STORE(i, v) scr[scr_att() + (i)] = (v)
#include "combine.glsl"

// Attention task @task of a layer: head h, keys [a, b) (b <= pc.pos + 1).
void attention_keys(uint task, out uint h, out uint a, out uint b)
{
    h = task / pc.n_splits;
    a = (task % pc.n_splits) * pc.split_keys;
    b = min(a + pc.split_keys, pc.pos + 1u);
}

// A subgroup's block of KB keys: lane's K and V elements d = lane + r * SG of key k at
// [k * R + r].
const uint KVN = KB * R;

// The last key a task reads through the non-coherent binding: the one before pc.pos (rows of
// earlier dispatches; at pc.pos 0 row 0, whose values the caller replaces or masks).
uint last_old_key(uint b) { return max(min(b, pc.pos), 1u) - 1u; }

// Loads the K and V rows of keys j0.. (keys past @last, and dims past the head's, clamped: the
// caller masks or replaces them) of head h in layer l's cache. No branches, so every load of
// the block is in flight at once (with a branch per key between the coherent and the
// non-coherent binding, ~one memory round trip per key: H200, `large`, ~16 us per 60-key
// task).
void load_kv_block(uint l, uint h, uint j0, uint last, out float kx[KVN], out float vx[KVN])
{
    uint SG = gl_SubgroupSize, lane = gl_SubgroupInvocationID, D = pc.head_dim;
    [[unroll]] for (uint k = 0u; k < KB; k++) {
        uint kb = l * pc.cache_stride + min(j0 + k, last) * 3u * pc.dim + pc.dim + h * D;
        [[unroll]] for (uint r = 0u; r < R; r++) {
            uint d = min(lane + r * SG, D - 1u);
            kx[k * R + r] = float(kv[kb + d]);
            vx[k * R + r] = float(kv[kb + pc.dim + d]);
        }
    }
}

// PRELOAD bit 1: an attention task's first block per subgroup, loaded before its wait (keys
// before pc.pos do not depend on the qkv phase).
float kpre[KVN], vpre[KVN];

void preload_kv(uint l, uint task)
{
    uint h, a, b;
    attention_keys(task, h, a, b);
    load_kv_block(l, h, a + gl_SubgroupID * KB, last_old_key(b), kpre, vpre);
}

// Head h, keys [a, b) of layer l's cache, for the query at pc.pos: lanes across the head's
// dims, each subgroup every NSG-th block of KB keys (online softmax), merged in shared memory.
// A subgroup's first block comes from preload_kv() (PRELOAD bit 1), later ones from
// load_kv_block(); the key at pc.pos, written by this dispatch, is read coherently with the
// query and replaces what the block holds for it. Writes the normalised output (one split) or
// the split's state; the head's last split merges.
void attention_task(uint l, uint task)
{
    uint SG = gl_SubgroupSize, lane = gl_SubgroupInvocationID, sg = gl_SubgroupID;
    uint NSG = gl_NumSubgroups, lid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    uint D = pc.head_dim, S = pc.n_splits;
    uint h, a, b;
    attention_keys(task, h, a, b);
    uint split = task % S;
    uint row3 = 3u * pc.dim;
    uint cache = l * pc.cache_stride;
    // Q | K | V of a row: offsets 0, dim, 2 dim; head h at h * D within each.
    uint qb = cache + pc.pos * row3 + h * D;
    float q[R], kcur[R], vcur[R], acc[R];
    for (uint r = 0u; r < R; r++) {
        uint d = min(lane + r * SG, D - 1u);
        q[r] = lane + r * SG < D ? float(kvc[qb + d]) * pc.scale : 0.0;
        kcur[r] = float(kvc[qb + pc.dim + d]);
        vcur[r] = float(kvc[qb + 2u * pc.dim + d]);
        acc[r] = 0.0;
    }
    float m = NEG, lsum = 0.0;
    uint last = last_old_key(b);
    for (uint j0 = a + sg * KB, i = 0u; j0 < b; j0 += NSG * KB, i++) {
        float kx[KVN], vx[KVN];
        if ((PRELOAD & 2u) != 0u && i == 0u) {
            [[unroll]] for (uint n = 0u; n < KVN; n++) {
                kx[n] = kpre[n];
                vx[n] = vpre[n];
            }
        } else {
            load_kv_block(l, h, j0, last, kx, vx);
        }
        float s[KB];
        [[unroll]] for (uint k = 0u; k < KB; k++) {
            // Keys past the task's hold some row's values; at pc.pos 0 that row is the one
            // this dispatch writes, read before it was (any bits, NaN too: an H200 gave NaN
            // logits before their V was zeroed here).
            bool cur = j0 + k == pc.pos, key = j0 + k < b;
            float dt = 0.0;
            [[unroll]] for (uint r = 0u; r < R; r++) {
                kx[k * R + r] = cur ? kcur[r] : kx[k * R + r];
                vx[k * R + r] = cur ? vcur[r] : key ? vx[k * R + r] : 0.0;
                dt += q[r] * kx[k * R + r];
            }
            dt = subgroupAdd(dt);
            s[k] = key ? dt : NEG;
        }
        // The online softmax over the block.
        float m_new = m;
        [[unroll]] for (uint k = 0u; k < KB; k++)
            m_new = max(m_new, s[k]);
        float alpha = exp(m - m_new);
        lsum *= alpha;
        [[unroll]] for (uint r = 0u; r < R; r++)
            acc[r] *= alpha;
        [[unroll]] for (uint k = 0u; k < KB; k++) {
            float p = s[k] == NEG ? 0.0 : exp(s[k] - m_new);
            lsum += p;
            [[unroll]] for (uint r = 0u; r < R; r++)
                acc[r] += p * vx[k * R + r];
        }
        m = m_new;
    }
    // Merge the subgroups (a subgroup without keys has m = NEG and weighs 0).
    if (lane == 0u) {
        m_sh[sg] = m;
        l_sh[sg] = lsum;
    }
    for (uint r = 0u; r < R; r++)
        att_sh[lid * R + r] = acc[r];
    memoryBarrierShared();
    barrier();
    float mt = NEG;
    for (uint g = 0u; g < NSG; g++)
        mt = max(mt, m_sh[g]);
    float den = 0.0;
    for (uint g = 0u; g < NSG; g++)
        den += m_sh[g] == NEG ? 0.0 : exp(m_sh[g] - mt) * l_sh[g];
    uint part = scr_part() + (h * S + split) * (D + 2u);
    for (uint d = lid; d < D; d += WG) {
        float num = 0.0;
        for (uint g = 0u; g < NSG; g++)
            if (m_sh[g] != NEG)
                num += exp(m_sh[g] - mt) * att_sh[(g * SG + d % SG) * R + d / SG];
        if (S == 1u)
            scr[scr_att() + h * D + d] = num / den;
        else
            scr[part + 2u + d] = num;
    }
    if (S > 1u && lid == 0u) {
        scr[part] = mt;
        scr[part + 1u] = den;
    }
    barrier();   // m_sh, l_sh and att_sh are read before anyone's next task rewrites them
    if (S == 1u) {
#ifdef FOLD
        fold_head(l, h);
#endif
        return;
    }
    // The head's last split to finish merges the S states.
    memoryBarrierBuffer();
    barrier();
    if (lid == 0u) {
        uint c = pc.ctr_off + head_counter(l, h);
        sh_last = atomicAdd(ctr[c], 1u) == S - 1u;
        memoryBarrierBuffer();   // acquire: the other splits' states
    }
    buffer_barrier();
    if (!sh_last)
        return;
    combine_splits(h, D, S);
#ifdef FOLD
    fold_head(l, h);
#endif
}

// --- the step ------------------------------------------------------------------------------

void embed_task()
{
    uint id = ids[pc.pos], lid = gl_LocalInvocationID.x;
    uint pe = head_w().pos_emb + pc.pos * pc.dim;
    for (uint d = lid; d < pc.dim; d += gl_WorkGroupSize.x) {
        float v = float(table[id * pc.dim + d]) + float(w[pe + d]);
        if (pc.has_ledby != 0u)
            v += float(table[ledby[pc.pos] * pc.dim + d]);
        scr[scr_x() + d] = v;
    }
}

#ifdef FOLD
void qkv_task(uint l, uint task)
{
    LayerW lw = layer_w(l);
    stage_input(l == 0u ? SRC_EMBED : SRC_RES, res_buf(2u * l), pc.dim, true, lw.n1w, lw.n1b);
    if (task == 0u) {
        for (uint k = gl_LocalInvocationID.x; k < pc.dim / 4u; k += gl_WorkGroupSize.x) {
            if (l == 0u) {
                vec4 e = input4(SRC_EMBED, 0u, k);
                res4[res_buf(0u) / 4u + k] = i64vec4(to_fixed(e.x), to_fixed(e.y), to_fixed(e.z),
                    to_fixed(e.w));
            }
            res4[res_buf(2u * l + 1u) / 4u + k] = i64vec4(0);
            res4[res_buf(2u * l + 2u) / 4u + k] = i64vec4(0);
        }
    }
    matvec_rows(task, lw.qkvw, 3u * pc.dim, pc.dim, lw.qkvb, ACT_NONE, OUT_CACHE,
        l * pc.cache_stride + pc.pos * 3u * pc.dim, 0u);
}

// FFN_BLOCKS blocks of fc1 rows (+ GELU) into ffn_h, then their columns of fc2.
void ffn_task(uint l, uint task)
{
    LayerW lw = layer_w(l);
    uint v = 2u * l + 1u;
    if (task == 0u)
        carry_residual(v, lw.fc2b);
    stage_input(SRC_RES, res_buf(v), pc.dim, true, lw.n2w, lw.n2b);
    uint blk0 = task * FFN_BLOCKS, r0 = blk0 * rows_per_task();
    // Unrolled: wpre's block indices must be constants (else it would sit in slow memory).
    [[unroll]] for (uint b = 0u; b < FFN_BLOCKS; b++)
        matvec_rows(blk0 + b, lw.fc1w, pc.hidden, pc.dim, lw.fc1b, ACT_GELU, OUT_SHARED, r0, b);
    memoryBarrierShared();
    barrier();   // every subgroup is done with xin
    uint n = min(FFN_ROWS, pc.hidden - r0);
    for (uint j = gl_LocalInvocationID.x; j < n / 4u; j += gl_WorkGroupSize.x)
        xin[j] = vec4(ffn_h[4u * j], ffn_h[4u * j + 1u], ffn_h[4u * j + 2u], ffn_h[4u * j + 3u]);
    memoryBarrierShared();
    barrier();
    fold_columns(lw.fc2w, pc.hidden, r0, n, res_buf(v + 1u));
}
#endif

void run_task(uint g, uint task)
{
    if (g < FIRST) {
        embed_task();
        return;
    }
    uint w_off, N, K;
    task_matrix(g, w_off, N, K);
    if (g >= head_phase()) {
        HeadW hw = head_w();
        if (g == head_phase()) {
#ifdef FOLD
            stage_input(SRC_RES, res_buf(2u * pc.layers), pc.dim, true, hw.nfw, hw.nfb);
#else
            stage_input(SRC_SCR, scr_x(), pc.dim, true, hw.nfw, hw.nfb);
#endif
            bool two = pc.head_hidden > 0u;
            matvec_rows(task, w_off, N, K, hw.h1b, two ? ACT_RELU : ACT_NONE,
                two ? OUT_SCR : OUT_LOGITS, two ? scr_mlp() : 0u, 0u);
        } else {
            stage_input(SRC_SCR, scr_mlp(), pc.head_hidden, false, 0u, 0u);
            matvec_rows(task, w_off, N, K, hw.h2b, ACT_NONE, OUT_LOGITS, 0u, 0u);
        }
        return;
    }
    uint l = (g - FIRST) / PPL, ph = (g - FIRST) % PPL;
    LayerW lw = layer_w(l);
#ifdef FOLD
    if (ph == PH_QKV) {
        qkv_task(l, task);
    } else if (ph == PH_ATT) {
        if (task == 0u)
            carry_residual(2u * l, lw.projb);
        attention_task(l, task);
    } else {
        ffn_task(l, task);
    }
#else
    if (ph == PH_QKV) {
        stage_input(SRC_SCR, scr_x(), pc.dim, true, lw.n1w, lw.n1b);
        uint row = l * pc.cache_stride + pc.pos * 3u * pc.dim;
        matvec_rows(task, w_off, N, K, lw.qkvb, ACT_NONE, OUT_CACHE, row, 0u);
    } else if (ph == PH_ATT) {
        attention_task(l, task);
    } else if (ph == PH_PROJ) {
        stage_input(SRC_SCR, scr_att(), pc.dim, false, 0u, 0u);
        matvec_rows(task, w_off, N, K, lw.projb, ACT_NONE, OUT_SCR_ADD, scr_x(), 0u);
    } else if (ph == PH_FC1) {
        stage_input(SRC_SCR, scr_x(), pc.dim, true, lw.n2w, lw.n2b);
        matvec_rows(task, w_off, N, K, lw.fc1b, ACT_GELU, OUT_SCR, scr_mlp(), 0u);
    } else {
        stage_input(SRC_SCR, scr_mlp(), pc.hidden, false, 0u, 0u);
        matvec_rows(task, w_off, N, K, lw.fc2b, ACT_NONE, OUT_SCR_ADD, scr_x(), 0u);
    }
#endif
}

// A counter's value. On GPUs an atomic load, not a read-modify-write, so that the workgroups
// polling a counter do not queue behind each other (and the increments behind them) at the
// memory. On CPU devices a read-modify-write: slower, so llvmpipe's 65535 loop iterations
// last longer (with loads, waits on lavapipe ran out in cold-cache runs).
uint poll(uint c)
{
    if (POLL_RMW != 0u)
        return atomicAdd(ctr[c], 0u);
    return atomicLoad(ctr[c], gl_ScopeDevice, gl_StorageSemanticsBuffer, gl_SemanticsRelaxed);
}

// Invocation 0 waits until counter @c reaches @need. A wait that does not end within ~4M
// reads, or after another gave up, sets the status word and returns: a bug, or a device
// that does not run the workgroups side by side, then shows as an error on the host
// (ar_step_status_offset()), not as a hung queue. On llvmpipe the loop limiter also ends
// waits early (ar-op-step.c): hence POLLS reads per iteration there, without a
// branch each (llvmpipe drops conditions nested deeper than its exec-mask stack: an early
// return per read, unrolled 256 times, gave wrong tokens and no error).
void wait_phase(uint c, uint need)
{
    for (uint it = 0u; it < (1u << 22) / POLLS; it++) {
        uint seen = 0u;
        [[unroll]] for (uint i = 0u; i < POLLS; i++)
            seen = max(seen, poll(c));
        if (seen >= need)
            return;
        // The status every 64th iteration only: each read is a round trip to memory.
        if ((it & 63u) == 63u && poll(pc.status_off) != 0u)
            return;
    }
    if (poll(c) < need)
        atomicOr(ctr[pc.status_off], 1u);
}

void main()
{
    uint lid = gl_LocalInvocationID.x;
    uint n_phases = head_phase() + (pc.head_hidden > 0u ? 2u : 1u);
    // Bounded by the step's task count, which no workgroup reaches (the last ticket returns):
    // leaving this loop otherwise means llvmpipe's loop limit ended it, and so maybe the
    // tasks' loops too (ar-op-step.c).
    uint all_tasks = FIRST + pc.layers * layer_tasks() + head1_tasks() + head2_tasks();
    for (uint n = 0u; n <= all_tasks; n++) {
        if (lid == 0u)
            sh_ticket = atomicAdd(ctr[pc.ctr_off], 1u);
        barrier();
        uint t = sh_ticket;
        barrier();   // everyone has read the ticket before invocation 0 takes the next
#ifdef TRACE
        uvec2 c_ticket = clockRealtime2x32EXT();
#endif
        // The ticket's phase and its task within the phase (uniform).
        uint g = 0u, task = t;   // the embedding's (FIRST 1) when t is 0
        if (t >= FIRST) {
            uint per = layer_tasks(), r = t - FIRST, l = r / per;
            if (l < pc.layers) {
                r -= l * per;
                uint ph = 0u;
                while (r >= phase_tasks(ph)) {
                    r -= phase_tasks(ph);
                    ph++;
                }
                g = FIRST + PPL * l + ph;
            } else {
                r -= pc.layers * per;
                g = head_phase();
                if (r >= head1_tasks()) {
                    r -= head1_tasks();
                    g++;
                    if (r >= head2_tasks())
                        g = n_phases;
                }
            }
            task = r;
        }
        if (g >= n_phases)
            return;
        // Before the wait: the weights, and the keys before pc.pos, do not depend on it.
        preload_rows(g, task);
        if ((PRELOAD & 2u) != 0u && is_layer_phase(g, PH_ATT))
            preload_kv((g - FIRST) / PPL, task);
#ifdef TRACE
        uvec2 c_wait = clockRealtime2x32EXT();
#endif
        if (g > 0u) {
            // The acquire in the invocation that saw the counter, then a barrier that orders
            // buffer memory too: everyone's reads come after the earlier phase's writes.
            if (lid == 0u) {
                wait_phase(pc.ctr_off + g, global_phase_tasks(g - 1u));
                memoryBarrierBuffer();
            }
            buffer_barrier();
        }
#ifdef TRACE
        uvec2 c_run = clockRealtime2x32EXT();
#endif
        run_task(g, task);
        // Every invocation's stores reach device scope before the task counts as done.
        memoryBarrierBuffer();
        barrier();
#ifdef TRACE
        if (lid == 0u) {
            uvec2 c_done = clockRealtime2x32EXT();
            uint r = t * TRACE_WORDS;
            trace[r] = g;
            trace[r + 1u] = task;
            trace[r + 2u] = gl_WorkGroupID.x;
            trace[r + 3u] = 0u;
            trace[r + 4u] = c_ticket.x;
            trace[r + 5u] = c_ticket.y;
            trace[r + 6u] = c_wait.x;
            trace[r + 7u] = c_wait.y;
            trace[r + 8u] = c_run.x;
            trace[r + 9u] = c_run.y;
            trace[r + 10u] = c_done.x;
            trace[r + 11u] = c_done.y;
        }
#endif
        if (lid == 0u)
            atomicAdd(ctr[pc.ctr_off + 1u + g], 1u);
    }
    atomicOr(ctr[pc.status_off], 2u);
}

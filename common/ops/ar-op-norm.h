/* Normalisation ops: group norm, layer norm, RMS norm. One workgroup per normalised segment,
 * two-pass mean and variance in fp32 (no E[x^2] - E[x]^2 cancellation). @gamma, @beta have the
 * storage type of @x. All allow @out to alias @x (in place). */
#pragma once

G_BEGIN_DECLS

/* Group norm of @x [n, c, h, w] (NCHW) with @groups groups of c / groups channels each:
 * statistics over each group's (c / groups) * h * w elements, then per-channel
 * y = (x - mean) / sqrt(var + eps) * gamma[ch] + beta[ch], then SiLU when @silu.
 * @gamma, @beta [c] may each be NULL (1 and 0). @groups must divide @c. */
void ar_op_group_norm (ArCmd *cmd, ArDType dt, const ArBuffer *x, const ArBuffer *gamma,
    const ArBuffer *beta, ArBuffer *out, guint32 n, guint32 c, guint32 h, guint32 w,
    guint32 groups, float eps, gboolean silu);

/* Layer norm over the last dimension of @x [rows, cols]:
 * y = (x - mean) / sqrt(var + eps) * gamma[j] + beta[j]; @gamma, @beta [cols] may be NULL. */
void ar_op_layer_norm (ArCmd *cmd, ArDType dt, const ArBuffer *x, const ArBuffer *gamma,
    const ArBuffer *beta, ArBuffer *out, guint32 rows, guint32 cols, float eps);

/* RMS norm over the last dimension of @x [rows, cols]:
 * y = x / sqrt(mean(x^2) + eps) * gamma[j]; @gamma [cols] may be NULL. */
void ar_op_rms_norm (ArCmd *cmd, ArDType dt, const ArBuffer *x, const ArBuffer *gamma,
    ArBuffer *out, guint32 rows, guint32 cols, float eps);

/* Row reductions (norms, softmax) use subgroup arithmetic where the device has it, and a
 * shared-memory tree otherwise. Tests call this with FALSE to exercise the fallback; TRUE
 * (the default) means "where available". Not thread-safe: set it before recording. */
void ar_ops_reduce_use_subgroups (gboolean use);

/* Norms and softmax read their inputs as texel buffers on CPU devices where the shapes allow
 * it (vec4s within one row/segment and one channel; a norm's out not aliasing x). Tests call
 * this with TRUE to run that flavour on every device. Not thread-safe: set it before
 * recording. */
void ar_ops_reduce_force_texel (gboolean force);

/* Tests: run norms and softmax in their general (GPU) flavour on CPU devices too. Not
 * thread-safe: set it before recording. */
void ar_ops_reduce_avoid_texel (gboolean avoid);

/* The general flavour of the norms and softmax holds each invocation's elements of a row or
 * segment in registers (one read of x instead of three) where it has at most @max times the
 * workgroup size of them; AR_REDUCE_MAX_REGISTERS by default, 0 for the three passes always.
 * Tests call it to run both forms. Not thread-safe: set it before recording. */
#define AR_REDUCE_MAX_REGISTERS 32
void ar_ops_reduce_max_registers (guint32 max);

/* Internal, shared by the row-reduction ops: whether to use the subgroup shader variant, and
 * the workgroup size (a power of two) for rows of @len elements. */
gboolean ar_ops_reduce_subgroups (ArCmd *cmd);
guint32 ar_ops_reduce_local_size (ArCmd *cmd, guint64 len);
/* The shaders' NREG for rows of @len elements on @local invocations: the power of two at or
 * above the elements per invocation, or 0 (three passes over x) above the maximum or where
 * AR_VULKAN_AVOID names reduce_registers. */
guint32 ar_ops_reduce_registers (ArCmd *cmd, guint64 len, guint32 local);
/* Whether the texel flavour may run on this device (CPU devices, or forced), and how many
 * rows/segments of @len elements one of its workgroups takes. */
gboolean ar_ops_reduce_texel_device (ArCmd *cmd);
guint32 ar_ops_reduce_texel_rows (guint64 len);

G_END_DECLS

/* The command recorder: many dispatches in one command buffer, with a barrier only where a
 * dispatch touches what an earlier one wrote (or writes what an earlier one read); then one
 * submission and a fence. Errors are sticky: once an op fails to record, later ones are
 * skipped and ar_cmd_run() reports the first error. */
#pragma once
#include "ar-memory.h"
#include "ar-pipeline.h"

G_BEGIN_DECLS

typedef struct _ArCmd ArCmd;

typedef struct {
  const ArBuffer *buf;
  gboolean write;
  gboolean texel_f16;   /* texel bindings: fp16 texels (R16G16B16A16), else fp32 */
} ArBinding;

#define AR_READ(b) ((ArBinding) { (b), FALSE, FALSE })
#define AR_WRITE(b) ((ArBinding) { (b), TRUE, FALSE })
/* For bindings AR_TEXEL_BINDING..: @b read as a uniform texel buffer of vec4s of @dt. */
#define AR_TEXEL(b, dt) ((ArBinding) { (b), FALSE, (dt) == AR_F16 })

ArCmd *ar_cmd_new (ArDevice *dev, GError **error);
void ar_cmd_free (ArCmd *cmd);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArCmd, ar_cmd_free)

ArDevice *ar_cmd_device (ArCmd *cmd);

/* Starts a new recording (waiting for the previous submission if one is in flight). */
void ar_cmd_begin (ArCmd *cmd);

/* Records one dispatch. Binding i of @bindings goes to binding i of set 0: storage buffers
 * below AR_TEXEL_BINDING, read-only uniform texel buffers from there (AR_TEXEL). */
void ar_cmd_dispatch (ArCmd *cmd, const ArShader *shader, const guint32 *spec, guint n_spec,
    const ArBinding *bindings, guint n_bindings, const void *push, gsize push_size,
    guint32 groups_x, guint32 groups_y, guint32 groups_z);

/* Records a buffer copy, or a fill with zeros. */
void ar_cmd_copy (ArCmd *cmd, const ArBuffer *src, gsize src_offset, ArBuffer *dst,
    gsize dst_offset, gsize size);
void ar_cmd_zero (ArCmd *cmd, ArBuffer *dst);

/* Records a failure (takes @error); the recording is then void. */
void ar_cmd_fail (ArCmd *cmd, GError *error);
void ar_cmd_fail_invalid (ArCmd *cmd, const char *format, ...) G_GNUC_PRINTF (2, 3);
gboolean ar_cmd_failed (ArCmd *cmd);

/* Ends the recording (if still recording), submits it and waits. A recording that was ended
 * may be run again: it replays the same dispatches. */
gboolean ar_cmd_run (ArCmd *cmd, GError **error);
/* The same in two halves, so that the CPU can work while the GPU does. */
gboolean ar_cmd_submit (ArCmd *cmd, GError **error);
gboolean ar_cmd_wait (ArCmd *cmd, GError **error);

/* Timestamps around each dispatch: always on with AR_VULKAN_PROFILE=1 (which also prints a
 * per-op profile after each run), or on request. */
void ar_cmd_set_timing (ArCmd *cmd, gboolean timing);
/* GPU time in microseconds of the last run, first to last dispatch; < 0 when unknown. */
double ar_cmd_gpu_time_us (ArCmd *cmd);

guint ar_cmd_dispatch_count (ArCmd *cmd);
guint ar_cmd_barrier_count (ArCmd *cmd);

/* Splits @n_groups workgroups into an (x, y) grid within maxComputeWorkGroupCount; shaders
 * recover the flat index with ar_flat_index() (shaders/common.glsl). */
void ar_cmd_groups_1d (ArCmd *cmd, guint64 n_groups, guint32 *gx, guint32 *gy);

static inline guint32
ar_div_up (guint64 a, guint64 b)
{
  return (guint32) ((a + b - 1) / b);
}

G_END_DECLS

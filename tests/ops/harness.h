/* Shared helpers for the op tests: device with validation, seeded data, upload/download in
 * either storage type, NMSE, and the one-line-per-case report. */
#pragma once
#include "ar-ops.h"
#include "ar-half.h"

typedef struct {
  ArDevice *dev;
  ArCmd *cmd;
  guint64 rng;
  int passed, failed;
} ArTest;

/* Creates the device with AR_VULKAN_VALIDATE=1 (unless set otherwise); exits on failure. */
void art_init (ArTest *t);
/* Checks that no validation message was seen, prints "N passed, N failed", returns exit code. */
int art_finish (ArTest *t);

/* Storage types to test on this device: f32, and f16 when supported. */
guint art_dtypes (ArTest *t, ArDType out[2]);

guint32 art_rand_u32 (ArTest *t);
/* Uniform in [lo, hi). */
float art_rand_float (ArTest *t, float lo, float hi);
/* A new array of @n uniform values in [lo, hi), rounded to what @dt can store. */
float *art_random (ArTest *t, gsize n, float lo, float hi, ArDType dt);
/* Rounds values in place to what @dt can store. */
void art_round (float *v, gsize n, ArDType dt);

ArBuffer *art_upload (ArTest *t, ArDType dt, const float *data, gsize n);
ArBuffer *art_upload_u32 (ArTest *t, const guint32 *data, gsize n);
ArBuffer *art_alloc (ArTest *t, ArDType dt, gsize n);
/* A new array with the first @n elements of @buf, as floats. */
float *art_download (ArTest *t, ArDType dt, ArBuffer *buf, gsize n);
guint32 *art_download_u32 (ArTest *t, ArBuffer *buf, gsize n);

/* Device buffers for one ar_op_decode_step of @s over random data: packed weights uniform in
 * [-@w_range, @w_range), caches and table in [-1, 1), ids 0 (for every position), a scratch
 * for one step and the logits. */
typedef struct {
  ArBuffer *weights, *caches, *table, *ids, *scratch, *logits;
} ArtStep;
void art_step_init (ArTest *t, ArDType dt, const ArStepShape *s, float w_range, ArtStep *out);
void art_step_clear (ArtStep *b);
/* Records the zeroing of its scratch and the step at @pos. */
void art_step_record (ArTest *t, ArDType dt, const ArStepShape *s, ArtStep *b, guint pos);
/* The same with the traced step, its records into @trace (ar_op_decode_step_traced). */
void art_step_record_traced (ArTest *t, ArDType dt, const ArStepShape *s, ArtStep *b, guint pos,
    ArBuffer *trace);
/* Stamp @k (0 ticket, 1 wait begun, 2 wait ended, 3 done) of a trace record. */
guint64 art_step_trace_stamp (const guint32 *record, guint k);

/* Begins a recording on t->cmd; art_run() submits it and waits, reporting any error. */
void art_begin (ArTest *t);
gboolean art_run (ArTest *t);

/* Runs the recording @reps times; the best GPU time in microseconds (wall time where the
 * recording has no timestamps), -1 when no run succeeded. */
double art_best_time_us (ArTest *t, int reps);

/* NMSE = mse(out, ref) / mse(ref, 0); a NaN in @out gives infinity. */
double art_nmse (const float *out, const float *ref, gsize n);

/* Prints "op <name> <shape> <dtype> nmse=<v> ok|FAIL" and counts the result. */
gboolean art_report (ArTest *t, const char *op, const char *shape, ArDType dt, double nmse,
    double limit);
/* For integer results: counts mismatches; ok when there are none. */
gboolean art_report_exact (ArTest *t, const char *op, const char *shape, ArDType dt,
    const guint32 *out, const guint32 *ref, gsize n);
/* A named condition, for checks that are neither NMSE nor exact equality. */
gboolean art_report_cond (ArTest *t, const char *op, const char *shape, ArDType dt,
    gboolean ok, const char *detail_format, ...) G_GNUC_PRINTF (6, 7);

/* Default limits from the issue: fp32 elementwise, and fp16 / matmul / conv / attention. */
#define ART_NMSE_F32_ELTWISE 1e-7
#define ART_NMSE_LOOSE 5e-4

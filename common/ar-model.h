/* A model on the device: its card, and every weight tensor uploaded once (fp16 storage where
 * the device has it, fp32 otherwise). Models are immutable after loading (but for results
 * memoised on them, ar_model_memo_*), so one copy can be shared by every element of a
 * process (ar_model_get_shared). */
#pragma once
#include "ar-card.h"
#include "ar-memory.h"
#include "ar-ops.h"
#include "ar-safetensors.h"

G_BEGIN_DECLS

typedef struct {
  const char *name;
  ArBuffer *buf;               /* ArBuffer sizes are padded: use n_elements */
  ArDType dtype;               /* the model's storage type */
  guint ndim;
  gint64 shape[AR_CARD_MAX_DIMS];
  guint64 n_elements;
} ArModelTensor;

typedef struct {
  guint n_tensors;
  guint64 tokenizer_params;
  guint64 predictor_params;
  guint64 total_params;
  guint64 device_bytes;        /* sum of the (padded) weight buffers; 0 before upload */
  ArDType dtype;
} ArModelSummary;

typedef enum {
  AR_MODEL_LOAD_DEFAULT = 0,
  AR_MODEL_LOAD_FORCE_F32 = 1 << 0,   /* fp32 storage even where fp16 is available */
  AR_MODEL_LOAD_PREFER_F16 = 1 << 1,  /* fp16 storage wherever the device has it, CPUs included */
} ArModelLoadFlags;

typedef struct _ArModel ArModel;

/* Loads @card_path and its weights onto @dev. fp16 storage when dev->caps.fp16_storage on
 * GPUs; fp32 on CPU devices, where lavapipe converts fp16 in software (iris-small: 1111 against
 * 1468 ms per frame); fp32 everywhere when AR_MODEL_FP32=1 is set in the environment. */
ArModel *ar_model_load (ArDevice *dev, const char *card_path, GError **error);
ArModel *ar_model_load_full (ArDevice *dev, const char *card_path, ArModelLoadFlags flags, GError **error);

/* The process-wide copy of a model: the same object for every caller naming the same card on
 * the same device, while anyone holds a reference (keyed by realpath, size and mtime of the
 * card and of its weights, so an edited file loads anew). Thread-safe; loads are serialized. */
ArModel *ar_model_get_shared (ArDevice *dev, const char *card_path, GError **error);

ArModel *ar_model_ref (ArModel *model);
void ar_model_unref (ArModel *model);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArModel, ar_model_unref)

const ArCard *ar_model_card (const ArModel *model);
ArDevice *ar_model_device (const ArModel *model);
ArDType ar_model_dtype (const ArModel *model);
const ArModelSummary *ar_model_summary (const ArModel *model);

/* A short hex digest of the tokenizer section (as parsed) and the tokenizer tensors as stored
 * in the weights file (so fp16 and fp32 loads agree): tokens are interchangeable only between
 * models whose fingerprints are equal. Computed once, on first use, without building the
 * tokenizer graph; the same value as ar_tokenizer_fingerprint. NULL (with @error set) when the
 * model has no tokenizer or its weights file cannot be read any more. Thread-safe. */
const char *ar_model_tokenizer_fingerprint (ArModel *model, GError **error);

/* What callers compute once per model and share, such as the predictor's fused-step trial
 * (the one thing about a model that changes after loading). Take the lock around a get and
 * the set that follows it; set takes @value (plain data, freed with g_free). */
void ar_model_memo_lock (ArModel *model);
void ar_model_memo_unlock (ArModel *model);
gconstpointer ar_model_memo_get (ArModel *model, const char *key);
void ar_model_memo_set (ArModel *model, const char *key, gpointer value);
/* NULL when the model has no such tensor. */
const ArModelTensor *ar_model_lookup (const ArModel *model, const char *name);

/* Checks that @st holds exactly the tensors @card implies, with their shapes and a float dtype
 * (F32, F16, BF16). Needs no device. */
gboolean ar_model_check_weights (const ArCard *card, const ArSafetensors *st, GError **error);

/* Parameter counts from the card alone (device_bytes stays 0). */
void ar_card_summarize (const ArCard *card, ArModelSummary *summary);

G_END_DECLS

/* Model loading: card -> expected tensors -> checked against the weights -> uploaded once. */
#include "ar-model.h"
#include "ar-half.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
  ArModelTensor t;
  gchar *owned_name;
} Tensor;

struct _ArModel {
  gint refcount;
  ArDevice *dev;
  ArCard *card;
  GPtrArray *tensors;          /* Tensor*, in the card's order */
  GHashTable *by_name;         /* name -> Tensor* */
  ArModelSummary summary;
  gchar *share_key;            /* set while the model is in the shared table */
  GMutex fingerprint_lock;
  gchar fingerprint[17];       /* "" until computed */
  GMutex memo_lock;
  GHashTable *memo;            /* key -> what a caller computed once (ar_model_memo_*) */
};

static GMutex shared_lock;
static GHashTable *shared_models;   /* share key -> ArModel* (weak), guarded by shared_lock */

static void
tensor_free (gpointer p)
{
  Tensor *t = p;
  ar_buffer_free (t->t.buf);
  g_free (t->owned_name);
  g_free (t);
}

static void
model_free (ArModel *m)
{
  g_clear_pointer (&m->by_name, g_hash_table_unref);
  g_clear_pointer (&m->tensors, g_ptr_array_unref);   /* buffers before the device */
  ar_card_free (m->card);
  if (m->dev)
    ar_device_unref (m->dev);
  g_free (m->share_key);
  g_mutex_clear (&m->fingerprint_lock);
  g_clear_pointer (&m->memo, g_hash_table_unref);
  g_mutex_clear (&m->memo_lock);
  g_free (m);
}

void
ar_model_memo_lock (ArModel *model)
{
  g_mutex_lock (&model->memo_lock);
}

void
ar_model_memo_unlock (ArModel *model)
{
  g_mutex_unlock (&model->memo_lock);
}

gconstpointer
ar_model_memo_get (ArModel *model, const char *key)
{
  return model->memo ? g_hash_table_lookup (model->memo, key) : NULL;
}

void
ar_model_memo_set (ArModel *model, const char *key, gpointer value)
{
  if (!model->memo)
    model->memo = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_hash_table_replace (model->memo, g_strdup (key), value);
}

ArModel *
ar_model_ref (ArModel *model)
{
  g_atomic_int_inc (&model->refcount);
  return model;
}

void
ar_model_unref (ArModel *model)
{
  if (!model)
    return;
  if (model->share_key) {
    /* Under the lock, so that get_shared never hands out a model that is being freed. */
    g_mutex_lock (&shared_lock);
    if (!g_atomic_int_dec_and_test (&model->refcount)) {
      g_mutex_unlock (&shared_lock);
      return;
    }
    g_hash_table_remove (shared_models, model->share_key);
    g_mutex_unlock (&shared_lock);
  } else if (!g_atomic_int_dec_and_test (&model->refcount)) {
    return;
  }
  model_free (model);
}

const ArCard *
ar_model_card (const ArModel *model)
{
  return model->card;
}

ArDevice *
ar_model_device (const ArModel *model)
{
  return model->dev;
}

ArDType
ar_model_dtype (const ArModel *model)
{
  return model->summary.dtype;
}

const ArModelSummary *
ar_model_summary (const ArModel *model)
{
  return &model->summary;
}

static gboolean
compute_tokenizer_fingerprint (const ArCard *card, gchar out[17], GError **error)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree gchar *desc = ar_card_describe_tokenizer (card);
  g_checksum_update (sum, (const guchar *) desc, -1);
  g_checksum_update (sum, (const guchar *) &card->tokenizer, sizeof card->tokenizer);
  g_autoptr (ArSafetensors) st = ar_safetensors_open (card->weights, error);
  if (!st)
    return FALSE;
  for (guint i = 0; i < ar_safetensors_n_tensors (st); i++) {
    const ArStTensor *t = ar_safetensors_nth (st, i);
    if (!g_str_has_prefix (t->name, "tokenizer."))
      continue;
    g_checksum_update (sum, (const guchar *) t->name, strlen (t->name) + 1);
    g_checksum_update (sum, (const guchar *) ar_st_dtype_name (t->dtype), -1);
    g_checksum_update (sum, (const guchar *) t->shape, sizeof (gint64) * t->ndim);
    g_checksum_update (sum, t->data, t->nbytes);
  }
  g_strlcpy (out, g_checksum_get_string (sum), 17);
  return TRUE;
}

const char *
ar_model_tokenizer_fingerprint (ArModel *model, GError **error)
{
  g_return_val_if_fail (model != NULL, NULL);
  const ArCard *card = model->card;
  if (card->tokenizer.kind == AR_TOKENIZER_NONE) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: the model has no tokenizer section", card->path);
    return NULL;
  }
  g_mutex_lock (&model->fingerprint_lock);
  gboolean ok = model->fingerprint[0] || compute_tokenizer_fingerprint (card, model->fingerprint, error);
  g_mutex_unlock (&model->fingerprint_lock);
  return ok ? model->fingerprint : NULL;
}

const ArModelTensor *
ar_model_lookup (const ArModel *model, const char *name)
{
  Tensor *t = g_hash_table_lookup (model->by_name, name);
  return t ? &t->t : NULL;
}

void
ar_card_summarize (const ArCard *card, ArModelSummary *summary)
{
  memset (summary, 0, sizeof *summary);
  g_autoptr (GArray) specs = ar_card_expected_tensors (card);
  summary->n_tensors = specs->len;
  for (guint i = 0; i < specs->len; i++) {
    const ArTensorSpec *s = &g_array_index (specs, ArTensorSpec, i);
    guint64 n = ar_tensor_spec_elements (s);
    if (g_str_has_prefix (s->name, "tokenizer."))
      summary->tokenizer_params += n;
    else
      summary->predictor_params += n;
  }
  summary->total_params = summary->tokenizer_params + summary->predictor_params;
}

static gboolean
is_float_dtype (ArStDType dt)
{
  return dt == AR_ST_F32 || dt == AR_ST_F16 || dt == AR_ST_BF16;
}

gboolean
ar_model_check_weights (const ArCard *card, const ArSafetensors *st, GError **error)
{
  const char *label = ar_safetensors_label (st);
  g_autoptr (GArray) specs = ar_card_expected_tensors (card);
  g_autoptr (GHashTable) expected = g_hash_table_new (g_str_hash, g_str_equal);
  guint missing = 0;
  const char *first_missing = NULL;
  for (guint i = 0; i < specs->len; i++) {
    const ArTensorSpec *s = &g_array_index (specs, ArTensorSpec, i);
    g_hash_table_add (expected, s->name);
    const ArStTensor *t = ar_safetensors_lookup (st, s->name);
    if (!t) {
      if (!missing++)
        first_missing = s->name;
      continue;
    }
    gboolean same = t->ndim == s->ndim;
    for (guint d = 0; same && d < s->ndim; d++)
      same = t->shape[d] == s->shape[d];
    if (!same) {
      g_autofree gchar *want = ar_st_format_shape (s->ndim, s->shape);
      g_autofree gchar *have = ar_st_format_shape (t->ndim, t->shape);
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: %s: card expects %s, file has %s", label, s->name,
          want, have);
      return FALSE;
    }
    if (!is_float_dtype (t->dtype)) {
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: %s: dtype %s, weights must be F32, F16 or BF16",
          label, s->name, ar_st_dtype_name (t->dtype));
      return FALSE;
    }
  }
  if (missing) {
    g_autofree gchar *more = missing > 1 ? g_strdup_printf (" and %u more", missing - 1) : NULL;
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: missing tensor '%s'%s", label, first_missing,
        more ? more : "");
    return FALSE;
  }
  guint n = ar_safetensors_n_tensors (st);
  for (guint i = 0; i < n; i++) {
    const ArStTensor *t = ar_safetensors_nth (st, i);
    if (!g_hash_table_contains (expected, t->name)) {
      g_autofree gchar *have = ar_st_format_shape (t->ndim, t->shape);
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: extra tensor '%s' %s that the card does not imply",
          label, t->name, have);
      return FALSE;
    }
  }
  return TRUE;
}

/* Converts @n elements of @src (unaligned) into @dst in the storage type. Returns how many
 * finite values overflowed fp16. */
static guint64
convert (const ArStTensor *src, ArDType to, guint64 n, void *dst)
{
  const guint8 *s = src->data;
  guint64 overflow = 0;
  for (guint64 i = 0; i < n; i++) {
    float f;
    if (src->dtype == AR_ST_F32) {
      memcpy (&f, s + 4 * i, 4);
    } else {
      guint16 h;
      memcpy (&h, s + 2 * i, 2);
      if (src->dtype == AR_ST_F16) {
        if (to == AR_F16) {
          ((guint16 *) dst)[i] = h;
          continue;
        }
        f = ar_half_to_float (h);
      } else {   /* BF16: the top half of a float */
        guint32 bits = (guint32) h << 16;
        memcpy (&f, &bits, 4);
      }
    }
    if (to == AR_F32) {
      ((float *) dst)[i] = f;
    } else {
      guint16 h = ar_float_to_half (f);
      overflow += isfinite (f) && (h & 0x7c00u) == 0x7c00u;
      ((guint16 *) dst)[i] = h;
    }
  }
  return overflow;
}

static gboolean
upload (ArModel *m, const ArSafetensors *st, GError **error)
{
  g_autoptr (GArray) specs = ar_card_expected_tensors (m->card);
  ArDType dt = m->summary.dtype;
  gsize scratch_size = 0;
  g_autofree void *scratch = NULL;
  for (guint i = 0; i < specs->len; i++) {
    const ArTensorSpec *s = &g_array_index (specs, ArTensorSpec, i);
    const ArStTensor *src = ar_safetensors_lookup (st, s->name);
    Tensor *t = g_new0 (Tensor, 1);
    t->owned_name = g_strdup (s->name);
    t->t.name = t->owned_name;
    t->t.dtype = dt;
    t->t.ndim = s->ndim;
    memcpy (t->t.shape, s->shape, sizeof s->shape);
    t->t.n_elements = ar_tensor_spec_elements (s);
    g_ptr_array_add (m->tensors, t);
    g_hash_table_insert (m->by_name, t->owned_name, t);

    gsize bytes = (gsize) t->t.n_elements * ar_dtype_size (dt);
    if (bytes > scratch_size) {
      g_free (scratch);
      scratch = g_try_malloc (bytes);
      scratch_size = scratch ? bytes : 0;
      if (!scratch) {
        g_set_error (error, AR_ERROR, AR_ERROR_OUT_OF_MEMORY, "%s: %s: cannot allocate %" G_GSIZE_FORMAT
            " bytes of host memory", m->card->weights, s->name, bytes);
        return FALSE;
      }
    }
    guint64 overflow = convert (src, dt, t->t.n_elements, scratch);
    if (overflow)
      g_warning ("%s: %s: %" G_GUINT64_FORMAT " values exceed the fp16 range and became infinite",
          m->card->weights, s->name, overflow);
    g_autoptr (GError) err = NULL;
    t->t.buf = ar_buffer_new (m->dev, bytes, AR_MEM_DEVICE, &err);
    if (!t->t.buf || !ar_buffer_write (t->t.buf, 0, scratch, bytes, &err)) {
      g_set_error (error, err->domain, err->code, "%s: uploading %s: %s", m->card->weights, s->name,
          err->message);
      return FALSE;
    }
    m->summary.device_bytes += t->t.buf->size;
  }
  return TRUE;
}

/* The storage type a model gets on @dev (see ar_model_load). */
static ArDType
storage_dtype (ArDevice *dev, ArModelLoadFlags flags)
{
  if ((flags & AR_MODEL_LOAD_FORCE_F32) || !dev->caps.fp16_storage
      || g_strcmp0 (g_getenv ("AR_MODEL_FP32"), "1") == 0)
    return AR_F32;
  if (dev->caps.is_cpu && !(flags & AR_MODEL_LOAD_PREFER_F16))
    return AR_F32;
  return AR_F16;
}

/* Takes @card. */
static ArModel *
load_card (ArDevice *dev, ArCard *card, ArModelLoadFlags flags, GError **error)
{
  ArModel *m = g_new0 (ArModel, 1);
  m->refcount = 1;
  g_mutex_init (&m->fingerprint_lock);
  g_mutex_init (&m->memo_lock);
  m->dev = ar_device_ref (dev);
  m->card = card;
  m->tensors = g_ptr_array_new_with_free_func (tensor_free);
  m->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  ar_card_summarize (card, &m->summary);
  m->summary.dtype = storage_dtype (dev, flags);

  g_autoptr (ArSafetensors) st = ar_safetensors_open (card->weights, error);
  if (!st || !ar_model_check_weights (card, st, error) || !upload (m, st, error)) {
    model_free (m);
    return NULL;
  }
  return m;
}

ArModel *
ar_model_load_full (ArDevice *dev, const char *card_path, ArModelLoadFlags flags, GError **error)
{
  g_return_val_if_fail (dev != NULL && card_path != NULL, NULL);
  ArCard *card = ar_card_load (card_path, error);
  return card ? load_card (dev, card, flags, error) : NULL;
}

ArModel *
ar_model_load (ArDevice *dev, const char *card_path, GError **error)
{
  return ar_model_load_full (dev, card_path, AR_MODEL_LOAD_DEFAULT, error);
}

/* "realpath:size:mtime" of a file, or NULL when it cannot be resolved. */
static gchar *
file_identity (const char *path)
{
  char *real = realpath (path, NULL);
  struct stat sb;
  if (!real || stat (real, &sb) != 0) {
    free (real);
    return NULL;
  }
  gchar *id = g_strdup_printf ("%s:%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT ".%09ld", real,
      (gint64) sb.st_size, (gint64) sb.st_mtim.tv_sec, (long) sb.st_mtim.tv_nsec);
  free (real);
  return id;
}

ArModel *
ar_model_get_shared (ArDevice *dev, const char *card_path, GError **error)
{
  g_return_val_if_fail (dev != NULL && card_path != NULL, NULL);
  g_mutex_lock (&shared_lock);
  if (!shared_models)
    shared_models = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, NULL);
  ArModel *m = NULL;
  ArCard *card = ar_card_load (card_path, error);
  if (card) {
    g_autofree gchar *card_id = file_identity (card_path);
    g_autofree gchar *weights_id = file_identity (card->weights);
    ArDType dt = storage_dtype (dev, AR_MODEL_LOAD_DEFAULT);
    g_autofree gchar *key = card_id && weights_id
        ? g_strdup_printf ("%p|%s|%s|%s", (void *) dev, ar_dtype_name (dt), card_id, weights_id) : NULL;
    m = key ? g_hash_table_lookup (shared_models, key) : NULL;
    if (m) {
      ar_card_free (card);
      ar_model_ref (m);
    } else {
      m = load_card (dev, card, AR_MODEL_LOAD_DEFAULT, error);
      if (m && key) {
        m->share_key = g_steal_pointer (&key);
        g_hash_table_insert (shared_models, m->share_key, m);
      }
    }
  }
  g_mutex_unlock (&shared_lock);
  return m;
}

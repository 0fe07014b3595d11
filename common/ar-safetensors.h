/* Safetensors files: a strict reader (mmap or memory) and a small writer.
 * Layout: u64 little-endian header length N, N bytes of JSON header
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
 * then the data section that the offsets index (relative to its start). */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  AR_ST_BOOL,
  AR_ST_U8,
  AR_ST_I8,
  AR_ST_F8_E5M2,
  AR_ST_F8_E4M3,
  AR_ST_I16,
  AR_ST_U16,
  AR_ST_F16,
  AR_ST_BF16,
  AR_ST_I32,
  AR_ST_U32,
  AR_ST_F32,
  AR_ST_F64,
  AR_ST_I64,
  AR_ST_U64,
  AR_ST_N_DTYPES
} ArStDType;

#define AR_ST_MAX_DIMS 8

/* One tensor. In a reader, @data points into the mapping and may be unaligned: read it with
 * memcpy. */
typedef struct {
  const char *name;
  ArStDType dtype;
  guint ndim;
  gint64 shape[AR_ST_MAX_DIMS];
  const void *data;
  gsize nbytes;
} ArStTensor;

typedef struct _ArSafetensors ArSafetensors;

/* Bytes per element, and the name as spelt in files ("F32"). */
gsize ar_st_dtype_size (ArStDType dtype);
const char *ar_st_dtype_name (ArStDType dtype);

/* Maps @path and validates it completely; errors are AR_ERROR_MODEL and name the file. */
ArSafetensors *ar_safetensors_open (const char *path, GError **error);

/* Same from memory (keeps a reference on @bytes). @label names the source in errors. */
ArSafetensors *ar_safetensors_open_bytes (GBytes *bytes, const char *label, GError **error);

void ar_safetensors_close (ArSafetensors *st);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArSafetensors, ar_safetensors_close)

const char *ar_safetensors_label (const ArSafetensors *st);
guint ar_safetensors_n_tensors (const ArSafetensors *st);

/* Tensors in data-offset order; NULL when @index is out of range. */
const ArStTensor *ar_safetensors_nth (const ArSafetensors *st, guint index);

/* NULL when absent. */
const ArStTensor *ar_safetensors_lookup (const ArSafetensors *st, const char *name);

/* A "__metadata__" string value, or NULL. */
const char *ar_safetensors_metadata (const ArSafetensors *st, const char *key);

/* "[64,3,3,3]": for messages. */
gchar *ar_st_format_shape (guint ndim, const gint64 *shape);

/* Writes @n tensors (data of each is @nbytes, which must match dtype and shape) and optional
 * string metadata (NULL-terminated key, value pairs, may be NULL). Names must be unique. */
gboolean ar_safetensors_write (const char *path, const ArStTensor *tensors, guint n,
    const char *const *metadata, GError **error);

/* The same file contents in memory. */
GBytes *ar_safetensors_serialize (const ArStTensor *tensors, guint n, const char *const *metadata,
    GError **error);

G_END_DECLS

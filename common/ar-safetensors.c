/* Safetensors reader and writer. The reader trusts nothing in the file: every length, offset
 * and shape is checked with overflow-safe arithmetic before any data pointer is formed. */
#include "ar-safetensors.h"
#include "ar-device.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

/* The reference implementation refuses headers above 100 MB; so do we. */
#define MAX_HEADER_BYTES (100u * 1024u * 1024u)
/* json-glib parses recursively: bound the nesting before handing it the text. */
#define MAX_JSON_DEPTH 32
/* No real tensor dimension comes near this; it keeps products far from overflow. */
#define MAX_DIM ((gint64) 1 << 40)

static const struct {
  const char *name;
  gsize size;
} dtype_info[AR_ST_N_DTYPES] = {
  [AR_ST_BOOL] = { "BOOL", 1 },
  [AR_ST_U8] = { "U8", 1 },
  [AR_ST_I8] = { "I8", 1 },
  [AR_ST_F8_E5M2] = { "F8_E5M2", 1 },
  [AR_ST_F8_E4M3] = { "F8_E4M3", 1 },
  [AR_ST_I16] = { "I16", 2 },
  [AR_ST_U16] = { "U16", 2 },
  [AR_ST_F16] = { "F16", 2 },
  [AR_ST_BF16] = { "BF16", 2 },
  [AR_ST_I32] = { "I32", 4 },
  [AR_ST_U32] = { "U32", 4 },
  [AR_ST_F32] = { "F32", 4 },
  [AR_ST_F64] = { "F64", 8 },
  [AR_ST_I64] = { "I64", 8 },
  [AR_ST_U64] = { "U64", 8 },
};

struct _ArSafetensors {
  gchar *label;
  GBytes *bytes;
  GPtrArray *tensors;      /* ArStTensor*, in data-offset order */
  GHashTable *by_name;     /* name -> ArStTensor* */
  GHashTable *metadata;    /* key -> value, both owned */
};

gsize
ar_st_dtype_size (ArStDType dtype)
{
  return (guint) dtype < AR_ST_N_DTYPES ? dtype_info[dtype].size : 0;
}

const char *
ar_st_dtype_name (ArStDType dtype)
{
  return (guint) dtype < AR_ST_N_DTYPES ? dtype_info[dtype].name : "?";
}

static gboolean
dtype_from_name (const char *name, ArStDType *out)
{
  for (guint i = 0; i < AR_ST_N_DTYPES; i++) {
    if (strcmp (dtype_info[i].name, name) == 0) {
      *out = (ArStDType) i;
      return TRUE;
    }
  }
  return FALSE;
}

gchar *
ar_st_format_shape (guint ndim, const gint64 *shape)
{
  GString *s = g_string_new ("[");
  for (guint i = 0; i < ndim; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i ? "," : "", shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

typedef struct {
  ArStTensor t;
  gchar *owned_name;
  guint64 begin, end;       /* relative to the data section */
} Entry;

static void
entry_free (gpointer p)
{
  Entry *e = p;
  g_free (e->owned_name);
  g_free (e);
}

void
ar_safetensors_close (ArSafetensors *st)
{
  if (!st)
    return;
  g_clear_pointer (&st->by_name, g_hash_table_unref);
  g_clear_pointer (&st->tensors, g_ptr_array_unref);
  g_clear_pointer (&st->metadata, g_hash_table_unref);
  g_clear_pointer (&st->bytes, g_bytes_unref);
  g_free (st->label);
  g_free (st);
}

/* Checks JSON nesting depth without parsing, skipping string contents. */
static gboolean
json_depth_ok (const char *text, gsize len, guint max_depth)
{
  guint depth = 0;
  gboolean in_string = FALSE;
  for (gsize i = 0; i < len; i++) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_string = FALSE;
    } else if (c == '"') {
      in_string = TRUE;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        return FALSE;
    } else if ((c == ']' || c == '}') && depth > 0) {
      depth--;
    }
  }
  return TRUE;
}

/* A JSON integer (not a float, not a string); FALSE otherwise. */
static gboolean
json_get_int (JsonNode *node, gint64 *out)
{
  if (!node || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  *out = json_node_get_int (node);
  return TRUE;
}

static gboolean
parse_entry (ArSafetensors *st, const char *name, JsonNode *node, guint64 data_size, GError **error)
{
  const char *label = st->label;
  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: tensor '%s': entry is not an object", label, name);
    return FALSE;
  }
  JsonObject *obj = json_node_get_object (node);
  static const char *const required[] = { "dtype", "shape", "data_offsets" };
  for (guint i = 0; i < G_N_ELEMENTS (required); i++) {
    if (!json_object_has_member (obj, required[i])) {
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: tensor '%s': missing \"%s\"", label, name,
          required[i]);
      return FALSE;
    }
  }
  if (json_object_get_size (obj) != G_N_ELEMENTS (required)) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: tensor '%s': unexpected members (only dtype, shape, data_offsets are allowed)", label, name);
    return FALSE;
  }

  Entry *e = g_new0 (Entry, 1);
  e->owned_name = g_strdup (name);
  e->t.name = e->owned_name;
  g_ptr_array_add (st->tensors, e);   /* owned from here, also on error */

  JsonNode *dt = json_object_get_member (obj, "dtype");
  if (!JSON_NODE_HOLDS_VALUE (dt) || json_node_get_value_type (dt) != G_TYPE_STRING) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: tensor '%s': dtype is not a string", label, name);
    return FALSE;
  }
  if (!dtype_from_name (json_node_get_string (dt), &e->t.dtype)) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: tensor '%s': unknown dtype '%s'", label, name,
        json_node_get_string (dt));
    return FALSE;
  }

  JsonNode *sh = json_object_get_member (obj, "shape");
  if (!JSON_NODE_HOLDS_ARRAY (sh)) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: tensor '%s': shape is not an array", label, name);
    return FALSE;
  }
  JsonArray *sha = json_node_get_array (sh);
  guint ndim = json_array_get_length (sha);
  if (ndim > AR_ST_MAX_DIMS) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: tensor '%s': %u dimensions (at most %d)", label,
        name, ndim, AR_ST_MAX_DIMS);
    return FALSE;
  }
  e->t.ndim = ndim;
  guint64 n_elements = 1;
  for (guint i = 0; i < ndim; i++) {
    gint64 d;
    if (!json_get_int (json_array_get_element (sha, i), &d)) {
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: tensor '%s': shape[%u] is not an integer",
          label, name, i);
      return FALSE;
    }
    if (d < 0 || d > MAX_DIM) {
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: tensor '%s': shape[%u] = %" G_GINT64_FORMAT
          " is %s", label, name, i, d, d < 0 ? "negative" : "absurdly large");
      return FALSE;
    }
    e->t.shape[i] = d;
    if (!g_uint64_checked_mul (&n_elements, n_elements, (guint64) d)) {
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: tensor '%s': element count overflows", label, name);
      return FALSE;
    }
  }
  guint64 expect_bytes;
  if (!g_uint64_checked_mul (&expect_bytes, n_elements, ar_st_dtype_size (e->t.dtype))) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: tensor '%s': byte size overflows", label, name);
    return FALSE;
  }

  JsonNode *off = json_object_get_member (obj, "data_offsets");
  gint64 begin, end;
  if (!JSON_NODE_HOLDS_ARRAY (off) || json_array_get_length (json_node_get_array (off)) != 2
      || !json_get_int (json_array_get_element (json_node_get_array (off), 0), &begin)
      || !json_get_int (json_array_get_element (json_node_get_array (off), 1), &end)) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: tensor '%s': data_offsets is not an array of two integers", label, name);
    return FALSE;
  }
  if (begin < 0 || end < begin || (guint64) end > data_size) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: tensor '%s': data_offsets [%" G_GINT64_FORMAT
        ", %" G_GINT64_FORMAT "] lie outside the data section (%" G_GUINT64_FORMAT " bytes)",
        label, name, begin, end, data_size);
    return FALSE;
  }
  if ((guint64) (end - begin) != expect_bytes) {
    g_autofree gchar *shape = ar_st_format_shape (ndim, e->t.shape);
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: tensor '%s': %s %s needs %" G_GUINT64_FORMAT
        " bytes but data_offsets span %" G_GINT64_FORMAT, label, name,
        ar_st_dtype_name (e->t.dtype), shape, expect_bytes, end - begin);
    return FALSE;
  }
  e->begin = (guint64) begin;
  e->end = (guint64) end;
  e->t.nbytes = (gsize) expect_bytes;
  return TRUE;
}

static gboolean
parse_metadata (ArSafetensors *st, JsonNode *node, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: __metadata__ is not an object", st->label);
    return FALSE;
  }
  JsonObjectIter it;
  const char *key;
  JsonNode *val;
  json_object_iter_init (&it, json_node_get_object (node));
  while (json_object_iter_next (&it, &key, &val)) {
    if (!JSON_NODE_HOLDS_VALUE (val) || json_node_get_value_type (val) != G_TYPE_STRING) {
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: __metadata__ value '%s' is not a string",
          st->label, key);
      return FALSE;
    }
    g_hash_table_replace (st->metadata, g_strdup (key), g_strdup (json_node_get_string (val)));
  }
  return TRUE;
}

static gint
entry_cmp (gconstpointer a, gconstpointer b)
{
  const Entry *x = *(Entry *const *) a, *y = *(Entry *const *) b;
  if (x->begin != y->begin)
    return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end)
    return x->end < y->end ? -1 : 1;
  return strcmp (x->t.name, y->t.name);
}

ArSafetensors *
ar_safetensors_open_bytes (GBytes *bytes, const char *label, GError **error)
{
  g_return_val_if_fail (bytes != NULL, NULL);
  g_autoptr (ArSafetensors) st = g_new0 (ArSafetensors, 1);
  st->label = g_strdup (label ? label : "(memory)");
  st->bytes = g_bytes_ref (bytes);
  st->tensors = g_ptr_array_new_with_free_func (entry_free);
  st->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  st->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  gsize size;
  const guint8 *base = g_bytes_get_data (bytes, &size);
  if (size < 8) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: file is %" G_GSIZE_FORMAT " bytes, shorter than the 8-byte header length (truncated)",
        st->label, size);
    return NULL;
  }
  guint64 header_len = 0;
  for (int i = 7; i >= 0; i--)
    header_len = header_len << 8 | base[i];
  if (header_len > MAX_HEADER_BYTES) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: header length %" G_GUINT64_FORMAT " is absurd (at most %u)%s", st->label, header_len,
        MAX_HEADER_BYTES, header_len > size - 8 ? "; the file is truncated or not safetensors" : "");
    return NULL;
  }
  if (header_len > size - 8) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: truncated: header length %" G_GUINT64_FORMAT " exceeds the %" G_GSIZE_FORMAT
        " bytes after it", st->label, header_len, size - 8);
    return NULL;
  }
  const char *header = (const char *) base + 8;
  guint64 data_size = size - 8 - header_len;
  const guint8 *data = base + 8 + header_len;

  if (header_len == 0 || !g_utf8_validate (header, (gssize) header_len, NULL)
      || !json_depth_ok (header, header_len, MAX_JSON_DEPTH)) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: header is not JSON (%s)", st->label,
        header_len == 0 ? "empty" : "not UTF-8, contains NUL, or nested too deeply");
    return NULL;
  }
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) jerr = NULL;
  if (!json_parser_load_from_data (parser, header, (gssize) header_len, &jerr)) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: header is not JSON: %s", st->label, jerr->message);
    return NULL;
  }
  JsonNode *root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: header is not a JSON object", st->label);
    return NULL;
  }

  JsonObjectIter it;
  const char *name;
  JsonNode *node;
  json_object_iter_init (&it, json_node_get_object (root));
  while (json_object_iter_next (&it, &name, &node)) {
    if (strcmp (name, "__metadata__") == 0) {
      if (!parse_metadata (st, node, error))
        return NULL;
      continue;
    }
    if (name[0] == '\0') {
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: a tensor has an empty name", st->label);
      return NULL;
    }
    if (!parse_entry (st, name, node, data_size, error))
      return NULL;
  }

  /* The data section must be covered exactly: no holes, no overlaps (as the format requires),
   * which also catches duplicate keys that the JSON parser merged. */
  g_ptr_array_sort (st->tensors, entry_cmp);
  guint64 pos = 0;
  for (guint i = 0; i < st->tensors->len; i++) {
    Entry *e = st->tensors->pdata[i];
    if (e->begin != pos) {
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: tensor '%s' at data offset %" G_GUINT64_FORMAT
          " %s the previous tensor's end (%" G_GUINT64_FORMAT ")", st->label, e->t.name, e->begin,
          e->begin < pos ? "overlaps" : "leaves a hole after", pos);
      return NULL;
    }
    pos = e->end;
    e->t.data = data + e->begin;
    g_hash_table_insert (st->by_name, (gpointer) e->t.name, &e->t);
  }
  if (pos != data_size) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: %" G_GUINT64_FORMAT
        " bytes of the data section are not covered by any tensor", st->label, data_size - pos);
    return NULL;
  }
  return g_steal_pointer (&st);
}

ArSafetensors *
ar_safetensors_open (const char *path, GError **error)
{
  g_autoptr (GError) ferr = NULL;
  g_autoptr (GMappedFile) mf = g_mapped_file_new (path, FALSE, &ferr);
  if (!mf) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: cannot open: %s", path, ferr->message);
    return NULL;
  }
  g_autoptr (GBytes) bytes = g_mapped_file_get_bytes (mf);
  return ar_safetensors_open_bytes (bytes, path, error);
}

const char *
ar_safetensors_label (const ArSafetensors *st)
{
  return st->label;
}

guint
ar_safetensors_n_tensors (const ArSafetensors *st)
{
  return st->tensors->len;
}

const ArStTensor *
ar_safetensors_nth (const ArSafetensors *st, guint index)
{
  return index < st->tensors->len ? &((Entry *) st->tensors->pdata[index])->t : NULL;
}

const ArStTensor *
ar_safetensors_lookup (const ArSafetensors *st, const char *name)
{
  return g_hash_table_lookup (st->by_name, name);
}

const char *
ar_safetensors_metadata (const ArSafetensors *st, const char *key)
{
  return g_hash_table_lookup (st->metadata, key);
}

/* Writer */

/* The header text, padded with spaces to a multiple of 8 so that data starts aligned. */
static gchar *
build_header (const ArStTensor *tensors, guint n, const char *const *metadata, gsize *len, GError **error)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  if (metadata && metadata[0]) {
    json_builder_set_member_name (b, "__metadata__");
    json_builder_begin_object (b);
    for (guint i = 0; metadata[i] && metadata[i + 1]; i += 2) {
      json_builder_set_member_name (b, metadata[i]);
      json_builder_add_string_value (b, metadata[i + 1]);
    }
    json_builder_end_object (b);
  }
  guint64 offset = 0;
  for (guint i = 0; i < n; i++) {
    const ArStTensor *t = &tensors[i];
    guint64 elems = 1;
    gboolean ok = t->name && t->name[0] && strcmp (t->name, "__metadata__") != 0
        && (guint) t->dtype < AR_ST_N_DTYPES && t->ndim <= AR_ST_MAX_DIMS
        && (t->data || t->nbytes == 0);
    for (guint d = 0; ok && d < t->ndim; d++)
      ok = t->shape[d] >= 0 && g_uint64_checked_mul (&elems, elems, (guint64) t->shape[d]);
    ok = ok && g_uint64_checked_mul (&elems, elems, ar_st_dtype_size (t->dtype)) && elems == t->nbytes;
    if (!ok || !g_hash_table_add (seen, (gpointer) t->name)) {
      g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "safetensors writer: tensor %u ('%s') is invalid%s",
          i, t->name ? t->name : "(null)", ok ? " (duplicate name)" : "");
      return NULL;
    }
    json_builder_set_member_name (b, t->name);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "dtype");
    json_builder_add_string_value (b, ar_st_dtype_name (t->dtype));
    json_builder_set_member_name (b, "shape");
    json_builder_begin_array (b);
    for (guint d = 0; d < t->ndim; d++)
      json_builder_add_int_value (b, t->shape[d]);
    json_builder_end_array (b);
    json_builder_set_member_name (b, "data_offsets");
    json_builder_begin_array (b);
    json_builder_add_int_value (b, (gint64) offset);
    json_builder_add_int_value (b, (gint64) (offset + t->nbytes));
    json_builder_end_array (b);
    json_builder_end_object (b);
    offset += t->nbytes;
  }
  json_builder_end_object (b);

  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, root);
  gsize text_len;
  g_autofree gchar *text = json_generator_to_data (gen, &text_len);
  GString *s = g_string_new_len (text, (gssize) text_len);
  while (s->len % 8)
    g_string_append_c (s, ' ');
  *len = s->len;
  return g_string_free (s, FALSE);
}

static void
put_u64_le (guint8 out[8], guint64 v)
{
  for (int i = 0; i < 8; i++)
    out[i] = (guint8) (v >> (8 * i));
}

GBytes *
ar_safetensors_serialize (const ArStTensor *tensors, guint n, const char *const *metadata, GError **error)
{
  gsize header_len;
  g_autofree gchar *header = build_header (tensors, n, metadata, &header_len, error);
  if (!header)
    return NULL;
  GByteArray *out = g_byte_array_new ();
  guint8 len_le[8];
  put_u64_le (len_le, header_len);
  g_byte_array_append (out, len_le, 8);
  g_byte_array_append (out, (const guint8 *) header, (guint) header_len);
  for (guint i = 0; i < n; i++)
    if (tensors[i].nbytes)
      g_byte_array_append (out, tensors[i].data, (guint) tensors[i].nbytes);
  return g_byte_array_free_to_bytes (out);
}

gboolean
ar_safetensors_write (const char *path, const ArStTensor *tensors, guint n, const char *const *metadata,
    GError **error)
{
  gsize header_len;
  g_autofree gchar *header = build_header (tensors, n, metadata, &header_len, error);
  if (!header)
    return FALSE;
  FILE *f = fopen (path, "wb");
  if (!f) {
    int e = errno;
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: cannot create: %s", path, g_strerror (e));
    return FALSE;
  }
  guint8 len_le[8];
  put_u64_le (len_le, header_len);
  gboolean ok = fwrite (len_le, 1, 8, f) == 8 && fwrite (header, 1, header_len, f) == header_len;
  for (guint i = 0; ok && i < n; i++)
    ok = fwrite (tensors[i].data, 1, tensors[i].nbytes, f) == tensors[i].nbytes;
  int e = errno;
  if (fclose (f) != 0 && ok) {
    e = errno;
    ok = FALSE;
  }
  if (!ok) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: write failed: %s", path, g_strerror (e));
    remove (path);
  }
  return ok;
}

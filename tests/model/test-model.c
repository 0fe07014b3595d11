/* Model loading tests: writes small cards and random safetensors into a temporary directory,
 * loads them, and checks both the uploaded data and the error messages of broken models.
 * Prints one line per case and "N passed, N failed". */
#include "ar-half.h"
#include "ar-model.h"
#include "ar-tokenizer.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

static guint n_passed, n_failed, n_skipped;
static gchar *tmpdir;
static gchar *card_path;      /* tmpdir/card.yaml */
static gchar *weights_path;   /* tmpdir/tiny.safetensors */

static const char base_card[] =
  "format: 1\n"
  "name: tiny-test\n"
  "weights: tiny.safetensors\n"
  "tokenizer:\n"
  "  kind: vq\n"
  "  resolution: [16, 16]\n"
  "  in_channels: 3\n"
  "  encoder: {channels: 8, channel_mult: [1, 2], res_blocks: 1, attn_resolutions: [8], z_channels: 8}\n"
  "  codebook: {size: 32, dim: 4}\n"
  "  norm_groups: 4\n"
  "predictor:\n"
  "  kind: gpt\n"
  "  layers: 2\n"
  "  dim: 16\n"
  "  heads: 2\n"
  "  context_frames: 3\n"
  "  action: {kind: discrete, count: 5}\n"
  "  gelu: tanh\n"
  "training: {steps: 10, loss: 0.5}\n";

static const char llama_card[] =
  "format: 1\n"
  "weights: tiny.safetensors\n"
  "predictor:\n"
  "  kind: llama\n"
  "  layers: 1\n"
  "  dim: 8\n"
  "  heads: 2\n"
  "  context_frames: 2\n"
  "  tokens_per_frame: 4\n"
  "  vocab: 10\n"
  "  action: {kind: continuous, dim: 3}\n"
  "  mlp_hidden: 12\n"
  "  rope_theta: 500000.0\n";

static void
report (const char *name, gboolean ok, const char *detail)
{
  printf ("model %-40s %s%s%s\n", name, ok ? "ok" : "FAIL", detail ? "  " : "", detail ? detail : "");
  if (ok)
    n_passed++;
  else
    n_failed++;
}

/* @base with @from replaced by @to (which must occur). */
static gchar *
edit (const char *base, const char *from, const char *to)
{
  GString *s = g_string_new (base);
  g_assert (strstr (base, from));
  g_string_replace (s, from, to, 1);
  return g_string_free (s, FALSE);
}

/* How to spoil the weights that a card implies. */
typedef struct {
  ArStDType dtype;             /* of every tensor (F32 when 0-initialized) */
  const char *drop;
  const char *extra;
  const char *reshape;         /* this tensor gets @shape instead */
  guint ndim;
  gint64 shape[4];
} WeightsEdit;

static void
write_text (const char *path, const char *text)
{
  g_autoptr (GError) error = NULL;
  if (!g_file_set_contents (path, text, -1, &error))
    g_error ("%s", error->message);
}

static gboolean
write_model (const char *card_text, const WeightsEdit *we)
{
  write_text (card_path, card_text);
  g_autoptr (GError) error = NULL;
  g_autoptr (ArCard) card = ar_card_parse (card_text, strlen (card_text), card_path, &error);
  if (!card) {
    /* Broken cards get a harmless weights file; the card error comes first anyway. */
    write_text (weights_path, "");
    return FALSE;
  }
  g_autoptr (GArray) specs = ar_card_expected_tensors (card);
  g_autoptr (GArray) tensors = g_array_new (FALSE, TRUE, sizeof (ArStTensor));
  g_autoptr (GPtrArray) data = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GRand) rand = g_rand_new_with_seed (1234);
  ArStDType dt = we && we->dtype ? we->dtype : AR_ST_F32;
  for (guint i = 0; i <= specs->len; i++) {
    ArStTensor t = { .dtype = dt };
    if (i < specs->len) {
      const ArTensorSpec *s = &g_array_index (specs, ArTensorSpec, i);
      if (we && g_strcmp0 (we->drop, s->name) == 0)
        continue;
      t.name = s->name;
      t.ndim = s->ndim;
      memcpy (t.shape, s->shape, sizeof s->shape);
      if (we && g_strcmp0 (we->reshape, s->name) == 0) {
        t.ndim = we->ndim;
        memcpy (t.shape, we->shape, sizeof we->shape);
      }
    } else if (we && we->extra) {
      t.name = we->extra;
      t.ndim = 1;
      t.shape[0] = 7;
    } else {
      break;
    }
    guint64 n = 1;
    for (guint d = 0; d < t.ndim; d++)
      n *= (guint64) t.shape[d];
    t.nbytes = n * ar_st_dtype_size (dt);
    guint8 *bytes = g_malloc (t.nbytes + 1);
    for (guint64 e = 0; e < n; e++) {
      float f = (float) g_rand_double_range (rand, -1.0, 1.0);
      guint32 bits;
      memcpy (&bits, &f, 4);
      guint16 h = dt == AR_ST_F16 ? ar_float_to_half (f) : (guint16) (bits >> 16);
      if (dt == AR_ST_F32)
        memcpy (bytes + 4 * e, &f, 4);
      else
        memcpy (bytes + 2 * e, &h, 2);
    }
    t.data = bytes;
    g_ptr_array_add (data, bytes);
    g_array_append_val (tensors, t);
  }
  const char *meta[] = { "format", "pt", NULL };
  if (!ar_safetensors_write (weights_path, (ArStTensor *) tensors->data, tensors->len, meta, &error))
    g_error ("%s", error->message);
  return TRUE;
}

/* Every tensor of @model equals the file's data converted to the model's storage type. */
static gboolean
readback_matches (ArModel *model, gchar **detail)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ArSafetensors) st = ar_safetensors_open (ar_model_card (model)->weights, &error);
  if (!st) {
    *detail = g_strdup (error->message);
    return FALSE;
  }
  for (guint i = 0; i < ar_safetensors_n_tensors (st); i++) {
    const ArStTensor *src = ar_safetensors_nth (st, i);
    const ArModelTensor *t = ar_model_lookup (model, src->name);
    if (!t) {
      *detail = g_strdup_printf ("%s not in the model", src->name);
      return FALSE;
    }
    gsize n = t->n_elements, esize = ar_dtype_size (t->dtype);
    g_autofree guint8 *want = g_malloc (n * esize), *have = g_malloc (n * esize);
    for (gsize e = 0; e < n; e++) {
      float f;
      guint16 h;
      if (src->dtype == AR_ST_F32) {
        memcpy (&f, (const guint8 *) src->data + 4 * e, 4);
      } else {
        memcpy (&h, (const guint8 *) src->data + 2 * e, 2);
        guint32 bits = (guint32) h << 16;
        if (src->dtype == AR_ST_F16)
          f = ar_half_to_float (h);
        else
          memcpy (&f, &bits, 4);
      }
      if (t->dtype == AR_F32) {
        memcpy (want + 4 * e, &f, 4);
      } else {
        h = ar_float_to_half (f);
        memcpy (want + 2 * e, &h, 2);
      }
    }
    if (!ar_buffer_read (t->buf, 0, have, n * esize, &error)) {
      *detail = g_strdup (error->message);
      return FALSE;
    }
    if (memcmp (want, have, n * esize) != 0) {
      *detail = g_strdup_printf ("%s differs after upload", src->name);
      return FALSE;
    }
  }
  return TRUE;
}

static void
expect_load (ArDevice *dev, const char *name, const char *card_text, const WeightsEdit *we,
    ArModelLoadFlags flags, ArDType want_dtype)
{
  if (!dev) {
    printf ("model %-40s skip (no device)\n", name);
    n_skipped++;
    return;
  }
  write_model (card_text, we);
  g_autoptr (GError) error = NULL;
  g_autoptr (ArModel) model = ar_model_load_full (dev, card_path, flags, &error);
  g_autofree gchar *detail = NULL;
  gboolean ok = model != NULL;
  if (!ok)
    detail = g_strdup (error->message);
  if (ok && ar_model_dtype (model) != want_dtype) {
    ok = FALSE;
    detail = g_strdup_printf ("loaded as %s", ar_dtype_name (ar_model_dtype (model)));
  }
  if (ok)
    ok = readback_matches (model, &detail);
  if (ok) {
    const ArModelSummary *s = ar_model_summary (model);
    detail = g_strdup_printf ("%u tensors, %" G_GUINT64_FORMAT " params, %" G_GUINT64_FORMAT " device bytes",
        s->n_tensors, s->total_params, s->device_bytes);
  }
  report (name, ok, detail);
}

/* Loading (or, without a device, checking card and weights) fails with @substring. */
static void
expect_error (ArDevice *dev, const char *name, const char *card_text, const WeightsEdit *we,
    const char *substring)
{
  write_model (card_text, we);
  g_autoptr (GError) error = NULL;
  gboolean loaded;
  if (dev) {
    g_autoptr (ArModel) model = ar_model_load (dev, card_path, &error);
    loaded = model != NULL;
  } else {
    g_autoptr (ArCard) card = ar_card_load (card_path, &error);
    g_autoptr (ArSafetensors) st = card ? ar_safetensors_open (card->weights, &error) : NULL;
    loaded = st && ar_model_check_weights (card, st, &error);
  }
  gboolean ok = !loaded && error && error->domain == AR_ERROR && error->code == AR_ERROR_MODEL
      && strstr (error->message, substring);
  report (name, ok, loaded ? "loaded, expected an error" : error->message);
}

/* Raw safetensors bytes fail to open with @substring. */
static void
expect_st_error (const char *name, const void *data, gsize len, const char *substring)
{
  g_autoptr (GBytes) bytes = g_bytes_new (data, len);
  g_autoptr (GError) error = NULL;
  g_autoptr (ArSafetensors) st = ar_safetensors_open_bytes (bytes, "raw.safetensors", &error);
  gboolean ok = !st && strstr (error->message, substring);
  report (name, ok, st ? "opened, expected an error" : error->message);
}

static void
expect_st_header_error (const char *name, const char *header, gsize data_len, const char *substring)
{
  gsize hl = strlen (header);
  g_autofree guint8 *buf = g_malloc0 (8 + hl + data_len);
  for (int i = 0; i < 8; i++)
    buf[i] = (guint8) ((guint64) hl >> (8 * i));
  memcpy (buf + 8, header, hl);
  expect_st_error (name, buf, 8 + hl + data_len, substring);
}

static void
test_truncation (ArDevice *dev)
{
  write_model (base_card, NULL);
  g_autofree gchar *contents = NULL;
  gsize len;
  g_file_get_contents (weights_path, &contents, &len, NULL);
  const struct {
    const char *name;
    gsize keep;
    const char *substring;
  } cases[] = {
    { "truncated: in the length field", 5, "shorter than the 8-byte header length" },
    { "truncated: in the header", 100, "truncated: header length" },
    { "truncated: in the data", len - 10, "truncated file" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_file_set_contents (weights_path, contents, (gssize) cases[i].keep, NULL);
    g_autoptr (GError) error = NULL;
    g_autoptr (ArSafetensors) st = ar_safetensors_open (weights_path, &error);
    gboolean ok = !st && strstr (error->message, cases[i].substring) && strstr (error->message, weights_path);
    report (cases[i].name, ok, st ? "opened" : error->message);
  }
  (void) dev;
}

static void
test_safetensors (void)
{
  /* Round trip through memory, with metadata and a zero-size tensor. */
  float a[6] = { 1, 2, 3, 4, 5, 6 };
  guint16 b[3] = { 0x3c00, 0x4000, 0xc000 };
  ArStTensor in[] = {
    { .name = "a", .dtype = AR_ST_F32, .ndim = 2, .shape = { 2, 3 }, .data = a, .nbytes = sizeof a },
    { .name = "empty", .dtype = AR_ST_F32, .ndim = 2, .shape = { 0, 3 }, .data = NULL, .nbytes = 0 },
    { .name = "b \"quoted\"", .dtype = AR_ST_F16, .ndim = 1, .shape = { 3 }, .data = b, .nbytes = sizeof b },
  };
  const char *meta[] = { "format", "pt", "note", "x", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = ar_safetensors_serialize (in, G_N_ELEMENTS (in), meta, &error);
  g_autoptr (ArSafetensors) st = bytes ? ar_safetensors_open_bytes (bytes, "mem", &error) : NULL;
  gboolean ok = st && ar_safetensors_n_tensors (st) == 3;
  const ArStTensor *ta = ok ? ar_safetensors_lookup (st, "a") : NULL;
  const ArStTensor *tb = ok ? ar_safetensors_lookup (st, "b \"quoted\"") : NULL;
  ok = ok && ta && tb && ta->ndim == 2 && ta->shape[1] == 3 && memcmp (ta->data, a, sizeof a) == 0
      && tb->dtype == AR_ST_F16 && memcmp (tb->data, b, sizeof b) == 0
      && g_strcmp0 (ar_safetensors_metadata (st, "note"), "x") == 0
      && ar_safetensors_lookup (st, "missing") == NULL;
  report ("safetensors: round trip", ok, error ? error->message : NULL);

  expect_st_header_error ("safetensors: header not JSON", "{this is not json}", 0, "header is not JSON");
  expect_st_header_error ("safetensors: header not JSON, no brace", "this is not json", 0, "header is not JSON");
  expect_st_header_error ("safetensors: trailing value", "{} {}", 0, "data follows the object");
  expect_st_header_error ("safetensors: header not an object", "[1, 2, 3]", 0, "not a JSON object");
  expect_st_header_error ("safetensors: header a string", "\"{\"", 0, "not a JSON object");
  expect_st_header_error ("safetensors: unknown dtype",
      "{\"w\": {\"dtype\": \"F33\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "unknown dtype 'F33'");
  expect_st_header_error ("safetensors: missing data_offsets",
      "{\"w\": {\"dtype\": \"F32\", \"shape\": [2]}}", 8, "missing \"data_offsets\"");
  expect_st_header_error ("safetensors: negative dim",
      "{\"w\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8, "negative");
  expect_st_header_error ("safetensors: absurd dim",
      "{\"w\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904, 4], \"data_offsets\": [0, 8]}}", 8,
      "absurdly large");
  expect_st_header_error ("safetensors: span mismatch",
      "{\"w\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8, "needs 12 bytes");
  expect_st_header_error ("safetensors: offsets outside data",
      "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8, "outside the data section");
  expect_st_header_error ("safetensors: hole",
      "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8, "hole");
  expect_st_header_error ("safetensors: overlap",
      "{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
      " \"v\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8, "overlaps");
  expect_st_header_error ("safetensors: deep nesting", "{\"__metadata__\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
      "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", 0, "nested too deeply");
  guint8 absurd[16] = { 0, 0, 0, 0, 0, 0, 0, 0x80, '{', '}' };
  expect_st_error ("safetensors: absurd header length", absurd, sizeof absurd, "absurd");
}

static gpointer
share_thread (gpointer dev)
{
  return ar_model_get_shared (dev, card_path, NULL);
}

static void
test_sharing (ArDevice *dev)
{
  if (!dev) {
    printf ("model %-40s skip (no device)\n", "sharing");
    n_skipped++;
    return;
  }
  write_model (base_card, NULL);
  g_autoptr (GError) error = NULL;
  ArModel *a = ar_model_get_shared (dev, card_path, &error);
  g_autofree gchar *other = g_build_filename (tmpdir, ".", "card.yaml", NULL);  /* same file, other spelling */
  ArModel *b = a ? ar_model_get_shared (dev, other, &error) : NULL;
  ArModel *c = b ? ar_model_load (dev, card_path, &error) : NULL;
  gboolean ok = a && b && a == b && c && c != a;
  report ("sharing: same file, same model", ok, error ? error->message : NULL);
  ar_model_unref (c);
  ar_model_unref (b);
  ar_model_unref (a);
  /* Threads racing for the same model all get the one copy. */
  ArModel *got[4] = { NULL };
  GThread *threads[4];
  for (guint i = 0; i < 4; i++)
    threads[i] = g_thread_new ("loader", share_thread, dev);
  for (guint i = 0; i < 4; i++)
    got[i] = g_thread_join (threads[i]);
  ok = got[0] && got[0] == got[1] && got[1] == got[2] && got[2] == got[3];
  report ("sharing: 4 threads, one model", ok, NULL);
  for (guint i = 0; i < 4; i++)
    ar_model_unref (got[i]);
  /* After the last reference the entry is gone; an edited file is a new model. */
  g_usleep (10000);
  write_model (llama_card, NULL);
  ArModel *d = ar_model_get_shared (dev, card_path, &error);
  ok = d && ar_model_card (d)->predictor.kind == AR_PREDICTOR_LLAMA;
  report ("sharing: edited file loads anew", ok, error ? error->message : NULL);
  ar_model_unref (d);
}

/* A card that fails with @substring and names line @line ("card.yaml:N:"; 0: any line). */
static void
expect_card_error (ArDevice *dev, const char *name, const char *card_text, const char *substring, guint line)
{
  write_model (card_text, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (ArCard) card = ar_card_load (card_path, &error);
  g_autofree gchar *where = g_strdup_printf ("card.yaml:%u: ", line);
  gboolean ok = !card && error->domain == AR_ERROR && error->code == AR_ERROR_MODEL
      && strstr (error->message, substring) && (!line || strstr (error->message, where));
  report (name, ok, card ? "parsed, expected an error" : error->message);
  (void) dev;
}

static void
test_cards (ArDevice *dev)
{
  /* Card content checks and defaults. */
  g_autoptr (GError) error = NULL;
  g_autoptr (ArCard) card = ar_card_parse (base_card, strlen (base_card), "/some/dir/card.yaml", &error);
  gboolean ok = card && card->tokenizer.tokens_per_frame == 64 && card->predictor.vocab == 32
      && card->predictor.mlp_hidden == 64 && card->predictor.seq_len == 3 * 65
      && card->predictor.gelu == AR_GELU_TANH && card->tokenizer.decoder.z_channels == 8
      && g_strcmp0 (card->weights, "/some/dir/tiny.safetensors") == 0 && card->predictor.norm_eps == 1e-5;
  report ("card: defaults and derived sizes", ok, error ? error->message : NULL);

  const struct {
    const char *name, *from, *to, *substring;
    guint line;
  } cases[] = {
    { "card: unknown tokenizer kind", "kind: vq", "kind: vqgan", "unknown kind 'vqgan' (kinds: vq, msvq, pixel)", 5 },
    { "card: unknown predictor kind", "kind: gpt", "kind: bert", "unknown kind 'bert' (kinds: gpt, llama)", 12 },
    { "card: kind not supported yet", "kind: vq", "kind: msvq", "not supported yet", 5 },
    { "card: negative size", "dim: 16", "dim: -16", "predictor.dim: -16 is negative", 14 },
    { "card: absurd size", "layers: 2", "layers: 100000", "predictor.layers: 100000 is absurdly large", 13 },
    { "card: absurd resolution", "[16, 16]", "[16, 16384]", "absurdly large", 6 },
    { "card: unknown key", "  gelu: tanh\n", "  gelu: tanh\n  dropout: 0.1\n", "predictor.dropout: unknown key", 19 },
    { "card: unknown top-level key", "training:", "trainin:", "trainin: unknown key", 19 },
    { "card: heads not dividing dim", "heads: 2", "heads: 3", "predictor.heads: 3 does not divide dim 16", 15 },
    { "card: tokens_per_frame mismatch", "  gelu: tanh\n", "  gelu: tanh\n  tokens_per_frame: 16\n",
      "16 does not match the tokenizer grid 8x8 = 64", 19 },
    { "card: vocab mismatch", "  gelu: tanh\n", "  gelu: tanh\n  vocab: 512\n",
      "512 does not match tokenizer.codebook.size 32", 19 },
    { "card: wrong type (quoted int)", "dim: 16", "dim: \"16\"", "predictor.dim: expected an integer", 14 },
    { "card: wrong type (mapping)", "context_frames: 3", "context_frames: {a: 1}", "expected an integer", 16 },
    { "card: missing required key", "  layers: 2\n", "", "predictor: missing required key 'layers'", 12 },
    { "card: duplicate key", "  heads: 2\n", "  heads: 2\n  heads: 2\n", "duplicate key", 16 },
    { "card: format version", "format: 1", "format: 2", "card format 2 is not supported", 1 },
    { "card: norm groups", "norm_groups: 4", "norm_groups: 3", "tokenizer.norm_groups: 3 does not divide", 8 },
    { "card: norm not a kind", "norm_groups: 4", "norm_groups: 4\n  norm: layer",
      "tokenizer.norm: unknown kind 'layer' (kinds: group, none)", 11 },
    { "card: mid_attention not a boolean", "norm_groups: 4", "norm_groups: 4\n  mid_attention: no",
      "tokenizer.mid_attention: expected true or false, got no", 11 },
    { "card: attention level", "attn_resolutions: [8]", "attn_resolutions: [5]", "tokenizer.encoder.attn_resolutions: entry 5 matches no level", 8 },
    { "card: resolution not divisible", "[16, 16]", "[16, 15]", "tokenizer.resolution: 16x15 is not divisible", 8 },
    { "card: action kind", "kind: discrete, count: 5", "kind: discrete, dim: 5", "missing required key 'count'", 17 },
    { "card: gpt with rope_theta", "gelu: tanh", "rope_theta: 10.0", "applies to llama only", 18 },
    { "card: add_to_frame not a boolean", "count: 5}", "count: 5, add_to_frame: yes}",
      "predictor.action.add_to_frame: expected true or false, got yes", 17 },
    { "card: yaml syntax", "  heads: 2\n", "  heads: [2\n", "YAML syntax error", 0 },
    { "card: key action out of range", "loss: 0.5}\n", "loss: 0.5}\nkeys: {Up: 5}\n",
      "keys.Up: action 5, but predictor.action.count is 5", 20 },
    { "card: key list for discrete actions", "loss: 0.5}\n", "loss: 0.5}\nkeys: {Up: [1, 2]}\n",
      "keys.Up: expected an action index", 20 },
    { "card: duplicate key name", "loss: 0.5}\n", "loss: 0.5}\nkeys: {a: 1, a: 2}\n", "keys.a: duplicate key", 20 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree gchar *text = edit (base_card, cases[i].from, cases[i].to);
    expect_card_error (dev, cases[i].name, text, cases[i].substring, cases[i].line);
  }
  g_autofree gchar *llama_bad = edit (llama_card, "heads: 2", "heads: 8");
  expect_card_error (dev, "card: llama odd head size", llama_bad, "must be even", 7);
  g_autofree gchar *llama_add = edit (llama_card, "dim: 3}", "dim: 3, add_to_frame: true}");
  expect_card_error (dev, "card: add_to_frame on llama", llama_add,
      "predictor.action.add_to_frame: applies to gpt only", 11);
  g_autofree gchar *llama_keys_bad = g_strconcat (llama_card, "keys:\n  Up: [1, 2]\n", NULL);
  expect_card_error (dev, "card: key of the wrong size", llama_keys_bad,
      "keys.Up: 2 values, but predictor.action.dim is 3", 15);
  g_autofree gchar *llama_keys = g_strconcat (llama_card, "keys:\n  Up: [1, 2, -0.5]\n  space: [0, 0, 1]\n",
      NULL);
  g_clear_error (&error);
  g_autoptr (ArCard) keyed = ar_card_parse (llama_keys, strlen (llama_keys), "/some/dir/card.yaml", &error);
  const ArCardKey *up = keyed ? ar_card_lookup_key (keyed, "Up") : NULL;
  ok = keyed && keyed->n_keys == 2 && up && up->dim == 3 && up->values[2] == -0.5f
      && ar_card_lookup_key (keyed, "space") && !ar_card_lookup_key (keyed, "Down");
  report ("card: keys table", ok, error ? error->message : NULL);
  /* norm: none has no groups, so norm_groups need not divide; mid_attention: false drops
   * mid.attn_1. The tensor list must then have no norm or mid attention tensors. */
  g_autofree gchar *local = edit (base_card, "norm_groups: 4", "norm_groups: 3\n  norm: none\n  mid_attention: false");
  g_clear_error (&error);
  g_autoptr (ArCard) lc = ar_card_parse (local, strlen (local), "/some/dir/card.yaml", &error);
  g_autoptr (ArCard) gc = ar_card_parse (base_card, strlen (base_card), "/some/dir/card.yaml", NULL);
  ok = lc && gc && !lc->tokenizer.norm && !lc->tokenizer.mid_attention && gc->tokenizer.norm
      && gc->tokenizer.mid_attention;
  guint n_norm = 0, n_mid_attn = 0, n_attn = 0;
  if (ok) {
    g_autoptr (GArray) specs = ar_card_expected_tensors (lc);
    for (guint i = 0; i < specs->len; i++) {
      const char *name = g_array_index (specs, ArTensorSpec, i).name;
      n_norm += strstr (name, "norm") != NULL;
      n_mid_attn += strstr (name, "mid.attn") != NULL;
      n_attn += strstr (name, ".attn.") != NULL && g_str_has_prefix (name, "tokenizer.");
    }
    /* the level attention at 8 keeps its q, k, v, proj_out (1 encoder + 2 decoder blocks) */
    ok = n_norm == 0 && n_mid_attn == 0 && n_attn == 3 * 4 * 2;
  }
  g_autofree gchar *counts = g_strdup_printf ("%u norm, %u mid attention, %u level attention tensors", n_norm,
      n_mid_attn, n_attn);
  report ("card: norm none, no mid attention", ok, error ? error->message : counts);
  g_autofree gchar *empty = g_strdup ("");
  expect_card_error (dev, "card: empty", empty, "the card is empty", 0);
}

/* The model-level tokenizer fingerprint equals the tokenizer's, and fp16/fp32 loads agree. */
static void
test_fingerprint (ArDevice *dev)
{
  if (!dev) {
    printf ("model %-40s skip (no device)\n", "fingerprint");
    n_skipped++;
    return;
  }
  write_model (base_card, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (ArModel) m = ar_model_load (dev, card_path, &error);
  g_autoptr (ArModel) m32 = m ? ar_model_load_full (dev, card_path, AR_MODEL_LOAD_FORCE_F32, &error) : NULL;
  const char *fp = m ? ar_model_tokenizer_fingerprint (m, &error) : NULL;
  g_autoptr (ArTokenizer) tok = fp ? ar_tokenizer_new (m32, &error) : NULL;
  gboolean ok = tok && strlen (fp) == 16 && g_strcmp0 (fp, ar_tokenizer_fingerprint (tok)) == 0
      && g_strcmp0 (fp, ar_model_tokenizer_fingerprint (m32, NULL)) == 0
      && ar_model_tokenizer_fingerprint (m, NULL) == fp;   /* computed once */
  report ("fingerprint: model == tokenizer", ok, error ? error->message : fp);

  write_model (llama_card, NULL);
  g_clear_error (&error);
  g_autoptr (ArModel) llama = ar_model_load (dev, card_path, &error);
  ok = llama && !ar_model_tokenizer_fingerprint (llama, &error) && error
      && strstr (error->message, "no tokenizer");
  report ("fingerprint: predictor-only model", ok, error ? error->message : NULL);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  tmpdir = g_dir_make_tmp ("armodel-test-XXXXXX", &error);
  g_assert (tmpdir);
  card_path = g_build_filename (tmpdir, "card.yaml", NULL);
  weights_path = g_build_filename (tmpdir, "tiny.safetensors", NULL);

  ArDevice *dev = ar_device_new (&error);
  if (!dev)
    printf ("no device (%s): device cases are skipped\n", error->message);
  gboolean fp16 = dev && dev->caps.fp16_storage;

  expect_load (dev, "load: vq+gpt f32", base_card, NULL, AR_MODEL_LOAD_FORCE_F32, AR_F32);
  if (fp16)
    expect_load (dev, "load: vq+gpt f16", base_card, NULL, AR_MODEL_LOAD_PREFER_F16, AR_F16);
  WeightsEdit bf16 = { .dtype = AR_ST_BF16 }, f16 = { .dtype = AR_ST_F16 };
  expect_load (dev, "load: bf16 source as f32", base_card, &bf16, AR_MODEL_LOAD_FORCE_F32, AR_F32);
  expect_load (dev, "load: f16 source as f32", base_card, &f16, AR_MODEL_LOAD_FORCE_F32, AR_F32);
  if (fp16)
    expect_load (dev, "load: bf16 source as f16", base_card, &bf16, AR_MODEL_LOAD_PREFER_F16, AR_F16);
  expect_load (dev, "load: llama continuous", llama_card, NULL, AR_MODEL_LOAD_FORCE_F32, AR_F32);
  g_autofree gchar *head_mlp = edit (base_card, "kind: discrete, count: 5", "kind: continuous, dim: 7");
  g_autofree gchar *head_mlp2 = edit (head_mlp, "gelu: tanh", "head_hidden: 24");
  expect_load (dev, "load: gpt continuous, head mlp", head_mlp2, NULL, AR_MODEL_LOAD_FORCE_F32, AR_F32);

  g_autofree gchar *local = edit (base_card, "norm_groups: 4", "norm: none\n  mid_attention: false");
  expect_load (dev, "load: vq without norm and mid attention", local, NULL, AR_MODEL_LOAD_FORCE_F32, AR_F32);
  WeightsEdit norm_extra = { .extra = "tokenizer.encoder.norm_out.weight" };
  expect_error (dev, "weights: norm tensor with norm none", local, &norm_extra,
      "extra tensor 'tokenizer.encoder.norm_out.weight'");

  WeightsEdit drop = { .drop = "predictor.blocks.1.mlp.fc2.bias" };
  expect_error (dev, "weights: missing tensor", base_card, &drop,
      "missing tensor 'predictor.blocks.1.mlp.fc2.bias'");
  WeightsEdit extra = { .extra = "predictor.blocks.9.extra" };
  expect_error (dev, "weights: extra tensor", base_card, &extra, "extra tensor 'predictor.blocks.9.extra' [7]");
  WeightsEdit reshape = { .reshape = "tokenizer.encoder.conv_in.weight", .ndim = 4, .shape = { 8, 3, 5, 5 } };
  expect_error (dev, "weights: shape mismatch", base_card, &reshape,
      "tokenizer.encoder.conv_in.weight: card expects [8,3,3,3], file has [8,3,5,5]");
  WeightsEdit ints = { .dtype = AR_ST_I16 };
  expect_error (dev, "weights: integer dtype", base_card, &ints, "weights must be F32, F16 or BF16");
  g_autofree gchar *no_file = edit (base_card, "weights: tiny.safetensors", "weights: nothing.safetensors");
  expect_error (dev, "weights: file missing", no_file, NULL, "nothing.safetensors: cannot open");

  test_truncation (dev);
  test_safetensors ();
  test_cards (dev);
  test_sharing (dev);
  test_fingerprint (dev);

  if (dev) {
    guint msgs = ar_device_validation_messages (dev);
    report ("vulkan validation messages", msgs == 0, msgs ? "see above" : NULL);
    ar_device_unref (dev);
  }
  g_unlink (card_path);
  g_unlink (weights_path);
  g_rmdir (tmpdir);
  g_free (card_path);
  g_free (weights_path);
  g_free (tmpdir);
  printf ("%u passed, %u failed%s\n", n_passed, n_failed, n_skipped ? " (some skipped: no device)" : "");
  (void) argc;
  (void) argv;
  return n_failed ? 1 : 0;
}

/* A bounded mutation fuzzer for the card and safetensors parsers, built without libFuzzer:
 * from built-in seeds (a valid card of each predictor kind, a valid safetensors file) and any
 * seed files given, it applies truncations, bit flips, insertions, deletions, oversized length
 * fields and out-of-range numbers, and feeds each result to LLVMFuzzerTestOneInput.
 *   fuzz-mutate [--iterations N] [--seconds S] [--seed X] [--only FROM:TO] [--save FILE] [seed files...]
 * --only runs the parsers on mutants FROM..TO-1 alone (the sequence stays the same), and --save
 * writes the last mutant run, to narrow a finding (e.g. a leak under valgrind) down to one input.
 * A crash, sanitizer report or leak (under valgrind/ASan) is the failure; otherwise exit 0. */
#include "fuzz-model.h"
#include "ar-safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FUZZ_INPUT (64 * 1024)

static const char seed_gpt_card[] =
  "format: 1\n"
  "name: fuzz\n"
  "weights: fuzz.safetensors\n"
  "tokenizer:\n"
  "  kind: vq\n"
  "  resolution: [16, 16]\n"
  "  in_channels: 3\n"
  "  encoder: {channels: 8, channel_mult: [1, 2], res_blocks: 1, attn_resolutions: [8], z_channels: 8}\n"
  "  decoder:\n"
  "    channels: 8\n"
  "    res_blocks: 2\n"
  "  codebook: {size: 32, dim: 4}\n"
  "  norm_groups: 4\n"
  "predictor:\n"
  "  kind: gpt\n"
  "  layers: 2\n"
  "  dim: 16\n"
  "  heads: 2\n"
  "  context_frames: 3\n"
  "  tokens_per_frame: 64\n"
  "  vocab: 32\n"
  "  action: {kind: discrete, count: 5}\n"
  "  mlp_hidden: 32\n"
  "  head_hidden: 8\n"
  "  gelu: tanh\n"
  "  norm_eps: 1.0e-5\n"
  "training: {steps: 10, loss: [0.5, 0.25]}\n"
  "keys: {w: 1, a: 2}\n";

static const char seed_llama_card[] =
  "format: 1\n"
  "weights: /abs/llama.safetensors\n"
  "predictor:\n"
  "  kind: llama\n"
  "  layers: 1\n"
  "  dim: 8\n"
  "  heads: 2\n"
  "  context_frames: 2\n"
  "  tokens_per_frame: 4\n"
  "  vocab: 10\n"
  "  action:\n"
  "    kind: continuous\n"
  "    dim: 3\n"
  "  mlp_hidden: 12\n"
  "  rope_theta: 500000.0\n";

static const char *const tokens[] = {
  "-1", "0", "65537", "4294967296", "18446744073709551616", "9223372036854775807", "1e309", "-0",
  "[", "]", "{", "}", "\"", ":", ",", "\n", "  ", "- ", "&a ", "*a", "!!str ", "~", "null", "\\u0000",
  "\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "\"F16\"", "\"BF16\"", "kind: ",
  "---\n", "...\n", "? ", "'", "#", "\t", "\xff", "\xc3",
};

static const guint64 length_values[] = {
  0, 1, 7, 8, 100u * 1024 * 1024, 100u * 1024 * 1024 + 1, G_MAXUINT32, (guint64) G_MAXUINT32 + 1,
  (guint64) 1 << 63, G_MAXUINT64,
};

static GBytes *
seed_safetensors (void)
{
  float w[12];
  guint16 h[5] = { 0x3c00, 0xbc00, 0x7bff, 0x0001, 0x8000 };
  guint8 flags[3] = { 1, 0, 1 };
  for (guint i = 0; i < G_N_ELEMENTS (w); i++)
    w[i] = (float) i * 0.25f - 1.0f;
  ArStTensor t[] = {
    { .name = "predictor.tok_emb.weight", .dtype = AR_ST_F32, .ndim = 2, .shape = { 3, 4 }, .data = w, .nbytes = sizeof w },
    { .name = "predictor.sep_emb", .dtype = AR_ST_F16, .ndim = 1, .shape = { 5 }, .data = h, .nbytes = sizeof h },
    { .name = "mask", .dtype = AR_ST_BOOL, .ndim = 3, .shape = { 1, 3, 1 }, .data = flags, .nbytes = sizeof flags },
    { .name = "scalar", .dtype = AR_ST_BF16, .ndim = 0, .data = h, .nbytes = 2 },
    { .name = "empty", .dtype = AR_ST_F32, .ndim = 2, .shape = { 0, 9 }, .data = NULL, .nbytes = 0 },
  };
  const char *meta[] = { "format", "pt", NULL };
  g_autoptr (GError) error = NULL;
  GBytes *b = ar_safetensors_serialize (t, G_N_ELEMENTS (t), meta, &error);
  if (!b)
    g_error ("seed: %s", error->message);
  return b;
}

/* GByteArray has no insert. */
static void
insert_bytes (GByteArray *a, guint pos, const guint8 *data, guint n)
{
  guint old = a->len;
  g_byte_array_set_size (a, old + n);
  memmove (a->data + pos + n, a->data + pos, old - pos);
  memcpy (a->data + pos, data, n);
}

static void
put_length (GByteArray *a, guint64 v)
{
  for (int i = 0; i < 8; i++)
    a->data[i] = (guint8) (v >> (8 * i));
}

/* Replaces the @k-th run of digits (wrapping) with an out-of-range number. */
static void
replace_number (GByteArray *a, GRand *r)
{
  guint runs = 0;
  for (guint i = 0; i < a->len; i++)
    runs += g_ascii_isdigit (a->data[i]) && (i == 0 || !g_ascii_isdigit (a->data[i - 1]));
  if (!runs)
    return;
  guint want = g_rand_int_range (r, 0, (gint32) runs), seen = 0;
  for (guint i = 0; i < a->len; i++) {
    if (!g_ascii_isdigit (a->data[i]) || (i > 0 && g_ascii_isdigit (a->data[i - 1])))
      continue;
    if (seen++ != want)
      continue;
    guint end = i;
    while (end < a->len && g_ascii_isdigit (a->data[end]))
      end++;
    const char *tok = tokens[g_rand_int_range (r, 0, 8)];
    g_byte_array_remove_range (a, i, end - i);
    insert_bytes (a, i, (const guint8 *) tok, (guint) strlen (tok));
    return;
  }
}

static void
mutate (GByteArray *a, GRand *r)
{
  guint pos = a->len ? (guint) g_rand_int_range (r, 0, (gint32) a->len + 1) : 0;
  switch (g_rand_int_range (r, 0, 8)) {
    case 0:   /* truncate */
      g_byte_array_set_size (a, pos);
      break;
    case 1: { /* flip bits */
      guint n = (guint) g_rand_int_range (r, 1, 5);
      for (guint i = 0; i < n && a->len; i++)
        a->data[g_rand_int_range (r, 0, (gint32) a->len)] ^= (guint8) (1u << g_rand_int_range (r, 0, 8));
      break;
    }
    case 2: { /* insert random bytes */
      guint8 junk[8];
      guint n = (guint) g_rand_int_range (r, 1, 9);
      for (guint i = 0; i < n; i++)
        junk[i] = (guint8) g_rand_int_range (r, 0, 256);
      insert_bytes (a, pos, junk, n);
      break;
    }
    case 3: { /* insert a token */
      const char *tok = tokens[g_rand_int_range (r, 0, G_N_ELEMENTS (tokens))];
      insert_bytes (a, pos, (const guint8 *) tok, (guint) strlen (tok));
      break;
    }
    case 4:   /* oversized or off-by-one length field */
      if (a->len >= 8) {
        guint64 v = g_rand_boolean (r) ? length_values[g_rand_int_range (r, 0, G_N_ELEMENTS (length_values))]
            : (guint64) a->len - 8 + (guint64) g_rand_int_range (r, -2, 3);
        put_length (a, v);
      }
      break;
    case 5:   /* out-of-range number */
      replace_number (a, r);
      break;
    case 6:   /* delete a range */
      if (pos < a->len) {
        guint n = (guint) g_rand_int_range (r, 1, 32);   /* not inside MIN: it evaluates twice */
        g_byte_array_remove_range (a, pos, MIN (n, a->len - pos));
      }
      break;
    default: { /* duplicate a range elsewhere */
      if (!a->len)
        break;
      guint from = (guint) g_rand_int_range (r, 0, (gint32) a->len);
      guint n = (guint) g_rand_int_range (r, 1, 64);
      n = MIN (n, a->len - from);
      g_autofree guint8 *chunk = g_memdup2 (a->data + from, n);
      insert_bytes (a, pos, chunk, n);
      break;
    }
  }
  if (a->len > MAX_FUZZ_INPUT)
    g_byte_array_set_size (a, MAX_FUZZ_INPUT);
}

int
main (int argc, char **argv)
{
  guint64 iterations = 20000;
  double seconds = 20;
  guint32 seed = 20240601;
  guint64 only_from = 0, only_to = G_MAXUINT64;
  const char *save = NULL;
  GPtrArray *seeds = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_ptr_array_add (seeds, g_bytes_new_static (seed_gpt_card, sizeof seed_gpt_card - 1));
  g_ptr_array_add (seeds, g_bytes_new_static (seed_llama_card, sizeof seed_llama_card - 1));
  g_ptr_array_add (seeds, seed_safetensors ());
  for (int i = 1; i < argc; i++) {
    if (strcmp (argv[i], "--iterations") == 0 && i + 1 < argc) {
      iterations = g_ascii_strtoull (argv[++i], NULL, 10);
    } else if (strcmp (argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = g_ascii_strtod (argv[++i], NULL);
    } else if (strcmp (argv[i], "--seed") == 0 && i + 1 < argc) {
      seed = (guint32) g_ascii_strtoull (argv[++i], NULL, 10);
    } else if (strcmp (argv[i], "--only") == 0 && i + 1 < argc) {
      char *end;
      only_from = g_ascii_strtoull (argv[++i], &end, 10);
      only_to = *end == ':' ? g_ascii_strtoull (end + 1, NULL, 10) : only_from + 1;
    } else if (strcmp (argv[i], "--save") == 0 && i + 1 < argc) {
      save = argv[++i];
    } else if (argv[i][0] == '-') {
      fprintf (stderr, "usage: fuzz-mutate [--iterations N] [--seconds S] [--seed X] [--only FROM:TO] "
          "[--save FILE] [seed files...]\n");
      return 2;
    } else {
      g_autoptr (GError) error = NULL;
      gchar *contents;
      gsize len;
      if (!g_file_get_contents (argv[i], &contents, &len, &error)) {
        fprintf (stderr, "fuzz-mutate: %s\n", error->message);
        return 2;
      }
      g_ptr_array_add (seeds, g_bytes_new_take (contents, len));
    }
  }

  /* The seeds themselves first: each must be accepted by its parser's path without crashing. */
  for (guint i = 0; i < seeds->len; i++) {
    gsize len;
    const guint8 *d = g_bytes_get_data (seeds->pdata[i], &len);
    LLVMFuzzerTestOneInput (d, len);
  }

  GRand *r = g_rand_new_with_seed (seed);
  gint64 start = g_get_monotonic_time ();
  guint64 done = 0;
  GByteArray *a = g_byte_array_new ();
  for (; done < iterations; done++) {
    if (done % 256 == 0 && (g_get_monotonic_time () - start) / 1e6 > seconds)
      break;
    gsize len;
    const guint8 *d = g_bytes_get_data (seeds->pdata[g_rand_int_range (r, 0, (gint32) seeds->len)], &len);
    g_byte_array_set_size (a, 0);
    g_byte_array_append (a, d, (guint) len);
    /* Mostly single mutations: the strict parsers reject most stacked ones early. */
    guint n = g_rand_int_range (r, 0, 4) ? 1 : (guint) g_rand_int_range (r, 2, 6);
    for (guint m = 0; m < n; m++)
      mutate (a, r);
    if (done < only_from || done >= only_to)
      continue;
    if (save)
      g_file_set_contents (save, (const char *) a->data, a->len, NULL);
    LLVMFuzzerTestOneInput (a->data, a->len);
  }
  printf ("fuzz-mutate: %" G_GUINT64_FORMAT " mutated inputs in %.1f s (seed %u), no crash; accepted: "
      "%" G_GUINT64_FORMAT " cards, %" G_GUINT64_FORMAT " safetensors\n", done,
      (g_get_monotonic_time () - start) / 1e6, seed, fuzz_cards_accepted, fuzz_safetensors_accepted);
  g_byte_array_unref (a);
  g_rand_free (r);
  g_ptr_array_unref (seeds);
  return 0;
}

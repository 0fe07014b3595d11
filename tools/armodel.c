/* armodel: validate and describe model cards.
 *   armodel info CARD    card + weights checked on the host, summary printed
 *   armodel check CARD   the same, then loaded onto the Vulkan device
 * Exit status: 0 ok, 1 invalid model or device failure (one-line message), 2 usage. */
#include "ar-model.h"

#include <stdio.h>
#include <string.h>

static void
usage (FILE *out)
{
  fprintf (out, "usage: armodel info CARD     validate card and weights, print a summary\n"
                "       armodel check CARD    the same, and load the weights onto the device\n");
}

static gchar *
format_count (guint64 n)
{
  if (n >= 1000000)
    return g_strdup_printf ("%" G_GUINT64_FORMAT " (%.2f M)", n, n / 1e6);
  if (n >= 1000)
    return g_strdup_printf ("%" G_GUINT64_FORMAT " (%.1f k)", n, n / 1e3);
  return g_strdup_printf ("%" G_GUINT64_FORMAT, n);
}

static void
print_summary (const ArCard *card, const ArModelSummary *s)
{
  g_autofree gchar *tk = ar_card_describe_tokenizer (card);
  g_autofree gchar *pr = ar_card_describe_predictor (card);
  g_autofree gchar *n_tk = format_count (s->tokenizer_params);
  g_autofree gchar *n_pr = format_count (s->predictor_params);
  g_autofree gchar *n_all = format_count (s->total_params);
  printf ("card:       %s (%s)\n", card->name, card->path);
  printf ("weights:    %s\n", card->weights);
  printf ("tokenizer:  %s\n", tk);
  printf ("predictor:  %s\n", pr);
  printf ("tensors:    %u\n", s->n_tensors);
  printf ("parameters: tokenizer %s, predictor %s, total %s\n", n_tk, n_pr, n_all);
}

static int
fail (const GError *error)
{
  fprintf (stderr, "armodel: %s\n", error->message);
  return 1;
}

static int
cmd_info (const char *card_path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ArCard) card = ar_card_load (card_path, &error);
  if (!card)
    return fail (error);
  g_autoptr (ArSafetensors) st = ar_safetensors_open (card->weights, &error);
  if (!st || !ar_model_check_weights (card, st, &error))
    return fail (error);
  ArModelSummary s;
  ar_card_summarize (card, &s);
  print_summary (card, &s);
  printf ("device:     not loaded (weights need %.1f MiB as f32, %.1f MiB as f16)\n",
      s.total_params * 4.0 / (1 << 20), s.total_params * 2.0 / (1 << 20));
  return 0;
}

static int
cmd_check (const char *card_path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ArDevice) dev = ar_device_new (&error);
  if (!dev)
    return fail (error);
  gint64 t0 = g_get_monotonic_time ();
  g_autoptr (ArModel) model = ar_model_load (dev, card_path, &error);
  if (!model)
    return fail (error);
  gint64 t1 = g_get_monotonic_time ();
  const ArModelSummary *s = ar_model_summary (model);
  print_summary (ar_model_card (model), s);
  g_autofree gchar *desc = ar_device_describe (dev);
  printf ("memory:     %" G_GUINT64_FORMAT " bytes (%.1f MiB) of %s weights on the device, loaded in %.0f ms\n",
      s->device_bytes, s->device_bytes / (double) (1 << 20), ar_dtype_name (s->dtype), (t1 - t0) / 1e3);
  printf ("device:     %s\n", desc);
  if (ar_device_validation_messages (dev)) {
    fprintf (stderr, "armodel: %u Vulkan validation messages\n", ar_device_validation_messages (dev));
    return 1;
  }
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc == 2 && (strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "--help") == 0)) {
    usage (stdout);
    return 0;
  }
  if (argc != 3) {
    usage (stderr);
    return 2;
  }
  if (strcmp (argv[1], "info") == 0)
    return cmd_info (argv[2]);
  if (strcmp (argv[1], "check") == 0)
    return cmd_check (argv[2]);
  fprintf (stderr, "armodel: unknown command '%s'\n", argv[1]);
  usage (stderr);
  return 2;
}

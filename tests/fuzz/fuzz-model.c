/* Fuzz entry point: the same bytes go to the card parser and to the safetensors parser, both
 * from memory; whatever parses is then exercised (expected tensors, weights check, data). */
#include "fuzz-model.h"
#include "ar-model.h"

#include <string.h>

uint64_t fuzz_cards_accepted, fuzz_safetensors_accepted;

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *error = NULL;
  ArCard *card = ar_card_parse ((const char *) data, size, "fuzz.yaml", &error);
  g_clear_error (&error);
  if (card) {
    fuzz_cards_accepted++;
    ArModelSummary summary;
    ar_card_summarize (card, &summary);
    g_free (ar_card_describe_tokenizer (card));
    g_free (ar_card_describe_predictor (card));
  }

  GBytes *bytes = g_bytes_new_static (data, size);
  ArSafetensors *st = ar_safetensors_open_bytes (bytes, "fuzz.safetensors", &error);
  g_clear_error (&error);
  if (st) {
    fuzz_safetensors_accepted++;
    /* Touch the first and last byte of every tensor: offsets must lie inside the input. */
    volatile guint8 sink = 0;
    for (guint i = 0; i < ar_safetensors_n_tensors (st); i++) {
      const ArStTensor *t = ar_safetensors_nth (st, i);
      if (t->nbytes)
        sink ^= ((const guint8 *) t->data)[0] ^ ((const guint8 *) t->data)[t->nbytes - 1];
      g_assert (ar_safetensors_lookup (st, t->name) == t);
    }
    (void) sink;
    if (card && !ar_model_check_weights (card, st, &error))
      g_clear_error (&error);
    ar_safetensors_close (st);
  }
  g_bytes_unref (bytes);
  ar_card_free (card);
  return 0;
}

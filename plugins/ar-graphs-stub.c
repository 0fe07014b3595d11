/* STAND-IN for the tokenizer and predictor graphs (branch wip-graphs), built only while
 * common/ lacks ar-tokenizer.c and ar-predictor.c. It honours the interfaces' shapes, sizes,
 * errors and determinism (so the elements' plumbing can be tested) but computes nothing a
 * model would: tokens are block means of the pixels, predictions shift the last frame by the
 * action. Remove once the real graphs are merged (meson stops building it by itself). */
#include "ar-tokenizer.h"
#include "ar-predictor.h"
#include <string.h>

struct _ArTokenizer {
  ArModel *model;
  const ArTokenizerConfig *config;
  gchar fingerprint[17];
};

ArTokenizer *
ar_tokenizer_new (ArModel *model, GError **error)
{
  const ArCard *card = ar_model_card (model);
  ArTokenizer *tok;
  gchar *digest;

  if (card->tokenizer.kind == AR_TOKENIZER_NONE) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: the card has no tokenizer section",
        card->path);
    return NULL;
  }
  tok = g_new0 (ArTokenizer, 1);
  tok->model = ar_model_ref (model);
  tok->config = &card->tokenizer;
  digest = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) tok->config,
      sizeof (*tok->config));
  memcpy (tok->fingerprint, digest, 16);
  g_free (digest);
  return tok;
}

void
ar_tokenizer_free (ArTokenizer *tok)
{
  if (!tok)
    return;
  ar_model_unref (tok->model);
  g_free (tok);
}

guint ar_tokenizer_width (const ArTokenizer *tok) { return tok->config->width; }
guint ar_tokenizer_height (const ArTokenizer *tok) { return tok->config->height; }
guint ar_tokenizer_channels (const ArTokenizer *tok) { return tok->config->in_channels; }
guint ar_tokenizer_grid_width (const ArTokenizer *tok) { return tok->config->grid_width; }
guint ar_tokenizer_grid_height (const ArTokenizer *tok) { return tok->config->grid_height; }
guint ar_tokenizer_n_tokens (const ArTokenizer *tok) { return tok->config->tokens_per_frame; }
guint ar_tokenizer_codebook_size (const ArTokenizer *tok) { return tok->config->codebook_size; }
const char *ar_tokenizer_fingerprint (const ArTokenizer *tok) { return tok->fingerprint; }

static guint
bytes_per_pixel (ArPixelFormat format)
{
  switch (format) {
    case AR_PIXEL_RGB: return 3;
    case AR_PIXEL_GRAY8: return 1;
    default: return 4;
  }
}

gboolean
ar_tokenizer_encode (ArTokenizer *tok, const guint8 *pixels, gsize stride, ArPixelFormat format,
    guint32 *tokens, float *latents, GError **error)
{
  const ArTokenizerConfig *c = tok->config;
  guint bw = c->width / c->grid_width, bh = c->height / c->grid_height;
  guint bpp = bytes_per_pixel (format), gx, gy, x, y;

  for (gy = 0; gy < c->grid_height; gy++) {
    for (gx = 0; gx < c->grid_width; gx++) {
      guint64 sum = 0;
      for (y = gy * bh; y < (gy + 1) * bh; y++)
        for (x = gx * bw; x < (gx + 1) * bw; x++)
          sum += pixels[y * stride + x * bpp];
      tokens[gy * c->grid_width + gx] = (guint32) (sum / (bw * bh) * c->codebook_size / 256);
    }
  }
  return TRUE;
}

gboolean
ar_tokenizer_decode (ArTokenizer *tok, const guint32 *tokens, guint8 *pixels, gsize stride,
    ArPixelFormat format, float *out_float, GError **error)
{
  const ArTokenizerConfig *c = tok->config;
  guint bpp = bytes_per_pixel (format), x, y, i;

  for (y = 0; y < c->height; y++) {
    for (x = 0; x < c->width; x++) {
      guint t = tokens[(y * c->grid_height / c->height) * c->grid_width
          + x * c->grid_width / c->width];
      guint8 v = (guint8) (MIN (t, c->codebook_size - 1) * 255 / MAX (1, c->codebook_size - 1));
      for (i = 0; i < bpp; i++)
        pixels[y * stride + x * bpp + i] = (format == AR_PIXEL_RGBA && i == 3) ? 255 : v;
    }
  }
  return TRUE;
}

struct _ArPredictor {
  ArModel *model;
  const ArPredictorConfig *config;
  guint context_frames;
  guint n_frames;
  guint32 *frames;      /* context_frames * tokens_per_frame, oldest first */
  guint *actions;       /* discrete index, or the rounded first value */
};

ArPredictor *
ar_predictor_new (ArModel *model, guint context_frames, GError **error)
{
  const ArCard *card = ar_model_card (model);
  ArPredictor *pred;

  if (card->predictor.kind == AR_PREDICTOR_NONE) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: the card has no predictor section",
        card->path);
    return NULL;
  }
  pred = g_new0 (ArPredictor, 1);
  pred->model = ar_model_ref (model);
  pred->config = &card->predictor;
  pred->context_frames = context_frames ? context_frames : card->predictor.context_frames;
  pred->frames = g_new0 (guint32, (gsize) pred->context_frames * pred->config->tokens_per_frame);
  pred->actions = g_new0 (guint, pred->context_frames);
  return pred;
}

void
ar_predictor_free (ArPredictor *pred)
{
  if (!pred)
    return;
  ar_model_unref (pred->model);
  g_free (pred->frames);
  g_free (pred->actions);
  g_free (pred);
}

guint ar_predictor_tokens_per_frame (const ArPredictor *p) { return p->config->tokens_per_frame; }
guint ar_predictor_vocab (const ArPredictor *p) { return p->config->vocab; }
guint ar_predictor_context_frames (const ArPredictor *p) { return p->context_frames; }
gboolean ar_predictor_action_discrete (const ArPredictor *p)
{
  return p->config->action_kind == AR_ACTION_DISCRETE;
}
guint ar_predictor_action_size (const ArPredictor *p)
{
  return p->config->action_kind == AR_ACTION_DISCRETE ? p->config->action_count
                                                      : p->config->action_dim;
}
void ar_predictor_reset (ArPredictor *p) { p->n_frames = 0; }
guint ar_predictor_frames_in_context (const ArPredictor *p) { return p->n_frames; }

static gboolean
check_action (const ArPredictor *pred, const ArAction *action, GError **error)
{
  guint size = ar_predictor_action_size (pred);

  if (action->discrete != ar_predictor_action_discrete (pred)) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "%s action given, the model takes %s ones",
        action->discrete ? "a discrete" : "a continuous",
        ar_predictor_action_discrete (pred) ? "discrete" : "continuous");
    return FALSE;
  }
  if (action->discrete && action->index >= size) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "action index %u, the model has %u actions",
        action->index, size);
    return FALSE;
  }
  if (!action->discrete && action->dim != size) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "action of size %u, expected %u",
        action->dim, size);
    return FALSE;
  }
  return TRUE;
}

static guint
action_shift (const ArAction *action)
{
  return action->discrete ? action->index : (guint) (action->values[0] > 0);
}

gboolean
ar_predictor_commit (ArPredictor *pred, const guint32 *tokens, const ArAction *action,
    GError **error)
{
  guint n = pred->config->tokens_per_frame;

  if (!check_action (pred, action, error))
    return FALSE;
  if (pred->n_frames == pred->context_frames) {
    memmove (pred->frames, pred->frames + n, (gsize) (pred->context_frames - 1) * n * 4);
    memmove (pred->actions, pred->actions + 1, (pred->context_frames - 1) * sizeof (guint));
    pred->n_frames--;
  }
  memcpy (pred->frames + (gsize) pred->n_frames * n, tokens, (gsize) n * 4);
  pred->actions[pred->n_frames] = action_shift (action);
  pred->n_frames++;
  return TRUE;
}

static guint64
mix64 (guint64 x)
{
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

gboolean
ar_predictor_generate (ArPredictor *pred, const ArSampleParams *params, guint horizon,
    const ArAction *actions, guint32 *tokens, GError **error)
{
  guint n = pred->config->tokens_per_frame, vocab = pred->config->vocab, k, i;
  gboolean greedy = params->greedy || params->top_k == 1 || params->temperature == 0.0f;
  guint64 counter = params->counter;

  if (pred->n_frames == 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "no frame committed yet");
    return FALSE;
  }
  for (k = 0; k < horizon; k++) {
    const guint32 *prev = k == 0 ? pred->frames + (gsize) (pred->n_frames - 1) * n
                                 : tokens + (gsize) (k - 1) * n;
    guint shift = pred->actions[pred->n_frames - 1];
    if (k > 0 && actions) {
      if (!check_action (pred, &actions[k - 1], error))
        return FALSE;
      shift = action_shift (&actions[k - 1]);
    }
    for (i = 0; i < n; i++, counter++) {
      guint noise = greedy ? 0 : (guint) (mix64 (params->seed ^ mix64 (counter)) % 3);
      tokens[(gsize) k * n + i] = (prev[i] + shift + noise) % vocab;
    }
  }
  return TRUE;
}

gboolean
ar_predictor_context_logits (ArPredictor *pred, float *logits, GError **error)
{
  g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "not available in the stand-in graphs");
  return FALSE;
}

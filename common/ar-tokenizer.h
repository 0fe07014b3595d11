/* The tokenizer graph: frames <-> discrete tokens, on the device, for a model's `tokenizer`
 * section (kind vq now; msvq and pixel later). */
#pragma once
#include "ar-model.h"

G_BEGIN_DECLS

/* Host pixel layouts the tokenizer reads and writes (8 bits per channel, interleaved). */
typedef enum {
  AR_PIXEL_RGB,
  AR_PIXEL_RGBA,
  AR_PIXEL_RGBX,
  AR_PIXEL_BGRX,
  AR_PIXEL_GRAY8,
} ArPixelFormat;

typedef struct _ArTokenizer ArTokenizer;

/* Builds the graph for @model's tokenizer (holding a reference on the model) and allocates its
 * activations. Fails when the model has no tokenizer section. */
ArTokenizer *ar_tokenizer_new (ArModel *model, GError **error);
void ar_tokenizer_free (ArTokenizer *tok);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArTokenizer, ar_tokenizer_free)

/* Frame size (pixels) and channels the model takes; token grid; codebook size. */
guint ar_tokenizer_width (const ArTokenizer *tok);
guint ar_tokenizer_height (const ArTokenizer *tok);
guint ar_tokenizer_channels (const ArTokenizer *tok);
guint ar_tokenizer_grid_width (const ArTokenizer *tok);
guint ar_tokenizer_grid_height (const ArTokenizer *tok);
guint ar_tokenizer_n_tokens (const ArTokenizer *tok);          /* grid_width * grid_height */
guint ar_tokenizer_codebook_size (const ArTokenizer *tok);
/* A short hex digest of the tokenizer's card section and weights: tokens are interchangeable
 * only between elements whose fingerprints are equal. */
const char *ar_tokenizer_fingerprint (const ArTokenizer *tok);

/* Encodes one frame of width x height pixels (@stride bytes per row) into n_tokens token
 * indices in raster order (one command buffer; pixels are converted on the host). A gray
 * model takes the BT.601 luma of colour frames; a colour model replicates GRAY8. @latents, when not NULL, receives the pre-quantization latents
 * [codebook.dim, grid_h, grid_w] as floats (for tests). */
gboolean ar_tokenizer_encode (ArTokenizer *tok, const guint8 *pixels, gsize stride,
    ArPixelFormat format, guint32 *tokens, float *latents, GError **error);

/* Decodes n_tokens tokens into one frame (clamped, rounded to 8 bits). @out_float, when not
 * NULL, receives the raw decoder output [channels, height, width] (not clamped). @pixels may
 * be NULL when only @out_float is wanted. Tokens >= codebook_size decode as the last code.
 * Pixels: a gray model's output fills R, G and B; a colour model's output to GRAY8 is BT.601
 * luma; X and A bytes are set to 255. */
gboolean ar_tokenizer_decode (ArTokenizer *tok, const guint32 *tokens, guint8 *pixels,
    gsize stride, ArPixelFormat format, float *out_float, GError **error);

G_END_DECLS

/* The caps of token streams between arvideo elements:
 *   application/x-ar-tokens, grid-width=(int), grid-height=(int), codebook-size=(int),
 *   fingerprint=(string), framerate=(fraction)
 * Buffers hold grid-width * grid-height guint32 token indices in raster order. */
#pragma once
#include <gst/gst.h>

G_BEGIN_DECLS

#define AR_TOKEN_MEDIA_TYPE "application/x-ar-tokens"
#define AR_TOKEN_CAPS_ANY AR_TOKEN_MEDIA_TYPE ", grid-width = (int) [ 1, MAX ], " \
  "grid-height = (int) [ 1, MAX ], codebook-size = (int) [ 1, MAX ], " \
  "framerate = (fraction) [ 0/1, MAX ]"

/* What a model produces or accepts; any of the fields may be left open (0 / NULL). */
typedef struct {
  guint grid_width, grid_height;
  guint codebook_size;
  const gchar *fingerprint;
} ArTokenFormat;

/* Token caps for @format, framerate left open. */
GstCaps *ar_token_caps_new (const ArTokenFormat *format);

/* Copies the framerate of each structure of @from into the matching structures of @to
 * (every combination), so that transform_caps keeps framerate passthrough. */
GstCaps *ar_caps_with_framerates_of (GstCaps *to, GstCaps *from);

/* Checks fixed token caps against what a model expects. On a mismatch, returns FALSE and a
 * message naming both sides in *@why. */
gboolean ar_token_caps_match (const GstCaps *caps, const ArTokenFormat *expected, gchar **why);

G_END_DECLS

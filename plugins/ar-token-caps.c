#include "ar-token-caps.h"

GstCaps *
ar_token_caps_new (const ArTokenFormat *format)
{
  GstCaps *caps = gst_caps_from_string (AR_TOKEN_CAPS_ANY);
  GstStructure *s = gst_caps_get_structure (caps, 0);

  if (format->grid_width)
    gst_structure_set (s, "grid-width", G_TYPE_INT, (gint) format->grid_width, NULL);
  if (format->grid_height)
    gst_structure_set (s, "grid-height", G_TYPE_INT, (gint) format->grid_height, NULL);
  if (format->codebook_size)
    gst_structure_set (s, "codebook-size", G_TYPE_INT, (gint) format->codebook_size, NULL);
  if (format->fingerprint)
    gst_structure_set (s, "fingerprint", G_TYPE_STRING, format->fingerprint, NULL);
  return caps;
}

GstCaps *
ar_caps_with_framerates_of (GstCaps *to, GstCaps *from)
{
  GstCaps *result = gst_caps_new_empty ();
  guint i, j;

  for (i = 0; i < gst_caps_get_size (from); i++) {
    const GValue *rate = gst_structure_get_value (gst_caps_get_structure (from, i), "framerate");
    for (j = 0; j < gst_caps_get_size (to); j++) {
      GstStructure *s = gst_structure_copy (gst_caps_get_structure (to, j));
      if (rate)
        gst_structure_set_value (s, "framerate", rate);
      result = gst_caps_merge_structure (result, s);
    }
  }
  return result;
}

static gboolean
int_field_matches (const GstStructure *s, const gchar *field, guint expected, gint *given)
{
  *given = -1;
  if (!gst_structure_get_int (s, field, given))
    return FALSE;
  return expected == 0 || *given == (gint) expected;
}

gboolean
ar_token_caps_match (const GstCaps *caps, const ArTokenFormat *expected, gchar **why)
{
  const GstStructure *s;
  const gchar *fingerprint;
  gint gw, gh, cb;

  if (gst_caps_get_size (caps) < 1
      || !gst_structure_has_name (gst_caps_get_structure (caps, 0), AR_TOKEN_MEDIA_TYPE)) {
    *why = g_strdup_printf ("expected %s caps", AR_TOKEN_MEDIA_TYPE);
    return FALSE;
  }
  s = gst_caps_get_structure (caps, 0);
  fingerprint = gst_structure_get_string (s, "fingerprint");
  if (!int_field_matches (s, "grid-width", expected->grid_width, &gw)
      || !int_field_matches (s, "grid-height", expected->grid_height, &gh)
      || !int_field_matches (s, "codebook-size", expected->codebook_size, &cb)
      || (expected->fingerprint && g_strcmp0 (fingerprint, expected->fingerprint) != 0)) {
    *why = g_strdup_printf ("the stream's tokens are grid %dx%d, codebook %d, fingerprint %s; "
        "the model expects grid %ux%u, codebook %u, fingerprint %s",
        gw, gh, cb, GST_STR_NULL (fingerprint), expected->grid_width, expected->grid_height,
        expected->codebook_size, expected->fingerprint ? expected->fingerprint : "(any)");
    return FALSE;
  }
  return TRUE;
}

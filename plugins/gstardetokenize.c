/**
 * SECTION:element-ardetokenize
 * @title: ardetokenize
 * @see_also: artokenize, arpredict
 *
 * Decodes token frames (application/x-ar-tokens) into video with the tokenizer of a model
 * card, at the model's resolution, in RGB or RGBA (GRAY8 for one-channel models). Token caps
 * whose fingerprint, grid or codebook size differ from the model's are refused with an error
 * naming both: tokens of another tokenizer would decode to garbage.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc ! videoconvert ! videoscale ! artokenize model=m.yaml ! \
 *     arpredict model=m.yaml ! ardetokenize model=m.yaml ! videoconvert ! autovideosink
 * ]| Shows the world model's prediction of the next frame.
 */
#include "gstardetokenize.h"
#include "ar-token-caps.h"

GST_DEBUG_CATEGORY_STATIC (gst_ar_detokenize_debug);
#define GST_CAT_DEFAULT gst_ar_detokenize_debug

/* Set by the base class from start to stop; see gstartokenizerbase.h on locking. */
#define TOKENIZER(self) gst_ar_tokenizer_base_get_tokenizer (GST_AR_TOKENIZER_BASE (self))

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (AR_TOKEN_CAPS_ANY));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE ("{ RGB, RGBA, GRAY8 }")));

#define gst_ar_detokenize_parent_class parent_class
G_DEFINE_TYPE (GstArDetokenize, gst_ar_detokenize, GST_TYPE_AR_TOKENIZER_BASE);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (ardetokenize, "ardetokenize", GST_RANK_NONE,
    GST_TYPE_AR_DETOKENIZE,
    GST_DEBUG_CATEGORY_INIT (gst_ar_detokenize_debug, "ardetokenize", 0,
        "arvideo detokenizer"));

static void
gst_ar_detokenize_expected_format (const ArTokenizer *tokenizer, ArTokenFormat *format)
{
  format->grid_width = ar_tokenizer_grid_width (tokenizer);
  format->grid_height = ar_tokenizer_grid_height (tokenizer);
  format->codebook_size = ar_tokenizer_codebook_size (tokenizer);
  format->fingerprint = ar_tokenizer_fingerprint (tokenizer);
}

static GstCaps *
gst_ar_detokenize_model_video_caps (const ArTokenizer *tokenizer)
{
  GstCaps *caps = gst_caps_from_string (ar_tokenizer_channels (tokenizer) == 1
          ? GST_VIDEO_CAPS_MAKE ("GRAY8") : GST_VIDEO_CAPS_MAKE ("{ RGB, RGBA }"));
  gst_caps_set_simple (caps, "width", G_TYPE_INT, (gint) ar_tokenizer_width (tokenizer),
      "height", G_TYPE_INT, (gint) ar_tokenizer_height (tokenizer),
      "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, NULL);
  return caps;
}

static GstCaps *
gst_ar_detokenize_transform_caps (GstBaseTransform *trans, GstPadDirection direction,
    GstCaps *caps, GstCaps *filter)
{
  GstArDetokenize *self = GST_AR_DETOKENIZE (trans);
  GstCaps *model_caps, *result;

  GST_OBJECT_LOCK (self);
  if (TOKENIZER (self)) {
    if (direction == GST_PAD_SINK) {
      model_caps = gst_ar_detokenize_model_video_caps (TOKENIZER (self));
    } else {
      ArTokenFormat format;
      gst_ar_detokenize_expected_format (TOKENIZER (self), &format);
      model_caps = ar_token_caps_new (&format);
    }
  } else {
    model_caps = gst_pad_get_pad_template_caps (direction == GST_PAD_SINK
        ? GST_BASE_TRANSFORM_SRC_PAD (trans) : GST_BASE_TRANSFORM_SINK_PAD (trans));
  }
  GST_OBJECT_UNLOCK (self);

  /* The sink prefers the model's exact caps but also lists the template, so that caps a
   * peer cannot change reach the caps event, which fails with a message naming both sides
   * rather than a bare not-negotiated upstream. */
  if (direction == GST_PAD_SRC)
    model_caps = gst_caps_merge (model_caps,
        gst_pad_get_pad_template_caps (GST_BASE_TRANSFORM_SINK_PAD (trans)));

  result = ar_caps_with_framerates_of (model_caps, caps);
  gst_caps_unref (model_caps);
  if (filter) {
    GstCaps *filtered = gst_caps_intersect_full (filter, result, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (result);
    result = filtered;
  }
  return result;
}

/* A mismatch gets an error naming both sides instead of a bare not-negotiated. */
static gboolean
gst_ar_detokenize_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstArDetokenize *self = GST_AR_DETOKENIZE (trans);

  if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS && TOKENIZER (self)) {
    GstCaps *caps;
    ArTokenFormat expected;
    gchar *why = NULL;

    gst_event_parse_caps (event, &caps);
    gst_ar_detokenize_expected_format (TOKENIZER (self), &expected);
    if (!ar_token_caps_match (caps, &expected, &why)) {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
          ("ardetokenize cannot decode these tokens: %s", why),
          ("caps %" GST_PTR_FORMAT, caps));
      g_free (why);
      gst_event_unref (event);
      return FALSE;
    }
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

static gboolean
gst_ar_detokenize_set_caps (GstBaseTransform *trans, GstCaps *incaps, GstCaps *outcaps)
{
  GstArDetokenize *self = GST_AR_DETOKENIZE (trans);

  if (!gst_video_info_from_caps (&self->out_info, outcaps))
    return FALSE;
  switch (GST_VIDEO_INFO_FORMAT (&self->out_info)) {
    case GST_VIDEO_FORMAT_RGB: self->pixel_format = AR_PIXEL_RGB; break;
    case GST_VIDEO_FORMAT_RGBA: self->pixel_format = AR_PIXEL_RGBA; break;
    case GST_VIDEO_FORMAT_GRAY8: self->pixel_format = AR_PIXEL_GRAY8; break;
    default: return FALSE;
  }
  return TRUE;
}

static gboolean
gst_ar_detokenize_transform_size (GstBaseTransform *trans, GstPadDirection direction,
    GstCaps *caps, gsize size, GstCaps *othercaps, gsize *othersize)
{
  GstVideoInfo info;

  if (direction != GST_PAD_SINK || !gst_video_info_from_caps (&info, othercaps))
    return FALSE;
  *othersize = GST_VIDEO_INFO_SIZE (&info);
  return TRUE;
}

static GstFlowReturn
gst_ar_detokenize_transform (GstBaseTransform *trans, GstBuffer *inbuf, GstBuffer *outbuf)
{
  GstArDetokenize *self = GST_AR_DETOKENIZE (trans);
  gsize expected = ar_tokenizer_n_tokens (TOKENIZER (self)) * sizeof (guint32);
  GstVideoFrame frame;
  GstMapInfo in;
  GError *error = NULL;
  gboolean ok;

  if (!gst_buffer_map (inbuf, &in, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not map the token buffer"), (NULL));
    return GST_FLOW_ERROR;
  }
  if (in.size != expected) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Token buffer of %" G_GSIZE_FORMAT " bytes, expected %" G_GSIZE_FORMAT
            " (%u tokens)", in.size, expected, ar_tokenizer_n_tokens (TOKENIZER (self))),
        (NULL));
    gst_buffer_unmap (inbuf, &in);
    return GST_FLOW_ERROR;
  }
  if (!gst_video_frame_map (&frame, &self->out_info, outbuf, GST_MAP_WRITE)) {
    gst_buffer_unmap (inbuf, &in);
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not map the output frame"), (NULL));
    return GST_FLOW_ERROR;
  }
  ok = ar_tokenizer_decode (TOKENIZER (self), (const guint32 *) in.data,
      GST_VIDEO_FRAME_PLANE_DATA (&frame, 0), GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0),
      self->pixel_format, NULL, &error);
  gst_video_frame_unmap (&frame);
  gst_buffer_unmap (inbuf, &in);
  if (!ok) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Decoding failed: %s", error->message), (NULL));
    g_clear_error (&error);
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

static void
gst_ar_detokenize_class_init (GstArDetokenizeClass *klass)
{
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Video world model detokenizer",
      "Filter/Converter/Video", "Decodes discrete tokens into video frames with a model's "
      "tokenizer on the GPU (Vulkan)", "arvideo developers");

  trans_class->transform_caps = gst_ar_detokenize_transform_caps;
  trans_class->sink_event = gst_ar_detokenize_sink_event;
  trans_class->set_caps = gst_ar_detokenize_set_caps;
  trans_class->transform_size = gst_ar_detokenize_transform_size;
  trans_class->transform = gst_ar_detokenize_transform;
}

static void
gst_ar_detokenize_init (GstArDetokenize *self)
{
}

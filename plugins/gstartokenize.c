/**
 * SECTION:element-artokenize
 * @title: artokenize
 * @see_also: ardetokenize, arpredict
 *
 * Encodes video frames into discrete tokens with the tokenizer of a model card, on the
 * Vulkan device the arvideo elements share. Frames must have the model's resolution (the
 * caps say so once the model is loaded, so `videoconvert ! videoscale` upstream adapts).
 * Each output buffer holds grid-width * grid-height guint32 token indices in raster order;
 * timestamps, durations and metas without tags (e.g. #ArActionMeta) pass through.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=30 ! videoconvert ! videoscale ! \
 *     artokenize model=tiny-gpt.yaml ! ardetokenize model=tiny-gpt.yaml ! \
 *     videoconvert ! autovideosink
 * ]| Encodes frames into tokens and decodes them back (the tokenizer's reconstruction).
 */
#include "gstartokenize.h"
#include "ar-token-caps.h"

GST_DEBUG_CATEGORY_STATIC (gst_ar_tokenize_debug);
#define GST_CAT_DEFAULT gst_ar_tokenize_debug

/* Set by the base class from start to stop; see gstartokenizerbase.h on locking. */
#define TOKENIZER(self) gst_ar_tokenizer_base_get_tokenizer (GST_AR_TOKENIZER_BASE (self))

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE ("{ RGB, RGBA, RGBx, BGRx, GRAY8 }")));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (AR_TOKEN_CAPS_ANY));

#define gst_ar_tokenize_parent_class parent_class
G_DEFINE_TYPE (GstArTokenize, gst_ar_tokenize, GST_TYPE_AR_TOKENIZER_BASE);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (artokenize, "artokenize", GST_RANK_NONE,
    GST_TYPE_AR_TOKENIZE,
    GST_DEBUG_CATEGORY_INIT (gst_ar_tokenize_debug, "artokenize", 0, "arvideo tokenizer"));

/* Video caps the model takes: its resolution, and the formats for its channel count. */
static GstCaps *
gst_ar_tokenize_model_video_caps (const ArTokenizer *tokenizer)
{
  GstCaps *caps = gst_caps_from_string (ar_tokenizer_channels (tokenizer) == 1
          ? GST_VIDEO_CAPS_MAKE ("GRAY8")
          : GST_VIDEO_CAPS_MAKE ("{ RGB, RGBA, RGBx, BGRx }"));
  gst_caps_set_simple (caps, "width", G_TYPE_INT, (gint) ar_tokenizer_width (tokenizer),
      "height", G_TYPE_INT, (gint) ar_tokenizer_height (tokenizer), NULL);
  return caps;
}

static GstCaps *
gst_ar_tokenize_model_token_caps (const ArTokenizer *tokenizer)
{
  ArTokenFormat format = {
    .grid_width = ar_tokenizer_grid_width (tokenizer),
    .grid_height = ar_tokenizer_grid_height (tokenizer),
    .codebook_size = ar_tokenizer_codebook_size (tokenizer),
    .fingerprint = ar_tokenizer_fingerprint (tokenizer),
  };
  return ar_token_caps_new (&format);
}

static GstCaps *
gst_ar_tokenize_transform_caps (GstBaseTransform *trans, GstPadDirection direction,
    GstCaps *caps, GstCaps *filter)
{
  GstArTokenize *self = GST_AR_TOKENIZE (trans);
  GstCaps *model_caps, *result;

  GST_OBJECT_LOCK (self);
  if (TOKENIZER (self))
    model_caps = direction == GST_PAD_SINK
        ? gst_ar_tokenize_model_token_caps (TOKENIZER (self))
        : gst_ar_tokenize_model_video_caps (TOKENIZER (self));
  else
    model_caps = gst_pad_get_pad_template_caps (direction == GST_PAD_SINK
        ? GST_BASE_TRANSFORM_SRC_PAD (trans) : GST_BASE_TRANSFORM_SINK_PAD (trans));
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
  GST_DEBUG_OBJECT (self, "%s caps %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT,
      direction == GST_PAD_SINK ? "sink" : "src", caps, result);
  return result;
}

static gboolean
gst_ar_tokenize_set_caps (GstBaseTransform *trans, GstCaps *incaps, GstCaps *outcaps)
{
  GstArTokenize *self = GST_AR_TOKENIZE (trans);

  if (!gst_video_info_from_caps (&self->in_info, incaps))
    return FALSE;
  switch (GST_VIDEO_INFO_FORMAT (&self->in_info)) {
    case GST_VIDEO_FORMAT_RGB: self->pixel_format = AR_PIXEL_RGB; break;
    case GST_VIDEO_FORMAT_RGBA: self->pixel_format = AR_PIXEL_RGBA; break;
    case GST_VIDEO_FORMAT_RGBx: self->pixel_format = AR_PIXEL_RGBX; break;
    case GST_VIDEO_FORMAT_BGRx: self->pixel_format = AR_PIXEL_BGRX; break;
    case GST_VIDEO_FORMAT_GRAY8: self->pixel_format = AR_PIXEL_GRAY8; break;
    default: return FALSE;
  }
  return TRUE;
}

/* Caps pushed without a caps query (or by an upstream that cannot scale) get a clear error
 * rather than a bare not-negotiated flow return. */
static gboolean
gst_ar_tokenize_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstArTokenize *self = GST_AR_TOKENIZE (trans);

  if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS && TOKENIZER (self)) {
    GstCaps *caps, *accepted;
    gboolean ok;

    gst_event_parse_caps (event, &caps);
    accepted = gst_ar_tokenize_model_video_caps (TOKENIZER (self));
    ok = gst_caps_can_intersect (caps, accepted);
    if (!ok) {
      GstVideoInfo info;
      gchar *offered = gst_video_info_from_caps (&info, caps)
          ? g_strdup_printf ("%dx%d %s", GST_VIDEO_INFO_WIDTH (&info),
                GST_VIDEO_INFO_HEIGHT (&info), GST_VIDEO_INFO_NAME (&info))
          : gst_caps_to_string (caps);
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
          ("artokenize needs %ux%u %s frames (the model's resolution), got %s",
              ar_tokenizer_width (TOKENIZER (self)), ar_tokenizer_height (TOKENIZER (self)),
              ar_tokenizer_channels (TOKENIZER (self)) == 1 ? "GRAY8" : "RGB/RGBA/RGBx/BGRx",
              offered),
          ("upstream offered %" GST_PTR_FORMAT "; put videoconvert ! videoscale before "
              "artokenize", caps));
      g_free (offered);
      gst_caps_unref (accepted);
      gst_event_unref (event);
      return FALSE;
    }
    gst_caps_unref (accepted);
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

static gboolean
gst_ar_tokenize_transform_size (GstBaseTransform *trans, GstPadDirection direction,
    GstCaps *caps, gsize size, GstCaps *othercaps, gsize *othersize)
{
  GstArTokenize *self = GST_AR_TOKENIZE (trans);

  if (direction != GST_PAD_SINK || !TOKENIZER (self))
    return FALSE;
  *othersize = ar_tokenizer_n_tokens (TOKENIZER (self)) * sizeof (guint32);
  return TRUE;
}

static GstFlowReturn
gst_ar_tokenize_transform (GstBaseTransform *trans, GstBuffer *inbuf, GstBuffer *outbuf)
{
  GstArTokenize *self = GST_AR_TOKENIZE (trans);
  GstVideoFrame frame;
  GstMapInfo out;
  GError *error = NULL;
  gboolean ok;

  if (!gst_video_frame_map (&frame, &self->in_info, inbuf, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not map the input frame"), (NULL));
    return GST_FLOW_ERROR;
  }
  if (!gst_buffer_map (outbuf, &out, GST_MAP_WRITE)) {
    gst_video_frame_unmap (&frame);
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not map the output buffer"), (NULL));
    return GST_FLOW_ERROR;
  }
  ok = ar_tokenizer_encode (TOKENIZER (self), GST_VIDEO_FRAME_PLANE_DATA (&frame, 0),
      GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0), self->pixel_format, (guint32 *) out.data, NULL,
      &error);
  gst_buffer_unmap (outbuf, &out);
  gst_video_frame_unmap (&frame);
  if (!ok) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Encoding failed: %s", error->message), (NULL));
    g_clear_error (&error);
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

static void
gst_ar_tokenize_class_init (GstArTokenizeClass *klass)
{
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Video world model tokenizer",
      "Filter/Converter/Video", "Encodes video frames into discrete tokens with a model's "
      "tokenizer on the GPU (Vulkan)", "arvideo developers");

  trans_class->transform_caps = gst_ar_tokenize_transform_caps;
  trans_class->set_caps = gst_ar_tokenize_set_caps;
  trans_class->sink_event = gst_ar_tokenize_sink_event;
  trans_class->transform_size = gst_ar_tokenize_transform_size;
  trans_class->transform = gst_ar_tokenize_transform;
}

static void
gst_ar_tokenize_init (GstArTokenize *self)
{
}

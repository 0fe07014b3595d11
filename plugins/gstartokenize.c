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
#include "ar-context.h"
#include "ar-token-caps.h"

GST_DEBUG_CATEGORY_STATIC (gst_ar_tokenize_debug);
#define GST_CAT_DEFAULT gst_ar_tokenize_debug

enum {
  PROP_0,
  PROP_MODEL,
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE ("{ RGB, RGBA, RGBx, BGRx, GRAY8 }")));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (AR_TOKEN_CAPS_ANY));

#define gst_ar_tokenize_parent_class parent_class
G_DEFINE_TYPE (GstArTokenize, gst_ar_tokenize, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (artokenize, "artokenize", GST_RANK_NONE,
    GST_TYPE_AR_TOKENIZE,
    GST_DEBUG_CATEGORY_INIT (gst_ar_tokenize_debug, "artokenize", 0, "arvideo tokenizer"));

static void
gst_ar_tokenize_release_model (GstArTokenize *self)
{
  ArTokenizer *tokenizer;
  ArModel *model;

  GST_OBJECT_LOCK (self);
  tokenizer = g_steal_pointer (&self->tokenizer);
  model = g_steal_pointer (&self->model);
  GST_OBJECT_UNLOCK (self);
  g_clear_pointer (&tokenizer, ar_tokenizer_free);
  g_clear_pointer (&model, ar_model_unref);
}

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

static gboolean
gst_ar_tokenize_start (GstBaseTransform *trans)
{
  GstArTokenize *self = GST_AR_TOKENIZE (trans);
  GError *error = NULL;
  gchar *path;
  ArModel *model;
  ArTokenizer *tokenizer;

  if (!ar_device_ensure (GST_ELEMENT (self), &self->device))
    return FALSE;
  GST_OBJECT_LOCK (self);
  path = g_strdup (self->model_path);
  GST_OBJECT_UNLOCK (self);
  model = ar_element_open_model (GST_ELEMENT (self), self->device, path);
  if (!model) {
    g_free (path);
    return FALSE;
  }
  tokenizer = ar_tokenizer_new (model, &error);
  if (!tokenizer) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Model \"%s\" has no usable tokenizer: %s", path, error->message), (NULL));
    g_clear_error (&error);
    ar_model_unref (model);
    g_free (path);
    return FALSE;
  }
  GST_INFO_OBJECT (self, "tokenizer of %s: %ux%u frames -> %ux%u tokens", path,
      ar_tokenizer_width (tokenizer), ar_tokenizer_height (tokenizer),
      ar_tokenizer_grid_width (tokenizer), ar_tokenizer_grid_height (tokenizer));
  g_free (path);
  GST_OBJECT_LOCK (self);
  self->model = model;
  self->tokenizer = tokenizer;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static gboolean
gst_ar_tokenize_stop (GstBaseTransform *trans)
{
  gst_ar_tokenize_release_model (GST_AR_TOKENIZE (trans));
  return TRUE;
}

static GstCaps *
gst_ar_tokenize_transform_caps (GstBaseTransform *trans, GstPadDirection direction,
    GstCaps *caps, GstCaps *filter)
{
  GstArTokenize *self = GST_AR_TOKENIZE (trans);
  GstCaps *model_caps, *result;

  GST_OBJECT_LOCK (self);
  if (self->tokenizer)
    model_caps = direction == GST_PAD_SINK
        ? gst_ar_tokenize_model_token_caps (self->tokenizer)
        : gst_ar_tokenize_model_video_caps (self->tokenizer);
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

  if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS && self->tokenizer) {
    GstCaps *caps, *accepted;
    gboolean ok;

    gst_event_parse_caps (event, &caps);
    accepted = gst_ar_tokenize_model_video_caps (self->tokenizer);
    ok = gst_caps_can_intersect (caps, accepted);
    if (!ok) {
      GstVideoInfo info;
      gchar *offered = gst_video_info_from_caps (&info, caps)
          ? g_strdup_printf ("%dx%d %s", GST_VIDEO_INFO_WIDTH (&info),
                GST_VIDEO_INFO_HEIGHT (&info), GST_VIDEO_INFO_NAME (&info))
          : gst_caps_to_string (caps);
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
          ("artokenize needs %ux%u %s frames (the model's resolution), got %s",
              ar_tokenizer_width (self->tokenizer), ar_tokenizer_height (self->tokenizer),
              ar_tokenizer_channels (self->tokenizer) == 1 ? "GRAY8" : "RGB/RGBA/RGBx/BGRx",
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

  if (direction != GST_PAD_SINK || !self->tokenizer)
    return FALSE;
  *othersize = ar_tokenizer_n_tokens (self->tokenizer) * sizeof (guint32);
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
  ok = ar_tokenizer_encode (self->tokenizer, GST_VIDEO_FRAME_PLANE_DATA (&frame, 0),
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

static gboolean
gst_ar_tokenize_query (GstBaseTransform *trans, GstPadDirection direction, GstQuery *query)
{
  GstArTokenize *self = GST_AR_TOKENIZE (trans);
  gboolean answered;

  if (GST_QUERY_TYPE (query) == GST_QUERY_CONTEXT) {
    answered = ar_device_handle_context_query (GST_ELEMENT (self), query, &self->device);
    if (answered)
      return TRUE;
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->query (trans, direction, query);
}

static void
gst_ar_tokenize_set_context (GstElement *element, GstContext *context)
{
  GstArTokenize *self = GST_AR_TOKENIZE (element);

  ar_device_handle_set_context (element, context, &self->device);
  GST_ELEMENT_CLASS (parent_class)->set_context (element, context);
}

static GstStateChangeReturn
gst_ar_tokenize_change_state (GstElement *element, GstStateChange transition)
{
  GstArTokenize *self = GST_AR_TOKENIZE (element);
  GstStateChangeReturn ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);

  if (transition == GST_STATE_CHANGE_READY_TO_NULL) {
    ar_device_release (GST_ELEMENT (self), &self->device);
  }
  return ret;
}

static void
gst_ar_tokenize_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec)
{
  GstArTokenize *self = GST_AR_TOKENIZE (object);

  switch (prop_id) {
    case PROP_MODEL:
      GST_OBJECT_LOCK (self);
      g_free (self->model_path);
      self->model_path = g_value_dup_string (value);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_ar_tokenize_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstArTokenize *self = GST_AR_TOKENIZE (object);

  switch (prop_id) {
    case PROP_MODEL:
      GST_OBJECT_LOCK (self);
      g_value_set_string (value, self->model_path);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_ar_tokenize_finalize (GObject *object)
{
  GstArTokenize *self = GST_AR_TOKENIZE (object);

  gst_ar_tokenize_release_model (self);
  g_clear_pointer (&self->device, ar_device_unref);
  g_free (self->model_path);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_ar_tokenize_class_init (GstArTokenizeClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  gobject_class->set_property = gst_ar_tokenize_set_property;
  gobject_class->get_property = gst_ar_tokenize_get_property;
  gobject_class->finalize = gst_ar_tokenize_finalize;

  /**
   * GstArTokenize:model:
   *
   * Path of the model card (.yaml) whose tokenizer encodes the frames. The same card may
   * serve artokenize, arpredict and ardetokenize: the model is loaded once per process.
   */
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model card",
          "Path of the model card (.yaml) whose tokenizer encodes the frames; loaded when the "
          "element starts (READY to PAUSED) and shared with other elements naming the same card",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Video world model tokenizer",
      "Filter/Converter/Video", "Encodes video frames into discrete tokens with a model's "
      "tokenizer on the GPU (Vulkan)", "arvideo developers");

  element_class->set_context = gst_ar_tokenize_set_context;
  element_class->change_state = gst_ar_tokenize_change_state;

  trans_class->passthrough_on_same_caps = FALSE;
  trans_class->start = gst_ar_tokenize_start;
  trans_class->stop = gst_ar_tokenize_stop;
  trans_class->transform_caps = gst_ar_tokenize_transform_caps;
  trans_class->set_caps = gst_ar_tokenize_set_caps;
  trans_class->sink_event = gst_ar_tokenize_sink_event;
  trans_class->transform_size = gst_ar_tokenize_transform_size;
  trans_class->transform = gst_ar_tokenize_transform;
  trans_class->query = gst_ar_tokenize_query;
}

static void
gst_ar_tokenize_init (GstArTokenize *self)
{
}

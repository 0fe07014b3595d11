/* See gstartokenizerbase.h. */
#include "gstartokenizerbase.h"
#include "ar-context.h"

GST_DEBUG_CATEGORY_STATIC (gst_ar_tokenizer_base_debug);
#define GST_CAT_DEFAULT gst_ar_tokenizer_base_debug

enum {
  PROP_0,
  PROP_MODEL,
};

typedef struct {
  gchar *model_path;          /* property; object lock */
  ArDevice *device;           /* object lock */
  ArTokenizer *tokenizer;     /* holds the model; object lock, see the header */
} GstArTokenizerBasePrivate;

#define gst_ar_tokenizer_base_parent_class parent_class
G_DEFINE_ABSTRACT_TYPE_WITH_CODE (GstArTokenizerBase, gst_ar_tokenizer_base,
    GST_TYPE_BASE_TRANSFORM, G_ADD_PRIVATE (GstArTokenizerBase)
    GST_DEBUG_CATEGORY_INIT (gst_ar_tokenizer_base_debug, "artokenizerbase", 0,
        "arvideo tokenizer elements"));

#define PRIV(base) ((GstArTokenizerBasePrivate *) \
    gst_ar_tokenizer_base_get_instance_private (GST_AR_TOKENIZER_BASE (base)))

ArTokenizer *
gst_ar_tokenizer_base_get_tokenizer (GstArTokenizerBase *base)
{
  return PRIV (base)->tokenizer;
}

static void
gst_ar_tokenizer_base_release_tokenizer (GstArTokenizerBase *base)
{
  ArTokenizer *tokenizer;

  GST_OBJECT_LOCK (base);
  tokenizer = g_steal_pointer (&PRIV (base)->tokenizer);
  GST_OBJECT_UNLOCK (base);
  g_clear_pointer (&tokenizer, ar_tokenizer_free);
}

/* READY to PAUSED: the device, the card (shared with other elements) and its tokenizer. */
static gboolean
gst_ar_tokenizer_base_start (GstBaseTransform *trans)
{
  GstArTokenizerBasePrivate *priv = PRIV (trans);
  GstElement *element = GST_ELEMENT (trans);
  GError *error = NULL;
  gchar *path;
  ArModel *model;
  ArTokenizer *tokenizer;

  if (!ar_device_ensure (element, &priv->device))
    return FALSE;
  GST_OBJECT_LOCK (trans);
  path = g_strdup (priv->model_path);
  GST_OBJECT_UNLOCK (trans);
  model = ar_element_open_model (element, priv->device, path);
  tokenizer = model ? ar_tokenizer_new (model, &error) : NULL;
  g_clear_pointer (&model, ar_model_unref);   /* the tokenizer holds it */
  if (!tokenizer) {
    if (error)
      GST_ELEMENT_ERROR (trans, RESOURCE, SETTINGS,
          ("Model \"%s\" has no usable tokenizer: %s", path, error->message), (NULL));
    g_clear_error (&error);
    g_free (path);
    return FALSE;
  }
  GST_INFO_OBJECT (trans, "tokenizer of %s: %ux%u frames <-> %ux%u tokens", path,
      ar_tokenizer_width (tokenizer), ar_tokenizer_height (tokenizer),
      ar_tokenizer_grid_width (tokenizer), ar_tokenizer_grid_height (tokenizer));
  g_free (path);
  GST_OBJECT_LOCK (trans);
  priv->tokenizer = tokenizer;
  GST_OBJECT_UNLOCK (trans);
  return TRUE;
}

static gboolean
gst_ar_tokenizer_base_stop (GstBaseTransform *trans)
{
  gst_ar_tokenizer_base_release_tokenizer (GST_AR_TOKENIZER_BASE (trans));
  return TRUE;
}

static gboolean
gst_ar_tokenizer_base_query (GstBaseTransform *trans, GstPadDirection direction,
    GstQuery *query)
{
  if (ar_device_handle_context_query (GST_ELEMENT (trans), query, &PRIV (trans)->device))
    return TRUE;
  return GST_BASE_TRANSFORM_CLASS (parent_class)->query (trans, direction, query);
}

static void
gst_ar_tokenizer_base_set_context (GstElement *element, GstContext *context)
{
  ar_device_handle_set_context (element, context, &PRIV (element)->device);
  GST_ELEMENT_CLASS (parent_class)->set_context (element, context);
}

static GstStateChangeReturn
gst_ar_tokenizer_base_change_state (GstElement *element, GstStateChange transition)
{
  GstStateChangeReturn ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);

  /* Back in NULL: a later start may pick up another device from a context. */
  if (transition == GST_STATE_CHANGE_READY_TO_NULL)
    ar_device_release (element, &PRIV (element)->device);
  return ret;
}

static void
gst_ar_tokenizer_base_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec)
{
  GstArTokenizerBasePrivate *priv = PRIV (object);

  switch (prop_id) {
    case PROP_MODEL:
      GST_OBJECT_LOCK (object);
      g_free (priv->model_path);
      priv->model_path = g_value_dup_string (value);
      GST_OBJECT_UNLOCK (object);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_ar_tokenizer_base_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstArTokenizerBasePrivate *priv = PRIV (object);

  switch (prop_id) {
    case PROP_MODEL:
      GST_OBJECT_LOCK (object);
      g_value_set_string (value, priv->model_path);
      GST_OBJECT_UNLOCK (object);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_ar_tokenizer_base_finalize (GObject *object)
{
  GstArTokenizerBasePrivate *priv = PRIV (object);

  gst_ar_tokenizer_base_release_tokenizer (GST_AR_TOKENIZER_BASE (object));
  g_clear_pointer (&priv->device, ar_device_unref);
  g_free (priv->model_path);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_ar_tokenizer_base_class_init (GstArTokenizerBaseClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  gobject_class->set_property = gst_ar_tokenizer_base_set_property;
  gobject_class->get_property = gst_ar_tokenizer_base_get_property;
  gobject_class->finalize = gst_ar_tokenizer_base_finalize;

  /**
   * GstArTokenizerBase:model:
   *
   * Path of the model card (.yaml) whose tokenizer the element runs. The same card may
   * serve artokenize, arpredict and ardetokenize: the model is loaded once per process.
   */
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model card",
          "Path of the model card (.yaml) whose tokenizer encodes (artokenize) or decodes "
          "(ardetokenize) the frames; loaded when the element starts (READY to PAUSED) and "
          "shared with the other elements naming the same card", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  element_class->set_context = GST_DEBUG_FUNCPTR (gst_ar_tokenizer_base_set_context);
  element_class->change_state = GST_DEBUG_FUNCPTR (gst_ar_tokenizer_base_change_state);

  trans_class->passthrough_on_same_caps = FALSE;
  trans_class->start = GST_DEBUG_FUNCPTR (gst_ar_tokenizer_base_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_ar_tokenizer_base_stop);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_ar_tokenizer_base_query);

  gst_type_mark_as_plugin_api (GST_TYPE_AR_TOKENIZER_BASE, 0);
}

static void
gst_ar_tokenizer_base_init (GstArTokenizerBase *base)
{
}

#include "ar-context.h"

GST_DEBUG_CATEGORY_STATIC (ar_context_debug);
#define GST_CAT_DEFAULT ar_context_debug

/* Lets gst-launch -v and debug logs print contexts holding a device. */
static void
device_to_string (const GValue *src, GValue *dest)
{
  ArDevice *device = g_value_get_boxed (src);
  g_value_take_string (dest, device ? ar_device_describe (device) : g_strdup ("(none)"));
}

/* By name, so that an application compiling this file (to hand the elements a device) and
 * the plugin share one type whichever registers it first. */
GType
ar_device_boxed_get_type (void)
{
  static gsize type = 0;

  if (g_once_init_enter (&type)) {
    GType t = g_type_from_name ("ArDevice");
    if (t == 0) {
      t = g_boxed_type_register_static ("ArDevice", (GBoxedCopyFunc) ar_device_ref,
          (GBoxedFreeFunc) ar_device_unref);
      g_value_register_transform_func (t, G_TYPE_STRING, device_to_string);
    }
    g_once_init_leave (&type, t);
  }
  return type;
}

static void
ensure_debug_category (void)
{
  static gsize done = 0;
  if (g_once_init_enter (&done)) {
    GST_DEBUG_CATEGORY_INIT (ar_context_debug, "arcontext", 0, "arvideo device sharing");
    g_once_init_leave (&done, 1);
  }
}

GstContext *
ar_device_context_new (ArDevice *device)
{
  GstContext *context = gst_context_new (AR_DEVICE_CONTEXT_TYPE, TRUE);
  GstStructure *s = gst_context_writable_structure (context);
  gst_structure_set (s, "device", AR_TYPE_DEVICE, device, NULL);
  return context;
}

ArDevice *
ar_device_context_get_device (GstContext *context)
{
  ArDevice *device = NULL;
  if (g_strcmp0 (gst_context_get_context_type (context), AR_DEVICE_CONTEXT_TYPE) != 0)
    return NULL;
  gst_structure_get (gst_context_get_structure (context), "device", AR_TYPE_DEVICE, &device,
      NULL);
  return device;
}

void
ar_device_handle_set_context (GstElement *element, GstContext *context, ArDevice **device)
{
  ArDevice *given;

  ensure_debug_category ();
  given = ar_device_context_get_device (context);
  if (!given)
    return;
  GST_OBJECT_LOCK (element);
  if (*device == NULL) {
    GST_CAT_DEBUG_OBJECT (ar_context_debug, element, "using device %p from a context", given);
    *device = given;
    given = NULL;
  } else if (*device != given) {
    /* Models and buffers already live on the current device: keep it. */
    GST_CAT_INFO_OBJECT (ar_context_debug, element,
        "ignoring a device context: a device is already in use");
  }
  GST_OBJECT_UNLOCK (element);
  if (given)
    ar_device_unref (given);
}

void
ar_device_release (GstElement *element, ArDevice **device)
{
  ArDevice *old;

  GST_OBJECT_LOCK (element);
  old = *device;
  *device = NULL;
  GST_OBJECT_UNLOCK (element);
  if (old)
    ar_device_unref (old);
}

gboolean
ar_device_handle_context_query (GstElement *element, GstQuery *query, ArDevice **device)
{
  const gchar *type;
  GstContext *context;
  ArDevice *current;

  if (GST_QUERY_TYPE (query) != GST_QUERY_CONTEXT)
    return FALSE;
  if (!gst_query_parse_context_type (query, &type)
      || g_strcmp0 (type, AR_DEVICE_CONTEXT_TYPE) != 0)
    return FALSE;
  GST_OBJECT_LOCK (element);
  current = *device ? ar_device_ref (*device) : NULL;
  GST_OBJECT_UNLOCK (element);
  if (!current)
    return FALSE;
  context = ar_device_context_new (current);
  ar_device_unref (current);
  gst_query_set_context (query, context);
  gst_context_unref (context);
  return TRUE;
}

/* Asks the peers of every pad in one direction; FALSE when none answered. */
static gboolean
query_peers (GstElement *element, GstQuery *query, GstPadDirection direction)
{
  gboolean answered = FALSE;
  GstIterator *it = direction == GST_PAD_SRC ? gst_element_iterate_src_pads (element)
                                             : gst_element_iterate_sink_pads (element);
  GValue item = G_VALUE_INIT;
  gboolean done = FALSE;

  while (!done && !answered) {
    switch (gst_iterator_next (it, &item)) {
      case GST_ITERATOR_OK:
        answered = gst_pad_peer_query (g_value_get_object (&item), query);
        g_value_reset (&item);
        break;
      case GST_ITERATOR_RESYNC:
        gst_iterator_resync (it);
        break;
      default:
        done = TRUE;
        break;
    }
  }
  g_value_unset (&item);
  gst_iterator_free (it);
  return answered;
}

/* Called with no lock held; set_context may run from here (neighbour answer or application
 * reply to NEED_CONTEXT, which a bus sync handler delivers synchronously). */
gboolean
ar_device_ensure (GstElement *element, ArDevice **device)
{
  GstQuery *query;
  GstContext *context = NULL;
  GError *error = NULL;
  ArDevice *found;

  ensure_debug_category ();
  GST_OBJECT_LOCK (element);
  found = *device;
  GST_OBJECT_UNLOCK (element);
  if (found)
    return TRUE;

  query = gst_query_new_context (AR_DEVICE_CONTEXT_TYPE);
  if (query_peers (element, query, GST_PAD_SRC) || query_peers (element, query, GST_PAD_SINK)) {
    gst_query_parse_context (query, &context);
    if (context) {
      GST_CAT_DEBUG_OBJECT (ar_context_debug, element, "a neighbour shared its device");
      gst_element_set_context (element, context);
    }
  }
  gst_query_unref (query);

  GST_OBJECT_LOCK (element);
  found = *device;
  GST_OBJECT_UNLOCK (element);
  if (!found) {
    gst_element_post_message (element,
        gst_message_new_need_context (GST_OBJECT_CAST (element), AR_DEVICE_CONTEXT_TYPE));
    GST_OBJECT_LOCK (element);
    found = *device;
    GST_OBJECT_UNLOCK (element);
  }
  if (found)
    return TRUE;

  found = ar_device_get_default (&error);
  if (!found) {
    GST_ELEMENT_ERROR (element, RESOURCE, FAILED, ("No Vulkan device: %s", error->message),
        ("ar_device_get_default failed (AR_VULKAN_DEVICE=%s)",
            GST_STR_NULL (g_getenv ("AR_VULKAN_DEVICE"))));
    g_clear_error (&error);
    return FALSE;
  }
  {
    gchar *desc = ar_device_describe (found);
    GST_CAT_INFO_OBJECT (ar_context_debug, element, "using the default device: %s", desc);
    g_free (desc);
  }
  GST_OBJECT_LOCK (element);
  if (*device == NULL) {
    *device = found;
    found = NULL;
  }
  GST_OBJECT_UNLOCK (element);
  if (found)
    ar_device_unref (found);

  /* Announce it so that the application and later elements share this device. */
  GST_OBJECT_LOCK (element);
  context = ar_device_context_new (*device);
  GST_OBJECT_UNLOCK (element);
  gst_element_post_message (element,
      gst_message_new_have_context (GST_OBJECT_CAST (element), context));
  return TRUE;
}

ArModel *
ar_element_open_model (GstElement *element, ArDevice *device, const gchar *card_path)
{
  GError *error = NULL;
  gchar *absolute;
  ArModel *model;

  if (card_path == NULL || *card_path == '\0') {
    GST_ELEMENT_ERROR (element, RESOURCE, NOT_FOUND,
        ("No model card set: set the \"model\" property to a model card (.yaml)"), (NULL));
    return NULL;
  }
  if (!g_file_test (card_path, G_FILE_TEST_IS_REGULAR)) {
    GST_ELEMENT_ERROR (element, RESOURCE, NOT_FOUND,
        ("Model card \"%s\" not found", card_path), (NULL));
    return NULL;
  }
  /* Absolute, because the loader resolves the weights relative to the card's directory and
   * (as of wip-loader 3decb14) mishandles a relative one. */
  absolute = g_canonicalize_filename (card_path, NULL);
  model = ar_model_get_shared (device, absolute, &error);
  g_free (absolute);
  if (!model) {
    GST_ELEMENT_ERROR (element, RESOURCE, READ,
        ("Could not load model \"%s\": %s", card_path, error->message), (NULL));
    g_clear_error (&error);
    return NULL;
  }
  return model;
}

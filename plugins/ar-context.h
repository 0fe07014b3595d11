/* Sharing one Vulkan device (and models) between the elements of a process.
 *
 * The device travels in a GstContext of type AR_DEVICE_CONTEXT_TYPE whose structure holds the
 * field "device" of type AR_TYPE_DEVICE (a boxed ArDevice reference). Elements find it the way
 * GStreamer's GPU elements do: a context query to their neighbours, then a NEED_CONTEXT message
 * to the application, and else they create (take) the process default device and announce it
 * with HAVE_CONTEXT. An application can also hand any element a device up front:
 *
 *   GstContext *ctx = ar_device_context_new (my_device);
 *   gst_element_set_context (pipeline, ctx);
 */
#pragma once
#include <gst/gst.h>
#include "ar-model.h"

G_BEGIN_DECLS

#define AR_DEVICE_CONTEXT_TYPE "ar.vulkan.device"

#define AR_TYPE_DEVICE (ar_device_boxed_get_type ())
GType ar_device_boxed_get_type (void);

/* A persistent context holding a reference on @device. */
GstContext *ar_device_context_new (ArDevice *device);
/* A new reference on the device a context holds, or NULL if it holds none. */
ArDevice *ar_device_context_get_device (GstContext *context);

/* @device is the element's device slot, guarded by the element's object lock: these helpers
 * take the lock themselves, so call them with it released. */

/* For the set_context vfunc: takes the device from a context of our type into *@device when
 * the element has none yet. */
void ar_device_handle_set_context (GstElement *element, GstContext *context, ArDevice **device);

/* For pad query functions: answers a context query of our type with *@device, if any. */
gboolean ar_device_handle_context_query (GstElement *element, GstQuery *query, ArDevice **device);

/* Drops the element's device (READY_TO_NULL), so a later start can pick up another. */
void ar_device_release (GstElement *element, ArDevice **device);

/* Makes sure *@device is set: neighbours, application, then the default device. Posts an
 * element error naming the cause and returns FALSE when there is no device. */
gboolean ar_device_ensure (GstElement *element, ArDevice **device);

/* Loads (or shares) the model card @card_path on @device; posts an element error naming the
 * cause and returns NULL on failure (no card set, missing file, malformed card or weights). */
ArModel *ar_element_open_model (GstElement *element, ArDevice *device, const gchar *card_path);

G_END_DECLS

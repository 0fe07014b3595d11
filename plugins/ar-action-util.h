/* Helpers for the ways actions reach an element, shared by the elements that take actions:
 * the "action" pad protocol (caps application/x-ar-action, one buffer of dim 32-bit values per
 * action, timed by running time), action strings ("0.5,-0.2") and the arrow-key map. */
#pragma once
#include <gst/gst.h>
#include "ar-action-meta.h"

G_BEGIN_DECLS

#define AR_ACTION_CAPS_ANY "application/x-ar-action, format = (string) { F32, S32 }, " \
  "dim = (int) [ 1, " G_STRINGIFY (AR_ACTION_META_MAX_DIM) " ]"

/* Parses "0.5,-0.2" or "3" into floats; NULL for an empty or malformed string (or one with more
 * than AR_ACTION_META_MAX_DIM values or non-finite ones). */
GArray *ar_action_parse_string (const gchar *text);

/* Reads the format and dim of fixed application/x-ar-action caps. */
gboolean ar_action_caps_parse (const GstCaps *caps, gboolean *is_float, guint *dim);

/* Reads one action buffer (@dim values, F32 or S32) into @values, or says why not. */
gboolean ar_action_buffer_read (GstBuffer *buffer, gboolean is_float, guint dim,
    gfloat *values, GError **error);

/* Actions that arrive on a pad, each applying from its running time on. Not thread safe:
 * callers hold their own lock. */
typedef struct {
  GQueue queue;
} ArActionQueue;

void ar_action_queue_init (ArActionQueue *q);
void ar_action_queue_clear (ArActionQueue *q);
void ar_action_queue_push (ArActionQueue *q, GstClockTime running_time, const gfloat *values,
    guint dim);
/* The latest action at or before @running_time (copied into @values, at most @max_dim values;
 * returns its dim), dropping the older ones; 0 when none applies yet. */
guint ar_action_queue_take (ArActionQueue *q, GstClockTime running_time, gfloat *values,
    guint max_dim);

/* What an element keeps of its "action" request pad's stream: the negotiated format and the
 * segment. Guarded by the element's own action lock. */
typedef struct {
  GstSegment segment;
  gboolean is_float;
  guint dim;                  /* 0 until caps are accepted */
} ArActionPadFormat;

/* Back to a TIME segment and no caps, for a new pad. */
void ar_action_pad_format_reset (ArActionPadFormat *format);
/* Keeps accepted caps' format and dim (@lock held while writing). */
void ar_action_pad_format_set (ArActionPadFormat *format, GMutex *lock, gboolean is_float,
    guint dim);

/* The "action" request pad of @element from @templ with @chain and @event, or NULL (with a
 * warning) when *@slot (read under the object lock) already holds one. Neither stored in
 * *@slot nor added: the caller resets its action state, stores it, then ar_action_pad_add(). */
GstPad *ar_action_pad_new (GstElement *element, GstPadTemplate *templ, GstPad *const *slot,
    GstPadChainFunction chain, GstPadEventFunction event);
/* Activates @pad as @element's state asks and adds it. */
void ar_action_pad_add (GstElement *element, GstPad *pad);
/* Deactivates and removes a released action pad. */
void ar_action_pad_remove (GstElement *element, GstPad *pad);

/* For an action pad's chain function: reads @buffer's values (the dim of @format, at most
 * AR_ACTION_META_MAX_DIM) and its running time in @format's segment (GST_CLOCK_TIME_NONE when
 * untimed), taking @lock to read @format. On failure (no caps yet, a buffer of the wrong size)
 * posts an error on @element and returns the flow for the chain function. @buffer stays the
 * caller's. */
GstFlowReturn ar_action_pad_read (GstElement *element, GMutex *lock,
    const ArActionPadFormat *format, GstBuffer *buffer, gfloat *values, guint *dim,
    GstClockTime *running_time);

/* The key of a navigation key press or release (@pressed tells which), or NULL for other
 * events. */
const gchar *ar_action_key_event (GstEvent *event, gboolean *pressed);

/* Arrow keys of navigation events as a direction in image coordinates (x right, y down, like
 * rows): Left (-1, 0), Right (1, 0), Up (0, -1), Down (0, 1). Returns the key's bit (for a
 * held-keys mask) or 0 for other keys. */
guint ar_action_arrow_key (const gchar *key);
/* The direction of a mask of held arrow keys (opposite keys cancel). */
void ar_action_arrow_keys_direction (guint held, gfloat direction[2]);

G_END_DECLS

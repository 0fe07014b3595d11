/* Public buffer metas of the arvideo plugin.
 *
 * ArActionMeta: the action taken at a frame. A source or application attaches it to the video
 * frames (or token buffers) it produces; artokenize passes it through and arpredict commits it
 * with the frame, unless an "action" pad is linked (which takes precedence).
 *
 * ArPredictionMeta: on every buffer arpredict outputs, which input frame it was predicted from
 * and how many steps ahead it is.
 *
 * Both are plain data without pointers. An application may compile ar-action-meta.c into itself
 * to attach or read them: registration is by name, so whichever copy registers first serves
 * both, and the layouts are the same. */
#pragma once
#include <gst/gst.h>

G_BEGIN_DECLS

#define AR_ACTION_META_MAX_DIM 64

typedef struct {
  GstMeta meta;
  gboolean discrete;
  guint index;                              /* discrete: the action index */
  guint dim;                                /* continuous: number of values */
  gfloat values[AR_ACTION_META_MAX_DIM];    /* continuous: the action vector */
} ArActionMeta;

GType ar_action_meta_api_get_type (void);
#define AR_ACTION_META_API_TYPE (ar_action_meta_api_get_type ())
const GstMetaInfo *ar_action_meta_get_info (void);
#define AR_ACTION_META_INFO (ar_action_meta_get_info ())

#define ar_buffer_get_action_meta(buf) \
  ((ArActionMeta *) gst_buffer_get_meta ((buf), AR_ACTION_META_API_TYPE))

ArActionMeta *ar_buffer_add_action_meta_discrete (GstBuffer *buffer, guint index);
/* Returns NULL (and adds nothing) when @dim is 0 or above AR_ACTION_META_MAX_DIM. */
ArActionMeta *ar_buffer_add_action_meta_continuous (GstBuffer *buffer, const gfloat *values,
    guint dim);

typedef struct {
  GstMeta meta;
  GstClockTime source_pts;   /* PTS of the input frame the prediction followed */
  guint64 source_offset;     /* its offset (GST_BUFFER_OFFSET_NONE when it had none) */
  guint step;                /* 1 = the next frame, k = k frames ahead */
  gboolean dreamed;          /* rolled out on predictions, not on the input frame */
} ArPredictionMeta;

GType ar_prediction_meta_api_get_type (void);
#define AR_PREDICTION_META_API_TYPE (ar_prediction_meta_api_get_type ())
const GstMetaInfo *ar_prediction_meta_get_info (void);

#define ar_buffer_get_prediction_meta(buf) \
  ((ArPredictionMeta *) gst_buffer_get_meta ((buf), AR_PREDICTION_META_API_TYPE))

ArPredictionMeta *ar_buffer_add_prediction_meta (GstBuffer *buffer, GstClockTime source_pts,
    guint64 source_offset, guint step, gboolean dreamed);

G_END_DECLS

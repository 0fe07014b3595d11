#pragma once
#include <gst/gst.h>
#include "ar-predictor.h"
#include "ar-token-caps.h"
#include "ar-action-util.h"

G_BEGIN_DECLS

typedef enum {
  GST_AR_PREDICT_TIMESTAMP_INPUT,    /* predictions carry the PTS of the frame they followed */
  GST_AR_PREDICT_TIMESTAMP_TARGET,   /* PTS + k * duration: the time they predict */
} GstArPredictTimestampMode;

#define GST_TYPE_AR_PREDICT_TIMESTAMP_MODE (gst_ar_predict_timestamp_mode_get_type ())
GType gst_ar_predict_timestamp_mode_get_type (void);

/* Which frames a prediction sees once the window is full (ArContextPolicy). */
typedef enum {
  GST_AR_PREDICT_CONTEXT_SLIDE = AR_CONTEXT_SLIDE,
  GST_AR_PREDICT_CONTEXT_REFRESH = AR_CONTEXT_REFRESH,
} GstArPredictContextPolicy;

#define GST_TYPE_AR_PREDICT_CONTEXT_POLICY (gst_ar_predict_context_policy_get_type ())
GType gst_ar_predict_context_policy_get_type (void);

/* An action in the element's own form, whichever source it came from. */
typedef struct {
  gboolean discrete;
  guint index;
  guint dim;
  gfloat values[AR_ACTION_META_MAX_DIM];
} GstArPredictAction;

/* A navigation key and the action it takes while held. */
typedef struct {
  gchar *name;
  GstArPredictAction action;
} GstArPredictKey;

#define GST_TYPE_AR_PREDICT (gst_ar_predict_get_type ())
G_DECLARE_FINAL_TYPE (GstArPredict, gst_ar_predict, GST, AR_PREDICT, GstElement)

struct _GstArPredict {
  GstElement parent;

  GstPad *sinkpad, *srcpad;
  GstPad *actionpad;                  /* request pad, or NULL; object lock */

  /* Properties; object lock. */
  gchar *model_path;
  guint context_frames;
  guint horizon;
  gfloat temperature;
  guint top_k;
  gfloat top_p;
  guint64 seed;
  gboolean greedy;
  gchar *action_string;
  GArray *property_action;            /* floats parsed from action_string, or NULL */
  GstArPredictTimestampMode timestamp_mode;
  gboolean dream;
  gboolean post_metrics;
  guint action_timeout;               /* ms */
  gboolean prefill_ahead;
  GstArPredictContextPolicy context_policy;

  /* The model, from READY to PAUSED until PAUSED to READY. */
  ArDevice *device;                   /* object lock */
  ArModel *model;
  ArPredictor *predictor;
  gchar *fingerprint;                 /* of the card's tokenizer; NULL for predictor-only cards */
  ArTokenFormat token_format;
  guint n_tokens;

  /* Streaming state; stream lock of the sink pad. */
  GstSegment segment;
  GstCaps *token_caps;
  guint64 sample_counter;
  guint32 *prediction;                /* horizon * n_tokens of the latest generation */
  guint prediction_capacity;          /* frames it can hold */
  gboolean have_prediction;           /* prediction[0..n_tokens) is the next frame's guess */
  gboolean discont;
  GstClockTime processing_latency;    /* worst generation time seen; object lock */
  GstClockTime reported_latency;      /* object lock */

  /* Action pad state; action_lock. action_cond is signalled when an action arrives or a
   * wait for one must end (EOS, flush, unlink, release, stop). */
  GMutex action_lock;
  GCond action_cond;
  ArActionQueue timed_actions;        /* validated against the model; never untimed */
  ArActionPadFormat action_format;
  GstClockTime last_frame_running_time;
  GstClockTime latest_action_running_time;   /* of the newest action received, or NONE */
  gboolean action_linked;
  gboolean action_eos;
  gboolean action_flushing;
  gboolean sink_flushing;             /* also set while stopping */

  /* Keyboard; object lock. */
  GArray *key_map;                    /* GstArPredictKey: the card's keys, or the arrows */
  gint held_key;                      /* index in key_map, or -1 */

  /* QoS; object lock. */
  GstClockTime earliest_time;
  guint64 processed, dropped;
};

GST_ELEMENT_REGISTER_DECLARE (arpredict);

G_END_DECLS

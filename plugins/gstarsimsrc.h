#pragma once
#include <gst/base/gstpushsrc.h>
#include <gst/video/video.h>
#include "ar-action-util.h"
#include "ar-sim.h"

G_BEGIN_DECLS

typedef enum {
  GST_AR_SIM_SRC_POLICY_RANDOM,
  GST_AR_SIM_SRC_POLICY_SCRIPTED,
  GST_AR_SIM_SRC_POLICY_NONE,
} GstArSimSrcPolicy;

GType gst_ar_sim_src_policy_get_type (void);
#define GST_TYPE_AR_SIM_SRC_POLICY (gst_ar_sim_src_policy_get_type ())

#define GST_TYPE_AR_SIM_SRC (gst_ar_sim_src_get_type ())
G_DECLARE_FINAL_TYPE (GstArSimSrc, gst_ar_sim_src, GST, AR_SIM_SRC, GstPushSrc)

struct _GstArSimSrc {
  GstPushSrc parent;

  /* properties; object lock */
  guint64 seed;
  guint distractors;
  GstArSimSrcPolicy policy;
  gchar *action_string;
  GArray *property_action;    /* parsed action_string (2 floats) or NULL */

  /* streaming thread */
  ArSim *sim;
  GstVideoInfo info;
  guint64 n_frames;

  /* action_lock: inputs from other threads */
  GMutex action_lock;
  guint held_keys;            /* ar_action_arrow_key bits */
  GstPad *actionpad;          /* also object lock */
  ArActionPadFormat action_format;
  ArActionQueue pad_actions;
};

GST_ELEMENT_REGISTER_DECLARE (arsimsrc);

G_END_DECLS

#pragma once
#include <gst/base/gstbasesink.h>
#include <gst/video/video.h>
#include "ar-episode.h"

G_BEGIN_DECLS

#define GST_TYPE_AR_RECORD (gst_ar_record_get_type ())
G_DECLARE_FINAL_TYPE (GstArRecord, gst_ar_record, GST, AR_RECORD, GstBaseSink)

struct _GstArRecord {
  GstBaseSink parent;

  /* properties; object lock */
  gchar *location;
  guint max_frames;
  gint action_dim;              /* -1: from the first frame's meta */
  GstStructure *metadata;

  /* streaming thread */
  GstVideoInfo info;
  ArEpisodeWriter *writer;      /* the episode being recorded, NULL between episodes */
  guint writer_action_dim;      /* 0: discrete */
  gboolean warned_action;
  guint episode;                /* index of the next file */
  gchar *first_path;            /* the first file written, to catch a location without %d */
};

GST_ELEMENT_REGISTER_DECLARE (arrecord);

G_END_DECLS

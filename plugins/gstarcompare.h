#pragma once
#include <gst/base/gstaggregator.h>
#include <gst/video/video.h>
#include <stdio.h>

G_BEGIN_DECLS

#define GST_TYPE_AR_COMPARE (gst_ar_compare_get_type ())
G_DECLARE_FINAL_TYPE (GstArCompare, gst_ar_compare, GST, AR_COMPARE, GstAggregator)

struct _GstArCompare {
  GstAggregator parent;

  GstAggregatorPad *pred_pad, *real_pad;

  /* properties; object lock */
  gchar *location;

  /* aggregate thread (sink events are handled there too) */
  GstVideoInfo pred_info, real_info;   /* format UNKNOWN until caps */
  GstVideoInfo out_info;
  FILE *csv;
  guint64 frames;
  double sum_psnr, sum_ssim;
  guint8 *pred_rgb, *real_rgb;          /* packed RGB of the current pair */
};

GST_ELEMENT_REGISTER_DECLARE (arcompare);

G_END_DECLS

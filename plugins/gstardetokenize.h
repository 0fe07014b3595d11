#pragma once
#include <gst/video/video.h>
#include "gstartokenizerbase.h"

G_BEGIN_DECLS

#define GST_TYPE_AR_DETOKENIZE (gst_ar_detokenize_get_type ())
G_DECLARE_FINAL_TYPE (GstArDetokenize, gst_ar_detokenize, GST, AR_DETOKENIZE,
    GstArTokenizerBase)

struct _GstArDetokenize {
  GstArTokenizerBase parent;

  GstVideoInfo out_info;
  ArPixelFormat pixel_format;
};

GST_ELEMENT_REGISTER_DECLARE (ardetokenize);

G_END_DECLS

#pragma once
#include <gst/video/video.h>
#include "gstartokenizerbase.h"

G_BEGIN_DECLS

#define GST_TYPE_AR_TOKENIZE (gst_ar_tokenize_get_type ())
G_DECLARE_FINAL_TYPE (GstArTokenize, gst_ar_tokenize, GST, AR_TOKENIZE,
    GstArTokenizerBase)

struct _GstArTokenize {
  GstArTokenizerBase parent;

  GstVideoInfo in_info;
  ArPixelFormat pixel_format;
};

GST_ELEMENT_REGISTER_DECLARE (artokenize);

G_END_DECLS

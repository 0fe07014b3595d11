#pragma once
#include <gst/base/gstbasetransform.h>
#include <gst/video/video.h>
#include "ar-tokenizer.h"

G_BEGIN_DECLS

#define GST_TYPE_AR_DETOKENIZE (gst_ar_detokenize_get_type ())
G_DECLARE_FINAL_TYPE (GstArDetokenize, gst_ar_detokenize, GST, AR_DETOKENIZE, GstBaseTransform)

struct _GstArDetokenize {
  GstBaseTransform parent;

  gchar *model_path;          /* property; object lock */
  ArDevice *device;           /* object lock */
  ArModel *model;
  ArTokenizer *tokenizer;     /* object lock for readers outside the streaming thread */
  GstVideoInfo out_info;
  ArPixelFormat pixel_format;
};

GST_ELEMENT_REGISTER_DECLARE (ardetokenize);

G_END_DECLS

#pragma once
#include <gst/base/gstbasetransform.h>
#include <gst/video/video.h>
#include "ar-tokenizer.h"

G_BEGIN_DECLS

#define GST_TYPE_AR_TOKENIZE (gst_ar_tokenize_get_type ())
G_DECLARE_FINAL_TYPE (GstArTokenize, gst_ar_tokenize, GST, AR_TOKENIZE, GstBaseTransform)

struct _GstArTokenize {
  GstBaseTransform parent;

  gchar *model_path;          /* property; object lock */
  ArDevice *device;           /* object lock */
  ArModel *model;
  ArTokenizer *tokenizer;     /* object lock for readers outside the streaming thread */
  GstVideoInfo in_info;
  ArPixelFormat pixel_format;
};

GST_ELEMENT_REGISTER_DECLARE (artokenize);

G_END_DECLS

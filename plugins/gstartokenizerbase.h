/* GstArTokenizerBase: the abstract base of artokenize and ardetokenize, the two elements that
 * run a model card's tokenizer. It owns what they share: the "model" property, the device
 * (found and shared through ar-context), the tokenizer built when the element starts and freed
 * when it stops, and the context query, set_context and state change handling. Subclasses
 * implement the conversion (caps, sizes, transform). */
#pragma once
#include <gst/base/gstbasetransform.h>
#include "ar-tokenizer.h"

G_BEGIN_DECLS

#define GST_TYPE_AR_TOKENIZER_BASE (gst_ar_tokenizer_base_get_type ())
G_DECLARE_DERIVABLE_TYPE (GstArTokenizerBase, gst_ar_tokenizer_base, GST, AR_TOKENIZER_BASE,
    GstBaseTransform)

struct _GstArTokenizerBaseClass {
  GstBaseTransformClass parent_class;
};

/* Subclasses read the tokenizer in the streaming thread as is (it is set before the pads are
 * activated and cleared after they are deactivated) and elsewhere under the object lock. */
ArTokenizer *gst_ar_tokenizer_base_get_tokenizer (GstArTokenizerBase *base);

G_END_DECLS

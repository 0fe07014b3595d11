/* The arvideo plugin: live autoregressive video world models on a Vulkan compute runtime. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include <gst/gst.h>
#include "gstartokenize.h"
#include "gstardetokenize.h"
#include "gstarpredict.h"
#include "gstarsimsrc.h"
#include "gstarrecord.h"
#include "gstarcompare.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  gboolean registered = FALSE;

  registered |= GST_ELEMENT_REGISTER (artokenize, plugin);
  registered |= GST_ELEMENT_REGISTER (ardetokenize, plugin);
  registered |= GST_ELEMENT_REGISTER (arpredict, plugin);
  registered |= GST_ELEMENT_REGISTER (arsimsrc, plugin);
  registered |= GST_ELEMENT_REGISTER (arrecord, plugin);
  registered |= GST_ELEMENT_REGISTER (arcompare, plugin);
  return registered;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, arvideo,
    "Autoregressive video world models (tokenize, predict, detokenize) on Vulkan",
    plugin_init, PACKAGE_VERSION, "LGPL", PACKAGE_NAME, PACKAGE_ORIGIN)

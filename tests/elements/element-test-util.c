#include "element-test-util.h"
#include <string.h>

GstElement *
make_element (const gchar *factory, const gchar *first_property, ...)
{
  GstElement *element = gst_element_factory_make (factory, NULL);
  va_list args;

  fail_unless (element != NULL, "no element %s: is GST_PLUGIN_PATH set?", factory);
  gst_object_ref_sink (element);
  if (first_property) {
    va_start (args, first_property);
    g_object_set_valist (G_OBJECT (element), first_property, args);
    va_end (args);
  }
  return element;
}

GstBus *
attach_bus (GstElement *element)
{
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (element, bus);
  return bus;
}

void
release_bus (GstBus *bus)
{
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
}

gboolean
buffers_equal (GstBuffer *a, GstBuffer *b)
{
  GstMapInfo ma, mb;
  gboolean equal;

  fail_unless (gst_buffer_map (a, &ma, GST_MAP_READ));
  fail_unless (gst_buffer_map (b, &mb, GST_MAP_READ));
  equal = ma.size == mb.size && memcmp (ma.data, mb.data, ma.size) == 0;
  gst_buffer_unmap (a, &ma);
  gst_buffer_unmap (b, &mb);
  return equal;
}

int
run_suite (Suite *suite)
{
  SRunner *runner = srunner_create (suite);
  int failed;

  srunner_run_all (runner, CK_NORMAL);
  failed = srunner_ntests_failed (runner);
  g_print ("%d passed, %d failed\n", srunner_ntests_run (runner) - failed, failed);
  srunner_free (runner);
  return failed == 0 ? 0 : 1;
}

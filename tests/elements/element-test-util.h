/* Helpers shared by the GstHarness test programs of the elements (test-elements.c,
 * test-sim.c). */
#pragma once
#include <gst/check/gstcheck.h>

G_BEGIN_DECLS

/* A new @factory element (a reference the caller owns, not floating) with the properties
 * given as name/value pairs ending in NULL; fails the test when the plugin is not found. */
GstElement *make_element (const gchar *factory, const gchar *first_property, ...);

/* Gives the element a bus so that its error messages can be checked. */
GstBus *attach_bus (GstElement *element);
/* Drops pending messages (they reference the element, which references the bus). */
void release_bus (GstBus *bus);

/* Whether two buffers hold the same bytes. */
gboolean buffers_equal (GstBuffer *a, GstBuffer *b);

/* Runs @suite (call gst_check_init first), prints the counts and returns main's exit status. */
int run_suite (Suite *suite);

G_END_DECLS

/* End-to-end: videotestsrc ! videoconvert ! videoscale ! artokenize ! arpredict !
 * ardetokenize ! videoconvert ! fakesink runs to EOS with one prediction per input frame
 * (and horizon per frame with horizon > 1). */
#include <gst/gst.h>

#define TINY_GPT FIXTURES_DIR "/tiny-gpt.yaml"

static void
count_buffer (GstElement *sink, GstBuffer *buffer, GstPad *pad, gpointer counter)
{
  (*(guint *) counter)++;
}

/* Returns TRUE when the pipeline reached EOS with @expected buffers at the sink. */
static gboolean
run_pipeline (guint num_buffers, guint horizon, guint expected)
{
  gchar *description = g_strdup_printf ("videotestsrc num-buffers=%u ! videoconvert ! "
      "videoscale ! artokenize model=%s ! arpredict model=%s horizon=%u ! "
      "ardetokenize model=%s ! videoconvert ! fakesink name=sink signal-handoffs=true",
      num_buffers, TINY_GPT, TINY_GPT, horizon, TINY_GPT);
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (description, &error);
  GstElement *sink;
  GstMessage *msg;
  guint count = 0;
  gboolean ok;

  g_free (description);
  if (!pipeline) {
    g_printerr ("parse error: %s\n", error->message);
    g_clear_error (&error);
    return FALSE;
  }
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  g_signal_connect (sink, "handoff", G_CALLBACK (count_buffer), &count);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (pipeline), 60 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  ok = msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS && count == expected;
  if (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    gst_message_parse_error (msg, &error, NULL);
    g_printerr ("error: %s\n", error->message);
    g_clear_error (&error);
  }
  g_print ("%s: %u frames, horizon %u: %u buffers (expected %u)\n", ok ? "ok" : "FAIL",
      num_buffers, horizon, count, expected);
  gst_clear_message (&msg);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  return ok;
}

int
main (int argc, char **argv)
{
  guint passed = 0, failed = 0;

  gst_init (&argc, &argv);
  run_pipeline (20, 1, 20) ? passed++ : failed++;
  run_pipeline (7, 3, 21) ? passed++ : failed++;
  g_print ("%u passed, %u failed\n", passed, failed);
  gst_deinit ();
  return failed ? 1 : 0;
}

/* A robot control loop around a world model: the application feeds camera frames and the
 * actions it takes through two appsrcs, and reads back the model's predicted next frame from
 * an appsink, one per frame.
 *
 *   robot_loop MODEL.yaml [STEPS]
 *
 * prints a line per step ("step   0 action 0: predicted 16x16 frame at 0:00:00.000000000,
 * mean 125.0") and "done: STEPS steps, N predictions"; the exit status is 0 when every step
 * got its prediction and the pipeline ended without error.
 *
 * The model must have discrete actions (as tests/fixtures/tiny/tiny-gpt.yaml); frames here
 * are synthetic (a square moving with the action) at the model's resolution, which artokenize
 * announces in its caps, so videoscale adapts whatever size the camera has. */
#include <gst/gst.h>
#include <gst/app/app.h>
#include <string.h>

#define WIDTH 64
#define HEIGHT 64
#define FPS 10

static GstBuffer *
camera_frame (guint step, gint x, gint y)
{
  GstBuffer *buffer = gst_buffer_new_allocate (NULL, WIDTH * HEIGHT * 3, NULL);
  GstMapInfo map;
  gint i, j;

  gst_buffer_map (buffer, &map, GST_MAP_WRITE);
  memset (map.data, 32, map.size);
  for (j = y; j < y + 16 && j < HEIGHT; j++)
    for (i = x; i < x + 16 && i < WIDTH; i++)
      memset (map.data + (j * WIDTH + i) * 3, 220, 3);
  gst_buffer_unmap (buffer, &map);
  GST_BUFFER_PTS (buffer) = gst_util_uint64_scale_int (step, GST_SECOND, FPS);
  GST_BUFFER_DURATION (buffer) = GST_SECOND / FPS;
  return buffer;
}

static GstBuffer *
action_buffer (guint step, gint32 action)
{
  GstBuffer *buffer = gst_buffer_new_allocate (NULL, sizeof (action), NULL);
  gst_buffer_fill (buffer, 0, &action, sizeof (action));
  /* The action taken at this frame: same timestamp as the frame. */
  GST_BUFFER_PTS (buffer) = gst_util_uint64_scale_int (step, GST_SECOND, FPS);
  return buffer;
}

int
main (int argc, char **argv)
{
  GError *error = NULL;
  GstElement *pipeline, *frames, *actions, *predictions;
  gchar *description;
  guint steps, step, n_predictions = 0;
  gint x = 24, y = 24;
  int status = 0;

  gst_init (&argc, &argv);
  if (argc < 2) {
    g_printerr ("usage: %s MODEL.yaml [STEPS]\n", argv[0]);
    return 2;
  }
  steps = argc > 2 ? (guint) g_ascii_strtoull (argv[2], NULL, 10) : 20;

  description = g_strdup_printf (
      "appsrc name=frames format=time caps=video/x-raw,format=RGB,width=%d,height=%d,"
      "framerate=%d/1 ! videoconvert ! videoscale ! artokenize model=\"%s\" "
      "! arpredict name=predict model=\"%s\" greedy=true "
      "! ardetokenize model=\"%s\" ! video/x-raw,format=RGB "
      "! appsink name=predictions sync=false "
      "appsrc name=actions format=time caps=application/x-ar-action,format=S32,dim=1 "
      "! predict.action", WIDTH, HEIGHT, FPS, argv[1], argv[1], argv[1]);
  pipeline = gst_parse_launch (description, &error);
  g_free (description);
  if (!pipeline) {
    g_printerr ("could not build the pipeline: %s\n", error->message);
    g_clear_error (&error);
    return 1;
  }
  frames = gst_bin_get_by_name (GST_BIN (pipeline), "frames");
  actions = gst_bin_get_by_name (GST_BIN (pipeline), "actions");
  predictions = gst_bin_get_by_name (GST_BIN (pipeline), "predictions");
  gst_element_set_state (pipeline, GST_STATE_PLAYING);

  for (step = 0; step < steps; step++) {
    /* A trivial policy: walk around the square's path, one action per frame. */
    gint32 action = (step / 5) % 4;
    GstSample *sample;

    gst_app_src_push_buffer (GST_APP_SRC (actions), action_buffer (step, action));
    gst_app_src_push_buffer (GST_APP_SRC (frames), camera_frame (step, x, y));
    x = CLAMP (x + (action == 1) * 4 - (action == 0) * 4, 0, WIDTH - 16);
    y = CLAMP (y + (action == 3) * 4 - (action == 2) * 4, 0, HEIGHT - 16);

    sample = gst_app_sink_try_pull_sample (GST_APP_SINK (predictions), 10 * GST_SECOND);
    if (!sample) {
      g_printerr ("no prediction for step %u\n", step);
      status = 1;
      break;
    }
    {
      GstBuffer *buffer = gst_sample_get_buffer (sample);
      const GstStructure *s = gst_caps_get_structure (gst_sample_get_caps (sample), 0);
      gint width = 0, height = 0;
      GstMapInfo map;
      guint64 sum = 0;
      gsize i;
      gst_structure_get_int (s, "width", &width);
      gst_structure_get_int (s, "height", &height);
      gst_buffer_map (buffer, &map, GST_MAP_READ);
      for (i = 0; i < map.size; i++)
        sum += map.data[i];
      gst_buffer_unmap (buffer, &map);
      g_print ("step %3u action %d: predicted %dx%d frame at %" GST_TIME_FORMAT ", mean %.1f\n",
          step, action, width, height, GST_TIME_ARGS (GST_BUFFER_PTS (buffer)),
          map.size ? (double) sum / map.size : 0.0);
      n_predictions++;
    }
    gst_sample_unref (sample);
  }

  gst_app_src_end_of_stream (GST_APP_SRC (frames));
  gst_app_src_end_of_stream (GST_APP_SRC (actions));
  {
    GstMessage *msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (pipeline), 10 * GST_SECOND,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
    if (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      gst_message_parse_error (msg, &error, NULL);
      g_printerr ("error: %s\n", error->message);
      g_clear_error (&error);
      status = 1;
    }
    gst_clear_message (&msg);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_print ("done: %u steps, %u predictions\n", steps, n_predictions);
  gst_object_unref (frames);
  gst_object_unref (actions);
  gst_object_unref (predictions);
  gst_object_unref (pipeline);
  return status;
}

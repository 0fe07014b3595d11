/**
 * SECTION:element-arcompare
 * @title: arcompare
 * @see_also: arpredict, arsimsrc
 *
 * Compares predicted frames with the real ones: two video sinks, "sink_pred" and "sink_real",
 * whose frames are paired by running time (within half a frame; a frame without a partner is
 * dropped, e.g. the first real frame, which nothing predicted). For each pair it
 *
 * - posts an element message "arcompare" with the fields pts (guint64, the real frame's
 *   PTS), psnr and ssim (gdouble), frames (guint64, pairs so far), mean-psnr and mean-ssim
 *   (gdouble, running means);
 * - appends "pts,psnr,ssim" to the CSV file #GstArCompare:location, when set;
 * - pushes the two frames side by side (real left, predicted right) as RGB on its src pad.
 *
 * PSNR is over the RGB values (10 log10 (255^2 / MSE)), capped at 100 dB for identical
 * frames so that means stay finite. SSIM is the mean SSIM (Wang et al. 2004) of the luma
 * (BT.601 weights): 11x11 Gaussian window, sigma 1.5, valid region, standard constants.
 * Both inputs must have the same size (the sink caps ask for it once one side is known).
 *
 * For arpredict's output use timestamp-mode=target, so that a prediction carries the time of
 * the frame it predicts.
 *
 * Navigation events from downstream (a video sink's window showing the side-by-side frames)
 * travel upstream: key events to both inputs, so that the arrow keys reach e.g. arsimsrc
 * through a tee; pointer events to the input whose half the pointer is over, in that input's
 * coordinates.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -m arsimsrc num-buffers=60 ! tee name=t \
 *     t. ! queue ! arcompare name=c location=metrics.csv ! videoconvert ! autovideosink \
 *     t. ! queue ! artokenize model=m.yaml ! arpredict model=m.yaml timestamp-mode=target ! \
 *         ardetokenize model=m.yaml ! c.sink_pred
 * ]| Live PSNR and SSIM of one-step predictions, shown beside reality.
 */
#include "gstarcompare.h"
#include "ar-metrics.h"
#include <gst/video/navigation.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_ar_compare_debug);
#define GST_CAT_DEFAULT gst_ar_compare_debug

enum {
  PROP_0,
  PROP_LOCATION,
};

#define SINK_CAPS GST_VIDEO_CAPS_MAKE ("{ RGB, RGBx, BGRx, RGBA, GRAY8 }")

static GstStaticPadTemplate pred_template = GST_STATIC_PAD_TEMPLATE ("sink_pred",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (SINK_CAPS));
static GstStaticPadTemplate real_template = GST_STATIC_PAD_TEMPLATE ("sink_real",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (SINK_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE ("RGB")));

#define gst_ar_compare_parent_class parent_class
G_DEFINE_TYPE (GstArCompare, gst_ar_compare, GST_TYPE_AGGREGATOR);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (arcompare, "arcompare", GST_RANK_NONE,
    GST_TYPE_AR_COMPARE,
    GST_DEBUG_CATEGORY_INIT (gst_ar_compare_debug, "arcompare", 0,
        "arvideo prediction metrics"));

/* ---- frames ----------------------------------------------------------------------------- */

/* Packs a mapped frame of any sink format into RGB (gray replicated). */
static void
frame_to_rgb (const GstVideoFrame *frame, guint8 *rgb)
{
  guint width = GST_VIDEO_FRAME_WIDTH (frame), height = GST_VIDEO_FRAME_HEIGHT (frame);
  gint stride = GST_VIDEO_FRAME_PLANE_STRIDE (frame, 0);
  const guint8 *data = GST_VIDEO_FRAME_PLANE_DATA (frame, 0);
  GstVideoFormat format = GST_VIDEO_FRAME_FORMAT (frame);
  guint pstride = GST_VIDEO_FRAME_COMP_PSTRIDE (frame, 0);
  guint x, y;

  for (y = 0; y < height; y++) {
    const guint8 *row = data + (gsize) y * stride;
    guint8 *out = rgb + (gsize) y * width * 3;
    for (x = 0; x < width; x++) {
      const guint8 *px = row + (gsize) x * pstride;
      if (format == GST_VIDEO_FORMAT_GRAY8) {
        out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = px[0];
      } else if (format == GST_VIDEO_FORMAT_BGRx) {
        out[3 * x] = px[2];
        out[3 * x + 1] = px[1];
        out[3 * x + 2] = px[0];
      } else {
        out[3 * x] = px[0];
        out[3 * x + 1] = px[1];
        out[3 * x + 2] = px[2];
      }
    }
  }
}

static gboolean
info_known (const GstVideoInfo *info)
{
  return GST_VIDEO_INFO_FORMAT (info) != GST_VIDEO_FORMAT_UNKNOWN;
}

/* The output caps for the current inputs: side by side, the real stream's rate. */
static GstCaps *
gst_ar_compare_output_caps (GstArCompare *self)
{
  return gst_caps_new_simple ("video/x-raw",
      "format", G_TYPE_STRING, "RGB",
      "width", G_TYPE_INT, 2 * GST_VIDEO_INFO_WIDTH (&self->real_info),
      "height", G_TYPE_INT, GST_VIDEO_INFO_HEIGHT (&self->real_info),
      "framerate", GST_TYPE_FRACTION, GST_VIDEO_INFO_FPS_N (&self->real_info),
      GST_VIDEO_INFO_FPS_D (&self->real_info),
      "pixel-aspect-ratio", GST_TYPE_FRACTION, GST_VIDEO_INFO_PAR_N (&self->real_info),
      GST_VIDEO_INFO_PAR_D (&self->real_info), NULL);
}

/* ---- aggregator ------------------------------------------------------------------------- */

static gboolean
gst_ar_compare_sink_event (GstAggregator *agg, GstAggregatorPad *pad, GstEvent *event)
{
  GstArCompare *self = GST_AR_COMPARE (agg);

  if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS) {
    GstCaps *caps;
    GstVideoInfo info;
    gboolean is_pred = pad == self->pred_pad;
    const GstVideoInfo *other = is_pred ? &self->real_info : &self->pred_info;

    gst_event_parse_caps (event, &caps);
    if (!gst_video_info_from_caps (&info, caps)) {
      gst_event_unref (event);
      return FALSE;
    }
    if (info_known (other) && (GST_VIDEO_INFO_WIDTH (other) != GST_VIDEO_INFO_WIDTH (&info)
            || GST_VIDEO_INFO_HEIGHT (other) != GST_VIDEO_INFO_HEIGHT (&info))) {
      const GstVideoInfo *pred = is_pred ? &info : other, *real = is_pred ? other : &info;
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
          ("Predicted frames are %dx%d but real frames are %dx%d: scale one side "
              "(e.g. videoscale) so that both have the same size",
              GST_VIDEO_INFO_WIDTH (pred), GST_VIDEO_INFO_HEIGHT (pred),
              GST_VIDEO_INFO_WIDTH (real), GST_VIDEO_INFO_HEIGHT (real)), (NULL));
      gst_event_unref (event);
      return FALSE;
    }
    if (is_pred)
      self->pred_info = info;
    else
      self->real_info = info;
    GST_DEBUG_OBJECT (self, "%s caps %" GST_PTR_FORMAT, is_pred ? "predicted" : "real", caps);
    gst_pad_mark_reconfigure (GST_AGGREGATOR_SRC_PAD (agg));
    gst_event_unref (event);
    return TRUE;
  }
  return GST_AGGREGATOR_CLASS (parent_class)->sink_event (agg, pad, event);
}

static gboolean
gst_ar_compare_sink_query (GstAggregator *agg, GstAggregatorPad *pad, GstQuery *query)
{
  GstArCompare *self = GST_AR_COMPARE (agg);

  if (GST_QUERY_TYPE (query) == GST_QUERY_CAPS) {
    /* Once one side has caps, the other is asked for the same size. */
    GstPad *other = GST_PAD (pad == self->pred_pad ? self->real_pad : self->pred_pad);
    GstCaps *other_caps = gst_pad_get_current_caps (other);
    GstCaps *caps = gst_pad_get_pad_template_caps (GST_PAD (pad)), *filter, *result;
    gint width, height;

    if (other_caps) {
      const GstStructure *s = gst_caps_get_structure (other_caps, 0);
      if (gst_structure_get_int (s, "width", &width)
          && gst_structure_get_int (s, "height", &height)) {
        caps = gst_caps_make_writable (caps);
        gst_caps_set_simple (caps, "width", G_TYPE_INT, width, "height", G_TYPE_INT, height,
            NULL);
      }
      gst_caps_unref (other_caps);
    }
    gst_query_parse_caps (query, &filter);
    result = filter ? gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST)
        : gst_caps_ref (caps);
    gst_query_set_caps_result (query, result);
    gst_caps_unref (result);
    gst_caps_unref (caps);
    return TRUE;
  }
  return GST_AGGREGATOR_CLASS (parent_class)->sink_query (agg, pad, query);
}

static gboolean
gst_ar_compare_src_query (GstAggregator *agg, GstQuery *query)
{
  GstArCompare *self = GST_AR_COMPARE (agg);

  if (GST_QUERY_TYPE (query) == GST_QUERY_CAPS) {
    GstCaps *filter, *caps, *result;
    /* Read in the aggregate thread; a stale answer only costs a renegotiation. */
    caps = info_known (&self->real_info) ? gst_ar_compare_output_caps (self)
        : gst_pad_get_pad_template_caps (GST_AGGREGATOR_SRC_PAD (agg));
    gst_query_parse_caps (query, &filter);
    result = filter ? gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST)
        : gst_caps_ref (caps);
    gst_query_set_caps_result (query, result);
    gst_caps_unref (result);
    gst_caps_unref (caps);
    return TRUE;
  }
  return GST_AGGREGATOR_CLASS (parent_class)->src_query (agg, query);
}

static gboolean
gst_ar_compare_src_event (GstAggregator *agg, GstEvent *event)
{
  GstArCompare *self = GST_AR_COMPARE (agg);

  /* GstAggregator drops navigation events; here they carry the keys that drive the sources. */
  if (GST_EVENT_TYPE (event) == GST_EVENT_NAVIGATION) {
    /* Read outside the aggregate thread; a stale width only misroutes one pointer event. */
    gint width = GST_VIDEO_INFO_WIDTH (&self->real_info);
    gdouble x, y;
    gboolean ok;

    if (width > 0 && gst_navigation_event_get_coordinates (event, &x, &y)) {
      GstPad *target = GST_PAD (x < width ? self->real_pad : self->pred_pad);
      if (x >= width) {
        event = gst_event_make_writable (event);
        gst_navigation_event_set_coordinates (event, x - width, y);
      }
      return gst_pad_push_event (target, event);
    }
    ok = gst_pad_push_event (GST_PAD (self->real_pad), gst_event_ref (event));
    ok |= gst_pad_push_event (GST_PAD (self->pred_pad), event);
    return ok;
  }
  return GST_AGGREGATOR_CLASS (parent_class)->src_event (agg, event);
}

static GstFlowReturn
gst_ar_compare_update_src_caps (GstAggregator *agg, GstCaps *downstream, GstCaps **ret)
{
  GstArCompare *self = GST_AR_COMPARE (agg);
  GstCaps *caps;

  if (!info_known (&self->pred_info) || !info_known (&self->real_info))
    return GST_AGGREGATOR_FLOW_NEED_DATA;
  caps = gst_ar_compare_output_caps (self);
  *ret = gst_caps_intersect (downstream, caps);
  if (gst_caps_is_empty (*ret)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Downstream does not take the side-by-side frames %" GST_PTR_FORMAT
            " (add videoconvert)", caps), (NULL));
    gst_caps_unref (caps);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  gst_caps_unref (caps);
  return GST_FLOW_OK;
}

static gboolean
gst_ar_compare_negotiated_src_caps (GstAggregator *agg, GstCaps *caps)
{
  GstArCompare *self = GST_AR_COMPARE (agg);
  GstVideoInfo info;
  gsize n;

  if (!gst_video_info_from_caps (&info, caps))
    return FALSE;
  self->out_info = info;
  n = (gsize) GST_VIDEO_INFO_WIDTH (&self->real_info) * GST_VIDEO_INFO_HEIGHT (&self->real_info)
      * 3;
  g_free (self->pred_rgb);
  g_free (self->real_rgb);
  self->pred_rgb = g_malloc (n);
  self->real_rgb = g_malloc (n);
  return TRUE;
}

static GstClockTime
pad_running_time (GstAggregatorPad *pad, GstBuffer *buffer)
{
  GstClockTime t;

  if (!GST_BUFFER_PTS_IS_VALID (buffer))
    return GST_CLOCK_TIME_NONE;
  GST_OBJECT_LOCK (pad);
  t = gst_segment_to_running_time (&pad->segment, GST_FORMAT_TIME, GST_BUFFER_PTS (buffer));
  GST_OBJECT_UNLOCK (pad);
  return t;
}

/* Compares a matched pair, pushes the side-by-side frame and reports the metrics. */
static GstFlowReturn
gst_ar_compare_pair (GstArCompare *self, GstBuffer *pred, GstBuffer *real,
    GstClockTime running_time)
{
  GstAggregator *agg = GST_AGGREGATOR (self);
  GstVideoFrame pf, rf, of;
  guint width = GST_VIDEO_INFO_WIDTH (&self->real_info);
  guint height = GST_VIDEO_INFO_HEIGHT (&self->real_info);
  gsize row = (gsize) width * 3;
  double psnr, ssim, mean_psnr, mean_ssim;
  GstBuffer *out;
  guint y;

  if (!info_known (&self->out_info) || !self->pred_rgb) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("No output caps negotiated"), (NULL));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (!gst_video_frame_map (&pf, &self->pred_info, pred, GST_MAP_READ))
    goto map_failed;
  if (!gst_video_frame_map (&rf, &self->real_info, real, GST_MAP_READ)) {
    gst_video_frame_unmap (&pf);
    goto map_failed;
  }
  frame_to_rgb (&pf, self->pred_rgb);
  frame_to_rgb (&rf, self->real_rgb);
  gst_video_frame_unmap (&pf);
  gst_video_frame_unmap (&rf);

  psnr = ar_metrics_psnr (self->pred_rgb, self->real_rgb, row * height);
  ssim = ar_metrics_ssim_rgb (self->pred_rgb, self->real_rgb, width, height);
  self->frames++;
  self->sum_psnr += psnr;
  self->sum_ssim += ssim;
  mean_psnr = self->sum_psnr / self->frames;
  mean_ssim = self->sum_ssim / self->frames;
  GST_LOG_OBJECT (self, "pair %" G_GUINT64_FORMAT " at %" GST_TIME_FORMAT ": psnr %.3f "
      "ssim %.4f", self->frames, GST_TIME_ARGS (running_time), psnr, ssim);

  if (self->csv) {
    fprintf (self->csv, "%" G_GINT64_FORMAT ",%.4f,%.6f\n",
        GST_BUFFER_PTS_IS_VALID (real) ? (gint64) GST_BUFFER_PTS (real) : (gint64) -1, psnr,
        ssim);
    /* Live runs end with Ctrl-C: keep the file complete line by line. */
    fflush (self->csv);
  }
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), gst_structure_new ("arcompare",
              "pts", G_TYPE_UINT64, GST_BUFFER_PTS (real),
              "psnr", G_TYPE_DOUBLE, psnr, "ssim", G_TYPE_DOUBLE, ssim,
              "frames", G_TYPE_UINT64, self->frames,
              "mean-psnr", G_TYPE_DOUBLE, mean_psnr, "mean-ssim", G_TYPE_DOUBLE, mean_ssim,
              NULL)));

  out = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&self->out_info), NULL);
  if (!gst_video_frame_map (&of, &self->out_info, out, GST_MAP_WRITE)) {
    gst_buffer_unref (out);
    goto map_failed;
  }
  for (y = 0; y < height; y++) {
    guint8 *dst = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&of, 0)
        + (gsize) y * GST_VIDEO_FRAME_PLANE_STRIDE (&of, 0);
    memcpy (dst, self->real_rgb + y * row, row);
    memcpy (dst + row, self->pred_rgb + y * row, row);
  }
  gst_video_frame_unmap (&of);
  /* The output segment starts at 0: its timestamps are running times. */
  GST_BUFFER_PTS (out) = running_time;
  GST_BUFFER_DURATION (out) = GST_BUFFER_DURATION (real);
  gst_aggregator_selected_samples (agg, running_time, GST_CLOCK_TIME_NONE,
      GST_BUFFER_DURATION (real), NULL);
  return gst_aggregator_finish_buffer (agg, out);

map_failed:
  GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Cannot map a frame"), (NULL));
  return GST_FLOW_ERROR;
}

static GstFlowReturn
gst_ar_compare_aggregate (GstAggregator *agg, gboolean timeout)
{
  GstArCompare *self = GST_AR_COMPARE (agg);
  GstBuffer *pred = gst_aggregator_pad_peek_buffer (self->pred_pad);
  GstBuffer *real = gst_aggregator_pad_peek_buffer (self->real_pad);
  GstFlowReturn ret = GST_FLOW_OK;
  GstClockTime rt_pred, rt_real, tolerance;

  /* Gaps carry no frame. */
  if (pred && GST_BUFFER_FLAG_IS_SET (pred, GST_BUFFER_FLAG_GAP)
      && gst_buffer_get_size (pred) == 0) {
    gst_aggregator_pad_drop_buffer (self->pred_pad);
    goto done;
  }
  if (real && GST_BUFFER_FLAG_IS_SET (real, GST_BUFFER_FLAG_GAP)
      && gst_buffer_get_size (real) == 0) {
    gst_aggregator_pad_drop_buffer (self->real_pad);
    goto done;
  }

  if (!pred || !real) {
    gboolean pred_eos = gst_aggregator_pad_is_eos (self->pred_pad);
    gboolean real_eos = gst_aggregator_pad_is_eos (self->real_pad);
    if (!pred && !real && pred_eos && real_eos) {
      ret = GST_FLOW_EOS;
    } else if ((pred && real_eos) || (real && pred_eos) || timeout) {
      /* The other side has ended (or is late): these frames have no partner. */
      if (pred)
        gst_aggregator_pad_drop_buffer (self->pred_pad);
      if (real)
        gst_aggregator_pad_drop_buffer (self->real_pad);
    } else {
      ret = GST_AGGREGATOR_FLOW_NEED_DATA;
    }
    goto done;
  }

  rt_pred = pad_running_time (self->pred_pad, pred);
  rt_real = pad_running_time (self->real_pad, real);
  if (GST_BUFFER_DURATION_IS_VALID (real))
    tolerance = GST_BUFFER_DURATION (real) / 2;
  else if (GST_VIDEO_INFO_FPS_N (&self->real_info) > 0)
    tolerance = gst_util_uint64_scale (GST_SECOND / 2, GST_VIDEO_INFO_FPS_D (&self->real_info),
        GST_VIDEO_INFO_FPS_N (&self->real_info));
  else
    tolerance = GST_MSECOND;

  /* Without timestamps on both sides, frames pair in order. */
  if (GST_CLOCK_TIME_IS_VALID (rt_pred) && GST_CLOCK_TIME_IS_VALID (rt_real)) {
    if (rt_pred + tolerance < rt_real) {
      GST_LOG_OBJECT (self, "prediction at %" GST_TIME_FORMAT " has no real frame",
          GST_TIME_ARGS (rt_pred));
      gst_aggregator_pad_drop_buffer (self->pred_pad);
      goto done;
    }
    if (rt_real + tolerance < rt_pred) {
      GST_LOG_OBJECT (self, "real frame at %" GST_TIME_FORMAT " has no prediction",
          GST_TIME_ARGS (rt_real));
      gst_aggregator_pad_drop_buffer (self->real_pad);
      goto done;
    }
  }
  ret = gst_ar_compare_pair (self, pred, real,
      GST_CLOCK_TIME_IS_VALID (rt_real) ? rt_real : GST_BUFFER_PTS (real));
  gst_aggregator_pad_drop_buffer (self->pred_pad);
  gst_aggregator_pad_drop_buffer (self->real_pad);

done:
  gst_clear_buffer (&pred);
  gst_clear_buffer (&real);
  return ret;
}

static gboolean
gst_ar_compare_start (GstAggregator *agg)
{
  GstArCompare *self = GST_AR_COMPARE (agg);
  gchar *location;

  gst_video_info_init (&self->pred_info);
  gst_video_info_init (&self->real_info);
  gst_video_info_init (&self->out_info);
  self->frames = 0;
  self->sum_psnr = self->sum_ssim = 0;

  GST_OBJECT_LOCK (self);
  location = g_strdup (self->location);
  GST_OBJECT_UNLOCK (self);
  if (location && *location) {
    self->csv = g_fopen (location, "w");
    if (!self->csv) {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
          ("Could not open \"%s\" for writing: %s", location, g_strerror (errno)), (NULL));
      g_free (location);
      return FALSE;
    }
    fputs ("pts,psnr,ssim\n", self->csv);
  }
  g_free (location);
  return TRUE;
}

static gboolean
gst_ar_compare_stop (GstAggregator *agg)
{
  GstArCompare *self = GST_AR_COMPARE (agg);

  if (self->csv) {
    fclose (self->csv);
    self->csv = NULL;
  }
  g_clear_pointer (&self->pred_rgb, g_free);
  g_clear_pointer (&self->real_rgb, g_free);
  if (self->frames)
    GST_INFO_OBJECT (self, "%" G_GUINT64_FORMAT " pairs: mean psnr %.3f, mean ssim %.4f",
        self->frames, self->sum_psnr / self->frames, self->sum_ssim / self->frames);
  return TRUE;
}

/* ---- element ---------------------------------------------------------------------------- */

static void
gst_ar_compare_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec)
{
  GstArCompare *self = GST_AR_COMPARE (object);

  switch (prop_id) {
    case PROP_LOCATION:
      GST_OBJECT_LOCK (self);
      g_free (self->location);
      self->location = g_value_dup_string (value);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_ar_compare_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstArCompare *self = GST_AR_COMPARE (object);

  switch (prop_id) {
    case PROP_LOCATION:
      GST_OBJECT_LOCK (self);
      g_value_set_string (value, self->location);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_ar_compare_finalize (GObject *object)
{
  GstArCompare *self = GST_AR_COMPARE (object);

  g_free (self->location);
  g_free (self->pred_rgb);
  g_free (self->real_rgb);
  if (self->csv)
    fclose (self->csv);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_ar_compare_class_init (GstArCompareClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstAggregatorClass *agg_class = GST_AGGREGATOR_CLASS (klass);

  gobject_class->set_property = gst_ar_compare_set_property;
  gobject_class->get_property = gst_ar_compare_get_property;
  gobject_class->finalize = gst_ar_compare_finalize;

  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "CSV file for the per-frame metrics (pts,psnr,ssim; pts in ns); empty = none",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));

  gst_element_class_set_static_metadata (element_class, "AR prediction comparison",
      "Filter/Analyzer/Video", "PSNR and SSIM of predicted against real frames, shown side "
      "by side", "arvideo");
  gst_element_class_add_static_pad_template_with_gtype (element_class, &pred_template,
      GST_TYPE_AGGREGATOR_PAD);
  gst_element_class_add_static_pad_template_with_gtype (element_class, &real_template,
      GST_TYPE_AGGREGATOR_PAD);
  gst_element_class_add_static_pad_template_with_gtype (element_class, &src_template,
      GST_TYPE_AGGREGATOR_PAD);

  agg_class->sink_event = GST_DEBUG_FUNCPTR (gst_ar_compare_sink_event);
  agg_class->sink_query = GST_DEBUG_FUNCPTR (gst_ar_compare_sink_query);
  agg_class->src_query = GST_DEBUG_FUNCPTR (gst_ar_compare_src_query);
  agg_class->src_event = GST_DEBUG_FUNCPTR (gst_ar_compare_src_event);
  agg_class->update_src_caps = GST_DEBUG_FUNCPTR (gst_ar_compare_update_src_caps);
  agg_class->negotiated_src_caps = GST_DEBUG_FUNCPTR (gst_ar_compare_negotiated_src_caps);
  agg_class->aggregate = GST_DEBUG_FUNCPTR (gst_ar_compare_aggregate);
  agg_class->start = GST_DEBUG_FUNCPTR (gst_ar_compare_start);
  agg_class->stop = GST_DEBUG_FUNCPTR (gst_ar_compare_stop);
}

static GstAggregatorPad *
make_sink_pad (GstArCompare *self, const gchar *name)
{
  GstPadTemplate *templ =
      gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (self), name);
  GstPad *pad = gst_pad_new_from_template (templ, name);

  /* Sizes that do not match get a clear error in the caps event, not a refusal here. */
  GST_OBJECT_FLAG_SET (pad, GST_PAD_FLAG_ACCEPT_TEMPLATE);
  gst_element_add_pad (GST_ELEMENT (self), pad);
  return GST_AGGREGATOR_PAD (pad);
}

static void
gst_ar_compare_init (GstArCompare *self)
{
  self->pred_pad = make_sink_pad (self, "sink_pred");
  self->real_pad = make_sink_pad (self, "sink_real");
  gst_video_info_init (&self->pred_info);
  gst_video_info_init (&self->real_info);
  gst_video_info_init (&self->out_info);
}

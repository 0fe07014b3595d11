/* The runtime beneath the ops: allocator, barrier placement, replay, errors, threads. */
#include "test-ops.h"

#include <stdio.h>

static void
test_allocator (ArTest *t)
{
  /* Small tensors share one block (one VkBuffer) at distinct, aligned, disjoint ranges. */
  ArBuffer *bufs[64];
  gboolean ok = TRUE;
  VkDeviceSize align = MAX (t->dev->props.limits.minStorageBufferOffsetAlignment, 16);
  for (guint i = 0; i < G_N_ELEMENTS (bufs); i++)
    bufs[i] = art_alloc (t, AR_F32, 1 + i * 37);
  for (guint i = 0; i < G_N_ELEMENTS (bufs); i++) {
    ok &= bufs[i]->vk_buffer == bufs[0]->vk_buffer && bufs[i]->offset % align == 0;
    for (guint j = 0; j < i; j++)
      ok &= bufs[i]->offset + bufs[i]->size <= bufs[j]->offset
          || bufs[j]->offset + bufs[j]->size <= bufs[i]->offset;
  }
  art_report_cond (t, "alloc_suballocate", "[64 tensors]", AR_F32, ok, "one block, disjoint aligned ranges");

  /* Freed space is reused (free-list coalescing brings the first range back). */
  VkDeviceSize first = bufs[0]->offset;
  for (guint i = 0; i < G_N_ELEMENTS (bufs); i++)
    ar_buffer_free (bufs[i]);
  g_autoptr (ArBuffer) again = art_alloc (t, AR_F32, 1000);
  art_report_cond (t, "alloc_reuse", "[1000]", AR_F32, again->offset == first, "offset=%" G_GUINT64_FORMAT,
      (guint64) again->offset);

  GError *err = NULL;
  gsize too_big = (gsize) t->dev->props.limits.maxStorageBufferRange + 1;
  ArBuffer *b = ar_buffer_new (t->dev, too_big, AR_MEM_DEVICE, &err);
  art_report_cond (t, "alloc_over_range", "-", AR_F32,
      !b && err && strstr (err->message, "maxStorageBufferRange"), "error=\"%s\"", err ? err->message : "none");
  g_clear_error (&err);
  b = ar_buffer_new (t->dev, 0, AR_MEM_DEVICE, &err);
  art_report_cond (t, "alloc_empty", "-", AR_F32, !b && err, "error=\"%s\"", err ? err->message : "none");
  g_clear_error (&err);

  g_autoptr (ArBuffer) host = NULL;
  host = ar_buffer_new (t->dev, 100, AR_MEM_HOST, &err);
  guint32 in[25], out[25];
  for (guint i = 0; i < 25; i++)
    in[i] = i * 7919u;
  ok = host && host->mapped && ar_buffer_write (host, 0, in, sizeof in, NULL)
      && ar_buffer_read (host, 0, out, sizeof out, NULL) && memcmp (in, out, sizeof in) == 0;
  art_report_cond (t, "alloc_host_roundtrip", "[25]", AR_F32, ok, "mapped staging memory");
  ok = !ar_buffer_write (host, host->size - 4, in, 8, &err) && err;
  art_report_cond (t, "alloc_write_bounds", "-", AR_F32, ok, "error=\"%s\"", err ? err->message : "none");
  g_clear_error (&err);
}

/* Barriers go only where a dispatch depends on an earlier one. */
static void
test_barriers (ArTest *t)
{
  const gsize n = 1000;
  g_autofree float *a = art_random (t, n, -1, 1, AR_F32);
  g_autoptr (ArBuffer) ba = art_upload (t, AR_F32, a, n);
  g_autoptr (ArBuffer) b1 = art_alloc (t, AR_F32, n);
  g_autoptr (ArBuffer) b2 = art_alloc (t, AR_F32, n);
  g_autoptr (ArBuffer) b3 = art_alloc (t, AR_F32, n);

  /* Independent: both read a, write different outputs. */
  art_begin (t);
  ar_op_add (t->cmd, AR_F32, ba, ba, b1, n);
  ar_op_add (t->cmd, AR_F32, ba, ba, b2, n);
  art_run (t);
  guint independent = ar_cmd_barrier_count (t->cmd);

  /* Chain: b1 = a+a; b2 = b1+a (RAW); b1 = a+a again (WAR on b1 read by the second). */
  art_begin (t);
  ar_op_add (t->cmd, AR_F32, ba, ba, b1, n);
  ar_op_add (t->cmd, AR_F32, b1, ba, b2, n);
  ar_op_add (t->cmd, AR_F32, ba, ba, b1, n);
  ar_op_add (t->cmd, AR_F32, b2, b1, b3, n);
  art_run (t);
  guint chained = ar_cmd_barrier_count (t->cmd);
  art_report_cond (t, "recorder_barriers", "[1000]", AR_F32, independent == 0 && chained == 3,
      "independent=%u chained=%u (want 0 and 3)", independent, chained);

  g_autofree float *out = art_download (t, AR_F32, b3, n);
  g_autofree float *ref = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    ref[i] = (a[i] + a[i] + a[i]) + (a[i] + a[i]);
  art_report (t, "recorder_chain_result", "[1000]", AR_F32, art_nmse (out, ref, n), ART_NMSE_F32_ELTWISE);

  /* A finished recording replays: run it again after changing an input in place. */
  for (gsize i = 0; i < n; i++)
    a[i] = -a[i];
  ar_buffer_write (ba, 0, a, n * 4, NULL);
  art_run (t);
  g_autofree float *out2 = art_download (t, AR_F32, b3, n);
  for (gsize i = 0; i < n; i++)
    ref[i] = -ref[i];
  art_report (t, "recorder_replay", "[1000]", AR_F32, art_nmse (out2, ref, n), ART_NMSE_F32_ELTWISE);
}

static void
test_errors (ArTest *t)
{
  g_autoptr (ArBuffer) small = art_alloc (t, AR_F32, 10);
  g_autoptr (ArBuffer) big = art_alloc (t, AR_F32, 100);
  GError *err = NULL;
  art_begin (t);
  ar_op_add (t->cmd, AR_F32, big, small, big, 100);
  ar_op_add (t->cmd, AR_F32, big, big, big, 100);   /* skipped: the recording already failed */
  gboolean ok = !ar_cmd_run (t->cmd, &err) && err && strstr (err->message, "add: b needs 100 elements");
  art_report_cond (t, "error_shape", "[100]+[10]", AR_F32, ok, "error=\"%s\"", err ? err->message : "none");
  g_clear_error (&err);

  /* The recorder recovers at the next begin. */
  art_begin (t);
  ar_op_add (t->cmd, AR_F32, big, big, big, 100);
  ok = ar_cmd_run (t->cmd, &err);
  art_report_cond (t, "error_recovery", "[100]", AR_F32, ok, "error=\"%s\"", err ? err->message : "none");
  g_clear_error (&err);

  /* Device selection by a name that matches nothing names the devices there are. */
  const char *old = g_getenv ("AR_VULKAN_DEVICE");
  g_autofree gchar *saved = g_strdup (old);
  g_setenv ("AR_VULKAN_DEVICE", "no-such-device-xyz", TRUE);
  ArDevice *none = ar_device_new (&err);
  ok = !none && err && err->code == AR_ERROR_NO_DEVICE && strstr (err->message, t->dev->props.deviceName);
  art_report_cond (t, "device_select_missing", "-", AR_F32, ok, "error=\"%s\"", err ? err->message : "none");
  g_clear_error (&err);
  g_setenv ("AR_VULKAN_DEVICE", "0", TRUE);
  ArDevice *by_index = ar_device_new (&err);
  art_report_cond (t, "device_select_index", "-", AR_F32, by_index != NULL, "error=\"%s\"",
      err ? err->message : "none");
  g_clear_error (&err);
  if (by_index)
    ar_device_unref (by_index);
  if (saved)
    g_setenv ("AR_VULKAN_DEVICE", saved, TRUE);
  else
    g_unsetenv ("AR_VULKAN_DEVICE");

  /* The validation counter sees a real error: a buffer of size 0 is invalid usage. */
  ArDevice *probe = ar_device_new (&err);
  if (probe) {
    printf ("# an expected validation message follows\n");
    fflush (stdout);
    VkBufferCreateInfo bci = {
      .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
      .size = 0,
      .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
    };
    VkBuffer vb = VK_NULL_HANDLE;
    /* The layer may still create it; the point is that the message is counted. */
    if (vkCreateBuffer (probe->device, &bci, NULL, &vb) == VK_SUCCESS && vb)
      vkDestroyBuffer (probe->device, vb, NULL);
    art_report_cond (t, "validation_counted", "-", AR_F32, ar_device_validation_messages (probe) > 0,
        "messages=%u", ar_device_validation_messages (probe));
    ar_device_unref (probe);
  } else {
    art_report_cond (t, "validation_counted", "-", AR_F32, FALSE, "error=\"%s\"", err->message);
    g_clear_error (&err);
  }
}

typedef struct {
  ArTest *t;
  ArBuffer *a, *out;
  gsize n;
  gboolean ok;
} ThreadJob;

static gpointer
thread_run (gpointer data)
{
  ThreadJob *job = data;
  g_autoptr (ArCmd) cmd = ar_cmd_new (job->t->dev, NULL);
  job->ok = cmd != NULL;
  for (int iter = 0; iter < 20 && job->ok; iter++) {
    ar_cmd_begin (cmd);
    ar_op_add (cmd, AR_F32, job->a, job->a, job->out, job->n);
    job->ok = ar_cmd_run (cmd, NULL);
  }
  return NULL;
}

/* Several streaming threads share one device, each with its own recorder. */
static void
test_threads (ArTest *t)
{
  const gsize n = 4096;
  ThreadJob jobs[4];
  GThread *threads[4];
  g_autofree float *a = art_random (t, n, -1, 1, AR_F32);
  for (guint i = 0; i < 4; i++) {
    jobs[i] = (ThreadJob) { t, art_upload (t, AR_F32, a, n), art_alloc (t, AR_F32, n), n, FALSE };
    threads[i] = g_thread_new ("ar-test", thread_run, &jobs[i]);
  }
  double worst = 0;
  gboolean all_ok = TRUE;
  g_autofree float *ref = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    ref[i] = a[i] + a[i];
  for (guint i = 0; i < 4; i++) {
    g_thread_join (threads[i]);
    all_ok &= jobs[i].ok;
    g_autofree float *out = art_download (t, AR_F32, jobs[i].out, n);
    worst = MAX (worst, art_nmse (out, ref, n));
    ar_buffer_free (jobs[i].a);
    ar_buffer_free (jobs[i].out);
  }
  art_report_cond (t, "threads_shared_device", "[4 threads x 20 runs]", AR_F32,
      all_ok && worst <= ART_NMSE_F32_ELTWISE, "worst_nmse=%.3g", worst);
}

static void
test_timing (ArTest *t)
{
  const gsize n = 1 << 20;
  g_autoptr (ArBuffer) a = art_alloc (t, AR_F32, n);
  g_autoptr (ArBuffer) o = art_alloc (t, AR_F32, n);
  if (!t->dev->caps.timestamps) {
    art_report_cond (t, "timestamps", "-", AR_F32, TRUE, "no timestamp support: gpu time unknown");
    return;
  }
  ar_cmd_set_timing (t->cmd, TRUE);
  art_begin (t);
  ar_op_add (t->cmd, AR_F32, a, a, o, n);
  art_run (t);
  printf ("# first run %.1f us\n", ar_cmd_gpu_time_us (t->cmd));
  art_run (t);
  double us = ar_cmd_gpu_time_us (t->cmd);
  ar_cmd_set_timing (t->cmd, FALSE);
  art_report_cond (t, "timestamps", "[1M add]", AR_F32, us > 0 && us < 10e6, "gpu_us=%.1f", us);
}

/* AR_VULKAN_SKIP on a device made with it: the named shader's dispatches are dropped (its
 * output keeps its old values, nothing counted), others in the same recording run. */
static void
test_skip (ArTest *t)
{
  enum { n = 100 };
  g_autofree gchar *saved = g_strdup (g_getenv ("AR_VULKAN_SKIP"));
  /* A specialisation suffix as the profile prints it is ignored. */
  g_setenv ("AR_VULKAN_SKIP", "add_f32[64]", TRUE);
  g_autoptr (GError) err = NULL;
  g_autoptr (ArDevice) dev = ar_device_new (&err);
  if (saved)
    g_setenv ("AR_VULKAN_SKIP", saved, TRUE);
  else
    g_unsetenv ("AR_VULKAN_SKIP");
  if (!dev) {
    art_report_cond (t, "skip", "-", AR_F32, FALSE, "device: %s", err->message);
    return;
  }
  float two[n], seven[n], back[2][n];
  for (gsize i = 0; i < n; i++)
    two[i] = 2.0f, seven[i] = 7.0f;
  g_autoptr (ArBuffer) a = ar_buffer_new (dev, n * 4, AR_MEM_DEVICE, &err);
  g_autoptr (ArBuffer) sum = a ? ar_buffer_new (dev, n * 4, AR_MEM_DEVICE, &err) : NULL;
  g_autoptr (ArBuffer) prod = sum ? ar_buffer_new (dev, n * 4, AR_MEM_DEVICE, &err) : NULL;
  ArCmd *cmd = prod ? ar_cmd_new (dev, &err) : NULL;
  gboolean ok = cmd && ar_buffer_write (a, 0, two, n * 4, &err)
      && ar_buffer_write (sum, 0, seven, n * 4, &err) && ar_buffer_write (prod, 0, seven, n * 4, &err);
  guint dispatched = 0;
  if (ok) {
    ar_cmd_begin (cmd);
    ar_op_add (cmd, AR_F32, a, a, sum, n);
    ar_op_mul (cmd, AR_F32, a, a, prod, n);
    dispatched = ar_cmd_dispatch_count (cmd);
    ok = ar_cmd_run (cmd, &err) && ar_buffer_read (sum, 0, back[0], n * 4, &err)
        && ar_buffer_read (prod, 0, back[1], n * 4, &err);
  }
  g_clear_pointer (&cmd, ar_cmd_free);
  guint msgs = ar_device_validation_messages (dev);
  gboolean as_asked = ok && dispatched == 1 && msgs == 0;
  for (gsize i = 0; as_asked && i < n; i++)
    as_asked = back[0][i] == 7.0f && back[1][i] == 4.0f;
  art_report_cond (t, "skip", "[add_f32 dropped, mul_f32 run]", AR_F32, as_asked,
      "dispatches=%u sum[0]=%g prod[0]=%g validation_messages=%u%s%s", dispatched,
      ok ? back[0][0] : -1.0, ok ? back[1][0] : -1.0, msgs, err ? " " : "",
      err ? err->message : "");
}

/* CPU devices flush fp32 denormals (ar-device.c: lavapipe's threads take flush-to-zero and
 * denormals-are-zero from the thread that creates the device; each instruction meeting a
 * denormal would otherwise take a microcode assist, ~40x slower convolutions). A product
 * that underflows to a denormal must come back 0, a denormal input must count as 0, and a
 * small normal product must survive. Were the flags not inherited, the first two fail. */
static void
test_denormals (ArTest *t)
{
  if (!t->dev->caps.is_cpu) {
    printf ("# denormals: not checked, the flush is set for CPU devices only\n");
    return;
  }
  const gsize n = 64;
  float a[64], b[64], ref[64];
  for (gsize i = 0; i < n; i++) {
    guint kind = i % 3;
    a[i] = kind == 0 ? 1e-20f : kind == 1 ? 1e-39f : 1e-10f;   /* 1e-39: denormal */
    b[i] = kind == 0 ? 2e-20f : kind == 1 ? 1.0f : 3e-10f;
    ref[i] = kind == 2 ? a[i] * b[i] : 0.0f;
  }
  g_autoptr (ArBuffer) ba = art_upload (t, AR_F32, a, n);
  g_autoptr (ArBuffer) bb = art_upload (t, AR_F32, b, n);
  g_autoptr (ArBuffer) bo = art_alloc (t, AR_F32, n);
  art_begin (t);
  ar_op_mul (t->cmd, AR_F32, ba, bb, bo, n);
  if (!art_run (t))
    return;
  g_autofree float *out = art_download (t, AR_F32, bo, n);
  guint wrong = 0;
  for (gsize i = 0; i < n; i++)
    wrong += out[i] != ref[i];
  art_report_cond (t, "denormals_flushed", "[64]", AR_F32, wrong == 0,
      "%u of 64 wrong (out[0]=%g, want 0; out[1]=%g, want 0; out[2]=%g)", wrong, out[0], out[1],
      out[2]);
}

void
test_runtime (ArTest *t)
{
  test_allocator (t);
  test_barriers (t);
  test_errors (t);
  test_threads (t);
  test_timing (t);
  test_skip (t);
  test_denormals (t);
}

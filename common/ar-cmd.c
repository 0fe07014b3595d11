#include "ar-cmd.h"

#include <stdio.h>
#include <string.h>

#define SETS_PER_POOL 256

typedef struct {
  VkBuffer buffer;
  VkDeviceSize begin, end;
} Span;

struct _ArCmd {
  ArDevice *dev;
  VkCommandPool pool;
  VkCommandBuffer cb;
  VkFence fence;
  gboolean recording, in_flight, ended;
  GError *error;

  GPtrArray *desc_pools;     /* VkDescriptorPool, as pointers */
  guint desc_pool_index;

  GArray *written, *read;    /* Span: touched since the last barrier */
  guint n_dispatches, n_barriers;

  gboolean timing;
  VkQueryPool queries;
  guint query_capacity, n_queries;
  GPtrArray *query_labels;   /* label of the dispatch that ends at query i (i >= 1) */
  double last_gpu_us;
};

static gboolean
new_desc_pool (ArCmd *cmd, GError **error)
{
  VkDescriptorPoolSize sizes[] = {
    { VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, SETS_PER_POOL * AR_MAX_BINDINGS },
    { VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, SETS_PER_POOL * AR_MAX_TEXEL_BINDINGS },
  };
  VkDescriptorPoolCreateInfo ci = {
    .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
    .maxSets = SETS_PER_POOL,
    .poolSizeCount = G_N_ELEMENTS (sizes),
    .pPoolSizes = sizes,
  };
  VkDescriptorPool pool;
  if (!ar_vk_check (vkCreateDescriptorPool (cmd->dev->device, &ci, NULL, &pool),
          "vkCreateDescriptorPool", error))
    return FALSE;
  g_ptr_array_add (cmd->desc_pools, (gpointer) pool);
  return TRUE;
}

ArCmd *
ar_cmd_new (ArDevice *dev, GError **error)
{
  ArCmd *cmd = g_new0 (ArCmd, 1);
  cmd->dev = ar_device_ref (dev);
  cmd->desc_pools = g_ptr_array_new ();
  cmd->written = g_array_new (FALSE, FALSE, sizeof (Span));
  cmd->read = g_array_new (FALSE, FALSE, sizeof (Span));
  cmd->query_labels = g_ptr_array_new ();
  cmd->timing = dev->profile;
  cmd->last_gpu_us = -1;

  VkCommandPoolCreateInfo pci = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
    .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
    .queueFamilyIndex = dev->queue_family,
  };
  VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
  if (!ar_vk_check (vkCreateCommandPool (dev->device, &pci, NULL, &cmd->pool), "vkCreateCommandPool", error)
      || !ar_vk_check (vkCreateFence (dev->device, &fci, NULL, &cmd->fence), "vkCreateFence", error)
      || !new_desc_pool (cmd, error))
    goto fail;
  VkCommandBufferAllocateInfo cai = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
    .commandPool = cmd->pool,
    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
    .commandBufferCount = 1,
  };
  if (!ar_vk_check (vkAllocateCommandBuffers (dev->device, &cai, &cmd->cb), "vkAllocateCommandBuffers", error))
    goto fail;
  return cmd;
fail:
  ar_cmd_free (cmd);
  return NULL;
}

void
ar_cmd_free (ArCmd *cmd)
{
  if (!cmd)
    return;
  VkDevice d = cmd->dev->device;
  if (cmd->in_flight)
    vkWaitForFences (d, 1, &cmd->fence, VK_TRUE, UINT64_MAX);
  for (guint i = 0; i < cmd->desc_pools->len; i++)
    vkDestroyDescriptorPool (d, (VkDescriptorPool) cmd->desc_pools->pdata[i], NULL);
  g_ptr_array_unref (cmd->desc_pools);
  if (cmd->queries)
    vkDestroyQueryPool (d, cmd->queries, NULL);
  if (cmd->fence)
    vkDestroyFence (d, cmd->fence, NULL);
  if (cmd->pool)
    vkDestroyCommandPool (d, cmd->pool, NULL);
  g_array_unref (cmd->written);
  g_array_unref (cmd->read);
  g_ptr_array_unref (cmd->query_labels);
  g_clear_error (&cmd->error);
  ar_device_unref (cmd->dev);
  g_free (cmd);
}

ArDevice *
ar_cmd_device (ArCmd *cmd)
{
  return cmd->dev;
}

void
ar_cmd_fail (ArCmd *cmd, GError *error)
{
  if (!cmd->error)
    cmd->error = error;
  else
    g_error_free (error);
}

void
ar_cmd_fail_invalid (ArCmd *cmd, const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  gchar *msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  ar_cmd_fail (cmd, g_error_new_literal (AR_ERROR, AR_ERROR_INVALID, msg));
  g_free (msg);
}

gboolean
ar_cmd_failed (ArCmd *cmd)
{
  return cmd->error != NULL;
}

void
ar_cmd_set_timing (ArCmd *cmd, gboolean timing)
{
  cmd->timing = (timing || cmd->dev->profile) && cmd->dev->caps.timestamps;
}

/* A full compute/transfer memory barrier. Buffer-precise barriers buy nothing here: every
 * dispatch in a frame depends on its predecessor's outputs anyway. */
static void
full_barrier (ArCmd *cmd, VkPipelineStageFlags dst_stage, VkAccessFlags dst_access)
{
  VkMemoryBarrier mb = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
    .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT
        | VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT,
    .dstAccessMask = dst_access,
  };
  vkCmdPipelineBarrier (cmd->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
      dst_stage, 0, 1, &mb, 0, NULL, 0, NULL);
  g_array_set_size (cmd->written, 0);
  g_array_set_size (cmd->read, 0);
  cmd->n_barriers++;
}

static void
compute_barrier (ArCmd *cmd)
{
  full_barrier (cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
      VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT
      | VK_ACCESS_TRANSFER_WRITE_BIT);
}

static gboolean
wait_in_flight (ArCmd *cmd, GError **error)
{
  if (!cmd->in_flight)
    return TRUE;
  cmd->in_flight = FALSE;
  return ar_vk_check (vkWaitForFences (cmd->dev->device, 1, &cmd->fence, VK_TRUE, UINT64_MAX),
      "vkWaitForFences", error);
}

void
ar_cmd_begin (ArCmd *cmd)
{
  GError *err = NULL;
  g_clear_error (&cmd->error);
  if (!wait_in_flight (cmd, &err)) {
    ar_cmd_fail (cmd, err);
    return;
  }
  VkDevice d = cmd->dev->device;
  vkResetCommandBuffer (cmd->cb, 0);
  for (guint i = 0; i < cmd->desc_pools->len; i++)
    vkResetDescriptorPool (d, (VkDescriptorPool) cmd->desc_pools->pdata[i], 0);
  cmd->desc_pool_index = 0;
  g_array_set_size (cmd->written, 0);
  g_array_set_size (cmd->read, 0);
  cmd->n_dispatches = cmd->n_barriers = 0;
  cmd->ended = FALSE;

  /* Grow the query pool to what the last recording needed. */
  if (cmd->timing && (!cmd->queries || cmd->query_capacity < cmd->n_queries + 1)) {
    if (cmd->queries)
      vkDestroyQueryPool (d, cmd->queries, NULL);
    /* Profile mode starts large: a frame's generation is ~900 dispatches, and each place a
     * run starts at has its own recording (a small pool timed only its first 255). */
    cmd->query_capacity = MAX (cmd->dev->profile ? 4096 : 256, 2 * (cmd->n_queries + 1));
    VkQueryPoolCreateInfo qci = {
      .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
      .queryType = VK_QUERY_TYPE_TIMESTAMP,
      .queryCount = cmd->query_capacity,
    };
    if (!ar_vk_check (vkCreateQueryPool (d, &qci, NULL, &cmd->queries), "vkCreateQueryPool", &err)) {
      cmd->queries = VK_NULL_HANDLE;
      ar_cmd_fail (cmd, err);
      return;
    }
  }
  cmd->n_queries = 0;
  g_ptr_array_set_size (cmd->query_labels, 0);

  VkCommandBufferBeginInfo bi = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO };
  vkBeginCommandBuffer (cmd->cb, &bi);
  cmd->recording = TRUE;
  if (cmd->timing) {
    vkCmdResetQueryPool (cmd->cb, cmd->queries, 0, cmd->query_capacity);
    vkCmdWriteTimestamp (cmd->cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, cmd->queries, cmd->n_queries++);
    g_ptr_array_add (cmd->query_labels, NULL);
  }
  /* Order against the previous submission on the queue (its writes, our reads). */
  compute_barrier (cmd);
  cmd->n_barriers = 0;
}

static gboolean
spans_overlap (GArray *spans, const Span *s)
{
  for (guint i = 0; i < spans->len; i++) {
    const Span *o = &g_array_index (spans, Span, i);
    if (o->buffer == s->buffer && o->begin < s->end && s->begin < o->end)
      return TRUE;
  }
  return FALSE;
}

static Span
span_of (const ArBuffer *b, gsize offset, gsize size)
{
  return (Span) { b->vk_buffer, b->offset + offset, b->offset + offset + size };
}

/* Inserts a barrier if any access conflicts with accesses since the last one, then notes them. */
static void
track (ArCmd *cmd, const Span *spans, const gboolean *writes, guint n)
{
  gboolean hazard = FALSE;
  for (guint i = 0; i < n && !hazard; i++)
    hazard = spans_overlap (cmd->written, &spans[i]) || (writes[i] && spans_overlap (cmd->read, &spans[i]));
  if (hazard)
    compute_barrier (cmd);
  for (guint i = 0; i < n; i++)
    g_array_append_val (writes[i] ? cmd->written : cmd->read, spans[i]);
}

static gboolean
check_recording (ArCmd *cmd)
{
  if (cmd->error)
    return FALSE;
  if (!cmd->recording) {
    ar_cmd_fail_invalid (cmd, "ar_cmd: recording an op outside ar_cmd_begin()");
    return FALSE;
  }
  return TRUE;
}

static void
mark_timestamp (ArCmd *cmd, const char *label)
{
  if (!cmd->timing)
    return;
  if (cmd->n_queries < cmd->query_capacity)
    vkCmdWriteTimestamp (cmd->cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, cmd->queries, cmd->n_queries);
  cmd->n_queries++;
  g_ptr_array_add (cmd->query_labels, (gpointer) label);
}

static VkDescriptorSet
alloc_set (ArCmd *cmd)
{
  VkDescriptorSetLayout layout = ar_pipeline_cache_set_layout (cmd->dev->pipelines);
  for (;;) {
    if (cmd->desc_pool_index >= cmd->desc_pools->len) {
      GError *err = NULL;
      if (!new_desc_pool (cmd, &err)) {
        ar_cmd_fail (cmd, err);
        return VK_NULL_HANDLE;
      }
    }
    VkDescriptorSetAllocateInfo ai = {
      .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
      .descriptorPool = (VkDescriptorPool) cmd->desc_pools->pdata[cmd->desc_pool_index],
      .descriptorSetCount = 1,
      .pSetLayouts = &layout,
    };
    VkDescriptorSet set;
    VkResult res = vkAllocateDescriptorSets (cmd->dev->device, &ai, &set);
    if (res == VK_SUCCESS)
      return set;
    if (res != VK_ERROR_OUT_OF_POOL_MEMORY && res != VK_ERROR_FRAGMENTED_POOL) {
      GError *err = NULL;
      ar_vk_check (res, "vkAllocateDescriptorSets", &err);
      ar_cmd_fail (cmd, err);
      return VK_NULL_HANDLE;
    }
    cmd->desc_pool_index++;
  }
}

void
ar_cmd_dispatch (ArCmd *cmd, const ArShader *shader, const guint32 *spec, guint n_spec,
    const ArBinding *bindings, guint n_bindings, const void *push, gsize push_size,
    guint32 gx, guint32 gy, guint32 gz)
{
  if (!check_recording (cmd))
    return;
  ArDevice *dev = cmd->dev;
  const guint32 *max = dev->props.limits.maxComputeWorkGroupCount;
  if (n_bindings > AR_MAX_BINDINGS + AR_MAX_TEXEL_BINDINGS || push_size > AR_MAX_PUSH) {
    ar_cmd_fail_invalid (cmd, "%s: %u bindings / %" G_GSIZE_FORMAT " push bytes exceed the layout",
        shader->name, n_bindings, push_size);
    return;
  }
  if (gx > max[0] || gy > max[1] || gz > max[2]) {
    ar_cmd_fail_invalid (cmd, "%s: grid %ux%ux%u exceeds maxComputeWorkGroupCount %ux%ux%u",
        shader->name, gx, gy, gz, max[0], max[1], max[2]);
    return;
  }
  if (gx == 0 || gy == 0 || gz == 0)
    return;
  if (dev->skip && g_strv_contains ((const gchar *const *) dev->skip, shader->name))
    return;
  GError *err = NULL;
  const ArPipeline *pl = ar_pipeline_get (dev, shader, spec, n_spec, &err);
  if (!pl) {
    ar_cmd_fail (cmd, err);
    return;
  }
  VkDescriptorSet set = alloc_set (cmd);
  if (!set)
    return;

  enum { N = AR_MAX_BINDINGS + AR_MAX_TEXEL_BINDINGS };
  VkDescriptorBufferInfo infos[N];
  VkBufferView views[N];
  VkWriteDescriptorSet writes[N];
  Span spans[N];
  gboolean is_write[N];
  for (guint i = 0; i < n_bindings; i++) {
    const ArBuffer *b = bindings[i].buf ? bindings[i].buf : dev->dummy;
    gboolean texel = i >= AR_TEXEL_BINDING;
    if (texel) {
      if (bindings[i].write || !(views[i] = ar_buffer_texel_view (b, bindings[i].texel_f16, &err))) {
        if (!err)
          err = g_error_new (AR_ERROR, AR_ERROR_INVALID, "%s: texel binding %u is written",
              shader->name, i);
        ar_cmd_fail (cmd, err);
        return;
      }
    }
    infos[i] = (VkDescriptorBufferInfo) { b->vk_buffer, b->offset, b->size };
    writes[i] = (VkWriteDescriptorSet) {
      .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
      .dstSet = set,
      .dstBinding = i,
      .descriptorCount = 1,
      .descriptorType = texel ? VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
          : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
      .pBufferInfo = texel ? NULL : &infos[i],
      .pTexelBufferView = texel ? &views[i] : NULL,
    };
    spans[i] = span_of (b, 0, b->size);
    /* The dummy stands in for absent tensors and is never really written. */
    is_write[i] = bindings[i].write && bindings[i].buf;
  }
  vkUpdateDescriptorSets (dev->device, n_bindings, writes, 0, NULL);
  track (cmd, spans, is_write, n_bindings);

  vkCmdBindPipeline (cmd->cb, VK_PIPELINE_BIND_POINT_COMPUTE, pl->pipeline);
  VkPipelineLayout layout = ar_pipeline_cache_layout (dev->pipelines);
  vkCmdBindDescriptorSets (cmd->cb, VK_PIPELINE_BIND_POINT_COMPUTE, layout, 0, 1, &set, 0, NULL);
  if (push_size)
    vkCmdPushConstants (cmd->cb, layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_size, push);
  vkCmdDispatch (cmd->cb, gx, gy, gz);
  cmd->n_dispatches++;
  mark_timestamp (cmd, pl->label);
}

void
ar_cmd_copy (ArCmd *cmd, const ArBuffer *src, gsize src_offset, ArBuffer *dst, gsize dst_offset,
    gsize size)
{
  if (!check_recording (cmd))
    return;
  if (src_offset + size > src->size || dst_offset + size > dst->size) {
    ar_cmd_fail_invalid (cmd, "copy of %" G_GSIZE_FORMAT " bytes is out of bounds", size);
    return;
  }
  if (size == 0)
    return;
  Span spans[2] = { span_of (src, src_offset, size), span_of (dst, dst_offset, size) };
  gboolean w[2] = { FALSE, TRUE };
  track (cmd, spans, w, 2);
  VkBufferCopy region = { src->offset + src_offset, dst->offset + dst_offset, size };
  vkCmdCopyBuffer (cmd->cb, src->vk_buffer, dst->vk_buffer, 1, &region);
  mark_timestamp (cmd, "copy");
}

void
ar_cmd_zero (ArCmd *cmd, ArBuffer *dst)
{
  if (!check_recording (cmd))
    return;
  Span s = span_of (dst, 0, dst->size);
  gboolean w = TRUE;
  track (cmd, &s, &w, 1);
  vkCmdFillBuffer (cmd->cb, dst->vk_buffer, dst->offset, dst->size, 0);
  mark_timestamp (cmd, "zero");
}

static gboolean
take_error (ArCmd *cmd, GError **error)
{
  if (!cmd->error)
    return TRUE;
  g_propagate_error (error, g_error_copy (cmd->error));
  return FALSE;
}

gboolean
ar_cmd_submit (ArCmd *cmd, GError **error)
{
  if (!take_error (cmd, error))
    return FALSE;
  if (cmd->recording) {
    /* Make every write visible to the host that reads results after the fence. */
    full_barrier (cmd, VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
    cmd->n_barriers--;   /* not a dependency between ops */
    if (!ar_vk_check (vkEndCommandBuffer (cmd->cb), "vkEndCommandBuffer", error))
      return FALSE;
    cmd->recording = FALSE;
    cmd->ended = TRUE;
  }
  if (!cmd->ended) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "ar_cmd: nothing recorded to submit");
    return FALSE;
  }
  if (!wait_in_flight (cmd, error))
    return FALSE;
  vkResetFences (cmd->dev->device, 1, &cmd->fence);
  VkSubmitInfo si = { .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cmd->cb };
  g_mutex_lock (&cmd->dev->queue_lock);
  VkResult res = vkQueueSubmit (cmd->dev->queue, 1, &si, cmd->fence);
  g_mutex_unlock (&cmd->dev->queue_lock);
  if (!ar_vk_check (res, "vkQueueSubmit", error))
    return FALSE;
  cmd->in_flight = TRUE;
  return TRUE;
}

static void
read_timestamps (ArCmd *cmd)
{
  guint n = MIN (cmd->n_queries, cmd->query_capacity);
  cmd->last_gpu_us = -1;
  if (!cmd->timing || n < 2)
    return;
  g_autofree guint64 *ts = g_new0 (guint64, n);
  if (vkGetQueryPoolResults (cmd->dev->device, cmd->queries, 0, n, n * sizeof (guint64), ts,
          sizeof (guint64), VK_QUERY_RESULT_64_BIT) != VK_SUCCESS)
    return;
  double period_us = cmd->dev->props.limits.timestampPeriod / 1000.0;
  cmd->last_gpu_us = (ts[n - 1] - ts[0]) * period_us;
  if (!cmd->dev->profile)
    return;
  /* Aggregate by label, in order of first appearance. */
  g_autoptr (GHashTable) index = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) labels = g_ptr_array_new ();
  g_autoptr (GArray) total = g_array_new (FALSE, TRUE, sizeof (double));
  g_autoptr (GArray) count = g_array_new (FALSE, TRUE, sizeof (guint));
  for (guint i = 1; i < n; i++) {
    const char *label = cmd->query_labels->pdata[i];
    gpointer idx;
    if (!g_hash_table_lookup_extended (index, label, NULL, &idx)) {
      idx = GUINT_TO_POINTER (labels->len);
      g_hash_table_insert (index, (gpointer) label, idx);
      g_ptr_array_add (labels, (gpointer) label);
      g_array_set_size (total, labels->len);
      g_array_set_size (count, labels->len);
    }
    g_array_index (total, double, GPOINTER_TO_UINT (idx)) += (ts[i] - ts[i - 1]) * period_us;
    g_array_index (count, guint, GPOINTER_TO_UINT (idx))++;
  }
  fprintf (stderr, "[profile] %u dispatches, %u barriers, %.1f us on the GPU\n",
      cmd->n_dispatches, cmd->n_barriers, cmd->last_gpu_us);
  if (cmd->n_queries > n)
    fprintf (stderr, "[profile]   (only the first %u dispatches timed; the next recording on "
        "this command buffer times all)\n", n - 1);
  for (guint i = 0; i < labels->len; i++)
    fprintf (stderr, "[profile]   %-48s x%-4u %10.1f us\n", (const char *) labels->pdata[i],
        g_array_index (count, guint, i), g_array_index (total, double, i));
}

gboolean
ar_cmd_wait (ArCmd *cmd, GError **error)
{
  if (!cmd->in_flight)
    return take_error (cmd, error);
  if (!wait_in_flight (cmd, error))
    return FALSE;
  read_timestamps (cmd);
  return TRUE;
}

gboolean
ar_cmd_run (ArCmd *cmd, GError **error)
{
  return ar_cmd_submit (cmd, error) && ar_cmd_wait (cmd, error);
}

double
ar_cmd_gpu_time_us (ArCmd *cmd)
{
  return cmd->last_gpu_us;
}

guint
ar_cmd_dispatch_count (ArCmd *cmd)
{
  return cmd->n_dispatches;
}

guint
ar_cmd_barrier_count (ArCmd *cmd)
{
  return cmd->n_barriers;
}

void
ar_cmd_groups_1d (ArCmd *cmd, guint64 n_groups, guint32 *gx, guint32 *gy)
{
  guint32 max_x = MIN (cmd->dev->props.limits.maxComputeWorkGroupCount[0], 65535u);
  if (n_groups <= max_x) {
    *gx = (guint32) MAX (n_groups, 1);
    *gy = 1;
  } else {
    *gx = max_x;
    *gy = ar_div_up (n_groups, max_x);
  }
}

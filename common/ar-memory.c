/* Block sub-allocator. Each block is one VkDeviceMemory with one VkBuffer over all of it, so a
 * tensor is (buffer, offset, size) and we never create a VkDeviceMemory per tensor. */
#include "ar-memory.h"

#include <string.h>

#define AR_BLOCK_SIZE (64u << 20)

typedef struct {
  VkDeviceSize offset, size;
} Range;

struct _ArBlock {
  ArMemKind kind;
  VkDeviceMemory memory;
  VkBuffer buffer;
  VkDeviceSize size;
  guint8 *mapped;
  GArray *free_ranges;   /* Range, sorted by offset, coalesced */
  VkDeviceSize used;
};

struct _ArAllocator {
  ArDevice *dev;         /* not owned: the device owns the allocator */
  GMutex lock;
  GPtrArray *blocks;
  VkDeviceSize alignment;
  guint64 current, peak;
  guint64 dev_bytes, dev_peak;   /* device-local bytes in live buffers (padded) */
};

ArAllocator *
ar_allocator_new (ArDevice *dev)
{
  ArAllocator *a = g_new0 (ArAllocator, 1);
  a->dev = dev;
  g_mutex_init (&a->lock);
  a->blocks = g_ptr_array_new ();
  /* 16 bytes at least so that vec4 loads stay aligned. */
  a->alignment = MAX (dev->props.limits.minStorageBufferOffsetAlignment, 16);
  return a;
}

static void
block_destroy (ArDevice *dev, ArBlock *b)
{
  if (b->buffer)
    vkDestroyBuffer (dev->device, b->buffer, NULL);
  if (b->memory)
    vkFreeMemory (dev->device, b->memory, NULL);
  if (b->free_ranges)
    g_array_unref (b->free_ranges);
  g_free (b);
}

void
ar_allocator_free (ArAllocator *a)
{
  for (guint i = 0; i < a->blocks->len; i++)
    block_destroy (a->dev, a->blocks->pdata[i]);
  g_ptr_array_unref (a->blocks);
  g_mutex_clear (&a->lock);
  g_free (a);
}

static int
find_memory_type (ArDevice *dev, guint32 type_bits, VkMemoryPropertyFlags want,
    VkMemoryPropertyFlags prefer)
{
  const VkPhysicalDeviceMemoryProperties *mp = &dev->mem_props;
  int fallback = -1;
  for (guint32 i = 0; i < mp->memoryTypeCount; i++) {
    VkMemoryPropertyFlags f = mp->memoryTypes[i].propertyFlags;
    if (!(type_bits & (1u << i)) || (f & want) != want)
      continue;
    if ((f & prefer) == prefer)
      return i;
    if (fallback < 0)
      fallback = i;
  }
  return fallback;
}

static ArBlock *
block_new (ArDevice *dev, ArMemKind kind, VkDeviceSize size, GError **error)
{
  ArBlock *b = g_new0 (ArBlock, 1);
  b->kind = kind;
  b->size = size;
  VkBufferCreateInfo bci = {
    .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
    .size = size,
    .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT
        | VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT,
    .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
  };
  if (!ar_vk_check (vkCreateBuffer (dev->device, &bci, NULL, &b->buffer), "vkCreateBuffer", error))
    goto fail;
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements (dev->device, b->buffer, &req);

  int type;
  if (kind == AR_MEM_DEVICE) {
    /* Device-local; host-visible too when the device offers it (UMA, lavapipe): then
     * uploads are a memcpy. */
    type = find_memory_type (dev, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    if (type < 0)
      type = find_memory_type (dev, req.memoryTypeBits, 0, 0);
  } else {
    type = find_memory_type (dev, req.memoryTypeBits,
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
        VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
  }
  if (type < 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_OUT_OF_MEMORY, "no suitable Vulkan memory type");
    goto fail;
  }
  VkMemoryAllocateInfo mai = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
    .allocationSize = req.size,
    .memoryTypeIndex = type,
  };
  if (!ar_vk_check (vkAllocateMemory (dev->device, &mai, NULL, &b->memory), "vkAllocateMemory", error))
    goto fail;
  if (!ar_vk_check (vkBindBufferMemory (dev->device, b->buffer, b->memory, 0), "vkBindBufferMemory", error))
    goto fail;
  VkMemoryPropertyFlags flags = dev->mem_props.memoryTypes[type].propertyFlags;
  if ((flags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (flags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)) {
    void *p;
    if (!ar_vk_check (vkMapMemory (dev->device, b->memory, 0, VK_WHOLE_SIZE, 0, &p), "vkMapMemory", error))
      goto fail;
    b->mapped = p;
  }
  b->free_ranges = g_array_new (FALSE, FALSE, sizeof (Range));
  Range all = { 0, size };
  g_array_append_val (b->free_ranges, all);
  return b;
fail:
  block_destroy (dev, b);
  return NULL;
}

static gboolean
block_take (ArBlock *b, VkDeviceSize size, VkDeviceSize align, VkDeviceSize *offset)
{
  for (guint i = 0; i < b->free_ranges->len; i++) {
    Range *r = &g_array_index (b->free_ranges, Range, i);
    VkDeviceSize start = (r->offset + align - 1) / align * align;
    if (start + size > r->offset + r->size)
      continue;
    VkDeviceSize end = start + size, r_end = r->offset + r->size;
    Range before = { r->offset, start - r->offset }, after = { end, r_end - end };
    g_array_remove_index (b->free_ranges, i);
    if (after.size)
      g_array_insert_val (b->free_ranges, i, after);
    if (before.size)
      g_array_insert_val (b->free_ranges, i, before);
    *offset = start;
    return TRUE;
  }
  return FALSE;
}

static void
block_give_back (ArBlock *b, VkDeviceSize offset, VkDeviceSize size)
{
  guint i = 0;
  while (i < b->free_ranges->len && g_array_index (b->free_ranges, Range, i).offset < offset)
    i++;
  Range r = { offset, size };
  g_array_insert_val (b->free_ranges, i, r);
  /* Coalesce with the next, then with the previous range. */
  if (i + 1 < b->free_ranges->len) {
    Range *cur = &g_array_index (b->free_ranges, Range, i), *next = cur + 1;
    if (cur->offset + cur->size == next->offset) {
      cur->size += next->size;
      g_array_remove_index (b->free_ranges, i + 1);
    }
  }
  if (i > 0) {
    Range *prev = &g_array_index (b->free_ranges, Range, i - 1), *cur = prev + 1;
    if (prev->offset + prev->size == cur->offset) {
      prev->size += cur->size;
      g_array_remove_index (b->free_ranges, i);
    }
  }
}

ArBuffer *
ar_buffer_new (ArDevice *dev, gsize size, ArMemKind kind, GError **error)
{
  ArAllocator *a = dev->allocator;
  VkDeviceSize max_range = dev->props.limits.maxStorageBufferRange;
  if (size == 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "cannot allocate an empty buffer");
    return NULL;
  }
  if (size > max_range) {
    g_set_error (error, AR_ERROR, AR_ERROR_OUT_OF_MEMORY,
        "a buffer of %" G_GSIZE_FORMAT " bytes exceeds the device's maxStorageBufferRange (%"
        G_GUINT64_FORMAT " bytes)", size, (guint64) max_range);
    return NULL;
  }
  /* Round sizes up so that shaders may read whole vec4s at the end of a tensor. */
  VkDeviceSize padded = (size + 15) / 16 * 16;

  g_mutex_lock (&a->lock);
  ArBlock *block = NULL;
  VkDeviceSize offset = 0;
  for (guint i = 0; i < a->blocks->len && !block; i++) {
    ArBlock *b = a->blocks->pdata[i];
    if (b->kind == kind && block_take (b, padded, a->alignment, &offset))
      block = b;
  }
  if (!block) {
    VkDeviceSize bsize = MIN (MAX (padded, AR_BLOCK_SIZE), max_range);
    bsize = MAX (bsize, padded);
    block = block_new (dev, kind, bsize, error);
    if (!block) {
      g_mutex_unlock (&a->lock);
      return NULL;
    }
    g_ptr_array_add (a->blocks, block);
    a->current += bsize;
    a->peak = MAX (a->peak, a->current);
    block_take (block, padded, a->alignment, &offset);
  }
  block->used += padded;
  if (kind == AR_MEM_DEVICE) {
    a->dev_bytes += padded;
    a->dev_peak = MAX (a->dev_peak, a->dev_bytes);
  }
  g_mutex_unlock (&a->lock);

  ArBuffer *buf = g_new0 (ArBuffer, 1);
  buf->dev = dev;
  buf->block = block;
  buf->vk_buffer = block->buffer;
  buf->offset = offset;
  buf->size = padded;
  buf->mapped = block->mapped ? block->mapped + offset : NULL;
  return buf;
}

ArBuffer *
ar_buffer_view_new (ArBuffer *parent, gsize offset, gsize size, GError **error)
{
  VkDeviceSize align = MAX (parent->dev->props.limits.minStorageBufferOffsetAlignment, 16);
  if (size == 0 || offset % align || offset + size > parent->size) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "a view of %" G_GSIZE_FORMAT " bytes at %"
        G_GSIZE_FORMAT " does not fit a %" G_GUINT64_FORMAT "-byte buffer aligned to %"
        G_GUINT64_FORMAT, size, offset, (guint64) parent->size, (guint64) align);
    return NULL;
  }
  ArBuffer *buf = g_new0 (ArBuffer, 1);
  buf->dev = parent->dev;
  buf->vk_buffer = parent->vk_buffer;
  buf->offset = parent->offset + offset;
  buf->size = MIN ((size + 15) / 16 * 16, parent->size - offset);
  buf->mapped = parent->mapped ? parent->mapped + offset : NULL;
  return buf;
}

void
ar_buffer_free (ArBuffer *buf)
{
  if (!buf)
    return;
  for (int i = 0; i < 2; i++)
    if (buf->texel_view[i])
      vkDestroyBufferView (buf->dev->device, buf->texel_view[i], NULL);
  if (!buf->block) {   /* a view */
    g_free (buf);
    return;
  }
  ArAllocator *a = buf->dev->allocator;
  g_mutex_lock (&a->lock);
  ArBlock *b = buf->block;
  block_give_back (b, buf->offset, buf->size);
  b->used -= buf->size;
  if (b->kind == AR_MEM_DEVICE)
    a->dev_bytes -= buf->size;
  /* Return empty blocks, but keep one of each kind for reuse. */
  if (b->used == 0) {
    guint same_kind = 0;
    for (guint i = 0; i < a->blocks->len; i++)
      same_kind += ((ArBlock *) a->blocks->pdata[i])->kind == b->kind;
    if (same_kind > 1) {
      g_ptr_array_remove (a->blocks, b);
      a->current -= b->size;
      block_destroy (buf->dev, b);
    }
  }
  g_mutex_unlock (&a->lock);
  g_free (buf);
}

void
ar_device_memory_usage (ArDevice *dev, guint64 *current, guint64 *peak)
{
  ArAllocator *a = dev->allocator;
  g_mutex_lock (&a->lock);
  if (current)
    *current = a->current;
  if (peak)
    *peak = a->peak;
  g_mutex_unlock (&a->lock);
}

void
ar_device_memory_buffers (ArDevice *dev, guint64 *current, guint64 *peak)
{
  ArAllocator *a = dev->allocator;
  g_mutex_lock (&a->lock);
  if (current)
    *current = a->dev_bytes;
  if (peak)
    *peak = a->dev_peak;
  g_mutex_unlock (&a->lock);
}

/* Copies between a buffer and a temporary host buffer on the device's transfer pool. */
static gboolean
staged_copy (ArBuffer *buf, gsize offset, void *data, gsize size, gboolean to_device, GError **error)
{
  ArDevice *dev = buf->dev;
  g_autoptr (ArBuffer) staging = ar_buffer_new (dev, size, AR_MEM_HOST, error);
  if (!staging)
    return FALSE;
  if (to_device)
    memcpy (staging->mapped, data, size);

  gboolean ok = FALSE;
  VkCommandBuffer cb = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  g_mutex_lock (&dev->queue_lock);
  VkCommandBufferAllocateInfo cai = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
    .commandPool = dev->transfer_pool,
    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
    .commandBufferCount = 1,
  };
  VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
  if (!ar_vk_check (vkAllocateCommandBuffers (dev->device, &cai, &cb), "vkAllocateCommandBuffers", error)
      || !ar_vk_check (vkCreateFence (dev->device, &fci, NULL, &fence), "vkCreateFence", error))
    goto out;
  VkCommandBufferBeginInfo bi = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
    .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
  };
  vkBeginCommandBuffer (cb, &bi);
  VkBufferCopy region = {
    .srcOffset = to_device ? staging->offset : buf->offset + offset,
    .dstOffset = to_device ? buf->offset + offset : staging->offset,
    .size = size,
  };
  vkCmdCopyBuffer (cb, to_device ? staging->vk_buffer : buf->vk_buffer,
      to_device ? buf->vk_buffer : staging->vk_buffer, 1, &region);
  vkEndCommandBuffer (cb);
  VkSubmitInfo si = { .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cb };
  if (!ar_vk_check (vkQueueSubmit (dev->queue, 1, &si, fence), "vkQueueSubmit", error)
      || !ar_vk_check (vkWaitForFences (dev->device, 1, &fence, VK_TRUE, UINT64_MAX), "vkWaitForFences", error))
    goto out;
  if (!to_device)
    memcpy (data, staging->mapped, size);
  ok = TRUE;
out:
  if (fence)
    vkDestroyFence (dev->device, fence, NULL);
  if (cb)
    vkFreeCommandBuffers (dev->device, dev->transfer_pool, 1, &cb);
  g_mutex_unlock (&dev->queue_lock);
  return ok;
}

static gboolean
check_range (ArBuffer *buf, gsize offset, gsize size, GError **error)
{
  if (offset + size < offset || offset + size > buf->size) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "copy of %" G_GSIZE_FORMAT " bytes at %" G_GSIZE_FORMAT " is outside a buffer of %"
        G_GUINT64_FORMAT " bytes", size, offset, (guint64) buf->size);
    return FALSE;
  }
  return TRUE;
}

gboolean
ar_buffer_write (ArBuffer *buf, gsize offset, const void *data, gsize size, GError **error)
{
  if (!check_range (buf, offset, size, error))
    return FALSE;
  if (buf->mapped) {
    memcpy (buf->mapped + offset, data, size);
    return TRUE;
  }
  return staged_copy (buf, offset, (void *) data, size, TRUE, error);
}

gboolean
ar_buffer_read (ArBuffer *buf, gsize offset, void *data, gsize size, GError **error)
{
  if (!check_range (buf, offset, size, error))
    return FALSE;
  if (buf->mapped) {
    memcpy (data, buf->mapped + offset, size);
    return TRUE;
  }
  return staged_copy (buf, offset, data, size, FALSE, error);
}

static VkBufferView make_texel_view (ArBuffer *b, gboolean f16, GError **error);

gboolean
ar_buffer_texel_viewable (const ArBuffer *buf, gboolean f16)
{
  if (!buf)
    return FALSE;
  const VkPhysicalDeviceLimits *lim = &buf->dev->props.limits;
  VkDeviceSize texel = f16 ? 8 : 16;
  return buf->size >= texel && buf->size / texel <= lim->maxTexelBufferElements
      && buf->offset % MAX (lim->minTexelBufferOffsetAlignment, 1) == 0;
}

VkBufferView
ar_buffer_texel_view (const ArBuffer *buf, gboolean f16, GError **error)
{
  ArBuffer *b = (ArBuffer *) buf;
  int i = f16 ? 1 : 0;
  /* Model weights are shared by recordings on several threads. */
  ArAllocator *a = b->dev->allocator;
  g_mutex_lock (&a->lock);
  VkBufferView view = b->texel_view[i] ? b->texel_view[i] : make_texel_view (b, f16, error);
  g_mutex_unlock (&a->lock);
  return view;
}

static VkBufferView
make_texel_view (ArBuffer *b, gboolean f16, GError **error)
{
  int i = f16 ? 1 : 0;
  VkDeviceSize texel = f16 ? 8 : 16;
  VkDeviceSize range = b->size / texel * texel;
  if (!ar_buffer_texel_viewable (b, f16)) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "a buffer of %" G_GUINT64_FORMAT
        " bytes at offset %" G_GUINT64_FORMAT " cannot be viewed as a texel buffer",
        (guint64) b->size, (guint64) b->offset);
    return VK_NULL_HANDLE;
  }
  VkBufferViewCreateInfo ci = {
    .sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
    .buffer = b->vk_buffer,
    .format = f16 ? VK_FORMAT_R16G16B16A16_SFLOAT : VK_FORMAT_R32G32B32A32_SFLOAT,
    .offset = b->offset,
    .range = range,
  };
  if (!ar_vk_check (vkCreateBufferView (b->dev->device, &ci, NULL, &b->texel_view[i]),
          "vkCreateBufferView", error))
    return VK_NULL_HANDLE;
  return b->texel_view[i];
}

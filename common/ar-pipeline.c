#include "ar-pipeline.h"

#include <string.h>

struct _ArPipelineCache {
  ArDevice *dev;   /* not owned */
  GMutex lock;
  GHashTable *table;   /* key string -> ArPipeline */
  VkDescriptorSetLayout set_layout;
  VkPipelineLayout layout;
};

static void
pipeline_free (gpointer p)
{
  ArPipeline *pl = p;
  /* The device is destroyed after the cache; pipelines go first. */
  g_free (pl->label);
  g_free (pl);
}

ArPipelineCache *
ar_pipeline_cache_new (ArDevice *dev, GError **error)
{
  ArPipelineCache *c = g_new0 (ArPipelineCache, 1);
  c->dev = dev;
  g_mutex_init (&c->lock);
  c->table = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, pipeline_free);

  VkDescriptorSetLayoutBinding b[AR_MAX_BINDINGS + AR_MAX_TEXEL_BINDINGS];
  for (guint i = 0; i < G_N_ELEMENTS (b); i++)
    b[i] = (VkDescriptorSetLayoutBinding) {
      .binding = i,
      .descriptorType = i < AR_TEXEL_BINDING ? VK_DESCRIPTOR_TYPE_STORAGE_BUFFER
          : VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER,
      .descriptorCount = 1,
      .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
    };
  VkDescriptorSetLayoutCreateInfo dci = {
    .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
    .bindingCount = G_N_ELEMENTS (b),
    .pBindings = b,
  };
  VkPushConstantRange pcr = { VK_SHADER_STAGE_COMPUTE_BIT, 0, AR_MAX_PUSH };
  if (!ar_vk_check (vkCreateDescriptorSetLayout (dev->device, &dci, NULL, &c->set_layout),
          "vkCreateDescriptorSetLayout", error))
    goto fail;
  VkPipelineLayoutCreateInfo lci = {
    .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
    .setLayoutCount = 1,
    .pSetLayouts = &c->set_layout,
    .pushConstantRangeCount = 1,
    .pPushConstantRanges = &pcr,
  };
  if (!ar_vk_check (vkCreatePipelineLayout (dev->device, &lci, NULL, &c->layout),
          "vkCreatePipelineLayout", error))
    goto fail;
  return c;
fail:
  ar_pipeline_cache_free (c);
  return NULL;
}

void
ar_pipeline_cache_free (ArPipelineCache *c)
{
  VkDevice d = c->dev->device;
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, c->table);
  while (g_hash_table_iter_next (&it, NULL, &v))
    vkDestroyPipeline (d, ((ArPipeline *) v)->pipeline, NULL);
  g_hash_table_unref (c->table);
  if (c->layout)
    vkDestroyPipelineLayout (d, c->layout, NULL);
  if (c->set_layout)
    vkDestroyDescriptorSetLayout (d, c->set_layout, NULL);
  g_mutex_clear (&c->lock);
  g_free (c);
}

VkDescriptorSetLayout
ar_pipeline_cache_set_layout (ArPipelineCache *c)
{
  return c->set_layout;
}

VkPipelineLayout
ar_pipeline_cache_layout (ArPipelineCache *c)
{
  return c->layout;
}

static ArPipeline *
pipeline_create (ArPipelineCache *c, const ArShader *shader, const guint32 *spec, guint n_spec,
    const char *label, GError **error)
{
  VkDevice d = c->dev->device;
  VkShaderModuleCreateInfo smci = {
    .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
    .codeSize = shader->size,
    .pCode = shader->code,
  };
  VkShaderModule module;
  if (!ar_vk_check (vkCreateShaderModule (d, &smci, NULL, &module), "vkCreateShaderModule", error))
    return NULL;
  VkSpecializationMapEntry entries[AR_MAX_SPEC];
  for (guint i = 0; i < n_spec; i++)
    entries[i] = (VkSpecializationMapEntry) { i, i * sizeof (guint32), sizeof (guint32) };
  VkSpecializationInfo si = {
    .mapEntryCount = n_spec,
    .pMapEntries = entries,
    .dataSize = n_spec * sizeof (guint32),
    .pData = spec,
  };
  VkComputePipelineCreateInfo pci = {
    .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
    .stage = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
      .stage = VK_SHADER_STAGE_COMPUTE_BIT,
      .module = module,
      .pName = "main",
      .pSpecializationInfo = n_spec ? &si : NULL,
    },
    .layout = c->layout,
  };
  VkPipeline pipeline;
  VkResult res = vkCreateComputePipelines (d, VK_NULL_HANDLE, 1, &pci, NULL, &pipeline);
  vkDestroyShaderModule (d, module, NULL);
  if (!ar_vk_check (res, "vkCreateComputePipelines", error)) {
    g_prefix_error (error, "shader %s: ", label);
    return NULL;
  }
  ArPipeline *pl = g_new0 (ArPipeline, 1);
  pl->pipeline = pipeline;
  pl->shader = shader;
  pl->label = g_strdup (label);
  return pl;
}

const ArPipeline *
ar_pipeline_get (ArDevice *dev, const ArShader *shader, const guint32 *spec, guint n_spec,
    GError **error)
{
  ArPipelineCache *c = dev->pipelines;
  g_return_val_if_fail (n_spec <= AR_MAX_SPEC, NULL);
  GString *key = g_string_new (shader->name);
  for (guint i = 0; i < n_spec; i++)
    g_string_append_printf (key, "%c%u", i ? ',' : '[', spec[i]);
  if (n_spec)
    g_string_append_c (key, ']');

  g_mutex_lock (&c->lock);
  ArPipeline *pl = g_hash_table_lookup (c->table, key->str);
  if (!pl) {
    pl = pipeline_create (c, shader, spec, n_spec, key->str, error);
    if (pl)
      g_hash_table_insert (c->table, g_strdup (key->str), pl);
  }
  g_mutex_unlock (&c->lock);
  g_string_free (key, TRUE);
  return pl;
}

/* Vulkan instance and device creation. */
#include "ar-device.h"
#include "ar-memory.h"
#include "ar-pipeline.h"
#include "ar-shader-table.h"

#include <stdio.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

G_DEFINE_QUARK (ar-error-quark, ar_error)

/* Denormal fp32 values in shaders on CPU devices. Lavapipe (Mesa 22.3) neither flushes them
 * nor offers VK_KHR_shader_float_controls' flush-to-zero, and on x86 each SSE/AVX instruction
 * that meets one takes a microcode assist: a 64->64 3x3 convolution at 64x64 took 0.49-0.55 s
 * of CPU time on denormal inputs (or normal inputs whose products are denormal) against 12 ms
 * on normal ones. Softmax tails (exp below -87), SiLU and GELU far into the negatives make
 * such values. Lavapipe's queue and worker threads start in vkCreateDevice and take the
 * creating thread's MXCSR: so for CPU devices that call runs with flush-to-zero and
 * denormals-are-zero, restored after (Vulkan lets fp32 denormals flush where a shader does
 * not ask to preserve them). GPU drivers' threads are left alone. Returns the MXCSR to
 * restore (0 off x86). */
static guint
flush_denormals_begin (void)
{
#if defined(__x86_64__) || defined(__i386__)
  guint old = _mm_getcsr ();
  _mm_setcsr (old | 0x8000 /* FTZ */ | 0x0040 /* DAZ */);
  return old;
#else
  return 0;
#endif
}

static void
flush_denormals_end (guint old)
{
#if defined(__x86_64__) || defined(__i386__)
  _mm_setcsr (old);
#else
  (void) old;
#endif
}

static const char *
vk_result_name (VkResult res)
{
  switch (res) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    default: return "VkResult";
  }
}

gboolean
ar_vk_check (VkResult res, const char *what, GError **error)
{
  if (res == VK_SUCCESS)
    return TRUE;
  int code = (res == VK_ERROR_OUT_OF_DEVICE_MEMORY || res == VK_ERROR_OUT_OF_HOST_MEMORY)
      ? AR_ERROR_OUT_OF_MEMORY : AR_ERROR_VULKAN;
  g_set_error (error, AR_ERROR, code, "%s failed: %s (%d)", what, vk_result_name (res), res);
  return FALSE;
}

static VkBool32 VKAPI_PTR
debug_callback (VkDebugUtilsMessageSeverityFlagBitsEXT severity,
    VkDebugUtilsMessageTypeFlagsEXT types, const VkDebugUtilsMessengerCallbackDataEXT *data,
    void *user)
{
  ArDevice *dev = user;
  if (severity < VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT)
    return VK_FALSE;
  g_atomic_int_inc (&dev->validation_messages);
  fprintf (stderr, "[vulkan validation] %s\n", data->pMessage ? data->pMessage : "(no text)");
  return VK_FALSE;
}

static gboolean
layer_available (const char *name)
{
  guint32 n = 0;
  vkEnumerateInstanceLayerProperties (&n, NULL);
  g_autofree VkLayerProperties *layers = g_new0 (VkLayerProperties, MAX (n, 1));
  vkEnumerateInstanceLayerProperties (&n, layers);
  for (guint32 i = 0; i < n; i++)
    if (strcmp (layers[i].layerName, name) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
env_flag (const char *name)
{
  const char *v = g_getenv (name);
  return v && *v && strcmp (v, "0") != 0;
}

static int
type_rank (VkPhysicalDeviceType t)
{
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
  }
}

static const char *
type_name (VkPhysicalDeviceType t)
{
  static const char *names[] = { "other", "integrated GPU", "discrete GPU", "virtual GPU", "CPU" };
  return (guint) t < G_N_ELEMENTS (names) ? names[t] : "unknown";
}

static gboolean
find_compute_queue (VkPhysicalDevice pd, guint32 *family, gboolean *timestamps)
{
  guint32 n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties (pd, &n, NULL);
  g_autofree VkQueueFamilyProperties *q = g_new0 (VkQueueFamilyProperties, MAX (n, 1));
  vkGetPhysicalDeviceQueueFamilyProperties (pd, &n, q);
  for (guint32 i = 0; i < n; i++) {
    if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
      *family = i;
      *timestamps = q[i].timestampValidBits > 0;
      return TRUE;
    }
  }
  return FALSE;
}

/* Picks the physical device: AR_VULKAN_DEVICE if set, else discrete > integrated > virtual > CPU. */
static gboolean
pick_physical_device (ArDevice *dev, GError **error)
{
  guint32 n = 0;
  VkResult res = vkEnumeratePhysicalDevices (dev->instance, &n, NULL);
  if (res != VK_SUCCESS || n == 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_NO_DEVICE,
        "no Vulkan device found (for a CPU device install mesa-vulkan-drivers)");
    return FALSE;
  }
  g_autofree VkPhysicalDevice *pds = g_new0 (VkPhysicalDevice, n);
  vkEnumeratePhysicalDevices (dev->instance, &n, pds);

  const char *want = g_getenv ("AR_VULKAN_DEVICE");
  gboolean want_index = want && *want && strspn (want, "0123456789") == strlen (want);
  g_autoptr (GString) seen = g_string_new (NULL);
  int best = -1, best_rank = G_MAXINT;

  for (guint32 i = 0; i < n; i++) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties (pds[i], &p);
    g_string_append_printf (seen, "%s[%u] %s (%s)", i ? ", " : "", i, p.deviceName,
        type_name (p.deviceType));
    guint32 fam;
    gboolean ts;
    if (p.apiVersion < VK_API_VERSION_1_2 || !find_compute_queue (pds[i], &fam, &ts))
      continue;
    if (want && *want) {
      g_autofree gchar *name_lc = g_ascii_strdown (p.deviceName, -1);
      g_autofree gchar *want_lc = g_ascii_strdown (want, -1);
      gboolean match = want_index ? (guint32) atoi (want) == i : strstr (name_lc, want_lc) != NULL;
      if (match) {
        best = i;
        break;
      }
      continue;
    }
    int rank = type_rank (p.deviceType);
    if (rank < best_rank) {
      best_rank = rank;
      best = i;
    }
  }
  if (best < 0) {
    if (want && *want)
      g_set_error (error, AR_ERROR, AR_ERROR_NO_DEVICE,
          "AR_VULKAN_DEVICE=%s matches no Vulkan 1.2 compute device; devices: %s", want, seen->str);
    else
      g_set_error (error, AR_ERROR, AR_ERROR_NO_DEVICE,
          "no Vulkan 1.2 device with a compute queue; devices: %s", seen->str);
    return FALSE;
  }
  dev->physical = pds[best];
  return TRUE;
}

static gboolean
has_device_extension (ArDevice *dev, const char *name)
{
  guint32 n = 0;
  if (vkEnumerateDeviceExtensionProperties (dev->physical, NULL, &n, NULL) != VK_SUCCESS)
    return FALSE;
  g_autofree VkExtensionProperties *exts = g_new0 (VkExtensionProperties, MAX (n, 1));
  if (vkEnumerateDeviceExtensionProperties (dev->physical, NULL, &n, exts) != VK_SUCCESS)
    return FALSE;
  for (guint i = 0; i < n; i++)
    if (strcmp (exts[i].extensionName, name) == 0)
      return TRUE;
  return FALSE;
}

/* The number of multiprocessors where the driver says (VK_NV_shader_sm_builtins; queried
 * only, not enabled), else 0: kernels that size their grid to the machine (the fused
 * one-token step) use it. */
static guint32
multiprocessor_count (ArDevice *dev)
{
  if (!has_device_extension (dev, VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME))
    return 0;
  VkPhysicalDeviceShaderSMBuiltinsPropertiesNV sm = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV,
  };
  VkPhysicalDeviceProperties2 p2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sm };
  vkGetPhysicalDeviceProperties2 (dev->physical, &p2);
  return sm.shaderSMCount;
}

/* Whether VK_NV_cooperative_matrix is there and offers the one shape the tiled matmul uses:
 * 16x16x16, A and B fp16, C and D fp32, subgroup scope. @prereq: the other features it needs. */
static gboolean
coopmat_usable (ArDevice *dev, gboolean prereq)
{
  if (!prereq || env_flag ("AR_VULKAN_NO_COOPMAT")
      || !has_device_extension (dev, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME))
    return FALSE;
  guint32 n = 0;
  VkPhysicalDeviceCooperativeMatrixFeaturesNV cmf = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
  };
  VkPhysicalDeviceFeatures2 f2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &cmf };
  vkGetPhysicalDeviceFeatures2 (dev->physical, &f2);
  PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV get_props =
      (PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV) vkGetInstanceProcAddr (dev->instance,
      "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV");
  VkPhysicalDeviceCooperativeMatrixPropertiesNV cmp = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_PROPERTIES_NV,
  };
  VkPhysicalDeviceProperties2 p2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &cmp };
  vkGetPhysicalDeviceProperties2 (dev->physical, &p2);
  if (!cmf.cooperativeMatrix || !get_props
      || !(cmp.cooperativeMatrixSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT))
    return FALSE;
  n = 0;
  if (get_props (dev->physical, &n, NULL) != VK_SUCCESS || n == 0)
    return FALSE;
  g_autofree VkCooperativeMatrixPropertiesNV *shapes = g_new0 (VkCooperativeMatrixPropertiesNV, n);
  for (guint i = 0; i < n; i++)
    shapes[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV;
  if (get_props (dev->physical, &n, shapes) != VK_SUCCESS)
    return FALSE;
  for (guint i = 0; i < n; i++) {
    const VkCooperativeMatrixPropertiesNV *c = &shapes[i];
    if (c->MSize == 16 && c->NSize == 16 && c->KSize == 16 && c->scope == VK_SCOPE_SUBGROUP_NV
        && c->AType == VK_COMPONENT_TYPE_FLOAT16_NV && c->BType == VK_COMPONENT_TYPE_FLOAT16_NV
        && c->CType == VK_COMPONENT_TYPE_FLOAT32_NV && c->DType == VK_COMPONENT_TYPE_FLOAT32_NV)
      return TRUE;
  }
  return FALSE;
}

/* AR_VULKAN_SKIP's shader names, comma-separated, each as the profile prints it or without
 * its "[...]" of specialisation constants (whose commas do not separate names); names that
 * match no shader are reported and left out. */
static gchar **
parse_skip (const char *list)
{
  GPtrArray *names = g_ptr_array_new ();
  for (const char *p = list; *p;) {
    const char *end = p;
    for (int depth = 0; *end && (*end != ',' || depth > 0); end++)
      depth += *end == '[' ? 1 : *end == ']' ? -1 : 0;
    gchar *name = g_strstrip (g_strndup (p, end - p));
    p = *end ? end + 1 : end;
    char *bracket = strchr (name, '[');
    if (bracket)
      *bracket = '\0';
    if (!*name) {
      g_free (name);
      continue;
    }
    gboolean known = FALSE;
    for (guint s = 0; ar_shader_all[s] && !known; s++)
      known = strcmp (ar_shader_all[s]->name, name) == 0;
    if (known) {
      g_ptr_array_add (names, name);
    } else {
      g_message ("AR_VULKAN_SKIP: no shader is called '%s' (names as AR_VULKAN_PROFILE prints "
          "them, e.g. norm_texel_f32)", name);
      g_free (name);
    }
  }
  g_ptr_array_add (names, NULL);
  gchar **out = (gchar **) g_ptr_array_free (names, FALSE);
  if (out[0]) {
    g_autofree gchar *joined = g_strjoinv (",", out);
    g_message ("AR_VULKAN_SKIP: the dispatches of %s are dropped (timing only: results are "
        "wrong)", joined);
  }
  return out;
}

ArDevice *
ar_device_new (GError **error)
{
  g_autoptr (ArDevice) dev = g_new0 (ArDevice, 1);
  dev->refcount = 1;
  g_mutex_init (&dev->queue_lock);
  dev->profile = env_flag ("AR_VULKAN_PROFILE");
  const char *avoid = g_getenv ("AR_VULKAN_AVOID");
  if (avoid && *avoid)
    dev->avoid = g_strsplit (avoid, ",", -1);
  const char *skip = g_getenv ("AR_VULKAN_SKIP");
  if (skip && *skip)
    dev->skip = parse_skip (skip);
  gboolean validate = env_flag ("AR_VULKAN_VALIDATE");

  const char *layers[1];
  const char *inst_exts[1];
  guint32 n_layers = 0, n_inst_exts = 0;
  if (validate) {
    if (!layer_available ("VK_LAYER_KHRONOS_validation")) {
      g_set_error (error, AR_ERROR, AR_ERROR_NO_DEVICE,
          "AR_VULKAN_VALIDATE=1 but VK_LAYER_KHRONOS_validation is not installed "
          "(install vulkan-validationlayers)");
      return NULL;
    }
    layers[n_layers++] = "VK_LAYER_KHRONOS_validation";
    inst_exts[n_inst_exts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
  }

  VkApplicationInfo app = {
    .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
    .pApplicationName = "arvideo",
    .apiVersion = VK_API_VERSION_1_2,
  };
  /* Synchronization validation checks the recorder's barrier placement too. */
  VkValidationFeatureEnableEXT enables[] = { VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT };
  VkValidationFeaturesEXT vfeatures = {
    .sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
    .enabledValidationFeatureCount = G_N_ELEMENTS (enables),
    .pEnabledValidationFeatures = enables,
  };
  VkDebugUtilsMessengerCreateInfoEXT mci = {
    .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
    .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT
        | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
    .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT
        | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT
        | VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
    .pfnUserCallback = debug_callback,
    .pUserData = dev,
    .pNext = &vfeatures,
  };
  VkInstanceCreateInfo ici = {
    .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
    .pNext = validate ? &mci : NULL,
    .pApplicationInfo = &app,
    .enabledLayerCount = n_layers,
    .ppEnabledLayerNames = layers,
    .enabledExtensionCount = n_inst_exts,
    .ppEnabledExtensionNames = inst_exts,
  };
  VkResult res = vkCreateInstance (&ici, NULL, &dev->instance);
  if (res == VK_ERROR_INCOMPATIBLE_DRIVER || res == VK_ERROR_INITIALIZATION_FAILED) {
    g_set_error (error, AR_ERROR, AR_ERROR_NO_DEVICE,
        "no Vulkan device found (for a CPU device install mesa-vulkan-drivers): %s",
        vk_result_name (res));
    return NULL;
  }
  if (!ar_vk_check (res, "vkCreateInstance", error))
    return NULL;

  if (validate) {
    PFN_vkCreateDebugUtilsMessengerEXT create = (PFN_vkCreateDebugUtilsMessengerEXT)
        vkGetInstanceProcAddr (dev->instance, "vkCreateDebugUtilsMessengerEXT");
    mci.pNext = NULL;
    if (!create || !ar_vk_check (create (dev->instance, &mci, NULL, &dev->messenger),
            "vkCreateDebugUtilsMessengerEXT", error))
      return NULL;
  }

  if (!pick_physical_device (dev, error))
    return NULL;
  vkGetPhysicalDeviceProperties (dev->physical, &dev->props);
  vkGetPhysicalDeviceMemoryProperties (dev->physical, &dev->mem_props);
  find_compute_queue (dev->physical, &dev->queue_family, &dev->caps.timestamps);
  /* AR_VULKAN_AS_GPU=1 (tests): a CPU device takes the GPU kernel choices, so that lavapipe
   * runs the GPU paths end to end. */
  dev->caps.is_cpu = dev->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU
      && !env_flag ("AR_VULKAN_AS_GPU");

  /* Query, then enable what is present of what we use. */
  VkPhysicalDeviceVulkan12Features f12 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES };
  VkPhysicalDeviceVulkan11Features f11 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, .pNext = &f12 };
  VkPhysicalDeviceFeatures2 f2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11 };
  vkGetPhysicalDeviceFeatures2 (dev->physical, &f2);

  VkPhysicalDeviceVulkan11Properties p11 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_PROPERTIES };
  VkPhysicalDeviceProperties2 p2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &p11 };
  vkGetPhysicalDeviceProperties2 (dev->physical, &p2);
  dev->caps.subgroup_size = p11.subgroupSize;
  dev->caps.subgroup_arith = (p11.subgroupSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT)
      && (p11.subgroupSupportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
  dev->caps.subgroup_ballot = (p11.subgroupSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT)
      && (p11.subgroupSupportedOperations & VK_SUBGROUP_FEATURE_BALLOT_BIT);
  dev->caps.subgroup_shuffle = (p11.subgroupSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT)
      && (p11.subgroupSupportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
  dev->caps.multiprocessors = dev->caps.is_cpu ? 0 : multiprocessor_count (dev);

  dev->caps.int64_atomics = f2.features.shaderInt64 && f12.shaderBufferInt64Atomics;
  VkPhysicalDeviceVulkan12Features e12 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
    .shaderFloat16 = f12.shaderFloat16,
    .shaderBufferInt64Atomics = dev->caps.int64_atomics,
  };
  VkPhysicalDeviceVulkan11Features e11 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
    .pNext = &e12,
    .storageBuffer16BitAccess = f11.storageBuffer16BitAccess,
  };
  VkPhysicalDeviceFeatures2 e2 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
    .pNext = &e11,
    .features = { .shaderInt16 = f2.features.shaderInt16,
      .shaderInt64 = dev->caps.int64_atomics },
  };
  dev->caps.fp16_storage = f11.storageBuffer16BitAccess;
  dev->caps.fp16_arith = f12.shaderFloat16;
  if (env_flag ("AR_VULKAN_NO_FP16"))
    dev->caps.fp16_storage = dev->caps.fp16_arith = FALSE;

  /* Cooperative matrices (NVIDIA tensor cores) for the tiled matmul, where the shape it uses is
   * offered. */
  VkPhysicalDeviceCooperativeMatrixFeaturesNV cm = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
    .cooperativeMatrix = VK_TRUE,
  };
  const char *dev_exts[2];
  guint n_dev_exts = 0;
  /* A device-scope clock, for the fused step's trace only. */
  VkPhysicalDeviceShaderClockFeaturesKHR clk = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CLOCK_FEATURES_KHR,
  };
  if (has_device_extension (dev, VK_KHR_SHADER_CLOCK_EXTENSION_NAME)) {
    VkPhysicalDeviceFeatures2 q = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &clk };
    vkGetPhysicalDeviceFeatures2 (dev->physical, &q);
    clk.pNext = NULL;
    clk.shaderSubgroupClock = VK_FALSE;
    if (clk.shaderDeviceClock) {
      dev->caps.device_clock = TRUE;
      dev_exts[n_dev_exts++] = VK_KHR_SHADER_CLOCK_EXTENSION_NAME;
      clk.pNext = e2.pNext;
      e2.pNext = &clk;
    }
  }
  /* The memory model must come with device scope: other shaders' barriers and atomics use
   * Device scope, invalid with vulkanMemoryModel alone. */
  if (coopmat_usable (dev, f12.vulkanMemoryModel && f12.vulkanMemoryModelDeviceScope && f12.shaderFloat16
          && f11.storageBuffer16BitAccess && p11.subgroupSize == 32)) {
    dev->caps.coopmat_nv = TRUE;
    dev_exts[n_dev_exts++] = VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
    e12.vulkanMemoryModel = VK_TRUE;
    e12.vulkanMemoryModelDeviceScope = VK_TRUE;
    cm.pNext = e2.pNext;
    e2.pNext = &cm;
  }

  float prio = 1.0f;
  VkDeviceQueueCreateInfo qci = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
    .queueFamilyIndex = dev->queue_family,
    .queueCount = 1,
    .pQueuePriorities = &prio,
  };
  VkDeviceCreateInfo dci = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
    .pNext = &e2,
    .queueCreateInfoCount = 1,
    .pQueueCreateInfos = &qci,
    .enabledExtensionCount = n_dev_exts,
    .ppEnabledExtensionNames = dev_exts,
  };
  /* Lavapipe starts its queue and worker threads here (see flush_denormals_begin). */
  guint mxcsr = dev->caps.is_cpu ? flush_denormals_begin () : 0;
  VkResult created = vkCreateDevice (dev->physical, &dci, NULL, &dev->device);
  if (dev->caps.is_cpu)
    flush_denormals_end (mxcsr);
  if (!ar_vk_check (created, "vkCreateDevice", error))
    return NULL;
  vkGetDeviceQueue (dev->device, dev->queue_family, 0, &dev->queue);

  VkCommandPoolCreateInfo pci = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
    .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT | VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
    .queueFamilyIndex = dev->queue_family,
  };
  if (!ar_vk_check (vkCreateCommandPool (dev->device, &pci, NULL, &dev->transfer_pool),
          "vkCreateCommandPool", error))
    return NULL;

  dev->pipelines = ar_pipeline_cache_new (dev, error);
  if (!dev->pipelines)
    return NULL;
  dev->allocator = ar_allocator_new (dev);
  dev->dummy = ar_buffer_new (dev, 256, AR_MEM_DEVICE, error);
  if (!dev->dummy)
    return NULL;
  return g_steal_pointer (&dev);
}

ArDevice *
ar_device_ref (ArDevice *dev)
{
  g_atomic_int_inc (&dev->refcount);
  return dev;
}

void
ar_device_unref (ArDevice *dev)
{
  if (!dev || !g_atomic_int_dec_and_test (&dev->refcount))
    return;
  if (dev->device)
    vkDeviceWaitIdle (dev->device);
  if (dev->dummy)
    ar_buffer_free (dev->dummy);
  if (dev->pipelines)
    ar_pipeline_cache_free (dev->pipelines);
  if (dev->allocator)
    ar_allocator_free (dev->allocator);
  if (dev->transfer_pool)
    vkDestroyCommandPool (dev->device, dev->transfer_pool, NULL);
  if (dev->device)
    vkDestroyDevice (dev->device, NULL);
  if (dev->messenger) {
    PFN_vkDestroyDebugUtilsMessengerEXT destroy = (PFN_vkDestroyDebugUtilsMessengerEXT)
        vkGetInstanceProcAddr (dev->instance, "vkDestroyDebugUtilsMessengerEXT");
    if (destroy)
      destroy (dev->instance, dev->messenger, NULL);
  }
  if (dev->instance)
    vkDestroyInstance (dev->instance, NULL);
  g_mutex_clear (&dev->queue_lock);
  g_strfreev (dev->avoid);
  g_strfreev (dev->skip);
  g_free (dev);
}

gboolean
ar_device_avoids (const ArDevice *dev, const char *kernel)
{
  return dev->avoid && g_strv_contains ((const gchar *const *) dev->avoid, kernel);
}

static GMutex default_lock;
static ArDevice *default_device;

ArDevice *
ar_device_get_default (GError **error)
{
  g_mutex_lock (&default_lock);
  if (!default_device)
    default_device = ar_device_new (error);
  ArDevice *dev = default_device ? ar_device_ref (default_device) : NULL;
  g_mutex_unlock (&default_lock);
  return dev;
}

guint
ar_device_validation_messages (ArDevice *dev)
{
  return (guint) g_atomic_int_get (&dev->validation_messages);
}

gchar *
ar_device_describe (ArDevice *dev)
{
  return g_strdup_printf ("%s (%s, Vulkan %u.%u), fp16 storage %s, fp16 arithmetic %s, "
      "subgroup %u%s, timestamps %s%s",
      dev->props.deviceName, type_name (dev->props.deviceType),
      VK_API_VERSION_MAJOR (dev->props.apiVersion), VK_API_VERSION_MINOR (dev->props.apiVersion),
      dev->caps.fp16_storage ? "yes" : "no", dev->caps.fp16_arith ? "yes" : "no",
      dev->caps.subgroup_size, dev->caps.subgroup_arith ? " with arithmetic" : "",
      dev->caps.timestamps ? "yes" : "no",
      dev->caps.coopmat_nv ? ", cooperative matrices (NV)" : "");
}

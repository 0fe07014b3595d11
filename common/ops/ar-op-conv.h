/* 2-D convolution (PyTorch nn.Conv2d semantics, groups = 1, dilation = 1). */
#pragma once

G_BEGIN_DECLS

/* Input [batch, in_channels, in_h, in_w], weight [out_channels, in_channels, kernel_h,
 * kernel_w], bias [out_channels] (optional), output [batch, out_channels, out_h, out_w] with
 * out_h = (in_h + pad_top + pad_bottom - kernel_h) / stride + 1 (likewise out_w).
 * Padding is zeros and may be asymmetric: taming-transformers' strided downsample is
 * pad_bottom = pad_right = 1, pad_top = pad_left = 0, stride 2, kernel 3. Kernel sizes 1..7
 * and strides 1..4 are supported. */
/* Kernel choice: AUTO takes, on GPUs, the implicit-GEMM tiles for 1x1 kernels above 256
 * output pixels (the split-channel kernel up to 256, from 16 input channels) and the patch
 * kernel otherwise from 256 output pixels (the direct kernel below, where AR_VULKAN_AVOID
 * names conv_patch or where the patch tile exceeds the device's limits; the
 * cooperative-matrix tiles only when asked for); on CPU devices the vec4 register-tiled
 * kernel where the shape allows it (stride 1 or 2, square kernel 1 or 3, padding below the
 * kernel size, in_channels, in_w and out_w multiples of 4; in its texel flavour, with
 * Winograd F(4,3) rows for 3x3 stride-1 outputs from 32 columns) and the direct kernel
 * otherwise. The others force one (tests, benchmarks); VEC4 on a shape it does not support
 * fails the recording, and so does PATCH where its tile exceeds the device's limits. */
typedef enum {
  AR_CONV2D_AUTO,
  AR_CONV2D_DIRECT,
  AR_CONV2D_VEC4,                /* its subgroup variant where the device has subgroupBroadcast */
  AR_CONV2D_VEC4_NO_SUBGROUP,    /* the vec4 kernel without subgroup operations */
  AR_CONV2D_TILE_SHARED,         /* implicit GEMM in 64x64 shared-memory tiles */
  AR_CONV2D_TILE_COOPMAT,        /* the same on NV cooperative matrices: fp16 storage on a
                                  * device with caps.coopmat_nv, else an error */
  AR_CONV2D_VEC4_TEXEL,          /* the vec4 kernel reading input and weights as texel
                                  * buffers (AUTO's choice on CPU devices where the buffers
                                  * can be viewed so) */
  AR_CONV2D_PATCH,               /* input patches and weights staged in shared memory
                                  * (AUTO's choice on GPUs for kernels larger than 1x1 from
                                  * 256 output pixels) */
  AR_CONV2D_SPLIT_CIN,           /* the direct kernel with a subgroup per tile, its lanes
                                  * splitting the input channels: for small images with many
                                  * channels. Needs subgroup arithmetic, else an error. AUTO's
                                  * choice on GPUs for kernels above 1x1 below 256 output
                                  * pixels and 1x1 kernels up to 256, from 16 input channels
                                  * (unless AR_VULKAN_AVOID names conv_split_cin, or for 1x1
                                  * conv_split_1x1) */
  AR_CONV2D_VEC4_WINOGRAD,       /* VEC4_TEXEL computing each row with Winograd F(4,3): 3x3
                                  * kernels at stride 1 only, else an error. AUTO's choice on
                                  * CPU devices for those from 32 output columns */
} ArConv2dPath;

typedef struct {
  guint batch;
  guint in_channels, in_h, in_w;
  guint out_channels;
  guint kernel_h, kernel_w;
  guint stride;
  guint pad_top, pad_left, pad_bottom, pad_right;
  ArConv2dPath path;
  /* out += the convolution (bias included) instead of out = it: a residual add in the
   * epilogue, one dispatch and one pass over the output fewer. */
  gboolean accumulate;
} ArConv2dParams;

/* Batch 1, square kernel, symmetric padding (PyTorch's `padding=`). */
void ar_conv2d_params_init (ArConv2dParams *p, guint in_channels, guint in_h, guint in_w,
    guint out_channels, guint kernel, guint stride, guint padding);

/* Output height and width; FALSE (0 x 0) when the padded input is smaller than the kernel. */
gboolean ar_conv2d_out_size (const ArConv2dParams *p, guint *out_h, guint *out_w);

/* Records the convolution; @bias may be NULL. @out must not overlap the other tensors. */
void ar_op_conv2d (ArCmd *cmd, ArDType dt, const ArBuffer *in, const ArBuffer *weight,
    const ArBuffer *bias, ArBuffer *out, const ArConv2dParams *p);

/* A nearest-neighbour 2x upsample followed by a "same" 3x3 convolution (taming-transformers'
 * Upsample), as one convolution of the low-resolution input with 2x2 phase weights
 * (shaders/conv2d_up2.comp): 4 products per output pixel and input channel instead of 9, and
 * no upsampled tensor. Its kernel is built for CPU devices (texel fetches, register tiles);
 * ar_conv2d_up2_preferred() says where callers should take it instead of ar_op_upsample2x()
 * and ar_op_conv2d(). */
gboolean ar_conv2d_up2_preferred (ArDevice *dev, guint in_channels, guint in_w);

/* Phase weights for ar_op_conv2d_up2() from a 3x3 kernel @w3 [out_channels, in_channels, 3, 3]
 * into @wp (out_channels * in_channels * 16 values); @in_channels a multiple of 4. */
void ar_op_conv2d_up2_weights (ArCmd *cmd, ArDType dt, const ArBuffer *w3, ArBuffer *wp,
    guint out_channels, guint in_channels);

/* @out [batch, out_channels, 2 in_h, 2 in_w] = conv3x3(upsample2x(@in)) + @bias (+ @out when
 * p->accumulate), @in [batch, in_channels, in_h, in_w], @wp from ar_op_conv2d_up2_weights().
 * @p describes the low-resolution input and a 3x3 kernel, stride 1, padding 1 (its path is
 * ignored); in_channels and in_w multiples of 4, @in and @wp viewable as texel buffers. */
void ar_op_conv2d_up2 (ArCmd *cmd, ArDType dt, const ArBuffer *in, const ArBuffer *wp,
    const ArBuffer *bias, ArBuffer *out, const ArConv2dParams *p);

G_END_DECLS

/* The vq tokenizer graph (taming-transformers Encoder/Decoder, as models/arvideo/reference.py).
 *
 * Encode and decode are each recorded once, at creation, into their own ArCmd and replayed per
 * frame (one submission each). Activations live in a small pool of equally sized buffers that
 * the recorder hands out in turn, so nothing is allocated per frame. The graph is walked twice:
 * a dry walk that only measures (largest activation, largest attention score matrix, missing
 * tensors), then the recording walk. Pixels are converted on the host (frames are small). */
#include "ar-tokenizer.h"

#include <math.h>
#include <string.h>

#include "ar-half.h"

#define POOL 5   /* a ResnetBlock holds 3 buffers, an attention block x, its norm and q|k|v */

/* An attention block's q, k and v projections as one 1x1 convolution (three dispatches fewer
 * per block): weights [3c, c] and bias [3c], q's rows first, then k's, then v's. The dry walk
 * enters each block with its channels; make_qkv_weights() fills the buffers. */
typedef struct {
  guint channels;
  ArBuffer *w, *b;
} QkvWeights;

static const char *const qkv_parts[] = { "q", "k", "v" };

struct _ArTokenizer {
  ArModel *model;
  ArDevice *dev;
  const ArTokenizerConfig *cfg;
  ArDType dt;
  ArBuffer *pool[POOL];
  ArBuffer *scores;     /* attention scores [hw, hw] */
  ArBuffer *pixels_in;  /* [in_planes, H, W] in [-1, 1], storage type */
  /* CPU devices run 3x3 convolutions with in_channels % 4 == 0 through the vec4 kernel,
   * ~40x faster than the direct kernel at 3 input channels; so there the image gets zero
   * planes up to a multiple of 4 and conv_in's weights zero input channels to match. */
  guint in_planes;
  ArBuffer *conv_in_w;  /* conv_in's weights padded to in_planes, or NULL (not padded) */
  /* CPU devices run the decoder's upsamples and the convolutions after them as one
   * convolution of the low-resolution input (ar_op_conv2d_up2: 4 products per pixel and
   * channel instead of 9, no upsampled tensor). Its phase weights per decoder level, made at
   * creation; NULL: upsample, then convolve. */
  ArBuffer *up2_w[AR_CARD_MAX_LEVELS];
  GHashTable *qkv;      /* attention block name -> QkvWeights */
  ArBuffer *latents;    /* [dim, gh * gw] */
  ArBuffer *tokens_enc; /* guint32 [n] */
  ArBuffer *tokens_dec; /* guint32 [n] */
  ArBuffer *pixels_out; /* [C, H, W] decoder output */
  ArCmd *enc, *dec;
  gchar fingerprint[17];
  float *host_in, *host_out;   /* C * H * W floats, staging for the conversions */
  guint16 *host_half;
};

/* One walk over the graph: measuring (dry) or recording. */
typedef struct {
  ArTokenizer *tok;
  ArCmd *cmd;
  gboolean dry;
  guint64 max_act;      /* elements */
  guint64 max_scores;
  GError *error;        /* the first missing tensor */
} Walk;

static const ArBuffer *
weight (Walk *w, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static const ArBuffer *
weight (Walk *w, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree gchar *name = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  const ArModelTensor *t = ar_model_lookup (w->tok->model, name);
  if (!t) {
    if (!w->error)
      w->error = g_error_new (AR_ERROR, AR_ERROR_MODEL, "tokenizer: missing tensor '%s'", name);
    return NULL;
  }
  return t->buf;
}

static ArBuffer *
buf (Walk *w, int i)
{
  return w->dry ? NULL : w->tok->pool[i];
}

/* A pool buffer other than those in @busy (a bit mask). */
static int
pick (guint busy)
{
  for (int i = 0; i < POOL; i++)
    if (!(busy & (1u << i)))
      return i;
  g_assert_not_reached ();
  return -1;
}

static void
need (Walk *w, guint64 n)
{
  w->max_act = MAX (w->max_act, n);
}

/* Conv2d of pool/other buffers; in and out are ArBuffer pointers (NULL while dry). The
 * weights are the tensor @name.weight, or @wt_padded when set (bias: @name.bias). With
 * @accumulate, out += the convolution (the residual adds). */
static void
conv_ex (Walk *w, const ArBuffer *in, ArBuffer *out, const char *name,
    const ArBuffer *wt_padded, guint cin, guint h, guint wd, guint cout, guint k, guint stride,
    guint pad_lo, guint pad_hi, gboolean accumulate, guint *oh, guint *ow)
{
  ArConv2dParams p;
  ar_conv2d_params_init (&p, cin, h, wd, cout, k, stride, 0);
  p.pad_top = p.pad_left = pad_lo;
  p.pad_bottom = p.pad_right = pad_hi;
  p.accumulate = accumulate;
  guint ho = 0, wo = 0;
  ar_conv2d_out_size (&p, &ho, &wo);
  need (w, (guint64) cout * ho * wo);
  const ArBuffer *wt = weight (w, "%s.weight", name), *b = weight (w, "%s.bias", name);
  if (!w->dry)
    ar_op_conv2d (w->cmd, w->tok->dt, in, wt_padded ? wt_padded : wt, b, out, &p);
  if (oh)
    *oh = ho;
  if (ow)
    *ow = wo;
}

static void
conv (Walk *w, const ArBuffer *in, ArBuffer *out, const char *name, guint cin, guint h,
    guint wd, guint cout, guint k, guint stride, guint pad_lo, guint pad_hi, guint *oh, guint *ow)
{
  conv_ex (w, in, out, name, NULL, cin, h, wd, cout, k, stride, pad_lo, pad_hi, FALSE, oh, ow);
}

/* out += a 1x1 or "same" 3x3 convolution of in (stride 1): a residual branch's last conv. */
static void
conv_add (Walk *w, const ArBuffer *in, ArBuffer *out, const char *name, guint cin, guint h,
    guint wd, guint cout, guint k)
{
  guint pad = (k - 1) / 2;
  conv_ex (w, in, out, name, NULL, cin, h, wd, cout, k, 1, pad, pad, TRUE, NULL, NULL);
}

/* GroupNorm, then SiLU when @silu. Without normalisation layers (card `norm: none`) only the
 * SiLU is left; attn() does not call this then (its norm would be a plain copy). */
static void
gnorm (Walk *w, const ArBuffer *in, ArBuffer *out, const char *name, guint c, guint h, guint wd,
    gboolean silu)
{
  if (!w->tok->cfg->norm) {
    g_assert (silu);
    if (!w->dry)
      ar_op_unary (w->cmd, w->tok->dt, AR_UNARY_SILU, in, out, (guint64) c * h * wd);
    return;
  }
  const ArBuffer *g = weight (w, "%s.weight", name), *b = weight (w, "%s.bias", name);
  if (!w->dry)
    ar_op_group_norm (w->cmd, w->tok->dt, in, g, b, out, 1, c, h, wd, w->tok->cfg->norm_groups,
        1e-6f, silu);
}

/* ResnetBlock on pool buffer *cur; the result may end in another pool buffer. */
static void
resblock (Walk *w, int *cur, const char *name, guint cin, guint cout, guint h, guint wd)
{
  int a = pick (1u << *cur), b = pick ((1u << *cur) | (1u << a));
  need (w, (guint64) MAX (cin, cout) * h * wd);
  g_autofree gchar *n1 = g_strdup_printf ("%s.norm1", name);
  g_autofree gchar *c1 = g_strdup_printf ("%s.conv1", name);
  g_autofree gchar *n2 = g_strdup_printf ("%s.norm2", name);
  g_autofree gchar *c2 = g_strdup_printf ("%s.conv2", name);
  gnorm (w, buf (w, *cur), buf (w, a), n1, cin, h, wd, TRUE);
  conv (w, buf (w, a), buf (w, b), c1, cin, h, wd, cout, 3, 1, 1, 1, NULL, NULL);
  gnorm (w, buf (w, b), buf (w, a), n2, cout, h, wd, TRUE);
  if (cin != cout) {
    /* h = conv2(...) into b, then b += nin_shortcut(x): the sum is the block's output. */
    g_autofree gchar *sc = g_strdup_printf ("%s.nin_shortcut", name);
    conv (w, buf (w, a), buf (w, b), c2, cout, h, wd, cout, 3, 1, 1, 1, NULL, NULL);
    conv_add (w, buf (w, *cur), buf (w, b), sc, cin, h, wd, cout, 1);
    *cur = b;
  } else {
    conv_add (w, buf (w, a), buf (w, *cur), c2, cout, h, wd, cout, 3);
  }
}

/* AttnBlock, in place on pool buffer cur. Layouts: x, q, k, v are [c, hw] (NCHW). One 1x1
 * convolution makes q, k and v ([3c, hw], in that order). The scores contract over c, the
 * slow index of q and k, so both are transposed to [hw, c] first, in one batched transpose
 * (every operand of the products K-contiguous, so CPU devices take the texel kernel; these
 * were products with an identity matrix before, 8 MFLOP each at 16x16); v is read in place. */
static void
attn (Walk *w, int cur, const char *name, guint c, guint h, guint wd)
{
  guint hw = h * wd;
  ArDType dt = w->tok->dt;
  guint busy = 1u << cur;
  int n = pick (busy);
  busy |= 1u << n;
  int qkv = pick (busy);
  need (w, (guint64) 3 * c * hw);
  w->max_scores = MAX (w->max_scores, (guint64) hw * hw);
  g_autofree gchar *nn = g_strdup_printf ("%s.norm", name);
  g_autofree gchar *pn = g_strdup_printf ("%s.proj_out", name);
  /* Without normalisation the projections read x itself. */
  int src = w->tok->cfg->norm ? n : cur;
  if (w->tok->cfg->norm)
    gnorm (w, buf (w, cur), buf (w, n), nn, c, h, wd, FALSE);
  if (w->dry) {
    /* The weights are checked here and concatenated once the walk is done. */
    for (guint i = 0; i < G_N_ELEMENTS (qkv_parts); i++) {
      weight (w, "%s.%s.weight", name, qkv_parts[i]);
      weight (w, "%s.%s.bias", name, qkv_parts[i]);
    }
    QkvWeights *qw = g_new0 (QkvWeights, 1);
    qw->channels = c;
    g_hash_table_insert (w->tok->qkv, g_strdup (name), qw);
  } else {
    ArCmd *cmd = w->cmd;
    ArTokenizer *tok = w->tok;
    const QkvWeights *qw = g_hash_table_lookup (tok->qkv, name);
    ArConv2dParams cp;
    ar_conv2d_params_init (&cp, c, h, wd, 3 * c, 1, 1, 0);
    ar_op_conv2d (cmd, dt, buf (w, src), qw->w, qw->b, buf (w, qkv), &cp);
    /* [q; k] -> [qt; kt] ([2, hw, c]) into n, free once the convolution has read it. */
    ar_op_transpose (cmd, dt, buf (w, qkv), buf (w, n), 2, c, hw);
    /* scores[i, j] = c^-1/2 sum_ch qt[i, ch] kt[j, ch] */
    ArMatmulParams p;
    ar_matmul_params_init (&p, hw, hw, c);
    p.w_off = hw * c;
    p.alpha = 1.0f / sqrtf ((float) c);
    ar_op_matmul_ex (cmd, dt, buf (w, n), buf (w, n), NULL, tok->scores, &p);
    ar_op_softmax (cmd, dt, tok->scores, tok->scores, hw, hw, 1.0f);
    /* o[ch, i] = sum_j v[ch, j] att[i, j]: NCHW directly, into n (qt and kt are spent). */
    ar_matmul_params_init (&p, c, hw, hw);
    p.a_off = 2 * c * hw;
    ar_op_matmul_ex (cmd, dt, buf (w, qkv), tok->scores, NULL, buf (w, n), &p);
  }
  conv_add (w, buf (w, n), buf (w, cur), pn, c, h, wd, c, 1);
}

static gboolean
level_has_attn (const ArTokenizerConfig *cfg, const ArCoderConfig *cc, guint level)
{
  for (guint i = 0; i < cc->n_attn; i++)
    if (cc->attn_resolutions[i] == (cfg->height >> level))
      return TRUE;
  return FALSE;
}

static void
mid (Walk *w, int *cur, const char *prefix, guint c, guint h, guint wd)
{
  g_autofree gchar *b1 = g_strdup_printf ("%s.mid.block_1", prefix);
  g_autofree gchar *a1 = g_strdup_printf ("%s.mid.attn_1", prefix);
  g_autofree gchar *b2 = g_strdup_printf ("%s.mid.block_2", prefix);
  resblock (w, cur, b1, c, c, h, wd);
  if (w->tok->cfg->mid_attention)
    attn (w, *cur, a1, c, h, wd);
  resblock (w, cur, b2, c, c, h, wd);
}

static void
walk_encoder (Walk *w)
{
  ArTokenizer *tok = w->tok;
  const ArTokenizerConfig *cfg = tok->cfg;
  const ArCoderConfig *e = &cfg->encoder;
  guint h = cfg->height, wd = cfg->width, ch = e->channels;
  int cur = 0;
  need (w, (guint64) tok->in_planes * h * wd);
  conv_ex (w, w->dry ? NULL : tok->pixels_in, buf (w, cur), "tokenizer.encoder.conv_in",
      tok->conv_in_w, tok->in_planes, h, wd, ch, 3, 1, 1, 1, FALSE, NULL, NULL);
  guint cin = ch;
  for (guint i = 0; i < e->n_levels; i++) {
    guint cout = ch * e->channel_mult[i];
    for (guint j = 0; j < e->res_blocks; j++) {
      g_autofree gchar *bn = g_strdup_printf ("tokenizer.encoder.down.%u.block.%u", i, j);
      resblock (w, &cur, bn, cin, cout, h, wd);
      cin = cout;
      if (level_has_attn (cfg, e, i)) {
        g_autofree gchar *an = g_strdup_printf ("tokenizer.encoder.down.%u.attn.%u", i, j);
        attn (w, cur, an, cout, h, wd);
      }
    }
    if (i + 1 != e->n_levels) {
      /* taming's downsample: zero pad right and bottom by one, 3x3 stride 2. */
      g_autofree gchar *dn = g_strdup_printf ("tokenizer.encoder.down.%u.downsample.conv", i);
      int o = pick (1u << cur);
      conv (w, buf (w, cur), buf (w, o), dn, cout, h, wd, cout, 3, 2, 0, 1, &h, &wd);
      cur = o;
    }
  }
  mid (w, &cur, "tokenizer.encoder", cin, h, wd);
  int a = pick (1u << cur), b = pick ((1u << cur) | (1u << a));
  gnorm (w, buf (w, cur), buf (w, a), "tokenizer.encoder.norm_out", cin, h, wd, TRUE);
  conv (w, buf (w, a), buf (w, b), "tokenizer.encoder.conv_out", cin, h, wd, e->z_channels, 3, 1,
      1, 1, NULL, NULL);
  conv (w, buf (w, b), w->dry ? NULL : tok->latents, "tokenizer.pre_quant_conv", e->z_channels, h,
      wd, cfg->codebook_dim, 1, 1, 0, 0, NULL, NULL);
  const ArBuffer *cb = weight (w, "tokenizer.codebook.weight");
  guint n = cfg->grid_height * cfg->grid_width;
  if (!w->dry)
    ar_op_codebook_argmin (w->cmd, tok->dt, tok->latents, cb, tok->tokens_enc, n,
        cfg->codebook_dim, cfg->codebook_size, n);
}

static void
walk_decoder (Walk *w)
{
  ArTokenizer *tok = w->tok;
  const ArTokenizerConfig *cfg = tok->cfg;
  const ArCoderConfig *d = &cfg->decoder;
  guint h = cfg->grid_height, wd = cfg->grid_width, n = h * wd, ch = d->channels;
  const ArBuffer *cb = weight (w, "tokenizer.codebook.weight");
  int cur = 0;
  need (w, (guint64) cfg->codebook_dim * n);
  if (!w->dry)
    ar_op_codebook_lookup (w->cmd, tok->dt, tok->tokens_dec, cb, buf (w, 0), n,
        cfg->codebook_dim, cfg->codebook_size, n);
  conv (w, buf (w, 0), buf (w, 1), "tokenizer.post_quant_conv", cfg->codebook_dim, h, wd,
      d->z_channels, 1, 1, 0, 0, NULL, NULL);
  guint cin = ch * d->channel_mult[d->n_levels - 1];
  conv (w, buf (w, 1), buf (w, 2), "tokenizer.decoder.conv_in", d->z_channels, h, wd, cin, 3, 1,
      1, 1, NULL, NULL);
  cur = 2;
  mid (w, &cur, "tokenizer.decoder", cin, h, wd);
  for (guint i = d->n_levels; i-- > 0;) {
    guint cout = ch * d->channel_mult[i];
    for (guint j = 0; j < d->res_blocks + 1; j++) {
      g_autofree gchar *bn = g_strdup_printf ("tokenizer.decoder.up.%u.block.%u", i, j);
      resblock (w, &cur, bn, cin, cout, h, wd);
      cin = cout;
      if (level_has_attn (cfg, d, i)) {
        g_autofree gchar *an = g_strdup_printf ("tokenizer.decoder.up.%u.attn.%u", i, j);
        attn (w, cur, an, cout, h, wd);
      }
    }
    if (i != 0) {
      g_autofree gchar *un = g_strdup_printf ("tokenizer.decoder.up.%u.upsample.conv", i);
      int a = pick (1u << cur), b = pick ((1u << cur) | (1u << a));
      need (w, (guint64) cout * 4 * h * wd);
      if (tok->up2_w[i] && ar_buffer_texel_viewable (buf (w, cur), tok->dt == AR_F16)) {
        ArConv2dParams p;
        ar_conv2d_params_init (&p, cout, h, wd, cout, 3, 1, 1);
        ar_op_conv2d_up2 (w->cmd, tok->dt, buf (w, cur), tok->up2_w[i],
            weight (w, "%s.bias", un), buf (w, a), &p);
        cur = a;
      } else {
        if (!w->dry)
          ar_op_upsample2x (w->cmd, tok->dt, buf (w, cur), buf (w, a), cout, h, wd);
        conv (w, buf (w, a), buf (w, b), un, cout, 2 * h, 2 * wd, cout, 3, 1, 1, 1, NULL, NULL);
        cur = b;
      }
      h *= 2;
      wd *= 2;
    }
  }
  int a = pick (1u << cur);
  gnorm (w, buf (w, cur), buf (w, a), "tokenizer.decoder.norm_out", cin, h, wd, TRUE);
  conv (w, buf (w, a), w->dry ? NULL : tok->pixels_out, "tokenizer.decoder.conv_out", cin, h, wd,
      cfg->in_channels, 3, 1, 1, 1, NULL, NULL);
}

/* The model's, so that arpredict can read it without building this graph. */
static gboolean
compute_fingerprint (ArTokenizer *tok, GError **error)
{
  const char *fingerprint = ar_model_tokenizer_fingerprint (tok->model, error);
  if (!fingerprint)
    return FALSE;
  g_strlcpy (tok->fingerprint, fingerprint, sizeof tok->fingerprint);
  return TRUE;
}

static ArBuffer *
alloc (ArTokenizer *tok, guint64 n, gsize es, GError **error)
{
  return ar_buffer_new (tok->dev, MAX (n, 1) * es, AR_MEM_DEVICE, error);
}

/* conv_in's weights [Cout, C, 3, 3] copied into [Cout, in_planes, 3, 3], the extra input
 * channels zero; and the image's padding planes zeroed (frames upload the first C only). */
static gboolean
pad_conv_in (ArTokenizer *tok, GError **error)
{
  const ArTokenizerConfig *cfg = tok->cfg;
  const ArModelTensor *t = ar_model_lookup (tok->model, "tokenizer.encoder.conv_in.weight");
  gsize es = ar_dtype_size (tok->dt);
  guint cout = cfg->encoder.channels, kk = 9;
  if (!(tok->conv_in_w = alloc (tok, (guint64) cout * tok->in_planes * kk, es, error)))
    return FALSE;
  g_autoptr (ArCmd) cmd = ar_cmd_new (tok->dev, error);
  if (!cmd)
    return FALSE;
  ar_cmd_begin (cmd);
  ar_cmd_zero (cmd, tok->conv_in_w);
  ar_cmd_zero (cmd, tok->pixels_in);
  for (guint co = 0; co < cout; co++)
    ar_cmd_copy (cmd, t->buf, (gsize) co * cfg->in_channels * kk * es, tok->conv_in_w,
        (gsize) co * tok->in_planes * kk * es, (gsize) cfg->in_channels * kk * es);
  return ar_cmd_run (cmd, error);
}

static void
qkv_weights_free (gpointer data)
{
  QkvWeights *qw = data;
  ar_buffer_free (qw->w);
  ar_buffer_free (qw->b);
  g_free (qw);
}

/* Each attention block's q, k and v weights and biases, concatenated (see QkvWeights); the
 * dry walk entered the blocks and checked that their tensors exist. */
static gboolean
make_qkv_weights (ArTokenizer *tok, GError **error)
{
  gsize es = ar_dtype_size (tok->dt);
  if (g_hash_table_size (tok->qkv) == 0)
    return TRUE;
  g_autoptr (ArCmd) cmd = ar_cmd_new (tok->dev, error);
  if (!cmd)
    return FALSE;
  ar_cmd_begin (cmd);
  GHashTableIter it;
  const char *name;
  QkvWeights *qw;
  g_hash_table_iter_init (&it, tok->qkv);
  while (g_hash_table_iter_next (&it, (gpointer *) &name, (gpointer *) &qw)) {
    guint c = qw->channels;
    if (!(qw->w = alloc (tok, (guint64) 3 * c * c, es, error))
        || !(qw->b = alloc (tok, (guint64) 3 * c, es, error)))
      return FALSE;
    for (guint j = 0; j < G_N_ELEMENTS (qkv_parts); j++) {
      g_autofree gchar *wn = g_strdup_printf ("%s.%s.weight", name, qkv_parts[j]);
      g_autofree gchar *bn = g_strdup_printf ("%s.%s.bias", name, qkv_parts[j]);
      const ArModelTensor *wt = ar_model_lookup (tok->model, wn);
      const ArModelTensor *bt = ar_model_lookup (tok->model, bn);
      /* The loader checked the shapes against the card; this guards the copies. */
      if (wt->n_elements != (guint64) c * c || bt->n_elements != c) {
        g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "tokenizer: %s or %s is not %u x %u / %u",
            wn, bn, c, c, c);
        return FALSE;
      }
      ar_cmd_copy (cmd, wt->buf, 0, qw->w, (gsize) j * c * c * es, (gsize) c * c * es);
      ar_cmd_copy (cmd, bt->buf, 0, qw->b, (gsize) j * c * es, (gsize) c * es);
    }
  }
  return ar_cmd_run (cmd, error);
}

/* The phase weights of the decoder's upsampling convolutions, where ar_op_conv2d_up2 is the
 * better choice for their shape on this device (see up2_w). */
static gboolean
make_up2_weights (ArTokenizer *tok, GError **error)
{
  const ArCoderConfig *d = &tok->cfg->decoder;
  gsize es = ar_dtype_size (tok->dt);
  g_autoptr (ArCmd) cmd = NULL;
  guint wd = tok->cfg->grid_width;
  for (guint i = d->n_levels; i-- > 1; wd *= 2) {
    guint c = d->channels * d->channel_mult[i];
    if (!ar_conv2d_up2_preferred (tok->dev, c, wd))
      continue;
    g_autofree gchar *name = g_strdup_printf ("tokenizer.decoder.up.%u.upsample.conv.weight", i);
    const ArModelTensor *t = ar_model_lookup (tok->model, name);
    if (!(tok->up2_w[i] = alloc (tok, (guint64) c * c * 16, es, error)))
      return FALSE;
    if (!ar_buffer_texel_viewable (tok->up2_w[i], tok->dt == AR_F16)) {
      g_clear_pointer (&tok->up2_w[i], ar_buffer_free);
      continue;
    }
    if (!cmd) {
      if (!(cmd = ar_cmd_new (tok->dev, error)))
        return FALSE;
      ar_cmd_begin (cmd);
    }
    ar_op_conv2d_up2_weights (cmd, tok->dt, t->buf, tok->up2_w[i], c, c);
  }
  return !cmd || ar_cmd_run (cmd, error);
}

ArTokenizer *
ar_tokenizer_new (ArModel *model, GError **error)
{
  g_return_val_if_fail (model != NULL, NULL);
  const ArCard *card = ar_model_card (model);
  const ArTokenizerConfig *cfg = &card->tokenizer;
  if (cfg->kind != AR_TOKENIZER_VQ) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: %s", card->path,
        cfg->kind == AR_TOKENIZER_NONE ? "the model has no tokenizer section"
        : "this tokenizer kind is not supported yet");
    return NULL;
  }
  g_autoptr (ArTokenizer) tok = g_new0 (ArTokenizer, 1);
  tok->model = ar_model_ref (model);
  tok->dev = ar_model_device (model);
  tok->cfg = cfg;
  tok->dt = ar_model_dtype (model);
  tok->in_planes = cfg->in_channels;
  if (tok->dev->caps.is_cpu && cfg->in_channels % 4 != 0 && cfg->width % 4 == 0)
    tok->in_planes = (cfg->in_channels + 3) / 4 * 4;

  tok->qkv = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, qkv_weights_free);
  Walk dry = { .tok = tok, .dry = TRUE };
  walk_encoder (&dry);
  walk_decoder (&dry);
  if (dry.error) {
    g_propagate_error (error, dry.error);
    return NULL;
  }
  if (!compute_fingerprint (tok, error))
    return NULL;

  gsize es = ar_dtype_size (tok->dt);
  guint n = cfg->grid_height * cfg->grid_width;
  guint64 pix = (guint64) cfg->in_channels * cfg->height * cfg->width;
  guint64 pix_in = (guint64) tok->in_planes * cfg->height * cfg->width;
  for (int i = 0; i < POOL; i++)
    if (!(tok->pool[i] = alloc (tok, dry.max_act, es, error)))
      return NULL;
  if (!(tok->scores = alloc (tok, dry.max_scores, es, error))
      || !(tok->pixels_in = alloc (tok, pix_in, es, error))
      || !(tok->pixels_out = alloc (tok, pix, es, error))
      || !(tok->latents = alloc (tok, (guint64) cfg->codebook_dim * n, es, error))
      || !(tok->tokens_enc = alloc (tok, n, 4, error))
      || !(tok->tokens_dec = alloc (tok, n, 4, error)))
    return NULL;
  if (tok->in_planes != cfg->in_channels && !pad_conv_in (tok, error))
    return NULL;
  if (!make_up2_weights (tok, error) || !make_qkv_weights (tok, error))
    return NULL;
  tok->host_in = g_new (float, pix);
  tok->host_out = g_new (float, pix);
  tok->host_half = g_new (guint16, pix);

  if (!(tok->enc = ar_cmd_new (tok->dev, error)) || !(tok->dec = ar_cmd_new (tok->dev, error)))
    return NULL;
  Walk we = { .tok = tok, .cmd = tok->enc };
  ar_cmd_begin (tok->enc);
  walk_encoder (&we);
  Walk wdec = { .tok = tok, .cmd = tok->dec };
  ar_cmd_begin (tok->dec);
  walk_decoder (&wdec);
  /* Shape errors surface as a failed recording: report them now rather than per frame. */
  if (ar_cmd_failed (tok->enc) || ar_cmd_failed (tok->dec)) {
    ar_cmd_run (ar_cmd_failed (tok->enc) ? tok->enc : tok->dec, error);
    return NULL;
  }
  return g_steal_pointer (&tok);
}

void
ar_tokenizer_free (ArTokenizer *tok)
{
  if (!tok)
    return;
  g_clear_pointer (&tok->enc, ar_cmd_free);
  g_clear_pointer (&tok->dec, ar_cmd_free);
  for (int i = 0; i < POOL; i++)
    g_clear_pointer (&tok->pool[i], ar_buffer_free);
  g_clear_pointer (&tok->scores, ar_buffer_free);
  g_clear_pointer (&tok->pixels_in, ar_buffer_free);
  g_clear_pointer (&tok->conv_in_w, ar_buffer_free);
  for (guint i = 0; i < AR_CARD_MAX_LEVELS; i++)
    g_clear_pointer (&tok->up2_w[i], ar_buffer_free);
  g_clear_pointer (&tok->qkv, g_hash_table_unref);
  g_clear_pointer (&tok->pixels_out, ar_buffer_free);
  g_clear_pointer (&tok->latents, ar_buffer_free);
  g_clear_pointer (&tok->tokens_enc, ar_buffer_free);
  g_clear_pointer (&tok->tokens_dec, ar_buffer_free);
  g_free (tok->host_in);
  g_free (tok->host_out);
  g_free (tok->host_half);
  if (tok->model)
    ar_model_unref (tok->model);
  g_free (tok);
}

guint ar_tokenizer_width (const ArTokenizer *tok) { return tok->cfg->width; }
guint ar_tokenizer_height (const ArTokenizer *tok) { return tok->cfg->height; }
guint ar_tokenizer_channels (const ArTokenizer *tok) { return tok->cfg->in_channels; }
guint ar_tokenizer_grid_width (const ArTokenizer *tok) { return tok->cfg->grid_width; }
guint ar_tokenizer_grid_height (const ArTokenizer *tok) { return tok->cfg->grid_height; }
guint ar_tokenizer_n_tokens (const ArTokenizer *tok)
{
  return tok->cfg->grid_width * tok->cfg->grid_height;
}
guint ar_tokenizer_codebook_size (const ArTokenizer *tok) { return tok->cfg->codebook_size; }
const char *ar_tokenizer_fingerprint (const ArTokenizer *tok) { return tok->fingerprint; }

/* Bytes per pixel and the offsets of R, G, B in a pixel (gray: all 0). */
static guint
pixel_layout (ArPixelFormat f, guint off[3])
{
  switch (f) {
    case AR_PIXEL_RGB: off[0] = 0; off[1] = 1; off[2] = 2; return 3;
    case AR_PIXEL_RGBA:
    case AR_PIXEL_RGBX: off[0] = 0; off[1] = 1; off[2] = 2; return 4;
    case AR_PIXEL_BGRX: off[0] = 2; off[1] = 1; off[2] = 0; return 4;
    case AR_PIXEL_GRAY8: off[0] = off[1] = off[2] = 0; return 1;
  }
  return 0;
}

/* BT.601 luma, for a gray model fed colour frames (and the reverse for gray output). */
static guint8
luma (const guint8 *p, const guint off[3])
{
  return (guint8) ((299u * p[off[0]] + 587u * p[off[1]] + 114u * p[off[2]] + 500u) / 1000u);
}

static gboolean
check_format (ArPixelFormat format, GError **error)
{
  guint off[3];
  if ((guint) format > AR_PIXEL_GRAY8 || !pixel_layout (format, off)) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "tokenizer: unknown pixel format %d", format);
    return FALSE;
  }
  return TRUE;
}

static gboolean
upload (ArTokenizer *tok, ArBuffer *dst, const float *src, gsize n, GError **error)
{
  if (tok->dt == AR_F32)
    return ar_buffer_write (dst, 0, src, n * 4, error);
  for (gsize i = 0; i < n; i++)
    tok->host_half[i] = ar_float_to_half (src[i]);
  return ar_buffer_write (dst, 0, tok->host_half, n * 2, error);
}

static gboolean
download (ArTokenizer *tok, ArBuffer *src, float *dst, gsize n, GError **error)
{
  if (tok->dt == AR_F32)
    return ar_buffer_read (src, 0, dst, n * 4, error);
  if (!ar_buffer_read (src, 0, tok->host_half, n * 2, error))
    return FALSE;
  for (gsize i = 0; i < n; i++)
    dst[i] = ar_half_to_float (tok->host_half[i]);
  return TRUE;
}

gboolean
ar_tokenizer_encode (ArTokenizer *tok, const guint8 *pixels, gsize stride, ArPixelFormat format,
    guint32 *tokens, float *latents, GError **error)
{
  g_return_val_if_fail (tok && pixels && tokens, FALSE);
  if (!check_format (format, error))
    return FALSE;
  const ArTokenizerConfig *cfg = tok->cfg;
  guint off[3], bpp = pixel_layout (format, off), H = cfg->height, W = cfg->width;
  gsize plane = (gsize) H * W;
  /* x / 127.5 - 1 in fp32, as the reference. */
  for (guint y = 0; y < H; y++) {
    const guint8 *row = pixels + y * stride;
    for (guint x = 0; x < W; x++) {
      const guint8 *p = row + x * bpp;
      if (cfg->in_channels == 1) {
        guint8 v = format == AR_PIXEL_GRAY8 ? p[0] : luma (p, off);
        tok->host_in[y * W + x] = (float) v / 127.5f - 1.0f;
      } else {
        for (guint c = 0; c < 3; c++)
          tok->host_in[c * plane + y * W + x] = (float) p[off[c]] / 127.5f - 1.0f;
      }
    }
  }
  guint n = ar_tokenizer_n_tokens (tok);
  if (!upload (tok, tok->pixels_in, tok->host_in, plane * cfg->in_channels, error)
      || !ar_cmd_run (tok->enc, error)
      || !ar_buffer_read (tok->tokens_enc, 0, tokens, n * 4, error))
    return FALSE;
  return !latents || download (tok, tok->latents, latents, (gsize) n * cfg->codebook_dim, error);
}

static guint8
to_u8 (float y)
{
  /* clamp to [-1, 1], then round half up, as the reference. */
  float v = (fminf (fmaxf (y, -1.0f), 1.0f) + 1.0f) * 127.5f;
  return (guint8) CLAMP (floorf (v + 0.5f), 0.0f, 255.0f);
}

gboolean
ar_tokenizer_decode (ArTokenizer *tok, const guint32 *tokens, guint8 *pixels, gsize stride,
    ArPixelFormat format, float *out_float, GError **error)
{
  g_return_val_if_fail (tok && tokens, FALSE);
  if (pixels && !check_format (format, error))
    return FALSE;
  const ArTokenizerConfig *cfg = tok->cfg;
  guint n = ar_tokenizer_n_tokens (tok), H = cfg->height, W = cfg->width, C = cfg->in_channels;
  gsize plane = (gsize) H * W;
  if (!ar_buffer_write (tok->tokens_dec, 0, tokens, n * 4, error)
      || !ar_cmd_run (tok->dec, error)
      || !download (tok, tok->pixels_out, tok->host_out, plane * C, error))
    return FALSE;
  if (out_float)
    memcpy (out_float, tok->host_out, plane * C * sizeof (float));
  if (!pixels)
    return TRUE;
  guint off[3], bpp = pixel_layout (format, off);
  for (guint y = 0; y < H; y++) {
    guint8 *row = pixels + y * stride;
    for (guint x = 0; x < W; x++) {
      guint8 *p = row + x * bpp;
      guint8 rgb[3];
      for (guint c = 0; c < 3; c++)
        rgb[c] = to_u8 (tok->host_out[(C == 1 ? 0 : c) * plane + y * W + x]);
      if (format == AR_PIXEL_GRAY8) {
        static const guint id[3] = { 0, 1, 2 };
        p[0] = C == 1 ? rgb[0] : luma (rgb, id);
      } else {
        for (guint c = 0; c < 3; c++)
          p[off[c]] = rgb[c];
        if (bpp == 4)
          p[3] = 255;
      }
    }
  }
  return TRUE;
}

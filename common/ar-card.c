/* Model card parsing with the libyaml document API: the whole card is small, and node marks
 * give the line of every key for error messages. */
#include "ar-card.h"
#include "ar-device.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <yaml.h>

/* Sanity limits: far above any model we run, low enough that products cannot overflow. */
#define MAX_RESOLUTION 8192
#define MAX_CHANNELS 65536
#define MAX_DIM 65536
#define MAX_LAYERS 1024
#define MAX_BIG ((guint) 1 << 20)      /* vocab, codebook size, hidden sizes, counts */
#define MAX_RES_BLOCKS 64
#define MAX_SEQ ((guint) 1 << 24)      /* context_frames * (tokens_per_frame + 1) */
#define MAX_CARD_BYTES (1u << 20)      /* libyaml holds the whole document in memory */
#define MAX_KEYS 256                   /* entries of the keys: table */

typedef struct {
  const char *path;
  yaml_document_t *doc;
  GError **error;
} Ctx;

static gboolean G_GNUC_PRINTF (4, 5)
fail (Ctx *c, const yaml_node_t *at, const char *key, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree gchar *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (c->error, AR_ERROR, AR_ERROR_MODEL, "%s:%lu: %s%s%s", c->path,
      at ? (unsigned long) at->start_mark.line + 1 : 1UL, key ? key : "", key ? ": " : "", msg);
  return FALSE;
}

static const char *
node_kind_name (const yaml_node_t *n)
{
  switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
  }
}

static gboolean
is_plain_null (const yaml_node_t *n)
{
  if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return FALSE;
  const char *v = (const char *) n->data.scalar.value;
  return n->data.scalar.length == 0 || strcmp (v, "~") == 0 || strcmp (v, "null") == 0;
}

/* Reads the pairs of @map into @values (indexed like the NULL-terminated @keys), rejecting
 * unknown and duplicate keys. */
static gboolean
read_mapping (Ctx *c, yaml_node_t *map, const char *section, const char *const *keys,
    yaml_node_t **values)
{
  if (map->type != YAML_MAPPING_NODE)
    return fail (c, map, section, "expected a mapping, got %s", node_kind_name (map));
  guint n_keys = g_strv_length ((gchar **) keys);
  for (guint i = 0; i < n_keys; i++)
    values[i] = NULL;
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node (c->doc, p->key);
    yaml_node_t *v = yaml_document_get_node (c->doc, p->value);
    if (!k || !v)
      return fail (c, map, section, "malformed mapping");
    if (k->type != YAML_SCALAR_NODE)
      return fail (c, k, section, "keys must be plain strings");
    const char *name = (const char *) k->data.scalar.value;
    guint i = 0;
    while (i < n_keys && strcmp (keys[i], name) != 0)
      i++;
    g_autofree gchar *full = section ? g_strconcat (section, ".", name, NULL) : g_strdup (name);
    if (i == n_keys) {
      g_autofree gchar *known = g_strjoinv (", ", (gchar **) keys);
      return fail (c, k, full, "unknown key (known keys%s%s: %s)", section ? " in " : "",
          section ? section : "", known);
    }
    if (values[i])
      return fail (c, k, full, "duplicate key");
    values[i] = v;
  }
  return TRUE;
}

static gboolean
require (Ctx *c, yaml_node_t *map, const char *section, const char *key, yaml_node_t *value)
{
  if (value)
    return TRUE;
  return fail (c, map, section, "missing required key '%s'", key);
}

/* A non-negative integer in [min, max] from a plain scalar. */
static gboolean
get_uint (Ctx *c, yaml_node_t *n, const char *key, guint min, guint max, guint *out)
{
  if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return fail (c, n, key, "expected an integer, got %s", n->type == YAML_SCALAR_NODE ? "a quoted string"
        : node_kind_name (n));
  const char *s = (const char *) n->data.scalar.value;
  gboolean negative = s[0] == '-';
  const char *digits = (s[0] == '-' || s[0] == '+') ? s + 1 : s;
  if (!g_ascii_isdigit (digits[0]))
    return fail (c, n, key, "expected an integer, got '%s'", s);
  guint64 v = 0;
  const char *p = digits;
  for (; g_ascii_isdigit (*p); p++) {
    v = v * 10 + (guint64) (*p - '0');
    if (v > G_MAXUINT32)
      v = (guint64) G_MAXUINT32 + 1;   /* saturate: reported as too large below */
  }
  if (*p != '\0')
    return fail (c, n, key, "expected an integer, got '%s'", s);
  if (negative && v != 0)
    return fail (c, n, key, "%s is negative", s);
  if (v < min)
    return fail (c, n, key, "%s is too small (at least %u)", s, min);
  if (v > max)
    return fail (c, n, key, "%s is absurdly large (at most %u)", s, max);
  *out = (guint) v;
  return TRUE;
}

/* true or false, from a plain scalar. */
static gboolean
get_bool (Ctx *c, yaml_node_t *n, const char *key, gboolean *out)
{
  const char *s = n->type == YAML_SCALAR_NODE ? (const char *) n->data.scalar.value : NULL;
  if (s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
      && (strcmp (s, "true") == 0 || strcmp (s, "false") == 0)) {
    *out = s[0] == 't';
    return TRUE;
  }
  return fail (c, n, key, "expected true or false, got %s", s ? s : node_kind_name (n));
}

/* A finite number from a plain scalar. */
static gboolean
get_double (Ctx *c, yaml_node_t *n, const char *key, double *out)
{
  if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return fail (c, n, key, "expected a number, got %s", n->type == YAML_SCALAR_NODE ? "a quoted string"
        : node_kind_name (n));
  const char *s = (const char *) n->data.scalar.value;
  char *end = NULL;
  double v = g_ascii_strtod (s, &end);
  if (s[0] == '\0' || *end != '\0' || !isfinite (v))
    return fail (c, n, key, "expected a finite number, got '%s'", s);
  *out = v;
  return TRUE;
}

/* A finite number in (0, max]. */
static gboolean
get_positive_double (Ctx *c, yaml_node_t *n, const char *key, double max, double *out)
{
  double v;
  if (!get_double (c, n, key, &v))
    return FALSE;
  if (v <= 0 || v > max)
    return fail (c, n, key, "%s is out of range (0, %g]", (const char *) n->data.scalar.value, max);
  *out = v;
  return TRUE;
}

static gboolean
get_string (Ctx *c, yaml_node_t *n, const char *key, const char **out)
{
  if (n->type != YAML_SCALAR_NODE || is_plain_null (n))
    return fail (c, n, key, "expected a string, got %s", is_plain_null (n) ? "null" : node_kind_name (n));
  *out = (const char *) n->data.scalar.value;
  return TRUE;
}

static gboolean
get_uint_list (Ctx *c, yaml_node_t *n, const char *key, guint min, guint max, guint min_len,
    guint max_len, guint *out, guint *len)
{
  if (n->type != YAML_SEQUENCE_NODE)
    return fail (c, n, key, "expected a list of integers, got %s", node_kind_name (n));
  gsize count = (gsize) (n->data.sequence.items.top - n->data.sequence.items.start);
  if (count < min_len || count > max_len)
    return fail (c, n, key, "expected %u to %u entries, got %" G_GSIZE_FORMAT, min_len, max_len, count);
  for (gsize i = 0; i < count; i++) {
    yaml_node_t *item = yaml_document_get_node (c->doc, n->data.sequence.items.start[i]);
    if (!item)
      return fail (c, n, key, "malformed list");
    g_autofree gchar *ikey = g_strdup_printf ("%s[%" G_GSIZE_FORMAT "]", key, i);
    if (!get_uint (c, item, ikey, min, max, &out[i]))
      return FALSE;
  }
  *len = (guint) count;
  return TRUE;
}

/* Looks @s up in the NULL-terminated @names; the index, or -1 after an error naming the kinds. */
static gint
get_kind (Ctx *c, yaml_node_t *n, const char *key, const char *const *names)
{
  const char *s;
  if (!get_string (c, n, key, &s))
    return -1;
  for (gint i = 0; names[i]; i++)
    if (strcmp (names[i], s) == 0)
      return i;
  g_autofree gchar *known = g_strjoinv (", ", (gchar **) names);
  fail (c, n, key, "unknown kind '%s' (kinds: %s)", s, known);
  return -1;
}

/* Encoder or decoder; @cfg holds defaults (for the decoder: the encoder's values). */
static gboolean
parse_coder (Ctx *c, yaml_node_t *map, const char *section, gboolean all_required, ArCoderConfig *cfg)
{
  static const char *const keys[] = { "channels", "channel_mult", "res_blocks", "attn_resolutions",
    "z_channels", NULL };
  yaml_node_t *v[G_N_ELEMENTS (keys)];
  if (!read_mapping (c, map, section, keys, v))
    return FALSE;
  for (guint i = 0; all_required && keys[i]; i++)
    if (i != 3 && !require (c, map, section, keys[i], v[i]))   /* attn_resolutions defaults to [] */
      return FALSE;
  g_autofree gchar *k0 = g_strconcat (section, ".channels", NULL);
  g_autofree gchar *k1 = g_strconcat (section, ".channel_mult", NULL);
  g_autofree gchar *k2 = g_strconcat (section, ".res_blocks", NULL);
  g_autofree gchar *k3 = g_strconcat (section, ".attn_resolutions", NULL);
  g_autofree gchar *k4 = g_strconcat (section, ".z_channels", NULL);
  if (v[0] && !get_uint (c, v[0], k0, 1, MAX_CHANNELS, &cfg->channels))
    return FALSE;
  if (v[1] && !get_uint_list (c, v[1], k1, 1, 64, 1, AR_CARD_MAX_LEVELS, cfg->channel_mult, &cfg->n_levels))
    return FALSE;
  if (v[2] && !get_uint (c, v[2], k2, 0, MAX_RES_BLOCKS, &cfg->res_blocks))
    return FALSE;
  if (v[3] && !get_uint_list (c, v[3], k3, 1, MAX_RESOLUTION, 0, AR_CARD_MAX_LEVELS, cfg->attn_resolutions,
          &cfg->n_attn))
    return FALSE;
  if (v[4] && !get_uint (c, v[4], k4, 1, MAX_CHANNELS, &cfg->z_channels))
    return FALSE;
  for (guint i = 0; i < cfg->n_levels; i++)
    if ((guint64) cfg->channels * cfg->channel_mult[i] > MAX_CHANNELS)
      return fail (c, v[1] ? v[1] : map, k1, "channels %u x %u is absurdly large (at most %u)",
          cfg->channels, cfg->channel_mult[i], MAX_CHANNELS);
  return TRUE;
}

/* Level i works at resolution height >> i (taming's curr_res, which assumes the height). */
static gboolean
check_coder (Ctx *c, yaml_node_t *at, const char *section, const ArTokenizerConfig *tk, const ArCoderConfig *cfg)
{
  guint down = 1u << (cfg->n_levels - 1);
  if (tk->height % down || tk->width % down)
    return fail (c, at, "tokenizer.resolution", "%ux%u is not divisible by 2^(len(%s.channel_mult)-1) = %u",
        tk->height, tk->width, section, down);
  g_autofree gchar *attn_key = g_strconcat (section, ".attn_resolutions", NULL);
  for (guint a = 0; a < cfg->n_attn; a++) {
    gboolean used = FALSE;
    for (guint i = 0; i < cfg->n_levels; i++)
      used |= (tk->height >> i) == cfg->attn_resolutions[a];
    if (!used)
      return fail (c, at, attn_key, "entry %u matches no level (levels run from %u down to %u)",
          cfg->attn_resolutions[a], tk->height, tk->height / down);
  }
  guint g = tk->norm_groups;
  if (!tk->norm)    /* no GroupNorm layers: the group count does not matter */
    return TRUE;
  if (cfg->channels % g)
    return fail (c, at, "tokenizer.norm_groups", "%u does not divide %s.channels %u", g, section, cfg->channels);
  for (guint i = 0; i < cfg->n_levels; i++)
    if ((cfg->channels * cfg->channel_mult[i]) % g)
      return fail (c, at, "tokenizer.norm_groups", "%u does not divide %s.channels %u x channel_mult %u", g,
          section, cfg->channels, cfg->channel_mult[i]);
  return TRUE;
}

static gboolean
parse_tokenizer (Ctx *c, yaml_node_t *map, ArTokenizerConfig *tk)
{
  static const char *const keys[] = { "kind", "resolution", "in_channels", "encoder", "decoder",
    "codebook", "norm_groups", "norm", "mid_attention", NULL };
  static const char *const kinds[] = { "vq", "msvq", "pixel", NULL };
  static const char *const norms[] = { "group", "none", NULL };
  yaml_node_t *v[G_N_ELEMENTS (keys)];
  if (!read_mapping (c, map, "tokenizer", keys, v) || !require (c, map, "tokenizer", "kind", v[0]))
    return FALSE;
  gint kind = get_kind (c, v[0], "tokenizer.kind", kinds);
  if (kind < 0)
    return FALSE;
  tk->kind = (ArTokenizerKind) (kind + AR_TOKENIZER_VQ);
  if (tk->kind != AR_TOKENIZER_VQ)
    return fail (c, v[0], "tokenizer.kind", "'%s' is not supported yet (supported: vq)", kinds[kind]);
  for (guint i = 0; i < G_N_ELEMENTS (keys) - 1; i++)
    if ((i == 1 || i == 3 || i == 5) && !require (c, map, "tokenizer", keys[i], v[i]))
      return FALSE;

  guint res[2], n_res = 0;
  if (v[1]->type == YAML_SCALAR_NODE) {     /* a single size means square frames */
    if (!get_uint (c, v[1], "tokenizer.resolution", 1, MAX_RESOLUTION, &res[0]))
      return FALSE;
    res[1] = res[0];
  } else if (!get_uint_list (c, v[1], "tokenizer.resolution", 1, MAX_RESOLUTION, 2, 2, res, &n_res)) {
    return FALSE;
  }
  tk->height = res[0];
  tk->width = res[1];
  tk->in_channels = 3;
  if (v[2]) {
    if (!get_uint (c, v[2], "tokenizer.in_channels", 1, 3, &tk->in_channels))
      return FALSE;
    if (tk->in_channels == 2)
      return fail (c, v[2], "tokenizer.in_channels", "2 channels: expected 3 (RGB) or 1 (gray)");
  }
  tk->norm_groups = 32;
  if (v[6] && !get_uint (c, v[6], "tokenizer.norm_groups", 1, MAX_CHANNELS, &tk->norm_groups))
    return FALSE;
  tk->norm = TRUE;
  if (v[7]) {
    gint norm = get_kind (c, v[7], "tokenizer.norm", norms);
    if (norm < 0)
      return FALSE;
    tk->norm = norm == 0;
  }
  tk->mid_attention = TRUE;
  if (v[8] && !get_bool (c, v[8], "tokenizer.mid_attention", &tk->mid_attention))
    return FALSE;

  if (!parse_coder (c, v[3], "tokenizer.encoder", TRUE, &tk->encoder))
    return FALSE;
  tk->decoder = tk->encoder;
  if (v[4] && !parse_coder (c, v[4], "tokenizer.decoder", FALSE, &tk->decoder))
    return FALSE;
  if (!check_coder (c, v[3], "tokenizer.encoder", tk, &tk->encoder)
      || !check_coder (c, v[4] ? v[4] : v[3], "tokenizer.decoder", tk, &tk->decoder))
    return FALSE;
  if (tk->decoder.n_levels != tk->encoder.n_levels)
    return fail (c, v[4], "tokenizer.decoder.channel_mult", "%u levels but the encoder has %u: the token "
        "grid would differ", tk->decoder.n_levels, tk->encoder.n_levels);

  static const char *const cb_keys[] = { "size", "dim", NULL };
  yaml_node_t *cb[3];
  if (!read_mapping (c, v[5], "tokenizer.codebook", cb_keys, cb)
      || !require (c, v[5], "tokenizer.codebook", "size", cb[0])
      || !require (c, v[5], "tokenizer.codebook", "dim", cb[1])
      || !get_uint (c, cb[0], "tokenizer.codebook.size", 1, MAX_BIG, &tk->codebook_size)
      || !get_uint (c, cb[1], "tokenizer.codebook.dim", 1, MAX_DIM, &tk->codebook_dim))
    return FALSE;

  guint down = 1u << (tk->encoder.n_levels - 1);
  tk->grid_height = tk->height / down;
  tk->grid_width = tk->width / down;
  tk->tokens_per_frame = tk->grid_height * tk->grid_width;
  return TRUE;
}

static gboolean
parse_action (Ctx *c, yaml_node_t *map, ArPredictorConfig *pr)
{
  static const char *const keys[] = { "kind", "count", "dim", "add_to_frame", NULL };
  static const char *const kinds[] = { "discrete", "continuous", NULL };
  yaml_node_t *v[G_N_ELEMENTS (keys)];
  if (!read_mapping (c, map, "predictor.action", keys, v) || !require (c, map, "predictor.action", "kind", v[0]))
    return FALSE;
  if (v[3]) {
    if (pr->kind != AR_PREDICTOR_GPT)
      return fail (c, v[3], "predictor.action.add_to_frame", "applies to gpt only");
    if (!get_bool (c, v[3], "predictor.action.add_to_frame", &pr->action_add_to_frame))
      return FALSE;
  }
  gint kind = get_kind (c, v[0], "predictor.action.kind", kinds);
  if (kind < 0)
    return FALSE;
  pr->action_kind = (ArActionKind) kind;
  guint want = pr->action_kind == AR_ACTION_DISCRETE ? 1 : 2, other = 3 - want;
  if (!require (c, map, "predictor.action", keys[want], v[want]))
    return FALSE;
  if (v[other])
    return fail (c, v[other], "predictor.action", "'%s' does not apply to %s actions", keys[other], kinds[kind]);
  if (pr->action_kind == AR_ACTION_DISCRETE)
    return get_uint (c, v[1], "predictor.action.count", 1, MAX_BIG, &pr->action_count);
  return get_uint (c, v[2], "predictor.action.dim", 1, MAX_DIM, &pr->action_dim);
}

static gboolean
parse_predictor (Ctx *c, yaml_node_t *map, const ArTokenizerConfig *tk, ArPredictorConfig *pr)
{
  enum { KIND, LAYERS, DIM, HEADS, CONTEXT, TPF, VOCAB, ACTION, MLP, HEAD_HIDDEN, GELU, EPS, THETA };
  static const char *const keys[] = { "kind", "layers", "dim", "heads", "context_frames",
    "tokens_per_frame", "vocab", "action", "mlp_hidden", "head_hidden", "gelu", "norm_eps",
    "rope_theta", NULL };
  static const char *const kinds[] = { "gpt", "llama", NULL };
  static const char *const gelus[] = { "erf", "tanh", NULL };
  yaml_node_t *v[G_N_ELEMENTS (keys)];
  if (!read_mapping (c, map, "predictor", keys, v) || !require (c, map, "predictor", "kind", v[KIND]))
    return FALSE;
  gint kind = get_kind (c, v[KIND], "predictor.kind", kinds);
  if (kind < 0)
    return FALSE;
  pr->kind = (ArPredictorKind) (kind + AR_PREDICTOR_GPT);
  gboolean llama = pr->kind == AR_PREDICTOR_LLAMA;
  gboolean have_tk = tk->kind != AR_TOKENIZER_NONE;

  const int required[] = { LAYERS, DIM, HEADS, CONTEXT, ACTION };
  for (guint i = 0; i < G_N_ELEMENTS (required); i++)
    if (!require (c, map, "predictor", keys[required[i]], v[required[i]]))
      return FALSE;
  if ((!have_tk && !require (c, map, "predictor", "tokens_per_frame", v[TPF]))
      || (!have_tk && !require (c, map, "predictor", "vocab", v[VOCAB]))
      || (llama && !require (c, map, "predictor", "mlp_hidden", v[MLP])))
    return FALSE;
  if (!llama && v[THETA])
    return fail (c, v[THETA], "predictor.rope_theta", "applies to llama only");
  if (llama && v[GELU])
    return fail (c, v[GELU], "predictor.gelu", "applies to gpt only");

  if (!get_uint (c, v[LAYERS], "predictor.layers", 1, MAX_LAYERS, &pr->layers)
      || !get_uint (c, v[DIM], "predictor.dim", 1, MAX_DIM, &pr->dim)
      || !get_uint (c, v[HEADS], "predictor.heads", 1, MAX_DIM, &pr->heads)
      || !get_uint (c, v[CONTEXT], "predictor.context_frames", 1, MAX_DIM, &pr->context_frames)
      || !parse_action (c, v[ACTION], pr))
    return FALSE;
  if (pr->dim % pr->heads)
    return fail (c, v[HEADS], "predictor.heads", "%u does not divide dim %u", pr->heads, pr->dim);
  if (llama && (pr->dim / pr->heads) % 2)
    return fail (c, v[HEADS], "predictor.heads", "head size %u = dim %u / heads %u must be even for rotary "
        "embeddings", pr->dim / pr->heads, pr->dim, pr->heads);

  pr->tokens_per_frame = have_tk ? tk->tokens_per_frame : 0;
  if (v[TPF]) {
    guint tpf;
    if (!get_uint (c, v[TPF], "predictor.tokens_per_frame", 1, MAX_BIG, &tpf))
      return FALSE;
    if (have_tk && tpf != tk->tokens_per_frame)
      return fail (c, v[TPF], "predictor.tokens_per_frame", "%u does not match the tokenizer grid %ux%u = %u",
          tpf, tk->grid_height, tk->grid_width, tk->tokens_per_frame);
    pr->tokens_per_frame = tpf;
  }
  pr->vocab = have_tk ? tk->codebook_size : 0;
  if (v[VOCAB]) {
    guint vocab;
    if (!get_uint (c, v[VOCAB], "predictor.vocab", 1, MAX_BIG, &vocab))
      return FALSE;
    if (have_tk && vocab != tk->codebook_size)
      return fail (c, v[VOCAB], "predictor.vocab", "%u does not match tokenizer.codebook.size %u", vocab,
          tk->codebook_size);
    pr->vocab = vocab;
  }
  guint64 seq = (guint64) pr->context_frames * (pr->tokens_per_frame + 1u);
  if (seq > MAX_SEQ)
    return fail (c, v[CONTEXT], "predictor.context_frames", "%u frames x %u positions is absurdly long "
        "(at most %u positions)", pr->context_frames, pr->tokens_per_frame + 1, MAX_SEQ);
  pr->seq_len = (guint) seq;

  pr->mlp_hidden = llama ? 0 : 4 * pr->dim;
  if (v[MLP] && !get_uint (c, v[MLP], "predictor.mlp_hidden", 1, MAX_BIG, &pr->mlp_hidden))
    return FALSE;
  pr->head_hidden = 0;
  if (v[HEAD_HIDDEN] && !get_uint (c, v[HEAD_HIDDEN], "predictor.head_hidden", 0, MAX_BIG, &pr->head_hidden))
    return FALSE;
  if (llama && pr->head_hidden)
    return fail (c, v[HEAD_HIDDEN], "predictor.head_hidden", "llama has a single Linear head (0)");
  pr->gelu = AR_GELU_ERF;
  if (v[GELU]) {
    gint g = get_kind (c, v[GELU], "predictor.gelu", gelus);
    if (g < 0)
      return FALSE;
    pr->gelu = (ArGeluKind) g;
  }
  pr->norm_eps = 1e-5;
  if (v[EPS] && !get_positive_double (c, v[EPS], "predictor.norm_eps", 1.0, &pr->norm_eps))
    return FALSE;
  pr->rope_theta = 10000.0;
  if (v[THETA] && !get_positive_double (c, v[THETA], "predictor.rope_theta", 1e12, &pr->rope_theta))
    return FALSE;
  return TRUE;
}

/* keys: {name: action}: an index for discrete actions, a list of action.dim numbers for
 * continuous ones. Needs the predictor section, already parsed. */
static gboolean
parse_keys (Ctx *c, yaml_node_t *map, ArCard *card)
{
  const ArPredictorConfig *pr = &card->predictor;
  if (map->type != YAML_MAPPING_NODE)
    return fail (c, map, "keys", "expected a mapping of key names to actions, got %s", node_kind_name (map));
  if (pr->kind == AR_PREDICTOR_NONE)
    return fail (c, map, "keys", "the card has no predictor section whose actions the keys could take");
  gsize count = (gsize) (map->data.mapping.pairs.top - map->data.mapping.pairs.start);
  if (count > MAX_KEYS)
    return fail (c, map, "keys", "%" G_GSIZE_FORMAT " entries is absurdly many (at most %u)", count, MAX_KEYS);
  card->keys = g_new0 (ArCardKey, MAX (count, 1));
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node (c->doc, p->key);
    yaml_node_t *v = yaml_document_get_node (c->doc, p->value);
    if (!k || !v)
      return fail (c, map, "keys", "malformed mapping");
    if (k->type != YAML_SCALAR_NODE || k->data.scalar.length == 0)
      return fail (c, k, "keys", "key names must be non-empty strings such as Up, Left, space or a");
    const char *name = (const char *) k->data.scalar.value;
    g_autofree gchar *full = g_strconcat ("keys.", name, NULL);
    if (ar_card_lookup_key (card, name))
      return fail (c, k, full, "duplicate key");
    ArCardKey *key = &card->keys[card->n_keys];
    if (pr->action_kind == AR_ACTION_DISCRETE) {
      if (v->type != YAML_SCALAR_NODE)
        return fail (c, v, full, "expected an action index (the predictor's actions are discrete), got %s",
            node_kind_name (v));
      if (!get_uint (c, v, full, 0, G_MAXUINT32, &key->index))
        return FALSE;
      if (key->index >= pr->action_count)
        return fail (c, v, full, "action %u, but predictor.action.count is %u (indices 0 to %u)", key->index,
            pr->action_count, pr->action_count - 1);
    } else {
      if (v->type != YAML_SEQUENCE_NODE)
        return fail (c, v, full, "expected a list of %u numbers (predictor.action.dim), got %s", pr->action_dim,
            node_kind_name (v));
      gsize n = (gsize) (v->data.sequence.items.top - v->data.sequence.items.start);
      if (n != pr->action_dim)
        return fail (c, v, full, "%" G_GSIZE_FORMAT " values, but predictor.action.dim is %u", n, pr->action_dim);
      key->values = g_new (float, n);
      for (gsize i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node (c->doc, v->data.sequence.items.start[i]);
        g_autofree gchar *ikey = g_strdup_printf ("%s[%" G_GSIZE_FORMAT "]", full, i);
        double value = 0;
        if (!item)
          return fail (c, v, full, "malformed list");
        if (!get_double (c, item, ikey, &value))
          return FALSE;
        key->values[i] = (float) value;
      }
      key->dim = (guint) n;
    }
    key->name = g_strdup (name);
    card->n_keys++;
  }
  return TRUE;
}

static gboolean
parse_root (Ctx *c, yaml_node_t *root, ArCard *card)
{
  enum { FORMAT, NAME, WEIGHTS, TOKENIZER, PREDICTOR, TRAINING, KEYS };
  static const char *const keys[] = { "format", "name", "weights", "tokenizer", "predictor",
    "training", "keys", NULL };
  yaml_node_t *v[G_N_ELEMENTS (keys)];
  if (!read_mapping (c, root, NULL, keys, v)
      || !require (c, root, NULL, "format", v[FORMAT])
      || !require (c, root, NULL, "weights", v[WEIGHTS]))
    return FALSE;
  guint format;
  if (!get_uint (c, v[FORMAT], "format", 0, G_MAXINT, &format))
    return FALSE;
  if (format != 1)
    return fail (c, v[FORMAT], "format", "card format %u is not supported (supported: 1)", format);
  card->format = (gint) format;

  const char *s;
  if (v[NAME]) {
    if (!get_string (c, v[NAME], "name", &s))
      return FALSE;
    card->name = g_strdup (s);
  } else {
    card->name = g_path_get_basename (c->path);
  }
  if (!get_string (c, v[WEIGHTS], "weights", &s))
    return FALSE;
  if (s[0] == '\0')
    return fail (c, v[WEIGHTS], "weights", "empty path");
  /* Relative to the card's directory; g_canonicalize_filename anchors relative results at the
   * current directory itself (it refuses a relative base). */
  g_autofree gchar *dir = g_path_get_dirname (c->path);
  g_autofree gchar *joined = g_path_is_absolute (s) ? g_strdup (s) : g_build_filename (dir, s, NULL);
  card->weights = g_canonicalize_filename (joined, NULL);

  if (!v[TOKENIZER] && !v[PREDICTOR])
    return fail (c, root, NULL, "the card has neither a tokenizer nor a predictor section");
  if (v[TOKENIZER] && !parse_tokenizer (c, v[TOKENIZER], &card->tokenizer))
    return FALSE;
  if (v[PREDICTOR] && !parse_predictor (c, v[PREDICTOR], &card->tokenizer, &card->predictor))
    return FALSE;
  if (v[KEYS] && !is_plain_null (v[KEYS]) && !parse_keys (c, v[KEYS], card))
    return FALSE;
  /* training is free-form and ignored here. */
  return TRUE;
}

ArCard *
ar_card_parse (const char *text, gsize len, const char *path, GError **error)
{
  g_return_val_if_fail (text != NULL || len == 0, NULL);
  if (!path)
    path = "(card)";
  if (len > MAX_CARD_BYTES) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: %" G_GSIZE_FORMAT " bytes is absurdly large for a card "
        "(at most %u)", path, len, MAX_CARD_BYTES);
    return NULL;
  }
  yaml_parser_t parser;
  yaml_document_t doc;
  if (!yaml_parser_initialize (&parser)) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: cannot initialize the YAML parser", path);
    return NULL;
  }
  yaml_parser_set_input_string (&parser, (const unsigned char *) (text ? text : ""), len);
  if (!yaml_parser_load (&parser, &doc)) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s:%lu: YAML syntax error: %s%s%s", path,
        (unsigned long) parser.problem_mark.line + 1, parser.problem ? parser.problem : "unknown problem",
        parser.context ? " " : "", parser.context ? parser.context : "");
    yaml_parser_delete (&parser);
    return NULL;
  }
  g_autoptr (ArCard) card = g_new0 (ArCard, 1);
  card->path = g_strdup (path);
  Ctx c = { path, &doc, error };
  yaml_node_t *root = yaml_document_get_root_node (&doc);
  gboolean ok;
  if (!root) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: the card is empty", path);
    ok = FALSE;
  } else {
    ok = parse_root (&c, root, card);
  }
  yaml_document_delete (&doc);
  if (ok) {
    /* A second document would be silently ignored otherwise. */
    if (!yaml_parser_load (&parser, &doc)) {
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s:%lu: YAML syntax error: %s", path,
          (unsigned long) parser.problem_mark.line + 1, parser.problem ? parser.problem : "unknown problem");
      ok = FALSE;
    } else {
      if (yaml_document_get_root_node (&doc)) {
        g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: more than one YAML document", path);
        ok = FALSE;
      }
      yaml_document_delete (&doc);
    }
  }
  yaml_parser_delete (&parser);
  return ok ? g_steal_pointer (&card) : NULL;
}

ArCard *
ar_card_load (const char *path, GError **error)
{
  g_autofree gchar *text = NULL;
  gsize len;
  g_autoptr (GError) ferr = NULL;
  if (!g_file_get_contents (path, &text, &len, &ferr)) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: cannot read the card: %s", path, ferr->message);
    return NULL;
  }
  return ar_card_parse (text, len, path, error);
}

void
ar_card_free (ArCard *card)
{
  if (!card)
    return;
  g_free (card->path);
  g_free (card->name);
  g_free (card->weights);
  for (guint i = 0; i < card->n_keys; i++) {
    g_free (card->keys[i].name);
    g_free (card->keys[i].values);
  }
  g_free (card->keys);
  g_free (card);
}

const ArCardKey *
ar_card_lookup_key (const ArCard *card, const char *name)
{
  for (guint i = 0; name && i < card->n_keys; i++)
    if (strcmp (card->keys[i].name, name) == 0)
      return &card->keys[i];
  return NULL;
}

const char *
ar_tokenizer_kind_name (ArTokenizerKind kind)
{
  static const char *const names[] = { "none", "vq", "msvq", "pixel" };
  return (guint) kind < G_N_ELEMENTS (names) ? names[kind] : "?";
}

const char *
ar_predictor_kind_name (ArPredictorKind kind)
{
  static const char *const names[] = { "none", "gpt", "llama" };
  return (guint) kind < G_N_ELEMENTS (names) ? names[kind] : "?";
}

/* Expected tensors */

static void G_GNUC_PRINTF (3, 4)
add (GArray *a, const gint64 *shape, const char *fmt, ...)
{
  ArTensorSpec s = { 0 };
  va_list ap;
  va_start (ap, fmt);
  s.name = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  while (s.ndim < AR_CARD_MAX_DIMS && shape[s.ndim] > 0) {
    s.shape[s.ndim] = shape[s.ndim];
    s.ndim++;
  }
  g_array_append_val (a, s);
}

#define SHAPE(...) ((const gint64[AR_CARD_MAX_DIMS + 1]) { __VA_ARGS__ })

static void
add_conv (GArray *a, const char *prefix, guint out, guint in, guint k)
{
  add (a, SHAPE (out, in, k, k), "%s.weight", prefix);
  add (a, SHAPE (out), "%s.bias", prefix);
}

static void
add_norm (GArray *a, const char *prefix, guint channels)
{
  add (a, SHAPE (channels), "%s.weight", prefix);
  add (a, SHAPE (channels), "%s.bias", prefix);
}

static void
add_linear (GArray *a, const char *prefix, guint out, guint in, gboolean bias)
{
  add (a, SHAPE (out, in), "%s.weight", prefix);
  if (bias)
    add (a, SHAPE (out), "%s.bias", prefix);
}

static void
add_resblock (GArray *a, const ArTokenizerConfig *tk, const char *prefix, guint in, guint out)
{
  g_autofree gchar *p = NULL;
  if (tk->norm)
    add_norm (a, (g_free (p), p = g_strconcat (prefix, ".norm1", NULL)), in);
  add_conv (a, (g_free (p), p = g_strconcat (prefix, ".conv1", NULL)), out, in, 3);
  if (tk->norm)
    add_norm (a, (g_free (p), p = g_strconcat (prefix, ".norm2", NULL)), out);
  add_conv (a, (g_free (p), p = g_strconcat (prefix, ".conv2", NULL)), out, out, 3);
  if (in != out)
    add_conv (a, (g_free (p), p = g_strconcat (prefix, ".nin_shortcut", NULL)), out, in, 1);
}

static void
add_attnblock (GArray *a, const ArTokenizerConfig *tk, const char *prefix, guint ch)
{
  static const char *const parts[] = { "norm", "q", "k", "v", "proj_out" };
  for (guint i = 0; i < G_N_ELEMENTS (parts); i++) {
    g_autofree gchar *p = g_strdup_printf ("%s.%s", prefix, parts[i]);
    if (i == 0) {
      if (tk->norm)
        add_norm (a, p, ch);
    } else {
      add_conv (a, p, ch, ch, 1);
    }
  }
}

static gboolean
level_attends (const ArTokenizerConfig *tk, const ArCoderConfig *cfg, guint level)
{
  for (guint i = 0; i < cfg->n_attn; i++)
    if (cfg->attn_resolutions[i] == tk->height >> level)
      return TRUE;
  return FALSE;
}

/* Mirrors taming-transformers' Encoder (no double_z) module by module. */
static void
add_encoder (GArray *a, const ArTokenizerConfig *tk)
{
  const ArCoderConfig *e = &tk->encoder;
  guint ch = e->channels, block_in = ch;
  add_conv (a, "tokenizer.encoder.conv_in", ch, tk->in_channels, 3);
  for (guint i = 0; i < e->n_levels; i++) {
    guint block_out = ch * e->channel_mult[i];
    for (guint j = 0; j < e->res_blocks; j++) {
      g_autofree gchar *p = g_strdup_printf ("tokenizer.encoder.down.%u.block.%u", i, j);
      add_resblock (a, tk, p, block_in, block_out);
      block_in = block_out;
    }
    for (guint j = 0; level_attends (tk, e, i) && j < e->res_blocks; j++) {
      g_autofree gchar *p = g_strdup_printf ("tokenizer.encoder.down.%u.attn.%u", i, j);
      add_attnblock (a, tk, p, block_in);
    }
    if (i != e->n_levels - 1) {
      g_autofree gchar *p = g_strdup_printf ("tokenizer.encoder.down.%u.downsample.conv", i);
      add_conv (a, p, block_in, block_in, 3);
    }
  }
  add_resblock (a, tk, "tokenizer.encoder.mid.block_1", block_in, block_in);
  if (tk->mid_attention)
    add_attnblock (a, tk, "tokenizer.encoder.mid.attn_1", block_in);
  add_resblock (a, tk, "tokenizer.encoder.mid.block_2", block_in, block_in);
  if (tk->norm)
    add_norm (a, "tokenizer.encoder.norm_out", block_in);
  add_conv (a, "tokenizer.encoder.conv_out", e->z_channels, block_in, 3);
}

/* Mirrors taming-transformers' Decoder: levels built from the top, res_blocks + 1 per level. */
static void
add_decoder (GArray *a, const ArTokenizerConfig *tk)
{
  const ArCoderConfig *d = &tk->decoder;
  guint ch = d->channels, nr = d->n_levels;
  guint block_in = ch * d->channel_mult[nr - 1];
  add_conv (a, "tokenizer.decoder.conv_in", block_in, d->z_channels, 3);
  add_resblock (a, tk, "tokenizer.decoder.mid.block_1", block_in, block_in);
  if (tk->mid_attention)
    add_attnblock (a, tk, "tokenizer.decoder.mid.attn_1", block_in);
  add_resblock (a, tk, "tokenizer.decoder.mid.block_2", block_in, block_in);
  for (guint i = nr; i-- > 0;) {
    guint block_out = ch * d->channel_mult[i];
    for (guint j = 0; j <= d->res_blocks; j++) {
      g_autofree gchar *p = g_strdup_printf ("tokenizer.decoder.up.%u.block.%u", i, j);
      add_resblock (a, tk, p, block_in, block_out);
      block_in = block_out;
    }
    for (guint j = 0; level_attends (tk, d, i) && j <= d->res_blocks; j++) {
      g_autofree gchar *p = g_strdup_printf ("tokenizer.decoder.up.%u.attn.%u", i, j);
      add_attnblock (a, tk, p, block_in);
    }
    if (i != 0) {
      g_autofree gchar *p = g_strdup_printf ("tokenizer.decoder.up.%u.upsample.conv", i);
      add_conv (a, p, block_in, block_in, 3);
    }
  }
  if (tk->norm)
    add_norm (a, "tokenizer.decoder.norm_out", block_in);
  add_conv (a, "tokenizer.decoder.conv_out", tk->in_channels, block_in, 3);
}

static void
add_predictor (GArray *a, const ArPredictorConfig *pr)
{
  gboolean gpt = pr->kind == AR_PREDICTOR_GPT;
  guint dim = pr->dim, hid = pr->mlp_hidden;
  add (a, SHAPE (pr->vocab, dim), "predictor.tok_emb.weight");
  if (!gpt)
    add (a, SHAPE (dim), "predictor.sep_emb");
  if (pr->action_kind == AR_ACTION_DISCRETE)
    add (a, SHAPE (pr->action_count, dim), "predictor.act_emb.weight");
  else
    add_linear (a, "predictor.act_proj", dim, pr->action_dim, TRUE);
  if (gpt)
    add (a, SHAPE (pr->seq_len, dim), "predictor.pos_emb.weight");
  for (guint i = 0; i < pr->layers; i++) {
    g_autofree gchar *p = NULL;
#define P(suffix) (g_free (p), p = g_strdup_printf ("predictor.blocks.%u.%s", i, suffix))
    if (gpt) {
      add_norm (a, P ("ln1"), dim);
      add_linear (a, P ("attn.qkv"), 3 * dim, dim, TRUE);
      add_linear (a, P ("attn.proj"), dim, dim, TRUE);
      add_norm (a, P ("ln2"), dim);
      add_linear (a, P ("mlp.fc1"), hid, dim, TRUE);
      add_linear (a, P ("mlp.fc2"), dim, hid, TRUE);
    } else {
      add (a, SHAPE (dim), "%s", P ("norm1.weight"));
      add_linear (a, P ("attn.qkv"), 3 * dim, dim, FALSE);
      add_linear (a, P ("attn.proj"), dim, dim, FALSE);
      add (a, SHAPE (dim), "%s", P ("norm2.weight"));
      add_linear (a, P ("mlp.gate"), hid, dim, FALSE);
      add_linear (a, P ("mlp.up"), hid, dim, FALSE);
      add_linear (a, P ("mlp.down"), dim, hid, FALSE);
    }
#undef P
  }
  if (gpt) {
    add_norm (a, "predictor.ln_f", dim);
    if (pr->head_hidden == 0) {
      add_linear (a, "predictor.head", pr->vocab, dim, TRUE);
    } else {
      add_linear (a, "predictor.head.fc1", pr->head_hidden, dim, TRUE);
      add_linear (a, "predictor.head.fc2", pr->vocab, pr->head_hidden, TRUE);
    }
  } else {
    add (a, SHAPE (dim), "predictor.norm_f.weight");
    add_linear (a, "predictor.head", pr->vocab, dim, FALSE);
  }
}

static void
spec_clear (gpointer p)
{
  g_free (((ArTensorSpec *) p)->name);
}

GArray *
ar_card_expected_tensors (const ArCard *card)
{
  GArray *a = g_array_new (FALSE, TRUE, sizeof (ArTensorSpec));
  g_array_set_clear_func (a, spec_clear);
  const ArTokenizerConfig *tk = &card->tokenizer;
  if (tk->kind == AR_TOKENIZER_VQ) {
    add_encoder (a, tk);
    add_conv (a, "tokenizer.pre_quant_conv", tk->codebook_dim, tk->encoder.z_channels, 1);
    add (a, SHAPE (tk->codebook_size, tk->codebook_dim), "tokenizer.codebook.weight");
    add_conv (a, "tokenizer.post_quant_conv", tk->decoder.z_channels, tk->codebook_dim, 1);
    add_decoder (a, tk);
  }
  if (card->predictor.kind != AR_PREDICTOR_NONE)
    add_predictor (a, &card->predictor);
  return a;
}

guint64
ar_tensor_spec_elements (const ArTensorSpec *spec)
{
  guint64 n = 1;
  for (guint i = 0; i < spec->ndim; i++)
    n *= (guint64) spec->shape[i];
  return n;
}

/* Descriptions */

static void
append_list (GString *s, const guint *v, guint n)
{
  g_string_append_c (s, '[');
  for (guint i = 0; i < n; i++)
    g_string_append_printf (s, "%s%u", i ? "," : "", v[i]);
  g_string_append_c (s, ']');
}

static void
append_coder (GString *s, const ArCoderConfig *c)
{
  g_string_append_printf (s, "ch %u mult ", c->channels);
  append_list (s, c->channel_mult, c->n_levels);
  g_string_append_printf (s, " blocks %u attn ", c->res_blocks);
  append_list (s, c->attn_resolutions, c->n_attn);
  g_string_append_printf (s, " z %u", c->z_channels);
}

gchar *
ar_card_describe_tokenizer (const ArCard *card)
{
  const ArTokenizerConfig *tk = &card->tokenizer;
  if (tk->kind == AR_TOKENIZER_NONE)
    return g_strdup ("none");
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "%s %ux%u %s, encoder ", ar_tokenizer_kind_name (tk->kind), tk->width,
      tk->height, tk->in_channels == 1 ? "gray" : "rgb");
  append_coder (s, &tk->encoder);
  if (memcmp (&tk->encoder, &tk->decoder, sizeof tk->encoder) != 0) {
    g_string_append (s, ", decoder ");
    append_coder (s, &tk->decoder);
  }
  g_string_append_printf (s, ", codebook %ux%u, ", tk->codebook_size, tk->codebook_dim);
  if (tk->norm)
    g_string_append_printf (s, "groups %u", tk->norm_groups);
  else
    g_string_append (s, "no norm");
  if (!tk->mid_attention)
    g_string_append (s, ", no mid attention");
  g_string_append_printf (s, ", grid %ux%u = %u tokens/frame", tk->grid_width, tk->grid_height,
      tk->tokens_per_frame);
  return g_string_free (s, FALSE);
}

gchar *
ar_card_describe_predictor (const ArCard *card)
{
  const ArPredictorConfig *pr = &card->predictor;
  if (pr->kind == AR_PREDICTOR_NONE)
    return g_strdup ("none");
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "%s %u layers, dim %u, %u heads, mlp %u, context %u frames x %u = %u positions, "
      "vocab %u, ", ar_predictor_kind_name (pr->kind), pr->layers, pr->dim, pr->heads, pr->mlp_hidden,
      pr->context_frames, pr->tokens_per_frame + 1, pr->seq_len, pr->vocab);
  if (pr->action_kind == AR_ACTION_DISCRETE)
    g_string_append_printf (s, "%u discrete actions", pr->action_count);
  else
    g_string_append_printf (s, "continuous actions of dim %u", pr->action_dim);
  if (pr->action_add_to_frame)
    g_string_append (s, " (also added to the next frame's tokens)");
  if (pr->head_hidden)
    g_string_append_printf (s, ", head mlp %u", pr->head_hidden);
  if (pr->kind == AR_PREDICTOR_GPT)
    g_string_append_printf (s, ", gelu %s", pr->gelu == AR_GELU_TANH ? "tanh" : "erf");
  else
    g_string_append_printf (s, ", rope theta %g", pr->rope_theta);
  g_string_append_printf (s, ", eps %g", pr->norm_eps);
  return g_string_free (s, FALSE);
}

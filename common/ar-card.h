/* Model cards: the YAML description of a model (schema in models/README.md),
 * parsed strictly, with defaults applied and derived sizes computed. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

#define AR_CARD_MAX_LEVELS 8     /* entries in channel_mult */
#define AR_CARD_MAX_DIMS 4       /* dimensions of an expected tensor */

typedef enum {
  AR_TOKENIZER_NONE,   /* no tokenizer section */
  AR_TOKENIZER_VQ,
  AR_TOKENIZER_MSVQ,   /* parsed as a kind, rejected as not supported yet */
  AR_TOKENIZER_PIXEL,  /* ditto */
} ArTokenizerKind;

typedef enum {
  AR_PREDICTOR_NONE,   /* no predictor section */
  AR_PREDICTOR_GPT,
  AR_PREDICTOR_LLAMA,
} ArPredictorKind;

typedef enum {
  AR_ACTION_DISCRETE,
  AR_ACTION_CONTINUOUS,
} ArActionKind;

typedef enum {
  AR_GELU_ERF,
  AR_GELU_TANH,
} ArGeluKind;

/* A taming-transformers Encoder or Decoder. */
typedef struct {
  guint channels;
  guint n_levels;                                /* len(channel_mult) */
  guint channel_mult[AR_CARD_MAX_LEVELS];
  guint res_blocks;
  guint n_attn;
  guint attn_resolutions[AR_CARD_MAX_LEVELS];
  guint z_channels;
} ArCoderConfig;

typedef struct {
  ArTokenizerKind kind;
  guint height, width;             /* resolution */
  guint in_channels;               /* default 3 */
  ArCoderConfig encoder;
  ArCoderConfig decoder;           /* the encoder's values unless given */
  guint codebook_size, codebook_dim;
  guint norm_groups;               /* default 32; unused without normalisation */
  gboolean norm;                   /* `norm: group` (default): GroupNorm layers; `none`: no
                                    * normalisation layers at all (and no tensors for them) */
  gboolean mid_attention;          /* default true; false: the mid blocks have no attn_1 */
  /* derived */
  guint grid_height, grid_width;   /* resolution / 2^(n_levels-1) */
  guint tokens_per_frame;
} ArTokenizerConfig;

typedef struct {
  ArPredictorKind kind;
  guint layers, dim, heads;
  guint context_frames;
  guint tokens_per_frame;          /* default: the tokenizer's */
  guint vocab;                     /* default: the tokenizer's codebook size */
  ArActionKind action_kind;
  guint action_count;              /* discrete */
  guint action_dim;                /* continuous */
  gboolean action_add_to_frame;    /* gpt: the action's embedding is also added to every token
                                    * of the frame it leads to (default false) */
  guint mlp_hidden;                /* gpt default 4*dim; required for llama */
  guint head_hidden;               /* 0: a single Linear head */
  ArGeluKind gelu;                 /* gpt only, default erf */
  double norm_eps;                 /* default 1e-5 */
  double rope_theta;               /* llama only, default 10000 */
  /* derived */
  guint seq_len;                   /* context_frames * (tokens_per_frame + 1) */
} ArPredictorConfig;

/* One entry of the card's `keys:` table: a navigation key and the action it takes. */
typedef struct {
  gchar *name;                     /* GStreamer navigation key name: "Up", "Left", "space", "a" */
  guint index;                     /* discrete actions: the action index */
  guint dim;                       /* continuous actions: predictor.action.dim; 0 for discrete */
  float *values;                   /* continuous actions: dim values; NULL for discrete */
} ArCardKey;

typedef struct {
  gchar *path;                     /* the card file as given */
  gint format;
  gchar *name;                     /* default: the card's file name */
  gchar *weights;                  /* resolved relative to the card's directory */
  ArTokenizerConfig tokenizer;
  ArPredictorConfig predictor;
  ArCardKey *keys;                 /* the `keys:` table, in card order; NULL when absent */
  guint n_keys;
} ArCard;

/* One tensor the card implies, e.g. {"predictor.tok_emb.weight", 2, {512, 256}}. */
typedef struct {
  gchar *name;
  guint ndim;
  gint64 shape[AR_CARD_MAX_DIMS];
} ArTensorSpec;

/* Reads and validates a card; errors are AR_ERROR_MODEL, "<path>:<line>: <key>: <problem>". */
ArCard *ar_card_load (const char *path, GError **error);

/* The same from text in memory; @path names it in errors and anchors relative weights paths. */
ArCard *ar_card_parse (const char *text, gsize len, const char *path, GError **error);

void ar_card_free (ArCard *card);

/* The entry of the `keys:` table for navigation key @name, or NULL. */
const ArCardKey *ar_card_lookup_key (const ArCard *card, const char *name);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArCard, ar_card_free)

/* Every tensor the weights file must hold, exactly named per models/README.md, tokenizer first.
 * An array of ArTensorSpec that frees the names itself. */
GArray *ar_card_expected_tensors (const ArCard *card);

/* Elements of one spec (no overflow: card limits bound it far below 2^64). */
guint64 ar_tensor_spec_elements (const ArTensorSpec *spec);

const char *ar_tokenizer_kind_name (ArTokenizerKind kind);
const char *ar_predictor_kind_name (ArPredictorKind kind);

/* One-line descriptions for tools and logs; "none" when the section is absent. */
gchar *ar_card_describe_tokenizer (const ArCard *card);
gchar *ar_card_describe_predictor (const ArCard *card);

G_END_DECLS

/* A small 2D robot world to learn: an agent (a red disc) moves with a continuous 2D action (its
 * velocity), pushes an object (a blue disc) that slides with friction and bounces off the walls,
 * and optionally shares the arena with distractors (yellow discs that drift on their own and
 * ignore everything).
 *
 * The world lives in the unit square, so it renders at any size. Everything is computed in
 * double precision from a seeded generator: the same seed and actions give the same frames on
 * every machine. One step is one frame.
 *
 * Frame/action convention (the models' too): render frame t, pick the action a_t, step. a_t is
 * "the action taken at frame t", the one that produces frame t+1. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

#define AR_SIM_ACTION_DIM 2

typedef enum {
  AR_SIM_POLICY_RANDOM,     /* seeded random phases: smooth walks, seeking the object, jitter */
  AR_SIM_POLICY_SCRIPTED,   /* a fixed, seed-independent loop around the arena */
} ArSimPolicy;

typedef struct _ArSim ArSim;

/* A world drawn from @seed with @n_distractors distractors (0 .. AR_SIM_MAX_DISTRACTORS). */
#define AR_SIM_MAX_DISTRACTORS 4
ArSim *ar_sim_new (guint64 seed, guint n_distractors);
void ar_sim_free (ArSim *sim);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArSim, ar_sim_free)

/* Back to the initial state of @seed (positions, policy state, step counter). */
void ar_sim_reset (ArSim *sim, guint64 seed);

guint64 ar_sim_steps (const ArSim *sim);

/* Renders the current state as 8-bit RGB: @width x @height pixels, @stride bytes per row,
 * @pixel_stride bytes per pixel (3 for RGB, 4 for RGBx/RGBA: the 4th byte is set to 255), in
 * R, G, B order (swap the indices for BGR formats with @bgr). Edges are anti-aliased by 4x4
 * supersampling. */
void ar_sim_render (const ArSim *sim, guint8 *pixels, guint width, guint height, gsize stride,
    guint pixel_stride, gboolean bgr);

/* The policy's next action (advances its state), each component in [-1, 1]. */
void ar_sim_policy_action (ArSim *sim, ArSimPolicy policy, float action[AR_SIM_ACTION_DIM]);

/* Applies @action (clamped to [-1, 1]; the agent moves action * AR_SIM_AGENT_SPEED per step)
 * and advances the world by one step. */
#define AR_SIM_AGENT_SPEED 0.05
void ar_sim_step (ArSim *sim, const float action[AR_SIM_ACTION_DIM]);

/* State, for tests: agent and object centres in the unit square. */
void ar_sim_get_state (const ArSim *sim, double agent[2], double object[2]);

const char *ar_sim_policy_name (ArSimPolicy policy);
/* FALSE when @name is neither "random" nor "scripted". */
gboolean ar_sim_policy_from_name (const char *name, ArSimPolicy *policy);

G_END_DECLS

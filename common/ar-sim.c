/* The simulator world (see ar-sim.h). Only + - * / and sqrt are used, which IEEE 754 rounds
 * exactly, so frames are bit-identical on every machine (no libm transcendentals). */
#include "ar-sim.h"

#include <math.h>
#include <string.h>

/* Arena geometry, in the unit square. */
#define WALL 0.05
#define AGENT_RADIUS 0.08
#define OBJECT_RADIUS 0.10
#define DISTRACTOR_RADIUS 0.05
#define DISTRACTOR_SPEED 0.02
#define OBJECT_FRICTION 0.85   /* velocity kept per step */

/* Random policy, in phases of a few steps:
 * - seek: an Ornstein-Uhlenbeck walk whose mean is "go to the object", so that episodes contain
 *   pushes often enough to learn them;
 * - wander: the same walk around rest (smooth motions);
 * - jitter: a new uniform action on about every other step, held otherwise (like keys pressed
 *   by hand). The agent has no inertia, so its next position depends on the action alone: a
 *   model can only predict these steps by reading the action, not by extrapolating the past. */
#define OU_KEEP 0.85
#define OU_NOISE 0.4
#define SEEK_GAIN 0.7
#define JITTER_CHANGE 0.5

typedef enum { PHASE_WANDER, PHASE_SEEK, PHASE_JITTER } PolicyPhase;

typedef struct {
  double x, y;
} Vec2;

typedef struct {
  Vec2 pos, vel;
} Body;

struct _ArSim {
  guint64 seed;
  guint n_distractors;
  guint64 rng[4];
  guint64 steps;
  Body agent, object;
  Body distractors[AR_SIM_MAX_DISTRACTORS];
  /* policy state */
  double ou[2];
  PolicyPhase phase;
  guint phase_left;
  guint waypoint;
};

static const guint8 COLOR_FLOOR[3] = { 222, 218, 206 };
static const guint8 COLOR_WALL[3] = { 70, 74, 86 };
static const guint8 COLOR_AGENT[3] = { 214, 52, 44 };
static const guint8 COLOR_OBJECT[3] = { 40, 102, 214 };
static const guint8 COLOR_DISTRACTOR[3] = { 236, 190, 30 };

/* ---- random numbers: splitmix64 seeding a xoshiro256** stream ---- */

static guint64
splitmix64 (guint64 *state)
{
  guint64 z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static inline guint64
rotl (guint64 x, int k)
{
  return (x << k) | (x >> (64 - k));
}

static guint64
rng_next (ArSim *sim)
{
  guint64 *s = sim->rng;
  guint64 result = rotl (s[1] * 5, 7) * 9;
  guint64 t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl (s[3], 45);
  return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double
rng_uniform (ArSim *sim)
{
  return (double) (rng_next (sim) >> 11) * (1.0 / 9007199254740992.0);
}

/* Approximately standard normal: the sum of four uniforms, centred and scaled to unit
 * variance (no transcendentals, so it is reproducible everywhere). */
static double
rng_normal (ArSim *sim)
{
  double s = rng_uniform (sim) + rng_uniform (sim) + rng_uniform (sim) + rng_uniform (sim);
  return (s - 2.0) * 1.7320508075688772;
}

/* ---- world ---- */

static double
clampd (double v, double lo, double hi)
{
  return v < lo ? lo : (v > hi ? hi : v);
}

static Vec2
random_position (ArSim *sim, double radius)
{
  double lo = WALL + radius, span = 1.0 - 2.0 * (WALL + radius);
  Vec2 p = { lo + span * rng_uniform (sim), lo + span * rng_uniform (sim) };
  return p;
}

/* Reflects a body off the walls: position mirrored, velocity component negated. */
static void
bounce (Body *b, double radius)
{
  double lo = WALL + radius, hi = 1.0 - WALL - radius;
  if (b->pos.x < lo) {
    b->pos.x = 2.0 * lo - b->pos.x;
    b->vel.x = -b->vel.x;
  } else if (b->pos.x > hi) {
    b->pos.x = 2.0 * hi - b->pos.x;
    b->vel.x = -b->vel.x;
  }
  if (b->pos.y < lo) {
    b->pos.y = 2.0 * lo - b->pos.y;
    b->vel.y = -b->vel.y;
  } else if (b->pos.y > hi) {
    b->pos.y = 2.0 * hi - b->pos.y;
    b->vel.y = -b->vel.y;
  }
  /* A very fast body could still be outside after one reflection. */
  b->pos.x = clampd (b->pos.x, lo, hi);
  b->pos.y = clampd (b->pos.y, lo, hi);
}

static void
clamp_into_arena (Body *b, double radius)
{
  b->pos.x = clampd (b->pos.x, WALL + radius, 1.0 - WALL - radius);
  b->pos.y = clampd (b->pos.y, WALL + radius, 1.0 - WALL - radius);
}

void
ar_sim_reset (ArSim *sim, guint64 seed)
{
  guint64 sm = seed;
  for (int i = 0; i < 4; i++)
    sim->rng[i] = splitmix64 (&sm);
  sim->seed = seed;
  sim->steps = 0;

  sim->agent.pos = random_position (sim, AGENT_RADIUS);
  sim->agent.vel = (Vec2) { 0, 0 };
  /* The object starts clear of the agent (a few tries, then anywhere: contact resolves it). */
  for (int tries = 0; tries < 64; tries++) {
    sim->object.pos = random_position (sim, OBJECT_RADIUS);
    double dx = sim->object.pos.x - sim->agent.pos.x, dy = sim->object.pos.y - sim->agent.pos.y;
    double gap = AGENT_RADIUS + OBJECT_RADIUS + 0.02;
    if (dx * dx + dy * dy > gap * gap)
      break;
  }
  sim->object.vel = (Vec2) { 0, 0 };
  for (guint i = 0; i < sim->n_distractors; i++) {
    Body *d = &sim->distractors[i];
    d->pos = random_position (sim, DISTRACTOR_RADIUS);
    /* A diagonal drift with random signs and a random slope. */
    double f = 0.5 + 0.5 * rng_uniform (sim);
    d->vel.x = (rng_uniform (sim) < 0.5 ? -1 : 1) * DISTRACTOR_SPEED;
    d->vel.y = (rng_uniform (sim) < 0.5 ? -1 : 1) * DISTRACTOR_SPEED * f;
  }
  sim->ou[0] = sim->ou[1] = 0;
  sim->phase = PHASE_WANDER;
  sim->phase_left = 0;
  sim->waypoint = 0;
}

ArSim *
ar_sim_new (guint64 seed, guint n_distractors)
{
  ArSim *sim = g_new0 (ArSim, 1);
  sim->n_distractors = MIN (n_distractors, AR_SIM_MAX_DISTRACTORS);
  ar_sim_reset (sim, seed);
  return sim;
}

void
ar_sim_free (ArSim *sim)
{
  g_free (sim);
}

guint64
ar_sim_steps (const ArSim *sim)
{
  return sim->steps;
}

void
ar_sim_get_state (const ArSim *sim, double agent[2], double object[2])
{
  agent[0] = sim->agent.pos.x;
  agent[1] = sim->agent.pos.y;
  object[0] = sim->object.pos.x;
  object[1] = sim->object.pos.y;
}

/* Separates the agent and the object when they overlap: the object is pushed out along the
 * line of centres and takes the agent's approach speed along it. */
static void
resolve_contact (ArSim *sim, Vec2 agent_vel)
{
  double dx = sim->object.pos.x - sim->agent.pos.x, dy = sim->object.pos.y - sim->agent.pos.y;
  double contact = AGENT_RADIUS + OBJECT_RADIUS;
  double d2 = dx * dx + dy * dy;
  if (d2 >= contact * contact)
    return;
  double dist = sqrt (d2);
  double nx = 1.0, ny = 0.0;
  if (dist > 1e-12) {
    nx = dx / dist;
    ny = dy / dist;
  }
  sim->object.pos.x = sim->agent.pos.x + nx * contact;
  sim->object.pos.y = sim->agent.pos.y + ny * contact;
  double approach = (agent_vel.x - sim->object.vel.x) * nx + (agent_vel.y - sim->object.vel.y) * ny;
  if (approach > 0) {
    sim->object.vel.x += approach * nx;
    sim->object.vel.y += approach * ny;
  }
  /* Pinned against a wall: the object stays in, the agent is stopped at contact instead. */
  Vec2 before = sim->object.pos;
  clamp_into_arena (&sim->object, OBJECT_RADIUS);
  if (before.x != sim->object.pos.x || before.y != sim->object.pos.y) {
    sim->agent.pos.x = sim->object.pos.x - nx * contact;
    sim->agent.pos.y = sim->object.pos.y - ny * contact;
    clamp_into_arena (&sim->agent, AGENT_RADIUS);
  }
}

void
ar_sim_step (ArSim *sim, const float action[AR_SIM_ACTION_DIM])
{
  Vec2 v = {
    clampd (isnan (action[0]) ? 0.0 : action[0], -1, 1) * AR_SIM_AGENT_SPEED,
    clampd (isnan (action[1]) ? 0.0 : action[1], -1, 1) * AR_SIM_AGENT_SPEED,
  };
  sim->agent.vel = v;
  sim->agent.pos.x += v.x;
  sim->agent.pos.y += v.y;
  clamp_into_arena (&sim->agent, AGENT_RADIUS);

  sim->object.pos.x += sim->object.vel.x;
  sim->object.pos.y += sim->object.vel.y;
  sim->object.vel.x *= OBJECT_FRICTION;
  sim->object.vel.y *= OBJECT_FRICTION;
  bounce (&sim->object, OBJECT_RADIUS);
  resolve_contact (sim, v);

  for (guint i = 0; i < sim->n_distractors; i++) {
    Body *d = &sim->distractors[i];
    d->pos.x += d->vel.x;
    d->pos.y += d->vel.y;
    bounce (d, DISTRACTOR_RADIUS);
  }
  sim->steps++;
}

/* ---- policies ---- */

void
ar_sim_policy_action (ArSim *sim, ArSimPolicy policy, float action[AR_SIM_ACTION_DIM])
{
  if (policy == AR_SIM_POLICY_SCRIPTED) {
    /* A loop through the arena's corners and centre, at 80% speed. */
    static const double waypoints[][2] = {
      { 0.25, 0.25 }, { 0.75, 0.25 }, { 0.5, 0.5 }, { 0.75, 0.75 }, { 0.25, 0.75 }, { 0.5, 0.5 },
    };
    const guint n = G_N_ELEMENTS (waypoints);
    double dx = waypoints[sim->waypoint][0] - sim->agent.pos.x;
    double dy = waypoints[sim->waypoint][1] - sim->agent.pos.y;
    double dist = sqrt (dx * dx + dy * dy);
    if (dist < 0.03) {
      sim->waypoint = (sim->waypoint + 1) % n;
      dx = waypoints[sim->waypoint][0] - sim->agent.pos.x;
      dy = waypoints[sim->waypoint][1] - sim->agent.pos.y;
      dist = sqrt (dx * dx + dy * dy);
    }
    double s = dist > 1e-9 ? MIN (0.8, dist / AR_SIM_AGENT_SPEED) / dist : 0.0;
    action[0] = (float) (dx * s);
    action[1] = (float) (dy * s);
    return;
  }

  if (sim->phase_left == 0) {
    double r = rng_uniform (sim);
    sim->phase = r < 0.35 ? PHASE_SEEK : r < 0.7 ? PHASE_JITTER : PHASE_WANDER;
    sim->phase_left = 6 + (guint) (rng_uniform (sim) * 20);
  }
  sim->phase_left--;
  if (sim->phase == PHASE_JITTER) {
    if (rng_uniform (sim) < JITTER_CHANGE)
      for (int i = 0; i < 2; i++)
        sim->ou[i] = 2.0 * rng_uniform (sim) - 1.0;
  } else {
    double mean[2] = { 0, 0 };
    if (sim->phase == PHASE_SEEK) {
      double dx = sim->object.pos.x - sim->agent.pos.x, dy = sim->object.pos.y - sim->agent.pos.y;
      double dist = sqrt (dx * dx + dy * dy);
      if (dist > 1e-9) {
        mean[0] = SEEK_GAIN * dx / dist;
        mean[1] = SEEK_GAIN * dy / dist;
      }
    }
    for (int i = 0; i < 2; i++) {
      sim->ou[i] = mean[i] + OU_KEEP * (sim->ou[i] - mean[i]) + OU_NOISE * rng_normal (sim);
      sim->ou[i] = clampd (sim->ou[i], -1, 1);
    }
  }
  for (int i = 0; i < 2; i++)
    action[i] = (float) sim->ou[i];
}

const char *
ar_sim_policy_name (ArSimPolicy policy)
{
  return policy == AR_SIM_POLICY_SCRIPTED ? "scripted" : "random";
}

gboolean
ar_sim_policy_from_name (const char *name, ArSimPolicy *policy)
{
  if (g_strcmp0 (name, "random") == 0)
    *policy = AR_SIM_POLICY_RANDOM;
  else if (g_strcmp0 (name, "scripted") == 0)
    *policy = AR_SIM_POLICY_SCRIPTED;
  else
    return FALSE;
  return TRUE;
}

/* ---- rendering ---- */

typedef struct {
  double x, y, r;
  const guint8 *color;
} Disc;

/* Colour of one sample point (unit coordinates): the topmost shape containing it. */
static const guint8 *
shade (const Disc *discs, guint n, double u, double v)
{
  for (guint i = n; i-- > 0;) {
    double dx = u - discs[i].x, dy = v - discs[i].y;
    if (dx * dx + dy * dy <= discs[i].r * discs[i].r)
      return discs[i].color;
  }
  if (u < WALL || u > 1.0 - WALL || v < WALL || v > 1.0 - WALL)
    return COLOR_WALL;
  return COLOR_FLOOR;
}

/* TRUE when a pixel (centre u, v; half-diagonal h) may straddle an edge and needs
 * supersampling. */
static gboolean
near_edge (const Disc *discs, guint n, double u, double v, double hu, double hv)
{
  double h = sqrt (hu * hu + hv * hv);
  for (guint i = 0; i < n; i++) {
    double dx = u - discs[i].x, dy = v - discs[i].y;
    double d = sqrt (dx * dx + dy * dy) - discs[i].r;
    if (d < h && d > -h)
      return TRUE;
  }
  return fabs (u - WALL) < hu || fabs (u - (1.0 - WALL)) < hu || fabs (v - WALL) < hv ||
      fabs (v - (1.0 - WALL)) < hv;
}

#define SUPERSAMPLE 4

void
ar_sim_render (const ArSim *sim, guint8 *pixels, guint width, guint height, gsize stride,
    guint pixel_stride, gboolean bgr)
{
  /* Drawing order: distractors below the object below the agent. */
  Disc discs[AR_SIM_MAX_DISTRACTORS + 2];
  guint n = 0;
  for (guint i = 0; i < sim->n_distractors; i++)
    discs[n++] = (Disc) { sim->distractors[i].pos.x, sim->distractors[i].pos.y,
      DISTRACTOR_RADIUS, COLOR_DISTRACTOR };
  discs[n++] = (Disc) { sim->object.pos.x, sim->object.pos.y, OBJECT_RADIUS, COLOR_OBJECT };
  discs[n++] = (Disc) { sim->agent.pos.x, sim->agent.pos.y, AGENT_RADIUS, COLOR_AGENT };

  const double pu = 1.0 / width, pv = 1.0 / height;
  const int r = bgr ? 2 : 0, b = bgr ? 0 : 2;
  for (guint y = 0; y < height; y++) {
    guint8 *row = pixels + (gsize) y * stride;
    for (guint x = 0; x < width; x++) {
      guint8 *px = row + (gsize) x * pixel_stride;
      double u = (x + 0.5) * pu, v = (y + 0.5) * pv;
      guint sum[3] = { 0, 0, 0 };
      if (near_edge (discs, n, u, v, 0.5 * pu, 0.5 * pv)) {
        for (int sy = 0; sy < SUPERSAMPLE; sy++)
          for (int sx = 0; sx < SUPERSAMPLE; sx++) {
            const guint8 *c = shade (discs, n, (x + (sx + 0.5) / SUPERSAMPLE) * pu,
                (y + (sy + 0.5) / SUPERSAMPLE) * pv);
            sum[0] += c[0];
            sum[1] += c[1];
            sum[2] += c[2];
          }
        const guint samples = SUPERSAMPLE * SUPERSAMPLE;
        for (int c = 0; c < 3; c++)
          sum[c] = (sum[c] + samples / 2) / samples;
      } else {
        const guint8 *c = shade (discs, n, u, v);
        sum[0] = c[0];
        sum[1] = c[1];
        sum[2] = c[2];
      }
      px[r] = (guint8) sum[0];
      px[1] = (guint8) sum[1];
      px[b] = (guint8) sum[2];
      if (pixel_stride == 4)
        px[3] = 255;
    }
  }
}

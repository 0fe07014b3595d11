/* Tests of the simulator world (common/ar-sim.c): determinism across instances and resets,
 * bodies stay in the arena, the agent pushes the object, rendering at odd sizes and in
 * 4-byte and BGR layouts. Uses GLib's test framework. */
#include "ar-sim.h"

#include <math.h>
#include <string.h>

/* Mirrors of ar-sim.c's geometry and colours (private there); a change there shows here. */
#define WALL 0.05
#define AGENT_RADIUS 0.08
#define OBJECT_RADIUS 0.10
static const guint8 COLOR_AGENT[3] = { 214, 52, 44 };

#define EPS 1e-12

/* A digest of @steps random-policy steps: every rendered frame and the states. */
static gchar *
run_digest (ArSim *sim, guint steps, guint width, guint height)
{
  GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 *pixels = g_malloc ((gsize) width * height * 3);
  gchar *digest;

  for (guint t = 0; t < steps; t++) {
    float action[AR_SIM_ACTION_DIM];
    double agent[2], object[2];
    ar_sim_render (sim, pixels, width, height, (gsize) width * 3, 3, FALSE);
    g_checksum_update (sum, pixels, (gssize) width * height * 3);
    ar_sim_policy_action (sim, AR_SIM_POLICY_RANDOM, action);
    g_checksum_update (sum, (const guint8 *) action, sizeof action);
    ar_sim_step (sim, action);
    ar_sim_get_state (sim, agent, object);
    g_checksum_update (sum, (const guint8 *) agent, sizeof agent);
    g_checksum_update (sum, (const guint8 *) object, sizeof object);
  }
  digest = g_strdup (g_checksum_get_string (sum));
  g_checksum_free (sum);
  g_free (pixels);
  return digest;
}

static void
test_determinism (void)
{
  ArSim *a = ar_sim_new (11, 2), *b = ar_sim_new (11, 2), *c = ar_sim_new (12, 2);
  gchar *da = run_digest (a, 80, 32, 32), *db = run_digest (b, 80, 32, 32);
  gchar *dc = run_digest (c, 80, 32, 32), *again;

  g_assert_cmpstr (da, ==, db);
  g_assert_cmpstr (da, !=, dc);
  g_assert_cmpuint (ar_sim_steps (a), ==, 80);

  /* A reset restores everything: positions, policy state, step counter. */
  ar_sim_reset (a, 11);
  g_assert_cmpuint (ar_sim_steps (a), ==, 0);
  again = run_digest (a, 80, 32, 32);
  g_assert_cmpstr (da, ==, again);
  g_free (again);
  /* ... also to another seed's world. */
  ar_sim_reset (a, 12);
  again = run_digest (a, 80, 32, 32);
  g_assert_cmpstr (dc, ==, again);

  g_free (again);
  g_free (da);
  g_free (db);
  g_free (dc);
  ar_sim_free (a);
  ar_sim_free (b);
  ar_sim_free (c);
}

static void
assert_inside (const double p[2], double radius)
{
  g_assert_cmpfloat (p[0], >=, WALL + radius - EPS);
  g_assert_cmpfloat (p[0], <=, 1.0 - WALL - radius + EPS);
  g_assert_cmpfloat (p[1], >=, WALL + radius - EPS);
  g_assert_cmpfloat (p[1], <=, 1.0 - WALL - radius + EPS);
}

/* Random walks, and full-speed pushes into every wall and corner, never leave the arena nor
 * let the agent overlap the object. */
static void
test_stays_inside (void)
{
  static const float pushes[][2] = {
    { 1, 0 }, { -1, 0 }, { 0, 1 }, { 0, -1 }, { 1, 1 }, { -1, -1 }, { 1, -1 }, { -1, 1 },
  };

  for (guint64 seed = 0; seed < 20; seed++) {
    ArSim *sim = ar_sim_new (seed, (guint) (seed % (AR_SIM_MAX_DISTRACTORS + 1)));
    for (guint t = 0; t < 400; t++) {
      float action[2];
      double agent[2], object[2];
      if (t < 200) {
        ar_sim_policy_action (sim, seed % 2 ? AR_SIM_POLICY_SCRIPTED : AR_SIM_POLICY_RANDOM,
            action);
      } else {
        /* 25 steps towards each wall or corner; beyond [-1, 1] is clamped. */
        action[0] = 3 * pushes[(t - 200) / 25][0];
        action[1] = 3 * pushes[(t - 200) / 25][1];
      }
      ar_sim_step (sim, action);
      ar_sim_get_state (sim, agent, object);
      assert_inside (agent, AGENT_RADIUS);
      assert_inside (object, OBJECT_RADIUS);
      g_assert_cmpfloat (hypot (agent[0] - object[0], agent[1] - object[1]), >=,
          AGENT_RADIUS + OBJECT_RADIUS - 1e-9);
    }
    ar_sim_free (sim);
  }
}

/* Driving straight at the object moves it, away from the agent. */
static void
test_push (void)
{
  guint pushed = 0;

  for (guint64 seed = 0; seed < 10; seed++) {
    ArSim *sim = ar_sim_new (seed, 0);
    double agent[2], object0[2], object[2];
    ar_sim_get_state (sim, agent, object0);
    for (guint t = 0; t < 40; t++) {
      double dx, dy, d;
      float action[2];
      ar_sim_get_state (sim, agent, object);
      dx = object[0] - agent[0];
      dy = object[1] - agent[1];
      d = hypot (dx, dy);
      action[0] = (float) (dx / d);
      action[1] = (float) (dy / d);
      ar_sim_step (sim, action);
    }
    ar_sim_get_state (sim, agent, object);
    if (hypot (object[0] - object0[0], object[1] - object0[1]) > 0.05)
      pushed++;
    ar_sim_free (sim);
  }
  /* Every world: the object ends up clearly elsewhere (pinned in a corner it may move
   * little, so allow one). */
  g_assert_cmpuint (pushed, >=, 9);

  /* No action: nothing moves (no distractors). */
  {
    ArSim *sim = ar_sim_new (3, 0);
    float still[2] = { 0, 0 }, nan_action[2] = { NAN, NAN };
    double a0[2], o0[2], a1[2], o1[2];
    ar_sim_get_state (sim, a0, o0);
    ar_sim_step (sim, still);
    ar_sim_step (sim, nan_action);
    ar_sim_get_state (sim, a1, o1);
    g_assert_cmpfloat (a0[0], ==, a1[0]);
    g_assert_cmpfloat (a0[1], ==, a1[1]);
    g_assert_cmpfloat (o0[0], ==, o1[0]);
    g_assert_cmpfloat (o0[1], ==, o1[1]);
    ar_sim_free (sim);
  }
}

/* 37x23 with padded rows: RGB, RGBx and BGRx agree, padding is untouched, the 4th byte is
 * 255 and the agent's centre pixel has the agent's colour. */
static void
test_render_odd_size (void)
{
  const guint w = 37, h = 23;
  const gsize stride3 = w * 3 + 5, stride4 = w * 4 + 3;
  ArSim *sim = ar_sim_new (5, 3);
  guint8 *rgb = g_malloc (stride3 * h), *rgbx = g_malloc (stride4 * h), *bgrx;
  double agent[2], object[2];

  memset (rgb, 0xab, stride3 * h);
  memset (rgbx, 0xab, stride4 * h);
  bgrx = g_memdup2 (rgbx, stride4 * h);
  for (guint t = 0; t < 7; t++)
    ar_sim_step (sim, (const float[2]) { 0.3f, -0.2f });
  ar_sim_render (sim, rgb, w, h, stride3, 3, FALSE);
  ar_sim_render (sim, rgbx, w, h, stride4, 4, FALSE);
  ar_sim_render (sim, bgrx, w, h, stride4, 4, TRUE);
  for (guint y = 0; y < h; y++) {
    for (guint x = 0; x < w; x++) {
      const guint8 *p3 = rgb + y * stride3 + x * 3, *p4 = rgbx + y * stride4 + x * 4;
      const guint8 *pb = bgrx + y * stride4 + x * 4;
      g_assert_cmpmem (p3, 3, p4, 3);
      g_assert_cmpuint (p4[3], ==, 255);
      g_assert_cmpuint (pb[0], ==, p3[2]);
      g_assert_cmpuint (pb[1], ==, p3[1]);
      g_assert_cmpuint (pb[2], ==, p3[0]);
      g_assert_cmpuint (pb[3], ==, 255);
    }
    for (gsize i = w * 3; i < stride3; i++)
      g_assert_cmpuint (rgb[y * stride3 + i], ==, 0xab);
    for (gsize i = w * 4; i < stride4; i++)
      g_assert_cmpuint (rgbx[y * stride4 + i], ==, 0xab);
  }
  ar_sim_get_state (sim, agent, object);
  {
    guint x = (guint) (agent[0] * w), y = (guint) (agent[1] * h);
    g_assert_cmpmem (rgb + y * stride3 + x * 3, 3, COLOR_AGENT, 3);
  }
  /* Tiny and large sizes work too. */
  {
    guint8 one[3], *big = g_malloc (301 * 3 * 257);
    ar_sim_render (sim, one, 1, 1, 3, 3, FALSE);
    ar_sim_render (sim, big, 301, 257, 301 * 3, 3, FALSE);
    g_free (big);
  }
  g_free (rgb);
  g_free (rgbx);
  g_free (bgrx);
  ar_sim_free (sim);
}

static void
test_policy_names (void)
{
  ArSimPolicy p;

  g_assert_true (ar_sim_policy_from_name ("scripted", &p));
  g_assert_cmpint (p, ==, AR_SIM_POLICY_SCRIPTED);
  g_assert_true (ar_sim_policy_from_name ("random", &p));
  g_assert_cmpint (p, ==, AR_SIM_POLICY_RANDOM);
  g_assert_false (ar_sim_policy_from_name ("none", &p));
  g_assert_cmpstr (ar_sim_policy_name (AR_SIM_POLICY_SCRIPTED), ==, "scripted");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sim/determinism", test_determinism);
  g_test_add_func ("/sim/stays-inside", test_stays_inside);
  g_test_add_func ("/sim/push", test_push);
  g_test_add_func ("/sim/render-odd-size", test_render_odd_size);
  g_test_add_func ("/sim/policy-names", test_policy_names);
  return g_test_run ();
}

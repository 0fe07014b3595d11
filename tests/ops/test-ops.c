/* The op test runner: `test-ops [group...]` runs the named groups (all without arguments),
 * each case printing "op <name> <shape> <dtype> nmse=<v> ok|FAIL". */
#include "test-ops.h"

#include <stdio.h>
#include <string.h>

typedef struct {
  const char *name;
  void (*run) (ArTest *t);
} Group;

#define ART_ENTRY(name) { #name, test_##name },
static const Group groups[] = { ART_GROUPS (ART_ENTRY) };

int
main (int argc, char **argv)
{
  ArTest t;
  for (int i = 1; i < argc; i++) {
    gboolean known = FALSE;
    for (guint g = 0; g < G_N_ELEMENTS (groups); g++)
      known |= strcmp (argv[i], groups[g].name) == 0;
    if (!known) {
      fprintf (stderr, "unknown op group '%s'\n", argv[i]);
      return 2;
    }
  }
  art_init (&t);
  for (guint g = 0; g < G_N_ELEMENTS (groups); g++) {
    gboolean run = argc == 1;
    for (int i = 1; i < argc; i++)
      run |= strcmp (argv[i], groups[g].name) == 0;
    if (run)
      groups[g].run (&t);
  }
  return art_finish (&t);
}

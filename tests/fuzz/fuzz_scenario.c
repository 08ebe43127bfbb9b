/* fuzz_scenario.c - libFuzzer target: bytes as a scenario file through sim_scenario_load(), _check() and _set(). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tcpdoctor/sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The loader reads a path (its errors name the file): one scratch file, rewritten per input. */
static char scratch[64];

static int scratch_write(const uint8_t *data, size_t size)
{
    if (scratch[0] == '\0') {
        snprintf(scratch, sizeof scratch, "/tmp/fuzz-scenario-%ld.yaml", (long)getpid());
    }
    FILE *f = fopen(scratch, "wb");
    if (f == NULL)
        return -1;
    size_t n = fwrite(data, 1, size, f);
    return (fclose(f) == 0 && n == size) ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (scratch_write(data, size) != 0)
        return 0;
    char err[512];
    sim_scenario *sc = sim_scenario_load(scratch, err, sizeof err);
    if (sc == NULL)
        return 0;
    (void)sim_scenario_check(sc, err, sizeof err);
    /* overrides of each kind, valid and not */
    (void)sim_scenario_set(sc, "duration=5s", err, sizeof err);
    (void)sim_scenario_set(sc, "host.server.timewait=30s", err, sizeof err);
    (void)sim_scenario_set(sc, "nat.nat.hold_timewait=x", err, sizeof err);
    sim_scenario_free(sc);
    return 0;
}

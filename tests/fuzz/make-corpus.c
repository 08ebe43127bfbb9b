/* make-corpus.c - write the decoder test samples as fuzz seeds: selector byte, then the frame. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../decode/samples.h"
#include "fuzz_linktypes.h"

/*
 * Usage: make-corpus DIR  (normally tests/fuzz/corpus/decode).  One file per
 * sample in tests/decode/samples.c, named after it.  Run it again after
 * adding samples and commit the output.
 */
static int selector(int dlt)
{
    for (size_t i = 0; i < FUZZ_LINKTYPE_COUNT; i++)
        if (fuzz_linktypes[i] == dlt)
            return (int)i;
    return -1;
}

static int write_seed(const char *dir, const dec_sample *s)
{
    char path[4096];
    int sel = selector(s->dlt);
    unsigned char b;
    FILE *f;

    if (sel < 0) {
        fprintf(stderr, "make-corpus: %s: link type %d not in fuzz_linktypes\n",
                s->name, s->dlt);
        return -1;
    }
    snprintf(path, sizeof path, "%s/%s", dir, s->name);
    f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "make-corpus: %s: %s\n", path, strerror(errno));
        return -1;
    }
    b = (unsigned char)sel;
    if (fwrite(&b, 1, 1, f) != 1 || fwrite(s->bytes, 1, s->len, f) != s->len) {
        fprintf(stderr, "make-corpus: %s: write failed\n", path);
        fclose(f);
        return -1;
    }
    return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    int rc = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: make-corpus DIR\n");
        return 2;
    }
    for (size_t i = 0; i < dec_sample_count; i++)
        if (write_seed(argv[1], &dec_samples[i]) != 0)
            rc = 1;
    return rc;
}

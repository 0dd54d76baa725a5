/*
 * MeCab's own cost, without Python: how fast the library fugashi bundles
 * parses the benchmark's queries when tokens are read from its nodes, and
 * when it formats the output string searchsafe asks fugashi for.
 *
 *   cc -O2 -o mecab_capi benchmarks/mecab_capi.c -ldl
 *   ./mecab_capi LIBMECAB "MECAB ARGS" queries.txt repeats
 *
 * queries.txt holds one normalized query per line. Prints one JSON object.
 * benchmarks/compiled.py builds and runs it; the library is loaded with dlopen
 * because its file name is one auditwheel made up for this wheel.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct mecab_node_t {
    struct mecab_node_t *prev, *next, *enext, *bnext, *rpath, *lpath;
    const char *surface;
    const char *feature;
    unsigned int id;
    unsigned short length, rlength, rcAttr, lcAttr, posid;
    unsigned char char_type, stat, isbest;
    float alpha, beta, prob;
    short wcost;
    long cost;
} mecab_node_t;

typedef void *(*new2_fn)(const char *);
typedef const mecab_node_t *(*tonode_fn)(void *, const char *);
typedef const char *(*tostr_fn)(void *, const char *);
typedef const char *(*strerror_fn)(void *);

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s LIBMECAB ARGS QUERIES REPEATS\n", argv[0]);
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    new2_fn mecab_new2 = (new2_fn)dlsym(lib, "mecab_new2");
    tonode_fn tonode = (tonode_fn)dlsym(lib, "mecab_sparse_tonode");
    tostr_fn tostr = (tostr_fn)dlsym(lib, "mecab_sparse_tostr");
    strerror_fn merr = (strerror_fn)dlsym(lib, "mecab_strerror");
    if (!mecab_new2 || !tonode || !tostr) {
        fprintf(stderr, "missing MeCab symbols\n");
        return 1;
    }
    void *m = mecab_new2(argv[2]);
    if (!m) {
        fprintf(stderr, "mecab_new2: %s\n", merr ? merr(NULL) : "?");
        return 1;
    }
    FILE *f = fopen(argv[3], "r");
    if (!f)
        return 1;
    size_t cap = 1024, n = 0;
    char **lines = malloc(cap * sizeof(char *));
    char buf[4096];
    while (fgets(buf, sizeof buf, f)) {
        buf[strcspn(buf, "\n")] = 0;
        if (n == cap)
            lines = realloc(lines, (cap *= 2) * sizeof(char *));
        lines[n++] = strdup(buf);
    }
    fclose(f);
    int repeats = atoi(argv[4]);
    double best_nodes = 1e9, best_str = 1e9;
    unsigned long sink = 0;
    for (int r = 0; r < repeats; r++) {
        double t0 = cpu_now();
        for (size_t i = 0; i < n; i++)
            for (const mecab_node_t *node = tonode(m, lines[i]); node; node = node->next)
                sink += node->length + (unsigned char)node->feature[0];
        double t1 = cpu_now();
        for (size_t i = 0; i < n; i++)
            sink += strlen(tostr(m, lines[i]));
        double t2 = cpu_now();
        if (t1 - t0 < best_nodes)
            best_nodes = t1 - t0;
        if (t2 - t1 < best_str)
            best_str = t2 - t1;
    }
    printf("{\"n\": %zu, \"nodes_us\": %.3f, \"formatted_us\": %.3f, \"sink\": %lu}\n", n, best_nodes / n * 1e6,
           best_str / n * 1e6, sink % 7);
    return 0;
}

/* diagnose.h - findings (the diagnosis model) and the engine that runs the detectors over incarnations. */
#ifndef TCPDOCTOR_DIAGNOSE_H
#define TCPDOCTOR_DIAGNOSE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcpdoctor/flow.h"
#include "tcpdoctor/lifecycle.h"
#include "tcpdoctor/packet.h"

/* printf-style checking where the compiler offers it. */
#if defined(__GNUC__) || defined(__clang__)
#define DIAG_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define DIAG_PRINTF(fmt, args)
#endif

/* ---- findings --------------------------------------------------------- */

enum diag_severity {
    DIAG_INFO,
    DIAG_WARNING,
    DIAG_ERROR
};

/* Where the capture was taken (tcpdoctor infers it; --vantage overrides). */
enum diag_vantage {
    DIAG_VANTAGE_UNKNOWN,
    DIAG_VANTAGE_SERVER,    /* at or next to the servers */
    DIAG_VANTAGE_CLIENT,    /* at or next to the clients */
    DIAG_VANTAGE_PATH       /* in between (e.g. outside a NAT) */
};

/* One line of proof: a packet (0 = none) and what it shows. */
typedef struct diag_evidence {
    uint64_t packet;
    int64_t  ts_ns;
    char    *text;
} diag_evidence;

/* An inferred value, with its bounds when the evidence gives them. */
typedef struct diag_param {
    char    *name;          /* e.g. "nat_reuse_s" */
    double   value;
    bool     has_min, has_max;
    double   min, max;
    char    *unit;          /* "s", "ports", "hosts", "" */
    char    *note;          /* how it was inferred; may be NULL */
    bool     oom;           /* the note could not be stored */
} diag_param;

typedef struct diag_remedy {
    char *action;           /* what to do */
    char *tradeoff;         /* what it costs or risks */
    const char *id;         /* the catalogue's remedy id (diag_remedy_shared()), or
                               NULL for one said by a single finding */
} diag_remedy;

/* Remedies more than one finding gives (analyze's and audit's alike): one
 * wording each, in the catalogue (catalogue.c). */
enum diag_remedy_id {
    DIAG_REM_SERVER_CLOSES,         /* TIME_WAIT moved to the server */
    DIAG_REM_REUSE_CONNECTIONS,     /* keep-alive, pooling */
    DIAG_REM_TW_REUSE,              /* net.ipv4.tcp_tw_reuse = 1 */
    DIAG_REM_WIDEN_PORT_RANGE,      /* ip_local_port_range, dynamicport */
    DIAG_REM_MORE_SOURCES,          /* more source addresses */
    DIAG_REM_RST_CLOSE,             /* SO_LINGER 0 */
    DIAG_REM_TW_RECYCLE_OFF,        /* net.ipv4.tcp_tw_recycle = 0 */
    DIAG_REM_UPGRADE_LINUX,         /* Linux 4.12 or later */
    DIAG_REM_COUNT
};

#define DIAG_MAX_EVIDENCE 40    /* evidence lines kept per finding; more are counted */

typedef struct diag_finding {
    const char *id;         /* stable id (docs/findings.md) */
    enum diag_severity severity;
    double   confidence;    /* 0..1 */
    uint64_t events;        /* occurrences behind the finding */
    char    *summary;       /* one line */
    char    *explanation;   /* paragraphs, plain words */
    diag_evidence *evidence;
    size_t   n_evidence;
    uint64_t evidence_omitted;
    diag_param *params;
    size_t   n_params;
    diag_remedy *remedies;  /* ranked: best first */
    size_t   n_remedies;
    /* subject: the endpoints the finding is about (zero when general) */
    pkt_addr client;        /* or the source IP */
    pkt_addr server;
    uint16_t server_port;
    bool     has_client, has_server;
    /* the attempts this finding explains, by their first packet (rising) */
    uint64_t *claims;
    size_t   n_claims;
    /* private to the engine */
    size_t   cap_evidence, cap_params, cap_remedies, cap_claims;
    bool     oom;           /* some text, evidence, parameter or remedy could
                               not be stored (diag_findings_complete) */
} diag_finding;

typedef struct diag_findings {
    diag_finding *v;
    size_t n;
    size_t cap;
    bool   oom;             /* a diag_add() failed */
} diag_findings;

/* New finding appended to fs (NULL only on allocation failure). Text fields
 * are built with the functions below; fs owns everything.  The library's
 * rule for allocation failures here: the call leaves the field as it was
 * and marks the finding (or fs) incomplete; a caller must not report
 * findings for which diag_findings_complete() is false (the CLI exits 2
 * with a message instead: never a report with something left out). */
diag_finding *diag_add(diag_findings *fs, const char *id, enum diag_severity sev,
                       double confidence);
void diag_summary(diag_finding *f, const char *fmt, ...)
    DIAG_PRINTF(2, 3);
/* Append a paragraph to the explanation. */
void diag_explain(diag_finding *f, const char *fmt, ...)
    DIAG_PRINTF(2, 3);
void diag_evidence_add(diag_finding *f, uint64_t packet, int64_t ts_ns, const char *fmt, ...)
    DIAG_PRINTF(4, 5);
/* Add a parameter; returns it so bounds and a note can be set (NULL on
 * allocation failure: diag_param_min/max/note accept NULL and do nothing). */
diag_param *diag_param_add(diag_finding *f, const char *name, double value, const char *unit);
void diag_param_min(diag_param *p, double min);
void diag_param_max(diag_param *p, double max);
void diag_param_note(diag_param *p, const char *fmt, ...)
    DIAG_PRINTF(2, 3);
void diag_remedy_add(diag_finding *f, const char *action, const char *tradeoff);
/* Add one of the catalogue's shared remedies (its id goes into the JSON). */
void diag_remedy_shared(diag_finding *f, enum diag_remedy_id id);
/* The catalogue's id of a shared remedy ("tw-reuse"), NULL when out of range. */
const char *diag_remedy_name(enum diag_remedy_id id);
const diag_param *diag_param_get(const diag_finding *f, const char *name);
/* What the finding is about, into buf (at least 128 bytes): "10.0.0.1 ->
 * 10.0.0.2:80", "[fd00::2]:80", "10.0.0.1", or "" when it has no subject. */
const char *diag_finding_subject(const diag_finding *f, char *buf, size_t len);
/* The finding explains the attempt that began at first_packet (its claims
 * stay rising: a claim not above the last is ignored).  0 or -ENOMEM. */
int diag_claim(diag_finding *f, uint64_t first_packet);

/* ---- the catalogue: every finding id, in one table (catalogue.c) ---------- */

enum diag_cat_who {
    DIAG_CAT_ANALYZE = 1,   /* raised from captures (analyze, watch) */
    DIAG_CAT_AUDIT = 2      /* raised from a host's own state (audit) */
};

typedef struct diag_cat_entry {
    const char *id;         /* stable: the JSON, tests and `expect:` key on it */
    const char *title;      /* a few words */
    unsigned who;           /* enum diag_cat_who bits */
    const char *severity;   /* when it is info, warning or error, in words */
    const char *seeds;      /* the field reports it comes from */
    bool residual;          /* lists the attempts nothing explains: its
                               claims are counted as unexplained */
    const char *folds_under;    /* a consequence of that finding when both
                                   are about the same server: the text
                                   report gives it one line under it (NULL:
                                   a cause of its own) */
    const char *params;         /* the parameters it may carry, with their
                                   units: "name:unit; name:unit" (an empty
                                   unit: a count); every finding of the id
                                   may also carry "findings:findings" when it
                                   stands for several (diag_findings_cap) */
} diag_cat_entry;

/* Confidence levels by name (catalogue.c): a finding's confidence in words. */
typedef struct diag_conf_level {
    const char *name;       /* "proven", "strong", "likely", "possible" */
    double min;             /* lowest confidence with this name */
    const char *meaning;
} diag_conf_level;

/* The level of a confidence (0..1); never NULL. */
const diag_conf_level *diag_confidence_level(double confidence);
/* All levels, highest first. */
const diag_conf_level *diag_confidence_levels(size_t *n);

/* The unit the catalogue gives parameter `name` of finding `id` into buf;
 * false when the catalogue does not list it for that id. */
bool diag_catalogue_param(const char *id, const char *name, char *buf, size_t len);

const diag_cat_entry *diag_catalogue(size_t *n);
/* The entry of a finding id, NULL when the tool has no such finding. */
const diag_cat_entry *diag_catalogue_find(const char *id);

/* ---- stack defaults: one table (stacks.c) -------------------------------- */

typedef struct diag_stack {
    const char *name;           /* "Linux", "Windows 2000/XP/2003", ... */
    const char *sim_profile;    /* the simulator's profile with these values */
    const char *variant_of;     /* a version of another row's stack (NULL: the
                                   row that names its family) */
    uint8_t  initial_ttl;       /* IP TTL its packets start with */
    double   timewait_s;        /* how long the active closer keeps TIME_WAIT */
    uint16_t port_lo, port_hi;  /* default ephemeral port range */
    uint32_t ts_hz;             /* TCP timestamp clock rate */
    const char *source;         /* where the values come from */
} diag_stack;

/* The table, shortest TIME_WAIT first. */
const diag_stack *diag_stacks(size_t *n);
/* The row of a simulator profile ("linux"), NULL when none. */
const diag_stack *diag_stack_by_profile(const char *profile);
/* The initial TTL a packet seen with `seen` left with (32, 64, 128, 255). */
uint8_t diag_initial_ttl(uint8_t seen);
/* True when ttl is one of the initial TTLs (a host's own packet). */
bool diag_is_initial_ttl(uint8_t ttl);

/* Most important first: severity, then confidence, then events. */
void diag_findings_sort(diag_findings *fs);
/* One finding per cause: where more than `keep` findings share an id (one
 * per client behind 200,000 NAT addresses), the keep - 1 most important
 * stay and the rest become one, whose evidence lists their subjects and
 * summaries and whose claims are all of theirs.  fs ends sorted.  0, or
 * -ENOMEM (fs then as it was, or with some ids merged). */
int diag_findings_cap(diag_findings *fs, size_t keep);
/* False when any allocation while building fs failed (see diag_add). */
bool diag_findings_complete(const diag_findings *fs);
void diag_findings_free(diag_findings *fs);

const char *diag_severity_name(enum diag_severity s);   /* "info", ... */
const char *diag_vantage_name(enum diag_vantage v);     /* "server", ... */

/* ---- the engine ---------------------------------------------------------- */

typedef struct diag_config {
    enum diag_vantage vantage;  /* DIAG_VANTAGE_UNKNOWN: infer it */
} diag_config;

typedef struct diag_engine diag_engine;

diag_engine *diag_engine_new(const diag_config *cfg, char *errbuf, size_t errlen);
void diag_engine_free(diag_engine *e);

/* Feed every packet (optional detectors look at fragments and timestamps)
 * and every finished incarnation: diag_engine_conn is a flow_sink_fn (ctx =
 * engine, with diag_engine_tuple_free as the table's tuple_free).  The
 * engine keeps a record that ended FLOW_END_REUSED in *tuple_data to pair it
 * with the next incarnation of its 4-tuple; with tuple_data NULL, records
 * are not paired.  Without a flow table, keep one pointer per 4-tuple
 * under the same rules as flow_sink_fn. */
void diag_engine_packet(diag_engine *e, const pkt_view *v, enum pkt_status st);
void diag_engine_conn(void *engine, const flow_conn *c, void **tuple_data);
void diag_engine_tuple_free(void *engine, void *tuple_data);

/* After the last packet and flow_table_flush(): run the detectors' final
 * passes and fill *out (sorted, most important first).  0, or -ENOMEM. */
int diag_engine_finish(diag_engine *e, diag_findings *out);

/* Every attempt accounted for (docs/findings.md, "Accounting"): the
 * lifecycle stage's counts, and how many of the slow or failed attempts
 * the findings explain.  Filled by diag_engine_finish. */
typedef struct diag_accounting {
    lc_accounting lc;
    uint64_t explained;         /* slow or failed, claimed by a finding */
    uint64_t unexplained;       /* slow or failed, claimed by none */
    const lc_attempt *attempts; /* the attempts that were not ok, by first
                                   packet (borrowed from the engine) */
    size_t   n_attempts;
} diag_accounting;

/* NULL before diag_engine_finish succeeded; valid until the engine is freed. */
const diag_accounting *diag_engine_accounting(const diag_engine *e);

/* The vantage point used (given, or inferred by diag_engine_finish). */
enum diag_vantage diag_engine_vantage(const diag_engine *e);

/* ---- live runs ------------------------------------------------------------- */

/*
 * A run that has not ended (tcpdoctor watch) is judged on snapshots: the
 * caller gets the findings of the input so far as if it ended now (for
 * watch: the flow table flushed and diag_engine_finish() run on a copy of
 * the state, docs/watch.md) and asks a diag_live which of them to say.  A
 * finding is known by its id, its subject (client, server, server port) and
 * its rank among the snapshot's findings with the same id and subject.  It
 * is said once it has kept its severity through `confirm` snapshots in a row
 * (a snapshot can fall in the middle of a handshake and judge it too early;
 * the next one has the settled answer), and said again when its events
 * count or its severity differs from what was said, once that too has held
 * for `confirm` snapshots (severity) or at once (events, with the severity
 * unchanged).  A finding that a snapshot no longer has is forgotten silently
 * (the final report is the reference), and is new if it comes back.
 */
enum diag_live_mark {
    DIAG_LIVE_SAME,         /* nothing to say: said before and unchanged, or
                               not confirmed yet */
    DIAG_LIVE_NEW,          /* first time */
    DIAG_LIVE_CHANGED       /* said before with another events count or severity */
};

typedef struct diag_live diag_live;

/* Empty tracker; confirm: snapshots in a row a severity must hold before it
 * is said (0 is taken as 1: say at once).  NULL on allocation failure. */
diag_live *diag_live_new(unsigned confirm);
void diag_live_free(diag_live *l);

/* Mark each finding of snapshot fs (marks has fs->n entries; only id,
 * severity, events and the subject fields are read) and remember the
 * snapshot as what has been said.  Returns how many are new or changed, or
 * -ENOMEM with the tracker unchanged and marks undefined. */
int diag_live_update(diag_live *l, const diag_findings *fs, enum diag_live_mark *marks);

const char *diag_live_mark_name(enum diag_live_mark m);     /* "new", "changed", "same" */

#endif

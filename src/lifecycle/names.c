/* names.c - the lifecycle stage's outcomes and details by name and in words (JSON keys, report text). */
#include "lifecycle/lc_internal.h"

const char *lc_outcome_name(enum lc_outcome o)
{
    static const char *const names[LC_N_OUTCOMES] = {
        [LC_OK] = "ok", [LC_SLOW] = "slow", [LC_REFUSED] = "refused",
        [LC_UNANSWERED] = "unanswered", [LC_HANDSHAKE_FAILED] = "handshake-failed",
        [LC_STALLED] = "stalled", [LC_RESET] = "reset", [LC_NO_VERDICT] = "no-verdict",
    };
    return (unsigned)o < LC_N_OUTCOMES ? names[o] : "?";
}

static const struct {
    const char *name;
    const char *words;
} details[LC_N_DETAILS] = {
    [LC_D_NONE] = { "", "" },
    [LC_D_RST] = { "rst", "answered by RST" },
    [LC_D_ICMP] = { "icmp", "answered by an ICMP error" },
    [LC_D_ABANDONED] = { "abandoned", "one SYN, which the client never retried although the capture went on: it gave up first" },
    [LC_D_ACK_ONLY] = { "ack-only", "answered by a bare ACK for another connection" },
    [LC_D_CLIENT_RST] = { "client-rst", "the client reset a SYN-ACK that acknowledged the wrong sequence number" },
    [LC_D_NO_ACK] = { "no-ack", "the SYN-ACK was never acknowledged" },
    [LC_D_GAVE_UP] = { "gave-up", "closed after retransmissions that were never acknowledged" },
    [LC_D_CAPTURE_END] = { "capture-end", "still unacknowledged when the capture ended" },
    [LC_D_SERVER_RST] = { "server-rst", "the server reset with the client's data unacknowledged" },
    [LC_D_THIRD_PARTY] = { "third-party", "an RST whose TTL is not its sender's" },
    [LC_D_ENDED_INSIDE] = { "ended-inside", "the capture ended, or paused 300 s or more, within a retransmission timeout of it" },
    [LC_D_ONE_DIRECTION] = { "one-direction", "the capture shows no packet sent to the client at all (one-sided)" },
    [LC_D_ANSWER_NOT_CAPTURED] = { "answer-not-captured", "no SYN-ACK or server packet captured, but the client's ACKs show one came" },
    [LC_D_NO_CLIENT_ANSWER] = { "no-client-answer", "a SYN-ACK, then nothing from the client (every stack answers one: the capture misses packets or was cut)" },
};

const char *lc_detail_name(enum lc_detail d)
{
    return (unsigned)d < LC_N_DETAILS ? details[d].name : "?";
}

const char *lc_detail_words(enum lc_detail d)
{
    return (unsigned)d < LC_N_DETAILS ? details[d].words : "?";
}

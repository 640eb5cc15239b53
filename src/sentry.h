/*
 * sentry: what the daemon reports to Sentry, and the sending of it.  The
 * pure parts (the DSN, the envelope, the rate limits) are unit-tested;
 * the client runs in the master only, on the master's loop, over httpc:
 * one request at a time from a small queue, never blocking.  A consumer
 * reports through the master (IPC_REPORT); the master reports what it
 * sees itself (a consumer's crash or hang, Redis unreachable).
 *
 * Nothing secret and no message body goes out: the texts are the reasons
 * the daemon logs (which name no secret), cleaned to one line and then
 * redacted of every secret of the configuration anyway (util_redact);
 * the DSN's key travels in the X-Sentry-Auth header only, never in an
 * envelope.
 */
#ifndef PCS_SENTRY_H
#define PCS_SENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "url.h"

struct config;
struct ev_loop;

/*
 * A DSN, https://<public_key>[:<secret>]@<host>[:port][/<path>]/<project>
 * (http:// only to a loopback host: the key would cross a network in
 * clear), as the envelope endpoint and the auth header it means.
 */
#define SENTRY_KEY_MAX		64
#define SENTRY_PROJECT_MAX	20
struct sentry_dsn {
	/* <scheme>://<host>[:port]/<path>/api/<project>/envelope/ */
	char	*envelope_url;
	/* "Sentry sentry_version=7, sentry_client=..., sentry_key=<key>" */
	char	*auth;
	char	 host[URL_HOST_MAX + 1];	/* for log lines */
	char	 project[SENTRY_PROJECT_MAX + 1];
	char	 public_key[SENTRY_KEY_MAX + 1];	/* zeroed by free */
	char	*secret_key;	/* the legacy secret, never sent; NULL */
};

/*
 * Parse dsn into out: 0, or -1 with err, one phrase to follow the
 * setting's name ("value is ..."), never a piece of dsn.  On -1 nothing
 * is left allocated.  Pure.
 */
int	sentry_dsn_parse(const char *dsn, struct sentry_dsn *out, char *err,
	    size_t errlen);
/* Frees what parse allocated, the key zeroed; idempotent. */
void	sentry_dsn_free(struct sentry_dsn *d);

/*
 * What a text of cfg's daemon must never show, for util_redact: cfg's
 * secret settings (config_secrets) and, inside its DSN, the public key
 * and the legacy secret, copied into keys (zero them after use).  At most
 * SENTRY_SECRETS_MAX pointers into out; their count.  Pure.
 */
#define SENTRY_SECRETS_MAX	24
struct sentry_keys {
	char	 public_key[SENTRY_KEY_MAX + 1];
	char	 secret_key[256];
};
size_t	sentry_secrets(const struct config *cfg, const char **out,
	    struct sentry_keys *keys);

/*
 * Sentry's rules for an environment name: 1 to 64 bytes of printable
 * ASCII without blanks or '/', not "None".  0 when v keeps them.  Pure.
 */
int	sentry_check_environment(const char *v);
/*
 * The environment the events name: sentry_environment when set, else
 * the Stigg environment (environment_prefix) when Sentry takes it as a
 * name, else "production".  Pure.
 */
const char *sentry_environment(const struct config *cfg);
/* Whether cfg asks for reports: a DSN, and disable_sentry off.  Pure. */
int	sentry_wanted(const struct config *cfg);

/* One event to report.  The strings are copied in, cut to fit. */
#define SENTRY_EVENT_ID_SIZE	33	/* 32 hex digits and the NUL */
#define SENTRY_MESSAGE_MAX	512
#define SENTRY_FINGERPRINT_MAX	128
#define SENTRY_VALUE_MAX	200	/* Sentry's longest tag value */
#define SENTRY_TAGS_MAX		8
#define SENTRY_EXTRA_MAX	8
struct sentry_event {
	char		 event_id[SENTRY_EVENT_ID_SIZE];  /* sentry_capture's */
	uint64_t	 timestamp_ms;	/* wall clock; sentry_capture's */
	const char	*level;		/* "fatal", "error", "warning" */
	const char	*logger;	/* "master" */
	const char	*kind;		/* a literal, the tag "kind": "crash" */
	int		 slot;		/* the tag "slot"; 0: none */
	char		 message[SENTRY_MESSAGE_MAX];
	/* What groups repeats into one issue: with kind, the fingerprint. */
	char		 fingerprint[SENTRY_FINGERPRINT_MAX];
	struct {
		const char	*name;	/* a literal */
		char		 value[SENTRY_VALUE_MAX + 1];
	}		 tags[SENTRY_TAGS_MAX];
	size_t		 ntags;
	struct {
		const char	*name;	/* a literal */
		double		 value;
	}		 extra[SENTRY_EXTRA_MAX];
	size_t		 nextra;
};

/* level, logger "master", kind; an empty message and fingerprint. */
void	sentry_event_init(struct sentry_event *ev, const char *level,
	    const char *kind, int slot);
/* printf into message (and fingerprint), cut to fit. */
void	sentry_event_message(struct sentry_event *ev, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	sentry_event_fingerprint(struct sentry_event *ev, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* A tag (value cut to SENTRY_VALUE_MAX; none when "" or full) and a number. */
void	sentry_event_tag(struct sentry_event *ev, const char *name,
	    const char *value);
void	sentry_event_extra(struct sentry_event *ev, const char *name,
	    double value);
/*
 * The fingerprint of a free text (a poison message's reason): its first
 * nwords words, lowercase, digits and quoted parts dropped, so that one
 * bad producer makes one issue whatever the ids in its messages.  Pure.
 */
void	sentry_words(char *out, size_t len, const char *text, int nwords);
/* "SIGSEGV" for 11; "SIG<n>" for one without a name here.  Pure. */
void	sentry_signal_name(int sig, char *buf, size_t len);
/* A fresh event id: 32 lowercase hex digits of RAND_bytes; 0 or -1. */
int	sentry_event_id(char out[SENTRY_EVENT_ID_SIZE]);

/* What every event of this daemon says besides its own fields. */
struct sentry_context {
	const char		*release;	/* "persistent-cache-service@1.0" */
	const char		*environment;
	const char		*server_name;	/* the host name */
	const char		*os_name;	/* uname's sysname; NULL: none */
	const char		*os_version;	/* uname's release */
	/* Redacted from every text of the event (util_redact). */
	const char *const	*secrets;
	size_t			 nsecrets;
};

/*
 * The envelope of ev: its header line {"event_id","sent_at","sdk"} (no
 * DSN: it holds the key), the item header {"type":"event","length":N},
 * and the event's JSON, each ending in "\n".  Malloc'd, NUL-terminated,
 * *len bytes; NULL on ENOMEM.  sent_at is now_ms.  Pure.
 */
char	*sentry_envelope(const struct sentry_event *ev,
	    const struct sentry_context *ctx, uint64_t now_ms, size_t *len);

/*
 * The rate limits: one fingerprint at most once per SENTRY_REPEAT_MS
 * (the ones held back counted, for the next one to say), and
 * SENTRY_HOUR_MAX events in any hour.  The table forgets the fingerprint
 * seen least lately when it is full.
 */
#define SENTRY_REPEAT_MS	(10 * 60 * 1000)
#define SENTRY_HOUR_MS		(60 * 60 * 1000)
#define SENTRY_HOUR_MAX		30
#define SENTRY_FINGERPRINTS	64
struct sentry_limit {
	struct {
		uint64_t	 hash;		/* of the fingerprint; 0: free */
		uint64_t	 sent_ms;	/* monotonic; 0: never sent */
		uint64_t	 seen_ms;
		unsigned	 suppressed;	/* since sent_ms */
	}		 fp[SENTRY_FINGERPRINTS];
	uint64_t	 sent[SENTRY_HOUR_MAX];	/* ring of send times */
	unsigned	 nsent;
};

/*
 * Whether an event of fingerprint may go at now_ms (monotonic): 1, with
 * *suppressed the count of its fingerprint held back since the last one
 * sent; 0 when held back, with *suppressed the count so far.  Pure.
 */
int	sentry_limit_admit(struct sentry_limit *l, const char *fingerprint,
	    uint64_t now_ms, unsigned *suppressed);

/*
 * The client.  A request gives up after SENTRY_TIMEOUT_MS; a 429 without
 * a Retry-After pauses sending SENTRY_PAUSE_DEFAULT_S seconds.
 */
#define SENTRY_TIMEOUT_MS	5000
#define SENTRY_PAUSE_DEFAULT_S	60
#define SENTRY_QUEUE_MAX	20	/* events waiting; the oldest dropped */

struct sentry;

/*
 * The client for cfg on loop: *out, or *out NULL when cfg wants no
 * reports (no DSN, or disable_sentry): then no client exists at all.
 * -1 with err when it cannot be made (memory, curl).  The limits and a
 * pause of old (a reload's previous client, or NULL) carry over, and
 * old is freed (its queue with it) whatever happens.
 */
int	sentry_start(struct ev_loop *loop, const struct config *cfg,
	    struct sentry *old, struct sentry **out, char *err, size_t errlen);
/*
 * Report ev (its id and time are set here): rate-limited, queued, sent
 * when its turn comes.  Nothing when s is NULL.  Never blocks.
 */
void	sentry_capture(struct sentry *s, struct sentry_event *ev);
/* Cancel the request in flight; the events waiting are lost.  NULL: nothing. */
void	sentry_free(struct sentry *s);

#endif

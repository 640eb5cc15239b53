/*
 * sentry: the reports to Sentry (see sentry.h).  The first half is pure:
 * the DSN, the event and its envelope (developers' "Envelopes" format:
 * a header line, an item header with the payload's length, the payload),
 * the rate limits.  The second half is the master's client: a queue of
 * SENTRY_QUEUE_MAX events sent one at a time over httpc on the master's
 * loop, paused as long as a 429 (or a 503 with Retry-After) asks, its
 * failures logged once a minute at most.  An event lost to a failure is
 * not retried: these reports are a convenience beside the log, which
 * has every one of them.
 */
#include "autoconf.h"

#include <sys/utsname.h>

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <json-c/json.h>
#include <openssl/rand.h>

#include "config.h"
#include "httpc.h"
#include "log.h"
#include "sentry.h"
#include "url.h"
#include "util.h"

#define CLIENT_NAME	PACKAGE_NAME "/" PACKAGE_VERSION
/* A failed send is logged at most this often. */
#define FAIL_LOG_MS	60000
/* The answer to an envelope is a small JSON object ({"id":...}). */
#define ANSWER_MAX	(64 * 1024)
/* "2025-11-14T20:05:12.345Z", with room for what strftime may give. */
#define TIME_SIZE	48

static int
is_loopback(const struct url *u)
{
	if (u->ipv6)
		return strcmp(u->host, "::1") == 0;
	return strcasecmp(u->host, "localhost") == 0 ||
	    strncmp(u->host, "127.", 4) == 0;
}

int
sentry_dsn_parse(const char *dsn, struct sentry_dsn *out, char *err,
    size_t errlen)
{
	struct url u;
	char why[128], origin[URL_HOST_MAX + 32];
	const char *path, *last, *p;
	size_t plen, klen;

	memset(out, 0, sizeof(*out));
	if (url_parse(dsn, URL_HTTP | URL_USERINFO | URL_PATH | URL_NO_QUERY,
	    &u, why, sizeof(why)) == -1) {
		util_set_err(err, errlen, "%s", why);
		return -1;
	}
	if (!u.tls && !is_loopback(&u)) {
		util_set_err(err, errlen, "must be an https:// URL (http:// "
		    "only to a loopback host: the key would travel in clear)");
		goto fail;
	}
	if (u.user == NULL) {
		util_set_err(err, errlen, "has no public key (https://<public "
		    "key>@<host>/<project id>)");
		goto fail;
	}
	klen = strlen(u.user);
	for (p = u.user; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p))
			break;
	if (*p != '\0' || klen > SENTRY_KEY_MAX) {
		util_set_err(err, errlen, "has a public key that is not 1 to "
		    "%d letters and digits", SENTRY_KEY_MAX);
		goto fail;
	}
	/* The last segment is the project; before it, a path prefix. */
	path = u.path;
	plen = u.path_len;
	if (plen > 1 && path[plen - 1] == '/')
		plen--;
	for (last = path + plen; last > path && last[-1] != '/'; last--)
		;
	if (last == path + plen || (size_t)(path + plen - last) >
	    SENTRY_PROJECT_MAX) {
		util_set_err(err, errlen, "has no project id at the end of its "
		    "path");
		goto fail;
	}
	for (p = last; p < path + plen; p++)
		if (!isdigit((unsigned char)*p)) {
			util_set_err(err, errlen, "has a project id that is "
			    "not a number");
			goto fail;
		}
	memcpy(out->project, last, (size_t)(path + plen - last));
	memcpy(out->public_key, u.user, klen + 1);
	snprintf(out->host, sizeof(out->host), "%s", u.host);
	if (url_origin(&u, origin, sizeof(origin)) == -1)
		goto nomem;
	/* origin ends in '/'; the prefix starts with one (or is empty). */
	if (asprintf(&out->envelope_url, "%s%.*sapi/%s/envelope/", origin,
	    (int)(last - path > 0 ? last - path - 1 : 0), path + 1,
	    out->project) == -1) {
		out->envelope_url = NULL;
		goto nomem;
	}
	/* "api/<project>/envelope/" lengthens a DSN already near URL_MAX. */
	if (strlen(out->envelope_url) > URL_MAX) {
		util_set_err(err, errlen, "is too long: its envelope URL would "
		    "be longer than %d bytes", URL_MAX);
		goto fail;
	}
	if (asprintf(&out->auth, "Sentry sentry_version=7, sentry_client=%s, "
	    "sentry_key=%s", CLIENT_NAME, out->public_key) == -1) {
		out->auth = NULL;
		goto nomem;
	}
	if (u.password != NULL && (out->secret_key = strdup(u.password)) ==
	    NULL)
		goto nomem;
	url_free(&u);
	return 0;
nomem:
	util_set_err(err, errlen, "cannot be read: out of memory");
fail:
	url_free(&u);
	sentry_dsn_free(out);
	return -1;
}

void
sentry_dsn_free(struct sentry_dsn *d)
{
	if (d->auth != NULL)
		explicit_bzero(d->auth, strlen(d->auth));
	free(d->auth);
	free(d->envelope_url);
	if (d->secret_key != NULL)
		explicit_bzero(d->secret_key, strlen(d->secret_key));
	free(d->secret_key);
	explicit_bzero(d, sizeof(*d));
}

size_t
sentry_secrets(const struct config *cfg, const char **out,
    struct sentry_keys *keys)
{
	struct sentry_dsn dsn;
	char err[8];
	size_t n;

	memset(keys, 0, sizeof(*keys));
	n = config_secrets(cfg, out, SENTRY_SECRETS_MAX - 2);
	if (cfg->sentry_dsn == NULL ||
	    sentry_dsn_parse(cfg->sentry_dsn, &dsn, err, sizeof(err)) == -1)
		return n;
	snprintf(keys->public_key, sizeof(keys->public_key), "%s",
	    dsn.public_key);
	out[n++] = keys->public_key;
	if (dsn.secret_key != NULL) {
		snprintf(keys->secret_key, sizeof(keys->secret_key), "%s",
		    dsn.secret_key);
		out[n++] = keys->secret_key;
	}
	sentry_dsn_free(&dsn);
	return n;
}

int
sentry_check_environment(const char *v)
{
	size_t n = strlen(v), i;

	if (n == 0 || n > 64 || strcmp(v, "None") == 0)
		return -1;
	for (i = 0; i < n; i++)
		if (!isgraph((unsigned char)v[i]) || v[i] == '/')
			return -1;
	return 0;
}

const char *
sentry_environment(const struct config *cfg)
{
	if (cfg->sentry_environment != NULL)
		return cfg->sentry_environment;
	if (cfg->environment_prefix != NULL &&
	    sentry_check_environment(cfg->environment_prefix) == 0)
		return cfg->environment_prefix;
	return "production";
}

int
sentry_wanted(const struct config *cfg)
{
	return cfg->sentry_dsn != NULL && *cfg->sentry_dsn != '\0' &&
	    !cfg->disable_sentry;
}

void
sentry_event_init(struct sentry_event *ev, const char *level,
    const char *kind, int slot)
{
	memset(ev, 0, sizeof(*ev));
	ev->level = level;
	ev->logger = "master";
	ev->kind = kind;
	ev->slot = slot;
}

void
sentry_event_message(struct sentry_event *ev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ev->message, sizeof(ev->message), fmt, ap);
	va_end(ap);
}

void
sentry_event_fingerprint(struct sentry_event *ev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ev->fingerprint, sizeof(ev->fingerprint), fmt, ap);
	va_end(ap);
}

void
sentry_event_tag(struct sentry_event *ev, const char *name, const char *value)
{
	if (value == NULL || *value == '\0' || ev->ntags == SENTRY_TAGS_MAX)
		return;
	ev->tags[ev->ntags].name = name;
	snprintf(ev->tags[ev->ntags].value, sizeof(ev->tags[0].value), "%s",
	    value);
	ev->ntags++;
}

void
sentry_event_extra(struct sentry_event *ev, const char *name, double value)
{
	if (ev->nextra == SENTRY_EXTRA_MAX)
		return;
	ev->extra[ev->nextra].name = name;
	ev->extra[ev->nextra].value = value;
	ev->nextra++;
}

void
sentry_words(char *out, size_t len, const char *text, int nwords)
{
	size_t o = 0;
	int words = 0, inword = 0;
	char quote = 0;
	const char *p;

	if (len == 0)
		return;
	for (p = text; *p != '\0' && words <= nwords; p++) {
		unsigned char ch = (unsigned char)*p;

		/* A quoted part is a value (an id, a name): dropped. */
		if (quote != 0) {
			if (*p == quote)
				quote = 0;
			continue;
		}
		if (*p == '\'' || *p == '"') {
			quote = *p;
			continue;
		}
		if (isalpha(ch) || *p == '_' || *p == '-') {
			if (!inword) {
				if (++words > nwords)
					break;
				if (o > 0 && o + 1 < len)
					out[o++] = ' ';
				inword = 1;
			}
			if (o + 1 < len)
				out[o++] = (char)tolower(ch);
		} else if (!isdigit(ch))
			inword = 0;
	}
	out[o] = '\0';
}

void
sentry_signal_name(int sig, char *buf, size_t len)
{
	static const struct {
		int		 sig;
		const char	*name;
	} names[] = {
		{ SIGHUP, "SIGHUP" }, { SIGINT, "SIGINT" },
		{ SIGQUIT, "SIGQUIT" }, { SIGILL, "SIGILL" },
		{ SIGTRAP, "SIGTRAP" }, { SIGABRT, "SIGABRT" },
		{ SIGBUS, "SIGBUS" }, { SIGFPE, "SIGFPE" },
		{ SIGKILL, "SIGKILL" }, { SIGUSR1, "SIGUSR1" },
		{ SIGSEGV, "SIGSEGV" }, { SIGUSR2, "SIGUSR2" },
		{ SIGPIPE, "SIGPIPE" }, { SIGALRM, "SIGALRM" },
		{ SIGTERM, "SIGTERM" }, { SIGXCPU, "SIGXCPU" },
		{ SIGXFSZ, "SIGXFSZ" }, { SIGSYS, "SIGSYS" },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].sig == sig) {
			snprintf(buf, len, "%s", names[i].name);
			return;
		}
	snprintf(buf, len, "SIG%d", sig);
}

int
sentry_event_id(char out[SENTRY_EVENT_ID_SIZE])
{
	unsigned char b[16];
	size_t i;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	for (i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}

/* RFC 3339 in UTC with milliseconds: "2025-11-14T20:05:12.345Z". */
static void
rfc3339(uint64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char day[32];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		snprintf(day, sizeof(day), "1970-01-01T00:00:00");
	snprintf(buf, len, "%s.%03uZ", day, (unsigned)(ms % 1000));
}

/* A text for the event: one line of printable ASCII, no secret in it. */
static json_object *
text(const char *s, const struct sentry_context *ctx)
{
	char buf[SENTRY_MESSAGE_MAX];

	(void)util_clean(buf, sizeof(buf), s, strlen(s), 0,
	    UTIL_CLEAN_ASCII | UTIL_CLEAN_SPACE);
	(void)util_redact(buf, sizeof(buf), ctx->secrets, ctx->nsecrets, 0);
	return json_object_new_string(buf);
}

/* Adds v as key of o; a NULL v (out of memory) makes *bad. */
static void
put(json_object *o, const char *key, json_object *v, int *bad)
{
	if (v == NULL || json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		*bad = 1;
	}
}

/* A number as people write it: 12, 0.145, not 0.14499999999999999. */
static json_object *
number(double v)
{
	char buf[64];
	size_t n;

	if (v >= -9007199254740992.0 && v <= 9007199254740992.0 &&
	    v == (double)(int64_t)v)
		return json_object_new_int64((int64_t)v);
	n = (size_t)snprintf(buf, sizeof(buf), "%.3f", v);
	while (n > 1 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 1 && buf[n - 1] == '.')
		buf[--n] = '\0';
	return json_object_new_double_s(v, buf);
}

static json_object *
sdk(void)
{
	json_object *o = json_object_new_object();
	int bad = 0;

	if (o == NULL)
		return NULL;
	put(o, "name", json_object_new_string(PACKAGE_NAME), &bad);
	put(o, "version", json_object_new_string(PACKAGE_VERSION), &bad);
	if (bad) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static json_object *
event_json(const struct sentry_event *ev, const struct sentry_context *ctx)
{
	json_object *o, *tags, *extra, *fp, *contexts, *os;
	char when[TIME_SIZE], slot[16];
	size_t i;
	int bad = 0;

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	rfc3339(ev->timestamp_ms, when, sizeof(when));
	put(o, "event_id", json_object_new_string(ev->event_id), &bad);
	put(o, "timestamp", json_object_new_string(when), &bad);
	put(o, "platform", json_object_new_string("c"), &bad);
	put(o, "level", json_object_new_string(ev->level), &bad);
	put(o, "logger", json_object_new_string(ev->logger), &bad);
	put(o, "server_name", text(ctx->server_name, ctx), &bad);
	put(o, "release", json_object_new_string(ctx->release), &bad);
	put(o, "environment", text(ctx->environment, ctx), &bad);
	put(o, "message", text(ev->message, ctx), &bad);
	put(o, "sdk", sdk(), &bad);

	if ((tags = json_object_new_object()) != NULL) {
		put(tags, "kind", json_object_new_string(ev->kind), &bad);
		if (ev->slot > 0) {
			snprintf(slot, sizeof(slot), "%d", ev->slot);
			put(tags, "slot", json_object_new_string(slot), &bad);
		}
		for (i = 0; i < ev->ntags; i++)
			put(tags, ev->tags[i].name, text(ev->tags[i].value,
			    ctx), &bad);
	}
	put(o, "tags", tags, &bad);
	if ((fp = json_object_new_array()) != NULL) {
		if (json_object_array_add(fp, json_object_new_string(
		    ev->kind)) != 0)
			bad = 1;
		if (ev->fingerprint[0] != '\0' && json_object_array_add(fp,
		    text(ev->fingerprint, ctx)) != 0)
			bad = 1;
	}
	put(o, "fingerprint", fp, &bad);
	if (ev->nextra > 0) {
		if ((extra = json_object_new_object()) != NULL)
			for (i = 0; i < ev->nextra; i++)
				put(extra, ev->extra[i].name,
				    number(ev->extra[i].value), &bad);
		put(o, "extra", extra, &bad);
	}
	if (ctx->os_name != NULL) {
		contexts = json_object_new_object();
		os = json_object_new_object();
		if (os != NULL) {
			put(os, "name", text(ctx->os_name, ctx), &bad);
			if (ctx->os_version != NULL)
				put(os, "version", text(ctx->os_version, ctx),
				    &bad);
		}
		if (contexts != NULL)
			put(contexts, "os", os, &bad);
		else
			json_object_put(os);
		put(o, "contexts", contexts, &bad);
	}
	if (bad) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

char *
sentry_envelope(const struct sentry_event *ev,
    const struct sentry_context *ctx, uint64_t now_ms, size_t *len)
{
	json_object *event, *head;
	const char *payload, *h;
	char sent[TIME_SIZE], *out = NULL;
	int bad = 0, n;

	if ((event = event_json(ev, ctx)) == NULL)
		return NULL;
	if ((head = json_object_new_object()) == NULL) {
		json_object_put(event);
		return NULL;
	}
	rfc3339(now_ms, sent, sizeof(sent));
	put(head, "event_id", json_object_new_string(ev->event_id), &bad);
	put(head, "sent_at", json_object_new_string(sent), &bad);
	put(head, "sdk", sdk(), &bad);
	payload = json_object_to_json_string_ext(event,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	h = json_object_to_json_string_ext(head,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	/* The payload's length in bytes, without the "\n" ending it. */
	if (!bad && payload != NULL && h != NULL &&
	    (n = asprintf(&out, "%s\n{\"type\":\"event\",\"length\":%zu}\n"
	    "%s\n", h, strlen(payload), payload)) != -1)
		*len = (size_t)n;
	else
		out = NULL;
	json_object_put(event);
	json_object_put(head);
	return out;
}

/* FNV-1a, never 0 (a free entry). */
static uint64_t
hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h == 0 ? 1 : h;
}

int
sentry_limit_admit(struct sentry_limit *l, const char *fingerprint,
    uint64_t now_ms, unsigned *suppressed)
{
	uint64_t h = hash(fingerprint);
	size_t i, k = 0, oldest;

	*suppressed = 0;
	for (i = 0; i < SENTRY_FINGERPRINTS; i++)
		if (l->fp[i].hash == h)
			break;
	if (i == SENTRY_FINGERPRINTS) {
		/* A free entry, or the one seen least lately. */
		for (k = 0, oldest = 0; k < SENTRY_FINGERPRINTS; k++) {
			if (l->fp[k].hash == 0)
				break;
			if (l->fp[k].seen_ms < l->fp[oldest].seen_ms)
				oldest = k;
		}
		i = k < SENTRY_FINGERPRINTS ? k : oldest;
		memset(&l->fp[i], 0, sizeof(l->fp[i]));
		l->fp[i].hash = h;
	}
	l->fp[i].seen_ms = now_ms;
	if (l->fp[i].sent_ms != 0 && now_ms - l->fp[i].sent_ms <
	    SENTRY_REPEAT_MS) {
		*suppressed = ++l->fp[i].suppressed;
		return 0;
	}
	/* The hour's budget: the ring's oldest send must be an hour old. */
	k = l->nsent % SENTRY_HOUR_MAX;
	if (l->nsent >= SENTRY_HOUR_MAX && now_ms - l->sent[k] <
	    SENTRY_HOUR_MS) {
		*suppressed = ++l->fp[i].suppressed;
		return 0;
	}
	l->sent[k] = now_ms;
	l->nsent++;
	/* 0 means never: a monotonic clock that starts at 0 sends at 1. */
	l->fp[i].sent_ms = now_ms == 0 ? 1 : now_ms;
	*suppressed = l->fp[i].suppressed;
	l->fp[i].suppressed = 0;
	return 1;
}

/* The client. */

struct sentry {
	struct ev_loop		*loop;
	struct httpc		*http;
	struct sentry_dsn	 dsn;
	char			*auth_line;	/* "X-Sentry-Auth: ..." */
	struct sentry_context	 ctx;
	char			 release[128];
	char			 environment[65];
	char			 server_name[256];
	struct utsname		 uts;
	char			*secrets[SENTRY_SECRETS_MAX];
	struct sentry_limit	 limit;
	struct sentry_event	*queue[SENTRY_QUEUE_MAX];	/* a ring */
	size_t			 head, count;
	unsigned long		 dropped;	/* by a full queue */
	struct httpc_call	*call;		/* the one request, or NULL */
	char			 sending[SENTRY_EVENT_ID_SIZE];
	const char		*sending_kind;
	uint64_t		 paused_until;	/* monotonic ms; 0: not */
	ev_timer		 resume;
	uint64_t		 fail_logged;	/* monotonic ms; 0: never */
	unsigned		 failures;	/* not logged yet */
};

static void	pump(struct sentry *);

static void
on_resume(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sentry *s = w->data;

	(void)loop;
	(void)revents;
	s->paused_until = 0;
	log_info("sentry: sending resumed (%zu waiting)", s->count);
	pump(s);
}

static void
pause_for(struct sentry *s, long secs)
{
	if (secs <= 0)
		secs = 1;
	s->paused_until = util_mono_ms() + (uint64_t)secs * 1000;
	ev_timer_stop(s->loop, &s->resume);
	ev_timer_set(&s->resume, (double)secs, 0.);
	ev_timer_start(s->loop, &s->resume);
}

/* A send that failed, logged once a minute at most; never the DSN. */
static void
send_failed(struct sentry *s, const char *why)
{
	uint64_t now = util_mono_ms();
	char line[HTTPC_ERROR_MAX + 64];

	s->failures++;
	if (s->fail_logged != 0 && now - s->fail_logged < FAIL_LOG_MS)
		return;
	snprintf(line, sizeof(line), "%s", why);
	(void)util_redact(line, sizeof(line), s->ctx.secrets,
	    s->ctx.nsecrets, 0);
	if (s->failures > 1)
		log_warn("sentry: sending to %s failed: %s; event dropped "
		    "(%u failed since the last such line)", s->dsn.host, line,
		    s->failures);
	else
		log_warn("sentry: sending to %s failed: %s; event dropped",
		    s->dsn.host, line);
	s->fail_logged = now;
	s->failures = 0;
}

static void
on_done(void *arg, const struct httpc_result *r)
{
	struct sentry *s = arg;
	char why[HTTPC_ERROR_MAX + 32];
	long secs;

	s->call = NULL;
	if (r->ok && r->status >= 200 && r->status < 300)
		log_debug("sentry: event %s (%s) sent to %s", s->sending,
		    s->sending_kind, s->dsn.host);
	else if (r->ok && (r->status == 429 || (r->status == 503 &&
	    r->retry_after >= 0))) {
		secs = r->retry_after >= 0 ? r->retry_after :
		    SENTRY_PAUSE_DEFAULT_S;
		pause_for(s, secs);
		log_warn("sentry: %s answered HTTP %ld; event %s dropped, "
		    "sending paused for %lds", s->dsn.host, r->status,
		    s->sending, secs > 0 ? secs : 1);
	} else {
		if (r->ok)
			snprintf(why, sizeof(why), "HTTP %ld", r->status);
		else
			snprintf(why, sizeof(why), "%s", r->error);
		send_failed(s, why);
	}
	pump(s);
}

/* Send the next event, unless one is in flight or sending is paused. */
static void
pump(struct sentry *s)
{
	const char *headers[3];
	struct httpc_request req;
	struct sentry_event *ev;
	char *body;
	size_t len;

	while (s->call == NULL && s->count > 0 && s->paused_until == 0) {
		ev = s->queue[s->head];
		s->queue[s->head] = NULL;
		s->head = (s->head + 1) % SENTRY_QUEUE_MAX;
		s->count--;
		body = sentry_envelope(ev, &s->ctx, util_now_ms(), &len);
		if (body == NULL) {
			send_failed(s, "out of memory");
			free(ev);
			continue;
		}
		headers[0] = "Content-Type: application/x-sentry-envelope";
		headers[1] = s->auth_line;
		headers[2] = NULL;
		memset(&req, 0, sizeof(req));
		req.method = "POST";
		req.url = s->dsn.envelope_url;
		req.headers = headers;
		req.body = body;
		req.body_len = len;
		req.timeout_ms = SENTRY_TIMEOUT_MS;
		req.max_body = ANSWER_MAX;
		memcpy(s->sending, ev->event_id, sizeof(s->sending));
		s->sending_kind = ev->kind;
		s->call = httpc_start(s->http, &req, on_done, s);
		free(body);
		free(ev);
		if (s->call == NULL)
			send_failed(s, strerror(errno));
	}
}

void
sentry_capture(struct sentry *s, struct sentry_event *ev)
{
	struct sentry_event *copy;
	char key[SENTRY_FINGERPRINT_MAX + 32];
	unsigned suppressed;
	size_t tail;

	if (s == NULL)
		return;
	snprintf(key, sizeof(key), "%s %s", ev->kind, ev->fingerprint);
	if (!sentry_limit_admit(&s->limit, key, util_mono_ms(),
	    &suppressed)) {
		log_debug("sentry: %s event held back by the rate limits "
		    "(%u of its kind since the last one sent)", ev->kind,
		    suppressed);
		return;
	}
	if (suppressed > 0)
		sentry_event_extra(ev, "suppressed", suppressed);
	if (sentry_event_id(ev->event_id) == -1) {
		log_warn("sentry: no random event id (RAND_bytes failed); "
		    "%s event not sent", ev->kind);
		return;
	}
	ev->timestamp_ms = util_now_ms();
	if ((copy = malloc(sizeof(*copy))) == NULL) {
		log_warn("sentry: out of memory; %s event not sent", ev->kind);
		return;
	}
	*copy = *ev;
	if (s->count == SENTRY_QUEUE_MAX) {
		/* The oldest goes: the newest says more about now. */
		free(s->queue[s->head]);
		s->queue[s->head] = NULL;
		s->head = (s->head + 1) % SENTRY_QUEUE_MAX;
		s->count--;
		s->dropped++;
		log_debug("sentry: queue full; the oldest event dropped (%lu "
		    "so far)", s->dropped);
	}
	tail = (s->head + s->count) % SENTRY_QUEUE_MAX;
	s->queue[tail] = copy;
	s->count++;
	log_debug("sentry: %s event %s queued", ev->kind, ev->event_id);
	pump(s);
}

/* The secrets of cfg and of its DSN, copied: s outlives no cfg. */
static int
copy_secrets(struct sentry *s, const struct config *cfg)
{
	const char *list[SENTRY_SECRETS_MAX];
	struct sentry_keys keys;
	size_t n, i;
	int rc = 0;

	n = sentry_secrets(cfg, list, &keys);
	for (i = 0; i < n && rc == 0; i++)
		if ((s->secrets[i] = strdup(list[i])) == NULL)
			rc = -1;
	explicit_bzero(&keys, sizeof(keys));
	s->ctx.secrets = (const char *const *)s->secrets;
	s->ctx.nsecrets = rc == 0 ? n : 0;
	return rc;
}

static void
destroy(struct sentry *s)
{
	size_t i;

	if (s == NULL)
		return;
	if (s->call != NULL)
		httpc_cancel(s->call);
	httpc_free(s->http);
	ev_timer_stop(s->loop, &s->resume);
	for (i = 0; i < SENTRY_QUEUE_MAX; i++)
		free(s->queue[i]);
	for (i = 0; i < SENTRY_SECRETS_MAX; i++)
		if (s->secrets[i] != NULL) {
			explicit_bzero(s->secrets[i], strlen(s->secrets[i]));
			free(s->secrets[i]);
		}
	if (s->auth_line != NULL) {
		explicit_bzero(s->auth_line, strlen(s->auth_line));
		free(s->auth_line);
	}
	sentry_dsn_free(&s->dsn);
	free(s);
}

/* What a reload's new client takes of the old one. */
static void
carry(struct sentry *s, struct sentry *old)
{
	uint64_t now = util_mono_ms();

	s->limit = old->limit;
	s->fail_logged = old->fail_logged;
	s->failures = old->failures;
	while (old->count > 0) {
		s->queue[s->count++] = old->queue[old->head];
		old->queue[old->head] = NULL;
		old->head = (old->head + 1) % SENTRY_QUEUE_MAX;
		old->count--;
	}
	if (old->paused_until > now)
		pause_for(s, (long)((old->paused_until - now + 999) / 1000));
}

int
sentry_start(struct ev_loop *loop, const struct config *cfg,
    struct sentry *old, struct sentry **out, char *err, size_t errlen)
{
	struct sentry *s;
	char why[256];

	*out = NULL;
	if (!sentry_wanted(cfg)) {
		destroy(old);
		return 0;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		util_set_err(err, errlen, "sentry: out of memory");
		destroy(old);
		return -1;
	}
	s->loop = loop;
	ev_timer_init(&s->resume, on_resume, 0., 0.);
	s->resume.data = s;
	/* Checked by config_load: only memory can fail here. */
	if (sentry_dsn_parse(cfg->sentry_dsn, &s->dsn, why,
	    sizeof(why)) == -1) {
		util_set_err(err, errlen, "sentry: SENTRY_DSN: value %s", why);
		goto fail;
	}
	if (asprintf(&s->auth_line, "X-Sentry-Auth: %s", s->dsn.auth) == -1) {
		s->auth_line = NULL;
		goto nomem;
	}
	if (copy_secrets(s, cfg) == -1)
		goto nomem;
	/* One connection: one request at a time. */
	if ((s->http = httpc_new(loop, 1)) == NULL) {
		util_set_err(err, errlen, "sentry: cannot make the HTTP "
		    "client: %s", strerror(errno));
		goto fail;
	}
	if (cfg->aws_ca_bundle != NULL &&
	    httpc_set_ca_bundle(s->http, cfg->aws_ca_bundle) == -1)
		goto nomem;
	snprintf(s->release, sizeof(s->release), "%s@%s", PACKAGE_NAME,
	    PACKAGE_VERSION);
	snprintf(s->environment, sizeof(s->environment), "%s",
	    sentry_environment(cfg));
	if (gethostname(s->server_name, sizeof(s->server_name)) == -1)
		snprintf(s->server_name, sizeof(s->server_name), "unknown");
	s->server_name[sizeof(s->server_name) - 1] = '\0';
	s->ctx.release = s->release;
	s->ctx.environment = s->environment;
	s->ctx.server_name = s->server_name;
	if (uname(&s->uts) == 0) {
		s->ctx.os_name = s->uts.sysname;
		s->ctx.os_version = s->uts.release;
	}
	if (old != NULL)
		carry(s, old);
	destroy(old);
	log_info("sentry: reporting to %s, project %s, environment %s",
	    s->dsn.host, s->dsn.project, s->environment);
	*out = s;
	pump(s);
	return 0;
nomem:
	util_set_err(err, errlen, "sentry: out of memory");
fail:
	destroy(s);
	destroy(old);
	return -1;
}

void
sentry_free(struct sentry *s)
{
	destroy(s);
}

/*
 * creds: the AWS credential chain.  Two halves:
 *
 * The plan (creds_plan), decided once from the settings and the shared
 * files: a list of steps, the first the base source (static keys,
 * credential_process, container credentials, instance metadata, web
 * identity) and each further one an STS AssumeRole signed with the
 * credentials of the step before it (a profile's role_arn with its
 * source_profile or credential_source, then aws_role_arn on top).  The
 * master checks it (-t, start, reload); each consumer makes its own.
 *
 * The provider (creds_new), per consumer, on the consumer's loop: one
 * layer of credentials per step.  A fetch walks the steps from the base
 * up and fetches each layer that is missing or due (static keys never
 * are), then the next with it, until the top's are in: those sign.  One
 * fetch at a time, one ev_timer for the next one (the refresh ahead of
 * the top's expiry, or the retry after a failure, with backoff), one for
 * the top's expiry.  While a refresh runs or fails the current
 * credentials keep signing; only their expiry takes them away, and then
 * the state callback says so.
 *
 * Every source answers on the loop: HTTP through httpc (STS, container,
 * IMDSv2), credential_process as a child spawned with /bin/sh -c whose
 * output is read through nonblocking pipes by ev_io and which is reaped
 * by waitpid(WNOHANG) from a timer (a consumer's loop is not libev's
 * default loop, so ev_child does not see its children), killed with its
 * process group past its deadline.  Files read on the loop are small and
 * local: the shared files (at plan time), a token file (at each fetch: it
 * rotates).
 *
 * Secrets (secret keys, session tokens, the container's and the web
 * identity's tokens) go to httpc and nowhere else: error lines are built
 * from codes, statuses and the servers' messages cut to a line, then
 * redacted of every secret known (util_redact).
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <json-c/json.h>

#include "backoff.h"
#include "config.h"
#include "creds.h"
#include "httpc.h"
#include "log.h"
#include "sigv4.h"
#include "url.h"
#include "util.h"

/*
 * Wall-clock time as AWS reckons it: the signing clock's offset (learnt
 * from an answer's Date, sigv4_skew) applies to expiries too, so that a
 * host clock off by minutes neither refreshes after the real expiry nor
 * takes fresh credentials for expired ones.
 */
static int64_t
now_ms(void)
{
	return (int64_t)util_now_ms() + (int64_t)sigv4_offset() * 1000;
}

extern char **environ;

#define STRINGIFY_(x)		#x
#define STRINGIFY(x)		STRINGIFY_(x)

/*
 * Steps at most: a profile's source_profile chain of CREDS_MAX_PROFILES
 * roles above its base, and aws_role_arn on top.  The AWS SDKs set no
 * depth; eight roles deep is past any sane setup and bounds a typo.
 */
#define CREDS_MAX_PROFILES	8
#define CREDS_MAX_STEPS		(CREDS_MAX_PROFILES + 2)
/* A shared file is a few dozen lines; refuse anything absurd. */
#define CREDS_FILE_MAX		(1024 * 1024)
/* A token file (a JWT, a container's token) is a few KiB at most. */
#define CREDS_TOKEN_MAX		(64 * 1024)
/* What a credential_process may print: its JSON is a few hundred bytes. */
#define CREDS_OUTPUT_MAX	(64 * 1024)
/*
 * After the shell's exit, its output's end is awaited this long before
 * what it left running in the background (holding stdout) is killed.
 */
#define PROCESS_ORPHAN_GRACE_MS	1000
/* Of its stderr, this much is kept for the log. */
#define CREDS_STDERR_MAX	4096
/* Longest server message or stderr line quoted in an error line. */
#define CREDS_QUOTE_MAX		200

/*
 * IMDSv2 as the AWS SDKs default it: a 1 s timeout and 2 attempts per
 * request, a token asked for six hours and used until a minute before.
 */
#define IMDS_TIMEOUT_MS		1000L
#define IMDS_ATTEMPTS		2
#define IMDS_TOKEN_TTL		21600
#define IMDS_TOKEN_SLACK_MS	60000
#define IMDS_DEFAULT		"http://169.254.169.254"
/* The ECS agent's address, where a relative URI goes. */
#define CONTAINER_HOST		"http://169.254.170.2"
/* Container credentials as botocore asks: 2 s, 3 attempts. */
#define CONTAINER_TIMEOUT_MS	2000L
#define CONTAINER_ATTEMPTS	3
/* STS answers in well under a second; ten is an outage. */
#define STS_TIMEOUT_MS		10000L
#define STS_VERSION		"2011-06-15"
/* credential_process: the AWS CLI gives no bound; a daemon must. */
#define PROCESS_TIMEOUT_SECS	30
#define PROCESS_TIMEOUT_MS	(PROCESS_TIMEOUT_SECS * 1000)
#define PROCESS_POLL_SECS	0.1
/*
 * Failed fetches are retried from 1 s, doubling to 30 s, and while the
 * current credentials last at the latest halfway to their expiry (but
 * not sooner than 1 s); at their expiry once more at once, the backoff
 * starting over, since the consumer now waits for them.
 */
#define RETRY_MIN_MS		1000
#define RETRY_MAX_MS		30000
/* At most five minutes ahead of an expiry. */
#define REFRESH_LEAD_MAX_MS	(5 * 60 * 1000LL)
/* Credentials that expire within this are expired on arrival. */
#define EXPIRED_SLACK_MS	1000LL
/* An invalidation this soon after new credentials is the old ones'. */
#define INVALIDATE_MIN_MS	5000

enum step_kind {
	STEP_STATIC,		/* keys given: the settings, a profile */
	STEP_PROCESS,		/* credential_process */
	STEP_CONTAINER,		/* ECS, EKS Pod Identity */
	STEP_IMDS,		/* EC2 instance metadata, IMDSv2 */
	STEP_WEB_IDENTITY,	/* STS AssumeRoleWithWebIdentity */
	STEP_ASSUME_ROLE	/* STS AssumeRole, the step below's signing */
};

struct step {
	enum step_kind		 kind;
	char			*what;		/* names it in error lines */
	char			*desc;		/* for creds_plan_describe */
	struct creds_value	 keys;		/* STEP_STATIC */
	char			*command;	/* STEP_PROCESS */
	char			*url;		/* CONTAINER; IMDS: no '/' */
	char			*token;		/* CONTAINER: a secret */
	char			*token_file;	/* CONTAINER, WEB_IDENTITY */
	char			*role_arn;	/* WEB_IDENTITY, ASSUME_ROLE */
	char			*session_name;
	char			*external_id;
	int			 duration;	/* seconds; 0: STS' default */
};

struct creds_plan {
	struct step	 steps[CREDS_MAX_STEPS];	/* [0]: the base */
	int		 n;
	char		*sts_url;
	char		*region;		/* STS' signing region */
};

/* --- values, times, the refresh schedule --- */

static void
free_secret(char **p)
{
	if (*p != NULL)
		explicit_bzero(*p, strlen(*p));
	free(*p);
	*p = NULL;
}

void
creds_value_free(struct creds_value *v)
{
	free(v->access_key_id);
	v->access_key_id = NULL;
	free_secret(&v->secret_access_key);
	free_secret(&v->session_token);
	v->expires_ms = 0;
}

static int
header_safe(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s <= ' ' || *s > '~')
			return 0;
	return 1;
}

int
creds_check_value(const struct creds_value *v, char *err, size_t errlen)
{
	const char *bad = NULL;

	if (!header_safe(v->access_key_id))
		bad = "the access key id";
	else if (!header_safe(v->secret_access_key))
		bad = "the secret access key";
	else if (v->session_token != NULL && !header_safe(v->session_token))
		bad = "the session token";
	if (bad == NULL)
		return 0;
	util_set_err(err, errlen, "%s is empty or holds a space, a control "
	    "character or a non-ASCII byte", bad);
	return -1;
}

/* Copies of a, s and t (t may be NULL) into *v; -1 on memory. */
static int
value_set(struct creds_value *v, const char *a, const char *s, const char *t,
    int64_t expires_ms)
{
	memset(v, 0, sizeof(*v));
	if ((v->access_key_id = strdup(a)) == NULL ||
	    (v->secret_access_key = strdup(s)) == NULL ||
	    (t != NULL && (v->session_token = strdup(t)) == NULL)) {
		creds_value_free(v);
		return -1;
	}
	v->expires_ms = expires_ms;
	return 0;
}

/*
 * At worst 7/12 of the life has passed (a third ahead, and a quarter of
 * that for the jitter), so the refresh never comes at once; the cap keeps
 * long-lived credentials in use most of their life.
 */
int64_t
creds_refresh_at(int64_t now_ms, int64_t expires_ms, uint32_t rnd)
{
	int64_t life, lead;

	if (expires_ms == 0)
		return 0;
	if ((life = expires_ms - now_ms) <= 0)
		return now_ms;
	lead = life / 3 < REFRESH_LEAD_MAX_MS ? life / 3 : REFRESH_LEAD_MAX_MS;
	return expires_ms - lead - (int64_t)(rnd % (uint32_t)(lead / 4 + 1));
}

/* Days from 1970-01-01 to y-m-d, proleptic Gregorian (Hinnant's). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* n digits at *p into *out, advancing *p; -1 when they are not there. */
static int
digits(const char **p, int n, int *out)
{
	int v = 0;

	for (; n > 0; n--, (*p)++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (**p - '0');
	}
	*out = v;
	return 0;
}

int
creds_parse_time(const char *s, int64_t *ms)
{
	static const int mdays[] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};
	const char *p = s;
	int y, mo, d, h, mi, sec, frac = 0, scale = 1000, oh = 0, om = 0,
	    sign = 0, leap;

	if (digits(&p, 4, &y) == -1 || *p++ != '-' ||
	    digits(&p, 2, &mo) == -1 || *p++ != '-' ||
	    digits(&p, 2, &d) == -1 || (*p != 'T' && *p != 't' && *p != ' ') ||
	    (p++, digits(&p, 2, &h)) == -1 || *p++ != ':' ||
	    digits(&p, 2, &mi) == -1 || *p++ != ':' ||
	    digits(&p, 2, &sec) == -1)
		return -1;
	if (*p == '.' || *p == ',') {
		if (!isdigit((unsigned char)*++p))
			return -1;
		for (; isdigit((unsigned char)*p); p++)
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (digits(&p, 2, &oh) == -1)
			return -1;
		if (*p == ':')
			p++;
		if (digits(&p, 2, &om) == -1 || oh > 23 || om > 59)
			return -1;
	} else
		return -1;
	if (*p != '\0')
		return -1;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59 ||
	    sec > 60)
		return -1;
	if (sec == 60)
		sec = 59;	/* a leap second: as good as its neighbour */
	*ms = ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
	    h * 3600 + mi * 60 + sec - sign * (oh * 3600 + om * 60)) * 1000) +
	    frac;
	return 0;
}

/* "2026-12-02T01:44:35Z" for a log line. */
static const char *
format_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "?");
	return buf;
}

/* --- STS' XML answers --- */

/*
 * The text of the first element named name (any namespace prefix) in
 * [p, end): *text and *len, 0; -1 when there is none.  STS' answers
 * name each element once, so the first closing tag of that name ends it.
 */
static int
xml_element(const char *p, const char *end, const char *name,
    const char **text, size_t *len)
{
	size_t n = strlen(name);
	const char *q, *open = NULL, *t, *c;

	for (q = p; q < end && (q = memchr(q, '<', (size_t)(end - q))) != NULL;
	    q++) {
		t = q + 1;
		/* A prefix: "sts:Credentials". */
		for (c = t; c < end && (isalnum((unsigned char)*c) ||
		    *c == '_' || *c == '-' || *c == '.'); c++)
			;
		if (c < end && *c == ':')
			t = c + 1;
		if ((size_t)(end - t) <= n || memcmp(t, name, n) != 0)
			continue;
		t += n;
		if (*t == '>' || *t == ' ' || *t == '\t' || *t == '\r' ||
		    *t == '\n' || *t == '/') {
			open = t;
			break;
		}
	}
	if (open == NULL || (q = memchr(open, '>', (size_t)(end - open))) ==
	    NULL)
		return -1;
	if (q[-1] == '/') {		/* <name/> */
		*text = q;
		*len = 0;
		return 0;
	}
	*text = ++q;
	for (; q < end && (q = memchr(q, '<', (size_t)(end - q))) != NULL;
	    q++) {
		if ((size_t)(end - q) < 2 + n || q[1] != '/')
			continue;
		t = q + 2;
		for (c = t; c < end && *c != '>' && *c != ':'; c++)
			;
		if (c < end && *c == ':')
			t = c + 1;
		if ((size_t)(end - t) > n && memcmp(t, name, n) == 0 &&
		    (t[n] == '>' || isspace((unsigned char)t[n]))) {
			*len = (size_t)(q - *text);
			return 0;
		}
	}
	return -1;
}

/* Code point cp as UTF-8 at out[*o] (room for 4 more); -1 if invalid. */
static int
put_utf8(char *out, size_t *o, unsigned long cp)
{
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	if (cp < 0x80)
		out[(*o)++] = (char)cp;
	else if (cp < 0x800) {
		out[(*o)++] = (char)(0xc0 | cp >> 6);
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		out[(*o)++] = (char)(0xe0 | cp >> 12);
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		out[(*o)++] = (char)(0xf0 | cp >> 18);
		out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	}
	return 0;
}

/*
 * An element's text, its entities (the five, &#N;, &#xN;) and CDATA
 * decoded, white space around it trimmed, into a new string: NULL with
 * err when it holds markup or a bad entity, or on memory.
 */
static char *
xml_text(const char *t, size_t n, const char *name, char *err,
    size_t errlen)
{
	static const struct {
		const char	*ent;
		char		 c;
	} ents[] = {
		{ "lt;", '<' }, { "gt;", '>' }, { "amp;", '&' },
		{ "quot;", '"' }, { "apos;", '\'' }
	};
	const char *end = t + n, *semi;
	unsigned long cp;
	char *out, *ep;
	size_t o = 0, i;

	while (t < end && isspace((unsigned char)*t))
		t++;
	while (end > t && isspace((unsigned char)end[-1]))
		end--;
	if ((out = malloc((size_t)(end - t) + 1)) == NULL) {
		util_set_err(err, errlen, "out of memory");
		return NULL;
	}
	while (t < end) {
		if ((size_t)(end - t) >= 12 && memcmp(t, "<![CDATA[", 9) == 0 &&
		    (semi = memmem(t + 9, (size_t)(end - t - 9), "]]>", 3)) !=
		    NULL) {
			memcpy(out + o, t + 9, (size_t)(semi - t - 9));
			o += (size_t)(semi - t - 9);
			t = semi + 3;
			continue;
		}
		if (*t == '<')
			goto bad;
		if (*t != '&') {
			out[o++] = *t++;
			continue;
		}
		if ((semi = memchr(t, ';', (size_t)(end - t))) == NULL)
			goto bad;
		for (i = 0; i < sizeof(ents) / sizeof(ents[0]); i++)
			if ((size_t)(semi - t) == strlen(ents[i].ent) &&
			    memcmp(t + 1, ents[i].ent, (size_t)(semi - t)) == 0)
				break;
		if (i < sizeof(ents) / sizeof(ents[0])) {
			out[o++] = ents[i].c;
			t = semi + 1;
			continue;
		}
		if (t[1] != '#' || semi - t < 3)
			goto bad;
		errno = 0;
		cp = t[2] == 'x' || t[2] == 'X' ? strtoul(t + 3, &ep, 16) :
		    strtoul(t + 2, &ep, 10);
		/* A code point is at most as long as its reference. */
		if (ep != semi || errno != 0 || !isxdigit((unsigned char)
		    (t[2] == 'x' || t[2] == 'X' ? t[3] : t[2])) ||
		    put_utf8(out, &o, cp) == -1)
			goto bad;
		t = semi + 1;
	}
	out[o] = '\0';
	return out;
bad:
	free(out);
	util_set_err(err, errlen, "%s holds markup or a bad entity", name);
	return NULL;
}

/* The decoded text of element name in [p, end), or NULL with err. */
static char *
xml_get(const char *p, const char *end, const char *name, char *err,
    size_t errlen)
{
	const char *t;
	size_t n;

	if (xml_element(p, end, name, &t, &n) == -1) {
		util_set_err(err, errlen, "no %s in the answer", name);
		return NULL;
	}
	return xml_text(t, n, name, err, errlen);
}

int
creds_parse_sts(const char *body, size_t len, struct creds_value *out,
    char *err, size_t errlen)
{
	const char *t, *end;
	char *exp;
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	if (body == NULL || xml_element(body, body + len, "Credentials", &t,
	    &n) == -1) {
		util_set_err(err, errlen, "no Credentials in the answer");
		return -1;
	}
	end = t + n;
	if ((out->access_key_id = xml_get(t, end, "AccessKeyId", err,
	    errlen)) == NULL ||
	    (out->secret_access_key = xml_get(t, end, "SecretAccessKey", err,
	    errlen)) == NULL ||
	    (out->session_token = xml_get(t, end, "SessionToken", err,
	    errlen)) == NULL ||
	    (exp = xml_get(t, end, "Expiration", err, errlen)) == NULL) {
		creds_value_free(out);
		return -1;
	}
	rc = creds_parse_time(exp, &out->expires_ms);
	free(exp);
	if (rc == -1) {
		util_set_err(err, errlen, "Expiration is not an ISO 8601 time");
		creds_value_free(out);
		return -1;
	}
	if (creds_check_value(out, err, errlen) == -1) {
		creds_value_free(out);
		return -1;
	}
	return 0;
}

/* s cleaned for an error line into buf: one line, at most max bytes. */
static void
clean(char *buf, size_t len, const char *s, size_t n, size_t max)
{
	(void)util_clean(buf, len, s, n, max, UTIL_CLEAN_LINE |
	    UTIL_CLEAN_SPACE);
}

int
creds_parse_sts_error(const char *body, size_t len, char *code,
    size_t codelen, char *message, size_t messagelen)
{
	const char *t, *end;
	char *s;
	size_t n;

	if (codelen > 0)
		code[0] = '\0';
	if (messagelen > 0)
		message[0] = '\0';
	if (body == NULL || xml_element(body, body + len, "Error", &t,
	    &n) == -1)
		return -1;
	end = t + n;
	if ((s = xml_get(t, end, "Code", NULL, 0)) == NULL)
		return -1;
	clean(code, codelen, s, strlen(s), 64);
	free(s);
	if ((s = xml_get(t, end, "Message", NULL, 0)) != NULL) {
		clean(message, messagelen, s, strlen(s), CREDS_QUOTE_MAX);
		free(s);
	}
	return code[0] != '\0' ? 0 : -1;
}

/* --- the JSON sources --- */

/* A member that must be a non-empty string. */
static int
json_need(struct json_object *o, const char *key, const char **out,
    char *err, size_t errlen)
{
	if (util_json_string(o, key, out, NULL) != 1 || **out == '\0') {
		util_set_err(err, errlen, "%s is missing or not a string", key);
		return -1;
	}
	return 0;
}

int
creds_parse_json(enum creds_json kind, const char *body, size_t len,
    struct creds_value *out, char *err, size_t errlen)
{
	struct json_object *o, *v;
	const char *akid, *secret, *token = NULL, *exp = NULL, *code;
	char shown[64];
	int64_t ms = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if ((o = util_json_parse(body, len, err, errlen)) == NULL)
		return -1;
	if (!json_object_is_type(o, json_type_object)) {
		util_set_err(err, errlen, "not a JSON object");
		goto fail;
	}
	if (kind == CREDS_JSON_PROCESS && (!json_object_object_get_ex(o,
	    "Version", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) != 1)) {
		util_set_err(err, errlen, "Version is not 1");
		goto fail;
	}
	if (kind == CREDS_JSON_IMDS && util_json_string(o, "Code", &code,
	    NULL) == 1 && strcmp(code, "Success") != 0) {
		clean(shown, sizeof(shown), code, strlen(code), 40);
		util_set_err(err, errlen, "Code is '%s', not Success", shown);
		goto fail;
	}
	if (json_need(o, "AccessKeyId", &akid, err, errlen) == -1 ||
	    json_need(o, "SecretAccessKey", &secret, err, errlen) == -1)
		goto fail;
	r = util_json_string(o, kind == CREDS_JSON_PROCESS ? "SessionToken" :
	    "Token", &token, NULL);
	if (r == -1 || (r == 1 && *token == '\0')) {
		util_set_err(err, errlen, "%s is not a string",
		    kind == CREDS_JSON_PROCESS ? "SessionToken" : "Token");
		goto fail;
	}
	/* A process may give long-term keys; the others expire. */
	if (kind != CREDS_JSON_PROCESS &&
	    json_need(o, "Expiration", &exp, err, errlen) == -1)
		goto fail;
	if (kind == CREDS_JSON_PROCESS &&
	    util_json_string(o, "Expiration", &exp, NULL) == -1) {
		util_set_err(err, errlen, "Expiration is not a string");
		goto fail;
	}
	if (exp != NULL && creds_parse_time(exp, &ms) == -1) {
		util_set_err(err, errlen, "Expiration is not an ISO 8601 time");
		goto fail;
	}
	if (value_set(out, akid, secret, token, ms) == -1) {
		util_set_err(err, errlen, "out of memory");
		goto fail;
	}
	json_object_put(o);
	if (creds_check_value(out, err, errlen) == -1) {
		creds_value_free(out);
		return -1;
	}
	return 0;
fail:
	json_object_put(o);
	return -1;
}

/* --- the shared files --- */

struct ini_kv {
	char		*key;		/* lowercase */
	char		*value;
};

struct ini_section {
	char		*name;		/* the profile's */
	struct ini_kv	*kv;
	size_t		 n, cap;
};

struct creds_ini {
	struct ini_section *s;
	size_t		 n, cap;
};

void
creds_ini_free(struct creds_ini *ini)
{
	size_t i, k;

	if (ini == NULL)
		return;
	for (i = 0; i < ini->n; i++) {
		for (k = 0; k < ini->s[i].n; k++) {
			free(ini->s[i].kv[k].key);
			free_secret(&ini->s[i].kv[k].value);
		}
		free(ini->s[i].kv);
		free(ini->s[i].name);
	}
	free(ini->s);
	free(ini);
}

static struct ini_section *
ini_section(const struct creds_ini *ini, const char *name)
{
	size_t i;

	for (i = 0; ini != NULL && i < ini->n; i++)
		if (strcmp(ini->s[i].name, name) == 0)
			return &ini->s[i];
	return NULL;
}

int
creds_ini_has(const struct creds_ini *ini, const char *profile)
{
	return ini_section(ini, profile) != NULL;
}

const char *
creds_ini_get(const struct creds_ini *ini, const char *profile,
    const char *key)
{
	const struct ini_section *s = ini_section(ini, profile);
	size_t k;

	for (k = 0; s != NULL && k < s->n; k++)
		if (strcmp(s->kv[k].key, key) == 0)
			return s->kv[k].value;
	return NULL;
}

/* Grow *p (of *cap elements of size sz) to hold n + 1; -1 on memory. */
static int
grow(void **p, size_t *cap, size_t n, size_t sz)
{
	void *np;
	size_t nc;

	if (n < *cap)
		return 0;
	nc = *cap > 0 ? *cap * 2 : 8;
	if ((np = realloc(*p, nc * sz)) == NULL)
		return -1;
	*p = np;
	*cap = nc;
	return 0;
}

/* The section for profile name, made when new; NULL on memory. */
static struct ini_section *
ini_open(struct creds_ini *ini, const char *name, size_t n)
{
	struct ini_section *s;
	size_t i;

	for (i = 0; i < ini->n; i++)
		if (strlen(ini->s[i].name) == n &&
		    memcmp(ini->s[i].name, name, n) == 0)
			return &ini->s[i];
	if (grow((void **)&ini->s, &ini->cap, ini->n, sizeof(*ini->s)) == -1)
		return NULL;
	s = &ini->s[ini->n];
	memset(s, 0, sizeof(*s));
	if ((s->name = strndup(name, n)) == NULL)
		return NULL;
	ini->n++;
	return s;
}

/* key = value into s, a later one replacing; the kv, or NULL on memory. */
static struct ini_kv *
ini_set(struct ini_section *s, const char *key, size_t klen,
    const char *value, size_t vlen)
{
	struct ini_kv *kv = NULL;
	char *k, *v;
	size_t i;

	if ((k = strndup(key, klen)) == NULL)
		return NULL;
	for (i = 0; i < klen; i++)
		k[i] = (char)tolower((unsigned char)k[i]);
	if ((v = strndup(value, vlen)) == NULL) {
		free(k);
		return NULL;
	}
	for (i = 0; i < s->n; i++)
		if (strcmp(s->kv[i].key, k) == 0) {
			kv = &s->kv[i];
			free(kv->key);
			free_secret(&kv->value);
			break;
		}
	if (kv == NULL) {
		if (grow((void **)&s->kv, &s->cap, s->n, sizeof(*s->kv)) ==
		    -1) {
			free(k);
			free_secret(&v);
			return NULL;
		}
		kv = &s->kv[s->n++];
	}
	kv->key = k;
	kv->value = v;
	return kv;
}

/*
 * Append a space and text to kv's value: a continuation line, as a long
 * credential_process is written (botocore splits it on white space, and
 * so does /bin/sh).
 */
static int
ini_continue(struct ini_kv *kv, const char *text, size_t n)
{
	size_t old = strlen(kv->value);
	char *v;

	if ((v = malloc(old + 1 + n + 1)) == NULL)
		return -1;
	memcpy(v, kv->value, old);
	v[old] = ' ';
	memcpy(v + old + 1, text, n);
	v[old + 1 + n] = '\0';
	free_secret(&kv->value);
	kv->value = v;
	return 0;
}

/*
 * A section header's profile in the config file: "default", or "profile
 * <name>"; *skip for the others (sso-session, services...).
 */
static void
config_profile(const char **name, size_t *n, int *skip)
{
	const char *p = *name;

	*skip = 0;
	if (*n == 7 && memcmp(p, "default", 7) == 0)
		return;
	if (*n > 8 && memcmp(p, "profile", 7) == 0 &&
	    (p[7] == ' ' || p[7] == '\t')) {
		for (p += 8, *n -= 8; *n > 0 && (*p == ' ' || *p == '\t');
		    p++, (*n)--)
			;
		*name = p;
		if (*n > 0)
			return;
	}
	*skip = 1;
}

int
creds_ini_parse(const char *text, size_t len, int config,
    struct creds_ini **out, char *err, size_t errlen)
{
	struct creds_ini *ini;
	struct ini_section *sec = NULL;
	struct ini_kv *last = NULL;	/* the key indented lines follow */
	const char *p = text, *end = text + len, *eol, *a, *b, *d, *name;
	int line = 0, skip = 0, nested = 0, indented;
	size_t n;

	*out = NULL;
	if ((ini = calloc(1, sizeof(*ini))) == NULL) {
		util_set_err(err, errlen, "out of memory");
		return -1;
	}
	for (; p < end; p = eol + 1) {
		line++;
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		if (memchr(p, '\0', (size_t)(eol - p)) != NULL) {
			util_set_err(err, errlen, "line %d: a NUL byte", line);
			goto fail;
		}
		indented = p < eol && (*p == ' ' || *p == '\t');
		for (a = p; a < eol && isspace((unsigned char)*a); a++)
			;
		for (b = eol; b > a && isspace((unsigned char)b[-1]); b--)
			;
		if (a == b || *a == '#' || *a == ';')
			continue;
		if (indented && last != NULL) {
			/* After "s3 =": the nested section, skipped. */
			if (nested || *last->value == '\0')
				nested = 1;
			else if (ini_continue(last, a, (size_t)(b - a)) == -1)
				goto nomem;
			continue;
		}
		if (indented && skip)
			continue;
		last = NULL;
		nested = 0;
		if (*a == '[') {
			if (b[-1] != ']') {
				util_set_err(err, errlen, "line %d: a section "
				    "header without its ']'", line);
				goto fail;
			}
			for (name = a + 1; name < b - 1 &&
			    isspace((unsigned char)*name); name++)
				;
			for (d = b - 1; d > name &&
			    isspace((unsigned char)d[-1]); d--)
				;
			n = (size_t)(d - name);
			if (n == 0) {
				util_set_err(err, errlen, "line %d: a section "
				    "without a name", line);
				goto fail;
			}
			skip = 0;
			if (config)
				config_profile(&name, &n, &skip);
			sec = NULL;
			if (!skip && (sec = ini_open(ini, name, n)) == NULL)
				goto nomem;
			continue;
		}
		if (skip)
			continue;
		for (d = a; d < b && *d != '=' && *d != ':'; d++)
			;
		if (d == b) {
			util_set_err(err, errlen, "line %d: not a section "
			    "header nor a 'name = value' line", line);
			goto fail;
		}
		if (sec == NULL) {
			util_set_err(err, errlen, "line %d: a setting before "
			    "any [section]", line);
			goto fail;
		}
		for (name = d; name > a && isspace((unsigned char)name[-1]);
		    name--)
			;
		if (name == a) {
			util_set_err(err, errlen, "line %d: no name before "
			    "'%c'", line, *d);
			goto fail;
		}
		for (d++; d < b && isspace((unsigned char)*d); d++)
			;
		if ((last = ini_set(sec, a, (size_t)(name - a), d,
		    (size_t)(b - d))) == NULL)
			goto nomem;
	}
	*out = ini;
	return 0;
nomem:
	util_set_err(err, errlen, "out of memory");
fail:
	creds_ini_free(ini);
	return -1;
}

/* --- the plan --- */

/* What creds_plan works with. */
struct planner {
	const struct config	*cfg;
	struct creds_plan	*p;
	struct creds_ini	*ini[2];	/* credentials, config */
	const char		*path[2];
	int			 read;		/* the files were read */
	const char		*chain[CREDS_MAX_PROFILES];
	int			 used_env;	/* the explicit keys taken */
	int			 oom;
	char			 session[65];	/* the default session name */
	char			*err;
	size_t			 errlen;
};

static int	pfail(struct planner *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static char	*pfmt(struct planner *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static int
pfail(struct planner *pl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	util_vset_err(pl->err, pl->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* A new string, or NULL with pl->oom set: checked once, at the end. */
static char *
pfmt(struct planner *pl, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n == -1) {
		pl->oom = 1;
		return NULL;
	}
	return s;
}

static char *
pdup(struct planner *pl, const char *s)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		pl->oom = 1;
	return d;
}

/* A value for an error line: one line, bounded, in quotes. */
static const char *
quote(char *buf, size_t len, const char *v)
{
	(void)util_clean(buf, len, v, strlen(v), 64, UTIL_CLEAN_QUOTE |
	    UTIL_CLEAN_DOTS | UTIL_CLEAN_ASCII);
	return buf;
}

static void
step_free(struct step *st)
{
	free(st->what);
	free(st->desc);
	creds_value_free(&st->keys);
	free(st->command);
	free(st->url);
	free_secret(&st->token);
	free(st->token_file);
	free(st->role_arn);
	free(st->session_name);
	free(st->external_id);
	memset(st, 0, sizeof(*st));
}

void
creds_plan_free(struct creds_plan *p)
{
	int i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		step_free(&p->steps[i]);
	free(p->sts_url);
	free(p->region);
	free(p);
}

void
creds_plan_describe(const struct creds_plan *p, char *buf, size_t len)
{
	size_t off = 0;
	int i;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (p == NULL) {
		snprintf(buf, len, "none: requests go unsigned "
		    "(aws_no_sign_request)");
		return;
	}
	for (i = p->n - 1; i >= 0 && off < len; i--)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
		    i < p->n - 1 ? ", from " : "", p->steps[i].desc);
}

static struct step *
add(struct planner *pl, enum step_kind kind, char *what, char *desc)
{
	struct step *st;

	if (pl->p->n == CREDS_MAX_STEPS) {
		free(what);
		free(desc);
		pfail(pl, "aws: more than %d roles to assume, one on top of "
		    "the other", CREDS_MAX_STEPS - 1);
		return NULL;
	}
	st = &pl->p->steps[pl->p->n++];
	st->kind = kind;
	st->what = what;
	st->desc = desc;
	if (what == NULL || desc == NULL)
		pl->oom = 1;
	return st;
}

/* Reads one shared file: 0 with *ini (NULL when it does not exist). */
static int
read_ini(struct planner *pl, const char *path, int config,
    struct creds_ini **ini)
{
	char *text, why[128];
	FILE *f;
	size_t n;
	int rc;

	*ini = NULL;
	if (path == NULL)
		return 0;
	if ((f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return pfail(pl, "aws: %s: cannot read: %s", path,
		    strerror(errno));
	}
	if ((text = malloc(CREDS_FILE_MAX + 1)) == NULL) {
		fclose(f);
		return pfail(pl, "aws: %s: out of memory", path);
	}
	n = fread(text, 1, CREDS_FILE_MAX + 1, f);
	rc = ferror(f) ? errno : 0;
	fclose(f);
	if (rc != 0 || n > CREDS_FILE_MAX) {
		free(text);
		return pfail(pl, "aws: %s: cannot read: %s", path, rc != 0 ?
		    strerror(rc) : "larger than 1 MiB");
	}
	rc = creds_ini_parse(text, n, config, ini, why, sizeof(why));
	explicit_bzero(text, n);
	free(text);
	if (rc == -1)
		return pfail(pl, "aws: %s: %s", path, why);
	return 0;
}

static int
read_files(struct planner *pl)
{
	if (pl->read)
		return 0;
	pl->read = 1;
	pl->path[0] = pl->cfg->aws_shared_credentials_file;
	pl->path[1] = pl->cfg->aws_config_file;
	return read_ini(pl, pl->path[0], 0, &pl->ini[0]) == -1 ||
	    read_ini(pl, pl->path[1], 1, &pl->ini[1]) == -1 ? -1 : 0;
}

static int
exists(const struct planner *pl, const char *name)
{
	return creds_ini_has(pl->ini[0], name) ||
	    creds_ini_has(pl->ini[1], name);
}

/* A profile's key, the credentials file over the config file; "" is none. */
static const char *
get(const struct planner *pl, const char *name, const char *key)
{
	const char *v;

	if ((v = creds_ini_get(pl->ini[0], name, key)) == NULL || *v == '\0')
		v = creds_ini_get(pl->ini[1], name, key);
	return v != NULL && *v != '\0' ? v : NULL;
}

/* "in /root/.aws/config", or "in ... and ..." when it is in both. */
static const char *
where(const struct planner *pl, const char *name, char *buf, size_t len)
{
	int a = creds_ini_has(pl->ini[0], name),
	    b = creds_ini_has(pl->ini[1], name);

	snprintf(buf, len, "in %s%s%s", a ? pl->path[0] : pl->path[1],
	    a && b ? " and " : "", a && b ? pl->path[1] : "");
	return buf;
}

/* "in neither A nor B", or why there are no files to look in. */
static const char *
nowhere(const struct planner *pl, char *buf, size_t len)
{
	if (pl->path[0] != NULL && pl->path[1] != NULL)
		snprintf(buf, len, "in neither %s nor %s", pl->path[0],
		    pl->path[1]);
	else if (pl->path[0] != NULL || pl->path[1] != NULL)
		snprintf(buf, len, "not in %s", pl->path[0] != NULL ?
		    pl->path[0] : pl->path[1]);
	else
		snprintf(buf, len, "in no file: HOME is unset, and neither "
		    "AWS_SHARED_CREDENTIALS_FILE nor AWS_CONFIG_FILE is set");
	return buf;
}

static int
add_static(struct planner *pl, const char *akid, const char *secret,
    const char *token, char *desc, const char *owner)
{
	struct step *st;
	char why[128];

	if ((st = add(pl, STEP_STATIC, pfmt(pl, "static keys"), desc)) ==
	    NULL)
		return -1;
	if (value_set(&st->keys, akid, secret, token, 0) == -1) {
		pl->oom = 1;
		return 0;
	}
	if (creds_check_value(&st->keys, why, sizeof(why)) == -1)
		return pfail(pl, "aws: %s: %s", owner, why);
	return 0;
}

static int
add_imds(struct planner *pl, const char *owner)
{
	const char *e = pl->cfg->aws_ec2_metadata_service_endpoint;
	struct step *st;
	size_t n;

	if (pl->cfg->aws_ec2_metadata_disabled)
		return pfail(pl, "aws: %s: instance metadata, but "
		    "AWS_EC2_METADATA_DISABLED is set", owner);
	if (e == NULL)
		e = IMDS_DEFAULT;
	for (n = strlen(e); n > 0 && e[n - 1] == '/'; n--)
		;
	if ((st = add(pl, STEP_IMDS, pfmt(pl, "instance metadata"),
	    pfmt(pl, "instance metadata (IMDSv2) at %.*s", (int)n, e))) ==
	    NULL)
		return -1;
	st->url = pfmt(pl, "%.*s", (int)n, e);
	return 0;
}

static int
add_container(struct planner *pl, const char *owner)
{
	const struct config *cfg = pl->cfg;
	const char *tf = cfg->aws_container_authorization_token_file;
	char masked[URL_MAX + 1];
	struct step *st;
	char *url;

	if (cfg->aws_container_credentials_full_uri != NULL)
		url = pdup(pl, cfg->aws_container_credentials_full_uri);
	else if (cfg->aws_container_credentials_relative_uri != NULL)
		url = pfmt(pl, "%s%s", CONTAINER_HOST,
		    cfg->aws_container_credentials_relative_uri);
	else
		return pfail(pl, "aws: %s: container credentials, but neither "
		    "AWS_CONTAINER_CREDENTIALS_FULL_URI nor "
		    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is set", owner);
	url_mask(url != NULL ? url : "", masked, sizeof(masked));
	if ((st = add(pl, STEP_CONTAINER, pfmt(pl, "container credentials"),
	    pfmt(pl, "container credentials at %s%s%s", masked,
	    tf != NULL ? ", with the token in " : cfg->
	    aws_container_authorization_token != NULL ? ", with "
	    "AWS_CONTAINER_AUTHORIZATION_TOKEN" : "", tf != NULL ? tf : ""))) ==
	    NULL) {
		free(url);
		return -1;
	}
	st->url = url;
	st->token = pdup(pl, cfg->aws_container_authorization_token);
	st->token_file = pdup(pl, tf);
	return 0;
}

/* A role's step: STS AssumeRoleWithWebIdentity, or AssumeRole. */
static int
add_role(struct planner *pl, enum step_kind kind, const char *role,
    const char *session, const char *external_id, int duration,
    const char *token_file, char *desc)
{
	struct step *st;

	if ((st = add(pl, kind, pfmt(pl, "STS %s %s", kind ==
	    STEP_WEB_IDENTITY ? "AssumeRoleWithWebIdentity" : "AssumeRole",
	    role), desc)) == NULL)
		return -1;
	st->role_arn = pdup(pl, role);
	st->session_name = pdup(pl, session != NULL ? session : pl->session);
	st->external_id = pdup(pl, external_id);
	st->token_file = pdup(pl, token_file);
	st->duration = duration;
	return 0;
}

static int	resolve_profile(struct planner *, const char *, int, int);

/*
 * A profile's role_arn: with web_identity_token_file, web identity; with
 * source_profile, that profile's credentials (its static keys first, as
 * the SDKs take them: a profile naming itself uses its own); with
 * credential_source, the explicit keys, instance metadata or container
 * credentials; then STS AssumeRole.
 */
static int
resolve_role(struct planner *pl, const char *name, int depth,
    const char *role, const char *w)
{
	const char *ext = get(pl, name, "external_id"),
	    *sess = get(pl, name, "role_session_name"),
	    *dur = get(pl, name, "duration_seconds"),
	    *wit = get(pl, name, "web_identity_token_file"),
	    *src = get(pl, name, "source_profile"),
	    *cs = get(pl, name, "credential_source"), *akid, *secret;
	const struct config *cfg = pl->cfg;
	char q[80], w2[1024], owner[1100];
	long duration = 0;
	char *ep;
	int r;

	snprintf(owner, sizeof(owner), "profile '%s' %s", name, w);
	if (config_check_role_arn(role) == -1)
		return pfail(pl, "aws: %s: role_arn %s is invalid: %s", owner,
		    quote(q, sizeof(q), role), CONFIG_WHY_ROLE_ARN);
	if (get(pl, name, "mfa_serial") != NULL)
		return pfail(pl, "aws: %s: mfa_serial wants a code typed at a "
		    "terminal, which a daemon cannot ask for", owner);
	if (ext != NULL && config_check_external_id(ext) == -1)
		return pfail(pl, "aws: %s: external_id %s is invalid: %s",
		    owner, quote(q, sizeof(q), ext), CONFIG_WHY_EXTERNAL_ID);
	if (sess != NULL && config_check_session_name(sess) == -1)
		return pfail(pl, "aws: %s: role_session_name %s is invalid: %s",
		    owner, quote(q, sizeof(q), sess), CONFIG_WHY_SESSION_NAME);
	if (dur != NULL) {
		errno = 0;
		duration = strtol(dur, &ep, 10);
		if (*ep != '\0' || errno != 0 || duration < 900 ||
		    duration > 43200)
			return pfail(pl, "aws: %s: duration_seconds %s is not "
			    "a number of seconds from 900 to 43200", owner,
			    quote(q, sizeof(q), dur));
	}
	if (wit != NULL) {
		if (src != NULL || cs != NULL)
			return pfail(pl, "aws: %s: web_identity_token_file and "
			    "%s both set; use one", owner, src != NULL ?
			    "source_profile" : "credential_source");
		if (wit[0] != '/')
			return pfail(pl, "aws: %s: web_identity_token_file %s "
			    "is not an absolute path", owner,
			    quote(q, sizeof(q), wit));
		return add_role(pl, STEP_WEB_IDENTITY, role, sess, NULL,
		    (int)duration, wit, pfmt(pl, "profile '%s' (web "
		    "identity: role %s, token file %s) %s", name, role, wit,
		    w));
	}
	if (src != NULL && cs != NULL)
		return pfail(pl, "aws: %s: source_profile and "
		    "credential_source both set; use one", owner);
	if (src == NULL && cs == NULL)
		return pfail(pl, "aws: %s: role_arn needs source_profile, "
		    "credential_source or web_identity_token_file", owner);
	if (src != NULL && strcmp(src, name) == 0) {
		akid = get(pl, name, "aws_access_key_id");
		secret = get(pl, name, "aws_secret_access_key");
		if (akid == NULL || secret == NULL)
			return pfail(pl, "aws: %s: source_profile names the "
			    "profile itself, which has no static keys", owner);
		r = add_static(pl, akid, secret, get(pl, name,
		    "aws_session_token"), pfmt(pl, "profile '%s' (static "
		    "keys) %s", name, w), owner);
	} else if (src != NULL) {
		if (!exists(pl, src))
			return pfail(pl, "aws: %s: source_profile %s is %s",
			    owner, quote(q, sizeof(q), src),
			    nowhere(pl, w2, sizeof(w2)));
		if (depth + 1 >= CREDS_MAX_PROFILES)
			return pfail(pl, "aws: %s: source_profile chain deeper "
			    "than %d profiles", owner, CREDS_MAX_PROFILES);
		if ((r = resolve_profile(pl, src, depth + 1, 1)) == 1)
			return pfail(pl, "aws: %s: source_profile '%s' %s has "
			    "no credentials", owner, src,
			    where(pl, src, w2, sizeof(w2)));
	} else if (strcmp(cs, "Environment") == 0) {
		if (cfg->aws_access_key_id == NULL)
			return pfail(pl, "aws: %s: credential_source "
			    "Environment, but aws_access_key_id "
			    "(AWS_ACCESS_KEY_ID) is unset", owner);
		pl->used_env = 1;
		r = add_static(pl, cfg->aws_access_key_id,
		    cfg->aws_secret_access_key, cfg->aws_session_token,
		    pfmt(pl, "static keys (aws_access_key_id)"), owner);
	} else if (strcmp(cs, "Ec2InstanceMetadata") == 0)
		r = add_imds(pl, owner);
	else if (strcmp(cs, "EcsContainer") == 0)
		r = add_container(pl, owner);
	else
		return pfail(pl, "aws: %s: credential_source %s is none of "
		    "Environment, Ec2InstanceMetadata, EcsContainer", owner,
		    quote(q, sizeof(q), cs));
	if (r == -1)
		return -1;
	return add_role(pl, STEP_ASSUME_ROLE, role, sess, ext, (int)duration,
	    NULL, pfmt(pl, "profile '%s' (role %s%s%s) %s", name, role,
	    cs != NULL ? ", credential_source " : "", cs != NULL ? cs : "",
	    w));
}

/*
 * The steps of profile name (which exists), as the SDKs resolve it:
 * role_arn first (a source profile's static keys before it), then
 * static keys, then credential_process.  0, 1 when it holds no
 * credentials, or -1.  depth is its place in a source_profile chain.
 */
static int
resolve_profile(struct planner *pl, const char *name, int depth,
    int as_source)
{
	const char *akid = get(pl, name, "aws_access_key_id"),
	    *secret = get(pl, name, "aws_secret_access_key"),
	    *role = get(pl, name, "role_arn"),
	    *proc = get(pl, name, "credential_process");
	char w[1024], owner[1100], loop[512];
	size_t off = 0;
	int i;

	where(pl, name, w, sizeof(w));
	snprintf(owner, sizeof(owner), "profile '%s' %s", name, w);
	for (i = 0; i < depth; i++)
		if (strcmp(pl->chain[i], name) == 0)
			break;
	if (i < depth) {
		for (i = 0; i < depth && off < sizeof(loop); i++)
			off += (size_t)snprintf(loop + off, sizeof(loop) - off,
			    "%s -> ", pl->chain[i]);
		return pfail(pl, "aws: %s: source_profile chain loops: %s%s",
		    owner, loop, name);
	}
	pl->chain[depth] = name;
	if ((akid != NULL) != (secret != NULL))
		return pfail(pl, "aws: %s: %s without %s", owner, akid != NULL ?
		    "aws_access_key_id" : "aws_secret_access_key", akid !=
		    NULL ? "aws_secret_access_key" : "aws_access_key_id");
	if (akid != NULL && (as_source || role == NULL))
		return add_static(pl, akid, secret, get(pl, name,
		    "aws_session_token"), pfmt(pl, "profile '%s' (static keys) "
		    "%s", name, w), owner);
	if (role != NULL)
		return resolve_role(pl, name, depth, role, w);
	if (get(pl, name, "web_identity_token_file") != NULL)
		return pfail(pl, "aws: %s: web_identity_token_file needs "
		    "role_arn", owner);
	if (proc != NULL) {
		if (add(pl, STEP_PROCESS, pfmt(pl, "credential_process of "
		    "profile '%s'", name), pfmt(pl, "profile '%s' "
		    "(credential_process) %s", name, w)) == NULL)
			return -1;
		pl->p->steps[pl->p->n - 1].command = pdup(pl, proc);
		return 0;
	}
	if (get(pl, name, "sso_start_url") != NULL ||
	    get(pl, name, "sso_session") != NULL)
		return pfail(pl, "aws: %s: IAM Identity Center (SSO) is not "
		    "supported; use credential_process or static keys", owner);
	return 1;
}

/* The shared files' step: 0, 1 when the profile holds none, -1. */
static int
profile_step(struct planner *pl, const char *name, int must)
{
	char w[1024], q[80];
	int r;

	if (read_files(pl) == -1)
		return -1;
	if (!exists(pl, name)) {
		if (!must)
			return 1;
		return pfail(pl, "aws: profile %s (AWS_PROFILE) is %s",
		    quote(q, sizeof(q), name), nowhere(pl, w, sizeof(w)));
	}
	if ((r = resolve_profile(pl, name, 0, 0)) == 1 && must)
		return pfail(pl, "aws: profile '%s' %s has no credentials "
		    "(aws_access_key_id, credential_process, role_arn)", name,
		    where(pl, name, w, sizeof(w)));
	return r;
}

/* "persistent-cache-service-<host>", in STS' characters, 64 at most. */
static void
default_session(char *buf, size_t len)
{
	char host[256];
	size_t i, n;

	if (gethostname(host, sizeof(host)) == -1)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	/* STS takes 64 characters at most: the host's name is cut to fit. */
	snprintf(buf, len, "%s%s%.*s", PACKAGE_NAME, host[0] != '\0' ? "-" :
	    "", (int)(len > sizeof(PACKAGE_NAME) ? len - sizeof(PACKAGE_NAME) -
	    1 : 0), host);
	for (i = 0, n = strlen(buf); i < n; i++)
		if (!isalnum((unsigned char)buf[i]) &&
		    strchr("+=,.@_-", buf[i]) == NULL)
			buf[i] = '-';
}

int
creds_plan(const struct config *cfg, struct creds_plan **out, char *err,
    size_t errlen)
{
	struct planner pl;
	const char *region = cfg->aws_region != NULL ? cfg->aws_region :
	    "us-east-1";
	char w[1024];
	int r = 1;

	*out = NULL;
	if (cfg->aws_no_sign_request)
		return 0;
	memset(&pl, 0, sizeof(pl));
	pl.cfg = cfg;
	pl.err = err;
	pl.errlen = errlen;
	default_session(pl.session, sizeof(pl.session));
	if ((pl.p = calloc(1, sizeof(*pl.p))) == NULL)
		return pfail(&pl, "aws: out of memory");
	pl.p->sts_url = cfg->aws_endpoint_url_sts != NULL ?
	    pdup(&pl, cfg->aws_endpoint_url_sts) :
	    pfmt(&pl, "https://sts.%s.amazonaws.com%s/", region,
	    strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
	pl.p->region = pdup(&pl, region);

	if (cfg->aws_profile != NULL) {
		if ((r = profile_step(&pl, cfg->aws_profile, 1)) == 0 &&
		    cfg->aws_access_key_id != NULL && !pl.used_env)
			r = pfail(&pl, "aws: profile '%s' (AWS_PROFILE) and "
			    "the explicit keys (aws_access_key_id) both set, "
			    "and the profile does not use them "
			    "(credential_source Environment); use one",
			    cfg->aws_profile);
	} else if (cfg->aws_access_key_id != NULL)
		r = add_static(&pl, cfg->aws_access_key_id,
		    cfg->aws_secret_access_key, cfg->aws_session_token,
		    pfmt(&pl, "static keys (aws_access_key_id%s)",
		    cfg->aws_session_token != NULL ? ", with a session token" :
		    ""), "aws_access_key_id");
	else if (cfg->aws_web_identity_token_file != NULL)
		r = add_role(&pl, STEP_WEB_IDENTITY, cfg->aws_role_arn,
		    cfg->aws_role_session_name, NULL, 0,
		    cfg->aws_web_identity_token_file, pfmt(&pl, "web identity: "
		    "role %s (AWS_WEB_IDENTITY_TOKEN_FILE %s)",
		    cfg->aws_role_arn, cfg->aws_web_identity_token_file));
	else
		r = profile_step(&pl, "default", 0);
	if (r == 1 && (cfg->aws_container_credentials_full_uri != NULL ||
	    cfg->aws_container_credentials_relative_uri != NULL))
		r = add_container(&pl, "container credentials");
	else if (r == 1 && !cfg->aws_ec2_metadata_disabled)
		r = add_imds(&pl, "instance metadata");
	else if (r == 1)
		r = pfail(&pl, "aws: no credentials: no explicit keys "
		    "(AWS_ACCESS_KEY_ID), web identity "
		    "(AWS_WEB_IDENTITY_TOKEN_FILE), profile 'default' (%s%s) "
		    "or container credentials "
		    "(AWS_CONTAINER_CREDENTIALS_FULL_URI), and "
		    "AWS_EC2_METADATA_DISABLED is set; "
		    "AWS_NO_SIGN_REQUEST=true sends unsigned requests, for an "
		    "emulator",
		    exists(&pl, "default") ? where(&pl, "default", w,
		    sizeof(w)) : nowhere(&pl, w, sizeof(w)),
		    exists(&pl, "default") ? ", without credentials" : "");
	if (r == 0 && cfg->aws_role_arn != NULL &&
	    cfg->aws_web_identity_token_file == NULL)
		r = add_role(&pl, STEP_ASSUME_ROLE, cfg->aws_role_arn,
		    cfg->aws_role_session_name, cfg->aws_role_external_id, 0,
		    NULL, pfmt(&pl, "role %s (AWS_ROLE_ARN%s)",
		    cfg->aws_role_arn, cfg->aws_role_external_id != NULL ?
		    ", with an external id" : ""));
	creds_ini_free(pl.ini[0]);
	creds_ini_free(pl.ini[1]);
	if (r == 0 && pl.oom)
		r = pfail(&pl, "aws: out of memory");
	if (r != 0) {
		creds_plan_free(pl.p);
		return -1;
	}
	*out = pl.p;
	return 0;
}

/* --- the provider --- */

enum imds_phase {
	IMDS_TOKEN,		/* PUT /latest/api/token */
	IMDS_ROLE,		/* GET .../security-credentials/ */
	IMDS_CREDS		/* GET .../security-credentials/<role> */
};

/* A credential_process running. */
struct run {
	pid_t		 pid;
	int		 out, err;	/* our ends of its stdout, stderr; -1 */
	ev_io		 out_io, err_io;
	ev_timer	 poll;		/* waitpid, and the deadline */
	uint64_t	 deadline_ms;	/* monotonic */
	char		*buf;		/* its stdout */
	size_t		 len, cap;
	char		 ebuf[CREDS_STDERR_MAX + 1];
	size_t		 elen;
	int		 status;
	int		 reaped;
	uint64_t	 reaped_ms;	/* monotonic */
	int		 orphans;	/* its group killed for holding stdout */
	const char	*killed;	/* why, once killed */
};

/* The credentials of one step, and when to fetch them again. */
struct layer {
	struct creds_value	 v;	/* access_key_id NULL: none yet */
	int64_t			 refresh_ms;	/* wall clock; 0: never */
};

struct creds {
	struct ev_loop		*loop;
	struct httpc		*hc;
	const struct creds_plan	*plan;
	creds_state_fn		 fn;
	void			*arg;
	struct layer		 layers[CREDS_MAX_STEPS];
	int			 top;
	int			 step;		/* being fetched; -1: none */
	int			 attempt;	/* of this request */
	struct httpc_call	*call;
	char			*secret;	/* a token read to fetch */
	enum imds_phase		 phase;
	char			*imds_token;	/* a secret */
	int64_t			 imds_token_ms;	/* its expiry, wall clock */
	char			*imds_role;
	int			 retoken;	/* a 401 got a new token */
	struct run		 run;
	int			 running;	/* run is live */
	ev_timer		 timer;		/* the next fetch */
	ev_timer		 expiry;	/* the top's credentials end */
	struct backoff		 backoff;
	uint64_t		 last_ok_ms;	/* monotonic */
	uint64_t		 last_invalidated_ms; /* monotonic */
	int			 invalidated;
	int			 ok;		/* as last reported */
	char			 reason[CREDS_REASON_MAX];
	struct metrics_counters	*mc;		/* NULL: not counted */
	struct util_reentry	 re;
};

static void	advance(struct creds *);
static void	failed(struct creds *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static const struct step *
cur_step(const struct creds *c)
{
	return &c->plan->steps[c->step];
}

const struct creds_value *
creds_current(const struct creds *c)
{
	const struct creds_value *v;

	if (c == NULL)
		return NULL;
	v = &c->layers[c->top].v;
	if (v->access_key_id == NULL || (v->expires_ms != 0 &&
	    now_ms() >= v->expires_ms))
		return NULL;
	return v;
}

const char *
creds_reason(const struct creds *c)
{
	if (c == NULL || c->reason[0] == '\0')
		return "aws: credentials: none fetched yet";
	return c->reason;
}

/* Every secret the provider knows, for util_redact: n of them. */
static size_t
secrets(const struct creds *c, const char **out, size_t max)
{
	const struct creds_plan *p = c->plan;
	size_t n = 0;
	int i;

	for (i = 0; i < p->n && n + 5 <= max; i++) {
		out[n++] = c->layers[i].v.secret_access_key;
		out[n++] = c->layers[i].v.session_token;
		out[n++] = p->steps[i].keys.secret_access_key;
		out[n++] = p->steps[i].keys.session_token;
		out[n++] = p->steps[i].token;
	}
	if (n + 2 <= max) {
		out[n++] = c->secret;
		out[n++] = c->imds_token;
	}
	return n;
}

static void
redact(const struct creds *c, char *buf, size_t len)
{
	const char *sec[5 * CREDS_MAX_STEPS + 2];

	(void)util_redact(buf, len, sec, secrets(c, sec, sizeof(sec) /
	    sizeof(sec[0])), strnlen(buf, len) + 1 >= len);
}

/* The state callback, the last thing its caller does: fn may free c. */
static void
report(struct creds *c, int ok, const char *reason)
{
	util_enter(&c->re);
	c->fn(c->arg, ok, reason);
	if (util_leave(&c->re))
		free(c);
}

static void
arm(struct creds *c, ev_timer *t, double secs)
{
	ev_timer_stop(c->loop, t);
	ev_timer_set(t, secs > 0 ? secs : 0., 0.);
	ev_timer_start(c->loop, t);
}

/* The end of the fetch in flight: what it read and asked for goes. */
static void
end_fetch(struct creds *c)
{
	c->step = -1;
	free_secret(&c->secret);
}

/* The timers for the top's refresh and expiry. */
static void
schedule(struct creds *c)
{
	const struct layer *l = &c->layers[c->top];
	int64_t now = now_ms();

	ev_timer_stop(c->loop, &c->timer);
	ev_timer_stop(c->loop, &c->expiry);
	if (l->refresh_ms != 0)
		arm(c, &c->timer, (double)(l->refresh_ms - now) / 1000.0);
	if (l->v.expires_ms != 0)
		arm(c, &c->expiry, (double)(l->v.expires_ms - now) / 1000.0);
}

/* The top's credentials are in: they sign from now on. */
static void
success(struct creds *c)
{
	const struct layer *l = &c->layers[c->top];
	char t1[32], t2[32];
	int was = c->ok;

	c->invalidated = 0;
	c->ok = 1;
	c->reason[0] = '\0';
	if (c->mc != NULL)
		c->mc->credential_refreshes[METRICS_REFRESH_OK]++;
	c->last_ok_ms = util_mono_ms();
	backoff_reset(&c->backoff);
	schedule(c);
	if (l->v.expires_ms == 0)
		log_info("aws: credentials from %s",
		    c->plan->steps[c->top].desc);
	else if (!was)
		log_info("aws: credentials from %s, valid until %s",
		    c->plan->steps[c->top].what, format_time(l->v.expires_ms,
		    t1, sizeof(t1)));
	else
		log_debug("aws: credentials refreshed from %s, valid until %s, "
		    "next refresh at %s", c->plan->steps[c->top].what,
		    format_time(l->v.expires_ms, t1, sizeof(t1)),
		    format_time(l->refresh_ms, t2, sizeof(t2)));
	report(c, 1, NULL);
}

/* The step in flight brought v (taken): its layer, then the next. */
static void
fetched(struct creds *c, struct creds_value *v)
{
	struct layer *l = &c->layers[c->step];
	int64_t now = now_ms();
	char why[160], t[32];

	if (creds_check_value(v, why, sizeof(why)) == -1) {
		creds_value_free(v);
		failed(c, "%s", why);
		return;
	}
	if (v->expires_ms != 0 && v->expires_ms <= now + EXPIRED_SLACK_MS) {
		format_time(v->expires_ms, t, sizeof(t));
		creds_value_free(v);
		failed(c, "the credentials came expired (at %s; is the clock "
		    "right?)", t);
		return;
	}
	creds_value_free(&l->v);
	l->v = *v;
	l->refresh_ms = creds_refresh_at(now, v->expires_ms,
	    backoff_random());
	memset(v, 0, sizeof(*v));
	if (c->step == c->top) {
		end_fetch(c);
		success(c);
		return;
	}
	end_fetch(c);
	advance(c);
}

/*
 * The step in flight failed: "aws: credentials: <what>: <why>",
 * redacted.  Retried with backoff, and while the current credentials
 * last at the latest halfway to their expiry; logged; reported only
 * when there are no credentials to sign with.
 */
static void
failed(struct creds *c, const char *fmt, ...)
{
	const struct creds_value *cur = creds_current(c);
	char why[CREDS_REASON_MAX], reason[2 * CREDS_REASON_MAX], t[32];
	int64_t remain;
	uint32_t delay;
	va_list ap;
	int same;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(reason, sizeof(reason), "aws: credentials: %s: %s",
	    cur_step(c)->what, why);
	reason[CREDS_REASON_MAX - 1] = '\0';
	redact(c, reason, CREDS_REASON_MAX);
	end_fetch(c);
	if (c->mc != NULL)
		c->mc->credential_refreshes[METRICS_REFRESH_FAILED]++;
	same = strcmp(reason, c->reason) == 0;
	memcpy(c->reason, reason, CREDS_REASON_MAX);
	delay = backoff_next(&c->backoff, backoff_random());
	if (cur != NULL && cur->expires_ms != 0) {
		remain = cur->expires_ms - now_ms();
		if ((int64_t)delay > remain / 2)
			delay = remain / 2 > RETRY_MIN_MS ?
			    (uint32_t)(remain / 2) : RETRY_MIN_MS;
	}
	arm(c, &c->timer, delay / 1000.0);
	if (cur != NULL) {
		log_warn("%s; the current credentials stay in use%s%s; "
		    "retrying in %.1fs", reason, cur->expires_ms != 0 ?
		    " until " : "", cur->expires_ms != 0 ? format_time(
		    cur->expires_ms, t, sizeof(t)) : "", delay / 1000.0);
		return;
	}
	if (!same)
		log_warn("%s; retrying in %.1fs", reason, delay / 1000.0);
	c->ok = 0;
	report(c, 0, c->reason);
}

static void
on_expiry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct creds *c = w->data;
	char t[32], reason[CREDS_REASON_MAX + 64];

	(void)loop;
	(void)revents;
	if (creds_current(c) != NULL) {
		schedule(c);	/* the wall clock moved: not yet */
		return;
	}
	format_time(c->layers[c->top].v.expires_ms, t, sizeof(t));
	snprintf(reason, sizeof(reason), "%s (the credentials expired at %s)",
	    c->reason[0] != '\0' ? c->reason : "aws: credentials: no refresh "
	    "yet", t);
	snprintf(c->reason, sizeof(c->reason), "%.*s",
	    (int)sizeof(c->reason) - 1, reason);
	log_error("%s", c->reason);
	backoff_reset(&c->backoff);
	if (c->step == -1)
		arm(c, &c->timer, 0.);
	c->ok = 0;
	report(c, 0, c->reason);
}

/* --- HTTP: STS, container credentials, instance metadata --- */

static void	on_http(void *, const struct httpc_result *);

static int
send_http(struct creds *c, const char *method, const char *url,
    const char *const *headers, const char *body, long timeout_ms,
    const struct creds_value *signer)
{
	struct httpc_request req;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.headers = headers;
	req.body = body;
	req.body_len = body != NULL ? strlen(body) : 0;
	req.timeout_ms = timeout_ms;
	/* httpc signs, and sends the session token as a signed header. */
	if (signer != NULL) {
		req.sigv4_region = c->plan->region;
		req.sigv4_service = "sts";
		req.access_key_id = signer->access_key_id;
		req.secret_key = signer->secret_access_key;
		req.session_token = signer->session_token;
	}
	if ((c->call = httpc_start(c->hc, &req, on_http, c)) == NULL)
		return -1;
	return 0;
}

/* A network error or a 5xx, with attempts left: the caller sends again. */
static int
again(struct creds *c, const struct httpc_result *r, int attempts)
{
	return (!r->ok || r->status >= 500) && ++c->attempt < attempts;
}

/* "Name: value" of a secret, freed by bury; NULL on memory. */
static char *
header(const char *name, const char *value)
{
	char *h;

	return asprintf(&h, "%s: %s", name, value) == -1 ? NULL : h;
}

static void
bury(char **p)
{
	free_secret(p);
}

/*
 * A token file's content (web identity, container), read at each fetch
 * since it rotates: a trailing newline dropped, no control character.
 */
static char *
read_token(const char *path, char *why, size_t whylen)
{
	struct stat sb;
	char *buf;
	ssize_t n;
	size_t len = 0, i;
	int fd;

	/* Nonblocking: a FIFO there would otherwise stop the loop. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
		util_set_err(why, whylen, "cannot read %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		util_set_err(why, whylen, "cannot read %s: %s", path,
		    fstat(fd, &sb) == -1 ? strerror(errno) :
		    "not a regular file");
		close(fd);
		return NULL;
	}
	/* Zeroed: what a failed read leaves is buried whole. */
	if ((buf = calloc(1, CREDS_TOKEN_MAX + 1)) == NULL) {
		close(fd);
		util_set_err(why, whylen, "out of memory");
		return NULL;
	}
	while (len <= CREDS_TOKEN_MAX && (n = read(fd, buf + len,
	    CREDS_TOKEN_MAX + 1 - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			util_set_err(why, whylen, "cannot read %s: %s", path,
			    strerror(errno));
			close(fd);
			explicit_bzero(buf, CREDS_TOKEN_MAX + 1);
			free(buf);
			return NULL;
		}
		len += (size_t)n;
	}
	close(fd);
	while (len > 0 && isspace((unsigned char)buf[len - 1]))
		len--;
	buf[len] = '\0';
	for (i = 0; i < len && (unsigned char)buf[i] >= ' ' && buf[i] != 0x7f;
	    i++)
		;
	if (len == 0 || len > CREDS_TOKEN_MAX || i != len) {
		util_set_err(why, whylen, "%s: %s", path, len == 0 ?
		    "is empty" : "is not a token (too large, or with control "
		    "characters)");
		bury(&buf);
		return NULL;
	}
	return buf;
}

static int
form_add(char *buf, size_t len, size_t *off, const char *key,
    const char *value)
{
	size_t n = strlen(key);

	if (*off + n + 2 >= len)
		return -1;
	if (*off > 0)
		buf[(*off)++] = '&';
	memcpy(buf + *off, key, n);
	*off += n;
	buf[(*off)++] = '=';
	return util_pct_encode(buf, len, off, value, strlen(value));
}

/*
 * STS' Query protocol: a form POSTed to the STS endpoint, AssumeRole
 * signed (SigV4, service sts) with the step below's credentials and
 * their session token, AssumeRoleWithWebIdentity unsigned, carrying the
 * token file's content.
 */
static void
sts_send(struct creds *c)
{
	const struct step *st = cur_step(c);
	const struct creds_value *src = NULL;
	const char *headers[3];
	char *body, dur[16], why[256];
	size_t len, off = 0, nh = 0;
	int rc;

	if (st->kind == STEP_WEB_IDENTITY) {
		if ((c->secret = read_token(st->token_file, why,
		    sizeof(why))) == NULL) {
			failed(c, "%s", why);
			return;
		}
	} else
		src = &c->layers[c->step - 1].v;
	len = 256 + 3 * (strlen(st->role_arn) + strlen(st->session_name) +
	    (st->external_id != NULL ? strlen(st->external_id) : 0) +
	    (c->secret != NULL ? strlen(c->secret) : 0));
	if ((body = malloc(len)) == NULL) {
		failed(c, "out of memory");
		return;
	}
	snprintf(dur, sizeof(dur), "%d", st->duration);
	rc = form_add(body, len, &off, "Action", st->kind ==
	    STEP_WEB_IDENTITY ? "AssumeRoleWithWebIdentity" : "AssumeRole") |
	    form_add(body, len, &off, "Version", STS_VERSION) |
	    form_add(body, len, &off, "RoleArn", st->role_arn) |
	    form_add(body, len, &off, "RoleSessionName", st->session_name);
	if (st->external_id != NULL)
		rc |= form_add(body, len, &off, "ExternalId", st->external_id);
	if (st->duration > 0)
		rc |= form_add(body, len, &off, "DurationSeconds", dur);
	if (c->secret != NULL)
		rc |= form_add(body, len, &off, "WebIdentityToken", c->secret);
	headers[nh++] = "Content-Type: application/x-www-form-urlencoded; "
	    "charset=utf-8";
	headers[nh] = NULL;
	if (rc == 0)
		rc = send_http(c, "POST", c->plan->sts_url, headers, body,
		    STS_TIMEOUT_MS, src);
	bury(&body);
	if (rc == -1)
		failed(c, "cannot start the request: %s", strerror(errno));
}

static void
sts_done(struct creds *c, const struct httpc_result *r)
{
	struct creds_value v;
	char why[256], code[80], msg[CREDS_QUOTE_MAX + 8];
	long offset;

	if (!r->ok) {
		failed(c, "no answer: %s", r->error);
		return;
	}
	if (r->status >= 200 && r->status <= 299) {
		if (creds_parse_sts(r->body, r->body_len, &v, why,
		    sizeof(why)) == -1)
			failed(c, "HTTP %ld, but an unreadable answer: %s",
			    r->status, why);
		else
			fetched(c, &v);
		return;
	}
	if (creds_parse_sts_error(r->body, r->body_len, code, sizeof(code),
	    msg, sizeof(msg)) == -1)
		failed(c, "HTTP %ld", r->status);
	else if (sigv4_is_skew_error(r->status, code, msg) && r->date != NULL &&
	    sigv4_skew(r->date, time(NULL), &offset) == 0) {
		/* Signed at STS' time, the retry goes through. */
		sigv4_follow(offset, "STS");
		failed(c, "HTTP %ld %s: the clock was %lds off; signing with "
		    "STS' time", r->status, code, labs(offset));
	}
	else
		failed(c, "HTTP %ld %s%s%s", r->status, code,
		    msg[0] != '\0' ? ": " : "", msg);
}

static void
container_send(struct creds *c)
{
	const struct step *st = cur_step(c);
	const char *headers[2] = { NULL, NULL }, *auth = st->token;
	char *h = NULL, why[256];
	int rc;

	if (st->token_file != NULL && c->secret == NULL &&
	    (c->secret = read_token(st->token_file, why,
	    sizeof(why))) == NULL) {
		failed(c, "%s", why);
		return;
	}
	if (c->secret != NULL)
		auth = c->secret;
	if (auth != NULL && (headers[0] = h = header("Authorization",
	    auth)) == NULL) {
		failed(c, "out of memory");
		return;
	}
	rc = send_http(c, "GET", st->url, headers, NULL, CONTAINER_TIMEOUT_MS,
	    NULL);
	bury(&h);
	if (rc == -1)
		failed(c, "cannot start the request: %s", strerror(errno));
}

/* A server's error body for an error line: its message, or a line. */
static void
body_reason(const struct httpc_result *r, char *buf, size_t len)
{
	struct json_object *o;
	const char *m = NULL;

	buf[0] = '\0';
	if ((o = util_json_parse(r->body, r->body_len, NULL, 0)) != NULL &&
	    json_object_is_type(o, json_type_object) &&
	    util_json_string(o, "message", &m, NULL) != 1)
		util_json_string(o, "Message", &m, NULL);
	if (m != NULL)
		clean(buf, len, m, strlen(m), CREDS_QUOTE_MAX);
	else
		clean(buf, len, r->body, r->body_len, CREDS_QUOTE_MAX);
	json_object_put(o);
}

static void
container_done(struct creds *c, const struct httpc_result *r)
{
	struct creds_value v;
	char why[256];

	if (again(c, r, CONTAINER_ATTEMPTS)) {
		container_send(c);
		return;
	}
	if (!r->ok) {
		failed(c, "no answer: %s", r->error);
		return;
	}
	if (r->status < 200 || r->status > 299) {
		body_reason(r, why, sizeof(why));
		failed(c, "HTTP %ld%s%s", r->status, why[0] != '\0' ? ": " : "",
		    why);
		return;
	}
	if (creds_parse_json(CREDS_JSON_CONTAINER, r->body, r->body_len, &v,
	    why, sizeof(why)) == -1)
		failed(c, "HTTP %ld, but an unreadable answer: %s", r->status,
		    why);
	else
		fetched(c, &v);
}

static void
imds_send(struct creds *c)
{
	const struct step *st = cur_step(c);
	const char *headers[2] = { NULL, NULL };
	char url[URL_MAX + 512], *h = NULL;
	int rc;

	if (c->phase == IMDS_TOKEN) {
		snprintf(url, sizeof(url), "%s/latest/api/token", st->url);
		headers[0] = "X-aws-ec2-metadata-token-ttl-seconds: "
		    STRINGIFY(IMDS_TOKEN_TTL);
	} else {
		snprintf(url, sizeof(url), "%s/latest/meta-data/iam/"
		    "security-credentials/%s", st->url, c->phase == IMDS_CREDS ?
		    c->imds_role : "");
		if ((headers[0] = h = header("X-aws-ec2-metadata-token",
		    c->imds_token)) == NULL) {
			failed(c, "out of memory");
			return;
		}
	}
	rc = send_http(c, c->phase == IMDS_TOKEN ? "PUT" : "GET", url,
	    headers, NULL, IMDS_TIMEOUT_MS, NULL);
	bury(&h);
	if (rc == -1)
		failed(c, "cannot start the request: %s", strerror(errno));
}

/* Start the IMDS sequence at phase ph. */
static void
imds_go(struct creds *c, enum imds_phase ph)
{
	c->phase = ph;
	c->attempt = 0;
	imds_send(c);
}

static void
imds_done(struct creds *c, const struct httpc_result *r)
{
	static const char *const what[] = {
		[IMDS_TOKEN] = "token", [IMDS_ROLE] = "role",
		[IMDS_CREDS] = "credentials"
	};
	struct creds_value v;
	char why[256];
	size_t n;

	if (again(c, r, IMDS_ATTEMPTS)) {
		imds_send(c);
		return;
	}
	if (!r->ok) {
		failed(c, "%s: no answer within %lds (%d attempts): %s",
		    what[c->phase], IMDS_TIMEOUT_MS / 1000, IMDS_ATTEMPTS,
		    r->error);
		return;
	}
	/* A token that expired or was revoked early: one new one. */
	if (r->status == 401 && c->phase != IMDS_TOKEN && !c->retoken) {
		c->retoken = 1;
		free_secret(&c->imds_token);
		imds_go(c, IMDS_TOKEN);
		return;
	}
	if (r->status == 404 && c->phase == IMDS_ROLE) {
		failed(c, "no IAM role attached to the instance (HTTP 404)");
		return;
	}
	if (r->status != 200) {
		failed(c, "%s: HTTP %ld", what[c->phase], r->status);
		return;
	}
	switch (c->phase) {
	case IMDS_TOKEN:
		free_secret(&c->imds_token);
		for (n = r->body_len; n > 0 &&
		    isspace((unsigned char)r->body[n - 1]); n--)
			;
		if ((c->imds_token = strndup(r->body, n)) == NULL ||
		    !header_safe(c->imds_token)) {
			failed(c, "token: not a token");
			return;
		}
		c->imds_token_ms = now_ms() +
		    IMDS_TOKEN_TTL * 1000LL;
		imds_go(c, IMDS_ROLE);
		return;
	case IMDS_ROLE:
		free(c->imds_role);
		n = strcspn(r->body, "\r\n");
		if ((c->imds_role = strndup(r->body, n)) == NULL ||
		    !header_safe(c->imds_role) ||
		    strchr(c->imds_role, '/') != NULL) {
			failed(c, "no IAM role attached to the instance (an "
			    "empty or unreadable answer)");
			return;
		}
		imds_go(c, IMDS_CREDS);
		return;
	case IMDS_CREDS:
		if (creds_parse_json(CREDS_JSON_IMDS, r->body, r->body_len, &v,
		    why, sizeof(why)) == -1)
			failed(c, "role '%s': unreadable credentials: %s",
			    c->imds_role, why);
		else
			fetched(c, &v);
		return;
	}
}

static void
on_http(void *arg, const struct httpc_result *r)
{
	struct creds *c = arg;

	c->call = NULL;
	switch (cur_step(c)->kind) {
	case STEP_WEB_IDENTITY:
	case STEP_ASSUME_ROLE:
		sts_done(c, r);
		break;
	case STEP_CONTAINER:
		container_done(c, r);
		break;
	case STEP_IMDS:
		imds_done(c, r);
		break;
	default:
		break;
	}
}

/* --- credential_process --- */

static void
run_close(struct creds *c, int *fd, ev_io *io)
{
	(void)c;
	if (*fd == -1)
		return;
	ev_io_stop(c->loop, io);
	close(*fd);
	*fd = -1;
}

/*
 * Kill the process and its group, once.  Reaped, the shell's pid is no
 * longer its own, but its group's id stays reserved while any member of
 * the group lives: what it left behind is killed through the group.
 */
static void
run_kill(struct creds *c, const char *why)
{
	struct run *r = &c->run;

	if (r->killed != NULL)
		return;
	r->killed = why;
	(void)kill(-r->pid, SIGKILL);
	if (!r->reaped)
		(void)kill(r->pid, SIGKILL);
}

/* Stop watching; the process is reaped or, at teardown, killed. */
static void
run_stop(struct creds *c)
{
	struct run *r = &c->run;
	int st;

	if (!c->running)
		return;
	c->running = 0;
	if (!r->reaped) {
		run_kill(c, "stopped");
		/* Dead by now, or soon; init reaps it after our exit. */
		(void)waitpid(r->pid, &st, WNOHANG);
	} else if (r->out != -1 || r->err != -1)
		run_kill(c, "stopped");	/* what it left holding our pipes */
	run_close(c, &r->out, &r->out_io);
	run_close(c, &r->err, &r->err_io);
	ev_timer_stop(c->loop, &r->poll);
	if (r->buf != NULL)
		explicit_bzero(r->buf, r->len);
	free(r->buf);
	r->buf = NULL;
}

/* Each line of the process' stderr to the log, redacted of v's too. */
/* The fields of credential_process' answer, and of the shared files. */
static int
names_secret(const char *line)
{
	static const char *const fields[] = {
		"SecretAccessKey", "SessionToken", "aws_secret_access_key",
		"aws_session_token"
	};
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcasestr(line, fields[i]) != NULL)
			return 1;
	return 0;
}

static void
run_log_stderr(struct creds *c, const struct creds_value *v, int bad)
{
	const char *sec[5 * CREDS_MAX_STEPS + 4], *p, *nl;
	struct run *r = &c->run;
	char line[CREDS_QUOTE_MAX + 8];
	size_t n;

	n = secrets(c, sec, sizeof(sec) / sizeof(sec[0]) - 2);
	if (v != NULL) {
		sec[n++] = v->secret_access_key;
		sec[n++] = v->session_token;
	}
	r->ebuf[r->elen] = '\0';
	for (p = r->ebuf; *p != '\0'; p = *nl != '\0' ? nl + 1 : nl) {
		nl = p + strcspn(p, "\n");
		clean(line, sizeof(line), p, (size_t)(nl - p), CREDS_QUOTE_MAX);
		if (line[0] == '\0')
			continue;
		/*
		 * A line that names a credential's field (a "set -x" trace,
		 * the answer echoed) may hold one not known yet: not shown.
		 */
		if (names_secret(line))
			snprintf(line, sizeof(line), "(a line naming a secret "
			    "field, not shown)");
		(void)util_redact(line, sizeof(line), sec, n, 1);
		if (bad)
			log_warn("aws: credentials: %s: stderr: %s",
			    cur_step(c)->what, line);
		else
			log_debug("aws: credentials: %s: stderr: %s",
			    cur_step(c)->what, line);
	}
}

/* The process is done (reaped, its output closed or it was killed). */
static void
run_done(struct creds *c)
{
	struct run *r = &c->run;
	struct creds_value v;
	char why[256], st[128];
	int rc = -1;

	memset(&v, 0, sizeof(v));
	if (r->killed != NULL && !r->orphans)
		snprintf(why, sizeof(why), "%s", r->killed);
	else if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != 0) {
		util_wait_status(r->status, st, sizeof(st));
		snprintf(why, sizeof(why), "%s", st);
	} else if ((rc = creds_parse_json(CREDS_JSON_PROCESS, r->buf != NULL ?
	    r->buf : "", r->len, &v, st, sizeof(st))) == -1)
		snprintf(why, sizeof(why), "unreadable output: %s", st);
	run_log_stderr(c, rc == 0 ? &v : NULL, rc != 0);
	run_stop(c);
	if (rc == 0)
		fetched(c, &v);
	else
		failed(c, "%s", why);
}

static void
run_check(struct creds *c)
{
	struct run *r = &c->run;

	if (r->reaped && (r->out == -1 || r->killed != NULL))
		run_done(c);
}

static void
on_run_out(struct ev_loop *loop, ev_io *w, int revents)
{
	struct creds *c = w->data;
	struct run *r = &c->run;
	char *nb;
	ssize_t n;

	(void)loop;
	(void)revents;
	for (;;) {
		if (r->len == r->cap) {
			if (r->cap > CREDS_OUTPUT_MAX) {
				run_kill(c, "printed more than 64 KiB; killed");
				run_close(c, &r->out, &r->out_io);
				break;
			}
			if ((nb = realloc(r->buf, r->cap + 4096)) == NULL) {
				run_kill(c, "out of memory; killed");
				run_close(c, &r->out, &r->out_io);
				break;
			}
			r->buf = nb;
			r->cap += 4096;
		}
		n = read(r->out, r->buf + r->len, r->cap - r->len);
		if (n > 0) {
			r->len += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		run_close(c, &r->out, &r->out_io);	/* EOF or error */
		break;
	}
	run_check(c);
}

static void
on_run_err(struct ev_loop *loop, ev_io *w, int revents)
{
	struct creds *c = w->data;
	struct run *r = &c->run;
	char sink[512];
	ssize_t n;

	(void)loop;
	(void)revents;
	for (;;) {
		if (r->elen < CREDS_STDERR_MAX)
			n = read(r->err, r->ebuf + r->elen,
			    CREDS_STDERR_MAX - r->elen);
		else
			n = read(r->err, sink, sizeof(sink));
		if (n > 0) {
			if (r->elen < CREDS_STDERR_MAX)
				r->elen += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		run_close(c, &r->err, &r->err_io);
		return;
	}
}

static void
on_run_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct creds *c = w->data;
	struct run *r = &c->run;
	pid_t p;

	(void)loop;
	(void)revents;
	if (!r->reaped) {
		while ((p = waitpid(r->pid, &r->status, WNOHANG)) == -1 &&
		    errno == EINTR)
			;
		if (p == r->pid || (p == -1 && errno == ECHILD)) {
			r->reaped = 1;
			r->reaped_ms = util_mono_ms();
			if (p == -1)
				r->status = 0xff00;	/* "exited with 255" */
		}
	}
	if (!r->reaped && util_mono_ms() >= r->deadline_ms)
		run_kill(c, "did not finish within "
		    STRINGIFY(PROCESS_TIMEOUT_SECS) "s; killed");
	/*
	 * The shell has exited, and something it started in the background
	 * still holds its stdout: what was written by the exit is the
	 * answer, and the rest of its group goes.
	 */
	if (r->reaped && r->out != -1 && r->killed == NULL &&
	    util_mono_ms() - r->reaped_ms >= PROCESS_ORPHAN_GRACE_MS) {
		log_warn("aws: credentials: credential_process exited, and "
		    "left a process holding its output; killed it");
		r->orphans = 1;
		run_kill(c, "left a process holding its output");
		run_close(c, &r->out, &r->out_io);
		run_close(c, &r->err, &r->err_io);
	}
	run_check(c);
}

/*
 * The helper's environment: ours but GNUTLS_NO_IMPLICIT_INIT, which the
 * systemd unit sets for the daemon alone (a helper built on GnuTLS may
 * count on its implicit initialization).  The strings stay environ's; a
 * malloc'd array of pointers, NULL when out of memory.
 */
static char **
helper_environ(void)
{
	static const char drop[] = "GNUTLS_NO_IMPLICIT_INIT=";
	size_t n = 0, i, k = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + 1, sizeof(*env))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], drop, sizeof(drop) - 1) != 0)
			env[k++] = environ[i];
	return env;
}

/*
 * Run the profile's credential_process: /bin/sh -c, stdin /dev/null,
 * stdout and stderr into our pipes, signals at their defaults, in a
 * process group of its own so that the deadline kills what it started.
 */
static void
run_start(struct creds *c)
{
	struct run *r = &c->run;
	char **env;
	char *argv[4];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, rc;

	memset(r, 0, sizeof(*r));
	r->out = r->err = -1;
	if (pipe2(out, O_CLOEXEC) == -1 || pipe2(err, O_CLOEXEC) == -1 ||
	    util_set_nonblock(out[0]) == -1 ||
	    util_set_nonblock(err[0]) == -1) {
		rc = errno;
		goto fail;
	}
	argv[0] = (char *)"/bin/sh";
	argv[1] = (char *)"-c";
	argv[2] = cur_step(c)->command;
	argv[3] = NULL;
	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
		goto fail;
	if ((rc = posix_spawnattr_init(&at)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		goto fail;
	}
	if ((rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
	    O_RDONLY, 0)) == 0 &&
	    (rc = posix_spawn_file_actions_adddup2(&fa, out[1], 1)) == 0 &&
	    (rc = posix_spawn_file_actions_adddup2(&fa, err[1], 2)) == 0 &&
	    (rc = posix_spawnattr_setsigmask(&at, &none)) == 0 &&
	    (rc = posix_spawnattr_setsigdefault(&at, &all)) == 0 &&
	    (rc = posix_spawnattr_setpgroup(&at, 0)) == 0 &&
	    (rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP)) == 0) {
		if ((env = helper_environ()) == NULL)
			rc = ENOMEM;
		else
			rc = posix_spawn(&r->pid, argv[0], &fa, &at, argv, env);
		free(env);
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rc != 0)
		goto fail;
	close(out[1]);
	close(err[1]);
	r->out = out[0];
	r->err = err[0];
	r->deadline_ms = util_mono_ms() + PROCESS_TIMEOUT_MS;
	c->running = 1;
	ev_io_init(&r->out_io, on_run_out, r->out, EV_READ);
	r->out_io.data = c;
	ev_io_start(c->loop, &r->out_io);
	ev_io_init(&r->err_io, on_run_err, r->err, EV_READ);
	r->err_io.data = c;
	ev_io_start(c->loop, &r->err_io);
	ev_timer_init(&r->poll, on_run_poll, PROCESS_POLL_SECS,
	    PROCESS_POLL_SECS);
	r->poll.data = c;
	ev_timer_start(c->loop, &r->poll);
	return;
fail:
	if (out[0] != -1) {
		close(out[0]);
		close(out[1]);
	}
	if (err[0] != -1) {
		close(err[0]);
		close(err[1]);
	}
	failed(c, "cannot run /bin/sh: %s", strerror(rc));
}

/* --- the fetch --- */

/* Whether layer i must be fetched (again) now. */
static int
due(const struct creds *c, int i, int64_t now)
{
	const struct layer *l = &c->layers[i];

	if (c->plan->steps[i].kind == STEP_STATIC)
		return 0;
	return l->v.access_key_id == NULL || (i == c->top && c->invalidated) ||
	    (l->refresh_ms != 0 && now >= l->refresh_ms);
}

static void
fetch(struct creds *c, int i)
{
	const struct step *st = &c->plan->steps[i];

	c->step = i;
	c->attempt = 0;
	switch (st->kind) {
	case STEP_PROCESS:
		run_start(c);
		break;
	case STEP_CONTAINER:
		container_send(c);
		break;
	case STEP_IMDS:
		c->retoken = 0;
		imds_go(c, c->imds_token != NULL && c->imds_token_ms -
		    IMDS_TOKEN_SLACK_MS > now_ms() ? IMDS_ROLE :
		    IMDS_TOKEN);
		break;
	case STEP_WEB_IDENTITY:
	case STEP_ASSUME_ROLE:
		sts_send(c);
		break;
	case STEP_STATIC:
		break;
	}
}

/* Fetch the lowest layer that is due; none left: the top is in. */
static void
advance(struct creds *c)
{
	int64_t now = now_ms();
	int i;

	if (c->step != -1)
		return;
	for (i = 0; i <= c->top; i++)
		if (due(c, i, now)) {
			fetch(c, i);
			return;
		}
	if (!c->ok)
		success(c);	/* static keys: reported once */
	else
		schedule(c);
}

static void
on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	advance(w->data);
}

struct creds *
creds_new(struct ev_loop *loop, struct httpc *hc, const struct config *cfg,
    const struct creds_plan *plan, creds_state_fn fn, void *arg, char *err,
    size_t errlen)
{
	const struct step *base;
	struct creds *c;

	(void)cfg;	/* the plan holds what the fetches need */
	if (loop == NULL || hc == NULL || plan == NULL || plan->n < 1 ||
	    fn == NULL) {
		util_set_err(err, errlen, "aws: credentials: no plan or loop");
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		util_set_err(err, errlen, "aws: credentials: out of memory");
		return NULL;
	}
	c->loop = loop;
	c->hc = hc;
	c->plan = plan;
	c->fn = fn;
	c->arg = arg;
	c->top = plan->n - 1;
	c->step = -1;
	c->run.out = c->run.err = -1;
	backoff_init(&c->backoff, RETRY_MIN_MS, RETRY_MAX_MS);
	base = &plan->steps[0];
	if (base->kind == STEP_STATIC &&
	    value_set(&c->layers[0].v, base->keys.access_key_id,
	    base->keys.secret_access_key, base->keys.session_token, 0) == -1) {
		free(c);
		util_set_err(err, errlen, "aws: credentials: out of memory");
		return NULL;
	}
	ev_timer_init(&c->timer, on_timer, 0., 0.);
	c->timer.data = c;
	ev_timer_init(&c->expiry, on_expiry, 0., 0.);
	c->expiry.data = c;
	ev_timer_start(loop, &c->timer);
	return c;
}

void
creds_set_counters(struct creds *c, struct metrics_counters *mc)
{
	c->mc = mc;
}

void
creds_free(struct creds *c)
{
	int i;

	if (c == NULL || util_dying(&c->re))
		return;
	if (c->call != NULL)
		httpc_cancel(c->call);
	c->call = NULL;
	run_stop(c);
	ev_timer_stop(c->loop, &c->timer);
	ev_timer_stop(c->loop, &c->expiry);
	end_fetch(c);
	for (i = 0; i < CREDS_MAX_STEPS; i++)
		creds_value_free(&c->layers[i].v);
	free_secret(&c->imds_token);
	free(c->imds_role);
	c->imds_role = NULL;
	if (util_release(&c->re))
		free(c);
}

void
creds_invalidate(struct creds *c)
{
	uint64_t now = util_mono_ms();
	int expired;

	if (c == NULL || util_dying(&c->re) ||
	    c->plan->steps[c->top].kind == STEP_STATIC || c->step != -1)
		return;
	/*
	 * Credentials past their expiry by the wall clock (a clock stepped
	 * forward, a resumed machine: the timers run on the monotonic one)
	 * are fetched again at once, and said so; otherwise a refusal
	 * fetches at most every INVALIDATE_MIN_MS, and never before a
	 * failed fetch's backoff has run.
	 */
	/* None fetched yet: the provider's own schedule is at it. */
	if (c->layers[c->top].v.access_key_id == NULL)
		return;
	expired = creds_current(c) == NULL;
	if (!expired && (now - c->last_ok_ms < INVALIDATE_MIN_MS ||
	    now - c->last_invalidated_ms < INVALIDATE_MIN_MS ||
	    c->reason[0] != '\0'))
		return;
	if (expired && now - c->last_invalidated_ms < INVALIDATE_MIN_MS)
		return;
	c->last_invalidated_ms = now;
	c->invalidated = 1;
	arm(c, &c->timer, 0.);
	if (!expired) {
		log_info("aws: credentials: refused as expired or unknown; "
		    "fetching new ones now");
		return;
	}
	snprintf(c->reason, sizeof(c->reason), "aws: credentials: expired "
	    "(the clock moved on); fetching new ones");
	if (c->ok) {
		c->ok = 0;
		report(c, 0, c->reason);	/* last: fn may free c */
	}
}

/*
 * sigv4: the signing clock, the reading of a server's Date, the
 * classification of clock-skew errors, and AWS Signature Version 4.
 *
 * The signer follows AWS' description of the canonical request
 * (docs.aws.amazon.com, "Create a signed AWS API request"):
 *
 *	method \n canonical URI \n canonical query \n
 *	canonical headers (one "name:value\n" each) \n
 *	signed headers \n hex(SHA-256(payload))
 *
 * The URI's path is normalized (empty and "." segments dropped, ".."
 * removing the one before) and each segment percent-encoded, so a path
 * that is already encoded on the wire is encoded twice, as every service
 * but S3 wants.  Query parameters are decoded, encoded again and sorted
 * by name, then value.  Header names are lowercased and sorted, values
 * trimmed and their runs of blanks made one space; repeated names have
 * their values joined with ',' in the order given.  Host is the URL's
 * host, its port added unless it is the scheme's default, unless the
 * caller gave a Host line.  The canonical request is hashed as it is
 * produced, never kept whole, so the session token it holds is in no
 * buffer of ours.
 *
 * Then the string to sign ("AWS4-HMAC-SHA256", the time, the scope
 * date/region/service/aws4_request, the canonical request's hash) is
 * signed with the key derived from "AWS4" + secret by HMAC-SHA256 over
 * the date, region, service and "aws4_request".  SHA-256 is OpenSSL's
 * EVP digest, fetched once (OpenSSL 3 fetches EVP_sha256() again at
 * every use); HMAC is RFC 2104 over it, here, since OpenSSL 3's one-shot
 * HMAC() fetches a MAC on every call: together they were a fifth of a
 * consumer's instructions.  The keys and pads are cleansed after use.
 */

#include "autoconf.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "log.h"
#include "sigv4.h"
#include "url.h"
#include "util.h"

#define SIGV4_ALGORITHM		"AWS4-HMAC-SHA256"
#define SIGV4_SHA256_LEN	32
#define SIGV4_HEX_SIZE		(2 * SIGV4_SHA256_LEN + 1)
/* "Sun, 06 Nov 1994 08:49:37 GMT" */
#define SIGV4_IMF_FIXDATE_LEN	29

/* Seconds the signing clock runs ahead of time(NULL). */
static long clock_offset;

time_t
sigv4_now(void)
{
	return time(NULL) + (time_t)clock_offset;
}

long
sigv4_offset(void)
{
	return clock_offset;
}

void
sigv4_set_offset(long offset)
{
	clock_offset = offset;
}

void
sigv4_follow(long offset, const char *peer)
{
	long old = sigv4_offset();

	sigv4_set_offset(offset);
	if (labs(offset - old) <= SIGV4_SKEW_LOG_S)
		return;
	if (labs(offset) <= SIGV4_SKEW_LOG_S)
		log_warn("aws: the clock agrees with %s's again; signing with "
		    "it", peer);
	else
		log_warn("aws: the clock is %lds %s %s's; signing with %s's "
		    "time", labs(offset), offset > 0 ? "behind" : "ahead of",
		    peer, peer);
}

/* --- the server's Date --- */

static const char *const day_names[] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};

static const char *const month_names[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

/* The n decimal digits at s as a number, or -1. */
static int
digits(const char *s, int n)
{
	int i, x = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		x = x * 10 + (s[i] - '0');
	}
	return x;
}

/* The index of the three letters at s among n names, or -1. */
static int
name_index(const char *s, const char *const *names, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (strncmp(s, names[i], 3) == 0)
			return i;
	return -1;
}

/*
 * IMF-fixdate, field by field; the calendar (days in the month, the day
 * name) is checked by a round trip through timegm and gmtime_r, which
 * normalize an impossible date into another one.
 */
static int
parse_imf_fixdate(const char *s, time_t *out)
{
	struct tm tm, back;
	int wday, mday, mon, leap = 0;
	time_t t;

	if (strlen(s) != SIGV4_IMF_FIXDATE_LEN || s[3] != ',' ||
	    s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
	    s[19] != ':' || s[22] != ':' || strcmp(s + 25, " GMT") != 0)
		return -1;
	memset(&tm, 0, sizeof(tm));
	if ((wday = name_index(s, day_names, 7)) == -1 ||
	    (mday = digits(s + 5, 2)) < 1 ||
	    (mon = name_index(s + 8, month_names, 12)) == -1 ||
	    (tm.tm_year = digits(s + 12, 4)) < 1970 ||
	    (tm.tm_hour = digits(s + 17, 2)) < 0 || tm.tm_hour > 23 ||
	    (tm.tm_min = digits(s + 20, 2)) < 0 || tm.tm_min > 59 ||
	    (tm.tm_sec = digits(s + 23, 2)) < 0 || tm.tm_sec > 60)
		return -1;
	if (tm.tm_sec == 60) {
		tm.tm_sec = 59;
		leap = 1;
	}
	tm.tm_year -= 1900;
	tm.tm_mon = mon;
	tm.tm_mday = mday;
	if ((t = timegm(&tm)) == (time_t)-1 || gmtime_r(&t, &back) == NULL ||
	    back.tm_mday != mday || back.tm_mon != mon || back.tm_wday != wday)
		return -1;
	*out = t + leap;
	return 0;
}

int
sigv4_skew(const char *date, time_t local_now, long *offset)
{
	intmax_t d;
	time_t t;

	if (date == NULL || parse_imf_fixdate(date, &t) == -1)
		return -1;
	d = (intmax_t)t - (intmax_t)local_now;
	if (d > LONG_MAX || d <= LONG_MIN)
		return -1;
	*offset = (long)d;
	return 0;
}

/* --- clock-skew errors --- */

/* Codes that name the clock themselves. */
static const char *const skew_codes[] = {
	"RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture", NULL
};

/* Codes that mean the clock only with skew_messages. */
static const char *const signature_codes[] = {
	"InvalidSignatureException", "SignatureDoesNotMatch", NULL
};

static const char *const skew_messages[] = {
	"Signature expired", "Signature not yet current", NULL
};

static int
in_list(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

static int
starts_with_one(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strncmp(s, *list, strlen(*list)) == 0)
			return 1;
	return 0;
}

int
sigv4_is_skew_error(long status, const char *code, const char *message)
{
	/*
	 * 403 is what the AWS documentation gives; SQS' own list of common
	 * errors gives 400 for its signature errors, and JSON-protocol
	 * services answer InvalidSignatureException with 400.
	 */
	if ((status != 400 && status != 403) || code == NULL)
		return 0;
	if (in_list(code, skew_codes))
		return 1;
	return in_list(code, signature_codes) && message != NULL &&
	    starts_with_one(message, skew_messages);
}

int
sigv4_amz_date(time_t t, char buf[SIGV4_DATE_SIZE])
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, SIGV4_DATE_SIZE, "%Y%m%dT%H%M%SZ", &tm) !=
	    SIGV4_DATE_SIZE - 1) {
		buf[0] = '\0';
		return -1;
	}
	return 0;
}

/* --- the signer --- */

/* One header of the canonical request. */
struct hdr {
	char		*name;		/* lowercase, allocated */
	const char	*value;		/* as given, NUL-terminated */
	size_t		 order;		/* as given: a stable sort */
};

struct param {
	char	*key;			/* encoded, allocated */
	char	*value;
};

/* The canonical request's hash, fed as it is produced. */
struct digest {
	EVP_MD_CTX	*ctx;
	int		 failed;
};

static void
feed(struct digest *d, const void *p, size_t n)
{
	if (!d->failed && n > 0 && EVP_DigestUpdate(d->ctx, p, n) != 1)
		d->failed = 1;
}

static void
feeds(struct digest *d, const char *s)
{
	feed(d, s, strlen(s));
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* A header value trimmed, each run of blanks one space. */
static void
feed_value(struct digest *d, const char *v)
{
	size_t n;
	int first = 1;

	for (;;) {
		while (is_blank(*v))
			v++;
		if (*v == '\0')
			return;
		for (n = 0; v[n] != '\0' && !is_blank(v[n]); n++)
			;
		if (!first)
			feed(d, " ", 1);
		feed(d, v, n);
		first = 0;
		v += n;
	}
}

static void
to_hex(const unsigned char *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

/* SHA-256, fetched once where OpenSSL 3 fetches (NULL: it failed). */
static const EVP_MD *
sha256(void)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	static EVP_MD *md;

	if (md == NULL)
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
	return md;
#else
	return EVP_sha256();
#endif
}

/* out = SHA-256(a || b), with one context kept for all: 0 or -1. */
static int
digest2(const void *a, size_t alen, const void *b, size_t blen,
    unsigned char out[SIGV4_SHA256_LEN])
{
	static EVP_MD_CTX *ctx;
	const EVP_MD *md = sha256();
	unsigned int mdlen = 0;

	if (md == NULL || (ctx == NULL && (ctx = EVP_MD_CTX_new()) == NULL))
		return -1;
	if (EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
	    (alen > 0 && EVP_DigestUpdate(ctx, a, alen) != 1) ||
	    (blen > 0 && EVP_DigestUpdate(ctx, b, blen) != 1) ||
	    EVP_DigestFinal_ex(ctx, out, &mdlen) != 1 ||
	    mdlen != SIGV4_SHA256_LEN)
		return -1;
	return 0;
}

static int
sha256_hex(const void *p, size_t n, char out[SIGV4_HEX_SIZE])
{
	unsigned char md[SIGV4_SHA256_LEN];

	if (digest2(p, n, NULL, 0, md) == -1)
		return -1;
	to_hex(md, sizeof(md), out);
	return 0;
}

#define HMAC_BLOCK	64	/* SHA-256's block */

/* out = HMAC-SHA256(key, s) (RFC 2104): 0 or -1. */
static int
hmac(const unsigned char *key, size_t keylen, const char *s,
    unsigned char out[SIGV4_SHA256_LEN])
{
	unsigned char k[HMAC_BLOCK], pad[HMAC_BLOCK], inner[SIGV4_SHA256_LEN];
	size_t i;
	int rc = -1;

	memset(k, 0, sizeof(k));
	if (keylen <= sizeof(k))
		memcpy(k, key, keylen);
	else if (digest2(key, keylen, NULL, 0, k) == -1)
		goto done;
	for (i = 0; i < sizeof(pad); i++)
		pad[i] = k[i] ^ 0x36;
	if (digest2(pad, sizeof(pad), s, strlen(s), inner) == -1)
		goto done;
	for (i = 0; i < sizeof(pad); i++)
		pad[i] = k[i] ^ 0x5c;
	rc = digest2(pad, sizeof(pad), inner, sizeof(inner), out);
done:
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
	return rc;
}

/* printable ASCII, no space, no '/': what a scope's part can be. */
static int
valid_word(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s <= ' ' || *s >= 0x7f || *s == '/')
			return 0;
	return 1;
}

/* No control character but a tab: what a header's value can hold. */
static int
valid_value(const char *s)
{
	for (; *s != '\0'; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return 0;
	return 1;
}

static int
has_text(const char *s)
{
	for (; *s != '\0'; s++)
		if (!is_blank(*s))
			return 1;
	return 0;
}

/*
 * The path of n bytes at path (from its '/', or empty), normalized and
 * encoded; NULL when out of memory.
 */
static char *
canonical_path(const char *path, size_t n)
{
	struct {
		const char	*p;
		size_t		 n;
	} *segs;
	size_t nsegs = 0, i, start, len, off = 0, cap;
	char *out = NULL;

	if ((segs = calloc(n + 1, sizeof(*segs))) == NULL)
		return NULL;
	for (start = 0; start <= n; start = i + 1) {
		for (i = start; i < n && path[i] != '/'; i++)
			;
		len = i - start;
		if (len == 0 || (len == 1 && path[start] == '.'))
			continue;
		if (len == 2 && path[start] == '.' && path[start + 1] == '.') {
			if (nsegs > 0)
				nsegs--;
			continue;
		}
		segs[nsegs].p = path + start;
		segs[nsegs++].n = len;
	}
	/* Each byte three at most, plus the slashes around. */
	cap = 3 * n + 3;
	if ((out = malloc(cap)) == NULL)
		goto done;
	out[off++] = '/';
	out[off] = '\0';
	for (i = 0; i < nsegs; i++) {
		if (i > 0)
			out[off++] = '/';
		(void)util_pct_encode(out, cap, &off, segs[i].p, segs[i].n);
	}
	if (nsegs > 0 && path[n - 1] == '/') {
		out[off++] = '/';
		out[off] = '\0';
	}
done:
	free(segs);
	return out;
}

static int
param_cmp(const void *a, const void *b)
{
	const struct param *x = a, *y = b;
	int c;

	if ((c = strcmp(x->key, y->key)) != 0)
		return c;
	return strcmp(x->value, y->value);
}

/* The n bytes at s decoded (url_decode) and encoded again; NULL: -1. */
static char *
reencode(const char *s, size_t n, char *err, size_t errlen)
{
	char *dec, *out, why[128];
	size_t dlen, off = 0, cap;

	if (url_decode(s, n, "query parameter", &dec, why, sizeof(why)) ==
	    -1) {
		util_set_err(err, errlen, "sigv4: the URL %s", why);
		errno = EINVAL;
		return NULL;
	}
	dlen = dec != NULL ? strlen(dec) : 0;
	cap = 3 * dlen + 1;
	if ((out = malloc(cap)) != NULL)
		(void)util_pct_encode(out, cap, &off, dec != NULL ? dec : "",
		    dlen);
	else
		util_set_err(err, errlen, "sigv4: out of memory");
	free(dec);
	return out;
}

static void
params_free(struct param *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(p[i].key);
		free(p[i].value);
	}
	free(p);
}

/*
 * The query of n bytes at q (NULL: none), canonical: "" or
 * "k1=v1&k2=v2", sorted.  NULL with err.
 */
static char *
canonical_query(const char *q, size_t n, char *err, size_t errlen)
{
	struct param *p;
	size_t np = 0, i, start, end, eq, len = 1, off;
	char *out = NULL;

	if ((p = calloc(n + 1, sizeof(*p))) == NULL)
		goto nomem;
	for (start = 0; q != NULL && start < n; start = end + 1) {
		for (end = start; end < n && q[end] != '&'; end++)
			;
		if (end == start)
			continue;
		for (eq = start; eq < end && q[eq] != '='; eq++)
			;
		if ((p[np].key = reencode(q + start, eq - start, err,
		    errlen)) == NULL ||
		    (p[np].value = reencode(q + eq + (eq < end),
		    end - eq - (eq < end), err, errlen)) == NULL) {
			params_free(p, np + 1);
			return NULL;
		}
		len += strlen(p[np].key) + strlen(p[np].value) + 2;
		np++;
	}
	qsort(p, np, sizeof(*p), param_cmp);
	if ((out = malloc(len)) == NULL) {
		params_free(p, np);
		p = NULL;
		goto nomem;
	}
	for (i = 0, off = 0; i < np; i++)
		off += (size_t)snprintf(out + off, len - off, "%s%s=%s",
		    i > 0 ? "&" : "", p[i].key, p[i].value);
	out[off] = '\0';
	params_free(p, np);
	return out;

nomem:
	free(p);
	util_set_err(err, errlen, "sigv4: out of memory");
	errno = ENOMEM;
	return NULL;
}

static int
hdr_cmp(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c;

	if ((c = strcmp(x->name, y->name)) != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void
hdrs_free(struct hdr *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(h[i].name);
	free(h);
}

static int
add_hdr(struct hdr *h, size_t *n, const char *name, size_t len,
    const char *value)
{
	size_t i;

	if ((h[*n].name = malloc(len + 1)) == NULL)
		return -1;
	for (i = 0; i < len; i++)
		h[*n].name[i] = (name[i] >= 'A' && name[i] <= 'Z') ?
		    (char)(name[i] - 'A' + 'a') : name[i];
	h[*n].name[len] = '\0';
	h[*n].value = value;
	h[*n].order = *n;
	(*n)++;
	return 0;
}

/* The headers the signer adds itself; the caller's must not be these. */
static const char *const own_headers[] = {
	"authorization", "x-amz-date", "x-amz-security-token", NULL
};

/*
 * The caller's header lines into h (room for them and three more),
 * lowercase; *has_host when one is Host.  -1 with err.
 */
static int
read_headers(const char *const *lines, struct hdr *h, size_t *n,
    int *has_host, char *err, size_t errlen)
{
	const char *line, *colon, *p;
	size_t i;

	*has_host = 0;
	for (i = 0; lines != NULL && (line = lines[i]) != NULL; i++) {
		colon = strchr(line, ':');
		for (p = line; p != colon && *p > ' ' && *p < 0x7f; p++)
			;
		if (colon == NULL || p != colon || colon == line) {
			util_set_err(err, errlen, "sigv4: header line %zu is "
			    "not \"Name: value\"", i + 1);
			goto inval;
		}
		if (!valid_value(colon + 1) || !has_text(colon + 1)) {
			util_set_err(err, errlen, "sigv4: header %.*s has %s",
			    (int)(colon - line), line, has_text(colon + 1) ?
			    "a control character" : "no value");
			goto inval;
		}
		if (add_hdr(h, n, line, (size_t)(colon - line), colon + 1) ==
		    -1) {
			util_set_err(err, errlen, "sigv4: out of memory");
			errno = ENOMEM;
			return -1;
		}
		if (in_list(h[*n - 1].name, own_headers)) {
			util_set_err(err, errlen, "sigv4: header %s is the "
			    "signer's to add", h[*n - 1].name);
			goto inval;
		}
		if (strcmp(h[*n - 1].name, "host") == 0)
			*has_host = 1;
	}
	return 0;
inval:
	errno = EINVAL;
	return -1;
}

/* "host[:port]" as curl sends it: the port unless the default. */
static void
host_value(const struct url *u, char *buf, size_t len)
{
	char port[8] = "";

	if (u->port_given && u->port != (u->tls ? 443 : 80))
		snprintf(port, sizeof(port), ":%d", u->port);
	snprintf(buf, len, "%s%s%s%s", u->ipv6 ? "[" : "", u->host,
	    u->ipv6 ? "]" : "", port);
}

/*
 * hex(SHA-256(canonical request)) into out and the signed headers' names
 * into *signed_names (allocated).  h is sorted.  0, or -1 (memory,
 * OpenSSL).
 */
static int
hash_canonical(const char *method, const char *path, const char *query,
    const struct hdr *h, size_t nh, const char *payload_hex,
    char **signed_names, char out[SIGV4_HEX_SIZE])
{
	struct digest d;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t i, len = 1, off = 0;
	char *names;

	*signed_names = NULL;
	for (i = 0; i < nh; i++)
		len += strlen(h[i].name) + 1;
	if ((names = malloc(len)) == NULL)
		return -1;
	names[0] = '\0';
	if ((d.ctx = EVP_MD_CTX_new()) == NULL) {
		free(names);
		return -1;
	}
	d.failed = sha256() == NULL ||
	    EVP_DigestInit_ex(d.ctx, sha256(), NULL) != 1;
	feeds(&d, method);
	feed(&d, "\n", 1);
	feeds(&d, path);
	feed(&d, "\n", 1);
	feeds(&d, query);
	feed(&d, "\n", 1);
	for (i = 0; i < nh; i++) {
		if (i > 0 && strcmp(h[i].name, h[i - 1].name) == 0) {
			feed(&d, ",", 1);
		} else {
			if (i > 0)
				feed(&d, "\n", 1);
			feeds(&d, h[i].name);
			feed(&d, ":", 1);
			off += (size_t)snprintf(names + off, len - off, "%s%s",
			    off > 0 ? ";" : "", h[i].name);
		}
		feed_value(&d, h[i].value);
	}
	feed(&d, "\n\n", 2);
	feeds(&d, names);
	feed(&d, "\n", 1);
	feeds(&d, payload_hex);
	if (d.failed || EVP_DigestFinal_ex(d.ctx, md, &mdlen) != 1 ||
	    mdlen != SIGV4_SHA256_LEN) {
		EVP_MD_CTX_free(d.ctx);
		free(names);
		return -1;
	}
	EVP_MD_CTX_free(d.ctx);
	to_hex(md, mdlen, out);
	*signed_names = names;
	return 0;
}

/*
 * The last signing key derived, and what it was derived from: a SHA-256
 * of the scope and the secret, not the secret itself.  Every request of
 * a day signs with the same key, and deriving it takes four HMACs, most
 * of a small request's signing (the AWS SDKs cache it too).  One process,
 * one thread: a static is enough.
 */
static struct {
	int		 valid;
	unsigned char	 id[SIGV4_SHA256_LEN];
	unsigned char	 key[SIGV4_SHA256_LEN];
} signing_key;

/*
 * The key of secret for the scope's day (date's first 8 characters),
 * region and service, in key: 0 or -1.  The scope's parts hold no line
 * feed (check_request), so the id's input is unambiguous.
 */
static int
derive_key(const char *secret, const char *date, const char *region,
    const char *service, unsigned char key[SIGV4_SHA256_LEN])
{
	unsigned char k[SIGV4_SHA256_LEN], id[SIGV4_SHA256_LEN];
	char *scope, *ksecret, day[9];
	size_t len = strlen(secret) + 5;
	int n, rc = -1;

	snprintf(day, sizeof(day), "%.8s", date);
	if ((n = asprintf(&scope, "%s\n%s\n%s\n", day, region,
	    service)) == -1)
		return -1;
	if ((ksecret = malloc(len)) == NULL) {
		free(scope);
		return -1;
	}
	snprintf(ksecret, len, "AWS4%s", secret);
	if (digest2(scope, (size_t)n, ksecret, len - 1, id) == -1)
		goto done;
	if (signing_key.valid && memcmp(id, signing_key.id, sizeof(id)) == 0) {
		memcpy(key, signing_key.key, SIGV4_SHA256_LEN);
		rc = 0;
		goto done;
	}
	signing_key.valid = 0;
	if (hmac((unsigned char *)ksecret, len - 1, day, key) == 0 &&
	    hmac(key, SIGV4_SHA256_LEN, region, k) == 0 &&
	    hmac(k, sizeof(k), service, key) == 0 &&
	    hmac(key, SIGV4_SHA256_LEN, "aws4_request", k) == 0) {
		memcpy(key, k, sizeof(k));
		memcpy(signing_key.id, id, sizeof(id));
		memcpy(signing_key.key, k, sizeof(k));
		signing_key.valid = 1;
		rc = 0;
	}
done:
	OPENSSL_cleanse(ksecret, len);
	OPENSSL_cleanse(k, sizeof(k));
	free(ksecret);
	free(scope);
	return rc;
}

/*
 * The signature of string_to_sign with the key of secret for the scope's
 * day (date's first 8 characters), region and service, in hex.  0 or -1.
 */
static int
signature(const char *secret, const char *date, const char *region,
    const char *service, const char *string_to_sign, char out[SIGV4_HEX_SIZE])
{
	unsigned char key[SIGV4_SHA256_LEN], k[SIGV4_SHA256_LEN];
	int rc = -1;

	if (derive_key(secret, date, region, service, key) == 0 &&
	    hmac(key, sizeof(key), string_to_sign, k) == 0) {
		to_hex(k, sizeof(k), out);
		rc = 0;
	}
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(k, sizeof(k));
	return rc;
}

static int
check_request(const struct sigv4_request *r, char *err, size_t errlen)
{
	const char *what = NULL;

	if (r == NULL || r->url == NULL)
		what = "a URL";
	else if (!valid_word(r->method))
		what = "a method";
	else if (!valid_word(r->region))
		what = "a region";
	else if (!valid_word(r->service))
		what = "a service";
	else if (!valid_word(r->access_key_id))
		what = "an access key id";
	else if (r->secret_key == NULL || *r->secret_key == '\0')
		what = "a secret access key";
	else if (r->session_token != NULL &&
	    (!valid_value(r->session_token) || is_blank(*r->session_token)))
		what = "a session token without control characters";
	if (what == NULL)
		return 0;
	util_set_err(err, errlen, "sigv4: the request needs %s", what);
	errno = EINVAL;
	return -1;
}

void
sigv4_signature_free(struct sigv4_signature *sig)
{
	size_t i;

	if (sig == NULL)
		return;
	for (i = 0; i < SIGV4_LINES; i++) {
		if (sig->lines[i] != NULL &&
		    strncmp(sig->lines[i], "X-Amz-Security-Token:", 21) == 0)
			OPENSSL_cleanse(sig->lines[i], strlen(sig->lines[i]));
		free(sig->lines[i]);
		sig->lines[i] = NULL;
	}
}

/* Append a formatted line to sig; -1 when out of memory. */
static int
add_line(struct sigv4_signature *sig, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
add_line(struct sigv4_signature *sig, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&sig->lines[*n], fmt, ap);
	va_end(ap);
	if (rc == -1) {
		sig->lines[*n] = NULL;
		return -1;
	}
	(*n)++;
	return 0;
}

int
sigv4_sign(const struct sigv4_request *r, struct sigv4_signature *sig,
    char *err, size_t errlen)
{
	struct url u;
	struct hdr *h = NULL;
	char date[SIGV4_DATE_SIZE], host[URL_HOST_MAX + 16], why[128];
	char payload[SIGV4_HEX_SIZE], creq[SIGV4_HEX_SIZE];
	char sigx[SIGV4_HEX_SIZE];
	char *path = NULL, *query = NULL, *names = NULL, *sts = NULL;
	const char *token;
	size_t nlines = 0, nh = 0, nsig = 0;
	int has_host, rc = -1;

	memset(sig, 0, sizeof(*sig));
	if (check_request(r, err, errlen) == -1)
		return -1;
	token = r->session_token != NULL && *r->session_token != '\0' ?
	    r->session_token : NULL;
	if (url_parse(r->url, URL_HTTP, &u, why, sizeof(why)) == -1) {
		util_set_err(err, errlen, "sigv4: the URL %s", why);
		errno = EINVAL;
		return -1;
	}
	if (sigv4_amz_date(r->when, date) == -1) {
		util_set_err(err, errlen, "sigv4: the signing time is out of "
		    "range");
		errno = EINVAL;
		return -1;
	}
	while (r->headers != NULL && r->headers[nlines] != NULL)
		nlines++;
	if ((h = calloc(nlines + 3, sizeof(*h))) == NULL)
		goto nomem;
	if (read_headers(r->headers, h, &nh, &has_host, err, errlen) == -1)
		goto done;
	host_value(&u, host, sizeof(host));
	if ((!has_host && add_hdr(h, &nh, "host", 4, host) == -1) ||
	    add_hdr(h, &nh, "x-amz-date", 10, date) == -1 ||
	    (token != NULL &&
	    add_hdr(h, &nh, "x-amz-security-token", 20, token) == -1))
		goto nomem;
	qsort(h, nh, sizeof(*h), hdr_cmp);

	if ((path = canonical_path(u.path, u.path_len)) == NULL)
		goto nomem;
	if ((query = canonical_query(u.query, u.query_len, err,
	    errlen)) == NULL)
		goto done;
	if (sha256_hex(r->body != NULL ? r->body : "", r->body != NULL ?
	    r->body_len : 0, payload) == -1 ||
	    hash_canonical(r->method, path, query, h, nh, payload, &names,
	    creq) == -1)
		goto crypto;
	if (asprintf(&sts, SIGV4_ALGORITHM "\n%s\n%.8s/%s/%s/aws4_request\n%s",
	    date, date, r->region, r->service, creq) == -1) {
		sts = NULL;
		goto nomem;
	}
	if (signature(r->secret_key, date, r->region, r->service, sts,
	    sigx) == -1)
		goto crypto;
	if ((!has_host && add_line(sig, &nsig, "Host: %s", host) == -1) ||
	    add_line(sig, &nsig, "X-Amz-Date: %s", date) == -1 ||
	    (token != NULL && add_line(sig, &nsig, "X-Amz-Security-Token: %s",
	    token) == -1) ||
	    add_line(sig, &nsig, "Authorization: " SIGV4_ALGORITHM
	    " Credential=%s/%.8s/%s/%s/aws4_request, SignedHeaders=%s, "
	    "Signature=%s", r->access_key_id, date, r->region, r->service,
	    names, sigx) == -1)
		goto nomem;
	rc = 0;
	goto done;

crypto:
	util_set_err(err, errlen, "sigv4: SHA-256 or HMAC failed in OpenSSL");
	errno = ENOMEM;
	goto done;
nomem:
	util_set_err(err, errlen, "sigv4: out of memory");
	errno = ENOMEM;
done:
	if (rc == -1)
		sigv4_signature_free(sig);
	if (h != NULL)
		hdrs_free(h, nh);
	free(path);
	free(query);
	free(names);
	free(sts);
	url_free(&u);
	return rc;
}

/*
 * url: one parser, one set of rules, for every URL the daemon is given.
 * Before it, the configuration, the SQS client and the Edge API client
 * each had their own checks, and a URL that -t accepted could stop every
 * consumer at start.
 *
 * The rules are strict where a lax parser would hide a mistake or a
 * secret: printable ASCII only (a space or a line break in an
 * environment variable is a copy-and-paste slip, and would split a log
 * line), no user information (credentials belong in their own settings,
 * which are secrets; a URL is logged), a host of DNS characters or an
 * IPv6 literal that inet_pton(3) reads, a port curl accepts (1-65535).
 * The path is left as it is: servers decide what their paths mean.
 *
 * Schemes live in one table with the flag that accepts them, so that a
 * new family is a few rows and a flag, on the same parser.  The redis://
 * family (REDIS_URL) is the one URL that carries credentials, as every
 * Redis client's URL does: URL_USERINFO lets them through, decoded, and
 * the setting holding such a URL is a secret.  Its path is the database
 * number (URL_DB), as ioredis, redis-py and redis-cli read it.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "url.h"
#include "util.h"

struct scheme {
	const char	*name;		/* lowercase */
	int		 flag;		/* the url_parse flag accepting it */
	int		 port;		/* the default port */
	int		 tls;
};

static const struct scheme schemes[] = {
	{ "http", URL_HTTP, 80, 0 },
	{ "https", URL_HTTP, 443, 1 },
	{ "redis", URL_REDIS, 6379, 0 },
	{ "rediss", URL_REDIS, 6379, 1 },	/* TLS; same default port */
};

#define NSCHEMES	(sizeof(schemes) / sizeof(schemes[0]))
/* "[" INET6_ADDRSTRLEN "]": the longest IPv6 literal inet_pton reads. */
#define IPV6_MAX	45

static int
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 3986 unreserved characters, which is what DNS names and IPv4 use. */
static int
is_host_char(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || c == '-' || c == '.' ||
	    c == '_' || c == '~';
}

/* "must start with http:// or https://", from the schemes flags accept. */
static void
scheme_error(int flags, char *err, size_t errlen)
{
	char list[128];
	size_t i, n = 0, k = 0, total = 0;
	int w;

	for (i = 0; i < NSCHEMES; i++)
		if (schemes[i].flag & flags)
			total++;
	list[0] = '\0';
	for (i = 0; i < NSCHEMES; i++) {
		if (!(schemes[i].flag & flags))
			continue;
		w = snprintf(list + n, sizeof(list) - n, "%s%s://",
		    k == 0 ? "" : k + 1 == total ? " or " : ", ",
		    schemes[i].name);
		if (w < 0 || (size_t)w >= sizeof(list) - n)
			break;
		n += (size_t)w;
		k++;
	}
	if (total == 0)
		util_set_err(err, errlen, "has a scheme that is not accepted "
		    "here");
	else
		util_set_err(err, errlen, "must start with %s", list);
}

static const struct scheme *
find_scheme(const char *s, size_t len, int flags)
{
	size_t i;

	for (i = 0; i < NSCHEMES; i++)
		if ((schemes[i].flag & flags) &&
		    strlen(schemes[i].name) == len &&
		    strncasecmp(schemes[i].name, s, len) == 0)
			return &schemes[i];
	return NULL;
}

static int
hex_value(unsigned char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
url_decode(const char *s, size_t n, const char *what, char **out, char *err,
    size_t errlen)
{
	char *d;
	size_t i, k;
	int hi, lo;

	*out = NULL;
	if (n == 0)
		return 0;
	if ((d = malloc(n + 1)) == NULL) {
		util_set_err(err, errlen, "cannot be read: out of memory");
		return -1;
	}
	for (i = 0, k = 0; i < n; i++, k++) {
		if (s[i] != '%') {
			d[k] = s[i];
			continue;
		}
		if (i + 2 >= n || (hi = hex_value((unsigned char)
		    s[i + 1])) == -1 || (lo = hex_value((unsigned char)
		    s[i + 2])) == -1) {
			util_set_err(err, errlen, "has a %s with a '%%' not "
			    "followed by two hex digits", what);
			goto bad;
		}
		if ((d[k] = (char)(hi << 4 | lo)) == '\0') {
			util_set_err(err, errlen, "has a %s with %%00 (a NUL "
			    "byte) in it", what);
			goto bad;
		}
		i += 2;
	}
	d[k] = '\0';
	*out = d;
	return 0;
bad:
	explicit_bzero(d, n + 1);
	free(d);
	return -1;
}

/*
 * "user[:password]" of alen bytes at a, into u->user and u->password;
 * -1 with err.  The first ':' splits: a user name has none, a password
 * may.  Empty parts stay NULL.
 */
static int
parse_userinfo(const char *a, size_t alen, struct url *u, char *err,
    size_t errlen)
{
	const char *colon = memchr(a, ':', alen);
	size_t ulen = colon != NULL ? (size_t)(colon - a) : alen;

	if (url_decode(a, ulen, "user name", &u->user, err, errlen) == -1)
		return -1;
	if (colon != NULL && url_decode(colon + 1, alen - ulen - 1, "password",
	    &u->password, err, errlen) == -1)
		return -1;
	return 0;
}

/*
 * The user information, host and port of an authority of alen bytes at
 * a; -1 with err.
 */
static int
parse_authority(const char *a, size_t alen, int flags, struct url *u,
    char *err, size_t errlen)
{
	struct in6_addr in6;
	const char *end = a + alen, *h, *p;
	size_t hlen;
	long port;

	/* The last '@': a password may hold one, a host never does. */
	for (p = end; p > a && p[-1] != '@'; p--)
		;
	if (p > a) {
		if (!(flags & URL_USERINFO)) {
			util_set_err(err, errlen, "must not carry a user name "
			    "or password");
			return -1;
		}
		if (parse_userinfo(a, (size_t)(p - 1 - a), u, err,
		    errlen) == -1)
			return -1;
		alen -= (size_t)(p - a);
		a = p;
	}
	if (alen == 0) {
		util_set_err(err, errlen, "has no host");
		return -1;
	}
	if (*a == '[') {
		h = a + 1;
		if ((p = memchr(h, ']', (size_t)(end - h))) == NULL) {
			util_set_err(err, errlen, "has a '[' without its ']'");
			return -1;
		}
		hlen = (size_t)(p - h);
		if (hlen > 0 && hlen <= IPV6_MAX) {
			memcpy(u->host, h, hlen);
			u->host[hlen] = '\0';
		}
		if (hlen == 0 || hlen > IPV6_MAX ||
		    inet_pton(AF_INET6, u->host, &in6) != 1) {
			util_set_err(err, errlen, "has a host in brackets that "
			    "is not an IPv6 address");
			return -1;
		}
		u->ipv6 = 1;
		p++;
		if (p < end && *p != ':') {
			util_set_err(err, errlen, "has something other than a "
			    "port after its [IPv6] host");
			return -1;
		}
	} else {
		for (p = a; p < end && *p != ':'; p++)
			;
		hlen = (size_t)(p - a);
		if (hlen == 0) {
			util_set_err(err, errlen, "has no host");
			return -1;
		}
		if (hlen > URL_HOST_MAX) {
			util_set_err(err, errlen, "has a host longer than %d "
			    "bytes", URL_HOST_MAX);
			return -1;
		}
		for (h = a; h < p; h++) {
			if (!is_host_char((unsigned char)*h)) {
				util_set_err(err, errlen, "has a host with "
				    "characters other than letters, digits, "
				    "'-', '.', '_' and '~'");
				return -1;
			}
		}
		memcpy(u->host, a, hlen);
		u->host[hlen] = '\0';
	}
	if (p == end)
		return 0;
	/* *p == ':': 1 to 5 digits, 1..65535. */
	p++;
	port = 0;
	for (h = p; h < end && is_digit((unsigned char)*h) && h - p < 5; h++)
		port = port * 10 + (*h - '0');
	if (h == p || h != end || port < 1 || port > 65535) {
		util_set_err(err, errlen, "has a port that is not a number "
		    "from 1 to 65535");
		return -1;
	}
	u->port = (int)port;
	u->port_given = 1;
	return 0;
}

/* URL_DB: the path is nothing, "/" or "/<db>", 0..INT_MAX. */
static int
parse_db(struct url *u, char *err, size_t errlen)
{
	const char *p = u->path + 1, *end = u->path + u->path_len;
	long long db = 0;

	if (u->path_len <= 1)
		return 0;
	for (; p < end && is_digit((unsigned char)*p) && db <= INT_MAX; p++)
		db = db * 10 + (*p - '0');
	if (p < end && *p == '/' && p > u->path + 1) {
		util_set_err(err, errlen, "has a path beyond the database "
		    "number (/<db>)");
		return -1;
	}
	if (p < end || db > INT_MAX) {
		util_set_err(err, errlen, "has a path that is not a database "
		    "number from 0 to %d", INT_MAX);
		return -1;
	}
	u->db = (int)db;
	u->db_given = 1;
	return 0;
}

static int
parse(const char *s, int flags, struct url *u, char *err, size_t errlen)
{
	const struct scheme *sc;
	const char *p, *a, *rest;
	size_t len, i;

	if (s == NULL || *s == '\0') {
		util_set_err(err, errlen, "is empty");
		return -1;
	}
	if ((len = strlen(s)) > URL_MAX) {
		util_set_err(err, errlen, "is longer than %d bytes", URL_MAX);
		return -1;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] <= 0x20 ||
		    (unsigned char)s[i] >= 0x7f) {
			util_set_err(err, errlen, "contains a space, a control "
			    "character or a non-ASCII byte");
			return -1;
		}
	}
	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then "://". */
	for (p = s; is_alpha((unsigned char)*p) ||
	    (p > s && (is_digit((unsigned char)*p) || *p == '+' || *p == '-' ||
	    *p == '.')); p++)
		;
	if (p == s || strncmp(p, "://", 3) != 0 ||
	    (sc = find_scheme(s, (size_t)(p - s), flags)) == NULL) {
		scheme_error(flags, err, errlen);
		return -1;
	}
	u->scheme = sc->name;
	u->tls = sc->tls;
	u->port = sc->port;
	a = p + 3;
	rest = a + strcspn(a, "/?#");
	if (parse_authority(a, (size_t)(rest - a), flags, u, err,
	    errlen) == -1)
		return -1;
	if (*rest == '/') {
		u->path = rest;
		u->path_len = strcspn(rest, "?#");
		rest += u->path_len;
	}
	if (*rest == '?') {
		u->query = rest + 1;
		u->query_len = strcspn(u->query, "#");
		rest = u->query + u->query_len;
	}
	if (*rest == '#') {
		u->fragment = rest + 1;
		u->fragment_len = strlen(u->fragment);
	}
	if ((flags & URL_NO_QUERY) &&
	    (u->query != NULL || u->fragment != NULL)) {
		util_set_err(err, errlen, "must not have a query or fragment");
		return -1;
	}
	if ((flags & URL_PATH) && u->path_len <= 1) {
		util_set_err(err, errlen, "has no path after the host");
		return -1;
	}
	if ((flags & URL_DB) && parse_db(u, err, errlen) == -1)
		return -1;
	return 0;
}

int
url_parse(const char *s, int flags, struct url *u, char *err, size_t errlen)
{
	memset(u, 0, sizeof(*u));
	u->path = "";
	if (parse(s, flags, u, err, errlen) == -1) {
		url_free(u);
		return -1;
	}
	return 0;
}

void
url_free(struct url *u)
{
	if (u->password != NULL)
		explicit_bzero(u->password, strlen(u->password));
	free(u->password);
	free(u->user);
	u->password = u->user = NULL;
}

int
url_check(const char *s, int flags)
{
	struct url u;
	int rc;

	rc = url_parse(s, flags, &u, NULL, 0);
	url_free(&u);
	return rc;
}

int
url_origin(const struct url *u, char *buf, size_t len)
{
	char port[8];
	int n;

	if (buf == NULL || len == 0)
		return -1;
	port[0] = '\0';
	if (u->port_given)
		snprintf(port, sizeof(port), ":%d", u->port);
	n = snprintf(buf, len, "%s://%s%s%s%s/", u->scheme,
	    u->ipv6 ? "[" : "", u->host, u->ipv6 ? "]" : "", port);
	if (n < 0 || (size_t)n >= len) {
		buf[0] = '\0';
		return -1;
	}
	return 0;
}

void
url_mask(const char *s, char *buf, size_t len)
{
	const char *start, *at, *colon;

	if (buf == NULL || len == 0)
		return;
	if (s == NULL)
		s = "";
	/*
	 * Between the scheme and the last '@', whatever the URL's shape
	 * (a password may hold a '/' or an '@'), what follows the first ':'
	 * goes: a user name has no ':', a password may.  Without a ':' all
	 * of it goes: redis-cli takes "redis://secret@host" for a password.
	 * Masking a host too much in an error line costs nothing.
	 */
	start = (start = strstr(s, "://")) != NULL ? start + 3 : s;
	if ((at = strrchr(start, '@')) == NULL)
		snprintf(buf, len, "%s", s);
	else if ((colon = memchr(start, ':', (size_t)(at - start))) == NULL)
		snprintf(buf, len, "%.*s***%s", (int)(start - s), s, at);
	else
		snprintf(buf, len, "%.*s***%s", (int)(colon + 1 - s), s, at);
}

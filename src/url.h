/*
 * url: the one parser and validator of the URLs in the settings
 * (QUEUE_URL, EDGE_API_URL, REDIS_URL).  The configuration check (-t)
 * and the modules that use a URL (sqs, edge, config for REDIS_URL) call
 * it with the same flags, so whatever -t accepts the consumers accept.
 * Pure: no I/O; errors go to the caller's buffer and never quote the
 * URL, so a password in a URL's user information reaches no log line.
 */
#ifndef PCS_URL_H
#define PCS_URL_H

#include <stddef.h>

#define URL_MAX		2048	/* bytes of a whole URL */
#define URL_HOST_MAX	255	/* bytes of a host name (DNS' limit) */

/* Flags of url_parse. */
#define URL_HTTP	0x01	/* accept the http:// and https:// schemes */
#define URL_REDIS	0x02	/* accept the redis:// and rediss:// schemes */
#define URL_PATH	0x10	/* a path beyond "/" is required */
#define URL_NO_QUERY	0x20	/* no query ("?") and no fragment ("#") */
#define URL_USERINFO	0x40	/* "user:password@" allowed, decoded */
#define URL_DB		0x80	/* the path is "", "/" or "/<db>" */

/* Where the project's URLs go. */
#define URL_QUEUE	(URL_HTTP | URL_PATH | URL_NO_QUERY)	/* QUEUE_URL */
#define URL_BASE	(URL_HTTP | URL_NO_QUERY)	/* EDGE_API_URL */
/* REDIS_URL: redis://[user[:password]@]host[:port][/db] */
#define URL_REDIS_URL	(URL_REDIS | URL_USERINFO | URL_DB | URL_NO_QUERY)

struct url {
	const char	*scheme;	/* lowercase: "http", "redis", ... */
	int		 tls;		/* the scheme runs over TLS */
	char		 host[URL_HOST_MAX + 1];	/* without brackets */
	int		 ipv6;		/* the host was an [IPv6] literal */
	int		 port;		/* as given, or the scheme's default */
	int		 port_given;
	/* Into the parsed string, valid as long as it is. */
	const char	*path;		/* from its '/'; "" when none */
	size_t		 path_len;
	const char	*query;		/* after the '?'; NULL when none */
	size_t		 query_len;
	const char	*fragment;	/* after the '#'; NULL when none */
	size_t		 fragment_len;
	/*
	 * URL_USERINFO: percent-decoded, allocated (url_free releases
	 * them); NULL when absent or empty, so "redis://:pw@h" has no user
	 * and "redis://u@h" no password.
	 */
	char		*user;
	char		*password;	/* a secret: zeroed by url_free */
	/* URL_DB: the number after the '/', 0 when none. */
	int		 db;
	int		 db_given;
};

/*
 * Parse s, a URL of one of the schemes flags accept:
 * scheme://host[:port][/path][?query][#fragment], the scheme in any
 * case, the host a name or IPv4 address (letters, digits, '-', '.', '_',
 * '~') or an [IPv6] address, the port 1 to 65535, every byte printable
 * ASCII, at most URL_MAX bytes, and no user information
 * ("user:password@") unless URL_USERINFO allows it: then the authority's
 * last '@' ends it, its first ':' splits the user from the password, and
 * both are percent-decoded (%XX; a NUL byte is refused).  With URL_DB
 * the path is nothing, "/" or "/" and 1 to 10 digits, 0 to INT_MAX.
 * 0 with *u filled, or -1 with err: one phrase to follow the URL's name
 * ("QUEUE_URL must not carry a user name or password"), never a piece of
 * s; on -1 nothing is left allocated.
 */
int	url_parse(const char *s, int flags, struct url *u, char *err,
	    size_t errlen);
/*
 * The n bytes at s percent-decoded into *out (allocated, NUL-terminated;
 * NULL when n is 0), what naming the part in err ("user name",
 * "password"); -1 with err for a '%' not followed by two hex digits or
 * a %00.  A '+' stays a '+'.
 */
int	url_decode(const char *s, size_t n, const char *what, char **out,
	    char *err, size_t errlen);
/* Frees u's user and password (the password zeroed first); idempotent. */
void	url_free(struct url *u);
/* 0 when s passes url_parse with flags, else -1: for check functions. */
int	url_check(const char *s, int flags);

/*
 * "scheme://host[:port]/" of u, an IPv6 host in brackets, the port when
 * it was given: 0, or -1 when buf is too small.
 */
int	url_origin(const struct url *u, char *buf, size_t len);

/*
 * s (valid or not) for an error message, its password gone: of what
 * stands between the "://" and the last '@', what follows the first ':'
 * becomes "***" ("redis://user:***@host"), and all of it when there is
 * no ':' (redis-cli reads "redis://secret@host" as a password).  Cut to
 * fit len; always NUL-terminated.
 */
void	url_mask(const char *s, char *buf, size_t len);

#endif

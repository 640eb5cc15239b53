/*
 * sigv4: AWS Signature Version 4 and the clock it signs with.
 *
 * The signing clock is the process' own: time(NULL) plus an offset that
 * starts at 0 and changes only when AWS says our clock is wrong (a
 * clock-skew error, sigv4_is_skew_error) and tells its own time (the
 * answer's Date header, sigv4_skew).  That is what the AWS SDKs do; it
 * keeps a consumer working on a host whose clock drifted past SigV4's
 * five minutes until NTP is fixed.
 *
 * The signer (sigv4_sign) computes the Authorization header for one
 * request, by AWS' rules for the canonical request, with OpenSSL's
 * SHA-256 and HMAC.  httpc uses it where libcurl cannot sign at a time
 * it is given (see httpc.h).  Pure: no I/O, no log; errors go to the
 * caller's buffer and never hold a secret, a token or a header's value.
 */
#ifndef PCS_SIGV4_H
#define PCS_SIGV4_H

#include <stddef.h>
#include <time.h>

/* "20150830T123600Z" and its NUL: the form of X-Amz-Date. */
#define SIGV4_DATE_SIZE		17
/* The header lines sigv4_sign adds to a request, at most. */
#define SIGV4_LINES		4

/* The signing clock: time(NULL) + sigv4_offset(). */
time_t	sigv4_now(void);
/* Seconds the signing clock runs ahead of ours (negative: behind). */
long	sigv4_offset(void);
void	sigv4_set_offset(long offset);
/*
 * Sign with peer's time from now on (offset from sigv4_skew), and log it
 * when it moves the clock by more than SIGV4_SKEW_LOG_S: "aws: the clock
 * is 312s behind SQS's; signing with SQS's time".
 */
#define SIGV4_SKEW_LOG_S	5
void	sigv4_follow(long offset, const char *peer);

/*
 * The server's clock minus local_now, in seconds, from the value of a
 * Date header in RFC 7231's IMF-fixdate ("Sun, 06 Nov 1994 08:49:37
 * GMT"): exactly that form, day and month names as written there, the
 * day name matching the date, the date and time in range (second 60, a
 * leap second, counts into the next minute), the year 1970 or later.
 * 0 with *offset, or -1 (nothing read, *offset untouched).  RFC 7231's
 * obsolete forms are refused: it has senders generate IMF-fixdate only.
 */
int	sigv4_skew(const char *date, time_t local_now, long *offset);

/*
 * Whether an error answer (HTTP status, the AWS error code without its
 * namespace, its message; NULL for none) says the request's time was
 * outside the five minutes AWS allows: a 400 or 403 with the code
 * RequestTimeTooSkewed, RequestExpired or RequestInTheFuture, or with
 * InvalidSignatureException or SignatureDoesNotMatch and a message that
 * starts with "Signature expired" or "Signature not yet current" (what
 * SQS and STS answer; a SignatureDoesNotMatch without those words is a
 * wrong secret, not a clock).
 */
int	sigv4_is_skew_error(long status, const char *code, const char *message);

/* "20150830T123600Z" for t into buf: 0, or -1 if t is out of range. */
int	sigv4_amz_date(time_t t, char buf[SIGV4_DATE_SIZE]);

struct sigv4_request {
	const char		*method;	/* "GET", "POST", ... */
	/*
	 * scheme://host[:port][/path][?query] as it goes on the wire
	 * (url_parse with URL_HTTP): the path is encoded once more for the
	 * canonical request, the query decoded and encoded again.
	 */
	const char		*url;
	/*
	 * "Name: value" lines, NULL-terminated (NULL: none), each with a
	 * value (curl drops a "Name:" line), all of them signed: give only
	 * what goes out as given.  A Host line is used as it is; without
	 * one the host comes from the URL.  No Authorization, X-Amz-Date
	 * or X-Amz-Security-Token: those are the signer's.
	 */
	const char *const	*headers;
	const char		*body;		/* NULL: none */
	size_t			 body_len;
	const char		*region;	/* "us-east-1" */
	const char		*service;	/* "sqs" */
	const char		*access_key_id;
	const char		*secret_key;
	const char		*session_token;	/* NULL or "": none */
	time_t			 when;		/* the signing time */
};

/*
 * The "Name: value" lines to add to the request, NULL-terminated and in
 * this order: "Host: ..." (only when the request had no Host line: the
 * host that was signed, to be sent as it is), "X-Amz-Date: ...",
 * "X-Amz-Security-Token: ..." (with a token; signed) and
 * "Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
 * Signature=...".
 */
struct sigv4_signature {
	char	*lines[SIGV4_LINES + 1];
};

/*
 * Sign req into *sig (free it with sigv4_signature_free): 0, or -1 with
 * err and errno (EINVAL: a request that cannot be signed, ENOMEM), *sig
 * then empty.
 */
int	sigv4_sign(const struct sigv4_request *req, struct sigv4_signature *sig,
	    char *err, size_t errlen);
/* Zero the token's line and free every line; idempotent. */
void	sigv4_signature_free(struct sigv4_signature *sig);

#endif

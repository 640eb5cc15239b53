/*
 * events: turns one SQS message body (spec/events.md) into a struct event
 * the cache writer applies without further thought: the ids, the version
 * (epoch ms) of the data, and the values of the Redis layout
 * (spec/redis-layout.md) already rendered as JSON text.  It owns every
 * decision about what Stigg may send and what the SDK must read back, so
 * that the rest of the daemon never looks inside a message.  The Edge API
 * answer to a thin notification goes through the same renderer, so a
 * refill writes exactly what the full notification would have.
 *
 * Pure: no I/O, no logging.  A message is either taken whole or rejected
 * with one line in the caller's buffer; nothing is half-filled.
 */
#include "autoconf.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "events.h"
#include "jdoc.h"
#include "jw.h"
#include "util.h"

/* Longest piece of a value quoted back in an error message. */
#define MAX_SHOWN	64
#define QUOTE_SIZE	(MAX_SHOWN + 8)	/* quotes, "...", NUL */

/*
 * An Edge API answer is one customer's whole list of entitlements, not an
 * SQS body, so EVENTS_MAX_BODY (the SQS message limit) does not bound it;
 * this only refuses a runaway answer.
 */
#define EDGE_MAX_BODY	(16 * 1024 * 1024)

/*
 * Dates must fall between the epoch and the last millisecond of a
 * four-digit year: a version or a period end outside that is garbage,
 * and a negative "#timestamp" would confuse every reader.
 */
#define MAX_DATE_MS	INT64_C(253402300799999)

/* An integral double in this range converts to int64 exactly. */
#define INT64_AS_DOUBLE	9223372036854775808.0

#define MS_PER_DAY	INT64_C(86400000)

/* Where a parse is and where its error goes. */
struct pctx {
	char		*err;
	size_t		 errlen;
	const char	*prefix;	/* "", "sns message: " or "edge: " */
	int		 nomem;		/* the failure was out of memory */
};

/* What the renderer produced, committed to the event only on success. */
struct rendered {
	enum event_kind	 kind;		/* EVENT_ENTITLEMENTS */
	char		*resource_id;	/* found in the entitlements */
	char		*entitlements_json;
	char		*metadata_json;
	struct event_usage *usage;
	size_t		 nusage;
	size_t		 cap;
};

/* The handled types, spelled after normalisation (see normalise_type). */
enum handler {
	H_ENTITLEMENTS,
	H_USAGE,
	H_PURGE,
	H_CUSTOMER_DELETED,
	H_PACKAGE
};

static const struct {
	const char	*name;
	enum handler	 h;
} handled[] = {
	{ "ENTITLEMENTS_UPDATED", H_ENTITLEMENTS },
	{ "MEASUREMENT_REPORTED", H_USAGE },
	{ "ENTITLEMENT_USAGE_EXCEEDED", H_USAGE },
	{ "USAGE_THRESHOLD_EXCEEDED", H_USAGE },
	{ "CUSTOMER_DELETED", H_CUSTOMER_DELETED },
	{ "PURGE_CUSTOMER_PERSISTENT_CACHE_REQUESTED", H_PURGE },
	{ "PACKAGE_PUBLISHED", H_PACKAGE },
	{ "PLAN_UPDATED", H_PACKAGE },
	{ "ADDON_UPDATED", H_PACKAGE }
};

#define NHANDLED	(sizeof(handled) / sizeof(handled[0]))

/* The SDK's spellings of a reset period, and the -LY forms it may come in. */
static const struct {
	const char	*from;
	const char	*to;
} periods[] = {
	{ "YEARLY", "YEAR" },
	{ "MONTHLY", "MONTH" },
	{ "WEEKLY", "WEEK" },
	{ "DAILY", "DAY" },
	{ "HOURLY", "HOUR" }
};

#define NPERIODS	(sizeof(periods) / sizeof(periods[0]))

static int
is(const struct jnode *v, enum jtype type)
{
	return v != NULL && v->type == type;
}

static int	fail(struct pctx *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static int
fail(struct pctx *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->err == NULL || p->errlen == 0)
		return -1;
	n = snprintf(p->err, p->errlen, "%s", p->prefix);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/*
 * Out of memory is our trouble, not the message's: it is flagged here and
 * returned as EVENTS_NOMEM, so that callers never compare error strings
 * (which carry a prefix such as "sns message: ").
 */
static int
oom(struct pctx *p)
{
	p->nomem = 1;
	return fail(p, "out of memory");
}

/*
 * Shows len bytes of s in an error message, in buf of QUOTE_SIZE bytes:
 * one line of printable ASCII, at most MAX_SHOWN characters of the value,
 * in quotes or not.
 */
static const char *
show(char *buf, const char *s, size_t len, int quoted)
{
	(void)util_clean(buf, QUOTE_SIZE, s, len, MAX_SHOWN, UTIL_CLEAN_DOTS |
	    UTIL_CLEAN_ASCII | (quoted ? UTIL_CLEAN_QUOTE : 0));
	return buf;
}

static const char *
quote(char *buf, const char *s, size_t len)
{
	return show(buf, s, len, 1);
}

/*
 * Quotes a JSON string's bytes, or a number's text as sent (the only
 * other values quoted back).
 */
static const char *
quote_str(char *buf, const struct jnode *v)
{
	if (v->s == NULL)
		return quote(buf, "", 0);
	return quote(buf, v->s, (size_t)v->len);
}

/* Appends what fits of s[0..n) at buf[*off], NUL-terminated, as snprintf. */
static void
append(char *buf, size_t len, size_t *off, const char *s, size_t n)
{
	if (*off >= len)
		return;
	if (n > len - *off - 1)
		n = len - *off - 1;
	memcpy(buf + *off, s, n);
	*off += n;
	buf[*off] = '\0';
}

/* "where.name", or "name" at the top level, for error messages. */
static const char *
field_name(char *buf, size_t len, const char *where, const char *name)
{
	size_t n = 0;

	if (where != NULL && *where != '\0') {
		append(buf, len, &n, where, strlen(where));
		append(buf, len, &n, ".", 1);
	}
	append(buf, len, &n, name, strlen(name));
	return buf;
}

/* "list[i]", for error messages; as field_name, without printf. */
static const char *
index_name(char *buf, size_t len, const char *list, size_t i)
{
	char digits[24], *d = digits + sizeof(digits);
	size_t n = 0;

	do {
		*--d = (char)('0' + i % 10);
		i /= 10;
	} while (i != 0);
	append(buf, len, &n, list, strlen(list));
	append(buf, len, &n, "[", 1);
	append(buf, len, &n, d, (size_t)(digits + sizeof(digits) - d));
	append(buf, len, &n, "]", 1);
	return buf;
}

/*
 * Copies a label (type, message id) for logs: bounded, cut on a UTF-8
 * character boundary, control characters and invalid UTF-8 replaced so
 * that it stays on one line.
 */
static void
copy_label(char *dst, size_t size, const char *s, size_t len)
{
	(void)util_clean(dst, size, s, len, 0, 0);
}

/* A string member's copy for logs (copy_label); "" when not a string. */
static void
label(char *dst, size_t size, const struct jnode *v)
{
	if (is(v, JT_STRING))
		copy_label(dst, size, v->s, v->len);
	else
		dst[0] = '\0';
}

/*
 * An integer beyond int64: a double to jdoc (infinite past some 309
 * digits), an integer clamped to json-c, and so to the writer
 * (jw_big_integer): always finite.
 */
static int
big_integer(const struct jnode *v)
{
	return v->type == JT_DOUBLE && strpbrk(v->s, ".eE") == NULL;
}

static char
ascii_upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* Whether the JSON string v is word, ignoring ASCII case. */
static int
str_is(const struct jnode *v, const char *word)
{
	const char *s = v->s;
	size_t i, len = (size_t)v->len;

	if (len != strlen(word))
		return 0;
	for (i = 0; i < len; i++)
		if (ascii_upper(s[i]) != ascii_upper(word[i]))
			return 0;
	return 1;
}

/* A member, or NULL when absent or JSON null. */
static const struct jnode *
member(const struct jnode *o, const char *name)
{
	const struct jnode *v = jnode_member(o, name);

	return v == NULL || v->type == JT_NULL ? NULL : v;
}

static int
present(const struct jnode *o, const char *name)
{
	return jnode_member(o, name) != NULL;
}

/* An optional string member: *vp is NULL when absent or null. */
static int
get_string(struct pctx *p, const struct jnode *o, const char *where,
    const char *name, const struct jnode **vp)
{
	char f[160];

	*vp = member(o, name);
	if (*vp != NULL && !is(*vp, JT_STRING))
		return fail(p, "%s: expected a string",
		    field_name(f, sizeof(f), where, name));
	return 0;
}

/* An optional object member: *vp is NULL when absent or null. */
static int
get_object(struct pctx *p, const struct jnode *o, const char *where,
    const char *name, const struct jnode **vp)
{
	char f[160];

	*vp = member(o, name);
	if (*vp != NULL && !is(*vp, JT_OBJECT))
		return fail(p, "%s: expected an object or null",
		    field_name(f, sizeof(f), where, name));
	return 0;
}

/* An optional boolean member, false when absent or null. */
static int
get_bool(struct pctx *p, const struct jnode *o, const char *where,
    const char *name, int *b)
{
	const struct jnode *v = member(o, name);
	char f[160];

	*b = 0;
	if (v == NULL)
		return 0;
	if (!is(v, JT_BOOL))
		return fail(p, "%s: expected a boolean",
		    field_name(f, sizeof(f), where, name));
	*b = v->v.b ? 1 : 0;
	return 0;
}

static int
is_number(const struct jnode *v)
{
	return is(v, JT_INT) || is(v, JT_DOUBLE);
}

/* A number JSON can carry: not NaN nor an infinity. */
static int
finite_number(const struct jnode *v)
{
	return !is(v, JT_DOUBLE) || big_integer(v) || isfinite(v->v.d);
}

/*
 * A number member, finite, for jw_number (*vp NULL when absent or null).
 * required: absent or null is an error.
 */
static int
get_number(struct pctx *p, const struct jnode *o, const char *where,
    const char *name, int required, const struct jnode **vp)
{
	const struct jnode *v = member(o, name);
	char f[160];

	*vp = NULL;
	if (v == NULL)
		return required ? fail(p, "%s is missing",
		    field_name(f, sizeof(f), where, name)) : 0;
	if (!is_number(v))
		return fail(p, "%s: expected a number",
		    field_name(f, sizeof(f), where, name));
	if (!finite_number(v))
		return fail(p, "%s: expected a finite number",
		    field_name(f, sizeof(f), where, name));
	*vp = v;
	return 0;
}

/* Whether every number inside v is finite (JSON has no NaN). */
static int
all_finite(const struct jnode *v)
{
	const struct jnode *k;

	for (k = v; k < jnode_next(v); k++)
		if (k->type == JT_DOUBLE && !big_integer(k) &&
		    !isfinite(k->v.d))
			return 0;
	return 1;
}

/*
 * A customer, resource or feature id: a non-empty string of at most
 * EVENTS_MAX_ID bytes, used verbatim.  A NUL byte (JSON "\u0000") is
 * refused: the id becomes part of a Redis key handled as a C string.
 */
static int
check_id(struct pctx *p, const char *where, const char *name,
    const struct jnode *v)
{
	char f[160];
	size_t len;

	if (!is(v, JT_STRING))
		return fail(p, "%s: expected a string",
		    field_name(f, sizeof(f), where, name));
	len = (size_t)v->len;
	if (len == 0)
		return fail(p, "%s is empty", field_name(f, sizeof(f), where,
		    name));
	if (len > EVENTS_MAX_ID)
		return fail(p, "%s is longer than %d bytes",
		    field_name(f, sizeof(f), where, name), EVENTS_MAX_ID);
	if (strlen(v->s) != len)
		return fail(p, "%s contains a NUL byte",
		    field_name(f, sizeof(f), where, name));
	return 0;
}

static int
same_id(const struct jnode *v, const char *id)
{
	return strcmp(v->s, id) == 0;
}

static int
digits(const char *s, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

static int
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int y, int m)
{
	static const int days[] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/*
 * Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil): no timegm(), no TZ, no locale.
 */
static int64_t
days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/*
 * "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm|+hhmm|-hhmm)", the
 * fraction of any length (milliseconds kept, the rest truncated), 'T' and
 * 'Z' in either case (RFC 3339 allows it); or a string of decimal digits,
 * taken as epoch milliseconds.  Leap second 60 is accepted and counts
 * into the next minute, as POSIX time does.
 */
int
events_parse_date(const char *s, int64_t *ms)
{
	int y, mo, d, h, mi, sec, oh, om, frac, nfrac, sign;
	const char *q;
	int64_t t;

	if (s == NULL || *s == '\0')
		return -1;
	if (strspn(s, "0123456789") == strlen(s)) {
		if (strlen(s) > 15)
			return -1;
		t = strtoll(s, NULL, 10);
		if (t > MAX_DATE_MS)
			return -1;
		*ms = t;
		return 0;
	}
	if (digits(s, 4, &y) == -1 || s[4] != '-' ||
	    digits(s + 5, 2, &mo) == -1 || s[7] != '-' ||
	    digits(s + 8, 2, &d) == -1 || (s[10] != 'T' && s[10] != 't') ||
	    digits(s + 11, 2, &h) == -1 || s[13] != ':' ||
	    digits(s + 14, 2, &mi) == -1 || s[16] != ':' ||
	    digits(s + 17, 2, &sec) == -1)
		return -1;
	q = s + 19;
	frac = 0;
	if (*q == '.') {
		q++;
		if (*q < '0' || *q > '9')
			return -1;
		for (nfrac = 0; *q >= '0' && *q <= '9'; q++)
			if (nfrac < 3) {
				frac = frac * 10 + (*q - '0');
				nfrac++;
			}
		for (; nfrac < 3; nfrac++)
			frac *= 10;
	}
	sign = oh = om = 0;
	if (*q == 'Z' || *q == 'z')
		q++;
	else if (*q == '+' || *q == '-') {
		sign = *q == '+' ? 1 : -1;
		if (digits(q + 1, 2, &oh) == -1)
			return -1;
		q += 3;
		if (*q == ':')
			q++;
		if (digits(q, 2, &om) == -1)
			return -1;
		q += 2;
	} else
		return -1;
	if (*q != '\0')
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
	    h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59)
		return -1;
	t = days_from_civil(y, mo, d) * MS_PER_DAY +
	    ((int64_t)h * 3600 + mi * 60 + sec) * 1000 + frac -
	    (int64_t)sign * (oh * 60 + om) * 60000;
	if (t < 0 || t > MAX_DATE_MS)
		return -1;
	*ms = t;
	return 0;
}

/*
 * A date member: an ISO-8601 string or a number of epoch milliseconds
 * (an integer, or a double with an integral value).  *found is 0 when
 * absent or null.
 */
static int
get_date(struct pctx *p, const struct jnode *o, const char *where,
    const char *name, int *found, int64_t *ms)
{
	const struct jnode *v = member(o, name);
	char f[160], q[QUOTE_SIZE];
	const char *s;
	double d;
	int64_t t;

	*found = 0;
	if (v == NULL)
		return 0;
	switch (v->type) {
	case JT_STRING:
		s = v->s;
		if (strlen(s) != (size_t)v->len ||
		    events_parse_date(s, &t) == -1)
			return fail(p, "%s: %s is not an ISO-8601 date",
			    field_name(f, sizeof(f), where, name),
			    quote_str(q, v));
		break;
	case JT_INT:
		t = v->v.i;
		if (t < 0 || t > MAX_DATE_MS)
			return fail(p, "%s: %s is out of range for epoch "
			    "milliseconds", field_name(f, sizeof(f), where,
			    name), quote_str(q, v));
		break;
	case JT_DOUBLE:
		d = v->v.d;
		if (!(d >= 0 && d <= (double)MAX_DATE_MS) ||
		    (double)(int64_t)d != d)
			return fail(p, "%s: %s is not a number of epoch "
			    "milliseconds", field_name(f, sizeof(f), where,
			    name), quote_str(q, v));
		t = (int64_t)d;
		break;
	default:
		return fail(p, "%s: expected an ISO-8601 date or epoch "
		    "milliseconds", field_name(f, sizeof(f), where, name));
	}
	*found = 1;
	*ms = t;
	return 0;
}

/*
 * The version of the data: the first of two date members present, else
 * the SQS SentTimestamp.  Both members are checked when present: a date
 * that does not parse makes the message bad even if unused.
 */
static int
get_version(struct pctx *p, const struct jnode *root, const char *first,
    const char *second, int64_t sent, int64_t *version)
{
	int64_t a = 0, b = 0;
	int fa, fb = 0;

	if (get_date(p, root, NULL, first, &fa, &a) == -1 ||
	    (second != NULL && get_date(p, root, NULL, second, &fb, &b) == -1))
		return -1;
	*version = fa ? a : fb ? b : sent;
	return 0;
}

/*
 * The customer id (customer.id, customerId, and for customer.deleted,
 * whose body is the customer itself, the top-level id: the first present
 * is the one, and it must be valid) and the resource id (resource.id or
 * resourceId; none: customer-scoped).
 */
static int
get_ids(struct pctx *p, const struct jnode *root, int top_id,
    struct event *ev)
{
	const struct jnode *customer, *resource, *v;
	const char *field;

	if (get_object(p, root, NULL, "customer", &customer) == -1 ||
	    get_object(p, root, NULL, "resource", &resource) == -1)
		return -1;
	field = "customer.id";
	if ((v = member(customer, "id")) == NULL) {
		field = "customerId";
		v = member(root, "customerId");
	}
	if (v == NULL && top_id) {
		field = "id";
		v = member(root, "id");
	}
	if (v == NULL)
		return fail(p, "customer id is missing");
	if (check_id(p, NULL, field, v) == -1)
		return -1;
	if ((ev->customer_id = strdup(v->s)) == NULL)
		return oom(p);

	field = "resource.id";
	if ((v = member(resource, "id")) == NULL) {
		field = "resourceId";
		v = member(root, "resourceId");
	}
	if (v == NULL) {
		/* A resource without its id is not the customer itself. */
		if (resource != NULL)
			return fail(p, "resource id is missing");
		return 0;
	}
	if (check_id(p, NULL, field, v) == -1)
		return -1;
	if ((ev->resource_id = strdup(v->s)) == NULL)
		return oom(p);
	return 0;
}

/*
 * The cache JSON is written with jw (jw.h), as the bytes json-c's printer
 * gave when the values were built as a second json-c tree only to be
 * printed: the SDK reads these bytes, and tests/unit/check_render pins
 * them.
 */

/* A JSON string member's value, its bytes as they are. */
static void
jw_jstr(struct jw *w, const struct jnode *v)
{
	jw_str(w, v->s, v->len, 0);
}

/*
 * An integer too large for int64 (jdoc makes it a double, its text kept),
 * as json-c read it: clamped to INT64_MIN below, and above to INT64_MAX
 * as an int64 (as_int64) or, printed as a value, to UINT64_MAX.  Its
 * text as sent when it fits.
 */
static void
jw_big_integer(struct jw *w, const struct jnode *v, int as_int64)
{
	static const char umax[] = "18446744073709551615";

	if (v->s[0] == '-')
		jw_int(w, INT64_MIN);
	else if (as_int64)
		jw_int(w, INT64_MAX);
	else if (v->len > sizeof(umax) - 1 || (v->len == sizeof(umax) - 1 &&
	    strcmp(v->s, umax) > 0))
		jw_lit(w, "18446744073709551615");
	else
		jw_raw(w, v->s, v->len);
}

/*
 * A value of the input as json-c printed it, the bytes the SDK has always
 * read: a double in the sender's own spelling, an integer in decimal,
 * strings as jw_str escapes them, a repeated member name once, in its
 * first place with its last value (jnode_members); resetPeriodConfiguration
 * is written so, as it came.
 */
static void
jw_value(struct jw *w, const struct jnode *v)
{
	const struct jnode *e;
	struct jmember *m;
	size_t j, n;
	uint32_t i;

	switch (v->type) {
	case JT_NULL:
		jw_lit(w, "null");
		break;
	case JT_BOOL:
		if (v->v.b)
			jw_lit(w, "true");
		else
			jw_lit(w, "false");
		break;
	case JT_INT:
		jw_int(w, v->v.i);
		break;
	case JT_DOUBLE:
		if (big_integer(v))
			jw_big_integer(w, v, 0);
		else
			jw_raw(w, v->s, v->len);
		break;
	case JT_STRING:
		jw_jstr(w, v);
		break;
	case JT_ARRAY:
		jw_lit(w, "[");
		for (i = 0, e = v + 1; i < v->len; i++, e = jnode_next(e)) {
			if (i > 0)
				jw_lit(w, ",");
			jw_value(w, e);
		}
		jw_lit(w, "]");
		break;
	case JT_OBJECT:
		if (jnode_members(v, &m, &n) != 0) {
			w->nomem = 1;
			break;
		}
		jw_lit(w, "{");
		for (j = 0; j < n; j++) {
			if (j > 0)
				jw_lit(w, ",");
			jw_jstr(w, m[j].key);
			jw_lit(w, ":");
			jw_value(w, m[j].value);
		}
		jw_lit(w, "}");
		free(m);
		break;
	}
}

/*
 * A number checked by check_number: integral values (1000, 1000.0, 1e3)
 * as int64, others as the double the sender wrote (printing the double
 * again would turn 4.3 into 4.2999999999999998); NULL is 0.
 */
static void
jw_number(struct jw *w, const struct jnode *v)
{
	double d;

	if (v == NULL)
		jw_lit(w, "0");
	else if (is(v, JT_INT))
		jw_int(w, v->v.i);
	else if (big_integer(v))
		jw_big_integer(w, v, 1);
	else {
		d = v->v.d;
		if (d > -INT64_AS_DOUBLE && d < INT64_AS_DOUBLE &&
		    (double)(int64_t)d == d)
			jw_int(w, (int64_t)d);
		else
			jw_value(w, v);
	}
}

/* A date member's value: epoch ms, or null when it was absent. */
static void
jw_date(struct jw *w, int found, int64_t ms)
{
	if (found)
		jw_int(w, ms);
	else
		jw_lit(w, "null");
}


/*
 * The usage JSON of one feature: {"currentUsage":N,"usagePeriodStart":
 * ms|null,"usagePeriodEnd":ms|null}; cur as jw_number takes it.
 */
static char *
usage_text(struct pctx *p, const struct jnode *cur, int has_start,
    int64_t start, int has_end, int64_t end)
{
	struct jw w = JW_INIT;
	char *s;

	jw_lit(&w, "{\"currentUsage\":");
	jw_number(&w, cur);
	jw_lit(&w, ",\"usagePeriodStart\":");
	jw_date(&w, has_start, start);
	jw_lit(&w, ",\"usagePeriodEnd\":");
	jw_date(&w, has_end, end);
	jw_lit(&w, "}");
	if ((s = jw_take(&w)) == NULL)
		oom(p);
	return s;
}

/*
 * The body as one JSON object, with nothing but whitespace around it, in
 * d (to jdoc_free after a success; a failure frees it): strict JSON,
 * UTF-8 checked (jdoc.h), not util_json_parse, which reads AWS answers
 * leniently.  Its error names the offset, and running out of memory is
 * told from a bad message.
 */
static const struct jnode *
parse_json(struct pctx *p, struct jdoc *d, const char *text, size_t len)
{
	switch (jdoc_parse(d, text, len)) {
	case 0:
		if (d->n->type == JT_OBJECT)
			return d->n;
		fail(p, "not a JSON object");
		break;
	case JDOC_NOMEM:
		oom(p);
		break;
	default:
		fail(p, "not JSON: %s at offset %zu", d->what, d->at);
		break;
	}
	jdoc_free(d);
	return NULL;
}

static void
rendered_free(struct rendered *r)
{
	size_t i;

	free(r->resource_id);
	free(r->entitlements_json);
	free(r->metadata_json);
	for (i = 0; i < r->nusage; i++) {
		free(r->usage[i].feature_id);
		free(r->usage[i].json);
	}
	free(r->usage);
	memset(r, 0, sizeof(*r));
}

/* Records the usage key of feature fid; a later duplicate replaces it. */
static int
add_usage(struct pctx *p, struct rendered *r, const char *fid, char *json)
{
	struct event_usage *u;
	size_t cap;

	if (r->nusage == r->cap) {
		cap = r->cap == 0 ? 8 : r->cap * 2;
		if (cap > SIZE_MAX / sizeof(*u) ||
		    (u = realloc(r->usage, cap * sizeof(*u))) == NULL) {
			free(json);
			return oom(p);
		}
		r->usage = u;
		r->cap = cap;
	}
	u = &r->usage[r->nusage];
	if ((u->feature_id = strdup(fid)) == NULL) {
		free(json);
		return oom(p);
	}
	u->json = json;
	r->nusage++;
	return 0;
}

static void
drop_usage(struct rendered *r, const char *fid)
{
	size_t i;

	for (i = 0; i < r->nusage; i++) {
		if (strcmp(r->usage[i].feature_id, fid) != 0)
			continue;
		free(r->usage[i].feature_id);
		free(r->usage[i].json);
		memmove(&r->usage[i], &r->usage[i + 1],
		    (r->nusage - i - 1) * sizeof(r->usage[0]));
		r->nusage--;
		return;
	}
}

/* A feature's meterType; unknown spellings are rejected. */
enum meter {
	METER_NONE,
	METER_INCREMENTAL,
	METER_FLUCTUATING
};

/*
 * calculatedEntitlement.feature: {"id","featureType","meterType","units",
 * "unitsPlural"}, from the webhook spelling (id, unit = singular, units =
 * plural) or the GraphQL one (refId, featureUnits, featureUnitsPlural).
 * GraphQL's feature.id is an internal UUID, so refId wins when both are
 * there.  A missing featureType is BOOLEAN: the plainest entitlement, and
 * one that never asks for a usage key.  Checked whole before anything is
 * written: the caller writes the member's key, the feature id, first.
 */
static int
check_feature(struct pctx *p, const struct jnode *e, const char *where,
    const struct jnode **fidp, int *meteredp, const char **typep,
    enum meter *meterp, const struct jnode **unitp,
    const struct jnode **unitsp)
{
	const struct jnode *feature, *id, *ftype, *mtype, *unit, *units;
	char fw[96], q[QUOTE_SIZE];
	const char *type, *idname;
	enum meter meter;

	if (get_object(p, e, where, "feature", &feature) == -1)
		return -1;
	field_name(fw, sizeof(fw), where, "feature");
	if ((id = member(feature, "refId")) != NULL)
		idname = "refId";
	else if ((id = member(feature, "id")) != NULL)
		idname = "id";
	else
		return fail(p, "%s.id is missing", fw);
	if (check_id(p, fw, idname, id) == -1)
		return -1;

	if (get_string(p, feature, fw, "featureType", &ftype) == -1 ||
	    get_string(p, feature, fw, "meterType", &mtype) == -1)
		return -1;
	if (ftype == NULL || str_is(ftype, "BOOLEAN"))
		type = "BOOLEAN";
	else if (str_is(ftype, "NUMBER"))
		type = "NUMBER";
	else if (str_is(ftype, "ENUM"))
		type = "ENUM";
	else
		return fail(p, "%s.featureType: %s is not BOOLEAN, NUMBER or "
		    "ENUM", fw, quote_str(q, ftype));
	if (mtype == NULL || str_is(mtype, "NONE"))
		meter = METER_NONE;
	else if (str_is(mtype, "INCREMENTAL"))
		meter = METER_INCREMENTAL;
	else if (str_is(mtype, "FLUCTUATING"))
		meter = METER_FLUCTUATING;
	else
		return fail(p, "%s.meterType: %s is not INCREMENTAL, "
		    "FLUCTUATING or NONE", fw, quote_str(q, mtype));

	/* Webhook "units" is the plural; the cache's "units" the singular. */
	if (get_string(p, feature, fw, "unit", &unit) == -1 ||
	    (unit == NULL &&
	    get_string(p, feature, fw, "featureUnits", &unit) == -1) ||
	    get_string(p, feature, fw, "units", &units) == -1 ||
	    (units == NULL &&
	    get_string(p, feature, fw, "featureUnitsPlural", &units) == -1))
		return -1;
	*fidp = id;
	*typep = type;
	*meterp = meter;
	*unitp = unit;
	*unitsp = units;
	*meteredp = strcmp(type, "NUMBER") == 0 && meter != METER_NONE;
	return 0;
}

static void
write_feature(struct jw *w, const struct jnode *id, const char *type,
    enum meter meter, const struct jnode *unit, const struct jnode *units)
{
	const char *s = id->s;

	jw_lit(w, "{\"id\":");
	jw_str(w, s, strlen(s), 0);
	jw_lit(w, ",\"featureType\":\"");
	jw_raw(w, type, strlen(type));
	if (meter == METER_INCREMENTAL)
		jw_lit(w, "\",\"meterType\":\"Incremental\",\"units\":");
	else if (meter == METER_FLUCTUATING)
		jw_lit(w, "\",\"meterType\":\"Fluctuating\",\"units\":");
	else
		jw_lit(w, "\",\"units\":");
	if (unit == NULL)
		jw_lit(w, "\"\"");
	else
		jw_jstr(w, unit);
	jw_lit(w, ",\"unitsPlural\":");
	if (units == NULL)
		jw_lit(w, "\"\"");
	else
		jw_jstr(w, units);
	jw_lit(w, "}");
}

/* ,"enumValues": an array of strings, [] when absent or null. */
static int
render_enum_values(struct pctx *p, const struct jnode *e, const char *where,
    struct jw *w)
{
	const struct jnode *v, *s;
	size_t i, n;
	char f[160];

	v = member(e, "enumValues");
	if (v != NULL && !is(v, JT_ARRAY))
		return fail(p, "%s: expected an array of strings",
		    field_name(f, sizeof(f), where, "enumValues"));
	jw_lit(w, ",\"enumValues\":[");
	n = v == NULL ? 0 : v->len;
	for (i = 0, s = v == NULL ? NULL : v + 1; i < n;
	    i++, s = jnode_next(s)) {
		if (!is(s, JT_STRING))
			return fail(p, "%s[%zu]: expected a string",
			    field_name(f, sizeof(f), where, "enumValues"), i);
		if (i > 0)
			jw_lit(w, ",");
		jw_jstr(w, s);
	}
	jw_lit(w, "]");
	return 0;
}

/* ,"creditRate": {"amount","currencyId"}, when an object. */
static int
render_credit_rate(struct pctx *p, const struct jnode *e, const char *where,
    struct jw *w)
{
	const struct jnode *rate, *amount, *currency;
	char f[160];

	if (get_object(p, e, where, "creditRate", &rate) == -1)
		return -1;
	if (rate == NULL)
		return 0;
	field_name(f, sizeof(f), where, "creditRate");
	if (get_string(p, rate, f, "currencyId", &currency) == -1 ||
	    get_number(p, rate, f, "amount", 0, &amount) == -1)
		return -1;
	jw_lit(w, ",\"creditRate\":{");
	if (amount != NULL) {
		jw_lit(w, "\"amount\":");
		jw_number(w, amount);
	}
	if (currency != NULL) {
		if (amount != NULL)
			jw_lit(w, ",");
		jw_lit(w, "\"currencyId\":");
		jw_jstr(w, currency);
	}
	jw_lit(w, "}");
	return 0;
}

/*
 * calculatedEntitlement, after its feature: resourceId, usageLimit,
 * hasUnlimitedUsage, hasSoftLimit, accessDeniedReason, enumValues,
 * validUntil, creditRate, in the SDK's order, absent members omitted.
 */
static int
render_calculated(struct pctx *p, const struct jnode *e, const char *where,
    const char *resource, struct jw *w)
{
	const struct jnode *v, *reason;
	char f[160];
	int64_t until;
	int b, found;

	if (resource != NULL) {
		jw_lit(w, ",\"resourceId\":");
		jw_str(w, resource, strlen(resource), 0);
	}
	if ((v = jnode_member(e, "usageLimit")) != NULL) {
		if (v->type == JT_NULL)
			jw_lit(w, ",\"usageLimit\":null");
		else if (!is_number(v))
			return fail(p, "%s: expected a number or null",
			    field_name(f, sizeof(f), where, "usageLimit"));
		else if (!finite_number(v))
			return fail(p, "%s: expected a finite number",
			    field_name(f, sizeof(f), where, "usageLimit"));
		else {
			jw_lit(w, ",\"usageLimit\":");
			jw_number(w, v);
		}
	}
	if (get_bool(p, e, where, "hasUnlimitedUsage", &b) == -1)
		return -1;
	if (b)
		jw_lit(w, ",\"hasUnlimitedUsage\":true");
	else
		jw_lit(w, ",\"hasUnlimitedUsage\":false");
	if (get_bool(p, e, where, "hasSoftLimit", &b) == -1)
		return -1;
	if (b)
		jw_lit(w, ",\"hasSoftLimit\":true");
	else
		jw_lit(w, ",\"hasSoftLimit\":false");
	if (get_string(p, e, where, "accessDeniedReason", &reason) == -1)
		return -1;
	if (reason != NULL) {
		jw_lit(w, ",\"accessDeniedReason\":");
		jw_jstr(w, reason);
	}
	if (render_enum_values(p, e, where, w) == -1 ||
	    get_date(p, e, where, "validUntil", &found, &until) == -1)
		return -1;
	if (found) {
		jw_lit(w, ",\"validUntil\":");
		jw_int(w, until);
	}
	return render_credit_rate(p, e, where, w);
}

/* resetPeriod in the SDK's spelling: upper case, YEARLY read as YEAR. */
static void
jw_reset_period(struct jw *w, const struct jnode *v)
{
	size_t i;

	for (i = 0; i < NPERIODS; i++)
		if (str_is(v, periods[i].from)) {
			jw_lit(w, "\"");
			jw_raw(w, periods[i].to, strlen(periods[i].to));
			jw_lit(w, "\"");
			return;
		}
	jw_str(w, v->s, v->len, 1);
}

/*
 * ,"featureUsage": resetPeriod, resetPeriodConfiguration, currentUsage (0
 * when unknown), usagePeriodAnchor, usagePeriodStart, usagePeriodEnd; and
 * the usage key's JSON in *usagep when the feature is metered.
 */
static int
render_usage(struct pctx *p, const struct jnode *e, const char *where,
    int metered, struct jw *w, char **usagep)
{
	const struct jnode *period, *config, *cur;
	int64_t anchor = 0, start = 0, end = 0;
	int has_anchor, has_start, has_end;
	char f[160];

	*usagep = NULL;
	if (get_string(p, e, where, "resetPeriod", &period) == -1 ||
	    get_object(p, e, where, "resetPeriodConfiguration", &config) == -1)
		return -1;
	if (config != NULL && !all_finite(config))
		return fail(p, "%s: expected finite numbers", field_name(f,
		    sizeof(f), where, "resetPeriodConfiguration"));
	if (get_number(p, e, where, "currentUsage", 0, &cur) == -1 ||
	    get_date(p, e, where, "usagePeriodAnchor", &has_anchor,
	    &anchor) == -1 ||
	    get_date(p, e, where, "usagePeriodStart", &has_start,
	    &start) == -1 ||
	    get_date(p, e, where, "usagePeriodEnd", &has_end, &end) == -1)
		return -1;

	jw_lit(w, ",\"featureUsage\":{");
	if (period != NULL) {
		jw_lit(w, "\"resetPeriod\":");
		jw_reset_period(w, period);
		jw_lit(w, ",");
	}
	if (config != NULL) {
		jw_lit(w, "\"resetPeriodConfiguration\":");
		jw_value(w, config);
		jw_lit(w, ",");
	}
	jw_lit(w, "\"currentUsage\":");
	jw_number(w, cur);
	if (has_anchor) {
		jw_lit(w, ",\"usagePeriodAnchor\":");
		jw_int(w, anchor);
	}
	if (has_start) {
		jw_lit(w, ",\"usagePeriodStart\":");
		jw_int(w, start);
	}
	if (has_end) {
		jw_lit(w, ",\"usagePeriodEnd\":");
		jw_int(w, end);
	}
	jw_lit(w, "}");
	if (metered && (*usagep = usage_text(p, cur, has_start, start,
	    has_end, end)) == NULL)
		return -1;
	return 0;
}

/*
 * One entitlement, written at the end of w as the member
 * "<feature id>":{"calculatedEntitlement":{..},"featureUsage":{..}}; its
 * feature id in *fidp (a string of the input), and its usage key's JSON
 * in *usagep when metered.
 */
static int
render_one(struct pctx *p, const struct jnode *e, const char *where,
    const char *resource, struct jw *w, const struct jnode **fidp,
    char **usagep)
{
	const struct jnode *unit = NULL, *units = NULL;
	const char *type = "BOOLEAN", *fid;
	enum meter meter = METER_NONE;
	int metered = 0;

	*fidp = NULL;
	*usagep = NULL;
	if (check_feature(p, e, where, fidp, &metered, &type, &meter, &unit,
	    &units) == -1)
		return -1;
	fid = (*fidp)->s;
	jw_str(w, fid, strlen(fid), 0);
	jw_lit(w, ":{\"calculatedEntitlement\":{\"feature\":");
	write_feature(w, *fidp, type, meter, unit, units);
	if (render_calculated(p, e, where, resource, w) == -1)
		return -1;
	jw_lit(w, "}");
	if (render_usage(p, e, where, metered, w, usagep) == -1)
		return -1;
	jw_lit(w, "}");
	return 0;
}

/*
 * The resource the entitlements belong to.  A per-entitlement resourceId
 * is taken where the event names no resource; entitlements without one
 * (customer-level ones listed for a resource) do not count, and those
 * with one must agree with each other and with the event.
 */
static int
find_resource(struct pctx *p, const struct jnode *list, const char *lname,
    const char *event_resource, struct rendered *r)
{
	const struct jnode *e, *v, *first = NULL;
	char f[160], q1[QUOTE_SIZE], q2[QUOTE_SIZE];
	size_t i, n, first_i = 0;

	n = list->len;
	for (i = 0, e = list + 1; i < n; i++, e = jnode_next(e)) {
		if (!is(e, JT_OBJECT))
			return fail(p, "%s[%zu]: expected an object", lname,
			    i);
		if ((v = member(e, "resourceId")) == NULL)
			continue;
		snprintf(f, sizeof(f), "%s[%zu].resourceId", lname, i);
		if (check_id(p, NULL, f, v) == -1)
			return -1;
		if (event_resource != NULL && !same_id(v, event_resource))
			return fail(p, "%s %s is not the event's resource %s",
			    f, quote_str(q1, v), quote(q2, event_resource,
			    strlen(event_resource)));
		if (first != NULL &&
		    !same_id(v, first->s))
			return fail(p, "%s %s disagrees with %s[%zu]."
			    "resourceId %s", f, quote_str(q1, v), lname,
			    first_i, quote_str(q2, first));
		if (first == NULL) {
			first = v;
			first_i = i;
		}
	}
	if (event_resource == NULL && first != NULL &&
	    (r->resource_id = strdup(first->s)) == NULL)
		return oom(p);
	return 0;
}

/*
 * Where each member of the entitlements object lies in the text, so that
 * a repeated feature can take the place of the earlier one.  Up to
 * SPAN_SCAN members are searched one by one; a longer list gets a hash
 * of the feature ids (an Edge answer may hold thousands).
 */
#define SPAN_SCAN	16

struct span {
	const char	*key;		/* the feature id, a string of the input */
	size_t		 start;		/* its leading ',' */
	size_t		 end;
	int		 live;
};

struct spans {
	struct span	*v;
	size_t		 n;
	size_t		*slot;		/* index + 1 into v, 0: empty */
	size_t		 mask;
};

/* The live member whose key is key, or -1; with a hash, *slotp too. */
static long
span_find(struct spans *sp, const char *key, size_t **slotp)
{
	size_t i, h;

	*slotp = NULL;
	if (sp->slot == NULL) {
		for (i = 0; i < sp->n; i++)
			if (sp->v[i].live && strcmp(sp->v[i].key, key) == 0)
				return (long)i;
		return -1;
	}
	for (h = (size_t)util_hash(key, strlen(key)) & sp->mask;
	    sp->slot[h] != 0; h = (h + 1) & sp->mask)
		if (strcmp(sp->v[sp->slot[h] - 1].key, key) == 0)
			break;
	*slotp = &sp->slot[h];
	return sp->slot[h] == 0 ? -1 : (long)(sp->slot[h] - 1);
}

/*
 * Cuts the earlier member i out of the text: the one just written (the
 * member sp->n, its end not yet recorded) replaces it.
 */
static void
span_cut(struct jw *w, struct spans *sp, size_t i)
{
	size_t k, a = sp->v[i].start, b = sp->v[i].end;

	if (w->nomem)
		return;		/* the text is dropped anyway */
	memmove(w->s + a, w->s + b, w->len - b);
	w->len -= b - a;
	sp->v[i].live = 0;
	for (k = i + 1; k < sp->n; k++) {
		sp->v[k].start -= b - a;
		sp->v[k].end -= b - a;
	}
	sp->v[sp->n].start -= b - a;
}

/*
 * The renderer both entitlements.updated and the Edge API answer go
 * through.  container holds accessDeniedReason (where names it in
 * errors), list the entitlements (lname).  An empty list is a customer
 * without entitlements: written as the SDK's own cache writes it, the
 * value {} with its metadata, a hit that denies every check (a purge
 * would send every check for that customer to the network).
 */
static int
render(struct pctx *p, const struct jnode *container, const char *where,
    const struct jnode *list, const char *lname, const char *event_resource,
    struct rendered *r)
{
	const struct jnode *reason, *e, *fid = NULL;
	struct spans sp = { NULL, 0, NULL, 0 };
	struct jw w = JW_INIT, m = JW_INIT;
	const char *resource, *key;
	size_t i, n, size, *slot;
	char ew[64], *usage;
	long dup;

	memset(r, 0, sizeof(*r));
	if (get_string(p, container, where, "accessDeniedReason",
	    &reason) == -1)
		return -1;
	n = list->len;
	if (find_resource(p, list, lname, event_resource, r) == -1)
		goto bad;
	resource = event_resource != NULL ? event_resource : r->resource_id;

	if (n > 0 && (sp.v = calloc(n, sizeof(*sp.v))) == NULL)
		goto nomem;
	if (n > SPAN_SCAN) {
		for (size = 2 * SPAN_SCAN; size < 2 * n; size *= 2)
			;
		if ((sp.slot = calloc(size, sizeof(*sp.slot))) == NULL)
			goto nomem;
		sp.mask = size - 1;
	}
	/* Every member with its leading ',': the first one's goes at the end. */
	jw_lit(&w, "{");
	for (i = 0, e = list + 1; i < n; i++, e = jnode_next(e)) {
		index_name(ew, sizeof(ew), lname, i);
		sp.v[sp.n].start = w.len;
		jw_lit(&w, ",");
		if (render_one(p, e, ew, resource, &w, &fid, &usage) == -1)
			goto bad;
		key = fid->s;
		/* A repeated feature: the last one wins, in its place. */
		if ((dup = span_find(&sp, key, &slot)) != -1) {
			span_cut(&w, &sp, (size_t)dup);
			drop_usage(r, key);
		}
		if (slot != NULL)
			*slot = sp.n + 1;
		sp.v[sp.n].key = key;
		sp.v[sp.n].end = w.len;
		sp.v[sp.n].live = 1;
		sp.n++;
		if (usage != NULL && add_usage(p, r, key, usage) == -1)
			goto bad;
	}
	jw_lit(&w, "}");
	if (!w.nomem && w.len > 2) {
		memmove(w.s + 1, w.s + 2, w.len - 2);
		w.len--;
	}
	if ((r->entitlements_json = jw_take(&w)) == NULL)
		goto nomem;

	jw_lit(&m, "{\"accessDeniedReason\":");
	if (reason == NULL)
		jw_lit(&m, "null");
	else
		jw_jstr(&m, reason);
	jw_lit(&m, "}");
	if ((r->metadata_json = jw_take(&m)) == NULL)
		goto nomem;
	free(sp.v);
	free(sp.slot);
	r->kind = EVENT_ENTITLEMENTS;
	return 0;
nomem:
	oom(p);
bad:
	free(sp.v);
	free(sp.slot);
	jw_free(&w);
	jw_free(&m);
	rendered_free(r);
	return -1;
}

/* Moves what render produced into ev. */
static void
commit(struct event *ev, struct rendered *r)
{
	ev->kind = r->kind;
	if (r->resource_id != NULL && ev->resource_id == NULL) {
		ev->resource_id = r->resource_id;
		r->resource_id = NULL;
	}
	ev->entitlements_json = r->entitlements_json;
	ev->metadata_json = r->metadata_json;
	ev->usage = r->usage;
	ev->nusage = r->nusage;
	free(r->resource_id);
	memset(r, 0, sizeof(*r));
}

/*
 * entitlements.updated: the customer's complete list, rendered; a thin
 * notification (no entitlements member) asks for a refill.
 */
static int
parse_entitlements(struct pctx *p, const struct jnode *root, int64_t sent,
    struct event *ev)
{
	const struct jnode *list, *reason;
	struct rendered r;

	if (get_ids(p, root, 0, ev) == -1 ||
	    get_version(p, root, "entitlementsUpdatedAt", "timestamp", sent,
	    &ev->version_ms) == -1 ||
	    get_string(p, root, NULL, "accessDeniedReason", &reason) == -1)
		return -1;
	if ((list = member(root, "entitlements")) == NULL) {
		ev->kind = EVENT_REFILL;
		return 0;
	}
	if (!is(list, JT_ARRAY))
		return fail(p, "entitlements: expected an array");
	if (render(p, root, NULL, list, "entitlements", ev->resource_id,
	    &r) == -1)
		return -1;
	commit(ev, &r);
	return 0;
}

/* measurement.reported and the usage alerts: one feature's usage. */
static int
parse_usage(struct pctx *p, const struct jnode *root, int64_t sent,
    struct event *ev)
{
	const struct jnode *feature, *id, *cur;
	int64_t start = 0, end = 0;
	int has_start, has_end;
	const char *field;

	if (get_ids(p, root, 0, ev) == -1 ||
	    get_version(p, root, "timestamp", "usageUpdatedAt", sent,
	    &ev->version_ms) == -1 ||
	    get_object(p, root, NULL, "feature", &feature) == -1)
		return -1;
	field = "feature.refId";
	if ((id = member(feature, "refId")) == NULL) {
		field = "feature.id";
		id = member(feature, "id");
	}
	if (id == NULL) {
		field = "featureId";
		id = member(root, "featureId");
	}
	if (id == NULL)
		return fail(p, "feature id is missing");
	if (check_id(p, NULL, field, id) == -1)
		return -1;
	if (get_number(p, root, NULL, "currentUsage", 1, &cur) == -1)
		return -1;
	if (get_date(p, root, NULL, "usagePeriodStart", &has_start,
	    &start) == -1 ||
	    get_date(p, root, NULL, "usagePeriodEnd", &has_end, &end) == -1)
		return -1;
	if ((ev->feature_id = strdup(id->s)) == NULL)
		return oom(p);
	if ((ev->usage_json = usage_text(p, cur, has_start, start, has_end,
	    end)) == NULL)
		return -1;
	ev->kind = EVENT_USAGE;
	return 0;
}

static int
parse_purge(struct pctx *p, const struct jnode *root, int64_t sent,
    int top_id, struct event *ev)
{
	if (get_ids(p, root, top_id, ev) == -1 ||
	    get_version(p, root, "timestamp", NULL, sent,
	    &ev->version_ms) == -1)
		return -1;
	ev->kind = EVENT_PURGE;
	return 0;
}

/* A package published to ALL_CUSTOMERS may make any cached one stale. */
static int
parse_package(struct pctx *p, const struct jnode *root, int64_t sent,
    struct event *ev)
{
	const struct jnode *migration;

	if (get_string(p, root, NULL, "migrationType", &migration) == -1)
		return -1;
	if (migration == NULL || !str_is(migration, "ALL_CUSTOMERS")) {
		ev->kind = EVENT_IGNORED;
		return 0;
	}
	if (get_version(p, root, "timestamp", NULL, sent,
	    &ev->version_ms) == -1)
		return -1;
	ev->kind = EVENT_INVALIDATE_ALL;
	return 0;
}

/*
 * The type as matched: ASCII upper case, '.' read as '_', so that the
 * queue's ENTITLEMENTS_UPDATED and the webhook's entitlements.updated are
 * one.  -1 when longer than any handled type.
 */
static int
normalise_type(const struct jnode *v, char *buf, size_t size)
{
	const char *s = v->s;
	size_t i, len = (size_t)v->len;

	if (len >= size)
		return -1;
	for (i = 0; i < len; i++)
		buf[i] = s[i] == '.' ? '_' : ascii_upper(s[i]);
	buf[len] = '\0';
	return strlen(buf) == len ? 0 : -1;
}

static int
parse_event(struct pctx *p, const struct jnode *root, int64_t sent,
    struct event *ev)
{
	const struct jnode *type;
	char norm[64];
	size_t i;

	/* The labels first: a message rejected below is logged with them. */
	label(ev->message_id, sizeof(ev->message_id), member(root, "messageId"));
	label(ev->trace_id, sizeof(ev->trace_id), member(root, "traceId"));
	if ((type = member(root, "type")) == NULL)
		return fail(p, "no type");
	if (!is(type, JT_STRING))
		return fail(p, "type is not a string");
	label(ev->type, sizeof(ev->type), type);

	ev->kind = EVENT_IGNORED;
	if (normalise_type(type, norm, sizeof(norm)) == -1)
		return 0;
	for (i = 0; i < NHANDLED; i++)
		if (strcmp(norm, handled[i].name) == 0)
			break;
	if (i == NHANDLED)
		return 0;
	switch (handled[i].h) {
	case H_ENTITLEMENTS:
		return parse_entitlements(p, root, sent, ev);
	case H_USAGE:
		return parse_usage(p, root, sent, ev);
	case H_PURGE:
		return parse_purge(p, root, sent, 0, ev);
	case H_CUSTOMER_DELETED:
		return parse_purge(p, root, sent, 1, ev);
	case H_PACKAGE:
		return parse_package(p, root, sent, ev);
	}
	return 0;
}

/* A failed parse: nothing to free, but the labels for the log line. */
static void
drop_keep_labels(struct event *ev)
{
	char type[sizeof(ev->type)], mid[sizeof(ev->message_id)];
	char tid[sizeof(ev->trace_id)];

	memcpy(type, ev->type, sizeof(type));
	memcpy(mid, ev->message_id, sizeof(mid));
	memcpy(tid, ev->trace_id, sizeof(tid));
	events_free(ev);
	memcpy(ev->type, type, sizeof(type));
	memcpy(ev->message_id, mid, sizeof(mid));
	memcpy(ev->trace_id, tid, sizeof(tid));
}

int
events_parse(const char *body, size_t len, int64_t sent_timestamp_ms,
    struct event *ev, char *err, size_t errlen)
{
	struct pctx p = { err, errlen, "", 0 };
	const struct jnode *root, *type, *message;
	struct jdoc doc, sns;
	int r;

	memset(ev, 0, sizeof(*ev));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (len > EVENTS_MAX_BODY)
		return fail(&p, "body of %zu bytes is over the limit of %d",
		    len, EVENTS_MAX_BODY);
	if ((root = parse_json(&p, &doc, body, len)) == NULL)
		return p.nomem ? EVENTS_NOMEM : -1;

	/* An SNS notification carries the event as JSON text in Message. */
	type = member(root, "Type");
	if (is(type, JT_STRING) &&
	    strcmp(type->s, "Notification") == 0 &&
	    present(root, "Message")) {
		message = member(root, "Message");
		if (!is(message, JT_STRING)) {
			jdoc_free(&doc);
			return fail(&p, "sns Message: expected a string");
		}
		p.prefix = "sns message: ";
		root = parse_json(&p, &sns, message->s, (size_t)message->len);
		jdoc_free(&doc);
		if (root == NULL)
			return p.nomem ? EVENTS_NOMEM : -1;
		doc = sns;
	}
	r = parse_event(&p, root, sent_timestamp_ms, ev);
	jdoc_free(&doc);
	if (r == -1)
		drop_keep_labels(ev);
	return r == -1 && p.nomem ? EVENTS_NOMEM : r;
}

/*
 * -1 with the first message of a non-empty "errors" member (GraphQL's
 * array of {"message":...}, an object, or a plain string) in the error;
 * 0 when there is none.
 */
static int
edge_errors(struct pctx *p, const struct jnode *root)
{
	const struct jnode *errors, *first, *msg;
	char q[QUOTE_SIZE];

	if ((errors = member(root, "errors")) == NULL)
		return 0;
	first = errors;
	switch (errors->type) {
	case JT_ARRAY:
		if (errors->len == 0)
			return 0;
		first = errors + 1;
		break;
	case JT_OBJECT:
		if (errors->len == 0)
			return 0;
		break;
	case JT_STRING:
		if (errors->len == 0)
			return 0;
		break;
	default:
		break;
	}
	msg = first;
	if (is(first, JT_OBJECT))
		msg = member(first, "message");
	if (msg == NULL || !is(msg, JT_STRING))
		return fail(p, "the answer carries errors");
	return fail(p, "%s", show(q, msg->s, msg->len, 0));
}

int
events_apply_edge(struct event *ev, const char *body, size_t len, char *err,
    size_t errlen)
{
	struct pctx p = { err, errlen, "edge: ", 0 };
	const struct jnode *root, *data, *list;
	struct rendered r;
	struct jdoc doc;
	int rc = -1;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (ev->kind != EVENT_REFILL || ev->customer_id == NULL)
		return fail(&p, "the event is not a refill");
	if (len > EDGE_MAX_BODY)
		return fail(&p, "answer of %zu bytes is over the limit of %d",
		    len, EDGE_MAX_BODY);
	if ((root = parse_json(&p, &doc, body, len)) == NULL)
		return p.nomem ? EVENTS_NOMEM : -1;
	if (edge_errors(&p, root) == -1 ||
	    get_object(&p, root, NULL, "data", &data) == -1)
		goto out;
	if (data == NULL) {
		fail(&p, "data is missing");
		goto out;
	}
	if ((list = member(data, "entitlements")) == NULL) {
		fail(&p, "data.entitlements is missing");
		goto out;
	}
	if (!is(list, JT_ARRAY)) {
		fail(&p, "data.entitlements: expected an array");
		goto out;
	}
	if (render(&p, data, "data", list, "data.entitlements",
	    ev->resource_id, &r) == -1)
		goto out;
	commit(ev, &r);
	rc = 0;
out:
	jdoc_free(&doc);
	return rc == -1 && p.nomem ? EVENTS_NOMEM : rc;
}

void
events_free(struct event *ev)
{
	size_t i;

	if (ev == NULL)
		return;
	free(ev->customer_id);
	free(ev->resource_id);
	free(ev->entitlements_json);
	free(ev->metadata_json);
	for (i = 0; i < ev->nusage; i++) {
		free(ev->usage[i].feature_id);
		free(ev->usage[i].json);
	}
	free(ev->usage);
	free(ev->feature_id);
	free(ev->usage_json);
	memset(ev, 0, sizeof(*ev));
}

enum metrics_event
events_metrics_event(enum event_kind kind)
{
	switch (kind) {
	case EVENT_ENTITLEMENTS:
		return METRICS_EV_ENTITLEMENTS;
	case EVENT_REFILL:
		return METRICS_EV_REFILL;
	case EVENT_USAGE:
		return METRICS_EV_USAGE;
	case EVENT_PURGE:
		return METRICS_EV_PURGE;
	case EVENT_INVALIDATE_ALL:
		return METRICS_EV_INVALIDATE_ALL;
	case EVENT_IGNORED:
		break;
	}
	return METRICS_EV_OTHER;
}

const char *
events_kind_name(enum event_kind kind)
{
	switch (kind) {
	case EVENT_IGNORED:
		return "ignored";
	case EVENT_ENTITLEMENTS:
		return "entitlements";
	case EVENT_REFILL:
		return "refill";
	case EVENT_USAGE:
		return "usage";
	case EVENT_PURGE:
		return "purge";
	case EVENT_INVALIDATE_ALL:
		return "invalidate-all";
	}
	return "unknown";
}

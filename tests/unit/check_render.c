/*
 * The rendered values, byte for byte: every example of tests/data/examples,
 * every line of tests/data/render/events.jsonl (unicode, escapes, large
 * numbers, doubles, nulls, empty lists, resource-scoped lists, duplicates,
 * renderer errors) and every Edge API answer of tests/data/edge and
 * tests/data/render/edge.jsonl (applied to a customer's and a resource's
 * refill) go through events_parse / events_apply_edge, and everything
 * they produce (result, ids, version, error, entitlements, metadata and
 * usage JSON) is compared with tests/data/render/golden.txt.
 *
 * golden.txt was written by the json-c tree-and-print renderer, before
 * events.c wrote the JSON itself: the SDK reads these bytes from Redis,
 * so the direct writer must produce exactly what json-c printed.  One
 * deliberate change since, when events.c stopped parsing with json-c
 * (jdoc.c): NaN is not JSON.  To
 * regenerate it (only for a deliberate change of output):
 *	PCS_GOLDEN_WRITE=$PWD/tests/data/render/golden.txt \
 *	    _build/tests/unit/check_render
 */
#include "autoconf.h"

#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "events.h"

#define SENT	INT64_C(1763150499999)

struct buf {
	char	*s;
	size_t	 len, cap;
};

static void
put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		ck_assert_ptr_nonnull(b->s);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* A value on one line: backslash, newline and control bytes escaped. */
static void
put_esc(struct buf *b, const char *s)
{
	char x[8];

	if (s == NULL) {
		puts_(b, "(null)");
		return;
	}
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			puts_(b, "\\\\");
		else if ((unsigned char)*s < 0x20) {
			snprintf(x, sizeof(x), "\\x%02x", (unsigned char)*s);
			puts_(b, x);
		} else
			put(b, s, 1);
	}
}

static void
field(struct buf *b, const char *name, const char *v)
{
	puts_(b, name);
	puts_(b, "=");
	put_esc(b, v);
	puts_(b, "\n");
}

/* Everything a parse produced, one record. */
static void
dump(struct buf *b, const char *title, int rc, const struct event *ev,
    const char *err)
{
	char line[128];
	size_t i;

	puts_(b, "# ");
	puts_(b, title);
	puts_(b, "\n");
	snprintf(line, sizeof(line), "rc=%d kind=%s version=%lld\n", rc,
	    rc == 0 ? events_kind_name(ev->kind) : "-",
	    (long long)ev->version_ms);
	puts_(b, line);
	field(b, "type", ev->type);
	field(b, "message_id", ev->message_id);
	field(b, "trace_id", ev->trace_id);
	field(b, "err", err);
	if (rc != 0)
		return;
	field(b, "customer", ev->customer_id);
	field(b, "resource", ev->resource_id);
	field(b, "entitlements", ev->entitlements_json);
	field(b, "metadata", ev->metadata_json);
	for (i = 0; i < ev->nusage; i++) {
		field(b, "usage.feature", ev->usage[i].feature_id);
		field(b, "usage.json", ev->usage[i].json);
	}
	field(b, "feature", ev->feature_id);
	field(b, "usage_json", ev->usage_json);
}

static const char *
srcdir(void)
{
	static char dir[4096];
	static const char *const rel[] = { "..", "." };
	const char *src;
	char path[4200];
	DIR *d;
	size_t i;

	if ((src = getenv("PCS_SRCDIR")) != NULL && *src != '\0')
		return src;
	for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(path, sizeof(path), "%s/tests/data/render", rel[i]);
		if ((d = opendir(path)) != NULL) {
			closedir(d);
			snprintf(dir, sizeof(dir), "%s", rel[i]);
			return dir;
		}
	}
	ck_abort_msg("cannot find tests/data/render (set PCS_SRCDIR)");
	return NULL;
}

static char *
slurp(const char *path, size_t *lenp)
{
	char *s;
	FILE *fp;
	long n;

	fp = fopen(path, "rb");
	ck_assert_msg(fp != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	ck_assert_int_ge(n, 0);
	rewind(fp);
	s = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(fread(s, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	s[n] = '\0';
	*lenp = (size_t)n;
	return s;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files of dir, sorted; NULL-terminated. */
static char **
files(const char *dir)
{
	char **names = calloc(256, sizeof(char *));
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	ck_assert_ptr_nonnull(names);
	d = opendir(dir);
	ck_assert_msg(d != NULL, "cannot open %s", dir);
	while ((de = readdir(d)) != NULL && n < 255)
		if (de->d_name[0] != '.')
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), by_name);
	return names;
}

static void
one_event(struct buf *b, const char *title, const char *body, size_t len)
{
	struct event ev;
	char err[512];
	int rc;

	rc = events_parse(body, len, SENT, &ev, err, sizeof(err));
	ck_assert_int_ne(rc, EVENTS_NOMEM);
	dump(b, title, rc, &ev, err);
	if (rc == 0)
		events_free(&ev);
}

static void
one_edge(struct buf *b, const char *title, const char *body, size_t len)
{
	static const char *const thin[] = {
		"{\"type\":\"entitlements.updated\",\"customerId\":\"acme\"}",
		"{\"type\":\"entitlements.updated\",\"customerId\":\"acme\","
		    "\"resourceId\":\"r1\"}"
	};
	struct event ev;
	char err[512], t[512];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(thin) / sizeof(thin[0]); i++) {
		ck_assert_int_eq(events_parse(thin[i], strlen(thin[i]), SENT,
		    &ev, err, sizeof(err)), 0);
		rc = events_apply_edge(&ev, body, len, err, sizeof(err));
		ck_assert_int_ne(rc, EVENTS_NOMEM);
		snprintf(t, sizeof(t), "%s (refill of %s)", title,
		    i == 0 ? "the customer" : "resource r1");
		dump(b, t, rc, &ev, err);
		events_free(&ev);
	}
}

/* Each line of a .jsonl file through fn. */
static void
lines(struct buf *b, const char *path, const char *name,
    void (*fn)(struct buf *, const char *, const char *, size_t))
{
	char *text, *p, *nl, title[512];
	size_t len;
	int n = 1;

	text = slurp(path, &len);
	for (p = text; *p != '\0'; p = nl + 1, n++) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		snprintf(title, sizeof(title), "%s:%d", name, n);
		fn(b, title, p, (size_t)(nl - p));
		if (*nl == '\0')
			break;
	}
	free(text);
}

static void
render_all(struct buf *b)
{
	char dir[4200], path[8400], **names;
	size_t i, len;
	char *body;

	snprintf(dir, sizeof(dir), "%s/tests/data/examples", srcdir());
	names = files(dir);
	for (i = 0; names[i] != NULL; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		body = slurp(path, &len);
		one_event(b, names[i], body, len);
		free(body);
		free(names[i]);
	}
	free(names);
	snprintf(path, sizeof(path), "%s/tests/data/render/events.jsonl",
	    srcdir());
	lines(b, path, "events.jsonl", one_event);

	snprintf(dir, sizeof(dir), "%s/tests/data/edge", srcdir());
	names = files(dir);
	for (i = 0; names[i] != NULL; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		body = slurp(path, &len);
		one_edge(b, names[i], body, len);
		free(body);
		free(names[i]);
	}
	free(names);
	snprintf(path, sizeof(path), "%s/tests/data/render/edge.jsonl",
	    srcdir());
	lines(b, path, "edge.jsonl", one_edge);
}

/* The record of golden text g that starts with "# title\n", or NULL. */
static char *
record(char *g, const char *title, size_t *lenp)
{
	char head[700], *r, *end;

	snprintf(head, sizeof(head), "# %s\n", title);
	if (strncmp(g, head, strlen(head)) == 0)
		r = g;
	else {
		snprintf(head, sizeof(head), "\n# %s\n", title);
		if ((r = strstr(g, head)) == NULL)
			return NULL;
		r++;
	}
	/* r starts with "# ": the next record starts at the next "\n# ". */
	end = strstr(r, "\n# ");
	*lenp = end == NULL ? strlen(r) : (size_t)(end - r) + 1;
	return r;
}

START_TEST(same_as_golden)
{
	struct buf b = { NULL, 0, 0 };
	const char *out;
	char path[4200], *golden, *p, *q, *nl, *want, title[600];
	size_t glen, wlen, n = 0;
	FILE *fp;

	render_all(&b);
	if ((out = getenv("PCS_GOLDEN_WRITE")) != NULL && *out != '\0') {
		fp = fopen(out, "w");
		ck_assert_msg(fp != NULL, "cannot write %s", out);
		ck_assert_uint_eq(fwrite(b.s, 1, b.len, fp), b.len);
		ck_assert_int_eq(fclose(fp), 0);
		free(b.s);
		return;
	}
	snprintf(path, sizeof(path), "%s/tests/data/render/golden.txt",
	    srcdir());
	golden = slurp(path, &glen);
	/* Record by record first, for a failure that names its input. */
	for (p = b.s; p != NULL && *p != '\0'; p = q) {
		nl = strchr(p, '\n');
		ck_assert_ptr_nonnull(nl);
		snprintf(title, sizeof(title), "%.*s", (int)(nl - p - 2),
		    p + 2);
		q = strstr(nl, "\n# ");
		q = q == NULL ? NULL : q + 1;
		want = record(golden, title, &wlen);
		ck_assert_msg(want != NULL, "%s: not in golden.txt", title);
		ck_assert_msg(wlen == (size_t)((q == NULL ? p + strlen(p) : q) -
		    p) && memcmp(want, p, wlen) == 0,
		    "%s differs:\nwant:\n%.*s\ngot:\n%.*s", title, (int)wlen,
		    want, (int)((q == NULL ? p + strlen(p) : q) - p), p);
		n++;
	}
	ck_assert_uint_gt(n, 100);
	/* And nothing of the golden text left out. */
	ck_assert_uint_eq(b.len, glen);
	ck_assert_int_eq(memcmp(b.s, golden, glen), 0);
	free(golden);
	free(b.s);
}
END_TEST

static Suite *
render_suite(void)
{
	Suite *s = suite_create("render");
	TCase *tc = tcase_create("golden");

	tcase_add_test(tc, same_as_golden);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(render_suite());
}

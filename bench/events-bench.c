/*
 * events-bench: the CPU cost of events_parse alone, per message, over a
 * mixed set of bodies: every file of an examples directory (the spec's
 * examples, bad ones included: the daemon sees those too) and generated
 * entitlements.updated lists of about ten features, as Stigg sends them
 * (ISO dates, units, reset periods, a resource now and then).  Not a
 * test: it asserts nothing and is built only on demand,
 *
 *	make -C _build bench/events-bench
 *	_build/bench/events-bench [-n ROUNDS] [-d EXAMPLES_DIR]
 *
 * and prints the process CPU time per message, for the whole mix and for
 * each kind of body.  Run it under valgrind --tool=callgrind with a small
 * -n to see where the time goes.
 */
#include "autoconf.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "events.h"

#define MAX_BODIES	256
#define GENERATED	16	/* generated entitlements bodies */
#define NFEATURES	10

struct body {
	char	 name[64];
	char	*text;
	size_t	 len;
	int	 generated;
};

static struct body bodies[MAX_BODIES];
static size_t nbodies;

static void
die(const char *msg)
{
	fprintf(stderr, "events-bench: %s\n", msg);
	exit(1);
}

static void
add(const char *name, char *text, size_t len, int generated)
{
	if (nbodies == MAX_BODIES)
		die("too many bodies");
	snprintf(bodies[nbodies].name, sizeof(bodies[nbodies].name), "%s",
	    name);
	bodies[nbodies].text = text;
	bodies[nbodies].len = len;
	bodies[nbodies].generated = generated;
	nbodies++;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
load_examples(const char *dir)
{
	char path[4096], *names[MAX_BODIES], *text;
	struct dirent *de;
	size_t n = 0, i, len;
	DIR *d;
	FILE *f;
	long sz;

	if ((d = opendir(dir)) == NULL)
		die("cannot open the examples directory (-d)");
	while ((de = readdir(d)) != NULL && n < MAX_BODIES)
		if (de->d_name[0] != '.')
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), by_name);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if ((f = fopen(path, "rb")) == NULL)
			die("cannot read an example");
		fseek(f, 0, SEEK_END);
		sz = ftell(f);
		rewind(f);
		if (sz < 0 || (text = malloc((size_t)sz + 1)) == NULL)
			die("out of memory");
		len = fread(text, 1, (size_t)sz, f);
		text[len] = '\0';
		fclose(f);
		add(names[i], text, len, 0);
		free(names[i]);
	}
}

/* One entitlements.updated body of NFEATURES features, variant k. */
static void
generate(int k)
{
	static const char *const periods[] = { "MONTH", "YEAR", "WEEK" };
	char *buf, name[64];
	size_t cap = 16384, n = 0;
	int i;

	if ((buf = malloc(cap)) == NULL)
		die("out of memory");
#define OUT(...) do {							\
	int w_ = snprintf(buf + n, cap - n, __VA_ARGS__);		\
	if (w_ < 0 || (size_t)w_ >= cap - n)				\
		die("generated body too large");			\
	n += (size_t)w_;						\
} while (0)
	OUT("{\"type\":\"entitlements.updated\",\"messageId\":\"m-gen-%d\","
	    "\"traceId\":\"t-gen-%d\",\"timestamp\":\"2025-11-13T21:41:56.923Z\","
	    "\"customer\":{\"id\":\"customer-%04d\",\"name\":\"Customer %d\","
	    "\"email\":\"ops@c%d.test\",\"billingId\":null},", k, k, k, k, k);
	if (k % 4 == 3)
		OUT("\"resource\":{\"id\":\"site-%d\"},", k);
	else
		OUT("\"resource\":null,");
	OUT("\"environmentId\":\"env-1\",\"entitlementsUpdatedAt\":"
	    "\"2025-11-14T19:59:%02d.133Z\",\"accessDeniedReason\":null,"
	    "\"entitlements\":[", k % 60);
	for (i = 0; i < NFEATURES; i++) {
		if (i > 0)
			OUT(",");
		switch (i % 4) {
		case 0:	/* incremental, with a period */
			OUT("{\"feature\":{\"id\":\"api-calls-%d\",\"name\":"
			    "\"API calls %d\",\"featureType\":\"NUMBER\","
			    "\"meterType\":\"INCREMENTAL\",\"unit\":\"call\","
			    "\"units\":\"calls\",\"status\":\"ACTIVE\"},"
			    "\"usageLimit\":%d,\"hasUnlimitedUsage\":false,"
			    "\"hasSoftLimit\":false,\"currentUsage\":%d,"
			    "\"usagePeriodAnchor\":\"2025-11-01T00:00:00.000Z\","
			    "\"usagePeriodStart\":\"2025-11-01T00:00:00.000Z\","
			    "\"usagePeriodEnd\":\"2030-01-01T00:00:00.000Z\","
			    "\"resetPeriod\":\"%s\",\"resetPeriodConfiguration\":"
			    "{\"accordingTo\":\"SubscriptionStart\"},"
			    "\"enumValues\":null,\"creditBalance\":null}",
			    i, i, 1000 * (i + 1), 37 * k + i,
			    periods[(k + i) % 3]);
			break;
		case 1:	/* fluctuating, unlimited */
			OUT("{\"feature\":{\"id\":\"seats-%d\",\"featureType\":"
			    "\"NUMBER\",\"meterType\":\"FLUCTUATING\",\"unit\":"
			    "\"seat\",\"units\":\"seats\"},\"usageLimit\":null,"
			    "\"hasUnlimitedUsage\":true,\"hasSoftLimit\":false,"
			    "\"currentUsage\":%d}", i, k + i);
			break;
		case 2:	/* an enum */
			OUT("{\"feature\":{\"id\":\"region-%d\",\"featureType\":"
			    "\"ENUM\"},\"enumValues\":[\"eu\",\"us\",\"ap\"],"
			    "\"hasUnlimitedUsage\":false,\"hasSoftLimit\":false}",
			    i);
			break;
		default: /* a boolean */
			OUT("{\"feature\":{\"id\":\"sso-%d\",\"featureType\":"
			    "\"BOOLEAN\"},\"hasUnlimitedUsage\":false,"
			    "\"hasSoftLimit\":false}", i);
			break;
		}
	}
	OUT("],\"eventId\":\"e-%d\",\"actor\":{\"type\":\"SUPPORT\"}}", k);
#undef OUT
	snprintf(name, sizeof(name), "generated-%02d (%d features)", k,
	    NFEATURES);
	add(name, buf, n, 1);
}

static double
cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Parses body i once; the kind it came out as. */
static int
parse_one(size_t i)
{
	struct event ev;
	char err[256];
	int rc, kind;

	rc = events_parse(bodies[i].text, bodies[i].len, INT64_C(1700000000000),
	    &ev, err, sizeof(err));
	if (rc == EVENTS_NOMEM)
		die("out of memory");
	if (rc != 0)
		return -1;
	kind = (int)ev.kind;
	events_free(&ev);
	return kind;
}

int
main(int argc, char **argv)
{
	const char *dir = "tests/data/examples";
	double t0, t, total = 0, gen = 0, ex = 0;
	long rounds = 20000, r;
	size_t i, nex = 0, ngen = 0;
	int c, k;

	while ((c = getopt(argc, argv, "n:d:")) != -1) {
		switch (c) {
		case 'n':
			rounds = strtol(optarg, NULL, 10);
			break;
		case 'd':
			dir = optarg;
			break;
		default:
			fprintf(stderr, "usage: events-bench [-n ROUNDS] "
			    "[-d EXAMPLES_DIR]\n");
			return 64;
		}
	}
	if (rounds < 1)
		die("-n: at least one round");
	load_examples(dir);
	for (k = 0; k < GENERATED; k++)
		generate(k);

	printf("| body | bytes | kind | CPU µs/message |\n");
	printf("|---|---:|---|---:|\n");
	for (i = 0; i < nbodies; i++) {
		k = parse_one(i);	/* warm up */
		t0 = cpu_us();
		for (r = 0; r < rounds; r++)
			(void)parse_one(i);
		t = cpu_us() - t0;
		total += t;
		if (bodies[i].generated) {
			gen += t;
			ngen++;
		} else {
			ex += t;
			nex++;
		}
		printf("| %s | %zu | %s | %.2f |\n", bodies[i].name,
		    bodies[i].len, k < 0 ? "rejected" :
		    events_kind_name((enum event_kind)k), t / (double)rounds);
	}
	printf("\nexamples (%zu bodies): %.2f CPU µs/message\n", nex,
	    nex ? ex / (double)rounds / (double)nex : 0.0);
	printf("generated entitlements (%zu bodies of %d features): "
	    "%.2f CPU µs/message\n", ngen, NFEATURES,
	    ngen ? gen / (double)rounds / (double)ngen : 0.0);
	printf("whole mix (%zu bodies x %ld rounds): %.2f CPU µs/message\n",
	    nbodies, rounds, total / (double)rounds / (double)nbodies);
	for (i = 0; i < nbodies; i++)
		free(bodies[i].text);
	return 0;
}

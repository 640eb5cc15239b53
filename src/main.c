/*
 * main: command line, configuration, then the master.  Configuration
 * errors exit with 78 (EX_CONFIG), as systemd's RestartPreventExitStatus
 * and operators expect; -t checks the configuration and exits, like
 * nginx -t.  The AWS credential chain is decided here too, so that a
 * source that cannot work is a configuration error, and -t says which
 * one the consumers will use.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "creds.h"
#include "health.h"
#include "log.h"
#include "master.h"
#include "rconn.h"
#include "notify.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: persistent-cache-service [-htV] [-c file]\n"
	    "  -c file  configuration file (default %s)\n"
	    "  -t       check the configuration and exit\n"
	    "  -V       print the version and exit\n"
	    "  -h       print this help and exit\n",
	    CONFIG_DEFAULT_PATH);
}

int
main(int argc, char *argv[])
{
	struct creds_plan *plan;
	struct config *cfg;
	const char *path = NULL;
	char err[1024], desc[1024];
	int ch, test = 0;

	while ((ch = getopt(argc, argv, "c:htV")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'V':
			printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;	/* EX_USAGE */
		}
	}
	if (optind != argc) {
		fprintf(stderr, "persistent-cache-service: unexpected argument "
		    "'%s'\n", argv[optind]);
		usage(stderr);
		return 64;
	}
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
		fprintf(stderr, "persistent-cache-service: out of memory\n");
		return MASTER_EXIT_FAILURE;
	}
	if (config_load(cfg, path, NULL, err, sizeof(err)) == -1) {
		fprintf(stderr, "persistent-cache-service: %s\n", err);
		free(cfg);
		return MASTER_EXIT_CONFIG;
	}
	/* The TLS files are read now, as nginx -t reads its certificates. */
	if (rconn_tls_check(cfg, err, sizeof(err)) == -1 ||
	    creds_plan(cfg, &plan, err, sizeof(err)) == -1) {
		fprintf(stderr, "persistent-cache-service: %s\n", err);
		config_free(cfg);
		free(cfg);
		return MASTER_EXIT_CONFIG;
	}
	creds_plan_describe(plan, desc, sizeof(desc));
	creds_plan_free(plan);
	if (test) {
		/* One line, for scripts: what was read, and what it means. */
		printf("persistent-cache-service: configuration OK (%s); "
		    "region %s%s; AWS credentials: %s\n", cfg->path != NULL ?
		    cfg->path : "no file, environment only", cfg->aws_region,
		    cfg->aws_region_from_url ? " (from the queue URL)" : "",
		    desc);
		config_free(cfg);
		free(cfg);
		return 0;
	}
	log_init("master", cfg->log_level);
	log_set_format(cfg->log_format);
	if (log_open(cfg->log_file) == -1) {
		fprintf(stderr, "persistent-cache-service: log_file: cannot "
		    "open %s: %s\n", cfg->log_file, strerror(errno));
		config_free(cfg);
		free(cfg);
		return MASTER_EXIT_CONFIG;
	}
	if (cfg->redis_tls && !cfg->redis_tls_verify)
		log_warn("redis: TLS without verification (redis_tls_verify "
		    "off): the server is not authenticated");
	notify_init();
	log_info("%s %s starting (pid %ld)", PACKAGE_NAME,
	    PACKAGE_VERSION, (long)getpid());
	log_info("aws: credentials: %s", desc);
	health_raise_nofile();
	ch = master_run(cfg, path);
	log_flush();
	free(cfg);
	return ch;
}

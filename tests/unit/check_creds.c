/*
 * check_creds: unit tests for the AWS credential chain.  The pure parts
 * directly (the shared files' parser, STS' XML, the JSON sources, times,
 * the refresh schedule); the plan from a struct config and shared files
 * written to a temporary directory; and a live provider on a private
 * libev loop running credential_process scripts, which needs no network.
 */
#include "autoconf.h"

#include <sys/stat.h>

#include <check.h>
#include <ev.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "config.h"
#include "creds.h"
#include "httpc.h"
#include "util.h"

static char	dir[64];
static char	credfile[128], conffile[128];
static struct config cfg;
static char	err[1024];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/check_creds.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(credfile, sizeof(credfile), "%s/credentials", dir);
	snprintf(conffile, sizeof(conffile), "%s/config", dir);
	memset(&cfg, 0, sizeof(cfg));
	cfg.aws_region = (char *)"us-east-1";
	cfg.aws_shared_credentials_file = credfile;
	cfg.aws_config_file = conffile;
	err[0] = '\0';
}

static void
rm(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	(void)unlink(path);
}

static void
teardown(void)
{
	rm("credentials");
	rm("config");
	rm("process.sh");
	rm("runs");
	rmdir(dir);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

/* The plan for cfg must be described as fmt says. */
static void
expect_plan(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
expect_plan(const char *fmt, ...)
{
	struct creds_plan *p = NULL;
	char desc[1024], want[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	if (creds_plan(&cfg, &p, err, sizeof(err)) != 0)
		ck_abort_msg("creds_plan failed: %s", err);
	ck_assert_ptr_nonnull(p);
	creds_plan_describe(p, desc, sizeof(desc));
	ck_assert_str_eq(desc, want);
	creds_plan_free(p);
}

static void
expect_plan_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
expect_plan_err(const char *fmt, ...)
{
	struct creds_plan *p = (struct creds_plan *)1;
	char want[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	ck_assert_int_eq(creds_plan(&cfg, &p, err, sizeof(err)), -1);
	ck_assert_ptr_null(p);
	ck_assert_str_eq(err, want);
	ck_assert_ptr_null(strchr(err, '\n'));
}

/* --- the shared files --- */

static struct creds_ini *
ini(const char *text, int config)
{
	struct creds_ini *i = NULL;
	char why[128];

	if (creds_ini_parse(text, strlen(text), config, &i, why,
	    sizeof(why)) != 0)
		ck_abort_msg("creds_ini_parse failed: %s", why);
	return i;
}

START_TEST(ini_sections_and_values)
{
	struct creds_ini *i = ini(
	    "# a comment\n"
	    "; another\n"
	    "[default]\n"
	    "aws_access_key_id = AKIDDEFAULT\r\n"
	    "AWS_Secret_Access_Key=s3cr3t = with = signs\n"
	    "\n"
	    "[ci]\n"
	    "  credential_process = /usr/bin/helper\n"
	    "    --arn x\n"
	    "region: eu-west-1\n"
	    "s3 =\n"
	    "  max_concurrent_requests = 20\n"
	    "  addressing_style = path\n"
	    "output = json  # not a comment\n"
	    "[ci]\n"
	    "region = us-east-2\n"
	    "[profile ci]\n"
	    "x = y\n", 0);

	ck_assert_int_eq(creds_ini_has(i, "default"), 1);
	ck_assert_str_eq(creds_ini_get(i, "default", "aws_access_key_id"),
	    "AKIDDEFAULT");
	ck_assert_str_eq(creds_ini_get(i, "default",
	    "aws_secret_access_key"), "s3cr3t = with = signs");
	/* An indented first line is a key; one after a value continues it. */
	ck_assert_str_eq(creds_ini_get(i, "ci", "credential_process"),
	    "/usr/bin/helper --arn x");
	/* A later section of the same name merges, a later key wins. */
	ck_assert_str_eq(creds_ini_get(i, "ci", "region"), "us-east-2");
	ck_assert_str_eq(creds_ini_get(i, "ci", "s3"), "");
	ck_assert_ptr_null(creds_ini_get(i, "ci", "max_concurrent_requests"));
	ck_assert_str_eq(creds_ini_get(i, "ci", "output"),
	    "json  # not a comment");
	/* In the credentials file a section is named as it is. */
	ck_assert_int_eq(creds_ini_has(i, "profile ci"), 1);
	ck_assert_ptr_null(creds_ini_get(i, "nope", "region"));
	ck_assert_int_eq(creds_ini_has(i, "nope"), 0);
	creds_ini_free(i);
}
END_TEST

START_TEST(ini_config_profiles)
{
	struct creds_ini *i = ini(
	    "[default]\n"
	    "region = us-east-1\n"
	    "[profile  dev ]\n"
	    "role_arn = r\n"
	    "[plain]\n"
	    "role_arn = ignored\n"
	    "[sso-session corp]\n"
	    "sso_start_url = https://x\n"
	    "  nested = too\n"
	    "[profile default]\n"
	    "output = json\n"
	    "[profile]\n"
	    "a = b\n", 1);

	ck_assert_str_eq(creds_ini_get(i, "default", "region"), "us-east-1");
	ck_assert_str_eq(creds_ini_get(i, "default", "output"), "json");
	ck_assert_str_eq(creds_ini_get(i, "dev", "role_arn"), "r");
	ck_assert_int_eq(creds_ini_has(i, "plain"), 0);
	ck_assert_int_eq(creds_ini_has(i, "sso-session corp"), 0);
	ck_assert_int_eq(creds_ini_has(i, "corp"), 0);
	ck_assert_int_eq(creds_ini_has(i, "profile"), 0);
	creds_ini_free(i);
}
END_TEST

START_TEST(ini_errors)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
		{ "[default\nx = y\n", "line 1: a section header without its "
		  "']'" },
		{ "x = y\n", "line 1: a setting before any [section]" },
		{ "[a]\n\njust words\n", "line 3: not a section header nor a "
		  "'name = value' line" },
		{ "[a]\n = y\n", "line 2: no name before '='" },
		{ "[ ]\n", "line 1: a section without a name" },
	};
	struct creds_ini *i;
	char why[128];
	size_t k;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		i = (struct creds_ini *)1;
		ck_assert_int_eq(creds_ini_parse(cases[k].text,
		    strlen(cases[k].text), 0, &i, why, sizeof(why)), -1);
		ck_assert_ptr_null(i);
		ck_assert_str_eq(why, cases[k].err);
	}
	ck_assert_int_eq(creds_ini_parse("[a]\nx = \0y\n", 10, 0, &i, why,
	    sizeof(why)), -1);
	ck_assert_str_eq(why, "line 2: a NUL byte");
	i = ini("", 1);
	ck_assert_int_eq(creds_ini_has(i, "default"), 0);
	creds_ini_free(i);
}
END_TEST

/* --- the plan --- */

START_TEST(plan_explicit_and_unsigned)
{
	struct creds_plan *p = (struct creds_plan *)1;
	char desc[128];

	cfg.aws_access_key_id = (char *)"AKIDEXAMPLE";
	cfg.aws_secret_access_key = (char *)"s3cr3t";
	expect_plan("static keys (aws_access_key_id)");
	cfg.aws_session_token = (char *)"t0k3n";
	expect_plan("static keys (aws_access_key_id, with a session token)");
	/* Never a secret, and no file read for them. */
	write_file(credfile, "garbage\n");
	expect_plan("static keys (aws_access_key_id, with a session token)");
	cfg.aws_session_token = (char *)"t0k\r\n";
	expect_plan_err("aws: aws_access_key_id: the session token is empty "
	    "or holds a space, a control character or a non-ASCII byte");
	cfg.aws_session_token = NULL;
	cfg.aws_access_key_id = NULL;
	cfg.aws_secret_access_key = NULL;
	cfg.aws_no_sign_request = 1;
	ck_assert_int_eq(creds_plan(&cfg, &p, err, sizeof(err)), 0);
	ck_assert_ptr_null(p);
	creds_plan_describe(NULL, desc, sizeof(desc));
	ck_assert_str_eq(desc, "none: requests go unsigned "
	    "(aws_no_sign_request)");
}
END_TEST

START_TEST(plan_nothing_configured)
{
	/* No files: instance metadata, unless disabled. */
	expect_plan("instance metadata (IMDSv2) at http://169.254.169.254");
	cfg.aws_ec2_metadata_service_endpoint = (char *)"http://[::1]:9/";
	expect_plan("instance metadata (IMDSv2) at http://[::1]:9");
	cfg.aws_ec2_metadata_disabled = 1;
	expect_plan_err("aws: no credentials: no explicit keys "
	    "(AWS_ACCESS_KEY_ID), web identity (AWS_WEB_IDENTITY_TOKEN_FILE), "
	    "profile 'default' (in neither %s nor %s) or container credentials "
	    "(AWS_CONTAINER_CREDENTIALS_FULL_URI), and "
	    "AWS_EC2_METADATA_DISABLED is set; AWS_NO_SIGN_REQUEST=true sends "
	    "unsigned requests, for an emulator", credfile, conffile);
	/* A default profile with only a region: the chain goes on. */
	write_file(conffile, "[default]\nregion = eu-west-1\n");
	expect_plan_err("aws: no credentials: no explicit keys "
	    "(AWS_ACCESS_KEY_ID), web identity (AWS_WEB_IDENTITY_TOKEN_FILE), "
	    "profile 'default' (in %s, without credentials) or container "
	    "credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI), and "
	    "AWS_EC2_METADATA_DISABLED is set; AWS_NO_SIGN_REQUEST=true sends "
	    "unsigned requests, for an emulator", conffile);
	cfg.aws_ec2_metadata_disabled = 0;
	cfg.aws_ec2_metadata_service_endpoint = NULL;
	expect_plan("instance metadata (IMDSv2) at http://169.254.169.254");
	cfg.aws_shared_credentials_file = cfg.aws_config_file = NULL;
	cfg.aws_ec2_metadata_disabled = 1;
	expect_plan_err("aws: no credentials: no explicit keys "
	    "(AWS_ACCESS_KEY_ID), web identity (AWS_WEB_IDENTITY_TOKEN_FILE), "
	    "profile 'default' (in no file: HOME is unset, and neither "
	    "AWS_SHARED_CREDENTIALS_FILE nor AWS_CONFIG_FILE is set) or "
	    "container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI), and "
	    "AWS_EC2_METADATA_DISABLED is set; AWS_NO_SIGN_REQUEST=true sends "
	    "unsigned requests, for an emulator");
}
END_TEST

START_TEST(plan_container)
{
	cfg.aws_container_credentials_relative_uri = (char *)"/v2/credentials/x";
	expect_plan("container credentials at "
	    "http://169.254.170.2/v2/credentials/x");
	cfg.aws_container_credentials_relative_uri = NULL;
	cfg.aws_container_credentials_full_uri =
	    (char *)"http://169.254.170.23/v1/credentials";
	cfg.aws_container_authorization_token_file = (char *)"/run/token";
	expect_plan("container credentials at "
	    "http://169.254.170.23/v1/credentials, with the token in "
	    "/run/token");
	cfg.aws_container_authorization_token_file = NULL;
	cfg.aws_container_authorization_token = (char *)"s3cr3t-token";
	expect_plan("container credentials at "
	    "http://169.254.170.23/v1/credentials, with "
	    "AWS_CONTAINER_AUTHORIZATION_TOKEN");
	/* The default profile comes first. */
	write_file(credfile, "[default]\naws_access_key_id = A1\n"
	    "aws_secret_access_key = S1\n");
	expect_plan("profile 'default' (static keys) in %s", credfile);
}
END_TEST

START_TEST(plan_web_identity)
{
	cfg.aws_web_identity_token_file = (char *)"/var/run/token";
	cfg.aws_role_arn = (char *)"arn:aws:iam::123456789012:role/w";
	expect_plan("web identity: role arn:aws:iam::123456789012:role/w "
	    "(AWS_WEB_IDENTITY_TOKEN_FILE /var/run/token)");
	/* Explicit keys come first; the role is then on top of them. */
	cfg.aws_access_key_id = (char *)"AKIDEXAMPLE";
	cfg.aws_secret_access_key = (char *)"s3cr3t";
	expect_plan("static keys (aws_access_key_id)");
	cfg.aws_web_identity_token_file = NULL;
	expect_plan("role arn:aws:iam::123456789012:role/w (AWS_ROLE_ARN), "
	    "from static keys (aws_access_key_id)");
	cfg.aws_role_external_id = (char *)"ext-1";
	expect_plan("role arn:aws:iam::123456789012:role/w (AWS_ROLE_ARN, "
	    "with an external id), from static keys (aws_access_key_id)");
}
END_TEST

START_TEST(plan_profiles)
{
	write_file(credfile,
	    "[default]\n"
	    "aws_access_key_id = AKIDDEFAULT\n"
	    "aws_secret_access_key = s3cr3t-default\n"
	    "[base]\n"
	    "aws_access_key_id = AKIDBASE\n"
	    "aws_secret_access_key = s3cr3t-base\n"
	    "[both]\n"
	    "credential_process = /from/credentials\n"
	    "[half]\n"
	    "aws_access_key_id = AKIDHALF\n");
	write_file(conffile,
	    "[profile ci]\n"
	    "credential_process = /usr/bin/helper sign\n"
	    "[profile both]\n"
	    "credential_process = /from/config\n"
	    "[profile dev]\n"
	    "role_arn = arn:aws:iam::123456789012:role/dev\n"
	    "source_profile = base\n"
	    "[profile keyrole]\n"
	    "role_arn = arn:aws:iam::123456789012:role/kr\n"
	    "source_profile = keyrole\n"
	    "aws_access_key_id = AKIDSELF\n"
	    "aws_secret_access_key = s3cr3t-self\n"
	    "[profile prod]\n"
	    "role_arn = arn:aws:iam::123456789012:role/prod\n"
	    "source_profile = keyrole\n"
	    "external_id = ext-9\n"
	    "role_session_name = pcs\n"
	    "duration_seconds = 3600\n"
	    "[profile empty]\n"
	    "region = eu-west-1\n"
	    "[profile wi]\n"
	    "role_arn = arn:aws:iam::123456789012:role/wi\n"
	    "web_identity_token_file = /var/run/wi\n");
	/* Implicitly, the default profile. */
	expect_plan("profile 'default' (static keys) in %s", credfile);
	cfg.aws_profile = (char *)"ci";
	expect_plan("profile 'ci' (credential_process) in %s", conffile);
	/* In both files: the credentials file's keys win. */
	cfg.aws_profile = (char *)"both";
	expect_plan("profile 'both' (credential_process) in %s and %s",
	    credfile, conffile);
	cfg.aws_profile = (char *)"dev";
	expect_plan("profile 'dev' (role arn:aws:iam::123456789012:role/dev) "
	    "in %s, from profile 'base' (static keys) in %s", conffile,
	    credfile);
	/* A profile naming itself takes its own keys for its role. */
	cfg.aws_profile = (char *)"keyrole";
	expect_plan("profile 'keyrole' (role arn:aws:iam::123456789012:role/kr) "
	    "in %s, from profile 'keyrole' (static keys) in %s", conffile,
	    conffile);
	/* As a source, its static keys, not its role. */
	cfg.aws_profile = (char *)"prod";
	expect_plan("profile 'prod' (role arn:aws:iam::123456789012:role/prod) "
	    "in %s, from profile 'keyrole' (static keys) in %s", conffile,
	    conffile);
	cfg.aws_profile = (char *)"wi";
	expect_plan("profile 'wi' (web identity: role "
	    "arn:aws:iam::123456789012:role/wi, token file /var/run/wi) in %s",
	    conffile);
	/* The explicit keys and a profile that does not take them. */
	cfg.aws_access_key_id = (char *)"AKIDEXAMPLE";
	cfg.aws_secret_access_key = (char *)"s3cr3t";
	expect_plan_err("aws: profile 'wi' (AWS_PROFILE) and the explicit keys "
	    "(aws_access_key_id) both set, and the profile does not use them "
	    "(credential_source Environment); use one");
	cfg.aws_access_key_id = cfg.aws_secret_access_key = NULL;
	cfg.aws_profile = (char *)"empty";
	expect_plan_err("aws: profile 'empty' in %s has no credentials "
	    "(aws_access_key_id, credential_process, role_arn)", conffile);
	cfg.aws_profile = (char *)"half";
	expect_plan_err("aws: profile 'half' in %s: aws_access_key_id without "
	    "aws_secret_access_key", credfile);
	cfg.aws_profile = (char *)"nope";
	expect_plan_err("aws: profile 'nope' (AWS_PROFILE) is in neither %s "
	    "nor %s", credfile, conffile);
	cfg.aws_config_file = NULL;
	expect_plan_err("aws: profile 'nope' (AWS_PROFILE) is not in %s",
	    credfile);
}
END_TEST

START_TEST(plan_credential_source)
{
	write_file(conffile,
	    "[profile env]\n"
	    "role_arn = arn:aws:iam::123456789012:role/env\n"
	    "credential_source = Environment\n"
	    "[profile ec2]\n"
	    "role_arn = arn:aws:iam::123456789012:role/ec2\n"
	    "credential_source = Ec2InstanceMetadata\n"
	    "[profile ecs]\n"
	    "role_arn = arn:aws:iam::123456789012:role/ecs\n"
	    "credential_source = EcsContainer\n"
	    "[profile bad]\n"
	    "role_arn = arn:aws:iam::123456789012:role/bad\n"
	    "credential_source = Lambda\n"
	    "[profile two]\n"
	    "role_arn = arn:aws:iam::123456789012:role/two\n"
	    "credential_source = Environment\n"
	    "source_profile = env\n"
	    "[profile none]\n"
	    "role_arn = arn:aws:iam::123456789012:role/none\n");
	cfg.aws_profile = (char *)"env";
	expect_plan_err("aws: profile 'env' in %s: credential_source "
	    "Environment, but aws_access_key_id (AWS_ACCESS_KEY_ID) is unset",
	    conffile);
	/* With AWS_PROFILE, the profile comes before the explicit keys. */
	cfg.aws_access_key_id = (char *)"AKIDEXAMPLE";
	cfg.aws_secret_access_key = (char *)"s3cr3t";
	expect_plan("profile 'env' (role arn:aws:iam::123456789012:role/env, "
	    "credential_source Environment) in %s, from static keys "
	    "(aws_access_key_id)", conffile);
	cfg.aws_access_key_id = cfg.aws_secret_access_key = NULL;
	cfg.aws_profile = (char *)"ec2";
	expect_plan("profile 'ec2' (role arn:aws:iam::123456789012:role/ec2, "
	    "credential_source Ec2InstanceMetadata) in %s, from instance "
	    "metadata (IMDSv2) at http://169.254.169.254", conffile);
	cfg.aws_ec2_metadata_disabled = 1;
	expect_plan_err("aws: profile 'ec2' in %s: instance metadata, but "
	    "AWS_EC2_METADATA_DISABLED is set", conffile);
	cfg.aws_profile = (char *)"ecs";
	expect_plan_err("aws: profile 'ecs' in %s: container credentials, but "
	    "neither AWS_CONTAINER_CREDENTIALS_FULL_URI nor "
	    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is set", conffile);
	cfg.aws_container_credentials_full_uri = (char *)"http://127.0.0.1:9/c";
	expect_plan("profile 'ecs' (role arn:aws:iam::123456789012:role/ecs, "
	    "credential_source EcsContainer) in %s, from container "
	    "credentials at http://127.0.0.1:9/c", conffile);
	cfg.aws_profile = (char *)"bad";
	expect_plan_err("aws: profile 'bad' in %s: credential_source 'Lambda' "
	    "is none of Environment, Ec2InstanceMetadata, EcsContainer",
	    conffile);
	cfg.aws_profile = (char *)"two";
	expect_plan_err("aws: profile 'two' in %s: source_profile and "
	    "credential_source both set; use one", conffile);
	cfg.aws_profile = (char *)"none";
	expect_plan_err("aws: profile 'none' in %s: role_arn needs "
	    "source_profile, credential_source or web_identity_token_file",
	    conffile);
}
END_TEST

START_TEST(plan_source_chains)
{
	char text[4096];
	size_t off = 0;
	int i;

	write_file(conffile,
	    "[profile a]\n"
	    "role_arn = arn:aws:iam::123456789012:role/a\n"
	    "source_profile = b\n"
	    "[profile b]\n"
	    "role_arn = arn:aws:iam::123456789012:role/b\n"
	    "source_profile = c\n"
	    "[profile c]\n"
	    "role_arn = arn:aws:iam::123456789012:role/c\n"
	    "source_profile = a\n"
	    "[profile self]\n"
	    "role_arn = arn:aws:iam::123456789012:role/s\n"
	    "source_profile = self\n"
	    "[profile lost]\n"
	    "role_arn = arn:aws:iam::123456789012:role/l\n"
	    "source_profile = nowhere\n"
	    "[profile top]\n"
	    "role_arn = arn:aws:iam::123456789012:role/top\n"
	    "source_profile = empty\n"
	    "[profile empty]\n"
	    "output = json\n"
	    "[profile proc]\n"
	    "role_arn = arn:aws:iam::123456789012:role/p\n"
	    "source_profile = runner\n"
	    "[profile runner]\n"
	    "credential_process = /bin/helper\n");
	cfg.aws_profile = (char *)"a";
	expect_plan_err("aws: profile 'a' in %s: source_profile chain loops: "
	    "a -> b -> c -> a", conffile);
	cfg.aws_profile = (char *)"self";
	expect_plan_err("aws: profile 'self' in %s: source_profile names the "
	    "profile itself, which has no static keys", conffile);
	cfg.aws_profile = (char *)"lost";
	expect_plan_err("aws: profile 'lost' in %s: source_profile 'nowhere' "
	    "is in neither %s nor %s", conffile, credfile, conffile);
	cfg.aws_profile = (char *)"top";
	expect_plan_err("aws: profile 'top' in %s: source_profile 'empty' in "
	    "%s has no credentials", conffile, conffile);
	cfg.aws_profile = (char *)"proc";
	cfg.aws_role_arn = (char *)"arn:aws:iam::210987654321:role/x";
	expect_plan("role arn:aws:iam::210987654321:role/x (AWS_ROLE_ARN), "
	    "from profile 'proc' (role arn:aws:iam::123456789012:role/p) in "
	    "%s, from profile 'runner' (credential_process) in %s", conffile,
	    conffile);
	cfg.aws_role_arn = NULL;
	/* Eight profiles in a chain at most. */
	for (i = 0; i < 9; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "[profile p%d]\nrole_arn = arn:aws:iam::123456789012:role/"
		    "p%d\nsource_profile = p%d\n", i, i, i + 1);
	snprintf(text + off, sizeof(text) - off, "[profile p9]\n"
	    "credential_process = /bin/true\n");
	write_file(conffile, text);
	cfg.aws_profile = (char *)"p2";
	expect_plan("profile 'p2' (role arn:aws:iam::123456789012:role/p2) "
	    "in %s, from profile 'p3' (role arn:aws:iam::123456789012:role/p3) "
	    "in %s, from profile 'p4' (role arn:aws:iam::123456789012:role/p4) "
	    "in %s, from profile 'p5' (role arn:aws:iam::123456789012:role/p5) "
	    "in %s, from profile 'p6' (role arn:aws:iam::123456789012:role/p6) "
	    "in %s, from profile 'p7' (role arn:aws:iam::123456789012:role/p7) "
	    "in %s, from profile 'p8' (role arn:aws:iam::123456789012:role/p8) "
	    "in %s, from profile 'p9' (credential_process) in %s", conffile,
	    conffile, conffile, conffile, conffile, conffile, conffile,
	    conffile);
	cfg.aws_profile = (char *)"p1";
	expect_plan_err("aws: profile 'p8' in %s: source_profile chain deeper "
	    "than 8 profiles", conffile);
}
END_TEST

START_TEST(plan_profile_errors)
{
	write_file(conffile,
	    "[profile arn]\n"
	    "role_arn = arn:aws:iam::123:role/x\n"
	    "source_profile = arn\n"
	    "[profile mfa]\n"
	    "role_arn = arn:aws:iam::123456789012:role/m\n"
	    "mfa_serial = arn:aws:iam::123456789012:mfa/me\n"
	    "source_profile = mfa\n"
	    "[profile dur]\n"
	    "role_arn = arn:aws:iam::123456789012:role/d\n"
	    "credential_source = Ec2InstanceMetadata\n"
	    "duration_seconds = 60\n"
	    "[profile ext]\n"
	    "role_arn = arn:aws:iam::123456789012:role/e\n"
	    "credential_source = Ec2InstanceMetadata\n"
	    "external_id = a b\n"
	    "[profile sso]\n"
	    "sso_session = corp\n"
	    "sso_account_id = 123456789012\n"
	    "[profile wi]\n"
	    "web_identity_token_file = /run/t\n"
	    "[profile wirel]\n"
	    "role_arn = arn:aws:iam::123456789012:role/w\n"
	    "web_identity_token_file = run/t\n"
	    "[profile syntax]\n");
	cfg.aws_profile = (char *)"arn";
	expect_plan_err("aws: profile 'arn' in %s: role_arn "
	    "'arn:aws:iam::123:role/x' is invalid: %s", conffile,
	    CONFIG_WHY_ROLE_ARN);
	cfg.aws_profile = (char *)"mfa";
	expect_plan_err("aws: profile 'mfa' in %s: mfa_serial wants a code "
	    "typed at a terminal, which a daemon cannot ask for", conffile);
	cfg.aws_profile = (char *)"dur";
	expect_plan_err("aws: profile 'dur' in %s: duration_seconds '60' is "
	    "not a number of seconds from 900 to 43200", conffile);
	cfg.aws_profile = (char *)"ext";
	expect_plan_err("aws: profile 'ext' in %s: external_id 'a b' is "
	    "invalid: %s", conffile, CONFIG_WHY_EXTERNAL_ID);
	cfg.aws_profile = (char *)"sso";
	expect_plan_err("aws: profile 'sso' in %s: IAM Identity Center (SSO) "
	    "is not supported; use credential_process or static keys",
	    conffile);
	cfg.aws_profile = (char *)"wi";
	expect_plan_err("aws: profile 'wi' in %s: web_identity_token_file "
	    "needs role_arn", conffile);
	cfg.aws_profile = (char *)"wirel";
	expect_plan_err("aws: profile 'wirel' in %s: web_identity_token_file "
	    "'run/t' is not an absolute path", conffile);
	write_file(credfile, "[default\n");
	expect_plan_err("aws: %s: line 1: a section header without its ']'",
	    credfile);
	/* A file that cannot be read is an error; one absent is none. */
	unlink(credfile);
	ck_assert_int_eq(mkdir(credfile, 0700), 0);
	expect_plan_err("aws: %s: cannot read: Is a directory", credfile);
	ck_assert_int_eq(rmdir(credfile), 0);
}
END_TEST

/* --- STS --- */

static const char sts_ok[] =
    "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
    "  <AssumeRoleResult>\n"
    "  <SourceIdentity>Alice</SourceIdentity>\n"
    "    <AssumedRoleUser>\n"
    "      <Arn>arn:aws:sts::123456789012:assumed-role/demo/TestAR</Arn>\n"
    "      <AssumedRoleId>ARO123EXAMPLE123:TestAR</AssumedRoleId>\n"
    "    </AssumedRoleUser>\n"
    "    <Credentials>\n"
    "      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>\n"
    "      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
    "</SecretAccessKey>\n"
    "      <SessionToken>\n"
    "       AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQW"
    "LWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGd"
    "\n      </SessionToken>\n"
    "      <Expiration>2019-11-09T13:34:41Z</Expiration>\n"
    "    </Credentials>\n"
    "    <PackedPolicySize>6</PackedPolicySize>\n"
    "  </AssumeRoleResult>\n"
    "  <ResponseMetadata>\n"
    "    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>\n"
    "  </ResponseMetadata>\n"
    "</AssumeRoleResponse>\n";

static int
sts(const char *body, struct creds_value *v)
{
	return creds_parse_sts(body, strlen(body), v, err, sizeof(err));
}

START_TEST(sts_answers)
{
	struct creds_value v;
	int64_t ms;

	ck_assert_int_eq(sts(sts_ok, &v), 0);
	ck_assert_str_eq(v.access_key_id, "ASIAIOSFODNN7EXAMPLE");
	ck_assert_str_eq(v.secret_access_key,
	    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
	ck_assert_str_eq(v.session_token, "AQoDYXdzEPT//////////wEXAMPLEtc764"
	    "bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRq"
	    "TflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGd");
	ck_assert_int_eq(creds_parse_time("2019-11-09T13:34:41Z", &ms), 0);
	ck_assert(v.expires_ms == ms);
	creds_value_free(&v);
	ck_assert_ptr_null(v.secret_access_key);

	/* Prefixes, entities, CDATA. */
	ck_assert_int_eq(sts("<?xml version=\"1.0\"?><s:R xmlns:s=\"x\">"
	    "<s:Credentials><s:AccessKeyId>AKID&#65;&#x42;</s:AccessKeyId>"
	    "<s:SecretAccessKey>a&amp;b&lt;c&gt;d&quot;e&apos;f"
	    "</s:SecretAccessKey><s:SessionToken><![CDATA[t<o>k]]>"
	    "</s:SessionToken><s:Expiration>2030-01-01T00:00:00.000Z"
	    "</s:Expiration></s:Credentials></s:R>", &v), 0);
	ck_assert_str_eq(v.access_key_id, "AKIDAB");
	ck_assert_str_eq(v.secret_access_key, "a&b<c>d\"e'f");
	ck_assert_str_eq(v.session_token, "t<o>k");
	creds_value_free(&v);
}
END_TEST

START_TEST(sts_bad_answers)
{
	static const struct {
		const char *body, *err;
	} cases[] = {
		{ "", "no Credentials in the answer" },
		{ "garbage <<<>>>", "no Credentials in the answer" },
		{ "<Credentials><AccessKeyId>A</AccessKeyId></Credentials>",
		  "no SecretAccessKey in the answer" },
		{ "<Credentials><AccessKeyId>A<b>x</b></AccessKeyId>"
		  "</Credentials>", "AccessKeyId holds markup or a bad entity" },
		{ "<Credentials><AccessKeyId>A&bogus;</AccessKeyId>"
		  "</Credentials>", "AccessKeyId holds markup or a bad entity" },
		{ "<Credentials><AccessKeyId>A&#0;</AccessKeyId>"
		  "</Credentials>", "AccessKeyId holds markup or a bad entity" },
		{ "<Credentials><AccessKeyId>A&#xD800;</AccessKeyId>"
		  "</Credentials>", "AccessKeyId holds markup or a bad entity" },
		{ "<Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>"
		  "S</SecretAccessKey><SessionToken>T</SessionToken>"
		  "<Expiration>tomorrow</Expiration></Credentials>",
		  "Expiration is not an ISO 8601 time" },
		{ "<Credentials><AccessKeyId>A B</AccessKeyId><SecretAccessKey>"
		  "S</SecretAccessKey><SessionToken>T</SessionToken>"
		  "<Expiration>2030-01-01T00:00:00Z</Expiration></Credentials>",
		  "the access key id is empty or holds a space, a control "
		  "character or a non-ASCII byte" },
		{ "<Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>"
		  "S</SecretAccessKey><SessionToken>T&#10;X: y</SessionToken>"
		  "<Expiration>2030-01-01T00:00:00Z</Expiration></Credentials>",
		  "the session token is empty or holds a space, a control "
		  "character or a non-ASCII byte" },
		{ "<Credentials><AccessKeyId>A", "no Credentials in the answer" },
		{ "<Credentials><AccessKeyId>A</Credentials>",
		  "no AccessKeyId in the answer" },
	};
	struct creds_value v;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(sts(cases[i].body, &v), -1);
		ck_assert_str_eq(err, cases[i].err);
		ck_assert_ptr_null(v.access_key_id);
		ck_assert_ptr_null(v.secret_access_key);
	}
}
END_TEST

START_TEST(sts_errors)
{
	static const char body[] =
	    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
	    "\n  <Error>\n    <Type>Sender</Type>\n    <Code>AccessDenied</Code>"
	    "\n    <Message>User: arn:aws:iam::1:user/x is not authorized to "
	    "perform: sts:AssumeRole on resource: arn:aws:iam::1:role/r &amp; "
	    "more\nsecond line</Message>\n  </Error>\n  <RequestId>x"
	    "</RequestId>\n</ErrorResponse>\n";
	char code[64], msg[256];

	ck_assert_int_eq(creds_parse_sts_error(body, strlen(body), code,
	    sizeof(code), msg, sizeof(msg)), 0);
	ck_assert_str_eq(code, "AccessDenied");
	ck_assert_str_eq(msg, "User: arn:aws:iam::1:user/x is not authorized "
	    "to perform: sts:AssumeRole on resource: arn:aws:iam::1:role/r & "
	    "more");
	ck_assert_int_eq(creds_parse_sts_error("<Error><Code>Throttling</Code>"
	    "</Error>", 38, code, sizeof(code), msg, sizeof(msg)), 0);
	ck_assert_str_eq(code, "Throttling");
	ck_assert_str_eq(msg, "");
	ck_assert_int_eq(creds_parse_sts_error("Service Unavailable", 19,
	    code, sizeof(code), msg, sizeof(msg)), -1);
	ck_assert_int_eq(creds_parse_sts_error(sts_ok, strlen(sts_ok), code,
	    sizeof(code), msg, sizeof(msg)), -1);
}
END_TEST

/* --- the JSON sources --- */

static int
js(enum creds_json k, const char *body, struct creds_value *v)
{
	return creds_parse_json(k, body, strlen(body), v, err, sizeof(err));
}

START_TEST(json_sources)
{
	struct creds_value v;
	int64_t ms;

	ck_assert_int_eq(js(CREDS_JSON_PROCESS, "{\"Version\": 1, "
	    "\"AccessKeyId\": \"AKIDP\", \"SecretAccessKey\": \"sp\", "
	    "\"SessionToken\": \"tp\", \"Expiration\": "
	    "\"2030-01-01T00:00:00+00:00\"}\n", &v), 0);
	ck_assert_str_eq(v.access_key_id, "AKIDP");
	ck_assert_str_eq(v.secret_access_key, "sp");
	ck_assert_str_eq(v.session_token, "tp");
	ck_assert_int_eq(creds_parse_time("2030-01-01T00:00:00Z", &ms), 0);
	ck_assert(v.expires_ms == ms);
	creds_value_free(&v);
	/* Long-term keys from a process: no token, no expiry. */
	ck_assert_int_eq(js(CREDS_JSON_PROCESS, "{\"Version\":1,"
	    "\"AccessKeyId\":\"AKIDP\",\"SecretAccessKey\":\"sp\"}", &v), 0);
	ck_assert_ptr_null(v.session_token);
	ck_assert(v.expires_ms == 0);
	creds_value_free(&v);
	ck_assert_int_eq(js(CREDS_JSON_CONTAINER, "{\"RoleArn\":\"r\","
	    "\"AccessKeyId\":\"ASIAC\",\"SecretAccessKey\":\"sc\","
	    "\"Token\":\"tc\",\"Expiration\":\"2030-01-01T00:00:00Z\"}", &v),
	    0);
	ck_assert_str_eq(v.session_token, "tc");
	creds_value_free(&v);
	ck_assert_int_eq(js(CREDS_JSON_IMDS, "{\"Code\":\"Success\","
	    "\"LastUpdated\":\"2029-12-31T23:00:00Z\",\"Type\":\"AWS-HMAC\","
	    "\"AccessKeyId\":\"ASIAI\",\"SecretAccessKey\":\"si\","
	    "\"Token\":\"ti\",\"Expiration\":\"2030-01-01T00:00:00Z\"}", &v),
	    0);
	ck_assert_str_eq(v.access_key_id, "ASIAI");
	creds_value_free(&v);
}
END_TEST

START_TEST(json_bad_sources)
{
	static const struct {
		enum creds_json kind;
		const char *body, *err;
	} cases[] = {
		{ CREDS_JSON_PROCESS, "", "empty answer" },
		{ CREDS_JSON_PROCESS, "{\"Version\":1", "malformed JSON: "
		  "unexpected end" },
		{ CREDS_JSON_PROCESS, "[]", "not a JSON object" },
		{ CREDS_JSON_PROCESS, "{\"AccessKeyId\":\"A\","
		  "\"SecretAccessKey\":\"S\"}", "Version is not 1" },
		{ CREDS_JSON_PROCESS, "{\"Version\":\"1\",\"AccessKeyId\":\"A\","
		  "\"SecretAccessKey\":\"S\"}", "Version is not 1" },
		{ CREDS_JSON_PROCESS, "{\"Version\":1,\"AccessKeyId\":\"A\"}",
		  "SecretAccessKey is missing or not a string" },
		{ CREDS_JSON_PROCESS, "{\"Version\":1,\"AccessKeyId\":\"\","
		  "\"SecretAccessKey\":\"S\"}",
		  "AccessKeyId is missing or not a string" },
		{ CREDS_JSON_PROCESS, "{\"Version\":1,\"AccessKeyId\":\"A\","
		  "\"SecretAccessKey\":\"S\",\"Expiration\":5}",
		  "Expiration is not a string" },
		{ CREDS_JSON_PROCESS, "{\"Version\":1,\"AccessKeyId\":\"A\","
		  "\"SecretAccessKey\":\"S\",\"SessionToken\":7}",
		  "SessionToken is not a string" },
		{ CREDS_JSON_PROCESS, "{\"Version\":1,\"AccessKeyId\":\"A\","
		  "\"SecretAccessKey\":\"S\",\"Expiration\":\"soon\"}",
		  "Expiration is not an ISO 8601 time" },
		{ CREDS_JSON_PROCESS, "{\"Version\":1,\"AccessKeyId\":\"A\","
		  "\"SecretAccessKey\":\"S\\r\\nX: y\"}", "the secret access key "
		  "is empty or holds a space, a control character or a non-ASCII "
		  "byte" },
		{ CREDS_JSON_CONTAINER, "{\"AccessKeyId\":\"A\","
		  "\"SecretAccessKey\":\"S\",\"Token\":\"T\"}",
		  "Expiration is missing or not a string" },
		{ CREDS_JSON_IMDS, "{\"Code\":\"AssumeRoleUnauthorizedAccess\","
		  "\"Message\":\"EC2 cannot assume the role\"}",
		  "Code is 'AssumeRoleUnauthorizedAccess', not Success" },
		{ CREDS_JSON_IMDS, "{} x", "malformed JSON: data after the "
		  "value" },
	};
	struct creds_value v;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(js(cases[i].kind, cases[i].body, &v) == -1,
		    "case %zu", i);
		ck_assert_str_eq(err, cases[i].err);
		ck_assert_ptr_null(v.access_key_id);
	}
}
END_TEST

/* --- times and the schedule --- */

START_TEST(times)
{
	static const struct {
		const char *s;
		int64_t ms;
	} good[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2019-11-09T13:34:41Z", 1573306481000LL },
		{ "2019-11-09t13:34:41z", 1573306481000LL },
		{ "2019-11-09 13:34:41Z", 1573306481000LL },
		{ "2019-11-09T13:34:41.5Z", 1573306481500LL },
		{ "2019-11-09T13:34:41.123456789Z", 1573306481123LL },
		{ "2019-11-09T14:34:41+01:00", 1573306481000LL },
		{ "2019-11-09T08:04:41-0530", 1573306481000LL },
		{ "2024-02-29T00:00:00Z", 1709164800000LL },
		{ "2000-03-01T00:00:00Z", 951868800000LL },
		{ "2016-12-31T23:59:60Z", 1483228799000LL },
	};
	static const char *const bad[] = {
		"", "2019-11-09", "2019-11-09T13:34:41", "2019-11-09T13:34Z",
		"2019-13-09T13:34:41Z", "2019-02-29T00:00:00Z",
		"2100-02-29T00:00:00Z", "2019-11-31T00:00:00Z",
		"2019-11-09T24:00:00Z", "2019-11-09T13:60:00Z",
		"1969-12-31T23:59:59Z", "2019-11-09T13:34:41Zjunk",
		"2019-11-09T13:34:41.Z", "2019-11-09T13:34:41+1:00",
		"19-11-09T13:34:41Z", "2019/11/09T13:34:41Z",
		"2019-11-09T13:34:41+24:00",
	};
	int64_t ms;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_msg(creds_parse_time(good[i].s, &ms) == 0, "%s",
		    good[i].s);
		ck_assert_msg(ms == good[i].ms, "%s: %lld", good[i].s,
		    (long long)ms);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(creds_parse_time(bad[i], &ms) == -1, "%s",
		    bad[i]);
}
END_TEST

START_TEST(refresh_schedule)
{
	const int64_t now = 1700000000000LL;
	int64_t at;
	uint32_t r;

	ck_assert(creds_refresh_at(now, 0, 0) == 0);
	/* 20 s credentials: a third ahead, less up to a quarter of that. */
	ck_assert(creds_refresh_at(now, now + 20000, 0) ==
	    now + 20000 - 6666);
	for (r = 0; r < 5000; r += 7) {
		at = creds_refresh_at(now, now + 20000, r * 2654435761u);
		ck_assert(at >= now + 20000 - 6666 - 1666);
		ck_assert(at <= now + 20000 - 6666);
	}
	/* An hour: five minutes ahead at most, jitter up to 75 s. */
	ck_assert(creds_refresh_at(now, now + 3600000, 0) ==
	    now + 3600000 - 300000);
	ck_assert(creds_refresh_at(now, now + 3600000, 75000) ==
	    now + 3600000 - 375000);
	ck_assert(creds_refresh_at(now, now + 3600000, 75001) ==
	    now + 3600000 - 300000);
	/* Six hours, as instance metadata gives them. */
	ck_assert(creds_refresh_at(now, now + 21600000, 0) ==
	    now + 21600000 - 300000);
	/* Short lives alike; at worst 7/12 of the life has passed. */
	ck_assert(creds_refresh_at(now, now + 1200, 0) == now + 800);
	ck_assert(creds_refresh_at(now, now + 1200, 100) == now + 700);
	ck_assert(creds_refresh_at(now, now + 2, 0) == now + 2);
	/* Expired already: now. */
	ck_assert(creds_refresh_at(now, now - 1, 0) == now);
	ck_assert(creds_refresh_at(now, now, 0) == now);
}
END_TEST

START_TEST(check_values)
{
	struct creds_value v = { (char *)"AKID", (char *)"s3cr3t/+=", NULL, 0 };

	ck_assert_int_eq(creds_check_value(&v, err, sizeof(err)), 0);
	v.session_token = (char *)"tok";
	ck_assert_int_eq(creds_check_value(&v, err, sizeof(err)), 0);
	v.session_token = (char *)"";
	ck_assert_int_eq(creds_check_value(&v, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "the session token is empty or holds a space, a "
	    "control character or a non-ASCII byte");
	v.session_token = NULL;
	v.secret_access_key = (char *)"s\xc3\xa9";
	ck_assert_int_eq(creds_check_value(&v, err, sizeof(err)), -1);
	v.secret_access_key = (char *)"s";
	v.access_key_id = NULL;
	ck_assert_int_eq(creds_check_value(&v, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "the access key id is empty or holds a space, a "
	    "control character or a non-ASCII byte");
}
END_TEST

/* --- a live provider, with credential_process --- */

struct probe {
	struct ev_loop	*loop;
	int		 calls;
	int		 ok;
	char		 reason[CREDS_REASON_MAX];
	int		 in_new;	/* creds_new is running */
};

static void
on_state(void *arg, int ok, const char *reason)
{
	struct probe *pr = arg;

	ck_assert_int_eq(pr->in_new, 0);
	pr->calls++;
	pr->ok = ok;
	snprintf(pr->reason, sizeof(pr->reason), "%s",
	    reason != NULL ? reason : "");
	ck_assert_int_eq(ok || (reason != NULL && *reason != '\0'), 1);
	ev_break(pr->loop, EVBREAK_ONE);
}

static void
on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* Run the loop until the provider reports, within secs. */
static void
wait_state(struct probe *pr, int calls, double secs)
{
	ev_timer guard;

	ev_timer_init(&guard, on_guard, secs, 0.);
	ev_timer_start(pr->loop, &guard);
	while (pr->calls < calls && ev_is_active(&guard))
		ev_run(pr->loop, EVRUN_ONCE);
	ev_timer_stop(pr->loop, &guard);
	ck_assert_int_eq(pr->calls, calls);
}

/* A profile "p" whose credential_process is the script body. */
static void
process_profile(const char *body)
{
	char script[256], text[512];

	snprintf(script, sizeof(script), "%s/process.sh", dir);
	snprintf(text, sizeof(text), "#!/bin/sh\necho run >>'%s/runs'\n%s",
	    dir, body);
	write_file(script, text);
	snprintf(text, sizeof(text), "[profile p]\ncredential_process = "
	    "/bin/sh %s\n", script);
	write_file(conffile, text);
	cfg.aws_profile = (char *)"p";
}

static int
runs(void)
{
	char path[256], line[16];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/runs", dir);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		n++;
	fclose(f);
	return n;
}

START_TEST(provider_static)
{
	struct probe pr;
	struct creds_plan *plan;
	struct httpc *hc;
	struct creds *c;
	const struct creds_value *v;

	memset(&pr, 0, sizeof(pr));
	pr.loop = ev_loop_new(EVFLAG_AUTO);
	hc = httpc_new(pr.loop, 2);
	cfg.aws_access_key_id = (char *)"AKIDEXAMPLE";
	cfg.aws_secret_access_key = (char *)"s3cr3t";
	ck_assert_int_eq(creds_plan(&cfg, &plan, err, sizeof(err)), 0);
	pr.in_new = 1;
	c = creds_new(pr.loop, hc, &cfg, plan, on_state, &pr, err,
	    sizeof(err));
	pr.in_new = 0;
	ck_assert_ptr_nonnull(c);
	/* Current at once, reported from the loop. */
	ck_assert_ptr_nonnull(v = creds_current(c));
	ck_assert_str_eq(v->access_key_id, "AKIDEXAMPLE");
	ck_assert_str_eq(v->secret_access_key, "s3cr3t");
	ck_assert_int_eq(pr.calls, 0);
	wait_state(&pr, 1, 5);
	ck_assert_int_eq(pr.ok, 1);
	creds_invalidate(c);	/* harmless */
	ck_assert_ptr_nonnull(creds_current(c));
	creds_free(c);
	creds_plan_free(plan);
	httpc_free(hc);
	ev_loop_destroy(pr.loop);
}
END_TEST

START_TEST(provider_process)
{
	struct probe pr;
	struct creds_plan *plan;
	struct httpc *hc;
	struct creds *c;
	const struct creds_value *v;
	char body[512], exp[32];
	time_t t = time(NULL) + 3600;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(body, sizeof(body), "echo 'helper: signing' >&2\n"
	    "printf '{\"Version\": 1, \"AccessKeyId\": \"ASIAPROC\", "
	    "\"SecretAccessKey\": \"s3cr3t-proc\", \"SessionToken\": "
	    "\"t0k3n-proc\", \"Expiration\": \"%s\"}'\n", exp);
	process_profile(body);
	memset(&pr, 0, sizeof(pr));
	pr.loop = ev_loop_new(EVFLAG_AUTO);
	hc = httpc_new(pr.loop, 2);
	ck_assert_int_eq(creds_plan(&cfg, &plan, err, sizeof(err)), 0);
	c = creds_new(pr.loop, hc, &cfg, plan, on_state, &pr, err,
	    sizeof(err));
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_null(creds_current(c));
	ck_assert_str_eq(creds_reason(c), "aws: credentials: none fetched yet");
	wait_state(&pr, 1, 10);
	ck_assert_msg(pr.ok == 1, "%s", pr.reason);
	ck_assert_ptr_nonnull(v = creds_current(c));
	ck_assert_str_eq(v->access_key_id, "ASIAPROC");
	ck_assert_str_eq(v->secret_access_key, "s3cr3t-proc");
	ck_assert_str_eq(v->session_token, "t0k3n-proc");
	ck_assert(v->expires_ms == (int64_t)t * 1000);
	ck_assert_int_eq(runs(), 1);
	/* Refused as expired: run again, but not for every refusal. */
	creds_invalidate(c);
	creds_free(c);
	creds_plan_free(plan);
	httpc_free(hc);
	ev_loop_destroy(pr.loop);
}
END_TEST

/*
 * A process that exits leaving something it started in the background
 * with its stdout (an agent, a "sleep &"): what it wrote is the answer,
 * and what it left is killed, not waited for until the deadline.
 */
START_TEST(provider_process_leaves_a_child)
{
	struct probe pr;
	struct creds_plan *plan;
	struct httpc *hc;
	struct creds *c;
	const struct creds_value *v;
	char body[768], exp[32], pidfile[256], line[32];
	time_t t = time(NULL) + 3600;
	struct tm tm;
	FILE *f;
	long pid = 0;

	gmtime_r(&t, &tm);
	strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(pidfile, sizeof(pidfile), "%s/child.pid", dir);
	snprintf(body, sizeof(body), "sleep 300 &\necho $! >'%s'\n"
	    "printf '{\"Version\": 1, \"AccessKeyId\": \"ASIABG\", "
	    "\"SecretAccessKey\": \"s3cr3t-bg\", \"Expiration\": \"%s\"}'\n",
	    pidfile, exp);
	process_profile(body);
	memset(&pr, 0, sizeof(pr));
	pr.loop = ev_loop_new(EVFLAG_AUTO);
	hc = httpc_new(pr.loop, 2);
	ck_assert_int_eq(creds_plan(&cfg, &plan, err, sizeof(err)), 0);
	c = creds_new(pr.loop, hc, &cfg, plan, on_state, &pr, err,
	    sizeof(err));
	ck_assert_ptr_nonnull(c);
	/* Well before the 30 s deadline. */
	wait_state(&pr, 1, 10);
	ck_assert_msg(pr.ok == 1, "%s", pr.reason);
	ck_assert_ptr_nonnull(v = creds_current(c));
	ck_assert_str_eq(v->access_key_id, "ASIABG");
	ck_assert_ptr_nonnull(f = fopen(pidfile, "r"));
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	fclose(f);
	pid = strtol(line, NULL, 10);
	ck_assert_int_gt(pid, 1);
	/* Killed with the rest of its group (a zombie until init reaps it). */
	{
		char path[64], stat[512];
		int gone = 0, i;

		for (i = 0; i < 100 && !gone; i++) {
			snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
			if ((f = fopen(path, "r")) == NULL)
				gone = 1;
			else {
				gone = fgets(stat, sizeof(stat), f) != NULL &&
				    strstr(stat, ") Z ") != NULL;
				fclose(f);
			}
			if (!gone)
				usleep(20000);
		}
		ck_assert_msg(gone, "the background child %ld lives on", pid);
	}
	creds_free(c);
	creds_plan_free(plan);
	httpc_free(hc);
	ev_loop_destroy(pr.loop);
}
END_TEST

/* What the provider reports for a process that fails as body does. */
static void
process_fails(const char *body, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
process_fails(const char *body, const char *fmt, ...)
{
	struct probe pr;
	struct creds_plan *plan;
	struct httpc *hc;
	struct creds *c;
	char want[CREDS_REASON_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	process_profile(body);
	memset(&pr, 0, sizeof(pr));
	pr.loop = ev_loop_new(EVFLAG_AUTO);
	hc = httpc_new(pr.loop, 2);
	ck_assert_int_eq(creds_plan(&cfg, &plan, err, sizeof(err)), 0);
	c = creds_new(pr.loop, hc, &cfg, plan, on_state, &pr, err,
	    sizeof(err));
	wait_state(&pr, 1, 10);
	ck_assert_int_eq(pr.ok, 0);
	ck_assert_str_eq(pr.reason, want);
	ck_assert_str_eq(creds_reason(c), want);
	ck_assert_ptr_null(creds_current(c));
	ck_assert_ptr_null(strstr(pr.reason, "s3cr3t"));
	creds_free(c);
	creds_plan_free(plan);
	httpc_free(hc);
	ev_loop_destroy(pr.loop);
}

START_TEST(provider_process_fails)
{
	process_fails("echo 'no certificate' >&2\nexit 3\n",
	    "aws: credentials: credential_process of profile 'p': exited with "
	    "status 3");
	process_fails("echo '{\"Version\": 2}'\n",
	    "aws: credentials: credential_process of profile 'p': unreadable "
	    "output: Version is not 1");
	process_fails("printf '{\"Version\":1,\"AccessKeyId\":\"A\","
	    "\"SecretAccessKey\":\"s3cr3t-x\",\"SessionToken\":\"t\","
	    "\"Expiration\":\"2001-01-01T00:00:00Z\"}'\n",
	    "aws: credentials: credential_process of profile 'p': the "
	    "credentials came expired (at 2001-01-01T00:00:00Z; is the clock "
	    "right?)");
	/* The shell that runs it says 128 + 9. */
	process_fails("kill -9 $$\n", "aws: credentials: credential_process "
	    "of profile 'p': exited with status 137");
	/* Its output beyond 64 KiB: killed, not buffered. */
	process_fails("while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; "
	    "done\n", "aws: credentials: credential_process of profile 'p': "
	    "printed more than 64 KiB; killed");
}
END_TEST

static Suite *
creds_suite(void)
{
	const struct {
		const char	*name;
		const TTest	*test;
	} tests[] = {
#define T(t)	{ #t, t }
		T(ini_sections_and_values), T(ini_config_profiles),
		T(ini_errors), T(plan_explicit_and_unsigned),
		T(plan_nothing_configured), T(plan_container),
		T(plan_web_identity), T(plan_profiles),
		T(plan_credential_source), T(plan_source_chains),
		T(plan_profile_errors), T(sts_answers), T(sts_bad_answers),
		T(sts_errors), T(json_sources), T(json_bad_sources), T(times),
		T(refresh_schedule), T(check_values), T(provider_static),
		T(provider_process), T(provider_process_leaves_a_child),
		T(provider_process_fails),
#undef T
	};
	Suite *s = suite_create("creds");
	TCase *tc;
	size_t i;

	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		tc = tcase_create(tests[i].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, 60);
		tcase_add_test(tc, tests[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

int
main(void)
{
	/* A process' stderr and the provider's log lines go to stderr. */
	return testutil_run(creds_suite());
}

/*
 * main.c - tickpush: argv, configuration, wiring, run, ordered shutdown.
 *
 *   tickpush [--config FILE] [--name=value ...]   run the server
 *   tickpush --check-config [...]                 validate, print, exit
 *   tickpush --help | --version
 *   tickpush user add|passwd NAME [--name=value ...]  manage accounts
 *                                                      (password on stdin)
 *
 * Exit codes: 0 after a clean shutdown, 1 for a configuration error, 2 if
 * the server could not start, 70 if shutdown found leaked loop handles.
 * With workers > 1 the process is a supervisor (io/supervisor.c) before
 * anything else starts; each worker returns from it into the same path.
 */
#include <stdio.h>
#include <string.h>

#include "cli_user.h"
#include "reload.h"
#include "server.h"
#include "tls.h"
#include "supervisor.h"
#include "tickpush/config.h"
#include "tickpush/log.h"
#include "tickpush/metrics.h"
#include "tickpush/supervise.h"

#ifndef TICKPUSH_VERSION
#define TICKPUSH_VERSION "0.1.0"
#endif

extern char **environ;

static bool has_flag(int argc, char **argv, const char *flag)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], flag))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	struct tp_config cfg;
	struct tp_errdetail err = {{0}, NULL};
	struct tp_server *srv;
	char why[512];
	struct tp_worker worker = {.listen_fd = -1};
	unsigned workers;
	int level, rc;

	if (has_flag(argc, argv, "--help") || has_flag(argc, argv, "-h")) {
		tp_config_print_help(stdout, argv[0]);
		return 0;
	}
	if (has_flag(argc, argv, "--version")) {
		printf("tickpush %s\n", TICKPUSH_VERSION);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "user")) {
		char *sub_argv[64];
		int sub_argc = 1;

		if (argc < 4) {
			fprintf(stderr, "usage: tickpush user add|passwd NAME [--config FILE] [--name=value ...]\n");
			return 2;
		}
		/* The config sees argv[0] and the flags after NAME. */
		sub_argv[0] = argv[0];
		for (int i = 4; i < argc && sub_argc < 63; i++)
			sub_argv[sub_argc++] = argv[i];
		sub_argv[sub_argc] = NULL;
		if (tp_config_load(&cfg, tp_config_find_file_arg(sub_argc, sub_argv),
				   environ, sub_argc, sub_argv, &err)) {
			fprintf(stderr, "tickpush: invalid configuration: %s\n", err.msg);
			return 1;
		}
		rc = tp_cli_user(&cfg, argv[2], argv[3]);
		tp_config_cleanup(&cfg);
		return rc;
	}
	if (tp_config_load(&cfg, tp_config_find_file_arg(argc, argv), environ,
			   argc, argv, &err)) {
		fprintf(stderr, "tickpush: invalid configuration: %s\n", err.msg);
		return 1;
	}
	/* The TLS files: readable, matching (tls.c), before anything starts. */
	if (tp_tls_check(&cfg, why, sizeof(why))) {
		fprintf(stderr, "tickpush: invalid configuration: %s\n", why);
		tp_config_cleanup(&cfg);
		return 1;
	}
	if (has_flag(argc, argv, "--check-config")) {
		tp_config_print(stdout, &cfg);
		printf("configuration OK\n");
		tp_config_cleanup(&cfg);
		return 0;
	}
	level = tp_log_level_parse(cfg.log_level);
	if (level >= 0)
		tp_log_min_level = (enum tp_log_level)level;
	tp_log_format = tp_log_format_parse(cfg.log_format) == TP_LOG_JSON ? TP_LOG_JSON
									    : TP_LOG_KEYVALUE;

	/* SIGHUP reads the same sources again (reload.c). */
	tp_reload_source(tp_config_find_file_arg(argc, argv), argc, argv);
	TP_LOG(TP_LOG_NOTICE, "msg=\"starting\" version=%s", TICKPUSH_VERSION);
	tp_metrics_set_build_info(TICKPUSH_VERSION, lws_get_library_version());
	workers = tp_workers_parse(cfg.workers, tp_supervisor_cores());
	if (workers > 1) {
		rc = tp_supervisor_run(&cfg, workers, &worker);
		if (rc != TP_SUPERVISOR_WORKER) {
			tp_config_cleanup(&cfg);
			return rc;
		}
	}
	if (tp_server_init_worker(&srv, &cfg, &worker)) {
		tp_config_cleanup(&cfg);
		return 2;
	}
	rc = tp_server_run(srv);
	if (tp_server_cleanup(srv))
		rc = 70;
	tp_config_cleanup(&cfg);
	return rc;
}

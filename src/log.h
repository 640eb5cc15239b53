/*
 * log: one line per event to stderr (or a file, reopened on SIGUSR1), with
 * a "<N>" syslog priority prefix when stderr goes to the journal.  Every
 * line names the process ("master", "consumer 3").
 */
#ifndef PCS_LOG_H
#define PCS_LOG_H

#include "config.h"

void	log_init(const char *procname, enum config_log_level level);
void	log_set_procname(const char *procname);
void	log_set_level(enum config_log_level level);
/* Use path (NULL: stderr) from now on; returns -1 with errno if it cannot be opened. */
int	log_open(const char *path);
int	log_reopen(void);
int	log_fd(void);
/* The log file in use, NULL for stderr. */
const char *log_path(void);

void	log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

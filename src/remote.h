/*
 * remote.h: libpq connections from the backend to other servers under one deadline (remote.c).
 */
#ifndef APES_REMOTE_H
#define APES_REMOTE_H

#include "libpq-fe.h"
#include "utils/timestamp.h"

extern long apes_ms_left(TimestampTz deadline);
extern PGconn *apes_remote_connect(const char *dsn, TimestampTz deadline, char **err);
extern void apes_remote_query(PGconn *conn, const char *sql, TimestampTz deadline, PGresult **res, char **err);
extern char *apes_remote_error_for_caller(const char *err);

#endif							/* APES_REMOTE_H */

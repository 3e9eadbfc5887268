/*
 * pool.h: sessions read once from the backend status array, shared by the pool functions and the 'pool' findings.
 */
#ifndef APES_POOL_H
#define APES_POOL_H

#include "postgres.h"

#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/backend_status.h"
#include "utils/timestamp.h"

/* One backend as a report sees it; details are filled only where the caller may see them (visible). */
typedef struct ApesSession
{
	int			pid;
	BackendType type;
	Oid			role;
	Oid			database;
	bool		visible;		/* the caller may see state, address and transaction (pg_stat_activity's rule) */
	bool		self;			/* the caller's own backend */
	char		application[NAMEDATALEN];
	char		client_addr[64];	/* empty for Unix sockets, or when not visible */
	BackendState state;
	TimestampTz backend_start;	/* 0 when not visible */
	double		connected_secs; /* < 0 when not visible */
	double		xact_secs;		/* < 0: no transaction */
	double		state_secs;		/* time in the current state */
	TransactionId xmin;			/* backend xmin, else its xid */
	char		wait_type[32];
	char		wait_event[64];
	/* filled by apes_read_blocking() for blocked backends */
	int			nblockers;
	int		   *blockers;
	int			root_blocker;
	int			root_holds;		/* blocked backends with the same root blocker */
	const char *lock_type;
	const char *lock_mode;
	TimestampTz wait_since;
} ApesSession;

/* The server's slots. */
typedef struct ApesCapacity
{
	int			max_connections;
	int			reserved;
	int			usable;
	int			in_use;			/* client backends */
	int			other;			/* every other backend */
	int			headroom;
	double		pct;
} ApesCapacity;

extern bool apes_may_see_session(Oid role);
extern const char *apes_state_name(BackendState state);
extern List *apes_read_sessions(void);
extern List *apes_read_blocking(List *sessions);
extern ApesCapacity apes_capacity(List *sessions);
extern int	apes_connlimit(Oid oid, bool is_role);
extern void apes_count_by(List *sessions, bool by_role, Oid *oids, int *counts, int *n, int cap);

#endif							/* APES_POOL_H */

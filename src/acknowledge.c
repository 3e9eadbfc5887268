/*
 * acknowledge.c: acknowledged findings.  A DBA who has seen a finding and decided to live with it for a while
 * acknowledges it (apes.acknowledge(check_id, object_name, until, reason), kept in apes.acknowledgement): until
 * "until" passes, or the finding gets worse than the severity it had then, it leaves the verdict and the counts of
 * the reports, which say how many findings are acknowledged.  apes.findings() still returns it, flagged.
 *
 * Reads apes.acknowledgement through SPI once per report (a few rows); the findings are matched on a hash of
 * (check id, object name).
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "executor/spi.h"
#include "utils/lsyscache.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "apes.h"

/* One active acknowledgement: its key and the severity acknowledged. */
typedef struct ApesAck
{
	char		key[2 * NAMEDATALEN + 256];	/* check id, unit separator, object name (truncated: see apes_ack_key) */
	int			severity;
} ApesAck;

/* The hash key of a finding: check id and object name, cut to fit (a longer name then matches on its prefix). */
static void
apes_ack_key(char *key, const char *check_id, const char *object_name)
{
	snprintf(key, sizeof(((ApesAck *) 0)->key), "%s\x1f%s", check_id, object_name);
}

/*
 * Mark the findings an active acknowledgement covers (not expired, and the finding no worse than it was when
 * acknowledged); returns how many.  No acknowledgement: no hash table, one quick SPI query.
 */
int
apes_mark_acknowledged(List *findings)
{
	HASHCTL		ctl;
	HTAB	   *acks = NULL;
	int			marked = 0;
	ListCell   *lc;

	Oid			relid;

	/*
	 * Nothing to mark, the extension's SQL predates acknowledgements (before ALTER EXTENSION UPDATE), or the caller
	 * may run the reports but not read the acknowledgements (granted EXECUTE alone): then nothing is acknowledged.
	 */
	if (findings == NIL)
		return 0;
	relid = get_relname_relid("acknowledgement", get_namespace_oid("apes", true));
	if (!OidIsValid(relid) || pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		return 0;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT a.check_id, a.object_name, a.severity FROM apes.acknowledgement a"
					" WHERE a.until IS NULL OR a.until OPERATOR(pg_catalog.>) pg_catalog.now()", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading apes.acknowledgement failed");
	if (SPI_processed > 0)
	{
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(((ApesAck *) 0)->key);
		ctl.entrysize = sizeof(ApesAck);
		ctl.hcxt = CurrentMemoryContext;	/* SPI's procedure context: gone at SPI_finish */
		acks = hash_create("apes acknowledgements", Max(SPI_processed, 16), &ctl,
						   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			char		key[sizeof(((ApesAck *) 0)->key)];
			ApesAck    *a;
			bool		found;

			apes_ack_key(key, SPI_getvalue(tup, SPI_tuptable->tupdesc, 1), SPI_getvalue(tup, SPI_tuptable->tupdesc, 2));
			a = hash_search(acks, key, HASH_ENTER, &found);
			a->severity = apes_severity_by_name(SPI_getvalue(tup, SPI_tuptable->tupdesc, 3));
		}
		foreach(lc, findings)
		{
			ApesFinding *f = lfirst(lc);
			char		key[sizeof(((ApesAck *) 0)->key)];
			ApesAck    *a;

			apes_ack_key(key, f->check_id, f->object_name);
			a = hash_search(acks, key, HASH_FIND, NULL);
			/* a worse finding (a lower severity number) is reported again */
			if (a != NULL && (int) f->severity >= a->severity && a->severity >= 0)
			{
				f->acknowledged = true;
				marked++;
			}
		}
	}
	SPI_finish();
	return marked;
}

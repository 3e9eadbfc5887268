/*
 * server_health.c: the 'server' area: what threatens the whole cluster.
 *
 *   apes.filesystems()   free space of the filesystems of the data directory and pg_wal (statvfs())
 */
#include "postgres.h"

#include <sys/statvfs.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "apes.h"

/* One row of apes.filesystems(): statvfs() of path, or nothing when it fails (with a warning). */
static void
apes_emit_filesystem(ReturnSetInfo *rsinfo, const char *kind, const char *path)
{
	struct statvfs fs;
	Datum		values[5];
	bool		nulls[5] = {0};
	int64		total;
	int64		avail;
	int64		free_all;

	if (statvfs(path, &fs) != 0)
	{
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not read the filesystem of \"%s\": %m", path)));
		return;
	}
	total = (int64) fs.f_blocks * fs.f_frsize;
	avail = (int64) fs.f_bavail * fs.f_frsize;	/* what a process without root's reserve may still write */
	free_all = (int64) fs.f_bfree * fs.f_frsize;
	values[0] = CStringGetTextDatum(kind);
	values[1] = CStringGetTextDatum(path);
	values[2] = Int64GetDatum(total);
	values[3] = Int64GetDatum(avail);
	/* used as df counts it: used / (used + available to unprivileged processes) */
	if (total - free_all + avail > 0)
		values[4] = Float8GetDatum(100.0 * (double) (total - free_all) / (double) (total - free_all + avail));
	else
		nulls[4] = true;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

PG_FUNCTION_INFO_V1(apes_filesystems);

/* apes.filesystems(): the data directory's filesystem and pg_wal's (which may be a link to another). */
Datum
apes_filesystems(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	apes_init_materialized_srf(fcinfo);
	apes_emit_filesystem(rsinfo, "data", DataDir);
	apes_emit_filesystem(rsinfo, "wal", psprintf("%s/pg_wal", DataDir));
	return (Datum) 0;
}

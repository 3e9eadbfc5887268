/*
 * server_health.c: the 'server' area: what threatens the whole cluster.
 *
 * Its checks read small system views and the history (replication slots and standbys, the archiver, checkpoints,
 * every database's counters over pg_apes_health.server_window, disk space, settings), which SQL reads best: they are
 * apes.server_findings() (sql/), read through SPI (sql_findings.c); docs/server.md has their rules.  Here:
 *
 *   apes.filesystems()   free space of the filesystems of the data directory and pg_wal (statvfs())
 */
#include "postgres.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "apes.h"
#include "catalog.h"

/*
 * One row of apes.filesystems(): statvfs() of path, or nothing when it fails (with a warning); same: whether it is
 * the data directory's filesystem (the same device).
 */
static void
apes_emit_filesystem(ReturnSetInfo *rsinfo, const char *kind, const char *path, bool same)
{
	struct statvfs fs;
	Datum		values[6];
	bool		nulls[6] = {0};
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
	values[5] = BoolGetDatum(same);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

PG_FUNCTION_INFO_V1(apes_filesystems);

/* apes.filesystems(): the data directory's filesystem and pg_wal's (which may be a link to another). */
Datum
apes_filesystems(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *wal = psprintf("%s/pg_wal", DataDir);
	struct stat data_st;
	struct stat wal_st;
	bool		same;

	apes_init_materialized_srf(fcinfo);
	same = stat(DataDir, &data_st) == 0 && stat(wal, &wal_st) == 0 && data_st.st_dev == wal_st.st_dev;
	apes_emit_filesystem(rsinfo, "data", DataDir, true);
	apes_emit_filesystem(rsinfo, "wal", wal, same);
	return (Datum) 0;
}

/* The server area's collector: the rows of apes.server_findings(). */
void
apes_collect_server_findings(ApesCatalog *cat, List **out)
{
	apes_collect_sql_findings("server", "apes.server_findings", out);
}

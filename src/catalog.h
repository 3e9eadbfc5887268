/*
 * catalog.h: one pass over the system catalogs, shared by every check.
 *
 * apes_catalog_load() reads pg_namespace, pg_class, pg_index, pg_constraint and pg_inherits once, with plain catalog
 * heap scans under AccessShareLock, into arrays and hash tables in a private memory context.  No relation of the
 * user's is opened or locked here.  Objects in system schemas (pg_catalog, information_schema) and in temporary
 * schemas are left out; TOAST tables are kept only as ApesRel.toast of their table.
 */
#ifndef APES_CATALOG_H
#define APES_CATALOG_H

#include "postgres.h"
#include "nodes/pg_list.h"
#include "utils/acl.h"
#include "utils/backend_progress.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

/* One column of a table or index, and what pg_statistic says of it (apes_catalog_load_columns fills these). */
typedef struct ApesColumn
{
	int16		attnum;			/* 0: a dropped column (a gap in the array) */
	int16		typlen;
	char		typalign;
	char		storage;
	bool		notnull;
	bool		has_stats;		/* a pg_statistic row (stainherit = false) exists */
	Oid			typid;
	int32		typmod;
	float4		width;			/* stawidth: average stored width in bytes */
	float4		nullfrac;		/* stanullfrac */
	float4		ndistinct;		/* stadistinct: > 0 a count, < 0 a fraction of the rows */
	Acl		   *acl;			/* attacl (column privileges), NULL when none */
} ApesColumn;

/* One relation (table, partitioned table, matview, index or partitioned index) of a user schema. */
typedef struct ApesRel
{
	Oid			oid;			/* hash key */
	Oid			nspoid;
	const char *nspname;		/* points into the namespace table */
	const char *relname;
	char		relkind;
	bool		ispartition;	/* attached partition (of a table or of an index) */
	Oid			parent;			/* pg_inherits parent when ispartition, else InvalidOid */
	int32		relpages;
	int32		relallvisible;
	float4		reltuples;
	Oid			relam;
	Oid			relfilenode;
	Oid			reltablespace;
	Oid			toastrelid;		/* reltoastrelid */
	Oid			relowner;
	Acl		   *relacl;			/* NULL: the owner's default privileges */
	bool		rowsecurity;	/* relrowsecurity */
	struct ApesRel *toast;		/* its TOAST table (relkind 't', only ever reached from here), or NULL */
	char		relpersistence;
	int16		relnatts;
	char		relreplident;	/* replica identity: d default, n nothing, f full, i index */
	bool		av_enabled;		/* tables: reloption autovacuum_enabled (true when unset) */
	int32		av_vac_threshold;	/* tables: reloption autovacuum_vacuum_threshold, -1 when unset */
	int32		av_vac_max_threshold;	/* tables: autovacuum_vacuum_max_threshold (18), -2 when unset */
	float4		av_vac_scale;	/* tables: reloption autovacuum_vacuum_scale_factor, -1 when unset */
	int16		fillfactor;		/* from reloptions for tables and btree indexes, else the access method's default */
	bool		dedup;			/* btree: deduplicate_items */
	char	   *options;		/* indexes: reloptions, sorted and comma-joined (apes_index_options), or NULL */
	ApesColumn *columns;		/* relnatts columns by attnum - 1, NULL until apes_catalog_load_columns() */
	bool		columns_loaded;
	bool		bloat_candidate;	/* scratch for one report: big enough to be a bloat candidate */
	bool		bloat_active;	/* scratch: never vacuumed nor analyzed, but has rows */
	bool		bloat_columns;	/* scratch: its columns are needed (the table of a candidate index) */
	bool		index_columns;	/* scratch: index_null_heavy needs its columns' statistics */
	List	   *children;		/* partitions (ApesRel *), for partitioned tables and indexes */
	List	   *indexes;		/* for tables: their indexes (ApesIndex *), oldest first */
	List	   *fks;			/* for tables: their foreign keys (ApesForeignKey *) */
	int64		disk_bytes;		/* main-fork bytes, -1 until apes_rel_bytes() computed it */
	struct ApesIndex *index;	/* for indexes: the pg_index row */
	char	   *indexdef;		/* for indexes: pg_get_indexdef(), once computed */
} ApesRel;

/* One pg_index row, with what pg_constraint says about it. */
typedef struct ApesIndex
{
	Oid			oid;			/* the index's oid (copied here for sorting) */
	ApesRel    *rel;			/* the index */
	ApesRel    *table;			/* the table it is on */
	int16		natts;			/* key + INCLUDE columns */
	int16		nkeyatts;
	int16	   *keys;			/* natts attribute numbers; 0 = expression */
	bool		unique;
	bool		primary;
	bool		exclusion;
	bool		immediate;
	bool		clustered;
	bool		valid;
	bool		ready;
	bool		live;
	bool		replident;
	bool		nulls_not_distinct;
	Oid		   *opclass;		/* nkeyatts */
	Oid		   *collation;		/* nkeyatts */
	int16	   *option;			/* nkeyatts (DESC, NULLS FIRST) */
	char	   *exprs_text;		/* indexprs as stored, or NULL */
	char	   *pred_text;		/* indpred as stored, or NULL */
	/* the node trees, parsed by apes_index_detail() only for the indexes a check compares */
	MemoryContext cxt;			/* the catalog's memory context, where they are kept */
	bool		detailed;		/* exprs and pred are parsed */
	List	   *exprs;			/* index expressions, in key order */
	List	   *pred;			/* predicate as an implicit-AND list, NIL when not partial */
	Oid			constraint_oid; /* PK, unique or exclusion constraint this index backs, or InvalidOid */
	char		constraint_type;	/* 'p', 'u', 'x' or 0 */
	char	   *constraint_name;
	Oid			fk_referencing; /* a foreign key whose referenced side uses this index, or InvalidOid */
	bool		proposed;		/* scratch for one report: a drop of this index is already proposed */
	bool		relied_on;		/* scratch: a proposed drop relies on this index staying */
	bool		named_cover;	/* scratch: an index_redundant finding names it as the cover */
	bool		scans_known;	/* scratch: scans below is filled */
	int64		scans;			/* scratch: index scans in the statistics window */
} ApesIndex;

/* One foreign key constraint. */
typedef struct ApesForeignKey
{
	Oid			oid;
	char	   *name;
	ApesRel    *table;			/* referencing table */
	ApesRel    *reftable;		/* referenced table (NULL if in a skipped schema) */
	Oid			parent;			/* conparentid: the constraint it was cloned from, for partitions */
	int			nkeys;
	int16	   *keys;			/* referencing columns */
	int16	   *refkeys;		/* referenced columns (confkey), nkeys */
	Oid		   *pfeqop;			/* conpfeqop: the PK = FK operator of each column, which the action lookups use */
	char		deltype;
	char		updtype;
} ApesForeignKey;

/* Everything one report needs to know about the catalogs. */
typedef struct ApesCatalog
{
	MemoryContext cxt;
	struct apes_relhash_hash *rels; /* Oid -> ApesRel (simplehash, catalog.c) */
	ApesRel   **relarray;		/* every relation, in no particular order */
	int			nrels;
	ApesIndex **indexes;		/* sorted by index oid */
	int			nindexes;
	ApesForeignKey **fks;
	int			nfks;
	TimestampTz now;
	TimestampTz stats_since;	/* counters cover at least [stats_since, now] */
	const char *stats_since_basis;	/* "stats_reset" or "server_start" */
	int			shown_limit;	/* findings the rendering shows per severity and area (0: all): work done only for
								 * findings no rendering shows may stop there (index_health.c's simulations) */
} ApesCatalog;

extern ApesCatalog *apes_catalog_load(void);
extern ApesCatalog *apes_catalog_empty(void);
extern int	apes_stats_begin(void);
extern void apes_stats_end(int nestlevel);
extern void apes_catalog_free(ApesCatalog *cat);
extern ApesRel *apes_rel(ApesCatalog *cat, Oid oid);
extern char *apes_qualified_name(ApesRel *rel);
extern int64 apes_rel_bytes(ApesRel *rel);
extern TimestampTz apes_rel_born(ApesRel *rel);
extern bool apes_index_detail(ApesIndex *idx);
extern List *apes_index_exprs(ApesIndex *idx);
extern List *apes_index_pred(ApesIndex *idx);
extern char *apes_attname(ApesRel *table, int16 attnum);
extern void apes_catalog_load_columns(ApesCatalog *cat, bool (*wanted) (ApesRel *rel));
extern List *apes_progress_relations(ProgressCommandType command);

#endif							/* APES_CATALOG_H */

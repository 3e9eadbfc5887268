/*
 * catalog.c: one pass over the system catalogs into memory, shared by every check of a report.
 *
 * Each catalog is read once with a plain heap scan (table_beginscan_catalog) under AccessShareLock, the lock any
 * query of pg_class takes.  User relations are never opened or locked: sizes come from stat() of the relation's
 * files, so a report cannot queue behind an ACCESS EXCLUSIVE lock.  Thousands of syscache look-ups or
 * pg_relation_size() calls are what make the SQL versions of these checks slow; this is the fix.
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "apes.h"
#include "catalog.h"

/* One user namespace, keyed by oid. */
typedef struct ApesNamespace
{
	Oid			oid;
	char	   *name;
} ApesNamespace;

/* True for the schemas no report looks into: system catalogs, TOAST and every session's temporary schema. */
static bool
apes_namespace_skipped(Oid nspoid, const char *name)
{
	if (nspoid == PG_CATALOG_NAMESPACE || nspoid == PG_TOAST_NAMESPACE)
		return true;
	if (strcmp(name, "information_schema") == 0)
		return true;
	return isAnyTempNamespace(nspoid);
}

/* Read pg_namespace (AccessShareLock) into a hash of the user schemas. */
static HTAB *
apes_load_namespaces(void)
{
	HASHCTL		ctl;
	HTAB	   *nsps;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(ApesNamespace);
	ctl.hcxt = CurrentMemoryContext;
	nsps = hash_create("apes namespaces", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	rel = table_open(NamespaceRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_namespace form = (Form_pg_namespace) GETSTRUCT(tup);
		ApesNamespace *nsp;

		if (apes_namespace_skipped(form->oid, NameStr(form->nspname)))
			continue;
		nsp = hash_search(nsps, &form->oid, HASH_ENTER, NULL);
		nsp->name = pstrdup(NameStr(form->nspname));
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsps;
}

/* Read pg_class (AccessShareLock): tables, partitioned tables, matviews and indexes of user schemas. */
static HTAB *
apes_load_relations(HTAB *nsps)
{
	HASHCTL		ctl;
	HTAB	   *rels;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(ApesRel);
	ctl.hcxt = CurrentMemoryContext;
	rels = hash_create("apes relations", 4096, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	rel = table_open(RelationRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_class form = (Form_pg_class) GETSTRUCT(tup);
		ApesNamespace *nsp;
		ApesRel    *r;

		CHECK_FOR_INTERRUPTS();
		if (form->relkind != RELKIND_RELATION && form->relkind != RELKIND_PARTITIONED_TABLE &&
			form->relkind != RELKIND_MATVIEW && form->relkind != RELKIND_INDEX &&
			form->relkind != RELKIND_PARTITIONED_INDEX)
			continue;
		nsp = hash_search(nsps, &form->relnamespace, HASH_FIND, NULL);
		if (nsp == NULL)
			continue;
		r = hash_search(rels, &form->oid, HASH_ENTER, NULL);
		r->nspoid = form->relnamespace;
		r->nspname = nsp->name;
		r->relname = pstrdup(NameStr(form->relname));
		r->relkind = form->relkind;
		r->ispartition = form->relispartition;
		r->parent = InvalidOid;
		r->relpages = form->relpages;
		r->reltuples = form->reltuples;
		r->relam = form->relam;
		r->relfilenode = form->relfilenode;
		r->reltablespace = form->reltablespace;
		r->children = NIL;
		r->indexes = NIL;
		r->fks = NIL;
		r->disk_bytes = -1;
		r->index = NULL;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return rels;
}

/* Read pg_inherits (AccessShareLock): partition parents and children. */
static void
apes_load_inherits(HTAB *rels)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	rel = table_open(InheritsRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_inherits form = (Form_pg_inherits) GETSTRUCT(tup);
		ApesRel    *child;
		ApesRel    *parent;

		CHECK_FOR_INTERRUPTS();
		child = hash_search(rels, &form->inhrelid, HASH_FIND, NULL);
		parent = hash_search(rels, &form->inhparent, HASH_FIND, NULL);
		if (child == NULL || parent == NULL)
			continue;
		child->parent = parent->oid;
		parent->children = lappend(parent->children, child);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* Copy an int2vector or oidvector-like column's values out of a catalog tuple. */
static void *
apes_copy_vector(HeapTuple tup, int attnum, TupleDesc desc, Size elemsize, int n)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, attnum, desc, &isnull);
	void	   *out = palloc0(elemsize * Max(n, 1));

	if (!isnull)
	{
		/* int2vector and oidvector are one-dimensional arrays without nulls */
		ArrayType  *arr = DatumGetArrayTypeP(d);
		int			have = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));

		memcpy(out, ARR_DATA_PTR(arr), elemsize * Min(n, have));
	}
	return out;
}

/* A text column of a catalog tuple as a C string, or NULL. */
static char *
apes_copy_text(HeapTuple tup, int attnum, TupleDesc desc)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, attnum, desc, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* Read pg_index (AccessShareLock) for the indexes of user tables. */
static List *
apes_load_indexes(HTAB *rels)
{
	List	   *out = NIL;
	Relation	rel;
	TupleDesc	desc;
	TableScanDesc scan;
	HeapTuple	tup;

	rel = table_open(IndexRelationId, AccessShareLock);
	desc = RelationGetDescr(rel);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_index form = (Form_pg_index) GETSTRUCT(tup);
		ApesRel    *irel;
		ApesRel    *trel;
		ApesIndex  *idx;

		CHECK_FOR_INTERRUPTS();
		irel = hash_search(rels, &form->indexrelid, HASH_FIND, NULL);
		trel = hash_search(rels, &form->indrelid, HASH_FIND, NULL);
		if (irel == NULL || trel == NULL)
			continue;

		idx = palloc0(sizeof(ApesIndex));
		idx->rel = irel;
		idx->table = trel;
		idx->natts = form->indnatts;
		idx->nkeyatts = form->indnkeyatts;
		idx->keys = palloc(sizeof(int16) * Max(form->indnatts, 1));
		memcpy(idx->keys, form->indkey.values, sizeof(int16) * form->indnatts);
		idx->opclass = apes_copy_vector(tup, Anum_pg_index_indclass, desc, sizeof(Oid), idx->nkeyatts);
		idx->collation = apes_copy_vector(tup, Anum_pg_index_indcollation, desc, sizeof(Oid), idx->nkeyatts);
		idx->option = apes_copy_vector(tup, Anum_pg_index_indoption, desc, sizeof(int16), idx->nkeyatts);
		idx->unique = form->indisunique;
		idx->primary = form->indisprimary;
		idx->exclusion = form->indisexclusion;
		idx->immediate = form->indimmediate;
		idx->clustered = form->indisclustered;
		idx->valid = form->indisvalid;
		idx->ready = form->indisready;
		idx->live = form->indislive;
		idx->replident = form->indisreplident;
		idx->nulls_not_distinct = apes_index_nulls_not_distinct(form);
		if (!heap_attisnull(tup, Anum_pg_index_indexprs, NULL))
			idx->exprs_str = apes_copy_text(tup, Anum_pg_index_indexprs, desc);
		if (!heap_attisnull(tup, Anum_pg_index_indpred, NULL))
			idx->pred_str = apes_copy_text(tup, Anum_pg_index_indpred, desc);
		irel->index = idx;
		out = lappend(out, idx);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return out;
}

/* Read pg_constraint (AccessShareLock): which indexes back constraints, and every foreign key of a user table. */
static List *
apes_load_constraints(HTAB *rels)
{
	List	   *fks = NIL;
	Relation	rel;
	TupleDesc	desc;
	TableScanDesc scan;
	HeapTuple	tup;

	rel = table_open(ConstraintRelationId, AccessShareLock);
	desc = RelationGetDescr(rel);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_constraint form = (Form_pg_constraint) GETSTRUCT(tup);
		ApesRel    *irel = NULL;

		CHECK_FOR_INTERRUPTS();
		if (OidIsValid(form->conindid))
			irel = hash_search(rels, &form->conindid, HASH_FIND, NULL);

		if (form->contype == CONSTRAINT_PRIMARY || form->contype == CONSTRAINT_UNIQUE ||
			form->contype == CONSTRAINT_EXCLUSION)
		{
			if (irel != NULL && irel->index != NULL)
			{
				irel->index->constraint_oid = form->oid;
				irel->index->constraint_type = form->contype;
				irel->index->constraint_name = pstrdup(NameStr(form->conname));
			}
		}
		else if (form->contype == CONSTRAINT_FOREIGN)
		{
			ApesRel    *table = hash_search(rels, &form->conrelid, HASH_FIND, NULL);
			ApesForeignKey *fk;
			bool		isnull;
			Datum		d;

			if (irel != NULL && irel->index != NULL)
				irel->index->fk_referencing = form->oid;
			if (table == NULL)
				continue;
			fk = palloc0(sizeof(ApesForeignKey));
			fk->oid = form->oid;
			fk->name = pstrdup(NameStr(form->conname));
			fk->table = table;
			fk->reftable = hash_search(rels, &form->confrelid, HASH_FIND, NULL);
			fk->parent = form->conparentid;
			fk->deltype = form->confdeltype;
			fk->updtype = form->confupdtype;
			d = heap_getattr(tup, Anum_pg_constraint_conkey, desc, &isnull);
			if (!isnull)
			{
				ArrayType  *arr = DatumGetArrayTypeP(d);

				fk->nkeys = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
				fk->keys = palloc(sizeof(int16) * Max(fk->nkeys, 1));
				memcpy(fk->keys, ARR_DATA_PTR(arr), sizeof(int16) * fk->nkeys);
			}
			fks = lappend(fks, fk);
			table->fks = lappend(table->fks, fk);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return fks;
}

/* Order indexes by table, then by index oid (oldest first). */
static int
apes_index_cmp(const void *a, const void *b)
{
	const ApesIndex *x = *(ApesIndex *const *) a;
	const ApesIndex *y = *(ApesIndex *const *) b;

	if (x->table->oid != y->table->oid)
		return x->table->oid < y->table->oid ? -1 : 1;
	if (x->rel->oid != y->rel->oid)
		return x->rel->oid < y->rel->oid ? -1 : 1;
	return 0;
}

/* List to palloc'd array. */
static void **
apes_list_to_array(List *l, int *n)
{
	void	  **arr = palloc(sizeof(void *) * Max(list_length(l), 1));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, l)
		arr[i++] = lfirst(lc);
	*n = i;
	return arr;
}

/*
 * Since when the cumulative statistics have been counting: the database's last reset, or the server's start when
 * that is later.  Statistics survive a clean restart but not a crash, and a crash leaves no reset time behind, so the
 * start time is the conservative choice: it can only make the window look shorter than it is.
 */
static void
apes_stats_window(ApesCatalog *cat)
{
	PgStat_StatDBEntry *db = pgstat_fetch_stat_dbentry(MyDatabaseId);
	TimestampTz reset = db != NULL ? db->stat_reset_timestamp : 0;

	if (reset != 0 && reset > PgStartTime)
	{
		cat->stats_since = reset;
		cat->stats_since_basis = "stats_reset";
	}
	else
	{
		cat->stats_since = PgStartTime;
		cat->stats_since_basis = "server_start";
	}
}

/* Read every catalog a report needs, once, into a new memory context below the current one. */
ApesCatalog *
apes_catalog_load(void)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "apes catalog", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	ApesCatalog *cat = palloc0(sizeof(ApesCatalog));
	HTAB	   *nsps;
	List	   *indexes;
	List	   *fks;

	cat->cxt = cxt;
	cat->now = GetCurrentTimestamp();
	nsps = apes_load_namespaces();
	cat->rels = apes_load_relations(nsps);
	apes_load_inherits(cat->rels);
	indexes = apes_load_indexes(cat->rels);
	fks = apes_load_constraints(cat->rels);

	cat->indexes = (ApesIndex **) apes_list_to_array(indexes, &cat->nindexes);
	qsort(cat->indexes, cat->nindexes, sizeof(ApesIndex *), apes_index_cmp);
	for (int i = 0; i < cat->nindexes; i++)
		cat->indexes[i]->table->indexes = lappend(cat->indexes[i]->table->indexes, cat->indexes[i]);
	cat->fks = (ApesForeignKey **) apes_list_to_array(fks, &cat->nfks);
	apes_stats_window(cat);

	MemoryContextSwitchTo(old);
	return cat;
}

/* The relation with this oid, or NULL when it is not a relation of a user schema. */
ApesRel *
apes_rel(ApesCatalog *cat, Oid oid)
{
	return hash_search(cat->rels, &oid, HASH_FIND, NULL);
}

/* schema.name, each part quoted only when PostgreSQL would quote it. */
char *
apes_qualified_name(ApesRel *rel)
{
	return quote_qualified_identifier(rel->nspname, rel->relname);
}

/*
 * Bytes of a relation's main fork, as pg_relation_size() reports them, but without opening or locking the relation:
 * stat() of each segment file.  Partitioned tables and indexes add up their partitions.  A file that vanished under
 * a concurrent DROP or rewrite counts as empty.
 */
int64
apes_rel_bytes(ApesRel *rel)
{
	int64		total = 0;

	if (rel->disk_bytes >= 0)
		return rel->disk_bytes;

	if (rel->relkind == RELKIND_PARTITIONED_TABLE || rel->relkind == RELKIND_PARTITIONED_INDEX)
	{
		ListCell   *lc;

		foreach(lc, rel->children)
			total += apes_rel_bytes((ApesRel *) lfirst(lc));
	}
	else if (!OidIsValid(rel->relfilenode))
	{
		/* mapped relations live in system schemas only; fall back on the catalog's page count */
		total = (int64) Max(rel->relpages, 0) * BLCKSZ;
	}
	else
	{
		Oid			spc = OidIsValid(rel->reltablespace) ? rel->reltablespace : MyDatabaseTableSpace;
		char	   *path = apes_relpath(spc, MyDatabaseId, rel->relfilenode);
		unsigned int segno;

		for (segno = 0;; segno++)
		{
			char		segpath[MAXPGPATH];
			struct stat st;

			CHECK_FOR_INTERRUPTS();
			if (segno == 0)
				snprintf(segpath, sizeof(segpath), "%s", path);
			else
				snprintf(segpath, sizeof(segpath), "%s.%u", path, segno);
			if (stat(segpath, &st) < 0)
			{
				if (errno != ENOENT)
					ereport(WARNING,
							(errcode_for_file_access(),
							 errmsg("could not stat file \"%s\": %m", segpath)));
				break;
			}
			total += st.st_size;
		}
		pfree(path);
	}
	rel->disk_bytes = total;
	return total;
}

/* Switch to the memory context an index entry lives in (the catalog's), so parsed trees live as long as it. */
static void
apes_index_parse(ApesIndex *idx)
{
	MemoryContext old;

	if (idx->parsed)
		return;
	old = MemoryContextSwitchTo(GetMemoryChunkContext(idx));
	if (idx->exprs_str != NULL)
		idx->exprs = (List *) stringToNode(idx->exprs_str);
	if (idx->pred_str != NULL)
	{
		/* canonicalize_qual only flattens and simplifies AND/OR trees; it never evaluates a user function */
		Expr	   *pred = canonicalize_qual((Expr *) stringToNode(idx->pred_str), false);

		idx->pred = make_ands_implicit(pred);
	}
	idx->parsed = true;
	MemoryContextSwitchTo(old);
}

/* The index's expressions, in key order (one per key column whose attnum is 0). */
List *
apes_index_exprs(ApesIndex *idx)
{
	apes_index_parse(idx);
	return idx->exprs;
}

/* The index's predicate as an implicitly-ANDed list, NIL when the index is not partial. */
List *
apes_index_pred(ApesIndex *idx)
{
	apes_index_parse(idx);
	return idx->pred;
}

/* A column's name (syscache), quoted for SQL; used for the few objects that end up in a finding. */
char *
apes_attname(ApesRel *table, int16 attnum)
{
	char	   *name = get_attname(table->oid, attnum, true);

	return (char *) quote_identifier(name != NULL ? name : "?column?");
}

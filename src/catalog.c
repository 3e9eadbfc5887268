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
#include <fcntl.h>

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/reloptions.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "common/hashfn.h"
#include "catalog/pg_am.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

#include "apes.h"
#include "catalog.h"

#define APES_COLUMNS_BY_SCAN 300	/* more relations than this: scan pg_attribute rather than look columns up */

/* Relations by oid: the server's open-addressing simplehash, far faster than dynahash for 100,000 look-ups. */
typedef struct ApesRelEntry
{
	Oid			oid;
	char		status;
	ApesRel    *rel;
} ApesRelEntry;

#define SH_PREFIX apes_relhash
#define SH_ELEMENT_TYPE ApesRelEntry
#define SH_KEY_TYPE Oid
#define SH_KEY oid
#define SH_HASH_KEY(tb, key) murmurhash32(key)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/*
 * A bump allocator for the many small, never individually freed pieces of a catalog copy (names, column vectors):
 * one palloc per 64 kB instead of one per piece, and no per-piece chunk header.
 */
typedef struct ApesArena
{
	char	   *next;
	Size		left;
} ApesArena;

/* size bytes from the arena, MAXALIGNed. */
static void *
apes_arena_alloc(ApesArena *a, Size size)
{
	void	   *p;

	size = MAXALIGN(Max(size, 1));
	if (size > a->left)
	{
		Size		block = Max(size, 64 * 1024);

		a->next = palloc(block);
		a->left = block;
	}
	p = a->next;
	a->next += size;
	a->left -= size;
	return p;
}

/* A copy of an aclitem[] datum in the arena. */
static Acl *
apes_arena_acl(ApesArena *a, Datum d)
{
	Acl		   *acl = DatumGetAclP(d);

	return memcpy(apes_arena_alloc(a, VARSIZE(acl)), acl, VARSIZE(acl));
}

/* A copy of a C string in the arena. */
static char *
apes_arena_strdup(ApesArena *a, const char *s)
{
	Size		len = strlen(s) + 1;

	return memcpy(apes_arena_alloc(a, len), s, len);
}

/* The relation with this oid in the hash, or NULL. */
static inline ApesRel *
apes_rel_find(apes_relhash_hash *rels, Oid oid)
{
	ApesRelEntry *e = apes_relhash_lookup(rels, oid);

	return e != NULL ? e->rel : NULL;
}

/* Schemas by oid, each with its name, or NULL for the schemas reports skip (simplehash). */
typedef struct ApesNspEntry
{
	Oid			oid;
	char		status;
	const char *name;
} ApesNspEntry;

#define SH_PREFIX apes_nsphash
#define SH_ELEMENT_TYPE ApesNspEntry
#define SH_KEY_TYPE Oid
#define SH_KEY oid
#define SH_HASH_KEY(tb, key) murmurhash32(key)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/*
 * True for the schemas no report looks into: system catalogs, TOAST, every session's temporary schema, this
 * extension's own schema apes (its history tables are its own business), and those named in
 * pg_apes_health.exclude_schemas (already split into a list of names).
 */
static bool
apes_namespace_skipped(Oid nspoid, const char *name, List *excluded)
{
	ListCell   *lc;

	if (nspoid == PG_CATALOG_NAMESPACE || nspoid == PG_TOAST_NAMESPACE)
		return true;
	if (strcmp(name, "information_schema") == 0 || strcmp(name, "apes") == 0)
		return true;
	foreach(lc, excluded)
		if (strcmp(name, (const char *) lfirst(lc)) == 0)
			return true;
	return isAnyTempNamespace(nspoid);
}

/* The name of a user schema, or NULL when the schema is skipped (or unknown). */
static inline const char *
apes_namespace_name(apes_nsphash_hash *nsps, Oid oid)
{
	ApesNspEntry *e = apes_nsphash_lookup(nsps, oid);

	return e != NULL ? e->name : NULL;
}

/* Read pg_namespace (AccessShareLock): every schema, with the name of those reports look into. */
static apes_nsphash_hash *
apes_load_namespaces(ApesArena *arena)
{
	apes_nsphash_hash *nsps = apes_nsphash_create(CurrentMemoryContext, 64, NULL);
	List	   *excluded = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	/* the setting's check hook has accepted the list already */
	if (apes_exclude_schemas != NULL && apes_exclude_schemas[0] != '\0')
		(void) SplitIdentifierString(pstrdup(apes_exclude_schemas), ',', &excluded);

	rel = table_open(NamespaceRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_namespace form = (Form_pg_namespace) GETSTRUCT(tup);
		bool		found;
		ApesNspEntry *e;

		CHECK_FOR_INTERRUPTS();
		e = apes_nsphash_insert(nsps, form->oid, &found);
		e->name = apes_namespace_skipped(form->oid, NameStr(form->nspname), excluded) ? NULL :
			apes_arena_strdup(arena, NameStr(form->nspname));
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsps;
}

/*
 * Fillfactor, deduplication and a table's autovacuum options from a relation's reloptions, parsed by the server's
 * own option parsers (heap and btree); other access methods keep their defaults.
 */
static void
apes_parse_reloptions(ApesRel *r, Datum reloptions, bool isnull)
{
	r->fillfactor = r->relkind == RELKIND_INDEX ? BTREE_DEFAULT_FILLFACTOR : HEAP_DEFAULT_FILLFACTOR;
	r->dedup = true;
	r->av_enabled = true;
	r->av_vac_threshold = -1;
	r->av_vac_max_threshold = -2;
	r->av_vac_scale = -1;
	if (isnull)
		return;
	if (r->relkind == RELKIND_RELATION || r->relkind == RELKIND_MATVIEW)
	{
		StdRdOptions *o = (StdRdOptions *) heap_reloptions(r->relkind, reloptions, false);

		if (o != NULL)
		{
			r->fillfactor = o->fillfactor;
			r->av_enabled = o->autovacuum.enabled;
			r->av_vac_threshold = o->autovacuum.vacuum_threshold;
			r->av_vac_max_threshold = apes_av_vac_max_threshold(o);
			r->av_vac_scale = (float4) o->autovacuum.vacuum_scale_factor;
		}
	}
	else if (r->relkind == RELKIND_INDEX && r->relam == BTREE_AM_OID)
	{
		BTOptions  *o = (BTOptions *) btoptions(reloptions, false);

		if (o != NULL)
		{
			r->fillfactor = o->fillfactor;
			r->dedup = o->deduplicate_items;
		}
	}
}

/*
 * An index's reloptions as one canonical string, its "name=value" elements sorted and joined by commas, in the
 * arena: two indexes with the same options in another order compare equal.  NULL when it has none.
 */
static char *
apes_index_options(Datum reloptions, bool isnull, ApesArena *arena)
{
	Datum	   *elems;
	bool	   *elemnulls;
	int			n;
	char	  **opts;
	StringInfoData buf;
	char	   *out;

	if (isnull)
		return NULL;
	deconstruct_array(DatumGetArrayTypeP(reloptions), TEXTOID, -1, false, TYPALIGN_INT, &elems, &elemnulls, &n);
	if (n == 0)
		return NULL;
	opts = palloc(sizeof(char *) * n);
	for (int i = 0; i < n; i++)
		opts[i] = elemnulls[i] ? "" : TextDatumGetCString(elems[i]);
	qsort(opts, n, sizeof(char *), pg_qsort_strcmp);
	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? "," : "", opts[i]);
	out = apes_arena_strdup(arena, buf.data);
	pfree(buf.data);
	return out;
}

/* Read pg_class (AccessShareLock): tables, partitioned tables, matviews and indexes of user schemas. */
static apes_relhash_hash *
apes_load_relations(apes_nsphash_hash *nsps, ApesArena *arena)
{
	apes_relhash_hash *rels;
	ApesRel    *block = NULL;
	int			nfree = 0;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	rel = table_open(RelationRelationId, AccessShareLock);
	/* size the hash from pg_class's own row estimate, so it rarely has to grow */
	rels = apes_relhash_create(CurrentMemoryContext, (uint32) Max(1024.0, rel->rd_rel->reltuples * 1.2), NULL);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_class form = (Form_pg_class) GETSTRUCT(tup);
		const char *nspname;
		ApesRelEntry *e;
		ApesRel    *r;
		bool		found;
		Datum		reloptions;
		Datum		relacl;
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		if (form->relkind == RELKIND_TOASTVALUE && form->relnamespace == PG_TOAST_NAMESPACE)
			nspname = "pg_toast";	/* kept only to be linked to its table (ApesRel.toast) */
		else if (form->relkind != RELKIND_RELATION && form->relkind != RELKIND_PARTITIONED_TABLE &&
				 form->relkind != RELKIND_MATVIEW && form->relkind != RELKIND_INDEX &&
				 form->relkind != RELKIND_PARTITIONED_INDEX)
			continue;
		else if (form->relnamespace == PG_CATALOG_NAMESPACE || form->relnamespace == PG_TOAST_NAMESPACE)
			continue;
		else
			nspname = apes_namespace_name(nsps, form->relnamespace);
		if (nspname == NULL)
			continue;
		if (nfree == 0)
		{
			/* ApesRel entries are allocated in blocks: tens of thousands of small pallocs cost more */
			block = palloc0(sizeof(ApesRel) * 1024);
			nfree = 1024;
		}
		r = &block[--nfree];
		r->oid = form->oid;
		r->nspoid = form->relnamespace;
		r->nspname = nspname;
		r->relname = apes_arena_strdup(arena, NameStr(form->relname));
		r->relkind = form->relkind;
		r->ispartition = form->relispartition;
		r->relpages = form->relpages;
		r->relallvisible = form->relallvisible;
		r->reltuples = form->reltuples;
		r->relam = form->relam;
		r->relfilenode = form->relfilenode;
		r->reltablespace = form->reltablespace;
		r->toastrelid = form->reltoastrelid;
		r->relowner = form->relowner;
		r->rowsecurity = form->relrowsecurity;
		relacl = heap_getattr(tup, Anum_pg_class_relacl, RelationGetDescr(rel), &isnull);
		r->relacl = isnull ? NULL : apes_arena_acl(arena, relacl);	/* for apes_stats_visible(), no syscache */
		r->relpersistence = form->relpersistence;
		r->relreplident = form->relreplident;
		r->relnatts = form->relnatts;
		r->disk_bytes = -1;
		reloptions = heap_getattr(tup, Anum_pg_class_reloptions, RelationGetDescr(rel), &isnull);
		apes_parse_reloptions(r, reloptions, isnull);
		if (r->relkind == RELKIND_INDEX || r->relkind == RELKIND_PARTITIONED_INDEX)
			r->options = apes_index_options(reloptions, isnull, arena);
		e = apes_relhash_insert(rels, form->oid, &found);
		e->rel = r;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return rels;
}

/* Read pg_inherits (AccessShareLock): partition parents and children. */
static void
apes_load_inherits(apes_relhash_hash *rels)
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
		child = apes_rel_find(rels, form->inhrelid);
		parent = apes_rel_find(rels, form->inhparent);
		if (child == NULL || parent == NULL)
			continue;
		child->parent = parent->oid;
		parent->children = lappend(parent->children, child);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* A vector column of a deformed pg_index row (indclass, indcollation, indoption), n elements, into the arena. */
static void *
apes_index_vector(Datum *values, bool *nulls, int attnum, Size elemsize, int n, ApesArena *arena)
{
	Datum		d = values[attnum - 1];
	void	   *out = apes_arena_alloc(arena, elemsize * Max(n, 1));

	memset(out, 0, elemsize * Max(n, 1));
	if (!nulls[attnum - 1])
	{
		ArrayType  *arr = DatumGetArrayTypeP(d);
		int			have = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));

		memcpy(out, ARR_DATA_PTR(arr), elemsize * Min(n, have));
		if ((Pointer) arr != DatumGetPointer(d))
			pfree(arr);
	}
	return out;
}

/* A node-tree text column of a deformed pg_index row (indexprs, indpred), copied, or NULL; parsed when compared. */
static char *
apes_index_node_text(Datum *values, bool *nulls, int attnum)
{
	return nulls[attnum - 1] ? NULL : TextDatumGetCString(values[attnum - 1]);
}

/*
 * Read pg_index (AccessShareLock) for the indexes of user tables: the columns every check reads, and the operator
 * classes, collations and sort options the comparisons need, from the same heap pass (a syscache look-up per index
 * would leave a catcache entry per index in the session: 100 MB on 400,000 indexes).
 */
static List *
apes_load_indexes(apes_relhash_hash *rels, ApesArena *arena)
{
	List	   *out = NIL;
	Relation	rel;
	TupleDesc	desc;
	TableScanDesc scan;
	HeapTuple	tup;
	Datum		values[Natts_pg_index];
	bool		nulls[Natts_pg_index];

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
		irel = apes_rel_find(rels, form->indexrelid);
		trel = apes_rel_find(rels, form->indrelid);
		if (irel == NULL || trel == NULL)
			continue;

		idx = apes_arena_alloc(arena, sizeof(ApesIndex));
		memset(idx, 0, sizeof(ApesIndex));
		idx->oid = irel->oid;
		idx->rel = irel;
		idx->table = trel;
		idx->cxt = CurrentMemoryContext;
		idx->natts = form->indnatts;
		idx->nkeyatts = form->indnkeyatts;
		/* indkey is the one variable-length column at a fixed offset; the others are read on demand */
		idx->keys = apes_arena_alloc(arena, sizeof(int16) * Max(form->indnatts, 1));
		memcpy(idx->keys, form->indkey.values, sizeof(int16) * form->indnatts);
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
		heap_deform_tuple(tup, desc, values, nulls);
		idx->opclass = apes_index_vector(values, nulls, Anum_pg_index_indclass, sizeof(Oid), idx->nkeyatts, arena);
		idx->collation = apes_index_vector(values, nulls, Anum_pg_index_indcollation, sizeof(Oid), idx->nkeyatts,
										   arena);
		idx->option = apes_index_vector(values, nulls, Anum_pg_index_indoption, sizeof(int16), idx->nkeyatts,
										arena);
		idx->exprs_text = apes_index_node_text(values, nulls, Anum_pg_index_indexprs);
		idx->pred_text = apes_index_node_text(values, nulls, Anum_pg_index_indpred);
		irel->index = idx;
		out = lappend(out, idx);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return out;
}

/*
 * A copy of a one-dimensional int2[] or oid[] column of a pg_constraint row (conkey, confkey, conpfeqop), and its
 * length in *n; an empty array when the column is null or not such an array.
 */
static void *
apes_constraint_array(HeapTuple tup, TupleDesc desc, int attnum, Oid elemtype, int *n)
{
	size_t		elemsize = elemtype == INT2OID ? sizeof(int16) : sizeof(Oid);
	bool		isnull;
	Datum		d = heap_getattr(tup, attnum, desc, &isnull);
	ArrayType  *arr;
	void	   *out;

	*n = 0;
	if (isnull)
		return palloc0(elemsize);
	arr = DatumGetArrayTypeP(d);
	if (ARR_NDIM(arr) != 1 || ARR_HASNULL(arr) || ARR_ELEMTYPE(arr) != elemtype)
		return palloc0(elemsize);
	*n = ARR_DIMS(arr)[0];
	out = palloc(elemsize * Max(*n, 1));
	memcpy(out, ARR_DATA_PTR(arr), elemsize * *n);
	return out;
}

/* Read pg_constraint (AccessShareLock): which indexes back constraints, and every foreign key of a user table. */
static List *
apes_load_constraints(apes_relhash_hash *rels)
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
			irel = apes_rel_find(rels, form->conindid);

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
			ApesRel    *table = apes_rel_find(rels, form->conrelid);
			ApesForeignKey *fk;
			int			n;
			int			n2;

			if (irel != NULL && irel->index != NULL)
				irel->index->fk_referencing = form->oid;
			if (table == NULL)
				continue;
			fk = palloc0(sizeof(ApesForeignKey));
			fk->oid = form->oid;
			fk->name = pstrdup(NameStr(form->conname));
			fk->table = table;
			fk->reftable = apes_rel_find(rels, form->confrelid);
			fk->parent = form->conparentid;
			fk->deltype = form->confdeltype;
			fk->updtype = form->confupdtype;
			fk->keys = apes_constraint_array(tup, desc, Anum_pg_constraint_conkey, INT2OID, &fk->nkeys);
			fk->refkeys = apes_constraint_array(tup, desc, Anum_pg_constraint_confkey, INT2OID, &n);
			fk->pfeqop = apes_constraint_array(tup, desc, Anum_pg_constraint_conpfeqop, OIDOID, &n2);
			if (n != fk->nkeys || n2 != fk->nkeys)
				fk->nkeys = 0;	/* an odd row: no check judges this key */
			fks = lappend(fks, fk);
			table->fks = lappend(table->fks, fk);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return fks;
}

/* An index and its oid side by side, so that sorting never has to follow the pointer. */
typedef struct ApesIndexKey
{
	Oid			oid;
	ApesIndex  *idx;
} ApesIndexKey;

/* Order indexes by oid (oldest first), so that every report walks them in the same order. */
static int
apes_index_cmp(const void *a, const void *b)
{
	Oid			x = ((const ApesIndexKey *) a)->oid;
	Oid			y = ((const ApesIndexKey *) b)->oid;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/* The indexes as an array sorted by oid, and each table's list of its indexes in the same order. */
static void
apes_sort_indexes(ApesCatalog *cat, List *indexes)
{
	int			n = list_length(indexes);
	ApesIndexKey *keys = palloc(sizeof(ApesIndexKey) * Max(n, 1));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, indexes)
	{
		keys[i].idx = lfirst(lc);
		keys[i].oid = keys[i].idx->oid;
		i++;
	}
	qsort(keys, n, sizeof(ApesIndexKey), apes_index_cmp);
	cat->indexes = palloc(sizeof(ApesIndex *) * Max(n, 1));
	cat->nindexes = n;
	for (i = 0; i < n; i++)
	{
		cat->indexes[i] = keys[i].idx;
		keys[i].idx->table->indexes = lappend(keys[i].idx->table->indexes, keys[i].idx);
	}
	pfree(keys);
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

/* Fill cat->relarray with every relation of the hash but TOAST tables, and link tables to their TOAST tables. */
static void
apes_list_relations(ApesCatalog *cat)
{
	apes_relhash_iterator it;
	ApesRelEntry *e;

	cat->relarray = palloc(sizeof(ApesRel *) * Max(cat->rels->members, 1));
	cat->nrels = 0;
	apes_relhash_start_iterate(cat->rels, &it);
	while ((e = apes_relhash_iterate(cat->rels, &it)) != NULL)
	{
		if (e->rel->relkind != RELKIND_TOASTVALUE)
			cat->relarray[cat->nrels++] = e->rel;
	}
	for (int i = 0; i < cat->nrels; i++)
	{
		ApesRel    *r = cat->relarray[i];

		if (OidIsValid(r->toastrelid))
			r->toast = apes_rel_find(cat->rels, r->toastrelid);
	}
}

/* Read every catalog a report needs, once, into a new memory context below the current one. */
ApesCatalog *
apes_catalog_load(void)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "apes catalog", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	ApesCatalog *cat = palloc0(sizeof(ApesCatalog));
	apes_nsphash_hash *nsps;
	ApesArena	arena = {NULL, 0};
	List	   *indexes;
	List	   *fks;

	cat->cxt = cxt;
	cat->now = GetCurrentTimestamp();
	nsps = apes_load_namespaces(&arena);
	cat->rels = apes_load_relations(nsps, &arena);
	apes_list_relations(cat);
	apes_load_inherits(cat->rels);
	indexes = apes_load_indexes(cat->rels, &arena);
	fks = apes_load_constraints(cat->rels);

	apes_sort_indexes(cat, indexes);
	cat->fks = (ApesForeignKey **) apes_list_to_array(fks, &cat->nfks);
	apes_stats_window(cat);

	MemoryContextSwitchTo(old);
	return cat;
}

/*
 * A catalog with no relations, for reports whose areas read no catalog (the pool area): the time and the statistics
 * window only, so their cost does not grow with the number of relations.
 */
ApesCatalog *
apes_catalog_empty(void)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "apes catalog", ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	ApesCatalog *cat = palloc0(sizeof(ApesCatalog));

	cat->cxt = cxt;
	cat->now = GetCurrentTimestamp();
	cat->rels = apes_relhash_create(cxt, 16, NULL);
	cat->relarray = palloc(sizeof(ApesRel *));
	cat->indexes = palloc(sizeof(ApesIndex *));
	cat->fks = palloc(sizeof(ApesForeignKey *));
	apes_stats_window(cat);
	MemoryContextSwitchTo(old);
	return cat;
}

/* Free a catalog copy; the findings built from it hold copies of whatever they need. */
void
apes_catalog_free(ApesCatalog *cat)
{
	MemoryContextDelete(cat->cxt);
}

/*
 * Read the cumulative statistics as one snapshot until apes_stats_end(): stats_fetch_consistency = snapshot, as a
 * function's SET clause would set it.  In the default "cache" mode every relation read leaves a reference to its
 * shared entry in the backend (PgStat Shared Ref, about 120 bytes each) for the rest of the session; a snapshot is
 * one pass over the shared hash that leaves none, and its copy goes with the transaction.  Returns the GUC nest level
 * to close, or -1 when the caller already reads a snapshot.
 */
int
apes_stats_begin(void)
{
	int			nestlevel;

	if (pgstat_fetch_consistency == PGSTAT_FETCH_CONSISTENCY_SNAPSHOT)
		return -1;
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("stats_fetch_consistency", "snapshot", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/*
 * Back to the caller's stats_fetch_consistency, and the snapshot taken for the report freed now rather than at the end
 * of the transaction (a change of the setting discards the caller's own cached statistics anyway).
 */
void
apes_stats_end(int nestlevel)
{
	if (nestlevel < 0)
		return;
	AtEOXact_GUC(true, nestlevel);
	pgstat_clear_snapshot();
}

/* The relation with this oid, or NULL when it is not a relation of a user schema. */
ApesRel *
apes_rel(ApesCatalog *cat, Oid oid)
{
	return apes_rel_find(cat->rels, oid);
}

/* schema.name, each part quoted only when PostgreSQL would quote it. */
char *
apes_qualified_name(ApesRel *rel)
{
	/* not quote_qualified_identifier(): its StringInfo takes 1 kB for every name, and a report names thousands */
	return psprintf("%s.%s", quote_identifier(rel->nspname), quote_identifier(rel->relname));
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
			if (st.st_size < (off_t) RELSEG_SIZE * BLCKSZ)
				break;			/* only a full segment can have a next one: one stat() for most relations */
		}
		pfree(path);
	}
	rel->disk_bytes = total;
	return total;
}

/*
 * When the relation's current file was created (statx() birth time of its first segment: CREATE, REINDEX, TRUNCATE
 * and VACUUM FULL make a new one), or 0 when the file system does not say.  A partitioned relation is as old as its
 * oldest partition.
 */
TimestampTz
apes_rel_born(ApesRel *rel)
{
	TimestampTz born = 0;

	if (rel->relkind == RELKIND_PARTITIONED_TABLE || rel->relkind == RELKIND_PARTITIONED_INDEX)
	{
		ListCell   *lc;

		foreach(lc, rel->children)
		{
			TimestampTz c = apes_rel_born((ApesRel *) lfirst(lc));

			if (c != 0 && (born == 0 || c < born))
				born = c;
		}
	}
#ifdef STATX_BTIME
	else if (OidIsValid(rel->relfilenode))
	{
		Oid			spc = OidIsValid(rel->reltablespace) ? rel->reltablespace : MyDatabaseTableSpace;
		char	   *path = apes_relpath(spc, MyDatabaseId, rel->relfilenode);
		struct statx stx;

		if (statx(AT_FDCWD, path, 0, STATX_BTIME, &stx) == 0 && (stx.stx_mask & STATX_BTIME) != 0)
			born = time_t_to_timestamptz((pg_time_t) stx.stx_btime.tv_sec) + stx.stx_btime.tv_nsec / 1000;
		pfree(path);
	}
#endif
	return born;
}

/*
 * Parse an index's expressions and predicate (read by the catalog pass) into the catalog's memory context.  Only the
 * indexes a check actually compares get here.  Always true: the catalog pass already read everything it needs.
 */
bool
apes_index_detail(ApesIndex *idx)
{
	MemoryContext old;

	if (idx->detailed)
		return true;
	idx->detailed = true;
	old = MemoryContextSwitchTo(idx->cxt);
	if (idx->exprs_text != NULL)
		idx->exprs = (List *) stringToNode(idx->exprs_text);
	if (idx->pred_text != NULL)
	{
		/* canonicalize_qual only flattens and simplifies AND/OR trees; it never evaluates a user function */
		Expr	   *pred = canonicalize_qual((Expr *) stringToNode(idx->pred_text), false);

		idx->pred = make_ands_implicit(pred);
	}
	MemoryContextSwitchTo(old);
	return true;
}

/* The index's expressions, in key order (one per key column whose attnum is 0). */
List *
apes_index_exprs(ApesIndex *idx)
{
	apes_index_detail(idx);
	return idx->exprs;
}

/* The index's predicate as an implicitly-ANDed list, NIL when the index is not partial. */
List *
apes_index_pred(ApesIndex *idx)
{
	apes_index_detail(idx);
	return idx->pred;
}

/* A column's name (syscache), quoted for SQL; used for the few objects that end up in a finding. */
char *
apes_attname(ApesRel *table, int16 attnum)
{
	char	   *name = get_attname(table->oid, attnum, true);

	return (char *) quote_identifier(name != NULL ? name : "?column?");
}

/* Copy what an estimate needs of a pg_attribute row (attacl: the column's privileges, or null). */
static void
apes_fill_column(ApesColumn *c, Form_pg_attribute att, Datum attacl, bool isnull)
{
	c->acl = isnull ? NULL : DatumGetAclPCopy(attacl);
	c->attnum = att->attnum;
	c->typlen = att->attlen;
	c->typalign = att->attalign;
	c->storage = att->attstorage;
	c->notnull = att->attnotnull;
	c->typid = att->atttypid;
	c->typmod = att->atttypmod;
}

/* Copy what an estimate needs of a pg_statistic row. */
static void
apes_fill_stats(ApesColumn *c, Form_pg_statistic st)
{
	c->has_stats = true;
	c->width = st->stawidth;
	c->nullfrac = st->stanullfrac;
	c->ndistinct = st->stadistinct;
}

/* Few relations: their columns and statistics through the syscache, a look-up per column. */
static void
apes_load_columns_cached(ApesCatalog *cat)
{
	for (int i = 0; i < cat->nrels; i++)
	{
		ApesRel    *r = cat->relarray[i];

		if (r->columns == NULL || r->columns_loaded)
			continue;
		for (int16 attnum = 1; attnum <= r->relnatts; attnum++)
		{
			HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(r->oid), Int16GetDatum(attnum));

			CHECK_FOR_INTERRUPTS();
			if (!HeapTupleIsValid(tup))
				continue;		/* dropped with its table meanwhile */
			if (!((Form_pg_attribute) GETSTRUCT(tup))->attisdropped)
			{
				bool		isnull;
				Datum		acl = SysCacheGetAttr(ATTNUM, tup, Anum_pg_attribute_attacl, &isnull);

				apes_fill_column(&r->columns[attnum - 1], (Form_pg_attribute) GETSTRUCT(tup), acl, isnull);
			}
			ReleaseSysCache(tup);
			if (r->columns[attnum - 1].attnum == 0)
				continue;
			tup = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(r->oid), Int16GetDatum(attnum), BoolGetDatum(false));
			if (HeapTupleIsValid(tup))
			{
				apes_fill_stats(&r->columns[attnum - 1], (Form_pg_statistic) GETSTRUCT(tup));
				ReleaseSysCache(tup);
			}
		}
		r->columns_loaded = true;
	}
}

/* Many relations: one heap scan of pg_attribute and one of pg_statistic (AccessShareLock each). */
static void
apes_load_columns_scan(ApesCatalog *cat)
{
	Relation	catrel;
	TableScanDesc scan;
	HeapTuple	tup;

	catrel = table_open(AttributeRelationId, AccessShareLock);
	scan = table_beginscan_catalog(catrel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_attribute att = (Form_pg_attribute) GETSTRUCT(tup);
		ApesRel    *r;

		CHECK_FOR_INTERRUPTS();
		if (att->attnum <= 0 || att->attisdropped)
			continue;
		r = apes_rel_find(cat->rels, att->attrelid);
		if (r != NULL && r->columns != NULL && !r->columns_loaded && att->attnum <= r->relnatts)
		{
			bool		isnull;
			Datum		acl = heap_getattr(tup, Anum_pg_attribute_attacl, RelationGetDescr(catrel), &isnull);

			apes_fill_column(&r->columns[att->attnum - 1], att, acl, isnull);
		}
	}
	table_endscan(scan);
	table_close(catrel, AccessShareLock);

	catrel = table_open(StatisticRelationId, AccessShareLock);
	scan = table_beginscan_catalog(catrel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_statistic st = (Form_pg_statistic) GETSTRUCT(tup);
		ApesRel    *r;

		CHECK_FOR_INTERRUPTS();
		if (st->stainherit || st->staattnum <= 0)
			continue;
		r = apes_rel_find(cat->rels, st->starelid);
		if (r != NULL && r->columns != NULL && !r->columns_loaded && st->staattnum <= r->relnatts &&
			r->columns[st->staattnum - 1].attnum != 0)
			apes_fill_stats(&r->columns[st->staattnum - 1], st);
	}
	table_endscan(scan);
	table_close(catrel, AccessShareLock);
	for (int i = 0; i < cat->nrels; i++)
		if (cat->relarray[i]->columns != NULL)
			cat->relarray[i]->columns_loaded = true;
}

/*
 * Columns, with their statistics (non-inherited: a leaf's own, not its inheritance tree's), of the relations
 * wanted() picks.  A few hundred relations go through the syscache; more through one scan of each catalog, the way
 * the catalog itself is read, since tens of thousands of look-ups cost more than a scan.
 */
void
apes_catalog_load_columns(ApesCatalog *cat, bool (*wanted) (ApesRel *rel))
{
	MemoryContext old = MemoryContextSwitchTo(cat->cxt);
	int			nwanted = 0;

	for (int i = 0; i < cat->nrels; i++)
	{
		ApesRel    *r = cat->relarray[i];

		CHECK_FOR_INTERRUPTS();
		if (r->columns == NULL && r->relnatts > 0 && wanted(r))
		{
			r->columns = palloc0(sizeof(ApesColumn) * r->relnatts);
			nwanted++;
		}
	}
	if (nwanted > APES_COLUMNS_BY_SCAN)
		apes_load_columns_scan(cat);
	else if (nwanted > 0)
		apes_load_columns_cached(cat);
	MemoryContextSwitchTo(old);
}

PG_FUNCTION_INFO_V1(apes_schema_reported);

/*
 * apes.schema_reported(nsp oid): whether reports look into this schema: not a system, TOAST or temporary schema,
 * nor one named in pg_apes_health.exclude_schemas (the same rule as the catalog pass, for the checks written in SQL).
 */
Datum
apes_schema_reported(PG_FUNCTION_ARGS)
{
	Oid			nspoid = PG_GETARG_OID(0);
	char	   *name = get_namespace_name(nspoid);
	List	   *excluded = NIL;

	if (name == NULL)
		PG_RETURN_BOOL(false);
	if (apes_exclude_schemas != NULL && apes_exclude_schemas[0] != '\0')
		(void) SplitIdentifierString(pstrdup(apes_exclude_schemas), ',', &excluded);
	PG_RETURN_BOOL(!apes_namespace_skipped(nspoid, name, excluded));
}

/*
 * The relations a command of the given kind is running on now (CREATE INDEX / REINDEX: what
 * pg_stat_progress_create_index shows; VACUUM: pg_stat_progress_vacuum), from the backend progress array read afresh:
 * the transaction's cached copy of the array is dropped first, as pg_stat_clear_snapshot() does.
 */
List *
apes_progress_relations(ProgressCommandType command)
{
	List	   *rels = NIL;
	int			n;

	pgstat_clear_backend_activity_snapshot();
	n = pgstat_fetch_stat_numbackends();
	for (int i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = apes_local_beentry(i);

		if (local != NULL && local->backendStatus.st_progress_command == command)
			rels = lappend_oid(rels, local->backendStatus.st_progress_command_target);
	}
	return rels;
}

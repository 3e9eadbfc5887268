/*
 * page_check.c: what the page readers (heap_bloat.c, index_bloat.c) check before they trust a byte read from disk.
 *
 * The buffer manager checks a page header's pointers only loosely (pd_special may be anywhere up to BLCKSZ) and
 * nothing below it.  Before a reader interprets a page, it checks here, in the manner of contrib/amcheck's heap
 * checker and of pageinspect:
 *
 *   page header     pd_lower, pd_upper and pd_special in order and inside the page
 *   special space   heap pages have none; an index page's has exactly its access method's size, and (hash, GiST,
 *                   SP-GiST) the access method's page id
 *   line pointer    a normal item lies inside the tuple area, maximally aligned, at least as long as its header
 *   heap tuple      t_hoff where the header's attribute count and null bitmap put it; xmin, xmax and the
 *                   old-style xvac between the relation's freeze horizon and the next transaction id; a multixact
 *                   xmax between the relation's multixact horizon and the next multixact; no contradictory
 *                   infomask bits.  HeapTupleSatisfiesVacuum() would otherwise ask the commit log or the multixact
 *                   SLRU about ids they never held, and fail with 58P01 or XX000.
 *
 * Every failed check raises XX001 (data_corrupted) or XX002 (index_corrupted) naming the relation, the block and, for
 * a tuple, its line pointer.
 */
#include "postgres.h"

#include "access/gin_private.h"
#include "access/gist.h"
#include "access/hash.h"
#include "access/htup_details.h"
#include "access/multixact.h"
#include "access/nbtree.h"
#include "access/spgist_private.h"
#include "access/transam.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "storage/lwlock.h"
#include "utils/rel.h"

#include "bloat.h"
#include "compat.h"

/* Raise a data-corruption error (index corruption for an index) naming the relation and block. */
void
apes_page_corrupted(Relation rel, BlockNumber blk, const char *what)
{
	bool		index = rel->rd_rel->relkind == RELKIND_INDEX;

	ereport(ERROR,
			(errcode(index ? ERRCODE_INDEX_CORRUPTED : ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid page in block %u of %s \"%s\"", blk, index ? "index" : "relation",
					RelationGetRelationName(rel)),
			 errdetail("%s", what)));
}

/* Raise a data-corruption error about one heap tuple, naming the relation, block and line pointer. */
static void
apes_tuple_corrupted(Relation rel, BlockNumber blk, OffsetNumber off, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("corrupted tuple at line pointer %u in block %u of relation \"%s\"", off, blk,
					RelationGetRelationName(rel)),
			 errdetail("%s", what),
			 errhint("Check the relation with pg_amcheck; restore the damaged rows from a backup or a replica.")));
}

/* Check that a page's header pointers are in order and inside the page (share lock held); an error if not. */
void
apes_check_page_header(Relation rel, BlockNumber blk, Page page)
{
	PageHeader	ph = (PageHeader) page;

	if (ph->pd_lower < SizeOfPageHeaderData || ph->pd_lower > ph->pd_upper || ph->pd_upper > ph->pd_special ||
		ph->pd_special > BLCKSZ)
		apes_page_corrupted(rel, blk, "The page header's pointers are out of order.");
}

/* Check a heap page's header: as any page's, and with no special space. */
void
apes_check_heap_page(Relation rel, BlockNumber blk, Page page)
{
	apes_check_page_header(rel, blk, page);
	if (((PageHeader) page)->pd_special != BLCKSZ)
		apes_page_corrupted(rel, blk, psprintf("A heap page has no special space, but pd_special is %u.",
											   (unsigned) ((PageHeader) page)->pd_special));
}

/*
 * Check an index page's header and special space for its access method (btree, hash, GiST, GIN, SP-GiST): the
 * special space has exactly the size of the method's opaque data and, where the method stamps one, its page id.
 * Other access methods are not read, and not checked here.
 */
void
apes_check_index_page(Relation idx, BlockNumber blk, Page page)
{
	Size		want;
	uint16		page_id = 0;
	uint16		want_id = 0;

	apes_check_page_header(idx, blk, page);
	switch (idx->rd_rel->relam)
	{
		case BTREE_AM_OID:
			want = MAXALIGN(sizeof(BTPageOpaqueData));
			break;
		case HASH_AM_OID:
			want = MAXALIGN(sizeof(HashPageOpaqueData));
			want_id = HASHO_PAGE_ID;
			break;
		case GIST_AM_OID:
			want = MAXALIGN(sizeof(GISTPageOpaqueData));
			want_id = GIST_PAGE_ID;
			break;
		case GIN_AM_OID:
			want = MAXALIGN(sizeof(GinPageOpaqueData));
			break;
		case SPGIST_AM_OID:
			want = MAXALIGN(sizeof(SpGistPageOpaqueData));
			want_id = SPGIST_PAGE_ID;
			break;
		default:
			return;
	}
	if (PageGetSpecialSize(page) != want)
		apes_page_corrupted(idx, blk, psprintf("The special space is %u bytes, not the %u of a %s page.",
											   (unsigned) PageGetSpecialSize(page), (unsigned) want,
											   idx->rd_rel->relam == BTREE_AM_OID ? "btree" :
											   idx->rd_rel->relam == HASH_AM_OID ? "hash" :
											   idx->rd_rel->relam == GIST_AM_OID ? "GiST" :
											   idx->rd_rel->relam == GIN_AM_OID ? "GIN" : "SP-GiST"));
	if (want_id == 0)
		return;
	switch (idx->rd_rel->relam)
	{
		case HASH_AM_OID:
			page_id = HashPageGetOpaque(page)->hasho_page_id;
			break;
		case GIST_AM_OID:
			page_id = GistPageGetOpaque(page)->gist_page_id;
			break;
		default:
			page_id = SpGistPageGetOpaque(page)->spgist_page_id;
			break;
	}
	if (page_id != want_id)
		apes_page_corrupted(idx, blk, psprintf("The page id is 0x%04X, not its access method's 0x%04X.",
											   page_id, want_id));
}

/*
 * Check that a line pointer's item lies inside the page's tuple area, maximally aligned (every item the server adds
 * is), and at least min_len long.
 */
void
apes_check_item(Relation rel, BlockNumber blk, Page page, OffsetNumber off, Size min_len)
{
	PageHeader	ph = (PageHeader) page;
	ItemId		id = PageGetItemId(page, off);

	if (ItemIdGetOffset(id) < ph->pd_upper || ItemIdGetOffset(id) + ItemIdGetLength(id) > ph->pd_special ||
		ItemIdGetLength(id) < min_len)
		apes_page_corrupted(rel, blk, psprintf("Line pointer %u points outside the tuple area.", off));
	if (ItemIdGetOffset(id) != MAXALIGN(ItemIdGetOffset(id)))
		apes_page_corrupted(rel, blk, psprintf("Line pointer %u points to offset %u, which is not maximally aligned.",
											   off, ItemIdGetOffset(id)));
}

/* The cluster's oldest transaction id still in the commit log's range (datfrozenxid's minimum). */
static TransactionId
apes_cluster_oldest_xid(void)
{
	TransactionId xid;

	LWLockAcquire(XidGenLock, LW_SHARED);
	xid = apes_transam_oldest_xid();
	LWLockRelease(XidGenLock);
	return xid;
}

/*
 * The bounds a tuple of rel must respect: its freeze horizons (relfrozenxid, relminmxid; the cluster's oldest where
 * the relation has none) and the next ids now.  Taken once per scan: the horizons only advance, after VACUUM froze
 * what lies below them, so the values read first are the safe ones.
 */
void
apes_xid_bounds_init(ApesXidBounds *b, Relation rel)
{
	MultiXactId oldest_mxid;

	b->oldest_xid = TransactionIdIsNormal(rel->rd_rel->relfrozenxid) ? rel->rd_rel->relfrozenxid :
		apes_cluster_oldest_xid();
	b->next_xid = XidFromFullTransactionId(ReadNextFullTransactionId());
	ReadMultiXactIdRange(&oldest_mxid, &b->next_mxid);
	b->oldest_mxid = MultiXactIdIsValid(rel->rd_rel->relminmxid) ? rel->rd_rel->relminmxid : oldest_mxid;
}

/* NULL when a normal xid lies between the horizon and the next xid (read again before calling it new), else why. */
static const char *
apes_xid_out_of_bounds(ApesXidBounds *b, TransactionId xid)
{
	if (!TransactionIdIsNormal(xid))
		return NULL;			/* invalid (an aborted speculative insertion), bootstrap or frozen */
	if (TransactionIdPrecedes(xid, b->oldest_xid))
		return psprintf("precedes the relation's freeze horizon %u", b->oldest_xid);
	if (!TransactionIdPrecedes(xid, b->next_xid))
	{
		b->next_xid = XidFromFullTransactionId(ReadNextFullTransactionId());
		if (!TransactionIdPrecedes(xid, b->next_xid))
			return psprintf("equals or exceeds the next transaction ID %u", b->next_xid);
	}
	return NULL;
}

/* NULL when a multixact id lies between the relation's multixact horizon and the next multixact, else why. */
static const char *
apes_mxid_out_of_bounds(ApesXidBounds *b, MultiXactId mxid)
{
	if (!MultiXactIdIsValid(mxid))
		return "is invalid";
	if (MultiXactIdPrecedes(mxid, b->oldest_mxid))
		return psprintf("precedes the relation's multixact horizon %u", b->oldest_mxid);
	if (MultiXactIdPrecedesOrEquals(b->next_mxid, mxid))
	{
		b->next_mxid = ReadNextMultiXactId();
		if (MultiXactIdPrecedesOrEquals(b->next_mxid, mxid))
			return psprintf("equals or exceeds the next multixact ID %u", b->next_mxid);
	}
	return NULL;
}

/*
 * Check a heap tuple's header (its line pointer already checked: len bytes inside the page) before its visibility is
 * asked: where its data begins, its infomask bits, and every transaction and multixact id visibility would look up.
 */
void
apes_check_heap_tuple(Relation rel, BlockNumber blk, OffsetNumber off, HeapTupleHeader tup, unsigned len,
					  ApesXidBounds *b)
{
	uint16		infomask = tup->t_infomask;
	int			natts = HeapTupleHeaderGetNatts(tup);
	unsigned	want_hoff;
	const char *why;

	want_hoff = (infomask & HEAP_HASNULL) ? MAXALIGN(offsetof(HeapTupleHeaderData, t_bits) + BITMAPLEN(natts)) :
		MAXALIGN(SizeofHeapTupleHeader);
	if (tup->t_hoff != want_hoff || tup->t_hoff > len)
		apes_tuple_corrupted(rel, blk, off,
							 psprintf("Its data begins at byte %u; with %d attributes%s it must begin at byte %u, within its %u bytes.",
									  tup->t_hoff, natts, (infomask & HEAP_HASNULL) ? " and a null bitmap" : "",
									  want_hoff, len));
	if (natts > RelationGetNumberOfAttributes(rel))
		apes_tuple_corrupted(rel, blk, off, psprintf("It has %d attributes; the relation has %d.",
													 natts, RelationGetNumberOfAttributes(rel)));
	if ((infomask & HEAP_XMAX_COMMITTED) && (infomask & HEAP_XMAX_IS_MULTI))
		apes_tuple_corrupted(rel, blk, off, "Its xmax is a multixact marked committed.");
	if ((infomask & HEAP_XMAX_LOCK_ONLY) && (tup->t_infomask2 & HEAP_KEYS_UPDATED))
		apes_tuple_corrupted(rel, blk, off, "It is marked as only locked, but also as having its key columns updated.");

	if ((why = apes_xid_out_of_bounds(b, HeapTupleHeaderGetXmin(tup))) != NULL)
		apes_tuple_corrupted(rel, blk, off, psprintf("Its xmin %u %s.", HeapTupleHeaderGetRawXmin(tup), why));
	if ((infomask & HEAP_MOVED) && !HeapTupleHeaderXminCommitted(tup) && !HeapTupleHeaderXminInvalid(tup) &&
		(why = apes_xid_out_of_bounds(b, HeapTupleHeaderGetXvac(tup))) != NULL)
		apes_tuple_corrupted(rel, blk, off, psprintf("Its old-style VACUUM FULL transaction ID %u %s.",
													 HeapTupleHeaderGetXvac(tup), why));
	if (infomask & HEAP_XMAX_INVALID)
		return;
	if (infomask & HEAP_XMAX_IS_MULTI)
	{
		if ((why = apes_mxid_out_of_bounds(b, HeapTupleHeaderGetRawXmax(tup))) != NULL)
			apes_tuple_corrupted(rel, blk, off, psprintf("Its xmax multixact %u %s.",
														 HeapTupleHeaderGetRawXmax(tup), why));
	}
	else if ((why = apes_xid_out_of_bounds(b, HeapTupleHeaderGetRawXmax(tup))) != NULL)
		apes_tuple_corrupted(rel, blk, off, psprintf("Its xmax %u %s.", HeapTupleHeaderGetRawXmax(tup), why));
}

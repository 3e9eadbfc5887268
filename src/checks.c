/*
 * checks.c: the registry of checks (checks.h) as data, and the SQL function behind the view apes.checks.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "catalog/pg_collation.h"
#include "utils/builtins.h"

#include "apes.h"
#include "checks.h"

/* Every check, in registry order (indexed by ApesCheckId). */
const ApesCheck apes_checks[APES_NCHECKS] = {
#define APES_CHECK_ROW(id, area, sev, desc, settings, doc) {#id, area, APES_##sev, desc, settings, doc},
	APES_CHECK_LIST(APES_CHECK_ROW)
#undef APES_CHECK_ROW
};

/* The check with this id, or NULL. */
const ApesCheck *
apes_check_by_name(const char *id)
{
	for (int i = 0; i < APES_NCHECKS; i++)
		if (strcmp(apes_checks[i].id, id) == 0)
			return &apes_checks[i];
	return NULL;
}

PG_FUNCTION_INFO_V1(apes_checks_list);

/*
 * apes.checks(): the registry, one row per check: check_id, area, default_severity, description, settings (text[]),
 * documentation.
 */
Datum
apes_checks_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	apes_init_materialized_srf(fcinfo);
	for (int i = 0; i < APES_NCHECKS; i++)
	{
		const ApesCheck *c = &apes_checks[i];
		Datum		values[6];
		bool		nulls[6] = {0};

		values[0] = CStringGetTextDatum(c->id);
		values[1] = CStringGetTextDatum(c->area);
		values[2] = CStringGetTextDatum(apes_severity_name(c->severity));
		values[3] = CStringGetTextDatum(c->description);
		values[4] = DirectFunctionCall2Coll(text_to_array, C_COLLATION_OID, CStringGetTextDatum(c->settings),
											CStringGetTextDatum(", "));
		values[5] = CStringGetTextDatum(c->doc);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

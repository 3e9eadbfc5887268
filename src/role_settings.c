/*
 * role_settings.c: the value of a setting a session of some role in some database starts with, which may differ from
 * the caller's own.
 *
 * A session starts from the server's value (configuration files, ALTER SYSTEM, the command line), then applies, each
 * over the last, the settings of pg_db_role_setting: ALTER ROLE ALL SET, ALTER DATABASE SET, ALTER ROLE SET, and
 * ALTER ROLE ... IN DATABASE ... SET.  The caller's own value says nothing of another session: the caller may have
 * SET it, or have role or database settings of its own.  The server's value is the caller's reset value only when
 * that came from the server (its reset source is the configuration at most); otherwise it is unknown here.  What a
 * session later SETs itself, or passed in its connection options, no one else can see.
 *
 * Lock: AccessShareLock on pg_db_role_setting, for one index scan per (database, role) pair asked about.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_db_role_setting.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/rel.h"

#include "apes.h"

/* The reset source of a setting in this session (PGC_S_DEFAULT when the name is unknown). */
static GucSource
apes_reset_source(const char *name)
{
#if PG_VERSION_NUM >= 160000
	struct config_generic *gconf = find_option(name, false, true, ERROR);

	return gconf ? gconf->reset_source : PGC_S_DEFAULT;
#else
	struct config_generic **vars = get_guc_variables();
	int			n = GetNumConfigOptions();

	for (int i = 0; i < n; i++)
		if (pg_strcasecmp(vars[i]->name, name) == 0)
			return vars[i]->reset_source;
	return PGC_S_DEFAULT;
#endif
}

/* The value name has in one pg_db_role_setting row (database, role), or NULL when the row does not set it. */
static char *
apes_setting_in_row(Relation rel, Oid database, Oid role, const char *name)
{
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *found = NULL;

	ScanKeyInit(&keys[0], Anum_pg_db_role_setting_setdatabase, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(database));
	ScanKeyInit(&keys[1], Anum_pg_db_role_setting_setrole, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(role));
	scan = systable_beginscan(rel, DbRoleSettingDatidRolidIndexId, true, NULL, 2, keys);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_db_role_setting_setconfig, RelationGetDescr(rel), &isnull);
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		if (isnull)
			continue;
		deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
		{
			char	   *opt;
			char	   *value;

			if (nulls[i])
				continue;
			ParseLongOption(TextDatumGetCString(elems[i]), &opt, &value);
			if (value != NULL && pg_strcasecmp(opt, name) == 0)
				found = value;
		}
	}
	systable_endscan(scan);
	return found;
}

/*
 * The value of setting name a new session of role in database starts with, and in *source where it comes from:
 * "role in database", "role", "database", "all roles", "server", or "unknown" (then NULL: the caller's own value
 * came from its role, database or connection, which hides the server's).
 */
char *
apes_session_setting(Oid database, Oid role, const char *name, const char **source)
{
	Relation	rel = table_open(DbRoleSettingRelationId, AccessShareLock);
	static const char *const sources[] = {"role in database", "role", "database", "all roles"};
	Oid			dbs[] = {database, InvalidOid, database, InvalidOid};
	Oid			roles[] = {role, role, InvalidOid, InvalidOid};
	char	   *value = NULL;

	for (int i = 0; i < lengthof(sources) && value == NULL; i++)
	{
		if ((i < 2 && !OidIsValid(role)) || (i % 2 == 0 && !OidIsValid(database)))
			continue;
		value = apes_setting_in_row(rel, dbs[i], roles[i], name);
		if (value != NULL)
			*source = sources[i];
	}
	table_close(rel, AccessShareLock);
	if (value != NULL)
		return value;
	if (apes_reset_source(name) <= PGC_S_ARGV)
	{
		*source = "server";
		return pstrdup(GetConfigOptionResetString(name));
	}
	*source = "unknown";
	return NULL;
}

PG_FUNCTION_INFO_V1(apes_session_setting_sql);

/*
 * apes.session_setting(database oid, role oid, setting text, OUT value text, OUT source text): what a new session of
 * that role in that database starts with (NULL value with source "unknown" when the caller cannot know).  Reads
 * pg_db_role_setting (public); the setting's value is whatever the caller may read of it: a superuser-only setting's
 * server value is shown only to those who may read it, as SHOW does.
 */
Datum
apes_session_setting_sql(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {0};
	const char *source = "unknown";
	char	   *name;
	char	   *value;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("setting must not be null")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function returning record called in context that cannot accept type record")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(2));
	/* an unknown or hidden setting is an error, as SHOW gives it */
	(void) GetConfigOptionByName(name, NULL, false);
	value = apes_session_setting(PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0),
								 PG_ARGISNULL(1) ? InvalidOid : PG_GETARG_OID(1), name, &source);
	nulls[0] = value == NULL;
	values[0] = value ? CStringGetTextDatum(value) : (Datum) 0;
	values[1] = CStringGetTextDatum(source);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/*
 * apes.setting_num(name): a numeric setting's value in its own base unit, as pg_settings.setting shows it, read
 * directly (GetConfigOption) rather than through pg_settings, which builds every setting's row for each call.  NULL
 * for an unknown setting; a setting that is not a number is an error (22023).  Superuser-only settings follow
 * pg_settings' rule (pg_read_all_settings).
 */
PG_FUNCTION_INFO_V1(apes_setting_num);
Datum
apes_setting_num(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *value = GetConfigOption(name, true, true);
	char	   *end;
	double		num;

	if (value == NULL)
		PG_RETURN_NULL();
	errno = 0;
	num = strtod(value, &end);
	if (end == value || *end != '\0' || errno != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("setting \"%s\" is not a number: \"%s\"", name, value)));
	PG_RETURN_FLOAT8(num);
}

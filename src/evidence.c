/*
 * evidence.c: building the jsonb evidence of findings and the health_json document.
 *
 * A thin layer over the server's own jsonb builder (pushJsonbValue): keys and scalar values are pushed in order and
 * the server produces the binary jsonb, so nothing here formats JSON text by hand.  A key of NULL means "inside an
 * array": the value is pushed as an element.
 */
#include "postgres.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"

#include "apes.h"

/* Push one scalar, as an object value when key is given, as an array element otherwise. */
static void
apes_json_push_scalar(ApesJson *j, const char *key, JsonbValue *v)
{
	if (key != NULL)
	{
		apes_json_key(j, key);
		j->result = pushJsonbValue(&j->state, WJB_VALUE, v);
	}
	else
		j->result = pushJsonbValue(&j->state, WJB_ELEM, v);
}

/* Start a document (an object). */
void
apes_json_begin(ApesJson *j)
{
	j->state = NULL;
	j->result = pushJsonbValue(&j->state, WJB_BEGIN_OBJECT, NULL);
}

/* Close the document and return it as jsonb. */
Jsonb *
apes_json_end(ApesJson *j)
{
	j->result = pushJsonbValue(&j->state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(j->result);
}

/* Push an object key. */
void
apes_json_key(ApesJson *j, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = pstrdup(key);
	k.val.string.len = strlen(key);
	j->result = pushJsonbValue(&j->state, WJB_KEY, &k);
}

/* A string value; NULL becomes JSON null. */
void
apes_json_text(ApesJson *j, const char *key, const char *value)
{
	JsonbValue	v;

	if (value == NULL)
	{
		apes_json_null(j, key);
		return;
	}
	v.type = jbvString;
	v.val.string.val = pstrdup(value);
	v.val.string.len = strlen(value);
	apes_json_push_scalar(j, key, &v);
}

/* An integer value. */
void
apes_json_int(ApesJson *j, const char *key, int64 value)
{
	JsonbValue	v;

	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(value);
	apes_json_push_scalar(j, key, &v);
}

/* A floating-point value, rounded to 4 decimals for readability; NaN and infinity become null. */
void
apes_json_float(ApesJson *j, const char *key, double value)
{
	JsonbValue	v;

	if (isnan(value) || isinf(value))
	{
		apes_json_null(j, key);
		return;
	}
	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(DirectFunctionCall2(numeric_round,
														DirectFunctionCall1(float8_numeric, Float8GetDatum(value)),
														Int32GetDatum(4)));
	apes_json_push_scalar(j, key, &v);
}

/* A boolean value. */
void
apes_json_bool(ApesJson *j, const char *key, bool value)
{
	JsonbValue	v;

	v.type = jbvBool;
	v.val.boolean = value;
	apes_json_push_scalar(j, key, &v);
}

/* A JSON null. */
void
apes_json_null(ApesJson *j, const char *key)
{
	JsonbValue	v;

	v.type = jbvNull;
	apes_json_push_scalar(j, key, &v);
}

/* A whole jsonb container (for example a finding's evidence) as a value. */
void
apes_json_jsonb(ApesJson *j, const char *key, Jsonb *value)
{
	JsonbValue	v;

	if (value == NULL)
	{
		apes_json_null(j, key);
		return;
	}
	v.type = jbvBinary;
	v.val.binary.data = &value->root;
	v.val.binary.len = VARSIZE(value) - VARHDRSZ;
	if (key != NULL)
	{
		apes_json_key(j, key);
		j->result = pushJsonbValue(&j->state, WJB_VALUE, &v);
	}
	else
		j->result = pushJsonbValue(&j->state, WJB_ELEM, &v);
}

/* Open a nested object (key NULL inside an array). */
void
apes_json_begin_object(ApesJson *j, const char *key)
{
	if (key != NULL)
		apes_json_key(j, key);
	j->result = pushJsonbValue(&j->state, WJB_BEGIN_OBJECT, NULL);
}

/* Close a nested object. */
void
apes_json_end_object(ApesJson *j)
{
	j->result = pushJsonbValue(&j->state, WJB_END_OBJECT, NULL);
}

/* Open a nested array (key NULL inside an array). */
void
apes_json_begin_array(ApesJson *j, const char *key)
{
	if (key != NULL)
		apes_json_key(j, key);
	j->result = pushJsonbValue(&j->state, WJB_BEGIN_ARRAY, NULL);
}

/* Close a nested array. */
void
apes_json_end_array(ApesJson *j)
{
	j->result = pushJsonbValue(&j->state, WJB_END_ARRAY, NULL);
}

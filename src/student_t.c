/*
 * student_t.c: Student's t distribution, which the server does not have, for the significance of
 * apes.query_regressions() (Welch's test with Welch-Satterthwaite degrees of freedom).
 *
 *   apes.t_upper_tail(t, df) = P(T > t) for T ~ t(df)
 *
 * computed as 1/2 I_x(df/2, 1/2) with x = df / (df + t^2), the regularized incomplete beta function evaluated by
 * its continued fraction (modified Lentz method), which converges in a few dozen terms for the degrees of freedom a
 * period of calls gives.  Past APES_T_NORMAL_DF degrees of freedom the t distribution is the normal one to better
 * than 1e-6, and the normal tail (erfc) is used.  test/sql/history.sql checks it against published tables.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/float.h"

#include "apes.h"

#define APES_T_NORMAL_DF	1e7
#define APES_BETA_EPS		1e-15
#define APES_BETA_TINY		1e-300
#define APES_BETA_MAX_TERMS	100000

PG_FUNCTION_INFO_V1(apes_t_upper_tail);

/* The continued fraction of I_x(a, b), for x below (a + 1) / (a + b + 2), where it converges fast. */
static double
apes_beta_fraction(double a, double b, double x)
{
	double		f = 1.0;
	double		c = 1.0;
	double		d = 0.0;

	for (int i = 0; i <= APES_BETA_MAX_TERMS; i++)
	{
		int			m = i / 2;
		double		num;
		double		cd;

		if (i == 0)
			num = 1.0;
		else if (i % 2 == 0)
			num = (m * (b - m) * x) / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
		else
			num = -((a + m) * (a + b + m) * x) / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
		d = 1.0 + num * d;
		if (fabs(d) < APES_BETA_TINY)
			d = APES_BETA_TINY;
		d = 1.0 / d;
		c = 1.0 + num / c;
		if (fabs(c) < APES_BETA_TINY)
			c = APES_BETA_TINY;
		cd = c * d;
		f *= cd;
		if (fabs(1.0 - cd) < APES_BETA_EPS)
			break;
	}
	return f - 1.0;
}

/* The regularized incomplete beta function I_x(a, b), for a, b > 0 and x in [0, 1]. */
static double
apes_incomplete_beta(double a, double b, double x)
{
	double		front;

	if (x <= 0.0)
		return 0.0;
	if (x >= 1.0)
		return 1.0;
	if (x > (a + 1.0) / (a + b + 2.0))
		return 1.0 - apes_incomplete_beta(b, a, 1.0 - x);
	front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x)) / a;
	return front * apes_beta_fraction(a, b, x);
}

/* P(T > t) for Student's t with df degrees of freedom. */
static double
apes_t_tail(double t, double df)
{
	if (isnan(t))
		return t;
	if (t < 0)
		return 1.0 - apes_t_tail(-t, df);
	if (isinf(t))
		return 0.0;
	if (df >= APES_T_NORMAL_DF)
		return 0.5 * erfc(t / sqrt(2.0));
	return 0.5 * apes_incomplete_beta(df / 2.0, 0.5, df / (df + t * t));
}

/* apes.t_upper_tail(t, df): the upper tail of Student's t distribution. */
Datum
apes_t_upper_tail(PG_FUNCTION_ARGS)
{
	float8		t = PG_GETARG_FLOAT8(0);
	float8		df = PG_GETARG_FLOAT8(1);

	if (isnan(df) || df <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("degrees of freedom must be positive, not %g", df)));
	PG_RETURN_FLOAT8(apes_t_tail(t, df));
}

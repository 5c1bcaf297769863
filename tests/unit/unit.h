/*
 * unit.h: a tiny test harness for the unit tests. Each CHECK counts one
 * assertion and prints "FAIL file:line: expr" when it does not hold; main
 * ends with "return (UNIT_DONE());", which prints "test_name: N passed,
 * M failed" (the name is the source file's) and gives the exit status.
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>
#include <string.h>

static int	unit_passed;
static int	unit_failed;

/* Count one assertion; print it when it failed. Returns cond. */
static inline int
unit_check(int cond, const char *file, int line, const char *expr)
{
	if (cond)
		unit_passed++;
	else {
		unit_failed++;
		printf("FAIL %s:%d: %s\n", file, line, expr);
	}
	return (cond);
}

/* Compare two strings, either of which may be NULL. */
static inline int
unit_check_str(const char *a, const char *b, const char *file, int line,
    const char *expr)
{
	int	ok;

	ok = (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
	if (!unit_check(ok, file, line, expr))
		printf("     got \"%s\", want \"%s\"\n", a ? a : "(null)",
		    b ? b : "(null)");
	return (ok);
}

/* Compare two integers, printing both when they differ. */
static inline int
unit_check_int(long long a, long long b, const char *file, int line,
    const char *expr)
{
	if (!unit_check(a == b, file, line, expr)) {
		printf("     got %lld, want %lld\n", a, b);
		return (0);
	}
	return (1);
}

/* Print the summary line; the exit status for main. */
static inline int
unit_done(const char *file)
{
	const char	*base, *dot;
	int		 len;

	base = strrchr(file, '/');
	base = base != NULL ? base + 1 : file;
	dot = strrchr(base, '.');
	len = dot != NULL ? (int)(dot - base) : (int)strlen(base);
	printf("%.*s: %d passed, %d failed\n", len, base, unit_passed,
	    unit_failed);
	fflush(stdout);
	return (unit_failed == 0 ? 0 : 1);
}

#define CHECK(cond) \
	unit_check(!!(cond), __FILE__, __LINE__, #cond)
#define CHECK_STR_EQ(a, b) \
	unit_check_str((a), (b), __FILE__, __LINE__, #a " == " #b)
#define CHECK_INT_EQ(a, b) \
	unit_check_int((long long)(a), (long long)(b), __FILE__, __LINE__, \
	    #a " == " #b)
#define UNIT_DONE()	unit_done(__FILE__)

#endif /* UNIT_H */

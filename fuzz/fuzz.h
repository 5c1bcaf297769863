/*
 * fuzz.h: what the libFuzzer targets share: the entry points, a check that
 * aborts (so a broken invariant is a crash libFuzzer saves), and a few
 * principals and assets to run the pure rules against. Each target is one
 * file linking the real objects; fuzz/run.sh and --enable-fuzzing build
 * them with -fsanitize=fuzzer,address,undefined.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tocsind.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* An invariant the code promises: a crash when it does not hold. */
#define FUZZ_CHECK(e) do {						\
	if (!(e)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #e);				\
		abort();						\
	}								\
} while (0)

/*
 * Principals of each role and kind, for tlp_may_see and the filters:
 * anonymous, members of an essential energy and an important health
 * organisation, an org-admin of an inactive one, a publisher, an admin.
 */
#define FUZZ_NPRINCIPALS	6
static char *fuzz_energy[] __attribute__((unused)) = { "energy.electricity" };
static char *fuzz_health[] __attribute__((unused)) = { "health", "research" };
static struct principal fuzz_principals[FUZZ_NPRINCIPALS]
    __attribute__((unused)) = {
	{ .role = ROLE_ANONYMOUS },
	{ .user_id = 5, .org_id = 1, .role = ROLE_MEMBER,
	  .org_kind = KIND_ESSENTIAL, .org_active = 1,
	  .org_sectors = fuzz_energy, .n_org_sectors = 1 },
	{ .user_id = 6, .org_id = 2, .role = ROLE_MEMBER,
	  .org_kind = KIND_IMPORTANT, .org_active = 1,
	  .org_sectors = fuzz_health, .n_org_sectors = 2 },
	{ .user_id = 7, .org_id = 3, .role = ROLE_ORG_ADMIN,
	  .org_kind = KIND_PUBLIC, .org_active = 0 },
	{ .user_id = 1, .role = ROLE_PUBLISHER },
	{ .user_id = 2, .role = ROLE_ADMIN },
};

/* Approved assets of four organisations (as in tests/data/). */
static inline struct assetmatch *
fuzz_assets(void)
{
	struct assetmatch	*m = assetmatch_new();
	const char		*why;

	assetmatch_add(m, ASSET_CIDR, ASSET_APPROVED, "198.51.100.0/24", 1,
	    &why);
	assetmatch_add(m, ASSET_CIDR, ASSET_APPROVED, "198.51.100.128/25", 2,
	    &why);
	assetmatch_add(m, ASSET_CIDR, ASSET_APPROVED, "2001:db8::/32", 1,
	    &why);
	assetmatch_add(m, ASSET_DOMAIN, ASSET_APPROVED, "example.be", 3, &why);
	assetmatch_add(m, ASSET_DOMAIN, ASSET_PROPOSED, "example.org", 2,
	    &why);
	assetmatch_add(m, ASSET_ASN, ASSET_APPROVED, "64500", 4, &why);
	assetmatch_build(m);
	return (m);
}

/* Debug level so every log line's formatting runs; run.sh sends the
 * target's own stderr to /dev/null (-close_fd_mask=2). */
static inline void
fuzz_log_init(void)
{
	log_init(LOG_LEVEL_DEBUG, "fuzz");
}

#endif /* FUZZ_H */

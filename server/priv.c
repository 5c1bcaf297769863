/*
 * priv.c: give up privileges once the listeners are bound and every key
 * is in memory. Started as root, tocsind becomes the configured user (its
 * uid, its primary group and its supplementary groups); started as
 * another user, it drops any capability it was given (systemd's
 * AmbientCapabilities=CAP_NET_BIND_SERVICE). tocsind.c calls this once,
 * before any thread starts, so no thread ever runs with the old ids.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tocsind.h"

/* Not root: drop every capability left; failing to is only logged. */
static void
priv_drop_caps(void)
{
	struct __user_cap_header_struct	 h;
	struct __user_cap_data_struct	 d[2];

	memset(&h, 0, sizeof h);
	memset(d, 0, sizeof d);
	h.version = _LINUX_CAPABILITY_VERSION_3;
	if (syscall(SYS_capget, &h, d) != 0)
		return;
	if ((d[0].permitted | d[1].permitted) == 0)
		return;
	memset(d, 0, sizeof d);
	if (syscall(SYS_capset, &h, d) != 0)
		log_warn("could not drop capabilities: %s", strerror(errno));
	else
		log_info("capabilities dropped after binding");
}

/* Nothing this process runs may gain privileges again. */
static void
priv_no_new_privs(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		log_warn("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
}

/*
 * Become cfg->user if started as root; 0, or -1 (logged) if that user
 * does not exist or the change did not take. "root" keeps root.
 */
int
priv_drop(const struct config *cfg)
{
	struct passwd	*pw;
	uid_t		 uid, ruid, euid, suid;
	gid_t		 gid, rgid, egid, sgid;

	if (geteuid() != 0) {
		priv_drop_caps();
		priv_no_new_privs();
		log_info("running as uid %u (not started as root; user: not "
		    "used)", (unsigned)geteuid());
		return (0);
	}
	if (strcmp(cfg->user, "root") == 0) {
		log_warn("user: root: staying root, as configured");
		return (0);
	}
	errno = 0;
	if ((pw = getpwnam(cfg->user)) == NULL) {
		if (errno != 0)
			log_error("user: cannot look up \"%s\": %s", cfg->user,
			    strerror(errno));
		else
			log_error("user: no such user \"%s\": create it "
			    "(adduser --system --group %s) or set user: in %s",
			    cfg->user, cfg->user, cfg->path);
		return (-1);
	}
	if (pw->pw_uid == 0) {
		log_error("user: \"%s\" has uid 0; name an unprivileged user, "
		    "or root to stay root", cfg->user);
		return (-1);
	}
	/* getpwnam's storage may be reused by initgroups' look-ups. */
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (initgroups(cfg->user, gid) != 0 ||
	    setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) {
		log_error("user: cannot become \"%s\": %s", cfg->user,
		    strerror(errno));
		return (-1);
	}
	/* Trust, but verify: every id changed, and there is no way back. */
	if (getresuid(&ruid, &euid, &suid) != 0 ||
	    getresgid(&rgid, &egid, &sgid) != 0 ||
	    ruid != uid || euid != uid || suid != uid ||
	    rgid != gid || egid != gid || sgid != gid ||
	    setuid(0) != -1) {
		log_error("user: the change to \"%s\" did not take", cfg->user);
		return (-1);
	}
	priv_no_new_privs();
	log_info("running as %s (uid %u, gid %u)", cfg->user, (unsigned)uid,
	    (unsigned)gid);
	return (0);
}

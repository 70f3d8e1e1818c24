#ifndef COGNITO_HELPER_SHIMS_H
#define COGNITO_HELPER_SHIMS_H

/* What Swift cannot call itself: prctl(2) is variadic, and struct ucred needs _GNU_SOURCE. */

enum {
	COGNITO_LOCKDOWN_OK = 0,
	COGNITO_LOCKDOWN_PRCTL_FAILED = 1,      /* errno says why */
	COGNITO_LOCKDOWN_PARENT_GONE = 2,       /* the process that made the socket is not our parent */
};

/* Makes the helper non-dumpable and asks for SIGKILL when its parent dies, then checks that the
 * parent is still the process that created `socket_fd`'s socketpair (pam/PROTOCOL.md). */
int cognito_helper_lockdown(int socket_fd);

#endif

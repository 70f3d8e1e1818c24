#define _GNU_SOURCE
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "CHelperShims.h"

int cognito_helper_lockdown(int socket_fd)
{
	struct ucred peer;
	socklen_t len = sizeof(peer);

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return COGNITO_LOCKDOWN_PRCTL_FAILED;
	/* A parent that died before PR_SET_PDEATHSIG sent no signal: we were re-parented. For a
	 * socketpair, SO_PEERCRED names the process that created it, which forked us. */
	if (getsockopt(socket_fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 || peer.pid != getppid())
		return COGNITO_LOCKDOWN_PARENT_GONE;
	return COGNITO_LOCKDOWN_OK;
}

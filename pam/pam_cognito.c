/* pam_cognito.so: runs the helper (docs/ARCHITECTURE.md §1), relays its conversation and maps
 * its RESULT to a PAM code (pam/PROTOCOL.md). PAM_SUCCESS comes only from a well-formed RESULT
 * "allowed" for PAM_USER, EOF, then exit 0. All paths end at `done:`, where reap() kills, reaps. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <security/pam_modules.h>
#include <security/pam_ext.h>
#include "provisional.h"

#define HELPER_FD 3
#define HEADER 4                /* bytes of a frame's length field */
#define MAX_FRAME 65536         /* bytes in one frame, its length field included */
#define MAX_CONV 4              /* messages in one CONV */
#define HELLO_MS 10000          /* from fork to HELLO */
#define GRACE_MS 5000           /* added to HELLO's timeout */
#define EXIT_MS 2000            /* from RESULT (or EOF) to the helper's exit */
#define DATA_KEY "pam_cognito_auth_result"
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define VALUE(arg, key) (strncmp((arg), key, sizeof(key) - 1) == 0 ? (arg) + sizeof(key) - 1 : NULL)
#define ERR(pamh, ...) pam_syslog((pamh), LOG_AUTHPRIV | LOG_ERR, __VA_ARGS__)
#define DBG(s, ...) do { if ((s)->debug) \
	pam_syslog((s)->pamh, LOG_AUTHPRIV | LOG_DEBUG, __VA_ARGS__); } while (0)
#define BAD(s, what) ((s)->why = (what), IO_BAD)
#define VIOLATION(s, what) unavailable((s), BAD((s), (what)), "")

/* IO_BAD: a protocol violation (s->why). IO_LATE: the person answered after the deadline. */
enum { IO_OK, IO_EOF, IO_TIMEOUT, IO_ERROR, IO_BAD, IO_LATE };

struct session {
	pam_handle_t *pamh;
	const char *config, *helper, *why;
	int debug, ignore_unknown_user, fd;
	pid_t pid;                      /* > 0 until reaped */
	long long deadline;             /* CLOCK_MONOTONIC ms: every wait ends by it */
	char *buf;                      /* MAX_FRAME bytes: the last frame's body */
	char *f[1 + 2 * MAX_CONV];      /* its fields, NUL-terminated inside buf */
	size_t nf;
};

/* acct_mgmt's record: PAM_USER after success, this after failure, NULL after PAM_IGNORE. */
static char refused[] = "";

static const struct name_code { const char *name; int code; } outcomes[] = {
	{ "allowed", PAM_SUCCESS }, { "denied", PAM_AUTH_ERR }, { "policy_denied", PAM_AUTH_ERR },
	{ "timeout", PAM_AUTH_ERR }, { "unknown_user", PAM_USER_UNKNOWN },
	{ "unavailable", PAM_AUTHINFO_UNAVAIL }, { "config_error", PAM_SERVICE_ERR },
	{ "conv_error", PAM_CONV_ERR },
}, styles[] = {
	{ "info", PAM_TEXT_INFO }, { "error", PAM_ERROR_MSG },
	{ "prompt_echo_on", PAM_PROMPT_ECHO_ON }, { "prompt_echo_off", PAM_PROMPT_ECHO_OFF },
};

/* The helper gets these whatever its caller had (PROTOCOL.md "The helper process"). */
static const struct { int resource; rlim_t value; } limits[] = {
	{ RLIMIT_CORE, 0 }, { RLIMIT_NOFILE, 1024 }, { RLIMIT_FSIZE, 64 << 20 },
};

/* The code for a name in one of the tables above, or -1. */
static int lookup(const struct name_code *t, size_t n, const char *name)
{
	while (n-- > 0)
		if (strcmp(name, t[n].name) == 0) return t[n].code;
	return -1;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *item(pam_handle_t *pamh, int type)
{
	const void *v = NULL;
	return pam_get_item(pamh, type, &v) == PAM_SUCCESS && v != NULL ? v : "";
}

static void wipe_free(void *p, size_t len)
{
	if (p != NULL) explicit_bzero(p, len);
	free(p);
}

/* OpenSSH's safe_path, walked from "/" following no symlink: every directory and the file owned by
 * root, not group/world-writable (sticky /tmp too). Only root can then change what we exec. */
static int check_helper(pam_handle_t *pamh, const char *path)
{
	char p[PATH_MAX], c;
	const char *problem = NULL;
	size_t s = 0, e = 1;    /* p[s..e) is the component, p[0..e) the path walked so far */
	int fd = AT_FDCWD, next;
	struct stat st;
	if (path[0] != '/' || strlen(path) >= sizeof(p))
		return ERR(pamh, "helper %s: is not an absolute path", path), PAM_SERVICE_ERR;
	strcpy(p, path);
	for (;; s = e + (p[e] == '/'), e = s + strcspn(p + s, "/")) {
		c = p[e];
		p[e] = '\0';
		next = openat(fd, p + s, O_PATH | O_NOFOLLOW | O_CLOEXEC);      /* "/" first */
		if (fd >= 0) close(fd);
		if ((fd = next) < 0 || fstat(fd, &st) != 0) break;
		if (S_ISLNK(st.st_mode)) problem = "is a symbolic link";
		else if (c != '\0' && !S_ISDIR(st.st_mode)) problem = "is not a directory";
		else if (c == '\0' && !S_ISREG(st.st_mode)) problem = "is not a regular file";
		else if (st.st_uid != 0) problem = "is not owned by root";
		else if (st.st_mode & (S_IWGRP | S_IWOTH)) problem = "is group- or world-writable";
		if (problem != NULL) break;
		if (c == '\0') return close(fd), PAM_SUCCESS;
		p[e] = c;
	}
	if (problem != NULL) ERR(pamh, "helper %s: %s %s", path, p, problem);
	else ERR(pamh, "helper %s: %s: %m", path, p);
	if (fd >= 0) close(fd);
	return PAM_SERVICE_ERR;
}

/* In the forked child, async-signal-safe calls only. Nothing of the host's reaches the helper: not
 * its signal dispositions or mask, fds, cwd, umask, nor a setuid caller's (su, polkit-agent-
 * helper-1) real uid, groups or rlimits, with which it could signal, trace or starve the helper. */
static void exec_helper(int sock, const char *path)
{
	char *argv[] = { (char *)"cognito-auth-helper", NULL };
	char *envp[] = { (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	struct rlimit rl;
	sigset_t none;
	int null;
	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &dfl, NULL);    /* ignored signals survive exec */
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	(void)setpgid(0, 0);    /* so that kill(-pid) also reaches its children */
	if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setresgid(0, 0, 0) != 0 ||
			       setresuid(0, 0, 0) != 0))
		_exit(127);
	for (size_t i = 0; geteuid() == 0 && i < COUNT(limits); i++) {    /* soft; hard >= soft */
		if (getrlimit(limits[i].resource, &rl) != 0) _exit(127);
		rl.rlim_cur = limits[i].value;
		rl.rlim_max = rl.rlim_max < rl.rlim_cur ? rl.rlim_cur : rl.rlim_max;
		if (setrlimit(limits[i].resource, &rl) != 0) _exit(127);
	}
	(void)umask(077);
	/* F_SETFD too: a dup2 of fd 3 onto itself would keep its CLOEXEC. */
	if (dup2(sock, HELPER_FD) != HELPER_FD || fcntl(HELPER_FD, F_SETFD, 0) != 0) _exit(127);
	if ((null = open("/dev/null", O_RDWR)) < 0) _exit(127);
	for (int fd = 0; fd <= STDERR_FILENO; fd++)
		if (fd != null && dup2(null, fd) != fd) _exit(127);
	if (chdir("/") == 0 && close_range(HELPER_FD + 1, ~0U, 0) == 0)    /* Linux >= 5.9 */
		execve(path, argv, envp);
	_exit(127);
}

/* The one way the helper ends: wait until `until` (0: not at all) for its exit, SIGKILL its group
 * while the leader is a zombie (so the id is not reused), reap it. 1 only for exit 0 in time. */
static int reap(struct session *s, long long until)
{
	struct timespec pause = { 0, 1000000 };
	siginfo_t si = { 0 };
	int st = 0;
	pid_t r;
	if (s->pid <= 0) return 0;
	while ((waitid(P_PID, (id_t)s->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 ||
		errno == EINTR) && si.si_pid != s->pid && now_ms() < until)
		(void)nanosleep(&pause, NULL);
	(void)kill(-s->pid, SIGKILL);
	(void)kill(s->pid, SIGKILL);
	while ((r = waitpid(s->pid, &st, 0)) < 0 && errno == EINTR) ;
	s->pid = -1;
	if (r < 0) ERR(s->pamh, "waitpid on helper: %m");
	else if (si.si_pid == 0 && until > 0) ERR(s->pamh, "helper did not exit in time; killed");
	else if (si.si_pid == 0) ;      /* killed on purpose: the reason is logged already */
	else if (WIFSIGNALED(st)) ERR(s->pamh, "helper killed by signal %d", WTERMSIG(st));
	else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		ERR(s->pamh, "helper exited with status %d", WEXITSTATUS(st));
	else return 1;
	return 0;
}

/* Moves exactly n bytes to (out) or from the helper before the deadline.
 * IO_EOF only if the helper closed its end before the first byte. */
static int xfer(struct session *s, char *p, size_t n, int out)
{
	size_t want = n;
	ssize_t r;
	while (n > 0) {
		long long left = s->deadline - now_ms();
		struct pollfd pf = { .fd = s->fd, .events = out ? POLLOUT : POLLIN };
		if (left <= 0) return IO_TIMEOUT;
		if ((r = poll(&pf, 1, left > INT_MAX ? INT_MAX : (int)left)) < 0 && errno != EINTR)
			return IO_ERROR;
		if (r <= 0) continue;   /* EINTR, or time is up: the loop's top tells */
		/* MSG_NOSIGNAL: a dead helper must never SIGPIPE the host. */
		r = out ? send(s->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT)
			: recv(s->fd, p, n, MSG_DONTWAIT);
		if (r > 0)
			p += r, n -= (size_t)r;
		else if (!out && (r == 0 || errno == ECONNRESET))   /* ECONNRESET: START unread */
			return n == want ? IO_EOF : BAD(s, "frame cut short by EOF");
		else if (r == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
			return IO_ERROR;
	}
	return IO_OK;
}

/* A frame: 4-byte big-endian body length, then the body: NUL-terminated fields, split in place. */
static int read_frame(struct session *s)
{
	unsigned char h[HEADER];
	size_t len, i;
	int rc;
	if ((rc = xfer(s, (char *)h, sizeof(h), 0)) != IO_OK) return rc;
	for (len = 0, i = 0; i < sizeof(h); i++) len = len << 8 | h[i];
	if (len == 0 || len > MAX_FRAME - sizeof(h)) return BAD(s, "frame length is not 1..65532");
	if ((rc = xfer(s, s->buf, len, 0)) != IO_OK)
		return rc == IO_EOF ? BAD(s, "frame cut short by EOF") : rc;
	if (s->buf[len - 1] != '\0') return BAD(s, "frame does not end with a NUL");
	for (s->nf = 0, i = 0; i < len; i += strlen(s->buf + i) + 1) {
		if (s->nf == COUNT(s->f)) return BAD(s, "too many fields");
		s->f[s->nf++] = s->buf + i;
	}
	return IO_OK;
}

/* Sends the frame of these fields. Its buffer is wiped: an ANSWER holds secrets. */
static int send_frame(struct session *s, const char *const *f, size_t n)
{
	size_t i, total = HEADER;
	char *b, *p;
	int rc;
	for (i = 0; i < n; i++) total += strlen(f[i]) + 1;
	if (total > MAX_FRAME || (b = malloc(total)) == NULL) {
		ERR(s->pamh, "%s of %zu bytes not sent: too long, or out of memory", f[0], total);
		return IO_BAD;
	}
	for (i = 0; i < HEADER; i++) b[i] = (char)((total - HEADER) >> (8 * (HEADER - 1 - i)));
	for (p = b + HEADER, i = 0; i < n; i++) p = stpcpy(p, f[i]) + 1;
	rc = xfer(s, b, total, 1);
	wipe_free(b, total);
	return rc;
}

/* One conversation call with all of the CONV's messages (OpenSSH shows info text only with a
 * prompt, bug 2876), then ANSWER, or CONVFAIL if it failed. Responses are wiped before freeing. */
static int converse(struct session *s, int *conv_failed)
{
	struct pam_message msgs[MAX_CONV];
	const struct pam_message *pmsgs[MAX_CONV];
	const char *answer[1 + MAX_CONV] = { "ANSWER" };
	struct pam_response *resp = NULL;
	const struct pam_conv *conv = NULL;
	size_t i, n = (s->nf - 1) / 2, na = 1;
	int rc = PAM_CONV_ERR;
	for (i = 0; i < n; i++) {
		msgs[i].msg_style = lookup(styles, COUNT(styles), s->f[1 + 2 * i]);
		msgs[i].msg = s->f[2 + 2 * i];
		pmsgs[i] = &msgs[i];
	}
	if (pam_get_item(s->pamh, PAM_CONV, (const void **)&conv) == PAM_SUCCESS && conv &&
	    conv->conv)
		rc = conv->conv((int)n, pmsgs, &resp, conv->appdata_ptr);
	if (rc != PAM_SUCCESS) ERR(s->pamh, "conversation failed: %s", pam_strerror(s->pamh, rc));
	for (i = 0; i < n; i++)
		if (msgs[i].msg_style == PAM_PROMPT_ECHO_OFF ||
		    msgs[i].msg_style == PAM_PROMPT_ECHO_ON)
			answer[na++] = resp != NULL && resp[i].resp != NULL ? resp[i].resp : "";
	if (now_ms() >= s->deadline) {
		ERR(s->pamh, "no answer before the sign-in deadline; helper killed");
		rc = IO_LATE;
	} else if (rc != PAM_SUCCESS || (rc = send_frame(s, answer, na)) == IO_BAD) {
		*conv_failed = 1;       /* the conversation failed, or the ANSWER was too long */
		answer[0] = "CONVFAIL";
		rc = send_frame(s, answer, 1);
	}
	for (i = 0; resp != NULL && i < n; i++)
		if (resp[i].resp != NULL) wipe_free(resp[i].resp, strlen(resp[i].resp));
	free(resp);
	return rc;
}

static int unavailable(struct session *s, int rc, const char *when)
{
	if (rc == IO_TIMEOUT) ERR(s->pamh, "deadline passed %s; helper killed", when);
	else if (rc == IO_BAD) ERR(s->pamh, "protocol violation: %s; helper killed", s->why);
	else if (rc != IO_EOF) ERR(s->pamh, "talking to the helper %s: %m", when);
	else ERR(s->pamh, "helper closed fd 3 without RESULT"), (void)reap(s, now_ms() + EXIT_MS);
	return PAM_AUTHINFO_UNAVAIL;
}

static int talk(struct session *s, const char *user)
{
	pam_handle_t *h = s->pamh;
	const char *start[] = { "START", "2", user, item(h, PAM_SERVICE), item(h, PAM_RHOST),
		item(h, PAM_RUSER), item(h, PAM_TTY), s->config,     /* flags: 1 debug + 2 ignore_unknown_user */
		(const char *const[]){ "0", "1", "2", "3" }[s->debug + 2 * s->ignore_unknown_user] };
	int conv_failed = 0, code, rc;
	char *t, extra;
	long secs;
	s->deadline = now_ms() + HELLO_MS;
	if ((rc = send_frame(s, start, COUNT(start))) != IO_OK)
		return rc == IO_BAD ? PAM_AUTHINFO_UNAVAIL : unavailable(s, rc, "sending START");
	/* HELLO first, always: only it may start the long deadline. */
	if ((rc = read_frame(s)) != IO_OK) return unavailable(s, rc, "waiting for HELLO");
	if (strcmp(s->f[0], "HELLO") != 0 || s->nf != 3 || strcmp(s->f[1], "2") != 0)
		return VIOLATION(s, "first frame is not HELLO 2 <timeout>");
	secs = strtol(s->f[2], &t, 10);
	if (s->f[2][0] < '0' || s->f[2][0] > '9' || *t != '\0' || secs < 1 || secs > 3600)
		return VIOLATION(s, "HELLO timeout is not 1..3600");
	s->deadline = now_ms() + secs * 1000 + GRACE_MS;
	while ((rc = read_frame(s)) == IO_OK && strcmp(s->f[0], "CONV") == 0) {
		for (size_t i = 1; i < s->nf; i += 2)
			if (lookup(styles, COUNT(styles), s->f[i]) < 0) s->nf = 0;
		if (s->nf < 3 || s->nf % 2 == 0) return VIOLATION(s, "CONV not 1..4 style, text");
		/* A person too slow to sign in is refused, not "IdP unavailable": a
		 * stack with [authinfo_unavail=ignore] must not fall through. */
		if ((rc = converse(s, &conv_failed)) == IO_LATE) return PAM_AUTH_ERR;
		if (rc == IO_TIMEOUT) return unavailable(s, rc, "sending ANSWER");
		/* Read on even if ANSWER met a closed socket: a helper that gave up left RESULT. */
	}
	if (rc != IO_OK) return unavailable(s, rc, "waiting for the helper");
	if (strcmp(s->f[0], "RESULT") != 0 || s->nf != 4 ||
	    (code = lookup(outcomes, COUNT(outcomes), s->f[1])) < 0)
		return VIOLATION(s, "not CONV, nor RESULT <known outcome> <user> <reason>");
	/* After RESULT nothing more may come: only EOF, then a clean exit. */
	if (s->deadline > now_ms() + EXIT_MS) s->deadline = now_ms() + EXIT_MS;
	if ((rc = xfer(s, &extra, 1, 0)) != IO_EOF)
		return unavailable(s, rc ? rc : BAD(s, "data after RESULT"), "after RESULT");
	if (!reap(s, s->deadline)) return PAM_AUTHINFO_UNAVAIL;
	if (conv_failed) return PAM_CONV_ERR;
	/* Both the user we sent and PAM_USER now: the application may have replaced the item. */
	if (code == PAM_SUCCESS && (s->f[2][0] == '\0' || strcmp(s->f[2], user) != 0 ||
				    strcmp(s->f[2], item(s->pamh, PAM_USER)) != 0)) {
		ERR(s->pamh, "helper claimed success for a user other than PAM_USER");
		return PAM_AUTH_ERR;
	}
	return code == PAM_USER_UNKNOWN && s->ignore_unknown_user ? PAM_IGNORE : code;
}

static int parse_args(pam_handle_t *pamh, int argc, const char **argv, struct session *s)
{
	s->config = "/etc/cognito-auth/cognito-auth.conf";
	s->helper = "/usr/libexec/cognito-auth/cognito-auth-helper";
	for (int i = 0; i < argc; i++) {
		if (VALUE(argv[i], "config=")) s->config = VALUE(argv[i], "config=");
		else if (VALUE(argv[i], "helper=")) s->helper = VALUE(argv[i], "helper=");
		else if (strcmp(argv[i], "debug") == 0) s->debug = 1;
		else if (strcmp(argv[i], "ignore_unknown_user") == 0) s->ignore_unknown_user = 1;
		else return ERR(pamh, "unknown module argument: %s", argv[i]), PAM_SERVICE_ERR;
	}
	if (s->config[0] == '/') return PAM_SUCCESS;
	ERR(pamh, "config=%s is not an absolute path", s->config);     /* not the host's cwd */
	return PAM_SERVICE_ERR;
}

static void free_record(pam_handle_t *pamh, void *data, int error_status)
{
	(void)pamh, (void)error_status;
	if (data != refused) free(data);
}

/* Each authenticate replaces the record of the last. Out of memory, it says "refused". */
static void remember(pam_handle_t *pamh, int retval, const char *user)
{
	char *r = retval == PAM_IGNORE ? NULL : retval != PAM_SUCCESS ? refused : strdup(user);
	if (r == NULL && retval != PAM_IGNORE) r = refused;
	if (pam_set_data(pamh, DATA_KEY, r, free_record) != PAM_SUCCESS) free_record(pamh, r, 0);
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct session s = { .pamh = pamh, .pid = -1, .fd = -1 };
	struct sigaction dfl = { .sa_handler = SIG_DFL }, old_chld;
	int retval, chld_saved = 0, sv[2] = { -1, -1 };
	const char *user = NULL;
	char *user_copy = NULL;
	(void)flags;
	if ((retval = parse_args(pamh, argc, argv, &s)) != PAM_SUCCESS ||
	    (retval = check_helper(pamh, s.helper)) != PAM_SUCCESS)
		goto done;
	if ((retval = pam_get_user(pamh, &user, NULL)) != PAM_SUCCESS) {
		ERR(pamh, "cannot get the user name: %s", pam_strerror(pamh, retval));
		retval = retval == PAM_CONV_AGAIN ? PAM_INCOMPLETE : retval;
		goto done;
	}
	if (user == NULL || user[0] == '\0') {
		ERR(pamh, "empty user name");
		retval = s.ignore_unknown_user ? PAM_IGNORE : PAM_USER_UNKNOWN;
		goto done;
	}
	retval = PAM_AUTHINFO_UNAVAIL;
	/* As pam_exec: a host ignoring SIGCHLD, or reaping in a handler, would steal the status. */
	chld_saved = sigaction(SIGCHLD, &dfl, &old_chld) == 0;
	/* Our own copy of the user: the item could be replaced during the conversation. */
	if ((user_copy = strdup(user)) == NULL || (s.buf = malloc(MAX_FRAME)) == NULL ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 || (s.pid = fork()) < 0) {
		ERR(pamh, "cannot start the helper: %m");
		goto done;
	}
	if (s.pid == 0) exec_helper(sv[1], s.helper);
	(void)setpgid(s.pid, s.pid);    /* here too, so that no kill(-pid) comes before it */
	close(sv[1]);
	sv[1] = -1;
	s.fd = sv[0];
	retval = talk(&s, user_copy);
done:
	(void)reap(&s, 0);      /* a no-op once it exited and was reaped */
	if (chld_saved) (void)sigaction(SIGCHLD, &old_chld, NULL);
	if (sv[0] >= 0) close(sv[0]);
	if (sv[1] >= 0) close(sv[1]);
	wipe_free(s.buf, s.buf != NULL ? MAX_FRAME : 0);
	remember(pamh, retval, user_copy);
	wipe_free(user_copy, user_copy != NULL ? strlen(user_copy) : 0);
	DBG(&s, "authenticate returns %s", pam_strerror(pamh, retval));
	return retval;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh, (void)flags, (void)argc, (void)argv;
	return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	const char *r = NULL;
	struct session s = { .pamh = pamh };
	(void)flags;
	if (parse_args(pamh, argc, argv, &s) != PAM_SUCCESS) return PAM_SERVICE_ERR;
	if (pam_get_data(pamh, DATA_KEY, (const void **)&r) != PAM_SUCCESS || r == NULL) {
		/* publickey, GSSAPI…: sshd may hold libnss_cognito's provisional entry, never stored. */
		struct passwd pw, *e = NULL;
		char buf[16384];
		const char *user = item(pamh, PAM_USER);
		int rc = getpwnam_r(user, &pw, buf, sizeof(buf), &e);
		if (rc == 0 && e != NULL && (e->pw_gecos == NULL || strcmp(e->pw_gecos, COGNITO_PROVISIONAL_GECOS) != 0)) {
			DBG(&s, "this module did not authenticate this handle: ignored");
			return PAM_IGNORE;
		}
		/* A lookup error, no entry (sshd holds one NSS no longer answers) or a provisional one. */
		pam_syslog(pamh, LOG_AUTHPRIV | (rc != 0 ? LOG_ERR : LOG_NOTICE), "account refused for %s: %s", user,
			   rc != 0 ? strerror(rc) : e == NULL ? "no such account" : "only a provisional entry, not signed in here");
		return rc == 0 && e == NULL ? PAM_USER_UNKNOWN : PAM_PERM_DENIED;
	}
	if (r[0] != '\0' && strcmp(item(pamh, PAM_USER), r) == 0) return PAM_SUCCESS;
	pam_syslog(pamh, LOG_AUTHPRIV | LOG_NOTICE,
		   "account refused: sign-in through this module did not succeed for this user");
	return PAM_PERM_DENIED;
}

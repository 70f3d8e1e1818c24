/*
 * pam_cognito.so: a thin PAM module that starts `cognito-auth pam-helper`,
 * relays its conversation and maps its RESULT to a PAM code.
 *
 * The sign-in lives in the helper because a Swift runtime loaded into
 * sshd/sudo/login hangs after fork and crashes after dlclose (DESIGN.md §1).
 * Wire protocol: pam/PROTOCOL.md. Result table: DESIGN.md §3.
 *
 * The rule this file is built around: PAM_SUCCESS comes only from a
 * well-formed `RESULT outcome=allowed user=<PAM_USER>` followed by EOF and a
 * clean exit 0 of the helper. Every other path ends at `done:` with the
 * helper killed and reaped, the descriptors closed and the buffers wiped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT
#include <security/pam_modules.h>
#include <security/pam_ext.h>

#define DEFAULT_CONFIG "/etc/cognito-auth/cognito-auth.conf"
#define DEFAULT_HELPER "/usr/sbin/cognito-auth"
#define HELPER_FD 3
#define MAX_LINE 65536          /* bytes in one message, '\n' included */
#define MAX_TOKENS 8
#define MAX_CONV_MSGS 4
#define HELLO_MS 10000          /* from fork to HELLO */
#define GRACE_MS 5000           /* added to HELLO's timeout */
#define EXIT_MS 2000            /* from RESULT (or EOF) to the helper's exit */
#define DATA_KEY "pam_cognito_auth_result"

#define ERR(pamh, ...) pam_syslog((pamh), LOG_AUTHPRIV | LOG_ERR, __VA_ARGS__)
#define DBG(s, ...) do { if ((s)->opt->debug) \
	pam_syslog((s)->pamh, LOG_AUTHPRIV | LOG_DEBUG, __VA_ARGS__); } while (0)

struct options {
	const char *config, *helper;
	int debug, ignore_unknown_user;
};

struct session {
	pam_handle_t *pamh;
	const struct options *opt;
	pid_t pid;              /* > 0 until reaped */
	int fd;
	char *buf;              /* MAX_LINE bytes of helper output */
	size_t len;             /* bytes held in buf */
	size_t used;            /* bytes of buf taken by the line handed out last */
};

struct msg {
	const char *verb;
	struct { const char *key, *val; } tok[MAX_TOKENS];  /* val decoded, NUL-free */
	size_t ntok;
};

/* What pam_sm_acct_mgmt needs to know about this handle's authentication. */
struct auth_record {
	int retval;
	char user[];
};

/* IO_LATE: the deadline passed while the person was answering (not the helper's fault). */
enum { IO_OK, IO_TIMEOUT, IO_ERROR, IO_EOF, IO_TOOLONG, IO_LATE };

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *item(pam_handle_t *pamh, int type)
{
	const void *v = NULL;

	if (pam_get_item(pamh, type, &v) != PAM_SUCCESS || v == NULL)
		return "";
	return v;
}

static void wipe_free(char *s, size_t len)
{
	if (s != NULL) {
		explicit_bzero(s, len);
		free(s);
	}
}

/* ---- percent-encoding (PROTOCOL.md "Framing") ---- */

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '~';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static size_t enc_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += unreserved((unsigned char)*s) ? 1 : 3;
	return n;
}

static char *enc_put(char *d, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (unreserved(c)) {
			*d++ = (char)c;
		} else {
			*d++ = '%';
			*d++ = hex[c >> 4];
			*d++ = hex[c & 15];
		}
	}
	return d;
}

/* Names from the user or the helper are logged encoded, so a crafted name
 * cannot forge log lines or carry terminal escapes. */
static char *enc_dup(const char *s)
{
	char *d = malloc(enc_len(s) + 1);

	if (d != NULL)
		*enc_put(d, s) = '\0';
	return d;
}

/* "VERB k=v k=v\n" in one allocation of the exact size: an ANSWER holds
 * secrets, and realloc would leave copies of them that we could not wipe. */
static char *build_line(const char *verb, const char *const *keys, const char *const *vals,
			size_t n, size_t *len)
{
	size_t total = strlen(verb) + 1, i;
	char *line, *p;

	for (i = 0; i < n; i++)
		total += 2 + strlen(keys[i]) + enc_len(vals[i] ? vals[i] : "");
	if ((line = malloc(total + 1)) == NULL)
		return NULL;
	p = stpcpy(line, verb);
	for (i = 0; i < n; i++) {
		*p++ = ' ';
		p = stpcpy(p, keys[i]);
		*p++ = '=';
		p = enc_put(p, vals[i] ? vals[i] : "");
	}
	*p++ = '\n';
	*p = '\0';
	*len = total;
	return line;
}

/* Only the canonical encoding is accepted (hex case aside): a helper bug
 * then shows up as a refused login in tests, never as a line that two
 * readers could read two ways. Returns NULL, or what was wrong. */
static const char *parse_line(char *line, struct msg *m)
{
	char *p = line, *out, c;

	m->verb = line;
	m->ntok = 0;
	while (*p >= 'A' && *p <= 'Z')
		p++;
	if (p == line || (*p != ' ' && *p != '\0'))
		return "verb is not upper-case letters";
	c = *p;
	*p = '\0';
	while (c == ' ') {
		if (m->ntok == MAX_TOKENS)
			return "too many tokens";
		m->tok[m->ntok].key = ++p;
		while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')
			p++;
		if (p == m->tok[m->ntok].key || *p != '=')
			return "token is not key=value";
		*p++ = '\0';
		m->tok[m->ntok++].val = out = p;
		while (*p != ' ' && *p != '\0') {
			if (*p == '%') {
				int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
				if (lo < 0)
					return "bad percent escape";
				if (hi == 0 && lo == 0)
					return "NUL byte in a value";
				*out++ = (char)(hi * 16 + lo);
				p += 3;
			} else if (unreserved((unsigned char)*p)) {
				*out++ = *p++;
			} else {
				return "byte that must be percent-encoded";
			}
		}
		c = *p;         /* read before the value's end is written over it */
		*out = '\0';
	}
	return NULL;
}

static int keys_are(const struct msg *m, const char *const *keys, size_t n)
{
	size_t i;

	if (m->ntok != n)
		return 0;
	for (i = 0; i < n; i++)
		if (strcmp(m->tok[i].key, keys[i]) != 0)
			return 0;
	return 1;
}

/* ---- the helper process ---- */

static int check_helper(pam_handle_t *pamh, const char *path)
{
	const char *problem = NULL;
	struct stat st;

	if (path[0] != '/')
		problem = "is not an absolute path";
	else if (stat(path, &st) != 0) {
		ERR(pamh, "helper %s: %m", path);
		return PAM_SERVICE_ERR;
	} else if (!S_ISREG(st.st_mode))
		problem = "is not a regular file";
	else if (st.st_uid != 0)
		problem = "is not owned by root";
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		problem = "is group- or world-writable";
	if (problem == NULL)
		return PAM_SUCCESS;
	ERR(pamh, "helper %s: %s", path, problem);
	return PAM_SERVICE_ERR;
}

/* Runs in the forked child: async-signal-safe calls only, since the host
 * may have threads. Nothing of the host's state may reach the helper. */
static void exec_helper(int sock, const char *path, long maxfd)
{
	char *argv[] = { (char *)"cognito-auth", (char *)"pam-helper", NULL };
	char *envp[] = { (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;
	int null, fd, sig;

	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &dfl, NULL);   /* ignored signals survive exec */
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	(void)setpgid(0, 0);    /* so that kill(-pid) also reaches its children */

	if (sock == HELPER_FD) {
		if (fcntl(HELPER_FD, F_SETFD, 0) != 0)  /* dup2 onto itself keeps CLOEXEC */
			_exit(127);
	} else if (dup2(sock, HELPER_FD) != HELPER_FD) {
		_exit(127);
	}
	if ((null = open("/dev/null", O_RDWR)) < 0)
		_exit(127);
	for (fd = 0; fd <= 2; fd++)
		if (fd != null && dup2(null, fd) != fd)
			_exit(127);
	if (chdir("/") != 0)
		_exit(127);
	if (close_range(HELPER_FD + 1, ~0U, 0) != 0)   /* kernels before 5.9 */
		for (fd = HELPER_FD + 1; fd < maxfd; fd++)
			(void)close(fd);
	execve(path, argv, envp);
	_exit(127);
}

static void kill_helper(struct session *s)
{
	int st;

	if (s->pid <= 0)
		return;
	(void)kill(-s->pid, SIGKILL);
	(void)kill(s->pid, SIGKILL);
	while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
		;
	s->pid = -1;
}

/* Waits for the helper's exit until deadline, then kills it. Logs why it
 * did not exit cleanly. Returns 1 only for exit status 0. */
static int wait_exit(struct session *s, long long deadline)
{
	struct timespec pause = { 0, 1000000 };
	int st = 0;
	pid_t r;

	while ((r = waitpid(s->pid, &st, WNOHANG)) != s->pid) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ERR(s->pamh, "waitpid on helper: %m");
			s->pid = -1;
			return 0;
		}
		if (now_ms() >= deadline) {
			ERR(s->pamh, "helper did not exit in time; helper killed");
			kill_helper(s);
			return 0;
		}
		(void)nanosleep(&pause, NULL);
		if (pause.tv_nsec < 16000000)
			pause.tv_nsec *= 2;
	}
	s->pid = -1;
	if (WIFSIGNALED(st))
		ERR(s->pamh, "helper killed by signal %d", WTERMSIG(st));
	else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		ERR(s->pamh, "helper exited with status %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	else
		return 1;
	return 0;
}

/* ---- I/O on the socket, always bounded by a deadline ---- */

static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		long long left = deadline - now_ms();
		struct pollfd p = { .fd = fd, .events = events };
		int rc;

		if (left <= 0)
			return IO_TIMEOUT;
		rc = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (rc > 0)
			return IO_OK;       /* ready, or HUP/ERR that recv/send will report */
		if (rc < 0 && errno != EINTR)
			return IO_ERROR;
	}
}

static int send_all(struct session *s, const char *p, size_t len, long long deadline)
{
	while (len > 0) {
		/* MSG_NOSIGNAL: a dead helper must never SIGPIPE the host. */
		ssize_t n = send(s->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		int rc;

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((rc = wait_fd(s->fd, POLLOUT, deadline)) != IO_OK)
				return rc;
		} else if (n == 0 || errno != EINTR) {
			return IO_ERROR;
		}
	}
	return IO_OK;
}

/* Hands out the next line, '\n' replaced by NUL, valid until the next call. */
static int read_line(struct session *s, long long deadline, char **line, size_t *len)
{
	char *nl;
	ssize_t n;
	int rc;

	memmove(s->buf, s->buf + s->used, s->len - s->used);
	s->len -= s->used;
	s->used = 0;
	while ((nl = memchr(s->buf, '\n', s->len)) == NULL) {
		if (s->len == MAX_LINE)
			return IO_TOOLONG;
		if ((rc = wait_fd(s->fd, POLLIN, deadline)) != IO_OK)
			return rc;
		n = recv(s->fd, s->buf + s->len, MAX_LINE - s->len, MSG_DONTWAIT);
		/* A helper that exits with START unread resets the connection. */
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return IO_EOF;
		if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return IO_ERROR;
		if (n > 0)
			s->len += (size_t)n;
	}
	*nl = '\0';
	*line = s->buf;
	*len = (size_t)(nl - s->buf);
	s->used = *len + 1;
	return IO_OK;
}

/* After RESULT nothing more may come: only EOF, then a clean exit. */
static int expect_eof(struct session *s, long long deadline)
{
	char scratch[256];
	ssize_t n;
	int rc;

	while (s->len == s->used) {
		if ((rc = wait_fd(s->fd, POLLIN, deadline)) == IO_TIMEOUT) {
			ERR(s->pamh, "helper kept fd 3 open after RESULT; helper killed");
			return 0;
		}
		n = rc == IO_OK ? recv(s->fd, scratch, sizeof(scratch), MSG_DONTWAIT) : -1;
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 1;
		if (n > 0)
			break;
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
			ERR(s->pamh, "reading from helper: %m");
			return 0;
		}
	}
	ERR(s->pamh, "protocol violation: data after RESULT; helper killed");
	return 0;
}

static int violation(struct session *s, const char *what)
{
	ERR(s->pamh, "protocol violation: %s; helper killed", what);
	return PAM_AUTHINFO_UNAVAIL;
}

static int io_failure(struct session *s, int rc, const char *when)
{
	if (rc == IO_TOOLONG)
		return violation(s, "line longer than 65536 bytes");
	if (rc == IO_EOF && s->len > 0)
		return violation(s, "last line has no newline");
	if (rc == IO_TIMEOUT) {
		ERR(s->pamh, "deadline passed %s; helper killed", when);
		return PAM_AUTHINFO_UNAVAIL;
	}
	if (rc == IO_EOF)
		ERR(s->pamh, "helper closed fd 3 without RESULT");
	else
		ERR(s->pamh, "talking to helper %s: %m", when);
	(void)wait_exit(s, now_ms() + EXIT_MS);     /* logs its exit status */
	return PAM_AUTHINFO_UNAVAIL;
}

/* ---- one round of conversation ---- */

static int style_of(const char *key)
{
	if (strcmp(key, "info") == 0)
		return PAM_TEXT_INFO;
	if (strcmp(key, "error") == 0)
		return PAM_ERROR_MSG;
	if (strcmp(key, "prompt_echo_on") == 0)
		return PAM_PROMPT_ECHO_ON;
	if (strcmp(key, "prompt_echo_off") == 0)
		return PAM_PROMPT_ECHO_OFF;
	return -1;
}

/* One call to the application's conversation function with every message of
 * the CONV (OpenSSH shows info text only together with a prompt, bug 2876),
 * then ANSWER or CONVFAIL. Responses are secrets: wiped before freeing. */
static int converse(struct session *s, const struct msg *m, long long deadline, int *conv_failed)
{
	struct pam_message msgs[MAX_CONV_MSGS];
	const struct pam_message *pmsgs[MAX_CONV_MSGS];
	const char *keys[MAX_CONV_MSGS], *vals[MAX_CONV_MSGS];
	struct pam_response *resp = NULL;
	const struct pam_conv *conv = NULL;
	char *line = NULL;
	size_t i, n = 0, len = 0;
	int rc;

	for (i = 0; i < m->ntok; i++) {
		msgs[i].msg_style = style_of(m->tok[i].key);
		msgs[i].msg = m->tok[i].val;
		pmsgs[i] = &msgs[i];
	}
	DBG(s, "conversation with %zu message(s)", m->ntok);
	rc = pam_get_item(s->pamh, PAM_CONV, (const void **)&conv);
	if (rc == PAM_SUCCESS && conv != NULL && conv->conv != NULL)
		rc = conv->conv((int)m->ntok, pmsgs, &resp, conv->appdata_ptr);
	else
		rc = PAM_CONV_ERR;
	if (rc != PAM_SUCCESS)
		ERR(s->pamh, "conversation failed: %s", pam_strerror(s->pamh, rc));
	for (i = 0; rc == PAM_SUCCESS && i < m->ntok; i++) {
		if (msgs[i].msg_style == PAM_PROMPT_ECHO_ON || msgs[i].msg_style == PAM_PROMPT_ECHO_OFF) {
			keys[n] = "r";
			vals[n++] = resp != NULL ? resp[i].resp : NULL;
		}
	}
	if (rc == PAM_SUCCESS && ((line = build_line("ANSWER", keys, vals, n, &len)) == NULL ||
				  len > MAX_LINE)) {
		ERR(s->pamh, "answer does not fit in one message; sending CONVFAIL");
		wipe_free(line, len);
		line = NULL;
		rc = PAM_CONV_ERR;
	}
	if (resp != NULL) {
		for (i = 0; i < m->ntok; i++)
			if (resp[i].resp != NULL)
				wipe_free(resp[i].resp, strlen(resp[i].resp));
		free(resp);
	}
	if (now_ms() >= deadline) {
		ERR(s->pamh, "no answer before the sign-in deadline; helper killed");
		wipe_free(line, len);
		return IO_LATE;
	}
	if (rc != PAM_SUCCESS) {
		*conv_failed = 1;
		return send_all(s, "CONVFAIL\n", 9, deadline);
	}
	rc = send_all(s, line, len, deadline);
	DBG(s, "sent ANSWER with %zu response(s)", n);
	wipe_free(line, len);
	return rc;
}

/* ---- the exchange (PROTOCOL.md "Messages, in order") ---- */

static const struct {
	const char *name;
	int code;
} outcomes[] = {
	{ "allowed", PAM_SUCCESS },
	{ "denied", PAM_AUTH_ERR },
	{ "policy_denied", PAM_AUTH_ERR },
	{ "timeout", PAM_AUTH_ERR },
	{ "unknown_user", PAM_USER_UNKNOWN },
	{ "unavailable", PAM_AUTHINFO_UNAVAIL },
	{ "config_error", PAM_SERVICE_ERR },
	{ "conv_error", PAM_CONV_ERR },
};

static int finish(struct session *s, const struct msg *m, long long deadline, const char *user,
		  int conv_failed)
{
	static const char *const result_keys[] = { "outcome", "user", "reason" };
	long long exit_by = now_ms() + EXIT_MS;
	const char *who;
	char *e_who, *e_user;
	int code = -1;
	size_t i;

	if (!keys_are(m, result_keys, 3))
		return violation(s, "RESULT needs exactly outcome, user, reason");
	who = m->tok[1].val;
	for (i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
		if (strcmp(m->tok[0].val, outcomes[i].name) == 0)
			code = outcomes[i].code;
	if (code < 0)
		return violation(s, "unknown RESULT outcome");
	if (s->opt->debug) {
		e_who = enc_dup(who);
		e_user = enc_dup(m->tok[2].val);
		DBG(s, "RESULT outcome=%s user=%s reason=%s", m->tok[0].val,
		    e_who ? e_who : "?", e_user ? e_user : "?");
		free(e_who);
		free(e_user);
	}
	if (exit_by > deadline)
		exit_by = deadline;
	if (!expect_eof(s, exit_by) || !wait_exit(s, exit_by))
		return PAM_AUTHINFO_UNAVAIL;
	if (conv_failed)
		return PAM_CONV_ERR;
	/* Compared with the user we sent and with PAM_USER as it is now, in case
	 * the application replaced the item during the conversation. */
	if (code == PAM_SUCCESS && (who[0] == '\0' || strcmp(who, user) != 0 ||
				    strcmp(who, item(s->pamh, PAM_USER)) != 0)) {
		e_who = enc_dup(who);
		e_user = enc_dup(user);
		ERR(s->pamh, "helper claimed success for a different user (%s, PAM_USER is %s)",
		    e_who ? e_who : "?", e_user ? e_user : "?");
		free(e_who);
		free(e_user);
		return PAM_AUTH_ERR;
	}
	if (code == PAM_USER_UNKNOWN && s->opt->ignore_unknown_user)
		return PAM_IGNORE;
	return code;
}

static int talk(struct session *s, const char *start, size_t start_len, const char *user)
{
	static const char *const hello_keys[] = { "v", "timeout" };
	long long deadline = now_ms() + HELLO_MS;
	int said_hello = 0, conv_failed = 0, rc;
	const char *bad, *t;
	struct msg m;
	char *line;
	size_t len, i;
	long secs;

	if ((rc = send_all(s, start, start_len, deadline)) != IO_OK)
		return io_failure(s, rc, "sending START");
	for (;;) {
		rc = read_line(s, deadline, &line, &len);
		if (rc != IO_OK)
			return io_failure(s, rc, said_hello ? "waiting for the helper" :
					  "waiting for HELLO");
		if (strlen(line) != len)
			return violation(s, "NUL byte in a line");
		if ((bad = parse_line(line, &m)) != NULL)
			return violation(s, bad);

		if (strcmp(m.verb, "RESULT") == 0)
			return finish(s, &m, deadline, user, conv_failed);
		if (strcmp(m.verb, "HELLO") == 0) {
			if (said_hello)
				return violation(s, "second HELLO");
			if (!keys_are(&m, hello_keys, 2) || strcmp(m.tok[0].val, "1") != 0)
				return violation(s, "HELLO is not v=1 timeout=N");
			for (secs = 0, t = m.tok[1].val; *t >= '0' && *t <= '9' && secs <= 3600; t++)
				secs = secs * 10 + (*t - '0');
			if (*t != '\0' || secs < 1 || secs > 3600)
				return violation(s, "HELLO timeout is not 1..3600");
			said_hello = 1;
			deadline = now_ms() + secs * 1000 + GRACE_MS;
			DBG(s, "HELLO timeout=%ld", secs);
		} else if (strcmp(m.verb, "CONV") == 0) {
			if (!said_hello)
				return violation(s, "CONV before HELLO");
			if (m.ntok < 1 || m.ntok > MAX_CONV_MSGS)
				return violation(s, "CONV needs 1 to 4 messages");
			for (i = 0; i < m.ntok; i++)
				if (style_of(m.tok[i].key) < 0)
					return violation(s, "unknown CONV message style");
			rc = converse(s, &m, deadline, &conv_failed);
			/* A person too slow to sign in is refused, not "IdP unavailable":
			 * a stack with [authinfo_unavail=ignore] must not fall through. */
			if (rc == IO_LATE)
				return PAM_AUTH_ERR;
			if (rc == IO_TIMEOUT)
				return PAM_AUTHINFO_UNAVAIL;    /* logged by send */
			/* The helper may have given up (its own login_timeout) and closed
			 * its end while the person was answering: what it wrote before
			 * that, its refusal and RESULT, is still queued. Read on; without
			 * a RESULT the read fails closed. */
			if (rc != IO_OK)
				DBG(s, "ANSWER not delivered; reading what the helper sent");
		} else {
			return violation(s, "unknown verb");
		}
	}
}

/* ---- arguments and the record for acct_mgmt ---- */

static int parse_args(pam_handle_t *pamh, int argc, const char **argv, struct options *o)
{
	int i;

	o->config = DEFAULT_CONFIG;
	o->helper = DEFAULT_HELPER;
	o->debug = o->ignore_unknown_user = 0;
	for (i = 0; i < argc; i++) {
		if (strncmp(argv[i], "config=", 7) == 0)
			o->config = argv[i] + 7;
		else if (strncmp(argv[i], "helper=", 7) == 0)
			o->helper = argv[i] + 7;
		else if (strcmp(argv[i], "debug") == 0)
			o->debug = 1;
		else if (strcmp(argv[i], "ignore_unknown_user") == 0)
			o->ignore_unknown_user = 1;
		else {
			ERR(pamh, "unknown module argument: %s", argv[i]);
			return PAM_SERVICE_ERR;
		}
	}
	/* The host's working directory is no place to look for a config. */
	if (o->config[0] != '/') {
		ERR(pamh, "config=%s is not an absolute path", o->config);
		return PAM_SERVICE_ERR;
	}
	return PAM_SUCCESS;
}

static void free_record(pam_handle_t *pamh, void *data, int error_status)
{
	(void)pamh;
	(void)error_status;
	free(data);
}

static void remember(pam_handle_t *pamh, int retval, const char *user)
{
	size_t n = user != NULL ? strlen(user) : 0;
	struct auth_record *r = malloc(sizeof(*r) + n + 1);

	if (r != NULL) {
		r->retval = retval;
		memcpy(r->user, n ? user : "", n + 1);
	}
	/* With r == NULL this still replaces a stale record: acct_mgmt then
	 * refuses, as it must for an attempt it knows nothing about. */
	if (pam_set_data(pamh, DATA_KEY, r, r != NULL ? free_record : NULL) != PAM_SUCCESS)
		free(r);
}

/* ---- the PAM entry points ---- */

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	int retval = PAM_AUTHINFO_UNAVAIL;
	struct options opt;
	struct session s = { .pamh = pamh, .opt = &opt, .pid = -1, .fd = -1 };
	struct sigaction dfl = { .sa_handler = SIG_DFL }, old_chld;
	int chld_saved = 0, sv[2] = { -1, -1 };
	const char *user = NULL;
	char *user_copy = NULL, *start = NULL, *e_user;
	size_t start_len = 0;
	long maxfd;

	(void)flags;
	if ((retval = parse_args(pamh, argc, argv, &opt)) != PAM_SUCCESS)
		goto done;
	if ((retval = check_helper(pamh, opt.helper)) != PAM_SUCCESS)
		goto done;
	if ((retval = pam_get_user(pamh, &user, NULL)) != PAM_SUCCESS) {
		ERR(pamh, "cannot get the user name: %s", pam_strerror(pamh, retval));
		if (retval == PAM_CONV_AGAIN)
			retval = PAM_INCOMPLETE;
		goto done;
	}
	if (user == NULL || user[0] == '\0') {
		ERR(pamh, "empty user name");
		retval = opt.ignore_unknown_user ? PAM_IGNORE : PAM_USER_UNKNOWN;
		goto done;
	}
	retval = PAM_AUTHINFO_UNAVAIL;
	/* Our own copy: the item could be replaced while the conversation runs. */
	user_copy = strdup(user);
	s.buf = malloc(MAX_LINE);
	if (user_copy == NULL || s.buf == NULL) {
		ERR(pamh, "out of memory");
		goto done;
	}
	{
		const char *keys[] = { "v", "user", "service", "rhost", "ruser", "tty", "config",
				       "debug" };
		const char *vals[] = { "1", user_copy, item(pamh, PAM_SERVICE), item(pamh, PAM_RHOST),
				       item(pamh, PAM_RUSER), item(pamh, PAM_TTY), opt.config,
				       opt.debug ? "1" : "0" };
		start = build_line("START", keys, vals, 8, &start_len);
	}
	if (start == NULL || start_len > MAX_LINE) {
		ERR(pamh, "START does not fit in one message");
		goto done;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		ERR(pamh, "socketpair: %m");
		goto done;
	}
	if ((maxfd = sysconf(_SC_OPEN_MAX)) < 0)
		maxfd = 65536;
	/* As pam_exec does: a host that ignores SIGCHLD, or reaps every child
	 * in a handler, would take the helper's exit status from us. */
	if (sigaction(SIGCHLD, &dfl, &old_chld) == 0)
		chld_saved = 1;
	if (opt.debug) {
		e_user = enc_dup(user_copy);
		DBG(&s, "starting %s for user %s", opt.helper, e_user ? e_user : "?");
		free(e_user);
	}
	if ((s.pid = fork()) < 0) {
		ERR(pamh, "fork: %m");
		goto done;
	}
	if (s.pid == 0)
		exec_helper(sv[1], opt.helper, maxfd);
	close(sv[1]);
	sv[1] = -1;
	s.fd = sv[0];
	sv[0] = -1;

	retval = talk(&s, start, start_len, user_copy);

done:
	kill_helper(&s);        /* a no-op once it exited and was reaped */
	if (chld_saved)
		(void)sigaction(SIGCHLD, &old_chld, NULL);
	if (s.fd >= 0)
		close(s.fd);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (s.buf != NULL)
		wipe_free(s.buf, MAX_LINE);
	wipe_free(start, start_len);
	remember(pamh, retval, user_copy);
	if (user_copy != NULL)
		wipe_free(user_copy, strlen(user_copy));
	DBG(&s, "authenticate returns %s", pam_strerror(pamh, retval));
	return retval;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	const struct auth_record *r = NULL;
	struct options opt;

	(void)flags;
	if (parse_args(pamh, argc, argv, &opt) != PAM_SUCCESS)
		return PAM_SERVICE_ERR;
	if (pam_get_data(pamh, DATA_KEY, (const void **)&r) != PAM_SUCCESS ||
	    (r != NULL && r->retval == PAM_IGNORE)) {
		if (opt.debug)
			pam_syslog(pamh, LOG_AUTHPRIV | LOG_DEBUG,
				   "this module did not authenticate this handle: ignored");
		return PAM_IGNORE;
	}
	if (r != NULL && r->retval == PAM_SUCCESS && strcmp(item(pamh, PAM_USER), r->user) == 0)
		return PAM_SUCCESS;
	pam_syslog(pamh, LOG_AUTHPRIV | LOG_NOTICE,
		   "account refused: sign-in through this module did not succeed for this user");
	return PAM_PERM_DENIED;
}

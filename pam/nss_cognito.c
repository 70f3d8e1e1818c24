/*
 * libnss_cognito.so.2: passwd and group entries of accounts that cognito-auth provisioned on
 * first sign-in (docs/ARCHITECTURE.md §12). libc only: no network, no allocation that outlives
 * a call except the getpwent/getgrent snapshot, which endpwent/endgrent free.
 *
 * The store is two passwd(5)/group(5) files in COGNITO_STORE_DIR that the helper replaces by
 * rename(2). Every call reads the whole file afresh through a descriptor (O_NOFOLLOW, checked:
 * a regular file owned by root, not writable by group or others, at most MAX_FILE bytes, exactly
 * the size fstat reported, ending in a newline) and parses all of it before answering: one bad
 * line and the store answers nothing (NSS_STATUS_UNAVAIL). Nothing is shared between threads
 * except the enumeration snapshot, and that only under a mutex (libnss-extrausers shared one
 * FILE* position between threads; Debian had to patch it).
 *
 * A name not yet in the store is answered with the entry it will get (same computation as
 * Sources/CognitoAuthCore/Identity/Provisioning.swift) only to root callers whose executable is in
 * provision_callers (default sshd, sshd-session, sshd-auth), only with provision = on_first_login, and only for a valid
 * login name the mapping could produce: sshd looks the name up before authentication and keeps
 * that entry for the session. Nobody else sees phantom users.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "provisional.h"

#ifndef COGNITO_STORE_DIR
#define COGNITO_STORE_DIR "/var/lib/cognito-auth/accounts"
#endif
#ifndef COGNITO_CONFIG_DIR
#define COGNITO_CONFIG_DIR "/etc/cognito-auth"
#endif
#define COGNITO_CONFIG_NAME "cognito-auth.conf"
/* The helper reads these from this file (NSSModulePaths.swift) and refuses a state_dir or config
 * other than the ones compiled in here: sshd must be told the entries the helper writes. */
__attribute__((used)) static const char compiled_paths[] =
	"COGNITO_STORE_DIR=" COGNITO_STORE_DIR "\0COGNITO_CONFIG=" COGNITO_CONFIG_DIR "/" COGNITO_CONFIG_NAME;
#define MAX_FILE (4u << 20)
#define VAL_MAX 256

struct file { char *data; size_t len; };

/* A field of a line: pointer into the file and length (not NUL-terminated). */
struct span { const char *p; size_t n; };

/* 0: read; 1: no such file (or directory): an empty store; -1: unsafe, unreadable or too big. */
static int read_trusted(const char *dir, const char *name, struct file *out)
{
	struct stat st;
	int dfd, fd, rc = -1;
	size_t got = 0;

	out->data = NULL;
	out->len = 0;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 1 : -1;
	if (fstat(dfd, &st) != 0 || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		close(dfd);
		return -1;
	}
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	close(dfd);
	if (fd < 0)
		return errno == ENOENT ? 1 : -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) || st.st_size < 0 || (uintmax_t)st.st_size > MAX_FILE)
		goto done;
	out->data = malloc((size_t)st.st_size + 2);
	if (out->data == NULL)
		goto done;
	/* One byte more than fstat said: a file that changes while being read is refused. */
	while (got < (size_t)st.st_size + 1) {
		ssize_t n = read(fd, out->data + got, (size_t)st.st_size + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got == (size_t)st.st_size && (got == 0 || out->data[got - 1] == '\n') &&
	    memchr(out->data, '\0', got) == NULL) {
		out->data[got] = '\0';
		out->len = got;
		rc = 0;
	}
done:
	close(fd);
	if (rc != 0) {
		free(out->data);
		out->data = NULL;
	}
	return rc;
}

/* Next line of f at *off (without its newline); 0 at the end. */
static int next_line(const struct file *f, size_t *off, struct span *line)
{
	const char *nl;

	if (f->data == NULL || *off >= f->len)
		return 0;
	line->p = f->data + *off;
	nl = memchr(line->p, '\n', f->len - *off);
	line->n = (size_t)(nl - line->p);
	*off += line->n + 1;
	return 1;
}

/* Splits a line at ':' into exactly n fields. */
static int split(struct span line, struct span *fields, int n)
{
	int i = 0;
	const char *p = line.p, *end = line.p + line.n;

	for (;;) {
		const char *c = memchr(p, ':', (size_t)(end - p));
		if (i == n)
			return 0;
		fields[i].p = p;
		fields[i].n = (size_t)((c ? c : end) - p);
		i++;
		if (c == NULL)
			return i == n;
		p = c + 1;
	}
}

static int span_is(struct span s, const char *str)
{
	return strlen(str) == s.n && memcmp(s.p, str, s.n) == 0;
}

/* The same rule as Syntax.isLoginName: [a-z_][a-z0-9_.-]{0,31}. */
static int valid_name(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || n > 32 || !((p[0] >= 'a' && p[0] <= 'z') || p[0] == '_'))
		return 0;
	for (i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

static int parse_id(struct span s, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s.n == 0 || s.n > 10)
		return 0;
	for (i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(s.p[i] - '0');
	}
	if (v >= UINT32_MAX)
		return 0;
	*out = (uint32_t)v;
	return 1;
}

static int printable(struct span s)
{
	size_t i;

	for (i = 0; i < s.n; i++)
		if ((unsigned char)s.p[i] < 0x20 || (unsigned char)s.p[i] == 0x7f)
			return 0;
	return 1;
}

/* A store passwd line: name:*:uid:gid:gecos:/home:/shell. */
static int parse_pw(struct span line, struct span f[7], uint32_t *uid, uint32_t *gid)
{
	return split(line, f, 7) && valid_name(f[0].p, f[0].n) && printable(f[1]) && printable(f[4]) &&
	       !span_is(f[4], COGNITO_PROVISIONAL_GECOS) &&
	       parse_id(f[2], uid) && parse_id(f[3], gid) && f[5].n > 0 && f[5].p[0] == '/' &&
	       printable(f[5]) && f[6].n > 0 && f[6].p[0] == '/' && printable(f[6]);
}

/* A store group line: name:*:gid:member,member. */
static int parse_gr(struct span line, struct span f[4], uint32_t *gid)
{
	const char *p, *end;

	if (!split(line, f, 4) || !valid_name(f[0].p, f[0].n) || !printable(f[1]) || !parse_id(f[2], gid))
		return 0;
	for (p = f[3].p, end = f[3].p + f[3].n; f[3].n > 0;) {
		const char *c = memchr(p, ',', (size_t)(end - p));
		if (!valid_name(p, (size_t)((c ? c : end) - p)))
			return 0;
		if (c == NULL)
			break;
		p = c + 1;
	}
	return 1;
}

/* Reads a store file and checks every line. 0: ok (possibly empty); -1: unsafe or corrupt. */
static int load_store(const char *name, int is_group, struct file *f)
{
	struct span line, fields[7];
	size_t off = 0;
	uint32_t a, b;
	int rc = read_trusted(COGNITO_STORE_DIR, name, f);

	if (rc == 1)
		return 0;
	if (rc != 0)
		return -1;
	while (next_line(f, &off, &line)) {
		if (is_group ? !parse_gr(line, fields, &a) : !parse_pw(line, fields, &a, &b)) {
			free(f->data);
			f->data = NULL;
			return -1;
		}
	}
	return 0;
}

/* Copies a span into the caller's buffer as a C string. */
static char *pack(struct span s, char **buf, size_t *left)
{
	char *out = *buf;

	if (*left < s.n + 1)
		return NULL;
	memcpy(out, s.p, s.n);
	out[s.n] = '\0';
	*buf += s.n + 1;
	*left -= s.n + 1;
	return out;
}

static enum nss_status fill_pw(struct span f[7], uint32_t uid, uint32_t gid, struct passwd *pw,
			       char *buf, size_t len, int *errnop)
{
	if (!(pw->pw_name = pack(f[0], &buf, &len)) || !(pw->pw_passwd = pack(f[1], &buf, &len)) ||
	    !(pw->pw_gecos = pack(f[4], &buf, &len)) || !(pw->pw_dir = pack(f[5], &buf, &len)) ||
	    !(pw->pw_shell = pack(f[6], &buf, &len))) {
		*errnop = ERANGE;
		return NSS_STATUS_TRYAGAIN;
	}
	pw->pw_uid = uid;
	pw->pw_gid = gid;
	return NSS_STATUS_SUCCESS;
}

static enum nss_status fill_gr(struct span f[4], uint32_t gid, struct group *gr, char *buf, size_t len,
			       int *errnop)
{
	size_t members = 0, i, k = 0;
	uintptr_t align;
	char **mem;
	const char *p, *end = f[3].p + f[3].n;

	if (!(gr->gr_name = pack(f[0], &buf, &len)) || !(gr->gr_passwd = pack(f[1], &buf, &len)))
		goto erange;
	for (i = 0; i < f[3].n; i++)
		members += f[3].p[i] == ',';
	members += f[3].n > 0;
	align = (sizeof(char *) - ((uintptr_t)buf % sizeof(char *))) % sizeof(char *);
	if (len < align + (members + 1) * sizeof(char *))
		goto erange;
	mem = (char **)(void *)(buf + align);
	buf += align + (members + 1) * sizeof(char *);
	len -= align + (members + 1) * sizeof(char *);
	for (p = f[3].p; k < members; k++) {
		const char *c = memchr(p, ',', (size_t)(end - p));
		struct span m = { p, (size_t)((c ? c : end) - p) };
		if (!(mem[k] = pack(m, &buf, &len)))
			goto erange;
		p = c ? c + 1 : end;
	}
	mem[members] = NULL;
	gr->gr_mem = mem;
	gr->gr_gid = gid;
	return NSS_STATUS_SUCCESS;
erange:
	*errnop = ERANGE;
	return NSS_STATUS_TRYAGAIN;
}

/* ---------------------------------------------------------------- provisional answers for sshd */

struct settings {
	int on;
	uint32_t lo, hi, min_uid;
	char group[VAL_MAX], shell[VAL_MAX], callers[VAL_MAX], map_file[VAL_MAX];
};

static void trim(char **s, char **e)
{
	while (*s < *e && (**s == ' ' || **s == '\t'))
		(*s)++;
	while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r'))
		(*e)--;
}

static int copy_val(char *dst, const char *s, const char *e)
{
	if ((size_t)(e - s) >= VAL_MAX)
		return 0;
	memcpy(dst, s, (size_t)(e - s));
	dst[e - s] = '\0';
	return 1;
}

static int parse_u32(const char *s, const char *e, uint32_t *out)
{
	struct span sp = { s, (size_t)(e - s) };
	return parse_id(sp, out);
}

/* The host config's provisioning keys (top level only). 0: provisioning on and well-formed. */
static int read_settings(struct settings *st)
{
	struct file f;
	struct span line;
	size_t off = 0;
	int bad = 0;

	memset(st, 0, sizeof(*st));
	st->lo = 200000;
	st->hi = 299999;
	st->min_uid = 1000;
	strcpy(st->group, "cognito");
	strcpy(st->shell, "/bin/bash");
	strcpy(st->callers, "sshd, sshd-session, sshd-auth");   /* OpenSSH >= 9.8 looks names up in sshd-session */
	if (read_trusted(COGNITO_CONFIG_DIR, COGNITO_CONFIG_NAME, &f) != 0)
		return -1;
	while (!bad && next_line(&f, &off, &line)) {
		char *s = (char *)line.p, *e = s + line.n, *eq, *ks, *ke;
		trim(&s, &e);
		if (s == e || *s == '#')
			continue;
		if (*s == '[')
			break;
		eq = memchr(s, '=', (size_t)(e - s));
		if (eq == NULL)
			continue;
		ks = s; ke = eq; s = eq + 1;
		trim(&ks, &ke);
		trim(&s, &e);
		struct span key = { ks, (size_t)(ke - ks) };
		if (span_is(key, "provision"))
			st->on = (size_t)(e - s) == 14 && memcmp(s, "on_first_login", 14) == 0;
		else if (span_is(key, "provision_uid_range")) {
			char *dash = memchr(s, '-', (size_t)(e - s));
			bad = dash == NULL || !parse_u32(s, dash, &st->lo) || !parse_u32(dash + 1, e, &st->hi);
		} else if (span_is(key, "provision_group"))
			bad = !copy_val(st->group, s, e);
		else if (span_is(key, "provision_shell"))
			bad = !copy_val(st->shell, s, e);
		else if (span_is(key, "provision_callers"))
			bad = !copy_val(st->callers, s, e);
		else if (span_is(key, "min_uid"))
			bad = !parse_u32(s, e, &st->min_uid);
		else if (span_is(key, "account_map") && (size_t)(e - s) > 5 && memcmp(s, "file:", 5) == 0)
			bad = !copy_val(st->map_file, s + 5, e);
	}
	free(f.data);
	if (bad || !st->on || st->lo > st->hi || st->lo == 0 || st->lo < st->min_uid ||
	    !valid_name(st->group, strlen(st->group)) || st->shell[0] != '/')
		return -1;
	return 0;
}

/* Is the calling program's executable (basename) in the comma-separated list? */
static int caller_listed(const char *list)
{
	char exe[PATH_MAX];
	const char *base, *p = list;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return 0;
	exe[n] = '\0';
	base = strrchr(exe, '/');
	base = base ? base + 1 : exe;
	while (*p) {
		const char *c = strchr(p, ','), *s = p, *e = c ? c : p + strlen(p);
		while (s < e && *s == ' ')
			s++;
		while (e > s && e[-1] == ' ')
			e--;
		if ((size_t)(e - s) == strlen(base) && memcmp(s, base, (size_t)(e - s)) == 0)
			return 1;
		if (c == NULL)
			break;
		p = c + 1;
	}
	return 0;
}

/* With account_map = file:PATH only the names the map lists can be produced. */
static int map_lists(const char *path, const char *name)
{
	char dir[VAL_MAX];
	const char *slash = strrchr(path, '/');
	struct file f;
	struct span line;
	size_t off = 0;
	int found = 0;

	if (slash == NULL || path[0] != '/')
		return 0;
	if (slash == path) {
		strcpy(dir, "/");
	} else {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	}
	if (read_trusted(dir, slash + 1, &f) != 0)
		return 0;
	while (!found && next_line(&f, &off, &line)) {
		const char *e = line.p + line.n, *s = e;
		while (s > line.p && s[-1] != ' ' && s[-1] != '\t')
			s--;
		while (e > s && e[-1] == '\r')
			e--;
		found = s > line.p && line.p[0] != '#' && (size_t)(e - s) == strlen(name) && memcmp(s, name, strlen(name)) == 0;
	}
	free(f.data);
	return found;
}

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static int cmp_id(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return (a > b) - (a < b);
}

/* The ids (third field) in [lo, hi] of the lines of a and b (host file read leniently, store
 * strictly), sorted into *ids (the caller frees it): one scan per lookup, not one per candidate. */
static int collect_ids(const struct file *a, const struct file *b, uint32_t lo, uint32_t hi, uint32_t **ids,
		       size_t *n)
{
	const struct file *files[2] = { a, b };
	struct span line, f;
	size_t lines = 0, i, off;

	*n = 0;
	for (i = 0; i < 2; i++)
		for (off = 0; files[i] && next_line(files[i], &off, &line);)
			lines++;
	if ((*ids = malloc((lines + 1) * sizeof(uint32_t))) == NULL)
		return 0;
	for (i = 0; i < 2; i++) {
		for (off = 0; files[i] && next_line(files[i], &off, &line);) {
			const char *c1 = memchr(line.p, ':', line.n), *c2, *c3;
			uint32_t v;
			if (!c1 || !(c2 = memchr(c1 + 1, ':', line.n - (size_t)(c1 + 1 - line.p))))
				continue;
			c3 = memchr(c2 + 1, ':', line.n - (size_t)(c2 + 1 - line.p));
			f.p = c2 + 1;
			f.n = (size_t)((c3 ? c3 : line.p + line.n) - f.p);
			if (parse_id(f, &v) && v >= lo && v <= hi)
				(*ids)[(*n)++] = v;
		}
	}
	qsort(*ids, *n, sizeof(uint32_t), cmp_id);
	return 1;
}

/* The first free id from hash(name) in [lo, hi], probing upwards and wrapping; of n taken ids in
 * the range, n + 1 candidates hold a free one if there is any. */
static int probe(const char *name, uint32_t lo, uint32_t hi, const struct file *a, const struct file *b,
		 uint32_t *out)
{
	uint64_t size = (uint64_t)hi - lo + 1, start = fnv1a(name) % size, i;
	uint32_t *ids;
	size_t n;
	int found = 0;

	if (!collect_ids(a, b, lo, hi, &ids, &n))
		return 0;
	for (i = 0; i < size && i <= n && !found; i++) {
		uint32_t cand = (uint32_t)(lo + (start + i) % size);
		if (bsearch(&cand, ids, n, sizeof(uint32_t), cmp_id) == NULL) {
			*out = cand;
			found = 1;
		}
	}
	free(ids);
	return found;
}

/* gid of a named group: /etc/group, then the store, else probed into the range. */
static int group_gid(const char *name, const struct settings *st, const struct file *host, const struct file *store,
		     uint32_t *out)
{
	const struct file *files[2] = { host, store };
	struct span line, f[4];
	int i;

	for (i = 0; i < 2; i++) {
		size_t off = 0;
		while (next_line(files[i], &off, &line))
			if (split(line, f, 4) && span_is(f[0], name))
				return parse_id(f[2], out);
	}
	return probe(name, st->lo, st->hi, host, store, out);
}

static enum nss_status provisional(const char *name, const struct file *store_pw, struct passwd *pw,
				   char *buf, size_t len, int *errnop)
{
	struct settings st;
	struct file host_pw = { 0 }, host_gr = { 0 }, store_gr = { 0 };
	enum nss_status rc = NSS_STATUS_NOTFOUND;
	uint32_t uid, gid;
	char home[64];
	struct span f[7];

	if (geteuid() != 0 || !valid_name(name, strlen(name)) || read_settings(&st) != 0 ||
	    !caller_listed(st.callers) || (st.map_file[0] && !map_lists(st.map_file, name)))
		return NSS_STATUS_NOTFOUND;
	if (read_trusted("/etc", "passwd", &host_pw) != 0 || read_trusted("/etc", "group", &host_gr) != 0 ||
	    load_store("group", 1, &store_gr) != 0)
		goto out;
	if (!probe(name, st.lo, st.hi, &host_pw, store_pw, &uid) ||
	    !group_gid(st.group, &st, &host_gr, &store_gr, &gid))
		goto out;
	strcpy(home, "/home/");
	strcat(home, name);
	f[0] = (struct span){ name, strlen(name) };
	f[1] = (struct span){ "*", 1 };
	/* The mark pam_cognito.so's acct_mgmt refuses when its own auth did not admit this name. */
	f[4] = (struct span){ COGNITO_PROVISIONAL_GECOS, strlen(COGNITO_PROVISIONAL_GECOS) };
	f[5] = (struct span){ home, strlen(home) };
	f[6] = (struct span){ st.shell, strlen(st.shell) };
	rc = fill_pw(f, uid, gid, pw, buf, len, errnop);
out:
	free(host_pw.data);
	free(host_gr.data);
	free(store_gr.data);
	return rc;
}

/* ---------------------------------------------------------------- passwd */

/* An entry by name (key) or id from the store; a passwd name it lacks may get a provisional answer. */
static enum nss_status find(const char *key, uint32_t id, int is_group, void *ent, char *buf, size_t len,
			    int *errnop)
{
	struct file f;
	struct span line, fields[7];
	size_t off = 0;
	uint32_t a, b = 0;
	enum nss_status rc = NSS_STATUS_NOTFOUND;

	if (load_store(is_group ? "group" : "passwd", is_group, &f) != 0) {
		*errnop = EIO;
		return NSS_STATUS_UNAVAIL;
	}
	while (next_line(&f, &off, &line)) {
		if (is_group)
			parse_gr(line, fields, &a);
		else
			parse_pw(line, fields, &a, &b);
		if (key ? span_is(fields[0], key) : a == id) {
			rc = is_group ? fill_gr(fields, a, ent, buf, len, errnop) : fill_pw(fields, a, b, ent, buf, len, errnop);
			break;
		}
	}
	if (rc == NSS_STATUS_NOTFOUND && key && !is_group)
		rc = provisional(key, &f, ent, buf, len, errnop);
	free(f.data);
	return rc;
}

enum nss_status _nss_cognito_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len, int *errnop)
{
	return find(name, 0, 0, pw, buf, len, errnop);
}

enum nss_status _nss_cognito_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len, int *errnop)
{
	return find(NULL, uid, 0, pw, buf, len, errnop);
}

/* ---------------------------------------------------------------- group */

enum nss_status _nss_cognito_getgrnam_r(const char *name, struct group *gr, char *buf, size_t len, int *errnop)
{
	return find(name, 0, 1, gr, buf, len, errnop);
}

enum nss_status _nss_cognito_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t len, int *errnop)
{
	return find(NULL, gid, 1, gr, buf, len, errnop);
}

enum nss_status _nss_cognito_initgroups_dyn(const char *user, gid_t group, long int *start, long int *size,
					    gid_t **groupsp, long int limit, int *errnop)
{
	struct file f;
	struct span line, fields[4];
	size_t off = 0;
	uint32_t g;

	if (load_store("group", 1, &f) != 0) {
		*errnop = EIO;
		return NSS_STATUS_UNAVAIL;
	}
	while (next_line(&f, &off, &line)) {
		const char *p, *end;
		int member = 0;
		long i;
		parse_gr(line, fields, &g);
		for (p = fields[3].p, end = p + fields[3].n; fields[3].n > 0 && !member;) {
			const char *c = memchr(p, ',', (size_t)(end - p));
			struct span m = { p, (size_t)((c ? c : end) - p) };
			member = span_is(m, user);
			if (c == NULL)
				break;
			p = c + 1;
		}
		if (!member || g == group)
			continue;
		for (i = 0; i < *start && (*groupsp)[i] != g; i++)
			;
		if (i < *start)
			continue;
		if (*start == *size) {
			long n = *size > 0 ? 2 * *size : 16;
			gid_t *grown;
			if (limit > 0 && n > limit)
				n = limit;
			if (n <= *size)
				break;
			grown = realloc(*groupsp, (size_t)n * sizeof(gid_t));
			if (grown == NULL) {
				free(f.data);
				*errnop = ENOMEM;
				return NSS_STATUS_TRYAGAIN;
			}
			*groupsp = grown;
			*size = n;
		}
		(*groupsp)[(*start)++] = g;
	}
	free(f.data);
	return NSS_STATUS_SUCCESS;
}

/* ---------------------------------------------------------------- enumeration */

/* One snapshot per database, taken at set*ent (or the first get*ent), under a mutex. */
struct cursor { pthread_mutex_t lock; struct file f; size_t off; int loaded, bad; };
static struct cursor pw_cur = { PTHREAD_MUTEX_INITIALIZER, { NULL, 0 }, 0, 0, 0 };
static struct cursor gr_cur = { PTHREAD_MUTEX_INITIALIZER, { NULL, 0 }, 0, 0, 0 };

static void cursor_reset(struct cursor *c, const char *name, int is_group, int load)
{
	free(c->f.data);
	c->f.data = NULL;
	c->f.len = 0;
	c->off = 0;
	c->loaded = load;
	c->bad = load ? load_store(name, is_group, &c->f) != 0 : 0;
}

static enum nss_status cursor_set(struct cursor *c, const char *name, int is_group, int load)
{
	pthread_mutex_lock(&c->lock);
	cursor_reset(c, name, is_group, load);
	pthread_mutex_unlock(&c->lock);
	return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_cognito_setpwent(int stayopen) { (void)stayopen; return cursor_set(&pw_cur, "passwd", 0, 1); }
enum nss_status _nss_cognito_endpwent(void) { return cursor_set(&pw_cur, "passwd", 0, 0); }
enum nss_status _nss_cognito_setgrent(int stayopen) { (void)stayopen; return cursor_set(&gr_cur, "group", 1, 1); }
enum nss_status _nss_cognito_endgrent(void) { return cursor_set(&gr_cur, "group", 1, 0); }

/* The next entry of a snapshot; on ERANGE the cursor stays, so the caller retries the same one. */
static enum nss_status cursor_next(struct cursor *c, const char *name, int is_group, void *ent, char *buf,
				   size_t len, int *errnop)
{
	struct span line, fields[7];
	uint32_t a, b;
	size_t off;
	enum nss_status rc = NSS_STATUS_NOTFOUND;

	pthread_mutex_lock(&c->lock);
	if (!c->loaded)
		cursor_reset(c, name, is_group, 1);
	off = c->off;
	if (c->bad) {
		*errnop = EIO;
		rc = NSS_STATUS_UNAVAIL;
	} else if (next_line(&c->f, &off, &line)) {
		if (is_group) {
			parse_gr(line, fields, &a);
			rc = fill_gr(fields, a, ent, buf, len, errnop);
		} else {
			parse_pw(line, fields, &a, &b);
			rc = fill_pw(fields, a, b, ent, buf, len, errnop);
		}
		if (rc == NSS_STATUS_SUCCESS)
			c->off = off;
	} else {
		*errnop = ENOENT;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

enum nss_status _nss_cognito_getpwent_r(struct passwd *pw, char *buf, size_t len, int *errnop)
{
	return cursor_next(&pw_cur, "passwd", 0, pw, buf, len, errnop);
}

enum nss_status _nss_cognito_getgrent_r(struct group *gr, char *buf, size_t len, int *errnop)
{
	return cursor_next(&gr_cur, "group", 1, gr, buf, len, errnop);
}

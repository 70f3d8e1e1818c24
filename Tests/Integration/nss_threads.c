/* test_nss.py's thread driver: dlopens libnss_cognito.so.2 (argv[1]); 8 threads each look up every
 * name given (argv[2..]) with _nss_cognito_getpwnam_r, then half walk getpwent_r and half getgrent_r
 * on the module's shared cursors. Run under valgrind --tool=helgrind, which reports any access to
 * shared state without the lock. Prints "bad N entries M"; exit 1 if a lookup failed. */
#include <dlfcn.h>
#include <grp.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>

typedef enum nss_status (*byname_fn)(const char *, struct passwd *, char *, size_t, int *);
typedef enum nss_status (*pwent_fn)(struct passwd *, char *, size_t, int *);
typedef enum nss_status (*grent_fn)(struct group *, char *, size_t, int *);
typedef enum nss_status (*end_fn)(void);

static byname_fn by_name;
static pwent_fn pw_next;
static grent_fn gr_next;
static int names_from, names_to, bad, entries;
static char **names;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static void *work(void *arg)
{
	struct passwd pw;
	struct group gr;
	char buf[4096];
	int err, i, n = 0;

	for (i = names_from; i < names_to; i++)
		if (by_name(names[i], &pw, buf, sizeof(buf), &err) != NSS_STATUS_SUCCESS || strcmp(pw.pw_name, names[i]) != 0)
			__atomic_add_fetch(&bad, 1, __ATOMIC_SEQ_CST);
	if ((long)arg % 2)
		while (pw_next(&pw, buf, sizeof(buf), &err) == NSS_STATUS_SUCCESS)
			n++;
	else
		while (gr_next(&gr, buf, sizeof(buf), &err) == NSS_STATUS_SUCCESS)
			;
	pthread_mutex_lock(&count_lock);
	entries += n;
	pthread_mutex_unlock(&count_lock);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[8];
	long i;
	void *h = argc > 1 ? dlopen(argv[1], RTLD_NOW) : NULL;

	if (h == NULL || !(by_name = (byname_fn)dlsym(h, "_nss_cognito_getpwnam_r")) ||
	    !(pw_next = (pwent_fn)dlsym(h, "_nss_cognito_getpwent_r")) || !(gr_next = (grent_fn)dlsym(h, "_nss_cognito_getgrent_r")))
		return 2;
	names = argv, names_from = 2, names_to = argc;
	for (i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, work, (void *)i);
	for (i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	((end_fn)dlsym(h, "_nss_cognito_endpwent"))();
	((end_fn)dlsym(h, "_nss_cognito_endgrent"))();
	printf("bad %d entries %d\n", bad, entries);
	return bad != 0;
}

/* The pw_gecos of libnss_cognito.so.2's provisional answer (a name sshd asked for that the store
 * does not have yet, docs/ARCHITECTURE.md §12). Stored entries never have it: nss_cognito.c and
 * the helper refuse a store line carrying it, and pam_cognito.so's acct_mgmt refuses a PAM_USER
 * whose entry has it (a login that bypassed pam_cognito's auth, e.g. publickey). */
#define COGNITO_PROVISIONAL_GECOS "cognito-auth provisional entry"

/* tests/unit/cluster/pki_fix.h - certificates for the cluster's TLS tests (pki_fix.c). */
#ifndef PKI_FIX_H
#define PKI_FIX_H

/* The files, in a temporary directory: ca.pem, node1.pem/.key, node2.pem/.key, rogue.pem/.key
 * (of another CA). dir/name, in one of a few rotating buffers (enough for one call's arguments). */
const char *pki(const char *name);
/* Makes the files (a Check unchecked fixture), and removes them. */
void pki_setup(void);
void pki_teardown(void);

#endif

/*
 * sa_key.c — reads a Google service-account key file (the JSON that
 * "gcloud iam service-accounts keys create" writes): client_email,
 * private_key_id, private_key (PEM) and token_uri.  Nothing else of it is
 * used; the file is read once, at start.
 */
#include <errno.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/export_private.h"

static char *sa_field(json_t *o, const char *name, bool required, char *err, size_t errlen)
{
	const char *v = json_string_value(json_object_get(o, name));

	if (!v && required)
		snprintf(err, errlen, "no \"%s\" in the key file", name);
	return v ? strdup(v) : (required ? NULL : strdup(""));
}

static EVP_PKEY *sa_private_key(json_t *o, char *err, size_t errlen)
{
	const char *pem = json_string_value(json_object_get(o, "private_key"));
	BIO *bio = pem ? BIO_new_mem_buf(pem, -1) : NULL;
	EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

	BIO_free(bio);
	if (key && EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	if (!key)
		snprintf(err, errlen, "the key file's private_key is not an RSA key in PEM");
	return key;
}

int export_sa_load(const char *path, struct export_sa *sa, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &je);

	memset(sa, 0, sizeof(*sa));
	if (!o || !json_is_object(o)) {
		snprintf(err, errlen, "%s: %s", path, o ? "not a JSON object" : je.text);
		goto fail;
	}
	sa->email = sa_field(o, "client_email", true, err, errlen);
	sa->key_id = sa->email ? sa_field(o, "private_key_id", false, err, errlen) : NULL;
	sa->token_uri = sa->key_id ? sa_field(o, "token_uri", false, err, errlen) : NULL;
	sa->key = sa->token_uri ? sa_private_key(o, err, errlen) : NULL;
	if (!sa->key)
		goto fail;
	json_decref(o);
	return 0;
fail:
	json_decref(o);
	export_sa_fini(sa);
	return -EINVAL;
}

void export_sa_fini(struct export_sa *sa)
{
	free(sa->email);
	free(sa->key_id);
	free(sa->token_uri);
	EVP_PKEY_free(sa->key);
	memset(sa, 0, sizeof(*sa));
}

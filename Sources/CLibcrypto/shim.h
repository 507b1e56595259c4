#pragma once
// OpenSSL's libcrypto, for SHA-256 only: it uses the CPU's SHA extensions
// (about 7 times libsodium 1.0.18's portable SHA-256 on this project's machines).
// The one-shot SHA256_CTX functions are deprecated in OpenSSL 3 in favour of EVP,
// which allocates its context; they still dispatch to the same assembly.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>

#pragma once
// OpenSSL's libcrypto, for the per-byte work where its assembly is much faster
// than libsodium 1.0.18's on the machines Coffer runs on (measured here):
// SHA-256 with the CPU's SHA extensions (1.4 GB/s against 0.2 GB/s), and
// ChaCha20-Poly1305 with AVX2 (1.9 GB/s against 1.0 GB/s). The same primitives,
// so the age payloads and digests are byte for byte what libsodium produces.
// The SHA256_CTX functions are deprecated in OpenSSL 3 in favour of EVP, which
// allocates its context; they still dispatch to the same assembly.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/evp.h>
#include <openssl/sha.h>

// Seals `count` bytes into `out` (`count` + 16 bytes: ciphertext, then tag); 1 on success.
static inline int CLibcrypto_chacha20poly1305_seal(
    const EVP_CIPHER *cipher, const unsigned char *key, const unsigned char *nonce,
    const unsigned char *in, size_t count, unsigned char *out) {
    EVP_CIPHER_CTX *context = EVP_CIPHER_CTX_new();
    if (!context) return 0;
    int length = 0;
    int ok = count <= 0x7fffffff
        && EVP_EncryptInit_ex(context, cipher, NULL, key, nonce) == 1
        && (count == 0 || EVP_EncryptUpdate(context, out, &length, in, (int)count) == 1)
        && EVP_EncryptFinal_ex(context, out + count, &length) == 1
        && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, 16, out + count) == 1;
    EVP_CIPHER_CTX_free(context);
    return ok;
}

// Opens `count` bytes (ciphertext, then 16-byte tag) into `out` (`count` - 16
// bytes); 1 only when the tag verifies. On failure `out` may hold unchecked
// bytes: the caller wipes it.
static inline int CLibcrypto_chacha20poly1305_open(
    const EVP_CIPHER *cipher, const unsigned char *key, const unsigned char *nonce,
    const unsigned char *in, size_t count, unsigned char *out) {
    if (count < 16 || count - 16 > 0x7fffffff) return 0;
    EVP_CIPHER_CTX *context = EVP_CIPHER_CTX_new();
    if (!context) return 0;
    size_t body = count - 16;
    int length = 0;
    int ok = EVP_DecryptInit_ex(context, cipher, NULL, key, nonce) == 1
        && (body == 0 || EVP_DecryptUpdate(context, out, &length, in, (int)body) == 1)
        && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(in + body)) == 1
        && EVP_DecryptFinal_ex(context, out + body, &length) == 1;
    EVP_CIPHER_CTX_free(context);
    return ok;
}

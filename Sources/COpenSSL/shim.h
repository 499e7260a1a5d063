// OpenSSL's one-shot digest API (Debian's libssl-dev), for dataset and checkpoint checksums.
#include <openssl/evp.h>

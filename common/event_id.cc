// Event id derivation: SHA-256 over the event's pre-image (common/domain/event_id_preimage.h).
#include "common/event_id.h"

#include <openssl/evp.h>

#include <cassert>
#include <cstdlib>
#include <memory>

#include "common/domain/event_id_preimage.h"

namespace kledger::domain {
namespace {

// SHA-256 fetched once: EVP_sha256() with EVP_Digest fetches the algorithm from the provider
// and allocates a context on every call, which was a fifth of CommandClient::Submit.
const EVP_MD* Sha256() {
  static const EVP_MD* md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched != nullptr ? static_cast<const EVP_MD*>(fetched) : EVP_sha256();
  }();
  return md;
}

// The first kEventIdHexChars / 2 bytes of SHA-256(`bytes`), in lowercase hex.
std::string HexSha256Prefix(EVP_MD_CTX* ctx, std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  const int ok = ctx != nullptr && EVP_DigestInit_ex2(ctx, Sha256(), nullptr) == 1 &&
                 EVP_DigestUpdate(ctx, bytes.data(), bytes.size()) == 1 &&
                 EVP_DigestFinal_ex(ctx, digest, &digest_len) == 1;
  // SHA-256 over memory cannot fail short of a broken libcrypto; ids must never be made up.
  assert(ok == 1 && digest_len >= kEventIdHexChars / 2);
  if (ok != 1) std::abort();

  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(kEventIdHexChars, '\0');
  for (std::size_t i = 0; i < kEventIdHexChars / 2; ++i) {
    id[2 * i] = kHex[digest[i] >> 4];
    id[2 * i + 1] = kHex[digest[i] & 0x0f];
  }
  return id;
}

// One context and pre-image buffer per thread, reused: no allocation per id once warm.
struct Scratch {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
  std::string preimage;
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

}  // namespace

std::string DeriveEventId(std::string_view instance_id, const v1::EventEnvelope& envelope) {
  Scratch& scratch = ThreadScratch();
  if (!EventIdPreimage(instance_id, envelope, scratch.preimage)) return "";
  return HexSha256Prefix(scratch.ctx.get(), scratch.preimage);
}

std::string TransactionCreatedEventId(std::string_view instance_id, std::string_view source,
                                      std::string_view source_idempk) {
  Scratch& scratch = ThreadScratch();
  TransactionCreatedPreimage(instance_id, source, source_idempk, scratch.preimage);
  return HexSha256Prefix(scratch.ctx.get(), scratch.preimage);
}

std::string DeriveEventId(const v1::EventEnvelope& envelope) {
  return DeriveEventId(envelope.instance_id(), envelope);
}

FieldErrors ValidateEnvelope(const v1::EventEnvelope& envelope, const Limits& limits) {
  return ValidateEnvelopeWithId(envelope, DeriveEventId(envelope), limits);
}

}  // namespace kledger::domain

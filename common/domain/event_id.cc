// Event id derivation: SHA-256 over the length-prefixed idempotency-key fields of an event.
#include "common/domain/event_id.h"

#include <openssl/evp.h>

#include <cassert>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>

#include "common/domain/validation.h"

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

// Each field is preceded by its length (8 bytes, big-endian) so that ("ab", "c") and ("a", "bc")
// hash differently, whatever bytes the fields contain.
std::string HashFields(std::initializer_list<std::string_view> fields) {
  // One context and buffer per thread, reused: no allocation per id once warm.
  struct Scratch {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
    std::string buffer;
  };
  thread_local Scratch scratch;
  std::string& buffer = scratch.buffer;
  size_t size = 0;
  for (std::string_view f : fields) size += sizeof(uint64_t) + f.size();
  buffer.resize(size);  // within the capacity of earlier ids: no allocation
  char* out = buffer.data();
  for (std::string_view f : fields) {
    uint64_t n = f.size();
    for (int i = sizeof(uint64_t) - 1; i >= 0; --i, n >>= 8) out[i] = static_cast<char>(n & 0xff);
    out += sizeof(uint64_t);
    std::memcpy(out, f.data(), f.size());
    out += f.size();
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_MD_CTX* ctx = scratch.ctx.get();
  const int ok = ctx != nullptr && EVP_DigestInit_ex2(ctx, Sha256(), nullptr) == 1 &&
                 EVP_DigestUpdate(ctx, buffer.data(), buffer.size()) == 1 &&
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

}  // namespace

std::string DeriveEventId(std::string_view instance_id, const v1::EventEnvelope& envelope) {
  const std::string_view type = EventTypeName(envelope.event_case());
  switch (envelope.event_case()) {
    case v1::EventEnvelope::kInstanceCreated:
      return HashFields({type, instance_id});
    case v1::EventEnvelope::kAccountOpened:
      return HashFields({type, instance_id, envelope.account_opened().address()});
    case v1::EventEnvelope::kAccountUpdated: {
      const auto& e = envelope.account_updated();
      return HashFields({type, instance_id, e.address(), e.update_idempk()});
    }
    case v1::EventEnvelope::kAccountClosed:
      return HashFields({type, instance_id, envelope.account_closed().address()});
    case v1::EventEnvelope::kTransactionCreated: {
      const auto& e = envelope.transaction_created();
      return HashFields({type, instance_id, e.source(), e.source_idempk()});
    }
    case v1::EventEnvelope::kTransactionUpdated: {
      const auto& e = envelope.transaction_updated();
      return HashFields({type, instance_id, e.source(), e.source_idempk(), e.update_idempk()});
    }
    case v1::EventEnvelope::EVENT_NOT_SET:
      break;
  }
  return "";
}

std::string DeriveEventId(const v1::EventEnvelope& envelope) {
  return DeriveEventId(envelope.instance_id(), envelope);
}

}  // namespace kledger::domain

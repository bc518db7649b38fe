// Content hashes: XXH3-128 through libxxhash (Debian's libxxhash, chosen over a hand-written hash).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace facecat::util {

class Hasher128 {
 public:
  Hasher128();
  ~Hasher128();
  Hasher128(const Hasher128&) = delete;
  Hasher128& operator=(const Hasher128&) = delete;
  void update(const void* data, size_t n);
  std::string hex() const;  // 32 lowercase hex digits

 private:
  void* state_;
};

std::string xxh3_128_hex(std::string_view data);

struct FileDigest {
  std::string hash;      // XXH3-128 hex
  uint64_t bytes = 0;    // bytes read
  std::string head;      // the first bytes of the file (for content sniffing)
  std::string tail;      // the last bytes of the file (for truncation checks)
  int64_t last_jpeg_eoi = -1;  // JPEGs only: offset of the last FF D9 in the file (-1: none)
};
// Stream a file once: hash it and keep its head and tail.
Result<FileDigest> digest_file(const std::filesystem::path& p, size_t head_bytes = 4096, size_t tail_bytes = 4096);

// sha256 (used for model identities, which follow the registries' own convention)
std::string sha256_hex(std::string_view data);

}  // namespace facecat::util

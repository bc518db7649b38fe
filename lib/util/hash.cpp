#include "util/hash.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

namespace facecat::util {

static std::string hex128(XXH128_hash_t h) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  static const char* digits = "0123456789abcdef";
  std::string s(32, '0');
  for (int i = 0; i < 16; ++i) {
    s[2 * i] = digits[c.digest[i] >> 4];
    s[2 * i + 1] = digits[c.digest[i] & 15];
  }
  return s;
}

Hasher128::Hasher128() : state_(XXH3_createState()) { XXH3_128bits_reset(static_cast<XXH3_state_t*>(state_)); }
Hasher128::~Hasher128() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }
void Hasher128::update(const void* data, size_t n) { XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), data, n); }
std::string Hasher128::hex() const { return hex128(XXH3_128bits_digest(static_cast<XXH3_state_t*>(state_))); }

std::string xxh3_128_hex(std::string_view data) { return hex128(XXH3_128bits(data.data(), data.size())); }

Result<FileDigest> digest_file(const std::filesystem::path& p, size_t head_bytes, size_t tail_bytes) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return make_error(std::strerror(errno));
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  FileDigest d;
  Hasher128 h;
  thread_local std::vector<char> buf(1 << 20);
  std::string ring;  // the last tail_bytes seen
  bool jpeg = false;
  bool prev_ff = false;  // the previous chunk ended with 0xFF
  for (;;) {
    ssize_t r = ::read(fd, buf.data(), buf.size());
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return make_error(std::strerror(e));
    }
    if (r == 0) break;
    size_t n = static_cast<size_t>(r);
    h.update(buf.data(), n);
    if (d.bytes == 0) jpeg = n >= 3 && std::memcmp(buf.data(), "\xFF\xD8\xFF", 3) == 0;
    if (jpeg) {
      // Track the last end-of-image marker anywhere in the file: trailers after EOI are common (phones append
      // data), so "EOI in the tail" is not enough to tell a complete JPEG from a truncated one.
      const char* p = buf.data();
      if (prev_ff && n > 0 && static_cast<unsigned char>(p[0]) == 0xD9) d.last_jpeg_eoi = static_cast<int64_t>(d.bytes) - 1;
      for (const char* q = p; (q = static_cast<const char*>(std::memchr(q, 0xFF, p + n - q))) != nullptr; ++q) {
        if (q + 1 < p + n && static_cast<unsigned char>(q[1]) == 0xD9)
          d.last_jpeg_eoi = static_cast<int64_t>(d.bytes) + (q - p);
      }
      prev_ff = static_cast<unsigned char>(p[n - 1]) == 0xFF;
    }
    if (d.head.size() < head_bytes) d.head.append(buf.data(), std::min(n, head_bytes - d.head.size()));
    if (n >= tail_bytes) {
      ring.assign(buf.data() + n - tail_bytes, tail_bytes);
    } else {
      ring.append(buf.data(), n);
      if (ring.size() > tail_bytes) ring.erase(0, ring.size() - tail_bytes);
    }
    d.bytes += n;
  }
  ::close(fd);
  d.hash = h.hex();
  d.tail = std::move(ring);
  return d;
}

// ---- sha256 (FIPS 180-4), small and only used for model files -------------------------------------------------
namespace {
constexpr std::array<uint32_t, 64> K = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};
inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
}  // namespace

std::string sha256_hex(std::string_view data) {
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::string msg(data);
  uint64_t bitlen = static_cast<uint64_t>(data.size()) * 8;
  msg.push_back(static_cast<char>(0x80));
  while (msg.size() % 64 != 56) msg.push_back(0);
  for (int i = 7; i >= 0; --i) msg.push_back(static_cast<char>((bitlen >> (i * 8)) & 0xff));
  for (size_t off = 0; off < msg.size(); off += 64) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      const auto* b = reinterpret_cast<const unsigned char*>(msg.data() + off + 4 * i);
      w[i] = (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | uint32_t(b[3]);
    }
    for (int i = 16; i < 64; ++i) {
      uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      uint32_t ch = (e & f) ^ (~e & g);
      uint32_t t1 = hh + S1 + ch + K[i] + w[i];
      uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
      uint32_t t2 = S0 + maj;
      hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  char out[65];
  for (int i = 0; i < 8; ++i) std::snprintf(out + 8 * i, 9, "%08x", h[i]);
  return std::string(out, 64);
}

}  // namespace facecat::util

#include "face/tfjs.hpp"

#include <cstring>
#include <nlohmann/json.hpp>

#include "util/atomic_file.hpp"

namespace facecat::face::detail {
namespace fs = std::filesystem;

Result<std::vector<TfTensor>> read_tfjs(const fs::path& manifest, const fs::path& bin) {
  auto mtext = util::read_file(manifest, 16u << 20);
  if (!mtext) return make_error("cannot read " + manifest.string() + ": " + mtext.error().message);
  auto btext = util::read_file(bin, 64u << 20);
  if (!btext) return make_error("cannot read " + bin.string() + ": " + btext.error().message);
  const std::string& buf = *btext;
  std::vector<TfTensor> out;
  size_t off = 0;
  try {
    auto j = nlohmann::json::parse(*mtext);
    for (const auto& group : j)
      for (const auto& w : group.at("weights")) {
        TfTensor t;
        t.name = w.at("name").get<std::string>();
        size_t n = 1;
        for (const auto& s : w.at("shape")) {
          long d = s.get<long>();
          if (d <= 0 || d > 4096) return make_error("bad shape in " + manifest.string() + " for " + t.name);
          t.shape.push_back(d);
          n *= static_cast<size_t>(d);
        }
        t.data.resize(n);
        if (w.contains("quantization")) {
          const auto& q = w.at("quantization");
          if (q.at("dtype").get<std::string>() != "uint8")
            return make_error("unsupported quantization in " + manifest.string() + " for " + t.name);
          const float mn = q.at("min").get<float>(), sc = q.at("scale").get<float>();
          if (off + n > buf.size()) return make_error(bin.string() + " is too short (at " + t.name + ")");
          for (size_t i = 0; i < n; ++i) t.data[i] = mn + sc * static_cast<uint8_t>(buf[off + i]);
          off += n;
        } else {
          if (w.at("dtype").get<std::string>() != "float32")
            return make_error("unsupported dtype in " + manifest.string() + " for " + t.name);
          if (off + 4 * n > buf.size()) return make_error(bin.string() + " is too short (at " + t.name + ")");
          std::memcpy(t.data.data(), buf.data() + off, 4 * n);  // little-endian host (x86-64/arm64)
          off += 4 * n;
        }
        out.push_back(std::move(t));
      }
  } catch (const std::exception& e) {
    return make_error("bad face-api manifest " + manifest.string() + ": " + e.what());
  }
  if (off != buf.size())
    return make_error(bin.string() + ": " + std::to_string(buf.size() - off) + " bytes left over (wrong manifest?)");
  return out;
}

}  // namespace facecat::face::detail

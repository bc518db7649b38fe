#include "core/privacy.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <set>

namespace facecat {

namespace fs = std::filesystem;

unsigned privacy_mask(const std::string& mode) {
  if (mode == "private") return 077;
  if (mode == "group") return 027;
  return 0;
}

std::vector<PermissionFinding> check_permissions(const Config& cfg, bool fix) {
  std::vector<PermissionFinding> out;
  const unsigned mask = privacy_mask(cfg.get("privacy.mode"));
  if (!mask) return out;
  std::set<fs::path> seen;
  auto look = [&](const fs::path& p) {
    if (!seen.insert(p).second) return;
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || S_ISLNK(st.st_mode)) return;  // a link's own bits mean nothing
    const unsigned mode = st.st_mode & 07777;
    // Folders: only read and search bits matter to others; files: every bit in the mask.
    if (!(mode & mask)) return;
    PermissionFinding f{p, mode, 0, ""};
    if (fix) {
      const unsigned to = mode & ~mask;
      if (::chmod(p.c_str(), to) == 0) f.fixed = to;
      else f.error = std::strerror(errno);
    }
    out.push_back(std::move(f));
  };
  auto tree = [&](const std::string& key) {
    const fs::path root = cfg.get_path(key);
    std::error_code ec;
    if (root.empty() || !fs::is_directory(root, ec)) return;
    look(root);
    for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
         !ec && it != end; it.increment(ec))
      look(it->path());
  };
  // The catalog and every file beside it that starts with its name (-wal, -shm, .lock, FAISS index files).
  const fs::path cat = cfg.get_path("catalog.path");
  std::error_code ec;
  if (!cat.empty() && fs::exists(cat, ec)) {
    const std::string stem = cat.filename().string();
    const fs::path dir = cat.has_parent_path() ? cat.parent_path() : fs::path(".");
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (it->path().filename().string().rfind(stem, 0) == 0) look(it->path());
  }
  tree("faces.CroppedFacesPath");
  tree("faces.chips_path");
  tree("video.frames_dir");
  tree("vk.photos_dir");
  if (const fs::path log = cfg.get_path("log.file"); !log.empty() && fs::exists(log, ec)) {
    look(log);
    for (int i = 1; i <= 5; ++i) {  // spdlog's rotated names: facecat.1.log (and facecat.log.1 without extension)
      const fs::path rotated = log.parent_path() / (log.stem().string() + "." + std::to_string(i) + log.extension().string());
      if (fs::exists(rotated, ec)) look(rotated);
    }
  }
  return out;
}

}  // namespace facecat

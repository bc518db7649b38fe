#include "faces_store/models_store.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "core/exit_codes.hpp"
#include "core/models_dir.hpp"
#include "core/owned_dir.hpp"
#include "util/atomic_file.hpp"
#include "util/hash.hpp"
#include "util/text.hpp"

extern char** environ;

namespace facecat::faces_store {

namespace fs = std::filesystem;
using json = nlohmann::json;

// packaging/models.sha256, compiled in (build/generated/models_pins.cpp).
extern const char* const kModelPinsText;

namespace {

Error usage(const std::string& m) { return make_error(m, exit_code::usage); }

// Stamps, licences and the dlib cache may be missing from a tarball; the weights and the npm licence may not.
bool optional_pin(const std::string& p) {
  return p == "face-api/.sha256" || p == "ultraface/.sha256" || p == "ultraface/LICENSE" ||
         util::starts_with(p, "cache/");
}

// Files facecat writes itself into a models folder: not pinned, rewritten on install.
bool own_file(const std::string& rel) { return rel == "SHA256SUMS" || rel == kOwnedDirMarker; }

Result<std::string> sha256_of(const fs::path& p) {
  auto data = util::read_file(p, 1u << 30);
  if (!data) return data.error();
  return util::sha256_hex(*data);
}

const PinnedModelFile* find_pin(const std::string& rel) {
  for (const auto& p : model_pins())
    if (p.path == rel) return &p;
  return nullptr;
}

struct ModelKind {
  const char* path_prefix;
  const char* model;
  const char* id_prefix;  // the id is id_prefix + the first 16 hex of the file's sha256
};
// The descriptor model's id must stay "faceapi-resnet-" + sha256[:16] of the .bin (faces_store::configured_model_id).
const ModelKind kKinds[] = {
    {"face-api/model/face_recognition_model.bin", "face recognition ResNet (face-api weights)", "faceapi-resnet-"},
    {"face-api/model/tiny_face_detector_model.bin", "tiny face detector (face-api)", "faceapi-tiny-"},
    {"ultraface/rfb320-cut.onnx", "UltraFace RFB-320, cut for OpenCV DNN", "ultraface-rfb320-"},
    {"ultraface/fr_detect.onnx", "UltraFace RFB-320 as shipped (faceplugin)", "ultraface-shipped-"},
};

// Regular files under root, relative, sorted; symlinks and other kinds are errors.
Result<std::vector<std::string>> walk(const fs::path& root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end; !ec && it != end;
       it.increment(ec)) {
    const auto st = it->symlink_status(ec);
    const std::string rel = it->path().lexically_relative(root).generic_string();
    if (fs::is_symlink(st)) return usage(rel + " is a symbolic link (a models tarball holds plain files only)");
    if (fs::is_directory(st)) continue;
    if (!fs::is_regular_file(st)) return usage(rel + " is not a plain file (a models tarball holds plain files only)");
    out.push_back(rel);
  }
  if (ec) return make_error("cannot read " + root.string() + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

// (relative path -> sha256) of the pinned files under dir (own files left out).
Result<std::map<std::string, std::string>> digests(const fs::path& dir) {
  std::map<std::string, std::string> out;
  auto files = walk(dir);
  if (!files) return files.error();
  for (const auto& rel : *files) {
    if (own_file(rel)) continue;
    auto h = sha256_of(dir / rel);
    if (!h) return h.error();
    out[rel] = *h;
  }
  return out;
}

// A target facecat may replace: missing, empty, marked, or every entry is a models folder's.
Result<void> check_target(const fs::path& target) {
  std::error_code ec;
  const auto st = fs::symlink_status(target, ec);
  if (!fs::exists(st)) return {};
  if (!fs::is_directory(fs::status(target, ec)))
    return usage("models folder " + util::printable(target.string()) + " is not a folder");
  if (has_owned_dir_marker(target)) return {};
  static const std::set<std::string> shape = {"face-api", "ultraface", "cache", "SHA256SUMS", "face-api.new",
                                              "ultraface.new"};
  for (fs::directory_iterator it(target, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (!shape.count(n))
      return usage("models folder " + util::printable(target.string()) + " holds " + util::printable(n) +
                   ", which is not facecat's, and has no " + kOwnedDirMarker +
                   " file; facecat will not replace it: name a new or empty folder (--models-dir)");
  }
  if (ec) return usage("cannot read " + target.string() + ": " + ec.message());
  return {};
}

// A temp folder beside the target (same file system: the final rename is atomic); removed unless released.
class TempDir {
 public:
  static Result<TempDir> beside(const fs::path& target) {
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec) return usage("cannot create " + target.parent_path().string() + ": " + ec.message());
    std::string tmpl = (target.parent_path() / ("." + target.filename().string() + ".facecat-tmp-XXXXXX")).string();
    if (!::mkdtemp(tmpl.data()))
      return usage("cannot create a temp folder beside " + target.string() + ": " + std::strerror(errno));
    TempDir t;
    t.path_ = tmpl;
    return t;
  }
  TempDir() = default;
  TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Runs argv (no shell) in the classic locale (LC_ALL=C: messages and listings in one format). Either stderr goes to
// `err` (stdout to /dev/null) or, with `out`, stdout goes to `out` (stderr to /dev/null); with neither, stderr is
// inherited. What is read is kept up to `keep` bytes. Returns the exit status (or 128 + signal).
Result<int> run_program(const std::vector<std::string>& argv, std::string* err, std::string* out = nullptr,
                        size_t keep = 65536) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_text{"LC_ALL=C"};
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "LC_ALL=", 7) != 0) env_text.emplace_back(*e);
  std::vector<char*> env;
  for (auto& e : env_text) env.push_back(e.data());
  env.push_back(nullptr);
  std::string* sink = out ? out : err;
  int pipefd[2] = {-1, -1};
  if (sink && ::pipe2(pipefd, O_CLOEXEC) != 0) return make_error(std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (out) {
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  } else {
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (err) posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
  }
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&fa);
  if (sink) ::close(pipefd[1]);
  if (rc != 0) {
    if (sink) ::close(pipefd[0]);
    return make_error("cannot run " + argv[0] + ": " + std::strerror(rc));
  }
  if (sink) {
    char buf[4096];
    for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) != 0;) {
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (sink->size() < keep) sink->append(buf, static_cast<size_t>(n));
    }
    ::close(pipefd[0]);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return make_error(std::string("waitpid: ") + std::strerror(errno));
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

std::string descriptor_id(const std::map<std::string, std::string>& files) {
  auto it = files.find(kKinds[0].path_prefix);
  return it == files.end() ? std::string() : std::string(kKinds[0].id_prefix) + it->second.substr(0, 16);
}

// Check the staged folder against the pins, complete it (cache carried over from the target), and swap it in.
Result<InstallOutcome> commit_staged(const fs::path& staged, const fs::path& target, const std::string& what) {
  auto files = walk(staged);
  if (!files) return usage(what + ": " + files.error().message + "; nothing was installed");
  std::map<std::string, std::string> got;
  for (const auto& rel : *files) {
    if (own_file(rel)) continue;
    const PinnedModelFile* pin = find_pin(rel);
    if (!pin)
      return usage(what + ": " + util::printable(rel) +
                   " is not one of facecat's pinned model files (packaging/models.sha256); nothing was installed");
    auto h = sha256_of(staged / rel);
    if (!h) return make_error(what + ": " + h.error().message);
    if (*h != pin->sha256)
      return usage(what + ": " + rel + " has sha256 " + *h + ", but the pinned one is " + pin->sha256 +
                   " (a corrupted or other file); nothing was installed");
    got[rel] = *h;
  }
  for (const auto& p : model_pins())
    if (p.required && !got.count(p.path)) return usage(what + ": it lacks " + p.path + "; nothing was installed");
  std::error_code ec;
  // Keep a valid converted cache that the target has and the new files lack (it costs a conversion to rebuild).
  if (fs::is_directory(target, ec)) {
    for (const auto& p : model_pins()) {
      if (!util::starts_with(p.path, "cache/") || got.count(p.path)) continue;
      if (!fs::is_regular_file(fs::symlink_status(target / p.path, ec))) continue;
      auto h = sha256_of(target / p.path);
      if (!h || *h != p.sha256) continue;
      fs::create_directories((staged / p.path).parent_path(), ec);
      fs::copy_file(target / p.path, staged / p.path, fs::copy_options::overwrite_existing, ec);
      if (!ec) got[p.path] = *h;
    }
  }
  InstallOutcome out;
  out.files = got.size();
  out.model_id = descriptor_id(got);
  out.dir = target;
  if (fs::exists(fs::symlink_status(target, ec))) {
    auto have = digests(target);
    if (have && *have == got && fs::is_regular_file(target / "SHA256SUMS", ec)) return out;  // the same: unchanged
  }
  FACECAT_TRY(check_target(target));
  std::string sums;
  for (const auto& [rel, h] : got) sums += h + "  " + rel + "\n";
  if (auto w = util::write_file_atomic(staged / "SHA256SUMS", sums); !w) return w.error();
  if (auto w = write_owned_dir_marker(staged, OwnedDirKind::Models); !w) return w.error();
  // Readable by all: models are not personal data (privacy.mode's umask would make them owner-only).
  for (fs::recursive_directory_iterator it(staged, ec), end; !ec && it != end; it.increment(ec))
    fs::permissions(it->path(), it->is_directory() ? fs::perms(0755) : fs::perms(0644), ec);
  fs::permissions(staged, fs::perms(0755), ec);
  if (!fs::exists(fs::symlink_status(target, ec))) {
    if (::rename(staged.c_str(), target.c_str()) != 0)
      return make_error("cannot move the models into " + target.string() + ": " + std::strerror(errno));
  } else {
    // One atomic swap: a reader sees the old folder or the new one, never a mix. The old one ends up at `staged`
    // and goes with the temp folder.
    if (::renameat2(AT_FDCWD, staged.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) != 0)
      return make_error("cannot swap the models into " + target.string() + ": " + std::strerror(errno));
  }
  out.changed = true;
  return out;
}

}  // namespace

const std::vector<PinnedModelFile>& model_pins() {
  static const std::vector<PinnedModelFile> pins = [] {
    std::vector<PinnedModelFile> v;
    for (const auto& line : util::split(kModelPinsText, '\n')) {
      const auto t = util::trim(line);
      if (t.empty() || t[0] == '#') continue;
      const auto sp = t.find("  ");
      if (sp == std::string::npos) continue;
      std::string rel = t.substr(sp + 2);
      v.push_back({rel, t.substr(0, sp), !optional_pin(rel)});
    }
    return v;
  }();
  return pins;
}

std::vector<json> list_models(const fs::path& dir, const fs::path& user_dat) {
  std::vector<json> out;
  std::error_code ec;
  auto add = [&](const std::string& model, const std::string& id, const fs::path& file, const std::string& sha,
                 const std::string& rel) {
    const PinnedModelFile* pin = rel.empty() ? nullptr : find_pin(rel);
    json j = {{"event", "model"}, {"model", model}, {"id", id}, {"sha256", sha}};
    j["path"] = file.string();
    j["pinned"] = pin ? json(pin->sha256 == sha) : json(nullptr);
    // The descriptor model facecat-detect would load: the user's .dat when set, else the face-api weights.
    j["in_use"] = user_dat.empty() ? rel == kKinds[0].path_prefix : rel.empty();
    out.push_back(j);
  };
  for (const auto& k : kKinds) {
    const fs::path f = dir / k.path_prefix;
    if (!fs::is_regular_file(f, ec)) continue;
    auto h = sha256_of(f);
    if (!h) continue;
    add(k.model, std::string(k.id_prefix) + h->substr(0, 16), f, *h, k.path_prefix);
  }
  for (fs::directory_iterator it(dir / "cache", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (!util::starts_with(n, "faceapi-resnet-") || it->path().extension() != ".dat") continue;
    auto h = sha256_of(it->path());
    if (!h) continue;
    add("face recognition ResNet, converted to dlib's format", it->path().stem().string(), it->path(), *h,
        "cache/" + n);
  }
  if (!user_dat.empty()) {
    if (auto h = sha256_of(user_dat))
      add("your dlib .dat (faces.recognition_model)", "dlib-dat-" + h->substr(0, 16), user_dat, *h, "");
  }
  return out;
}

// A models folder holds ~31 MB in ~14 files. A tarball is listed first (tar --list: nothing is written), and one
// whose members would write more than this, or that holds more entries, or an entry that is not a plain file or a
// folder, is refused before anything is extracted: a wrong or crafted tarball (a decompression bomb) cannot fill
// the disk beside the models folder.
constexpr uint64_t kMaxTarballBytes = 256ull << 20;
constexpr size_t kMaxTarballEntries = 256;

// Checks `tar --list --verbose` of the tarball against the limits above. A tarball tar cannot list passes here:
// the extraction then says why.
Result<void> check_tarball_listing(const fs::path& file, const std::string& shown) {
  std::string listing;
  const size_t keep = 1u << 20;
  auto rc = run_program({"tar", "--list", "--verbose", "--numeric-owner", "--quoting-style=escape",
                         "--file=" + file.string()},
                        nullptr, &listing, keep);
  if (!rc) return rc.error();
  auto refuse = [&](const std::string& why) { return usage(shown + ": " + why + "; nothing was installed"); };
  const auto lines = util::split(listing, '\n');
  size_t entries = 0;
  uint64_t bytes = 0;
  for (const auto& line : lines) {
    if (line.empty()) continue;
    if (++entries > kMaxTarballEntries)
      return refuse("it holds more than " + std::to_string(kMaxTarballEntries) +
                    " entries (a models folder has about 14 files)");
    // "-rw-r--r-- 0/0 6444032 2024-01-01 00:00 models/face-api/...": type, owner, size, date, time, name
    std::vector<std::string> f;
    size_t pos = 0;
    while (f.size() < 5 && pos < line.size()) {
      const size_t b = line.find_first_not_of(' ', pos);
      if (b == std::string::npos) break;
      const size_t e = line.find(' ', b);
      f.push_back(line.substr(b, e == std::string::npos ? std::string::npos : e - b));
      pos = e == std::string::npos ? line.size() : e;
    }
    std::string name = pos < line.size() ? util::trim(line.substr(pos)) : std::string();
    const char type = line[0];
    if (type == 'l' || type == 'h') {
      name = name.substr(0, name.find(type == 'l' ? " -> " : " link to "));
      return refuse(util::printable(name) + (type == 'l' ? " is a symbolic link" : " is a hard link") +
                    " (a models tarball holds plain files only)");
    }
    if (type != '-' && type != 'd')
      return refuse(util::printable(name) + " is not a plain file (a models tarball holds plain files only)");
    if (f.size() < 3 || f[2].empty() || f[2].find_first_not_of("0123456789") != std::string::npos) continue;
    bytes += std::strtoull(f[2].c_str(), nullptr, 10);
    if (bytes > kMaxTarballBytes)
      return refuse("its files would take more than " + std::to_string(kMaxTarballBytes >> 20) +
                    " MiB (a models folder takes about 31 MB)");
  }
  if (listing.size() >= keep)  // fewer entries than the limit, with names long enough to fill 1 MiB
    return refuse("its listing is longer than " + std::to_string(keep >> 20) + " MiB (a models folder's takes 1 KB)");
  return {};
}

Result<InstallOutcome> install_models_tarball(const fs::path& tarball, const fs::path& target_in) {
  const fs::path target = fs::absolute(target_in).lexically_normal();
  const fs::path file = fs::absolute(tarball).lexically_normal();
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return usage(util::printable(tarball.string()) + ": not a file");
  FACECAT_TRY(check_target(target));
  FACECAT_TRY(check_tarball_listing(file, util::printable(tarball.string())));
  auto tmp = TempDir::beside(target);
  if (!tmp) return tmp.error();
  const fs::path x = tmp->path() / "x";
  fs::create_directory(x, ec);
  // GNU tar (Debian's is essential): compression detected from the content; members are never written outside
  // x (tar drops a leading / and refuses ..), never with the archive's owner or modes; links are refused below.
  std::string err;
  auto rc = run_program({"tar", "--extract", "--file=" + file.string(), "--directory=" + x.string(),
                         "--no-same-owner", "--no-same-permissions", "--delay-directory-restore"},
                        &err);
  if (!rc) return rc.error();
  if (*rc != 0) {
    auto msg = util::trim(err);
    if (msg.size() > 500) msg = msg.substr(0, 500) + "...";
    return usage(util::printable(tarball.string()) + " is not a readable tarball (tar: " + msg +
                 "); nothing was installed");
  }
  // The folder itself may be inside the tarball (models/..., as `tar -C /usr/share/facecat models` makes it).
  fs::path root = x;
  for (;;) {
    std::vector<fs::path> entries;
    for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) entries.push_back(it->path());
    if (entries.size() == 1 && fs::is_directory(fs::symlink_status(entries[0], ec)) &&
        entries[0].filename() != "face-api" && entries[0].filename() != "ultraface" &&
        entries[0].filename() != "cache") {
      root = entries[0];
      continue;
    }
    break;
  }
  return commit_staged(root, target, util::printable(tarball.string()));
}

Result<InstallOutcome> fetch_models(const fs::path& script, const fs::path& target_in) {
  const fs::path target = fs::absolute(target_in).lexically_normal();
  std::error_code ec;
  if (script.empty() || !fs::is_regular_file(script, ec))
    return usage("the fetch-models script is not installed (looked for " +
                 (script.empty() ? std::string("lib/facecat/fetch-models beside the tools") : script.string()) +
                 "); carry a models tarball here instead: facecat-catalog models install FILE.tgz");
  FACECAT_TRY(check_target(target));
  auto tmp = TempDir::beside(target);
  if (!tmp) return tmp.error();
  const fs::path x = tmp->path() / "x";
  auto rc = run_program({script.string(), x.string()}, nullptr);
  if (!rc) return rc.error();
  if (*rc != 0)
    return make_error("fetch-models failed (exit " + std::to_string(*rc) + ", its message is above); nothing was "
                      "installed",
                      *rc == 3 ? exit_code::usage : exit_code::some_failed);
  return commit_staged(x, target, "fetched models");
}

fs::path fetch_models_script() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = exe.parent_path().parent_path() / "lib" / "facecat" / "fetch-models";
    if (fs::is_regular_file(installed, ec)) return installed;
  }
  if (const fs::path src = build_source_dir(); !src.empty()) return src / "scripts" / "fetch-models";
  return {};
}

}  // namespace facecat::faces_store

#include "vk/social.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "core/exit_codes.hpp"

namespace facecat::vk {
namespace {

std::vector<std::string> neighbours(const catalog::Db& db, const std::string& id) {
  std::vector<std::string> out;
  auto s = db.prepare("SELECT b FROM friendships WHERE source='vk' AND a=?1 UNION "
                      "SELECT a FROM friendships WHERE source='vk' AND b=?1");
  s.bind(1, id);
  while (s.step()) out.push_back(s.text(0));
  return out;
}

}  // namespace

Result<std::vector<SocialCandidate>> social_candidates(const catalog::Db& db, const std::string& me) {
  {
    auto s = db.prepare("SELECT 1 FROM person_sources WHERE source='vk' AND external_id=?1");
    s.bind(1, me);
    if (!s.step())
      return make_error("VK user " + me + " is not in the catalog; run facecat-vk fetch --user " + me + " first",
                        exit_code::usage);
  }
  auto friends = neighbours(db, me);
  std::unordered_set<std::string> fset(friends.begin(), friends.end());
  std::unordered_map<std::string, SocialCandidate> out;
  for (const auto& f : friends) {
    auto& c = out[f];
    c.vk_id = f;
    c.degree = 1;
  }
  for (const auto& f : friends) {
    for (const auto& n : neighbours(db, f)) {
      if (n == me) continue;
      auto& c = out[n];
      if (c.vk_id.empty()) {
        c.vk_id = n;
        c.degree = fset.count(n) ? 1 : 2;
      }
      ++c.mutual_friends;  // f is a friend of both me and n
    }
  }
  auto info = db.prepare("SELECT ps.person_id, ifnull(ps.display_name,''), ifnull(ps.status,'') FROM person_sources ps "
                         "WHERE ps.source='vk' AND ps.external_id=?1");
  std::vector<SocialCandidate> v;
  v.reserve(out.size());
  for (auto& [id, c] : out) {
    info.bind(1, id);
    if (info.step()) {
      c.person_id = info.i64(0);
      c.name = info.text(1);
      c.status = info.text(2);
    }
    info.reset();
    v.push_back(std::move(c));
  }
  std::sort(v.begin(), v.end(), [](const SocialCandidate& a, const SocialCandidate& b) {
    if (a.degree != b.degree) return a.degree < b.degree;
    if (a.mutual_friends != b.mutual_friends) return a.mutual_friends > b.mutual_friends;
    return a.vk_id < b.vk_id;
  });
  return v;
}

Result<std::vector<SocialCandidate>> suggest(const catalog::Db& db, const std::string& me, size_t limit) {
  auto all = social_candidates(db, me);
  if (!all) return all.error();
  std::vector<SocialCandidate> v;
  for (auto& c : *all)
    if (c.degree == 2 && c.status != "deleted" && c.status != "banned") v.push_back(std::move(c));
  // Photos in which the user and the candidate both have a face assigned (faces are keyed by content hash).
  std::optional<int64_t> my_person;
  {
    auto s = db.prepare("SELECT person_id FROM person_sources WHERE source='vk' AND external_id=?1");
    s.bind(1, me);
    if (s.step()) my_person = s.i64(0);
  }
  if (my_person) {
    std::unordered_map<int64_t, int> together;
    auto s = db.prepare(
        "SELECT o.person_id, count(DISTINCT o.file_hash) FROM faces m JOIN faces o ON o.file_hash = m.file_hash "
        "AND o.person_id IS NOT NULL AND o.person_id <> m.person_id AND ifnull(o.assignment,'') <> 'rejected' "
        "WHERE m.person_id = ?1 AND ifnull(m.assignment,'') <> 'rejected' GROUP BY o.person_id");
    s.bind(1, *my_person);
    while (s.step()) together[s.i64(0)] = static_cast<int>(s.i64(1));
    for (auto& c : v) {
      auto it = together.find(c.person_id);
      if (it != together.end()) c.co_appearances = it->second;
    }
  }
  std::sort(v.begin(), v.end(), [](const SocialCandidate& a, const SocialCandidate& b) {
    if (a.mutual_friends != b.mutual_friends) return a.mutual_friends > b.mutual_friends;
    if (a.co_appearances != b.co_appearances) return a.co_appearances > b.co_appearances;
    return a.vk_id < b.vk_id;
  });
  if (limit && v.size() > limit) v.resize(limit);
  return v;
}

}  // namespace facecat::vk

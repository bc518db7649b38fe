// The social graph in the catalog (friendships, source 'vk'), for ranking: who is a friend or a friend of a friend
// of a searcher, how many friends they share with the searcher, and how often they appear in photos with them.
// Used by facecat-vk suggest and by facecat-match --vk-user (candidates limited to this set, near-ties broken by
// mutual friends).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "catalog/db.hpp"
#include "util/result.hpp"

namespace facecat::vk {

struct SocialCandidate {
  int64_t person_id = 0;
  std::string vk_id;
  std::string name;
  std::string status;        // open, closed, deleted, banned
  int degree = 0;            // 1: a friend, 2: a friend of a friend
  int mutual_friends = 0;    // friends shared with the searcher (as far as the crawl knows)
  int co_appearances = 0;    // photos in which both have an assigned face (faces.person_id)
};

// Every friend and friend of a friend of `searcher_vk_id` (the searcher excluded), with their mutual-friend counts
// (co_appearances is left 0 here). Sorted by degree, then mutual friends (descending), then VK id.
// An error (exit_code::usage) when the searcher is not in the catalog.
Result<std::vector<SocialCandidate>> social_candidates(const catalog::Db& db, const std::string& searcher_vk_id);

// "People you may know": friends of friends who are not friends, ranked by mutual friends, then by photos
// together (co-appearances), then by VK id. At most `limit` (0: all).
Result<std::vector<SocialCandidate>> suggest(const catalog::Db& db, const std::string& vk_id, size_t limit);

}  // namespace facecat::vk

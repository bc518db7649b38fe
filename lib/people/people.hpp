// People in the catalog: listing, naming, merging, splitting, confirming, rejecting and forgetting.
//
// References on the command line:  p12 or 12 = person 12;  c7 = cluster 7;  f345 = face 345;  anything else = the
// person with exactly that name.
// Face states (faces.assignment): NULL = nobody; 'suggested' = put there by clustering (may move on a --full run);
// 'confirmed' = a person decided (never moved automatically); 'rejected' = the face is NOT faces.person_id (kept so
// that clustering never suggests that person for it again).
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "catalog/db.hpp"
#include "util/result.hpp"

namespace facecat::people {

struct Ref {
  enum class Kind { Person, Cluster, Face } kind = Kind::Person;
  int64_t id = 0;
};

// Parses and checks that the person/cluster/face exists. Errors use exit_code::usage.
Result<Ref> resolve(catalog::Db& db, const std::string& text);

// One JSON record per person: id, name, status, faces, confirmed, clusters, sources, sample face ids.
std::vector<nlohmann::json> list(catalog::Db& db, bool include_suggested = true);

// The person a reference stands for: the person itself, a cluster's person, or the person a face is assigned to
// (not rejected). Errors (a cluster or face of nobody) use exit_code::usage.
Result<int64_t> person_id_of(catalog::Db& db, const Ref& r);

// Each operation returns a JSON record describing what it did. They run in the caller's transaction.
// name: a cluster/person gets the name; a face is confirmed as the person of that name (created if needed).
// When another person already has the name, naming a cluster or person is refused (exit_code::usage, pointing to
// merge) unless `merge` is set: then it joins that person (its faces and sources move there), as merge does.
// Naming never confirms a cluster's or person's faces (confirm does).
Result<nlohmann::json> name(catalog::Db& db, const Ref& target, const std::string& new_name, bool merge = false);
// merge: every face and source of B moves to A; B is deleted.
Result<nlohmann::json> merge(catalog::Db& db, const Ref& a, const Ref& b);
// split: the given faces leave their person for a new one (named new_name if given); they become confirmed.
Result<nlohmann::json> split(catalog::Db& db, const std::vector<int64_t>& faces, const std::optional<std::string>& new_name);
// confirm: a person (all its suggested faces, status 'confirmed') or single faces.
Result<nlohmann::json> confirm(catalog::Db& db, const Ref& target);
// reject: a face (or all suggested faces of a cluster) is not its person.
Result<nlohmann::json> reject(catalog::Db& db, const Ref& target);
// forget: the person and its sources are deleted; its faces become nobody's (and unclustered).
Result<nlohmann::json> forget(catalog::Db& db, const Ref& target);

// not_a_face: the detection is not a face (label 'not_face'): it leaves its person and cluster, and matching,
// clustering and the exports skip it from now on.
Result<nlohmann::json> not_a_face(catalog::Db& db, int64_t face);

// The person a cluster belongs to, if any.
std::optional<int64_t> person_of_cluster(catalog::Db& db, int64_t cluster);

}  // namespace facecat::people
